//! Every case of `../shared/fixtures/amazon/manifest.json` (real AWS-signed SNS messages with
//! their real certificate, generated SV1/SV2 notifications and confirmations, the attack set),
//! at its own "now": first against the verifier, then through a real axum Router mounted both
//! ways (layer and extractor).
#![cfg(feature = "amazon")]

mod common;

use std::path::Path;

use serde_json::Value;
use store_notifications::amazon::{AmazonNotification, AmazonStore, PinnedCerts};
use store_notifications::{Clock, Disposition, Notification};

type Case = common::Case<AmazonStore>;

const CASES: usize = 90;

fn store_for(dir: &Path, manifest: &Value, case: &Value, now: u64) -> AmazonStore {
    let cert_dir = case
        .get("cert_dir")
        .unwrap_or(&manifest["cert_dir"])
        .as_str()
        .expect("cert_dir");
    let certs = PinnedCerts::from_dir(dir.join(cert_dir)).expect("cert_dir loads");
    let mut store = AmazonStore::new(certs)
        .with_app_package_name(manifest["app_package_name"].as_str().expect("app"))
        .with_clock(Clock::from_unix(now));
    for topic in case
        .get("topic_arns")
        .unwrap_or(&manifest["topic_arns"])
        .as_array()
        .expect("topic_arns")
    {
        store = store.with_topic_arn(topic.as_str().expect("topic"));
    }
    store
}

fn cases() -> Vec<Case> {
    common::cases("amazon", CASES, store_for)
}

/// The authentic-but-unusable cases listed in `../shared/fixtures/README.md`.
const DEAD_LETTER_CASES: [&str; 5] = [
    "reject_message_not_json",
    "reject_message_json_array",
    "reject_message_missing_receipt",
    "reject_message_receipt_number",
    "real_aws_sdk_java_message_authentic_not_rtn",
];

fn opt(v: Option<&str>) -> Value {
    v.map_or(Value::Null, Value::from)
}

fn check_ok(name: &str, n: &AmazonNotification, e: &Value) {
    let sns = n.sns();
    assert_eq!(n.id(), e["id"], "{name}: id");
    assert_eq!(sns.message_id(), e["id"], "{name}: MessageId");
    assert_eq!(sns.message_type().as_str(), e["type"], "{name}: type");
    assert_eq!(sns.topic_arn(), e["topic_arn"], "{name}: topic");
    assert_eq!(
        sns.signature_version().as_str(),
        e["signature_version"],
        "{name}: version"
    );
    assert_eq!(
        opt(n.receipt().map(|r| r.reference.as_str())),
        e["receipt"],
        "{name}: receipt"
    );
    assert_eq!(
        n.disposition() == Disposition::Test,
        e["test"].as_bool().expect("test"),
        "{name}: test"
    );
    assert_eq!(n.is_test(), e["test"], "{name}: is_test");
    if let Some(subject) = e.get("subject") {
        assert_eq!(opt(sns.subject()), *subject, "{name}: subject");
    }
    match n {
        AmazonNotification::Rtn(rtn) => {
            let m = rtn.message();
            assert_eq!(
                m.notification_type.as_str(),
                e["subtype"],
                "{name}: subtype"
            );
            assert_eq!(
                n.notification_type(),
                e["subtype"],
                "{name}: notification_type"
            );
            assert_eq!(
                !m.notification_type.is_unknown(),
                e["known_type"],
                "{name}: known"
            );
            assert_eq!(m.app_package_name, e["app_package_name"], "{name}: app");
            assert_eq!(
                opt(m.app_user_id.as_deref()),
                e["app_user_id"],
                "{name}: user"
            );
            assert_eq!(
                serde_json::to_value(&m.related_receipts).expect("json"),
                e["related_receipts"],
                "{name}: related"
            );
            assert_eq!(m.timestamp_ms, e["rtn_timestamp_ms"].as_i64(), "{name}: ts");
            assert_eq!(
                rtn.receipt().app.as_deref(),
                Some(m.app_package_name.as_str())
            );
            assert!(n.occurred_at().is_some(), "{name}: occurred_at");
        }
        _ => {
            assert!(
                e["subtype"].is_null(),
                "{name}: confirmations have no subtype"
            );
            assert_eq!(
                n.notification_type(),
                e["type"],
                "{name}: notification_type"
            );
            assert_eq!(n.disposition(), Disposition::Control, "{name}: control");
            let c = n.confirmation().expect("confirmation");
            assert_eq!(c.token(), e["token"], "{name}: token");
            assert_eq!(
                c.subscribe_url(),
                e["subscribe_url"],
                "{name}: subscribe_url"
            );
        }
    }
}

#[tokio::test]
async fn every_manifest_case_verifies_as_expected() {
    let cases = cases();
    for Case {
        name,
        store,
        headers,
        body,
        case,
        ..
    } in &cases
    {
        let result = store.verify_at(headers, body, store.now()).await;
        match case["expect"].as_str() {
            Some("ok") => {
                let n = common::accepted(name, result);
                check_ok(name, &n, &case["expected"]);
            }
            Some("reject") => {
                common::assert_rejected_as_expected(name, case, result, &DEAD_LETTER_CASES)
            }
            other => panic!("{name}: unknown expectation {other:?}"),
        }
    }
    println!("{} amazon cases checked", cases.len());
}

#[cfg(feature = "axum")]
#[tokio::test]
async fn every_manifest_case_gets_the_policy_answer_through_both_mountings() {
    use common::HookMode;
    use store_notifications::{
        Endpoint, InMemoryStatus, Outcome, StatusStore, StoreId, SubscriptionState,
    };

    for Case {
        name,
        store,
        headers,
        body,
        now,
        case,
    } in cases()
    {
        let status = InMemoryStatus::new();
        let h = common::harness(HookMode::Tracked, |hook| {
            Endpoint::with_shared_hook(store.clone(), hook)
                .with_status(status.clone())
                .with_clock(Clock::from_unix(now))
        });
        let (reply, calls) = h.both(&headers, body).await;
        let e = &case["expected"];
        match case["expect"].as_str() {
            Some("ok") if e["type"] != "Notification" => {
                assert_eq!(reply.status, 200, "{name}");
                assert_eq!(calls, (0, 0, 0), "{name}: handled by the store");
                assert_eq!(reply.outcome, Some(Outcome::Control), "{name}");
                let snap = status.snapshot().await.expect("snapshot");
                let sub = snap.stores[&StoreId::AMAZON]
                    .subscription
                    .clone()
                    .expect("subscription recorded");
                assert_eq!(sub.topic, e["topic_arn"], "{name}");
                let state = if e["type"] == "SubscriptionConfirmation" {
                    SubscriptionState::PendingConfirmation
                } else {
                    SubscriptionState::Unsubscribed
                };
                assert_eq!(sub.state, state, "{name}");
            }
            _ => {
                let dead_letter = DEAD_LETTER_CASES.contains(&name.as_str());
                common::assert_policy_answer(&name, &case, dead_letter, &reply, calls);
            }
        }
    }
}
