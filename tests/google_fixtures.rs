//! Every case of `../shared/fixtures/google/manifest.json`, at its own "now" (including the
//! genuine Google-signed ID token with Google's published JWKS and PEM key sets): first against
//! the verifier, then through a real axum Router mounted both ways (layer and extractor).
#![cfg(feature = "google")]

mod common;

use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;
use store_notifications::google::{GoogleNotification, GoogleStore, NotificationKind, StaticKeys};
use store_notifications::{Clock, Notification};

type Case = common::Case<GoogleStore>;

fn store_for(manifest: &Value, case: &Value, keys: StaticKeys) -> GoogleStore {
    let pick = |key: &str| {
        case.get(key)
            .unwrap_or(&manifest[key])
            .as_str()
            .unwrap_or_else(|| panic!("{key}"))
            .to_owned()
    };
    GoogleStore::new(pick("audience"), pick("service_account"), keys)
        .with_package_name(pick("package_name"))
        .with_leeway(Duration::from_secs(
            manifest["leeway_s"].as_u64().expect("leeway_s"),
        ))
        .with_clock(Clock::from_unix(case["now"].as_u64().expect("now")))
}

fn cases() -> Vec<Case> {
    common::cases("google", 94, |dir, manifest, case, _now| {
        let jwks_file = case
            .get("jwks_file")
            .unwrap_or(&manifest["jwks_file"])
            .as_str()
            .expect("jwks_file");
        let jwks = std::fs::read(dir.join(jwks_file)).expect("jwks file");
        let keys = StaticKeys::from_jwks(&jwks).expect("jwks parses");
        store_for(manifest, case, keys)
    })
}

/// The authentic-but-unusable cases of `../shared/fixtures/README.md`: the twelve listed as
/// such, plus the six "body not a JSON object" cases the README leaves to the library (200 or
/// 400). This library dead-letters those: with a verified token, a body that is not a JSON
/// object can only be unwrapped Pub/Sub data, and no retry would make it a notification. A
/// body that starts as a JSON object but does not parse (`reject_body_truncated`) stays 400.
const DEAD_LETTER_CASES: [&str; 18] = [
    "reject_message_without_data",
    "reject_data_empty",
    "reject_data_not_base64",
    "reject_data_not_json",
    "reject_data_json_array",
    "reject_data_truncated_json",
    "reject_package_not_string",
    "reject_package_missing",
    "reject_event_time_not_numeric",
    "reject_notification_type_string",
    "reject_purchase_token_missing",
    "reject_two_kinds",
    // Ambiguous in the README; dead-lettered here (see above).
    "reject_body_not_json",
    "reject_body_empty",
    "reject_body_json_array",
    "reject_body_json_string",
    "reject_unwrapped_not_json",
    "reject_unwrapped_json_array",
];

fn opt(v: Option<&str>) -> Value {
    v.map_or(Value::Null, Value::from)
}

fn check_expected(name: &str, n: &GoogleNotification, e: &Value) {
    let dn = n.notification();
    let (kind, subtype, number) = match &dn.kind {
        NotificationKind::Subscription(s) => (
            "subscription",
            Some(s.notification_type.name().unwrap_or("UNKNOWN")),
            Some(s.notification_type.value()),
        ),
        NotificationKind::OneTimeProduct(o) => (
            "one_time_product",
            Some(o.notification_type.name().unwrap_or("UNKNOWN")),
            Some(o.notification_type.value()),
        ),
        NotificationKind::VoidedPurchase(_) => ("voided_purchase", None, None),
        NotificationKind::Test(_) => ("test", None, None),
        _ => ("unknown", None, None),
    };
    assert_eq!(kind, e["type"], "{name}: type");
    assert_eq!(opt(subtype), e["subtype"], "{name}: subtype");
    assert_eq!(
        number.map_or(Value::Null, Value::from),
        e["notification_type"],
        "{name}: notification_type"
    );
    assert_eq!(n.is_test(), e["test"], "{name}: test");
    let receipt = n.receipt();
    assert_eq!(
        opt(receipt.map(|r| r.reference.as_str())),
        e["receipt"],
        "{name}: receipt"
    );
    assert_eq!(
        opt(receipt.and_then(|r| r.product.as_deref())),
        e["product_id"],
        "{name}: product"
    );
    if let Some(r) = receipt {
        assert_eq!(r.app.as_deref(), e["package_name"].as_str(), "{name}: app");
    }
    assert_eq!(dn.package_name, e["package_name"], "{name}: package");
    assert_eq!(
        dn.event_time_millis, e["event_time_millis"],
        "{name}: event_time_millis"
    );
    let occurred = n.occurred_at().expect("occurred_at");
    let ms = occurred
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after the epoch")
        .as_millis();
    assert_eq!(
        Some(ms as u64),
        e["event_time_millis"].as_u64(),
        "{name}: occurred_at"
    );
    let push = n.push();
    assert_eq!(opt(push.message_id.as_deref()), e["id"], "{name}: id");
    match e["id"].as_str() {
        Some(id) => assert_eq!(n.id(), id, "{name}: Notification::id"),
        None => assert!(n.id().starts_with("sha256:"), "{name}: derived id"),
    }
    assert_eq!(push.wrapped, e["wrapped"], "{name}: wrapped");
    assert_eq!(
        opt(push.publish_time.as_deref()),
        e["publish_time"],
        "{name}: publish_time"
    );
    assert_eq!(
        opt(push.subscription.as_deref()),
        e["subscription"],
        "{name}: subscription"
    );
    assert_eq!(n.token().email, e["email"], "{name}: email");
    if let NotificationKind::VoidedPurchase(v) = &dn.kind {
        assert_eq!(v.order_id, e["order_id"], "{name}: order_id");
        assert_eq!(
            v.product_type.value(),
            e["product_type"],
            "{name}: product_type"
        );
        assert_eq!(
            v.refund_type.value(),
            e["refund_type"],
            "{name}: refund_type"
        );
    }
    assert!(
        !format!("{n:?}").contains(e["receipt"].as_str().unwrap_or("\u{0}")),
        "{name}: the purchase token leaked into Debug"
    );
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
                check_expected(name, &n, &case["expected"]);
            }
            Some("reject") => {
                common::assert_rejected_as_expected(name, case, result, &DEAD_LETTER_CASES)
            }
            other => panic!("{name}: unknown expectation {other:?}"),
        }
    }
    println!("{} google cases checked", cases.len());
}

#[tokio::test]
async fn the_real_google_token_verifies_with_the_legacy_pem_certificates_too() {
    let Some((dir, manifest)) = common::manifest("google") else {
        return;
    };
    let pem = std::fs::read(dir.join("real/google-auth-library-java/legacy_federated_keys.json"))
        .expect("legacy keys");
    let jwks =
        std::fs::read(dir.join("real/google-auth-library-java/federated_keys.json")).expect("keys");
    let from_pem = StaticKeys::from_pem_certificates(&pem).expect("PEM map parses");
    let from_jwks = StaticKeys::from_jwks(&jwks).expect("JWKS parses");
    assert!(
        from_pem
            .keys()
            .contains("f9d97b4cae90bcd76aeb20026f6b770cac221783")
    );
    for kid in from_pem.keys().kids() {
        assert!(from_jwks.keys().contains(kid), "{kid} in both forms");
    }
    let mut checked = 0;
    for c in manifest["cases"].as_array().expect("cases") {
        let name = c["name"].as_str().expect("name");
        if !name.starts_with("real_google_token_ok") {
            continue;
        }
        let store = store_for(&manifest, c, from_pem.clone());
        let body = Bytes::from(
            std::fs::read(dir.join(c["body_file"].as_str().expect("body"))).expect("body"),
        );
        let headers = common::headers_from_json(&c["headers"]);
        let n = store.verify_at(&headers, &body, store.now()).await;
        let n = common::accepted(&format!("{name} with PEM keys"), n);
        assert_eq!(n.token().email, c["service_account"], "{name}");
        checked += 1;
    }
    assert_eq!(checked, 2, "both real-token ok cases");
}

#[cfg(feature = "axum")]
#[tokio::test]
async fn every_manifest_case_gets_the_policy_answer_through_both_mountings() {
    use common::HookMode;
    use store_notifications::Endpoint;

    let cases = cases();
    let count = cases.len();
    for Case {
        name,
        store,
        headers,
        body,
        now,
        case,
    } in cases
    {
        let h = common::harness(HookMode::Tracked, |hook| {
            Endpoint::with_shared_hook(store.clone(), hook).with_clock(Clock::from_unix(now))
        });
        let (reply, calls) = h.both(&headers, body).await;
        let dead_letter = DEAD_LETTER_CASES.contains(&name.as_str());
        common::assert_policy_answer(&name, &case, dead_letter, &reply, calls);
    }
    println!("{count} google cases answered through both mountings");
}
