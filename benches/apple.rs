#![allow(missing_docs)] // criterion_group! generates undocumented items
//! Apple: full notification decode (outer JWS + nested transaction + renewal info) against the
//! floor of its ES256 verifies, in the same run.
//!
//! - `default/*`: one ES256 verify per notification (nested JWS decoded, not re-verified) vs the
//!   floor of one raw ring verify of the outer JWS;
//! - `verify_nested/*`: three verifies vs the floor of three raw verifies;
//! - `cached` vs `uncached` chain; validity at `signedDate` vs at "now".
//!
//! A ratio table (median of batches, measured here with `Instant`) is printed at the end.

use std::hint::black_box;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::HeaderMap;
use ring::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
use store_notifications::apple::{Environment, ResponseBodyV2DecodedPayload, ValidityDate};
use store_notifications::testing::AppleSigner;
use store_notifications::{AppleStore, Clock};
use x509_parser::prelude::FromDer;

const NOW: u64 = 1_767_225_600;
const SIGNED_MS: i64 = 1_767_225_570_000;

/// One JWS ready for a raw ring verify: (leaf key, signing input, raw signature).
struct RawJws {
    key: Vec<u8>,
    input: Vec<u8>,
    sig: Vec<u8>,
}

impl RawJws {
    fn new(jws: &str) -> Self {
        let mut parts = jws.split('.');
        let (h, p, s) = (
            parts.next().expect("header"),
            parts.next().expect("payload"),
            parts.next().expect("signature"),
        );
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).expect("b64")).expect("json");
        let leaf = STANDARD
            .decode(header["x5c"][0].as_str().expect("x5c"))
            .expect("der");
        let (_, cert) = x509_parser::certificate::X509Certificate::from_der(&leaf).expect("cert");
        RawJws {
            key: cert.public_key().subject_public_key.data.to_vec(),
            input: format!("{h}.{p}").into_bytes(),
            sig: URL_SAFE_NO_PAD.decode(s).expect("sig"),
        }
    }

    fn verify(&self) -> bool {
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &self.key)
            .verify(&self.input, &self.sig)
            .is_ok()
    }
}

struct Setup {
    body: Bytes,
    outer: RawJws,
    transaction: RawJws,
    renewal: RawJws,
    base: AppleStore,
}

fn setup() -> Setup {
    let signer = AppleSigner::new("com.example.bench", Environment::Production);
    let body = signer.notification(
        "DID_RENEW",
        None,
        "9d1f3a52-bench",
        Some("2000000815200009"),
        SIGNED_MS,
    );
    let envelope: serde_json::Value = serde_json::from_slice(&body).expect("json");
    let outer_jws = envelope["signedPayload"].as_str().expect("jws");
    let payload: serde_json::Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(outer_jws.split('.').nth(1).expect("payload"))
            .expect("b64"),
    )
    .expect("payload json");
    let nested = |k: &str| RawJws::new(payload["data"][k].as_str().expect("nested"));
    let base = signer.store().with_clock(Clock::from_unix(NOW));
    Setup {
        outer: RawJws::new(outer_jws),
        transaction: nested("signedTransactionInfo"),
        renewal: nested("signedRenewalInfo"),
        body,
        base,
    }
}

fn variants(base: &AppleStore) -> Vec<(&'static str, AppleStore, usize)> {
    let uncached = |s: AppleStore| s.with_chain_cache(0, Duration::ZERO);
    let now = |s: AppleStore| s.with_validity_date(ValidityDate::Now);
    let nested = |s: AppleStore| s.with_nested_verification(true);
    vec![
        ("default/cached/signedDate", base.clone(), 1),
        ("default/cached/now", now(base.clone()), 1),
        ("default/uncached/signedDate", uncached(base.clone()), 1),
        ("verify_nested/cached/signedDate", nested(base.clone()), 3),
        ("verify_nested/cached/now", now(nested(base.clone())), 3),
        (
            "verify_nested/uncached/signedDate",
            uncached(nested(base.clone())),
            3,
        ),
    ]
}

fn bench(c: &mut Criterion) {
    let s = setup();
    assert!(s.outer.verify() && s.transaction.verify() && s.renewal.verify());
    let floor1 = || black_box(s.outer.verify());
    let floor3 = || black_box(s.outer.verify() & s.transaction.verify() & s.renewal.verify());

    let mut g = c.benchmark_group("apple");
    g.bench_function("floor/1 ES256 verify", |b| b.iter(floor1));
    g.bench_function("floor/3 ES256 verifies", |b| b.iter(floor3));
    for (name, store, _) in variants(&s.base) {
        let at = store.now();
        assert!(
            store.verify_at(&HeaderMap::new(), &s.body, at).is_ok(),
            "{name}"
        );
        g.bench_function(name, |b| {
            b.iter(|| {
                black_box(
                    store
                        .verify_at(black_box(&HeaderMap::new()), black_box(&s.body), at)
                        .is_ok(),
                )
            })
        });
    }
    g.finish();

    // Where the time above the floor goes (no crypto in these).
    let mut g = c.benchmark_group("apple/parts");
    let envelope: serde_json::Value = serde_json::from_slice(&s.body).expect("json");
    let outer_jws = envelope["signedPayload"].as_str().expect("jws").to_owned();
    let payload_b64 = outer_jws.split('.').nth(1).expect("payload").to_owned();
    let payload = URL_SAFE_NO_PAD.decode(&payload_b64).expect("b64");
    g.bench_function(
        "base64url decode of the outer payload (base64 crate)",
        |b| b.iter(|| black_box(URL_SAFE_NO_PAD.decode(black_box(&payload_b64)).is_ok())),
    );
    g.bench_function(
        "base64url decode of the outer payload (base64-simd, used)",
        |b| {
            b.iter(|| {
                black_box(
                    base64_simd::URL_SAFE_NO_PAD
                        .decode_to_vec(black_box(&payload_b64))
                        .is_ok(),
                )
            })
        },
    );
    g.bench_function("parse ResponseBodyV2DecodedPayload", |b| {
        b.iter(|| {
            black_box(
                serde_json::from_slice::<ResponseBodyV2DecodedPayload>(black_box(&payload)).is_ok(),
            )
        })
    });
    g.finish();

    // Ratios in the same run, robust to a busy machine: floor and variant batches alternate,
    // and the median of the per-round ratios is reported.
    let batch = |f: &dyn Fn() -> bool| {
        let start = Instant::now();
        for _ in 0..5 {
            black_box(f());
        }
        start.elapsed().as_secs_f64() * 1e6 / 5.0
    };
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!("\n| variant | µs / notification | floor µs | ratio to floor |");
    println!("| --- | ---: | ---: | ---: |");
    for (name, store, verifies) in variants(&s.base) {
        let at = store.now();
        let floor: &dyn Fn() -> bool = if verifies == 1 { &floor1 } else { &floor3 };
        let full = || store.verify_at(&HeaderMap::new(), &s.body, at).is_ok();
        let rounds: Vec<(f64, f64)> = (0..161).map(|_| (batch(floor), batch(&full))).collect();
        let ratio = median(rounds.iter().map(|(f, t)| t / f).collect());
        let t = median(rounds.iter().map(|r| r.1).collect());
        let f = median(rounds.iter().map(|r| r.0).collect());
        println!("| {name} | {t:.1} | {f:.1} ({verifies}× ES256) | {ratio:.3}× |");
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
