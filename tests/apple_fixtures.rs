//! Every case of `../shared/fixtures/apple/manifest.json`, at its own "now": first against the
//! verifier, then through a real axum Router mounted both ways (layer and extractor); plus the
//! manifest's checks on real files (Apple's standalone signed vectors and Apple's root).
#![cfg(feature = "apple")]

mod common;

use std::path::Path;

use http::HeaderMap;
use serde_json::Value;
use store_notifications::apple::{APPLE_ROOT_CA_G3, AppleRoot, Environment};
use store_notifications::{AppleStore, Clock, Notification};

type Case = common::Case<AppleStore>;

fn store_for(dir: &Path, manifest: &Value, case: &Value, now: u64) -> AppleStore {
    let config = |key: &str| {
        case.get("config")
            .and_then(|c| c.get(key))
            .unwrap_or(&manifest[key])
            .clone()
    };
    let mut roots = config("trusted_roots")
        .as_array()
        .expect("trusted_roots")
        .iter()
        .map(|p| std::fs::read(dir.join(p.as_str().expect("root path"))).expect("root file"))
        .map(|der| AppleRoot::from_der(&der).expect("root"))
        .collect::<Vec<_>>()
        .into_iter();
    let first = roots.next().expect("at least one root");
    let environment = Environment::from(config("environment").as_str().expect("environment"));
    let app_apple_id = config("app_apple_id").as_i64();
    let verify_nested = case
        .get("options")
        .and_then(|o| o.get("verify_nested"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    AppleStore::new(
        config("bundle_id").as_str().expect("bundle_id"),
        environment,
        app_apple_id,
    )
    .expect("config")
    .with_only_trusted_roots(first, roots)
    .with_nested_verification(verify_nested)
    .with_clock(Clock::from_unix(now))
}

fn cases() -> Vec<Case> {
    common::cases("apple", 89, store_for)
}

/// The authentic-but-unusable cases listed in `../shared/fixtures/README.md`.
const DEAD_LETTER_CASES: [&str; 4] = [
    "malformed_payload_not_json_signed",
    "malformed_notification_type_number",
    "malformed_signed_date_string",
    "malformed_nested_jws_garbage",
];

#[test]
fn every_manifest_case_verifies_as_expected() {
    let cases = cases();
    let mut ok = 0;
    for Case {
        name,
        store,
        body,
        case,
        ..
    } in &cases
    {
        let result = store.verify_at(&HeaderMap::new(), body, store.now());
        match case["expect"].as_str() {
            Some("ok") => {
                ok += 1;
                let n = common::accepted(name, result);
                let e = &case["expected"];
                let opt = |v: Option<&str>| v.map_or(Value::Null, Value::from);
                let receipt = n.receipt().map(|r| r.reference.as_str());
                assert_eq!(opt(receipt), e["receipt"], "{name}: receipt");
                assert_eq!(n.is_test(), e["test"], "{name}: test");
                assert_eq!(
                    n.typed_notification_type().as_str(),
                    e["type"],
                    "{name}: type"
                );
                assert_eq!(
                    Notification::notification_type(&n),
                    e["type"],
                    "{name}: type"
                );
                assert_eq!(n.id(), e["id"], "{name}: id");
                assert_eq!(n.notification_uuid(), e["id"], "{name}: id");
                if let Some(known) = e.get("type_known") {
                    assert_eq!(
                        !n.typed_notification_type().is_unknown(),
                        *known,
                        "{name}: known"
                    );
                }
                if let Some(subtype) = e.get("subtype") {
                    let got = n.subtype().map(|s| s.as_str());
                    assert_eq!(opt(got), *subtype, "{name}: subtype");
                }
                if let Some(version) = e.get("version") {
                    assert_eq!(opt(n.payload().version.as_deref()), *version, "{name}");
                }
                if let Some(date) = e.get("signed_date_ms") {
                    assert_eq!(
                        n.signed_date().map(Value::from),
                        Some(date.clone()),
                        "{name}"
                    );
                }
                if let Some(shape) = e.get("shape") {
                    assert_eq!(
                        n.shape().map(|s| s.as_str()),
                        shape.as_str(),
                        "{name}: shape"
                    );
                }
                if let Some(env) = e.get("environment") {
                    let got = n.environment().map(|e| e.as_str().to_owned());
                    assert_eq!(got.as_deref(), env.as_str(), "{name}: environment");
                }
                if let Some(bundle) = e.get("bundle_id") {
                    assert_eq!(n.bundle_id(), bundle.as_str(), "{name}: bundle_id");
                }
                if let Some(tx) = e.get("transaction_id") {
                    let got = n.transaction().and_then(|t| t.transaction_id.as_deref());
                    assert_eq!(opt(got), *tx, "{name}: transaction_id");
                }
                if let Some(product) = e.get("product_id") {
                    let got = n.transaction().and_then(|t| t.product_id.as_deref());
                    assert_eq!(opt(got), *product, "{name}: product_id");
                }
                if let Some(r) = n.receipt() {
                    assert_eq!(r.app.as_deref(), n.bundle_id(), "{name}: receipt app");
                }
            }
            Some("reject") => {
                common::assert_rejected_as_expected(name, case, result, &DEAD_LETTER_CASES)
            }
            other => panic!("{name}: unknown expectation {other:?}"),
        }
    }
    if !cases.is_empty() {
        assert_eq!(ok, 45, "45 ok cases");
    }
    println!("{} apple cases checked", cases.len());
}

#[test]
fn every_case_verifies_the_same_with_a_warm_cache() {
    // The verified-chain cache must not change any answer: verify each case twice on one store.
    for Case {
        name, store, body, ..
    } in cases()
    {
        let first = store
            .verify_at(&HeaderMap::new(), &body, store.now())
            .map(|v| v.map(|n| n.id().to_owned()));
        let second = store
            .verify_at(&HeaderMap::new(), &body, store.now())
            .map(|v| v.map(|n| n.id().to_owned()));
        assert_eq!(first, second, "{name}");
    }
}

#[test]
fn real_files_check_out() {
    let Some((dir, manifest)) = common::manifest("apple") else {
        return;
    };
    let checks = manifest["real_checks"].as_array().expect("real_checks");
    assert_eq!(checks.len(), 4);
    for check in checks {
        let file = dir.join(check["file"].as_str().expect("file"));
        match check["kind"].as_str() {
            Some("jws") => {
                let mut roots = check["trusted_roots"]
                    .as_array()
                    .expect("roots")
                    .iter()
                    .map(|p| std::fs::read(dir.join(p.as_str().expect("path"))).expect("root"))
                    .map(|der| AppleRoot::from_der(&der).expect("root"));
                let first = roots.next().expect("at least one root");
                let expect = &check["expect"];
                let environment = Environment::from(expect["environment"].as_str().expect("env"));
                let store = AppleStore::new("com.example", environment, Some(1234))
                    .expect("config")
                    .with_only_trusted_roots(first, roots)
                    .with_clock(Clock::from_unix(1_681_314_384));
                let jws = std::fs::read_to_string(&file).expect("jws");
                let jws = jws.trim();
                if file.ends_with("transactionInfo") {
                    let t = store.verify_signed_transaction(jws).expect("transaction");
                    assert_eq!(t.bundle_id.as_deref(), expect["bundleId"].as_str());
                    assert_eq!(t.signed_date, expect["signedDate"].as_i64());
                    assert_eq!(t.environment, Some(Environment::Sandbox));
                } else {
                    let r = store.verify_signed_renewal_info(jws).expect("renewal info");
                    assert_eq!(r.signed_date, expect["signedDate"].as_i64());
                    assert_eq!(r.environment, Some(Environment::Sandbox));
                    // The same vector is not trusted under Apple's real root.
                    let apple_only = AppleStore::sandbox("com.example")
                        .with_clock(Clock::from_unix(1_681_314_384));
                    assert!(apple_only.verify_signed_renewal_info(jws).is_err());
                }
            }
            Some("root") => {
                let der = std::fs::read(&file).expect("root");
                assert_eq!(
                    der, APPLE_ROOT_CA_G3,
                    "the embedded root is Apple Root CA - G3"
                );
                let digest = ring::digest::digest(&ring::digest::SHA256, APPLE_ROOT_CA_G3);
                let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
                assert_eq!(hex, check["sha256"].as_str().expect("sha256"));
            }
            Some("intermediate") => {
                // WWDR G6 is an intermediate (path length 0): it can't be configured as a root.
                // That it chains to the embedded root is checked by the chain unit tests.
                let der = std::fs::read(&file).expect("intermediate");
                assert!(AppleRoot::from_der(&der).is_err());
            }
            other => panic!("unknown real check {other:?}"),
        }
    }
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
