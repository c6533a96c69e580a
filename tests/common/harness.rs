//! The two-mounting harness (needs the `axum` feature).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Body;
use axum::extract::Extension;
use axum::routing::post;
use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use store_notifications::{
    BoxError, DeadLetter, Endpoint, Outcome, Receipt, ReceiptHook, Store, Verified,
};
use tower::ServiceExt;

/// Asserts DESIGN.md's answer to a manifest case that is not a control message, given the reply
/// and the (hook, handler, dead letter) calls it made: an `ok` case reaches the handler (as a
/// test without the hook, else as tracked after the hook when it names a receipt, else as
/// unreferenced); an authentic-but-unusable case is dead-lettered with 200; any other rejection
/// answers its reason's status and calls nothing.
pub fn assert_policy_answer(
    name: &str,
    case: &serde_json::Value,
    dead_letter: bool,
    reply: &Reply,
    calls: (usize, usize, usize),
) {
    if case["expect"] == "ok" {
        let e = &case["expected"];
        let (outcome, expected_calls) = if e["test"] == true {
            (Outcome::Test, (0, 1, 0))
        } else if e["receipt"].is_null() {
            (Outcome::Unreferenced, (0, 1, 0))
        } else {
            (Outcome::Tracked, (1, 1, 0))
        };
        assert_eq!(reply.status, 200, "{name}: {}", reply.body);
        assert_eq!(calls, expected_calls, "{name}");
        assert_eq!(reply.outcome, Some(outcome), "{name}");
    } else if dead_letter {
        assert_eq!(reply.status, 200, "{name}: authentic but unusable → 200");
        assert_eq!(calls, (0, 0, 1), "{name}");
        assert_eq!(reply.outcome, Some(Outcome::DeadLettered), "{name}");
    } else {
        let expected = match case["reason"].as_str() {
            Some("malformed" | "unsupported") => 400,
            Some("wrong_app") => 403,
            Some("unauthenticated" | "expired" | "not_yet_valid") => 401,
            other => panic!("{name}: unexpected reason {other:?}"),
        };
        assert_eq!(reply.status, expected, "{name}: {}", reply.body);
        assert_eq!(calls, (0, 0, 0), "{name}: nothing reached the hook");
    }
}

/// What the hook answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookMode {
    /// Every receipt is tracked.
    Tracked,
    /// No receipt is tracked.
    Untracked,
    /// The hook errors.
    Fails,
    /// The hook answers "tracked" only after this long.
    Slow(std::time::Duration),
}

struct CountingHook {
    mode: HookMode,
    calls: Arc<AtomicUsize>,
    seen: Arc<std::sync::Mutex<Vec<Receipt>>>,
}

#[async_trait::async_trait]
impl ReceiptHook for CountingHook {
    async fn receipt_exists(&self, receipt: &Receipt) -> Result<bool, BoxError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.seen.lock().expect("lock").push(receipt.clone());
        match self.mode {
            HookMode::Tracked => Ok(true),
            HookMode::Untracked => Ok(false),
            HookMode::Fails => Err("database unavailable".into()),
            HookMode::Slow(wait) => {
                tokio::time::sleep(wait).await;
                Ok(true)
            }
        }
    }
}

/// One endpoint mounted as a layer and as an extractor, with counters.
pub struct Harness {
    pub hook_calls: Arc<AtomicUsize>,
    pub handler_calls: Arc<AtomicUsize>,
    pub dead_letters: Arc<AtomicUsize>,
    pub receipts_seen: Arc<std::sync::Mutex<Vec<Receipt>>>,
    pub layer: Router,
    pub extractor: Router,
}

/// The answer to one request.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: String,
    pub outcome: Option<Outcome>,
}

/// Builds a harness: `make` configures the endpoint around the given hook (store, clock,
/// status); the harness adds a counting dead-letter sink and mounts it both ways at `POST /`.
pub fn harness<S, F>(mode: HookMode, make: F) -> Harness
where
    S: Store,
    F: Fn(Arc<dyn ReceiptHook>) -> Endpoint<S>,
{
    let hook_calls = Arc::new(AtomicUsize::new(0));
    let handler_calls = Arc::new(AtomicUsize::new(0));
    let dead_letters = Arc::new(AtomicUsize::new(0));
    let receipts_seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let hook: Arc<dyn ReceiptHook> = Arc::new(CountingHook {
        mode,
        calls: Arc::clone(&hook_calls),
        seen: Arc::clone(&receipts_seen),
    });
    let letters = Arc::clone(&dead_letters);
    let endpoint = make(hook).with_dead_letters(move |_: DeadLetter| {
        letters.fetch_add(1, Ordering::SeqCst);
        async { Ok::<_, BoxError>(()) }
    });

    let calls = Arc::clone(&handler_calls);
    let layer = Router::new().route(
        "/",
        post(move |Extension(_n): Extension<S::Notification>| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { "handled" }
        })
        .layer(endpoint.layer()),
    );
    let calls = Arc::clone(&handler_calls);
    let extractor = Router::new()
        .route(
            "/",
            post(move |Verified(_n): Verified<S>| {
                calls.fetch_add(1, Ordering::SeqCst);
                async { "handled" }
            }),
        )
        .with_state(endpoint);
    Harness {
        hook_calls,
        handler_calls,
        dead_letters,
        receipts_seen,
        layer,
        extractor,
    }
}

/// POSTs `body` with `headers` to `/` of `router`.
pub async fn send(router: &Router, headers: &HeaderMap, body: impl Into<Bytes>) -> Reply {
    let mut req = Request::post("/")
        .body(Body::from(body.into()))
        .expect("request");
    *req.headers_mut() = headers.clone();
    let res = router.clone().oneshot(req).await.expect("infallible");
    let status = res.status();
    let outcome = res.extensions().get::<Outcome>().copied();
    let bytes = res.into_body().collect().await.expect("body").to_bytes();
    Reply {
        status,
        body: String::from_utf8_lossy(&bytes).into_owned(),
        outcome,
    }
}

impl Harness {
    /// (hook calls, handler calls, dead letters) so far.
    pub fn calls(&self) -> (usize, usize, usize) {
        (
            self.hook_calls.load(Ordering::SeqCst),
            self.handler_calls.load(Ordering::SeqCst),
            self.dead_letters.load(Ordering::SeqCst),
        )
    }

    /// Sends through both mountings, asserts they answer and count identically, and returns
    /// the layer's reply plus the (hook, handler, dead-letter) calls this one request made.
    pub async fn both(
        &self,
        headers: &HeaderMap,
        body: impl Into<Bytes>,
    ) -> (Reply, (usize, usize, usize)) {
        let body = body.into();
        let before = self.calls();
        let a = send(&self.layer, headers, body.clone()).await;
        let mid = self.calls();
        let b = send(&self.extractor, headers, body).await;
        let after = self.calls();
        let da = (mid.0 - before.0, mid.1 - before.1, mid.2 - before.2);
        let db = (after.0 - mid.0, after.1 - mid.1, after.2 - mid.2);
        assert_eq!(
            a.status, b.status,
            "layer and extractor statuses differ: {a:?} vs {b:?}"
        );
        assert_eq!(da, db, "layer and extractor call counts differ");
        if a.outcome.is_some_and(|o| !o.reaches_handler()) {
            assert_eq!(a.outcome, b.outcome, "layer and extractor outcomes differ");
        }
        (a, da)
    }
}
