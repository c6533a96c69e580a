//! Apple's own rules (the x5c chain and its roots, nested JWS, app and environment binding),
//! with the crate's own Apple test signer (runs without the shared fixtures), through both
//! mountings (layer and extractor). The rows every store shares run from `tests/policy.rs`.
#![cfg(all(feature = "apple", feature = "axum", feature = "test-util"))]

mod common;

use common::{Harness, HookMode};
use http::HeaderMap;
use store_notifications::apple::{Environment, ValidityDate};
use store_notifications::testing::AppleSigner;
use store_notifications::{AppleStore, Clock, Endpoint, Verdict};

const NOW: u64 = 1_767_225_600;
const SIGNED_MS: i64 = 1_767_225_570_000;
const BUNDLE: &str = "com.example.policy";

fn signer() -> AppleSigner {
    AppleSigner::new(BUNDLE, Environment::Production)
}

fn harness_with(mode: HookMode, store: AppleStore) -> Harness {
    common::harness(mode, move |hook| {
        Endpoint::with_shared_hook(store.clone().with_clock(Clock::from_unix(NOW)), hook)
            .with_clock(Clock::from_unix(NOW))
    })
}

fn harness(signer: &AppleSigner, mode: HookMode) -> Harness {
    harness_with(mode, signer.store())
}

#[tokio::test]
async fn the_hook_sees_the_transactions_product_bundle_and_environment() {
    let s = signer();
    let h = harness(&s, HookMode::Tracked);
    let body = s.notification(
        "DID_RENEW",
        None,
        "u-1",
        Some("2000000000000001"),
        SIGNED_MS,
    );
    let (reply, calls) = h.both(&s.headers(), body).await;
    assert_eq!(reply.status, common::HANDLER_STATUS);
    assert_eq!(calls, (1, 1, 0));
    let seen = h.receipts_seen.lock().expect("lock");
    let receipt = seen.first().expect("a receipt");
    assert_eq!(receipt.reference, "2000000000000001");
    assert_eq!(
        receipt.product.as_deref(),
        Some("com.example.policy.premium")
    );
    assert_eq!(receipt.app.as_deref(), Some(BUNDLE));
    assert_eq!(receipt.environment.as_deref(), Some("Production"));
}

#[tokio::test]
async fn chain_from_an_untrusted_root_is_401_and_reaches_nothing() {
    let trusted = signer();
    let forger = signer();
    let h = harness(&trusted, HookMode::Tracked);
    let body = forger.notification(
        "DID_RENEW",
        None,
        "u-6",
        Some("2000000000000006"),
        SIGNED_MS,
    );
    let (reply, calls) = h.both(&trusted.headers(), body).await;
    assert_eq!(reply.status, 401);
    assert_eq!(calls, (0, 0, 0));
}

#[tokio::test]
async fn genuine_notification_for_another_app_is_403_and_reaches_nothing() {
    let s = signer();
    let other_app = AppleStore::production("com.example.other", 1_234_567_890)
        .with_only_trusted_roots(s.root(), []);
    let h = harness_with(HookMode::Tracked, other_app);
    let body = s.notification(
        "DID_RENEW",
        None,
        "u-8",
        Some("2000000000000008"),
        SIGNED_MS,
    );
    let (reply, calls) = h.both(&s.headers(), body).await;
    assert_eq!(reply.status, 403);
    assert_eq!(calls, (0, 0, 0));
}

#[tokio::test]
async fn notification_for_another_environment_is_403() {
    let s = AppleSigner::new(BUNDLE, Environment::Sandbox);
    let production =
        AppleStore::production(BUNDLE, 1_234_567_890).with_only_trusted_roots(s.root(), []);
    let h = harness_with(HookMode::Tracked, production);
    let body = s.notification(
        "DID_RENEW",
        None,
        "u-9",
        Some("2000000000000009"),
        SIGNED_MS,
    );
    let (reply, calls) = h.both(&s.headers(), body).await;
    assert_eq!(reply.status, 403);
    assert_eq!(calls, (0, 0, 0));
}

#[tokio::test]
async fn malformed_envelope_is_400() {
    let s = signer();
    let h = harness(&s, HookMode::Tracked);
    let (reply, calls) = h.both(&s.headers(), r#"{"signedPayload":"x.y"}"#).await;
    assert_eq!(reply.status, 400);
    assert_eq!(calls, (0, 0, 0));
}

#[tokio::test]
async fn certificate_not_yet_valid_at_signed_date_is_401() {
    // The signer's chain is valid from 2020: a notification signed in 2019 is refused.
    let s = signer();
    let h = harness(&s, HookMode::Tracked);
    let body = s.notification(
        "DID_RENEW",
        None,
        "u-11",
        Some("2000000000000011"),
        1_546_300_800_000,
    );
    let (reply, calls) = h.both(&s.headers(), body).await;
    assert_eq!(reply.status, 401);
    assert_eq!(calls, (0, 0, 0));
}

#[tokio::test]
async fn nested_verification_and_now_validity_accept_the_signers_notifications() {
    let s = signer();
    let strict = s
        .store()
        .with_nested_verification(true)
        .with_validity_date(ValidityDate::Now);
    let h = harness_with(HookMode::Tracked, strict);
    let body = s.notification(
        "DID_RENEW",
        None,
        "u-12",
        Some("2000000000000012"),
        SIGNED_MS,
    );
    let (reply, calls) = h.both(&s.headers(), body).await;
    assert_eq!(reply.status, common::HANDLER_STATUS);
    assert_eq!(calls, (1, 1, 0));
}

#[tokio::test]
async fn nested_jws_from_another_chain_is_401_only_with_nested_verification() {
    use serde_json::json;
    let s = signer();
    let forger = signer();
    let payload = json!({
        "notificationType": "DID_RENEW",
        "notificationUUID": "u-13",
        "data": {
            "appAppleId": 1_234_567_890,
            "bundleId": BUNDLE,
            "environment": "Production",
            "signedTransactionInfo": forger.signed_transaction("2000000000000013", "1", SIGNED_MS),
        },
        "signedDate": SIGNED_MS,
    });
    let body = s.body(&s.sign(payload.to_string().as_bytes()));

    let lenient = harness(&s, HookMode::Tracked);
    let (reply, calls) = lenient.both(&s.headers(), body.clone()).await;
    assert_eq!(
        (reply.status.as_u16(), calls),
        (common::HANDLER_STATUS.as_u16(), (1, 1, 0))
    );

    let strict = harness_with(HookMode::Tracked, s.store().with_nested_verification(true));
    let (reply, calls) = strict.both(&s.headers(), body).await;
    assert_eq!((reply.status.as_u16(), calls), (401, (0, 0, 0)));
}

// "Keys/certs temporarily unobtainable → 503" does not apply: Apple sends the whole chain in
// the JWS header and the roots are configured, so nothing is ever fetched.

#[test]
fn changing_the_roots_forgets_chains_verified_under_the_old_ones() {
    let s = signer();
    let store = s.store().with_clock(Clock::from_unix(NOW));
    let body = s.notification(
        "DID_RENEW",
        None,
        "u-14",
        Some("2000000000000014"),
        SIGNED_MS,
    );
    assert!(
        store
            .verify_at(&HeaderMap::new(), &body, store.now())
            .is_ok(),
        "chain now cached"
    );
    let other = signer();
    let retrusted = store.with_only_trusted_roots(other.root(), []);
    let rejection = retrusted
        .verify_at(&HeaderMap::new(), &body, retrusted.now())
        .expect_err("old chain must not be trusted");
    assert_eq!(rejection.status(), 401);
}

#[test]
fn no_mutation_or_truncation_of_a_genuine_body_panics_or_is_accepted_altered() {
    let s = signer();
    let store = s.store().with_clock(Clock::from_unix(NOW));
    let body = s.notification(
        "DID_RENEW",
        None,
        "u-15",
        Some("2000000000000015"),
        SIGNED_MS,
    );
    let genuine = store
        .verify_at(&HeaderMap::new(), &body, store.now())
        .expect("genuine")
        .notification()
        .expect("usable");
    let same = |b: &[u8]| match store.verify_at(&HeaderMap::new(), b, store.now()) {
        Ok(Verdict::Notification(n)) => {
            assert_eq!(
                n.payload(),
                genuine.payload(),
                "an altered body was accepted"
            );
        }
        Ok(verdict) => panic!("an altered body is authentic: {verdict:?}"),
        Err(_) => {}
    };
    for i in (0..body.len()).step_by(7) {
        for flip in [0x01u8, 0x80] {
            let mut mutated = body.to_vec();
            mutated[i] ^= flip;
            same(&mutated);
        }
    }
    for len in (0..body.len()).step_by(5) {
        same(&body[..len]);
    }
}
