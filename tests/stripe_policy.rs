//! DESIGN.md's response policy, one test per row, through real axum Routers mounted both ways
//! (layer and extractor), with events signed by the test-util signer (no shared fixtures needed).
#![cfg(all(feature = "stripe", feature = "axum", feature = "test-util"))]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Body;
use axum::routing::post;
use bytes::Bytes;
use common::{HookMode, harness};
use http::{HeaderMap, HeaderValue, Request, StatusCode};
use http_body_util::BodyExt;
use store_notifications::testing::StripeSigner;
use store_notifications::{
    BoxError, Clock, DeadLetter, Endpoint, InMemoryReceipts, InMemoryStatus, Outcome, Rejection,
    RejectionKind, StatusStore, StoreId, StripeStore, UnusablePolicy,
};
use tower::ServiceExt;

const SECRET: &str = "whsec_policy_test_secret";
const NOW: i64 = 1_767_225_600;
const SUB: &str = r#"{"object":"subscription","id":"sub_policy","customer":"cus_policy"}"#;

fn signer() -> StripeSigner {
    StripeSigner::new(SECRET)
}

fn store() -> StripeStore {
    StripeStore::new(SECRET).with_clock(Clock::from_unix(NOW as u64))
}

fn endpoint(hook: Arc<dyn store_notifications::ReceiptHook>) -> Endpoint<StripeStore> {
    Endpoint::with_shared_hook(store(), hook).with_clock(Clock::from_unix(NOW as u64))
}

fn signed(event_type: &str, object: &str) -> (HeaderMap, Bytes) {
    let body = signer().event("evt_policy", event_type, object, NOW - 5);
    (signer().headers(NOW - 5, &body), body)
}

#[tokio::test]
async fn tracked_receipt_reaches_the_handler_after_the_hook() {
    let h = harness(HookMode::Tracked, endpoint);
    let (headers, body) = signed("customer.subscription.updated", SUB);
    let (reply, calls) = h.both(&headers, body).await;
    assert_eq!(reply.status, common::HANDLER_STATUS);
    assert_eq!(reply.body, "handled");
    assert_eq!(reply.outcome, Some(Outcome::Tracked));
    assert_eq!(calls, (1, 1, 0));
    let seen = h.receipts_seen.lock().expect("lock");
    assert_eq!(seen[0].reference, "sub_policy");
    assert_eq!(seen[0].store, StoreId::STRIPE);
}

#[tokio::test]
async fn untracked_receipt_is_answered_200_without_the_handler() {
    let h = harness(HookMode::Untracked, endpoint);
    let (headers, body) = signed("customer.subscription.updated", SUB);
    let (reply, calls) = h.both(&headers, body).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.outcome, Some(Outcome::Untracked));
    assert_eq!(calls, (1, 0, 0), "hook asked, handler not called");
}

#[tokio::test]
async fn event_about_no_receipt_reaches_the_handler_without_the_hook() {
    let h = harness(HookMode::Untracked, endpoint);
    let (headers, body) = signed(
        "balance.available",
        r#"{"object":"balance","available":[]}"#,
    );
    let (reply, calls) = h.both(&headers, body).await;
    assert_eq!(reply.status, common::HANDLER_STATUS);
    assert_eq!(reply.outcome, Some(Outcome::Unreferenced));
    assert_eq!(calls, (0, 1, 0));
}

#[tokio::test]
async fn hook_error_answers_503_so_stripe_retries() {
    let h = harness(HookMode::Fails, endpoint);
    let (headers, body) = signed("invoice.paid", SUB);
    let (reply, calls) = h.both(&headers, body).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        reply.outcome,
        Some(Outcome::Rejected(RejectionKind::HookFailed))
    );
    assert_eq!(calls, (1, 0, 0), "hook called, handler not");
}

#[tokio::test]
async fn forged_signature_is_401_and_never_reaches_the_hook() {
    let h = harness(HookMode::Tracked, endpoint);
    let body = signer().event("evt_forged", "invoice.paid", SUB, NOW);
    let headers = StripeSigner::new("whsec_attacker").headers(NOW, &body);
    let (reply, calls) = h.both(&headers, body).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert!(reply.body.contains("unauthenticated"), "{}", reply.body);
    assert_eq!(calls, (0, 0, 0));
}

#[tokio::test]
async fn tampered_body_is_401_and_never_reaches_the_hook() {
    let h = harness(HookMode::Tracked, endpoint);
    let (headers, body) = signed("invoice.paid", SUB);
    let tampered = String::from_utf8(body.to_vec())
        .expect("utf8")
        .replace("sub_policy", "sub_attack");
    let (reply, calls) = h.both(&headers, tampered).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(calls, (0, 0, 0));
}

#[tokio::test]
async fn stale_signature_is_401_and_never_reaches_the_hook() {
    let h = harness(HookMode::Tracked, endpoint);
    let body = signer().event("evt_old", "invoice.paid", SUB, NOW - 301);
    let headers = signer().headers(NOW - 301, &body);
    let (reply, calls) = h.both(&headers, body).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        reply.outcome,
        Some(Outcome::Rejected(RejectionKind::Expired))
    );
    assert_eq!(calls, (0, 0, 0));
}

#[tokio::test]
async fn missing_or_garbled_header_is_400_and_never_reaches_the_hook() {
    let h = harness(HookMode::Tracked, endpoint);
    let (_, body) = signed("invoice.paid", SUB);
    let mut garbled = HeaderMap::new();
    garbled.insert(
        "stripe-signature",
        HeaderValue::from_static("t=yesterday,v1=00"),
    );
    for headers in [HeaderMap::new(), garbled] {
        let (reply, calls) = h.both(&headers, body.clone()).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
        assert_eq!(calls, (0, 0, 0));
    }
}

#[tokio::test]
async fn body_over_the_limit_is_413_before_any_crypto() {
    let h = harness(HookMode::Tracked, |hook| {
        endpoint(hook).with_body_limit(1024)
    });
    let object = format!(
        r#"{{"object":"subscription","id":"sub_big","pad":"{}"}}"#,
        "x".repeat(2048)
    );
    let (headers, body) = signed("invoice.paid", &object);
    let (reply, calls) = h.both(&headers, body).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(calls, (0, 0, 0));
}

#[tokio::test]
async fn body_over_the_limit_without_content_length_is_413() {
    // A streamed body declares no length: the limit is enforced while reading.
    let h = harness(HookMode::Tracked, |hook| endpoint(hook).with_body_limit(64));
    let (headers, body) = signed("invoice.paid", SUB);
    let chunks: Vec<Bytes> = body.chunks(16).map(Bytes::copy_from_slice).collect();
    let mut req = Request::post("/")
        .body(Body::new(Chunked(chunks.into())))
        .expect("request");
    *req.headers_mut() = headers;
    let res = h.layer.clone().oneshot(req).await.expect("infallible");
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(h.calls(), (0, 0, 0));
}

/// A body of several frames and no declared length, like a chunked upload.
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

#[tokio::test]
async fn authentic_but_unusable_body_is_acknowledged_and_dead_lettered() {
    let h = harness(HookMode::Tracked, endpoint);
    let body = Bytes::from_static(b"{\"not\": \"an event\"}");
    let headers = signer().headers(NOW, &body);
    let (reply, calls) = h.both(&headers, body).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.outcome, Some(Outcome::DeadLettered));
    assert_eq!(
        calls,
        (0, 0, 1),
        "kept by the sink; hook and handler not called"
    );
}

#[tokio::test]
async fn dead_letter_sink_failure_answers_503_so_nothing_is_lost() {
    let body = Bytes::from_static(b"not json");
    let headers = signer().headers(NOW, &body);
    let endpoint = endpoint(Arc::new(InMemoryReceipts::new()))
        .with_dead_letters(|_: DeadLetter| async { Err::<(), BoxError>("disk full".into()) });
    let app = Router::new().route("/", post(|| async { "handled" }).layer(endpoint.layer()));
    let reply = common::send(&app, &headers, body).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn unusable_policy_reject_answers_400_after_keeping_the_letter() {
    let h = harness(HookMode::Tracked, |hook| {
        endpoint(hook).with_unusable_policy(UnusablePolicy::Reject)
    });
    let body = Bytes::from_static(b"[]");
    let headers = signer().headers(NOW, &body);
    let (reply, calls) = h.both(&headers, body).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(calls, (0, 0, 1));
}

#[tokio::test]
async fn the_typed_rejection_is_in_the_response_extensions() {
    let endpoint = endpoint(Arc::new(InMemoryReceipts::new()));
    let app = Router::new().route("/", post(|| async { "handled" }).layer(endpoint.layer()));
    let mut req = Request::post("/").body(Body::from("{}")).expect("request");
    req.headers_mut()
        .insert("stripe-signature", HeaderValue::from_static("t=1,v1=00"));
    let res = app.oneshot(req).await.expect("infallible");
    let rejection = res
        .extensions()
        .get::<Rejection>()
        .expect("rejection extension");
    assert_eq!(rejection.kind(), RejectionKind::Unauthenticated);
    assert_eq!(
        res.extensions().get::<Outcome>(),
        Some(&Outcome::Rejected(RejectionKind::Unauthenticated))
    );
}

#[tokio::test]
async fn the_handler_gets_the_exact_body_and_its_status_is_passed_through() {
    let endpoint = endpoint(Arc::new(store_notifications::AlwaysTracked));
    let app = Router::new().route(
        "/",
        post(|body: Bytes| async move { (StatusCode::ACCEPTED, body) }).layer(endpoint.layer()),
    );
    let (headers, body) = signed("invoice.paid", SUB);
    let mut req = Request::post("/")
        .body(Body::from(body.clone()))
        .expect("request");
    *req.headers_mut() = headers;
    let res = app.oneshot(req).await.expect("infallible");
    assert_eq!(
        res.status(),
        StatusCode::ACCEPTED,
        "the handler's own status"
    );
    assert_eq!(res.extensions().get::<Outcome>(), Some(&Outcome::Tracked));
    let echoed = res.into_body().collect().await.expect("body").to_bytes();
    assert_eq!(
        echoed, body,
        "the body is read once and handed on unchanged"
    );
}

#[tokio::test]
async fn status_moves_last_received_at_only_for_tracked_receipts() {
    let status = InMemoryStatus::new();
    let receipts = InMemoryReceipts::new();
    receipts.insert(StoreId::STRIPE, "sub_tracked");
    let endpoint = Endpoint::new(store(), receipts)
        .with_status(status.clone())
        .with_clock(Clock::from_unix(NOW as u64));
    let app = Router::new().route("/", post(|| async { "handled" }).layer(endpoint.layer()));

    let untracked = r#"{"object":"subscription","id":"sub_other"}"#;
    let (headers, body) = signed("invoice.paid", untracked);
    assert_eq!(
        common::send(&app, &headers, body).await.status,
        StatusCode::OK
    );
    let snap = status.snapshot().await.expect("snapshot");
    assert_eq!(snap.stores[&StoreId::STRIPE].last_received_at, None);
    assert_eq!(snap.stores[&StoreId::STRIPE].counts.untracked, 1);

    let tracked = r#"{"object":"subscription","id":"sub_tracked"}"#;
    let (headers, body) = signed("invoice.paid", tracked);
    assert_eq!(
        common::send(&app, &headers, body).await.status,
        StatusCode::OK
    );
    let snap = status.snapshot().await.expect("snapshot");
    let stripe = &snap.stores[&StoreId::STRIPE];
    assert_eq!(
        stripe.last_received_at,
        Some(Clock::from_unix(NOW as u64).now())
    );
    assert_eq!(stripe.counts.tracked, 1);
}

#[tokio::test]
async fn over_a_real_socket() {
    let handled = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&handled);
    let receipts = InMemoryReceipts::new();
    receipts.insert(StoreId::STRIPE, "sub_policy");
    let endpoint = Endpoint::new(store(), receipts);
    let app = Router::new().route(
        "/notifications/stripe",
        post(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            async { "handled" }
        })
        .layer(endpoint.layer()),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let (headers, body) = signed("invoice.paid", SUB);
    let signature = headers["stripe-signature"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let status_line = |sig: &str| {
        let request = format!(
            "POST /notifications/stripe HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nStripe-Signature: {sig}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let body = body.clone();
        async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
            stream
                .write_all(request.as_bytes())
                .await
                .expect("write head");
            stream.write_all(&body).await.expect("write body");
            let mut response = String::new();
            stream.read_to_string(&mut response).await.expect("read");
            response.lines().next().unwrap_or_default().to_owned()
        }
    };
    assert_eq!(status_line(&signature).await, "HTTP/1.1 200 OK");
    assert_eq!(status_line("t=1,v1=00").await, "HTTP/1.1 401 Unauthorized");
    assert_eq!(handled.load(Ordering::SeqCst), 1);
    server.abort();
}

#[tokio::test]
async fn in_memory_receipts_pass_the_hook_conformance_test() {
    let hook = InMemoryReceipts::new();
    let tracker = hook.clone();
    store_notifications::hook::conformance::check(&hook, |r| {
        tracker.insert(r.store, r.reference);
        async {}
    })
    .await;
}

#[tokio::test]
async fn endpoint_process_is_usable_without_any_framework() {
    let receipts = InMemoryReceipts::new();
    receipts.insert(StoreId::STRIPE, "sub_policy");
    let endpoint = Endpoint::new(store(), receipts);
    let (headers, body) = signed("invoice.paid", SUB);
    match endpoint.process(&headers, body).await {
        store_notifications::Processed::Handle {
            notification,
            outcome,
        } => {
            assert_eq!(outcome, Outcome::Tracked);
            assert_eq!(notification.id(), "evt_policy");
        }
        store_notifications::Processed::Answer(a) => panic!("answered {a}"),
    }
}

// Every wait has a bound: a peer slower than its timeout is answered so the store retries.

const SHORT: std::time::Duration = std::time::Duration::from_millis(50);
const LONG: std::time::Duration = std::time::Duration::from_secs(30);

#[tokio::test]
async fn hook_slower_than_its_timeout_answers_503_without_the_handler() {
    let h = harness(HookMode::Slow(LONG), |hook| {
        endpoint(hook).with_hook_timeout(SHORT)
    });
    let (headers, body) = signed("customer.subscription.updated", SUB);
    let started = std::time::Instant::now();
    let (reply, calls) = h.both(&headers, body).await;
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        reply.outcome,
        Some(Outcome::Rejected(RejectionKind::HookFailed))
    );
    assert_eq!(calls, (1, 0, 0), "hook asked, handler not called");
}

#[tokio::test]
async fn hook_within_its_timeout_is_waited_for() {
    let h = harness(HookMode::Slow(SHORT), |hook| {
        endpoint(hook).with_hook_timeout(std::time::Duration::from_secs(10))
    });
    let (headers, body) = signed("customer.subscription.updated", SUB);
    let (reply, calls) = h.both(&headers, body).await;
    assert_eq!(reply.status, common::HANDLER_STATUS);
    assert_eq!(calls, (1, 1, 0));
}

#[tokio::test]
async fn dead_letter_sink_slower_than_its_timeout_answers_503() {
    let body = Bytes::from_static(b"not json");
    let headers = signer().headers(NOW, &body);
    let endpoint = endpoint(Arc::new(InMemoryReceipts::new()))
        .with_hook_timeout(SHORT)
        .with_dead_letters(|_: DeadLetter| async {
            tokio::time::sleep(LONG).await;
            Ok::<(), BoxError>(())
        });
    let app = Router::new().route("/", post(|| async { "handled" }).layer(endpoint.layer()));
    let reply = common::send(&app, &headers, body).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        reply.outcome,
        Some(Outcome::Rejected(RejectionKind::DeadLetterFailed))
    );
}

/// A status store that never answers.
struct StuckStatus;

#[async_trait::async_trait]
impl StatusStore for StuckStatus {
    async fn record(
        &self,
        _: StoreId,
        _: Outcome,
        _: std::time::SystemTime,
    ) -> Result<(), BoxError> {
        std::future::pending().await
    }

    async fn record_subscription(
        &self,
        _: StoreId,
        _: &store_notifications::Subscription,
    ) -> Result<(), BoxError> {
        std::future::pending().await
    }

    async fn snapshot(&self) -> Result<store_notifications::StatusSnapshot, BoxError> {
        std::future::pending().await
    }
}

#[tokio::test]
async fn stuck_status_store_is_skipped_after_its_timeout() {
    let h = harness(HookMode::Tracked, |hook| {
        endpoint(hook)
            .with_status(StuckStatus)
            .with_hook_timeout(SHORT)
    });
    let (headers, body) = signed("customer.subscription.updated", SUB);
    let (reply, calls) = h.both(&headers, body).await;
    assert_eq!(
        reply.status,
        common::HANDLER_STATUS,
        "status is observability"
    );
    assert_eq!(calls, (1, 1, 0));
}

/// A body that sends nothing, ever.
struct SilentBody;

impl http_body::Body for SilentBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        std::task::Poll::Pending
    }
}

#[tokio::test]
async fn body_slower_than_its_timeout_answers_408_without_the_hook() {
    let h = harness(HookMode::Tracked, |hook| {
        endpoint(hook).with_body_timeout(SHORT)
    });
    let (headers, _) = signed("customer.subscription.updated", SUB);
    for app in [&h.layer, &h.extractor] {
        let mut req = Request::post("/")
            .body(Body::new(SilentBody))
            .expect("request");
        *req.headers_mut() = headers.clone();
        let res = app.clone().oneshot(req).await.expect("infallible");
        assert_eq!(res.status(), StatusCode::REQUEST_TIMEOUT);
    }
    assert_eq!(h.calls(), (0, 0, 0), "nothing reached the hook");
}
