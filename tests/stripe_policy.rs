//! Stripe's own rules, through real axum Routers mounted both ways (layer and extractor), with
//! events signed by the test-util signer (no shared fixtures needed). The rows every store
//! shares (tracked, untracked, forged, hook failures, limits, timeouts, dead letters …) run
//! from `tests/policy.rs`.
#![cfg(all(feature = "stripe", feature = "axum", feature = "test-util"))]

mod common;

use std::sync::Arc;

use bytes::Bytes;
use common::{HookMode, harness};
use http::{HeaderMap, HeaderValue, StatusCode};
use store_notifications::testing::StripeSigner;
use store_notifications::{Clock, Endpoint, Outcome, RejectionKind, StripeStore};

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
    // The MAC is checked first: a forged header with an old timestamp is unauthenticated, so
    // a forger learns nothing about the tolerance.
    let mut forged = HeaderMap::new();
    forged.insert("stripe-signature", HeaderValue::from_static("t=1,v1=00"));
    let (reply, calls) = h.both(&forged, signed("invoice.paid", SUB).1).await;
    assert_eq!(
        reply.outcome,
        Some(Outcome::Rejected(RejectionKind::Unauthenticated))
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
