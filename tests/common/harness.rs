//! The two-mounting harness: one endpoint mounted as the Tower layer and, with the `axum`
//! feature, as the `Verified` extractor, with counting hook, handler and dead-letter sink.
//! Without the feature only the layer is mounted (axum itself is a dev-dependency).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Extension;
use axum::routing::post;
use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
#[cfg(feature = "axum")]
use store_notifications::Verified;
use store_notifications::{
    BoxError, DeadLetter, Endpoint, Outcome, Receipt, ReceiptHook, Rejection, Store,
};
use tower::ServiceExt;

/// What the harness's handler answers: not 200, so a reply with it is the handler's own.
pub const HANDLER_STATUS: StatusCode = StatusCode::ACCEPTED;

/// Asserts the response policy's answer to a manifest case that is not a control message, given
/// the reply and the (hook, handler, dead letter) calls it made: an `ok` case reaches the handler (as a
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
        assert_eq!(reply.status, HANDLER_STATUS, "{name}: {}", reply.body);
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
    Slow(Duration),
}

/// What the dead-letter sink does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkMode {
    /// Keeps every letter.
    Keeps,
    /// Errors (a full disk).
    Fails,
    /// Keeps it only after this long.
    Slow(Duration),
}

struct CountingHook {
    mode: HookMode,
    calls: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<Receipt>>>,
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

/// One endpoint mounted as a layer (and as an extractor), with counters.
pub struct Harness {
    pub hook_calls: Arc<AtomicUsize>,
    pub handler_calls: Arc<AtomicUsize>,
    /// Calls of the dead-letter sink (failed ones included).
    pub dead_letters: Arc<AtomicUsize>,
    pub receipts_seen: Arc<Mutex<Vec<Receipt>>>,
    /// The bodies the layer's handler received.
    pub bodies_seen: Arc<Mutex<Vec<Bytes>>>,
    pub layer: Router,
    #[cfg(feature = "axum")]
    pub extractor: Router,
}

/// The answer to one request.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: String,
    pub outcome: Option<Outcome>,
    /// The typed rejection the pipeline put into the response's extensions.
    pub rejection: Option<Rejection>,
}

/// Builds a harness whose dead-letter sink keeps every letter: `make` configures the endpoint
/// around the given hook (store, clock, status); the harness adds a counting dead-letter sink
/// and mounts it at `POST /`.
pub fn harness<S, F>(mode: HookMode, make: F) -> Harness
where
    S: Store,
    F: Fn(Arc<dyn ReceiptHook>) -> Endpoint<S>,
{
    harness_with_sink(mode, SinkMode::Keeps, make)
}

/// Like [`harness`] with a dead-letter sink that behaves as `sink` says.
pub fn harness_with_sink<S, F>(mode: HookMode, sink: SinkMode, make: F) -> Harness
where
    S: Store,
    F: Fn(Arc<dyn ReceiptHook>) -> Endpoint<S>,
{
    let hook_calls = Arc::new(AtomicUsize::new(0));
    let handler_calls = Arc::new(AtomicUsize::new(0));
    let dead_letters = Arc::new(AtomicUsize::new(0));
    let receipts_seen = Arc::new(Mutex::new(Vec::new()));
    let bodies_seen = Arc::new(Mutex::new(Vec::new()));
    let hook: Arc<dyn ReceiptHook> = Arc::new(CountingHook {
        mode,
        calls: Arc::clone(&hook_calls),
        seen: Arc::clone(&receipts_seen),
    });
    let letters = Arc::clone(&dead_letters);
    let endpoint = make(hook).with_dead_letters(move |_: DeadLetter| {
        letters.fetch_add(1, Ordering::SeqCst);
        async move {
            match sink {
                SinkMode::Keeps => Ok(()),
                SinkMode::Fails => Err::<(), BoxError>("disk full".into()),
                SinkMode::Slow(wait) => {
                    tokio::time::sleep(wait).await;
                    Ok(())
                }
            }
        }
    });

    let calls = Arc::clone(&handler_calls);
    let bodies = Arc::clone(&bodies_seen);
    let layer = Router::new().route(
        "/",
        post(
            move |Extension(_n): Extension<S::Notification>, body: Bytes| {
                calls.fetch_add(1, Ordering::SeqCst);
                bodies.lock().expect("lock").push(body);
                async { (HANDLER_STATUS, "handled") }
            },
        )
        .layer(endpoint.layer()),
    );
    #[cfg(feature = "axum")]
    let extractor = {
        let calls = Arc::clone(&handler_calls);
        Router::new()
            .route(
                "/",
                post(move |Verified(_n): Verified<S>| {
                    calls.fetch_add(1, Ordering::SeqCst);
                    async { (HANDLER_STATUS, "handled") }
                }),
            )
            .with_state(endpoint)
    };
    Harness {
        hook_calls,
        handler_calls,
        dead_letters,
        receipts_seen,
        bodies_seen,
        layer,
        #[cfg(feature = "axum")]
        extractor,
    }
}

/// POSTs `body` with `headers` (and no `Content-Length` unless `headers` has one) to `/` of
/// `router`.
pub async fn send(router: &Router, headers: &HeaderMap, body: impl Into<Bytes>) -> Reply {
    send_body(router, headers, Body::from(body.into())).await
}

/// POSTs any body (streamed, slow …) with `headers` to `/` of `router`.
pub async fn send_body(router: &Router, headers: &HeaderMap, body: Body) -> Reply {
    let mut req = Request::post("/").body(body).expect("request");
    *req.headers_mut() = headers.clone();
    let res = router.clone().oneshot(req).await.expect("infallible");
    let status = res.status();
    let outcome = res.extensions().get::<Outcome>().copied();
    let rejection = res.extensions().get::<Rejection>().cloned();
    let bytes = res.into_body().collect().await.expect("body").to_bytes();
    Reply {
        status,
        body: String::from_utf8_lossy(&bytes).into_owned(),
        outcome,
        rejection,
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

    /// The routers: the layer, and the extractor with the `axum` feature.
    pub fn mountings(&self) -> Vec<&Router> {
        #[cfg(feature = "axum")]
        return vec![&self.layer, &self.extractor];
        #[cfg(not(feature = "axum"))]
        return vec![&self.layer];
    }

    /// Sends through every mounting, asserts they answer and count identically, and returns
    /// the layer's reply plus the (hook, handler, dead-letter) calls that one request made.
    pub async fn both(
        &self,
        headers: &HeaderMap,
        body: impl Into<Bytes>,
    ) -> (Reply, (usize, usize, usize)) {
        let body = body.into();
        self.both_body(headers, || Body::from(body.clone())).await
    }

    /// Like [`both`](Harness::both) with a body made by `body` for each mounting.
    pub async fn both_body(
        &self,
        headers: &HeaderMap,
        body: impl Fn() -> Body,
    ) -> (Reply, (usize, usize, usize)) {
        let mut first: Option<(Reply, (usize, usize, usize))> = None;
        for router in self.mountings() {
            let before = self.calls();
            let reply = send_body(router, headers, body()).await;
            let after = self.calls();
            let calls = (after.0 - before.0, after.1 - before.1, after.2 - before.2);
            match &first {
                None => first = Some((reply, calls)),
                Some((a, da)) => {
                    assert_eq!(
                        a.status, reply.status,
                        "layer and extractor statuses differ: {a:?} vs {reply:?}"
                    );
                    assert_eq!(*da, calls, "layer and extractor call counts differ");
                    if a.outcome.is_some_and(|o| !o.reaches_handler()) {
                        assert_eq!(
                            a.outcome, reply.outcome,
                            "layer and extractor outcomes differ"
                        );
                    }
                }
            }
        }
        first.expect("the layer is always mounted")
    }
}

/// A body of several frames and no declared length, like a chunked upload.
pub fn chunked(body: &Bytes, chunk: usize) -> Body {
    let frames: std::collections::VecDeque<Bytes> = body
        .chunks(chunk.max(1))
        .map(Bytes::copy_from_slice)
        .collect();
    Body::new(Chunked(frames))
}

struct Chunked(std::collections::VecDeque<Bytes>);

impl http_body::Body for Chunked {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        std::task::Poll::Ready(self.0.pop_front().map(|b| Ok(http_body::Frame::data(b))))
    }
}

/// A body that sends nothing, ever.
pub fn silent() -> Body {
    Body::new(Silent)
}

struct Silent;

impl http_body::Body for Silent {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        std::task::Poll::Pending
    }
}

/// Serves `router` on a loopback port until the returned handle is aborted.
pub async fn serve(router: Router) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (addr, server)
}

/// How [`post_over_tcp`] frames the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `Content-Length`.
    ContentLength,
    /// `Transfer-Encoding: chunked`, in chunks of this many bytes.
    Chunked(usize),
}

/// POSTs `body` with `headers` to `/` on `addr` over a real socket, as HTTP/1.1 bytes, and
/// returns the status line.
pub async fn post_over_tcp(
    addr: SocketAddr,
    headers: &HeaderMap,
    body: &[u8],
    framing: Framing,
) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut request =
        format!("POST / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n").into_bytes();
    for (name, value) in headers {
        request.extend_from_slice(name.as_str().as_bytes());
        request.extend_from_slice(b": ");
        request.extend_from_slice(value.as_bytes());
        request.extend_from_slice(b"\r\n");
    }
    match framing {
        Framing::ContentLength => {
            request.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
            request.extend_from_slice(body);
        }
        Framing::Chunked(size) => {
            request.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
            for chunk in body.chunks(size.max(1)) {
                request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                request.extend_from_slice(chunk);
                request.extend_from_slice(b"\r\n");
            }
            request.extend_from_slice(b"0\r\n\r\n");
        }
    }
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(&request).await.expect("write");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("read");
    String::from_utf8_lossy(&response)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}
