//! The response policy (the table in the crate docs) as one table of rows, run against every
//! store.
//!
//! Each row is a generic function over a [`PolicySigner`] (a store that trusts the signer plus
//! one delivery per kind of input); `policy_suite!(signer)` turns every row into a
//! `#[tokio::test]` in the module it is invoked in. The rows go through the
//! [harness](super::harness): the Tower layer always, the axum extractor too with the `axum`
//! feature, asserting both answer and count identically. A row needing a delivery the store
//! cannot make (a test message, an unreferenced notification …) passes with a note.
//!
//! ```ignore
//! mod stripe {
//!     crate::common::policy_suite!(store_notifications::testing::StripeSigner::new("whsec_x"));
//! }
//! ```
//!
//! Only rules every store shares live here; each store's own rules stay in its own file.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use store_notifications::testing::PolicySigner;
use store_notifications::{
    AlwaysTracked, BoxError, Clock, DEFAULT_BODY_LIMIT, Disposition, Endpoint, InMemoryReceipts,
    InMemoryStatus, Notification, Outcome, Processed, ReceiptHook, RejectionKind, StatusStore,
    Store, StoreId, UnusablePolicy,
};

use super::harness::{
    Framing, HANDLER_STATUS, Harness, HookMode, SinkMode, chunked, harness, harness_with_sink,
    post_over_tcp, send, serve, silent,
};

/// A rejection row's answer: `status`, and nothing (hook, handler, sink) was called.
fn assert_refused_untouched(
    reply: &super::harness::Reply,
    calls: (usize, usize, usize),
    status: StatusCode,
) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(calls, (0, 0, 0), "nothing reached the hook");
}

/// The receipt reference the rows ask about.
pub const REFERENCE: &str = "policy-receipt-ref-1";

/// A bound short enough for a test to wait, and a wait long enough to overrun it.
const SHORT: Duration = Duration::from_millis(50);
const LONG: Duration = Duration::from_secs(30);

/// Generates one `#[tokio::test]` per row of the policy table, each running that row against
/// a fresh `$signer` (an expression of a type implementing `PolicySigner`).
macro_rules! policy_suite {
    ($signer:expr) => {
        $crate::common::policy_suite!(@rows $signer;
            tracked_receipt_gets_the_handlers_answer_after_one_hook_call,
            untracked_receipt_is_answered_200_without_the_handler,
            test_message_reaches_the_handler_without_the_hook,
            unreferenced_notification_reaches_the_handler_without_the_hook,
            control_message_is_answered_200_by_the_store_alone,
            forged_proof_is_401_and_reaches_nothing,
            hook_error_is_503_and_the_handler_is_not_called,
            hook_slower_than_its_timeout_is_503_and_the_handler_is_not_called,
            hook_within_its_timeout_is_waited_for,
            unusable_payload_is_acknowledged_and_dead_lettered,
            unusable_payload_under_the_reject_policy_is_400_after_the_sink,
            failing_dead_letter_sink_is_503_so_the_store_retries,
            dead_letter_sink_slower_than_its_timeout_is_503,
            body_over_the_limit_is_413_by_its_content_length,
            body_over_the_limit_is_413_without_content_length,
            body_over_the_default_limit_is_413,
            body_slower_than_its_timeout_is_408,
            stuck_status_store_is_skipped_after_its_timeout,
            status_moves_last_received_at_only_for_tracked_receipts,
            endpoint_process_answers_without_any_framework,
            over_a_loopback_socket,
        );
    };
    (@rows $signer:expr; $($row:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $row() {
                $crate::common::policy_suite::$row($signer).await;
            }
        )+
    };
}
pub(crate) use policy_suite;

fn id<P: PolicySigner>() -> StoreId {
    <P::Store as Store>::ID
}

/// The signer's store behind `hook`, as every row mounts it.
fn endpoint<P: PolicySigner>(signer: &P, hook: Arc<dyn ReceiptHook>) -> Endpoint<P::Store> {
    Endpoint::with_shared_hook(PolicySigner::store(signer), hook)
}

fn mounted<P: PolicySigner>(
    signer: &P,
    mode: HookMode,
    configure: impl Fn(Endpoint<P::Store>) -> Endpoint<P::Store>,
) -> Harness {
    harness(mode, |hook| configure(endpoint(signer, hook)))
}

fn skipped<P: PolicySigner>(what: &str) {
    println!("skipped: {} has no {what}", id::<P>());
}

pub async fn tracked_receipt_gets_the_handlers_answer_after_one_hook_call<P: PolicySigner>(
    signer: P,
) {
    let h = mounted(&signer, HookMode::Tracked, |e| e);
    let (headers, body) = signer.receipt(REFERENCE);
    let (reply, calls) = h.both(&headers, body.clone()).await;
    assert_eq!(reply.status, HANDLER_STATUS, "{}", reply.body);
    assert_eq!(reply.body, "handled");
    assert_eq!(reply.outcome, Some(Outcome::Tracked));
    assert_eq!(calls, (1, 1, 0), "hook asked once, handler called once");
    let seen = h.receipts_seen.lock().expect("lock");
    assert!(!seen.is_empty());
    for receipt in seen.iter() {
        assert_eq!(receipt.reference, REFERENCE);
        assert_eq!(receipt.store, id::<P>());
    }
    assert_eq!(
        h.bodies_seen.lock().expect("lock").as_slice(),
        [body],
        "the layer reads the body once and hands it on unchanged"
    );
}

pub async fn untracked_receipt_is_answered_200_without_the_handler<P: PolicySigner>(signer: P) {
    let h = mounted(&signer, HookMode::Untracked, |e| e);
    let (headers, body) = signer.receipt(REFERENCE);
    let (reply, calls) = h.both(&headers, body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.outcome, Some(Outcome::Untracked));
    assert_eq!(calls, (1, 0, 0), "hook asked, handler not called");
}

/// The hook tracks nothing here: a message that reached the handler did so without it.
async fn reaches_the_handler_without_the_hook<P: PolicySigner>(
    signer: &P,
    (headers, body): (HeaderMap, Bytes),
    outcome: Outcome,
) {
    let h = mounted(signer, HookMode::Untracked, |e| e);
    let (reply, calls) = h.both(&headers, body).await;
    assert_eq!(reply.status, HANDLER_STATUS, "{}", reply.body);
    assert_eq!(reply.outcome, Some(outcome));
    assert_eq!(calls, (0, 1, 0), "handler called, hook not asked");
}

pub async fn test_message_reaches_the_handler_without_the_hook<P: PolicySigner>(signer: P) {
    match signer.test() {
        Some(delivery) => {
            reaches_the_handler_without_the_hook(&signer, delivery, Outcome::Test).await
        }
        None => skipped::<P>("test message"),
    }
}

pub async fn unreferenced_notification_reaches_the_handler_without_the_hook<P: PolicySigner>(
    signer: P,
) {
    match signer.unreferenced() {
        Some(delivery) => {
            reaches_the_handler_without_the_hook(&signer, delivery, Outcome::Unreferenced).await;
        }
        None => skipped::<P>("notification without a receipt"),
    }
}

pub async fn control_message_is_answered_200_by_the_store_alone<P: PolicySigner>(signer: P) {
    let Some((headers, body)) = signer.control() else {
        return skipped::<P>("control message");
    };
    let h = mounted(&signer, HookMode::Tracked, |e| e);
    let (reply, calls) = h.both(&headers, body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.outcome, Some(Outcome::Control));
    assert_eq!(calls, (0, 0, 0), "neither hook nor handler");
}

pub async fn forged_proof_is_401_and_reaches_nothing<P: PolicySigner>(signer: P) {
    let h = mounted(&signer, HookMode::Tracked, |e| e);
    let (headers, body) = signer.forged(REFERENCE);
    let (reply, calls) = h.both(&headers, body).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
    assert_eq!(calls, (0, 0, 0), "nothing reached the hook");
    let rejection = reply
        .rejection
        .expect("the typed rejection is in the extensions");
    assert_eq!(rejection.kind(), RejectionKind::Unauthenticated);
    assert_eq!(
        reply.outcome,
        Some(Outcome::Rejected(RejectionKind::Unauthenticated))
    );
}

pub async fn hook_error_is_503_and_the_handler_is_not_called<P: PolicySigner>(signer: P) {
    let h = mounted(&signer, HookMode::Fails, |e| e);
    let (headers, body) = signer.receipt(REFERENCE);
    let (reply, calls) = h.both(&headers, body).await;
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.body
    );
    assert_eq!(
        reply.outcome,
        Some(Outcome::Rejected(RejectionKind::HookFailed))
    );
    assert_eq!(calls, (1, 0, 0), "hook called, nothing else");
}

pub async fn hook_slower_than_its_timeout_is_503_and_the_handler_is_not_called<P: PolicySigner>(
    signer: P,
) {
    let h = mounted(&signer, HookMode::Slow(LONG), |e| {
        e.with_hook_timeout(SHORT)
    });
    let (headers, body) = signer.receipt(REFERENCE);
    let started = Instant::now();
    let (reply, calls) = h.both(&headers, body).await;
    assert!(started.elapsed() < Duration::from_secs(5), "bounded");
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.body
    );
    assert_eq!(
        reply.outcome,
        Some(Outcome::Rejected(RejectionKind::HookFailed))
    );
    assert_eq!(calls, (1, 0, 0), "hook asked, handler not called");
}

pub async fn hook_within_its_timeout_is_waited_for<P: PolicySigner>(signer: P) {
    let h = mounted(&signer, HookMode::Slow(SHORT), |e| {
        e.with_hook_timeout(Duration::from_secs(10))
    });
    let (headers, body) = signer.receipt(REFERENCE);
    let (reply, calls) = h.both(&headers, body).await;
    assert_eq!(reply.status, HANDLER_STATUS, "{}", reply.body);
    assert_eq!(calls, (1, 1, 0));
}

pub async fn unusable_payload_is_acknowledged_and_dead_lettered<P: PolicySigner>(signer: P) {
    let Some((headers, body)) = signer.unusable() else {
        return skipped::<P>("authentic but unusable delivery");
    };
    let h = mounted(&signer, HookMode::Tracked, |e| e);
    let (reply, calls) = h.both(&headers, body.clone()).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.outcome, Some(Outcome::DeadLettered));
    let store = PolicySigner::store(&signer);
    let verdict = store.verify(&headers, &body).await.expect("authentic");
    assert_eq!(
        reply.rejection.expect("why"),
        verdict.unusable().expect("unusable"),
        "the extensions carry the verdict's reason"
    );
    assert_eq!(
        calls,
        (0, 0, 1),
        "kept by the sink; hook and handler not called"
    );
}

pub async fn unusable_payload_under_the_reject_policy_is_400_after_the_sink<P: PolicySigner>(
    signer: P,
) {
    let Some((headers, body)) = signer.unusable() else {
        return skipped::<P>("authentic but unusable delivery");
    };
    let h = mounted(&signer, HookMode::Tracked, |e| {
        e.with_unusable_policy(UnusablePolicy::Reject)
    });
    let (reply, calls) = h.both(&headers, body).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert_eq!(calls, (0, 0, 1), "kept first; hook and handler not called");
}

async fn unusable_with_sink<P: PolicySigner>(signer: &P, sink: SinkMode) {
    let Some((headers, body)) = signer.unusable() else {
        return skipped::<P>("authentic but unusable delivery");
    };
    let h = harness_with_sink(HookMode::Tracked, sink, |hook| {
        endpoint(signer, hook).with_hook_timeout(SHORT)
    });
    let started = Instant::now();
    let (reply, calls) = h.both(&headers, body).await;
    assert!(started.elapsed() < Duration::from_secs(5), "bounded");
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.body
    );
    assert_eq!(
        reply.outcome,
        Some(Outcome::Rejected(RejectionKind::DeadLetterFailed))
    );
    assert_eq!(
        calls,
        (0, 0, 1),
        "the sink was tried; hook and handler not called"
    );
}

pub async fn failing_dead_letter_sink_is_503_so_the_store_retries<P: PolicySigner>(signer: P) {
    unusable_with_sink(&signer, SinkMode::Fails).await;
}

pub async fn dead_letter_sink_slower_than_its_timeout_is_503<P: PolicySigner>(signer: P) {
    unusable_with_sink(&signer, SinkMode::Slow(LONG)).await;
}

pub async fn body_over_the_limit_is_413_by_its_content_length<P: PolicySigner>(signer: P) {
    let (mut headers, body) = signer.receipt(REFERENCE);
    let h = mounted(&signer, HookMode::Tracked, |e| {
        e.with_body_limit(body.len() - 1).with_body_timeout(LONG)
    });
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    let (reply, calls) = h.both(&headers, body.clone()).await;
    assert_refused_untouched(&reply, calls, StatusCode::PAYLOAD_TOO_LARGE);
    // Refused on the declared length alone, before waiting for a byte of the body.
    let started = Instant::now();
    let (reply, calls) = h.both_body(&headers, silent).await;
    assert!(started.elapsed() < Duration::from_secs(5), "not read");
    assert_refused_untouched(&reply, calls, StatusCode::PAYLOAD_TOO_LARGE);
}

pub async fn body_over_the_limit_is_413_without_content_length<P: PolicySigner>(signer: P) {
    // A streamed body declares no length: the limit is enforced while reading.
    let (headers, body) = signer.receipt(REFERENCE);
    assert!(!headers.contains_key(header::CONTENT_LENGTH));
    let h = mounted(&signer, HookMode::Tracked, |e| {
        e.with_body_limit(body.len() - 1)
    });
    let (reply, calls) = h.both_body(&headers, || chunked(&body, 64)).await;
    assert_refused_untouched(&reply, calls, StatusCode::PAYLOAD_TOO_LARGE);
}

pub async fn body_over_the_default_limit_is_413<P: PolicySigner>(signer: P) {
    let (headers, _) = signer.receipt(REFERENCE);
    let h = mounted(&signer, HookMode::Tracked, |e| e);
    let (reply, calls) = h.both(&headers, vec![b' '; DEFAULT_BODY_LIMIT + 1]).await;
    assert_refused_untouched(&reply, calls, StatusCode::PAYLOAD_TOO_LARGE);
}

pub async fn body_slower_than_its_timeout_is_408<P: PolicySigner>(signer: P) {
    let (headers, _) = signer.receipt(REFERENCE);
    let h = mounted(&signer, HookMode::Tracked, |e| e.with_body_timeout(SHORT));
    let (reply, calls) = h.both_body(&headers, silent).await;
    assert_eq!(reply.status, StatusCode::REQUEST_TIMEOUT, "{}", reply.body);
    assert_eq!(calls, (0, 0, 0), "nothing reached the hook");
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

pub async fn stuck_status_store_is_skipped_after_its_timeout<P: PolicySigner>(signer: P) {
    let h = mounted(&signer, HookMode::Tracked, |e| {
        e.with_status(StuckStatus).with_hook_timeout(SHORT)
    });
    let (headers, body) = signer.receipt(REFERENCE);
    let (reply, calls) = h.both(&headers, body).await;
    assert_eq!(
        reply.status, HANDLER_STATUS,
        "status is observability: {}",
        reply.body
    );
    assert_eq!(calls, (1, 1, 0));
}

pub async fn status_moves_last_received_at_only_for_tracked_receipts<P: PolicySigner>(signer: P) {
    let at = Clock::from_unix(1_767_225_600);
    let status = InMemoryStatus::new();
    let receipts = InMemoryReceipts::new();
    receipts.insert(id::<P>(), REFERENCE);
    let endpoint = Endpoint::new(PolicySigner::store(&signer), receipts)
        .with_status(status.clone())
        .with_clock(at.clone());
    let app = axum::Router::new().route(
        "/",
        axum::routing::post(|| async { (HANDLER_STATUS, "handled") }).layer(endpoint.layer()),
    );

    let (headers, body) = signer.receipt("policy-receipt-ref-untracked");
    assert_eq!(send(&app, &headers, body).await.status, StatusCode::OK);
    let snap = status.snapshot().await.expect("snapshot");
    let store = &snap.stores[&id::<P>()];
    assert_eq!(store.last_received_at, None, "untracked moves nothing");
    assert_eq!(store.counts.untracked, 1);

    let (headers, body) = signer.forged(REFERENCE);
    assert_eq!(
        send(&app, &headers, body).await.status,
        StatusCode::UNAUTHORIZED
    );
    let snap = status.snapshot().await.expect("snapshot");
    assert_eq!(
        snap.stores[&id::<P>()].last_received_at,
        None,
        "forged moves nothing"
    );

    let (headers, body) = signer.receipt(REFERENCE);
    assert_eq!(send(&app, &headers, body).await.status, HANDLER_STATUS);
    let snap = status.snapshot().await.expect("snapshot");
    let store = &snap.stores[&id::<P>()];
    assert_eq!(store.last_received_at, Some(at.now()));
    assert_eq!(store.counts.tracked, 1);
}

pub async fn endpoint_process_answers_without_any_framework<P: PolicySigner>(signer: P) {
    let endpoint = Endpoint::new(PolicySigner::store(&signer), AlwaysTracked);
    let (headers, body) = signer.receipt(REFERENCE);
    match endpoint.process(&headers, body).await {
        Processed::Handle {
            notification,
            outcome,
        } => {
            assert_eq!(outcome, Outcome::Tracked);
            assert_eq!(notification.store(), id::<P>());
            assert!(
                matches!(notification.disposition(), Disposition::Receipt(r) if r.reference == REFERENCE)
            );
        }
        Processed::Answer(a) => panic!("answered {a}"),
    }
    let (headers, body) = signer.forged(REFERENCE);
    match endpoint.process(&headers, body).await {
        Processed::Answer(a) => assert_eq!(a.status(), StatusCode::UNAUTHORIZED),
        Processed::Handle { outcome, .. } => panic!("forged delivery handled as {outcome}"),
    }
}

pub async fn over_a_loopback_socket<P: PolicySigner>(signer: P) {
    let h = mounted(&signer, HookMode::Tracked, |e| e);
    let mut servers = Vec::new();
    for router in h.mountings() {
        servers.push(serve(router.clone()).await);
    }
    let (headers, body) = signer.receipt(REFERENCE);
    let (forged_headers, forged) = signer.forged(REFERENCE);
    for (addr, _) in &servers {
        let accepted = "HTTP/1.1 202 Accepted";
        assert_eq!(
            post_over_tcp(*addr, &headers, &body, Framing::ContentLength).await,
            accepted
        );
        assert_eq!(
            post_over_tcp(*addr, &headers, &body, Framing::Chunked(100)).await,
            accepted,
            "a chunked upload is read whole"
        );
        assert_eq!(
            post_over_tcp(*addr, &forged_headers, &forged, Framing::ContentLength).await,
            "HTTP/1.1 401 Unauthorized"
        );
    }
    let n = servers.len();
    assert_eq!(
        h.calls(),
        (2 * n, 2 * n, 0),
        "the forged one reached nothing"
    );
    for (_, server) in servers {
        server.abort();
    }
}
