//! Shared integration-test helpers: fixture loading, a harness that mounts one endpoint both
//! ways (layer and extractor) with counting hook, handler and dead-letter sink, and the
//! response-policy suite every store runs.
#![allow(dead_code, unreachable_pub, unused_imports, unused_macros)]

mod harness;
pub use harness::*;
pub mod policy_suite;
pub(crate) use policy_suite::policy_suite;

use std::path::{Path, PathBuf};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use store_notifications::{Rejection, Verdict};

/// `../shared/fixtures/<store>`, or `None` (with a printed note) when the shared data is absent.
pub fn fixture_dir(store: &str) -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures")
        .join(store);
    if dir.join("manifest.json").is_file() {
        Some(dir)
    } else {
        println!(
            "skipped: {} not found (the shared fixtures live beside the repo in CI)",
            dir.display()
        );
        None
    }
}

/// The store's manifest and its folder.
pub fn manifest(store: &str) -> Option<(PathBuf, serde_json::Value)> {
    let dir = fixture_dir(store)?;
    let text = std::fs::read_to_string(dir.join("manifest.json")).expect("read manifest");
    Some((dir, serde_json::from_str(&text).expect("manifest is JSON")))
}

/// One manifest case, with the verifier configured for it.
pub struct Case<S> {
    pub name: String,
    pub store: S,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The instant (Unix seconds) the case is verified at.
    pub now: u64,
    pub case: serde_json::Value,
}

/// Every case of `<store>/manifest.json`, asserting there are `expected` of them (none when the
/// shared data is absent). `make_store(dir, manifest, case, now)` configures the verifier for
/// one case, with its overrides and its clock.
pub fn cases<S>(
    store: &str,
    expected: usize,
    make_store: impl Fn(&Path, &serde_json::Value, &serde_json::Value, u64) -> S,
) -> Vec<Case<S>> {
    let Some((dir, manifest)) = manifest(store) else {
        return Vec::new();
    };
    let cases = manifest["cases"].as_array().expect("cases");
    assert_eq!(
        cases.len(),
        expected,
        "the {store} manifest has {expected} cases"
    );
    cases
        .iter()
        .map(|c| {
            let now = c["now"].as_u64().expect("now");
            Case {
                name: c["name"].as_str().expect("name").to_owned(),
                store: make_store(&dir, &manifest, c, now),
                headers: headers_from_json(&c["headers"]),
                body: Bytes::from(
                    std::fs::read(dir.join(c["body_file"].as_str().expect("body_file")))
                        .expect("body file"),
                ),
                now,
                case: c.clone(),
            }
        })
        .collect()
}

/// A manifest `headers` object as a `HeaderMap`.
pub fn headers_from_json(v: &serde_json::Value) -> HeaderMap {
    let mut map = HeaderMap::new();
    if let Some(obj) = v.as_object() {
        for (k, v) in obj {
            let name = HeaderName::from_bytes(k.as_bytes()).expect("header name");
            let value = HeaderValue::from_str(v.as_str().expect("header value is a string"))
                .expect("header value");
            map.append(name, value);
        }
    }
    map
}

/// The notification of a manifest `ok` case: panics on a rejection or an unusable verdict.
pub fn accepted<N>(name: &str, result: Result<Verdict<N>, Rejection>) -> N {
    match result {
        Ok(Verdict::Notification(n)) => n,
        Ok(verdict) => panic!("{name}: authentic but unusable: {:?}", verdict.unusable()),
        Err(r) => panic!("{name}: rejected: {r}"),
    }
}

/// Asserts that a manifest `reject` case was refused (or found unusable) with the manifest's
/// `reason`, and that it is an authentic-but-unusable verdict (dead-letter path) exactly when
/// the fixtures README lists it as such.
pub fn assert_rejected_as_expected<N>(
    name: &str,
    case: &serde_json::Value,
    result: Result<Verdict<N>, Rejection>,
    dead_letter_cases: &[&str],
) {
    let (rejection, unusable) = match result {
        Err(r) => (r, false),
        Ok(verdict) => (
            verdict
                .unusable()
                .unwrap_or_else(|| panic!("{name}: accepted")),
            true,
        ),
    };
    assert_eq!(
        rejection.kind().as_str(),
        case["reason"],
        "{name}: {rejection}"
    );
    assert_eq!(
        unusable,
        dead_letter_cases.contains(&name),
        "{name}: authentic but unusable? {rejection}"
    );
}
