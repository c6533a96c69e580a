//! Every case of `../shared/fixtures/stripe/manifest.json`, at its own "now": first against the
//! verifier, then through a real axum Router mounted both ways (layer and extractor).
#![cfg(feature = "stripe")]

mod common;

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use store_notifications::{Clock, Notification, StripeStore};

type Case = common::Case<StripeStore>;

/// The verifier configured with exactly the case's `secrets` and `tolerance_s`, at its `now`.
fn store_for(_: &Path, _: &Value, case: &Value, now: u64) -> StripeStore {
    let secrets: Vec<&str> = case["secrets"]
        .as_array()
        .expect("secrets")
        .iter()
        .map(|s| s.as_str().expect("secret"))
        .collect();
    StripeStore::from_secrets(secrets)
        .expect("at least one secret, none empty")
        .with_tolerance(Duration::from_secs(
            case["tolerance_s"].as_u64().expect("tolerance"),
        ))
        .with_clock(Clock::from_unix(now))
}

fn cases() -> Vec<Case> {
    common::cases("stripe", 59, store_for)
}

/// The authentic-but-unusable cases listed in `../shared/fixtures/README.md`.
const DEAD_LETTER_CASES: [&str; 4] = [
    "reject_not_json",
    "reject_json_not_event",
    "reject_json_array",
    "reject_empty",
];

#[test]
fn every_manifest_case_verifies_as_expected() {
    let cases = cases();
    for Case {
        name,
        store,
        headers,
        body,
        now,
        case,
    } in &cases
    {
        let result = store.verify_at(headers, body, Clock::from_unix(*now).now());
        match case["expect"].as_str() {
            Some("ok") => {
                let event = common::accepted(name, result);
                let e = &case["expected"];
                let opt = |v: Option<&str>| v.map_or(Value::Null, Value::from);
                assert_eq!(event.id(), e["event_id"], "{name}: id");
                assert_eq!(event.event_type().as_str(), e["type"], "{name}: type");
                assert_eq!(event.notification_type(), e["type"], "{name}: type");
                assert_eq!(
                    opt(event.api_version()),
                    e["api_version"],
                    "{name}: api_version"
                );
                assert_eq!(event.created(), e["created"], "{name}: created");
                assert_eq!(event.livemode(), e["livemode"], "{name}: livemode");
                assert_eq!(event.environment(), e["environment"], "{name}: environment");
                assert_eq!(opt(event.object_type()), e["object"], "{name}: object");
                assert_eq!(opt(event.object_id()), e["object_id"], "{name}: object_id");
                let receipt = event.receipt().map(|r| r.reference.as_str());
                assert_eq!(opt(receipt), e["receipt"], "{name}: receipt");
                let kind = event.receipt_kind().map(|k| k.as_str());
                assert_eq!(opt(kind), e["receipt_kind"], "{name}: receipt_kind");
                assert_eq!(event.signed_at(), e["signed_at"], "{name}: signed_at");
                assert_eq!(
                    event.has_previous_attributes(),
                    e["has_previous_attributes"],
                    "{name}: previous_attributes"
                );
                if let Some(account) = e.get("account") {
                    assert_eq!(opt(event.account()), *account, "{name}: account");
                }
                if let Some(request_id) = e.get("request_id") {
                    assert_eq!(opt(event.request_id()), *request_id, "{name}: request_id");
                }
            }
            Some("reject") => {
                common::assert_rejected_as_expected(name, case, result, &DEAD_LETTER_CASES)
            }
            other => panic!("{name}: unknown expectation {other:?}"),
        }
    }
    println!("{} stripe cases checked", cases.len());
}

#[cfg(feature = "axum")]
#[tokio::test]
async fn every_manifest_case_gets_the_policy_answer_through_both_mountings() {
    use common::HookMode;
    use store_notifications::Endpoint;

    for Case {
        name,
        store,
        headers,
        body,
        now,
        case,
    } in cases()
    {
        let h = common::harness(HookMode::Tracked, |hook| {
            Endpoint::with_shared_hook(store.clone(), hook).with_clock(Clock::from_unix(now))
        });
        let (reply, calls) = h.both(&headers, body).await;
        let dead_letter = DEAD_LETTER_CASES.contains(&name.as_str());
        common::assert_policy_answer(&name, &case, dead_letter, &reply, calls);
    }
}
