//! Google Play's own rules (OIDC token claims and keys, the push envelope both ways, package
//! binding, Pub/Sub's acknowledgement codes), through real axum Routers mounted both ways
//! (layer and extractor), with pushes signed by the test-util `GoogleSigner` (no shared
//! fixtures needed). Every accepted answer must be one Pub/Sub acknowledges and every transient
//! failure 503. The rows every store shares run from `tests/policy.rs`.
#![cfg(all(feature = "google", feature = "axum", feature = "test-util"))]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use common::{HookMode, harness};
use http::{HeaderMap, StatusCode};
use store_notifications::google::{FetchedKeys, GoogleStore, KeySource};
use store_notifications::testing::GoogleSigner;
use store_notifications::{BoxError, Clock, Endpoint, Outcome, ReceiptHook, StoreId};

const NOW: i64 = 1_767_225_600;
const AUDIENCE: &str = "https://example.com/notifications/google";
const SERVICE_ACCOUNT: &str = "play-rtdn-push@policy-project.iam.gserviceaccount.com";
const PACKAGE: &str = "com.example.policy";
const TOKEN: &str = "policy-purchase-token.AO-J1Oabc";
const EVENT_MS: i64 = 1_767_225_595_123;

fn store() -> GoogleStore {
    GoogleStore::new(AUDIENCE, SERVICE_ACCOUNT, GoogleSigner::new().static_keys())
        .with_package_name(PACKAGE)
        .with_clock(Clock::from_unix(NOW as u64))
}

fn endpoint(hook: Arc<dyn ReceiptHook>) -> Endpoint<GoogleStore> {
    Endpoint::with_shared_hook(store(), hook).with_clock(Clock::from_unix(NOW as u64))
}

fn token() -> String {
    GoogleSigner::new().id_token(AUDIENCE, SERVICE_ACCOUNT, NOW - 100)
}

fn push(data: &str) -> (HeaderMap, Bytes) {
    let body = GoogleSigner::wrapped_body(
        data,
        "17000000000000001",
        "2025-12-31T23:59:55.456Z",
        "projects/policy-project/subscriptions/play-rtdn",
    );
    (GoogleSigner::headers(&token()), body)
}

fn renewal(package: &str) -> String {
    GoogleSigner::subscription_notification(package, 2, TOKEN, "premium.monthly", EVENT_MS)
}

fn is_pubsub_ack(status: StatusCode) -> bool {
    [102, 200, 201, 202, 204].contains(&status.as_u16())
}

#[tokio::test]
async fn the_hook_sees_the_subscription_and_package() {
    let h = harness(HookMode::Tracked, endpoint);
    let (headers, body) = push(&renewal(PACKAGE));
    let (reply, calls) = h.both(&headers, body).await;
    assert_eq!(reply.status, common::HANDLER_STATUS);
    assert!(is_pubsub_ack(reply.status));
    assert_eq!(calls, (1, 1, 0));
    let seen = h.receipts_seen.lock().expect("lock");
    assert_eq!(seen[0].store, StoreId::GOOGLE);
    assert_eq!(seen[0].reference, TOKEN);
    assert_eq!(seen[0].product.as_deref(), Some("premium.monthly"));
    assert_eq!(seen[0].app.as_deref(), Some(PACKAGE));
}

#[tokio::test]
async fn tracked_one_time_and_voided_purchases_ask_the_hook_with_the_purchase_token() {
    let h = harness(HookMode::Tracked, endpoint);
    for data in [
        GoogleSigner::one_time_product_notification(PACKAGE, 1, TOKEN, "coins.100", EVENT_MS),
        GoogleSigner::voided_purchase_notification(PACKAGE, TOKEN, "GPA.1234", 2, 1, EVENT_MS),
    ] {
        let (headers, body) = push(&data);
        let (reply, calls) = h.both(&headers, body).await;
        assert_eq!(reply.status, common::HANDLER_STATUS, "{data}");
        assert_eq!(calls, (1, 1, 0), "{data}");
    }
    let seen = h.receipts_seen.lock().expect("lock");
    assert!(seen.iter().all(|r| r.reference == TOKEN));
    assert!(
        seen.iter()
            .all(|r| r.is_sensitive() && !format!("{r:?}").contains(TOKEN)),
        "purchase tokens are credentials: the receipt says so and Debug hides them"
    );
}

#[tokio::test]
async fn unwrapped_push_is_handled_like_a_wrapped_one() {
    let h = harness(HookMode::Tracked, endpoint);
    let headers = GoogleSigner::unwrapped_headers(
        &token(),
        "17000000000000002",
        "2025-12-31T23:59:55.456Z",
        "projects/policy-project/subscriptions/play-rtdn",
    );
    let (reply, calls) = h.both(&headers, renewal(PACKAGE)).await;
    assert_eq!(reply.status, common::HANDLER_STATUS);
    assert_eq!(calls, (1, 1, 0));
}

#[tokio::test]
async fn forged_or_tampered_tokens_are_401_and_nothing_is_called() {
    let h = harness(HookMode::Tracked, endpoint);
    let (_, body) = push(&renewal(PACKAGE));
    let signer = GoogleSigner::new();
    let good = token();
    let (head_claims, _) = good.rsplit_once('.').expect("jwt");
    let mut claims = GoogleSigner::claims(AUDIENCE, SERVICE_ACCOUNT, NOW - 100);
    claims["email"] = "attacker@evil.iam.gserviceaccount.com".into();
    let forged_claims = format!(
        "{}.{}",
        head_claims.split_once('.').expect("jwt").0,
        base64_url(&claims.to_string())
    );
    let mut wrong_aud = GoogleSigner::claims("https://other.example", SERVICE_ACCOUNT, NOW - 100);
    wrong_aud["email_verified"] = true.into();
    let tokens = [
        // Claims swapped after signing.
        format!("{forged_claims}.{}", good.rsplit_once('.').expect("jwt").1),
        // Signed by Google's key for someone else's audience.
        signer.token(&wrong_aud),
        // A kid Google never published.
        GoogleSigner::new().with_kid("not-a-google-kid").id_token(
            AUDIENCE,
            SERVICE_ACCOUNT,
            NOW - 100,
        ),
        // Algorithm confusion.
        signer.token_with_header(
            &serde_json::json!({"alg": "HS256", "kid": GoogleSigner::KID}),
            &GoogleSigner::claims(AUDIENCE, SERVICE_ACCOUNT, NOW - 100),
        ),
        "not-a-jwt".to_owned(),
    ];
    for token in tokens {
        let (reply, calls) = h.both(&GoogleSigner::headers(&token), body.clone()).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
        assert_eq!(calls, (0, 0, 0));
    }
    let (reply, calls) = h.both(&HeaderMap::new(), body).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "no Authorization");
    assert_eq!(calls, (0, 0, 0));
}

fn base64_url(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

#[tokio::test]
async fn expired_token_is_401() {
    let h = harness(HookMode::Tracked, endpoint);
    let (_, body) = push(&renewal(PACKAGE));
    let old = GoogleSigner::new().id_token(AUDIENCE, SERVICE_ACCOUNT, NOW - 3600 - 61);
    let (reply, calls) = h.both(&GoogleSigner::headers(&old), body).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(calls, (0, 0, 0));
}

#[tokio::test]
async fn genuine_notification_for_another_app_is_403_and_nothing_is_called() {
    let h = harness(HookMode::Tracked, endpoint);
    for data in [
        renewal("com.example.someone.else"),
        GoogleSigner::test_notification("com.example.someone.else", EVENT_MS),
    ] {
        let (headers, body) = push(&data);
        let (reply, calls) = h.both(&headers, body).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN);
        assert_eq!(calls, (0, 0, 0));
    }
}

#[tokio::test]
async fn malformed_envelope_is_400_and_nothing_is_called() {
    let h = harness(HookMode::Tracked, endpoint);
    let headers = GoogleSigner::headers(&token());
    for body in [
        r#"{"subscription":"s"}"#,
        r#"{"message":"x"}"#,
        r#"{"message":{"data":"#,
    ] {
        let (reply, calls) = h.both(&headers, body.to_owned()).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(calls, (0, 0, 0), "{body}");
    }
}

#[tokio::test]
async fn authentic_but_unusable_data_is_dead_lettered_with_200() {
    let h = harness(HookMode::Tracked, endpoint);
    let headers = GoogleSigner::headers(&token());
    for body in [
        GoogleSigner::wrapped_body("not json", "1", "t", "s"),
        GoogleSigner::wrapped_body(r#"{"packageName":"p"}"#, "2", "t", "s"),
        Bytes::from_static(br#"{"message":{"data":"%%%"},"subscription":"s"}"#),
        Bytes::from_static(b"[]"),
    ] {
        let (reply, calls) = h.both(&headers, body.clone()).await;
        assert_eq!(reply.status, StatusCode::OK, "{body:?}: {}", reply.body);
        assert!(is_pubsub_ack(reply.status));
        assert_eq!(reply.outcome, Some(Outcome::DeadLettered));
        assert_eq!(calls, (0, 0, 1), "{body:?}");
    }
}

/// A key source that never answers with keys.
struct Unreachable(Arc<AtomicUsize>);

#[async_trait]
impl KeySource for Unreachable {
    async fn fetch(&self) -> Result<FetchedKeys, BoxError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Err("www.googleapis.com unreachable".into())
    }
}

#[tokio::test]
async fn keys_unobtainable_is_503_never_401() {
    let fetches = Arc::new(AtomicUsize::new(0));
    let source = Unreachable(Arc::clone(&fetches));
    let store = GoogleStore::new(AUDIENCE, SERVICE_ACCOUNT, source)
        .with_package_name(PACKAGE)
        .with_clock(Clock::from_unix(NOW as u64));
    let h = harness(HookMode::Tracked, |hook| {
        Endpoint::with_shared_hook(store.clone(), hook).with_clock(Clock::from_unix(NOW as u64))
    });
    let (headers, body) = push(&renewal(PACKAGE));
    let (reply, calls) = h.both(&headers, body).await;
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.body
    );
    assert_eq!(calls, (0, 0, 0));
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        1,
        "the second mounting's request is rate-limited, not refetched"
    );
}
