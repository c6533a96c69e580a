//! Amazon SNS / RTN: the verifier against its floor (one RSA-2048 PKCS#1 verify over a
//! string-to-sign of the same size), measured in the same run, and a full request through an
//! axum Router with `oneshot`.
//!
//! `cargo bench --no-default-features --features amazon,test-util --bench amazon`; the ratios go
//! into BENCHMARKS.md.
#![allow(missing_docs)] // criterion's macros generate undocumented items

use std::hint::black_box;

use axum::Router;
use axum::body::Body;
use axum::routing::post;
use base64::Engine as _;
use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::Request;
use ring::signature::{self, KeyPair, RsaKeyPair};
use store_notifications::amazon::{AmazonStore, SignatureVersion};
use store_notifications::testing::{RtnMessageBuilder, SnsSigner};
use store_notifications::{AlwaysTracked, Clock, Endpoint};
use tower::ServiceExt;

const KEY_PEM: &str = include_str!("../src/testing/keys/amazon-test-rsa.key.pem");

fn public_key_der() -> Vec<u8> {
    let b64: String = KEY_PEM
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("key base64");
    RsaKeyPair::from_pkcs8(&der)
        .expect("pkcs8")
        .public_key()
        .as_ref()
        .to_vec()
}

fn bench(c: &mut Criterion) {
    let signer = SnsSigner::new();
    let store = AmazonStore::new(signer.pinned_certs())
        .with_topic_arn(SnsSigner::TOPIC_ARN)
        .with_app_package_name("com.example.app")
        .with_clock(Clock::from_unix(1_767_225_600));
    let public_key = public_key_der();
    // The endpoint bounds its waits with tokio's timers.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let rtn = RtnMessageBuilder::new(
        "com.example.app",
        "SUBSCRIPTION_RENEWED",
        "RLDDRKIsKmHSeAD3L4kYEgVS4g0hYHWlqWRcJoE4jFs=:3:11",
    )
    .app_user_id("6Wsj3W4U3ioQEIrwUCOT7SD6bTiXPQxxUtrQxRqVQWI=")
    .to_json();

    for (name, version, alg) in [
        (
            "sv2_sha256",
            SignatureVersion::V2,
            &signature::RSA_PKCS1_2048_8192_SHA256,
        ),
        (
            "sv1_sha1",
            SignatureVersion::V1,
            &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
        ),
    ] {
        let d = signer
            .notification(rtn.clone())
            .subject("Amazon Appstore Real-Time Notification")
            .signature_version(version)
            .sign();
        // Warm the key cache, as in steady state.
        rt.block_on(store.verify_at(&d.headers, &d.body, store.now()))
            .expect("verifies");
        // The floor: one RSA verify over a message as long as the string to sign.
        let data = vec![b'x'; d.body.len()];
        let sig = base64::engine::general_purpose::STANDARD
            .decode(signer.sign(version, &data))
            .expect("sig");
        let key = signature::UnparsedPublicKey::new(alg, public_key.clone());
        // The SHA-256 floor is what the 1.3× target is against.
        let sha256_key = signature::UnparsedPublicKey::new(
            &signature::RSA_PKCS1_2048_8192_SHA256,
            public_key.clone(),
        );
        let sha256_sig = base64::engine::general_purpose::STANDARD
            .decode(signer.sign(SignatureVersion::V2, &data))
            .expect("sig");

        // Criterion runs one function after the other; on a shared machine the load drifts
        // between them. Interleaved batches give a ratio that drift cannot skew.
        let (floor_us, verify_us) = interleaved(
            || {
                black_box(sha256_key.verify(black_box(&data), black_box(&sha256_sig))).ok();
            },
            || {
                rt.block_on(store.verify_at(
                    black_box(&d.headers),
                    black_box(&d.body),
                    store.now(),
                ))
                .ok();
            },
        );
        println!(
            "amazon/{name}: interleaved medians: floor (RSA-2048 SHA-256 verify) {floor_us:.1} µs, \
             verify_and_parse {verify_us:.1} µs, ratio {:.2}x",
            verify_us / floor_us
        );

        let mut g = c.benchmark_group(format!("amazon/{name}"));
        println!("amazon/{name}: body {} bytes", d.body.len());
        g.bench_function("floor_rsa2048_sha256_verify", |b| {
            b.iter(|| black_box(sha256_key.verify(black_box(&data), black_box(&sha256_sig))))
        });
        if version == SignatureVersion::V1 {
            g.bench_function("floor_rsa2048_sha1_verify", |b| {
                b.iter(|| black_box(key.verify(black_box(&data), black_box(&sig))))
            });
        }
        g.bench_function("verify_envelope", |b| {
            b.iter(|| {
                rt.block_on(store.verify_envelope(black_box(&d.headers), black_box(&d.body)))
                    .expect("ok")
            })
        });
        g.bench_function("verify_and_parse", |b| {
            b.iter(|| {
                rt.block_on(store.verify_at(black_box(&d.headers), black_box(&d.body), store.now()))
                    .expect("ok")
            })
        });
        g.finish();
    }

    let d = signer.notification(rtn).sign();
    let endpoint = Endpoint::new(store.clone(), AlwaysTracked);
    let app = Router::new().route("/", post(|| async { "ok" }).layer(endpoint.layer()));
    let bare = Router::new().route("/", post(|| async { "ok" }));
    let request = |body: Bytes| {
        let mut req = Request::post("/").body(Body::from(body)).expect("request");
        *req.headers_mut() = d.headers.clone();
        req
    };
    let mut g = c.benchmark_group("amazon/router");
    g.bench_function("bare_router_oneshot", |b| {
        b.iter(|| rt.block_on(bare.clone().oneshot(request(d.body.clone()))))
    });
    g.bench_function("layer_router_oneshot", |b| {
        b.iter(|| rt.block_on(app.clone().oneshot(request(d.body.clone()))))
    });
    g.finish();
}

/// Median per-call time of `a` and `b` over alternating batches, in µs.
fn interleaved(mut a: impl FnMut(), mut b: impl FnMut()) -> (f64, f64) {
    const ROUNDS: usize = 201;
    const BATCH: u32 = 25;
    let mut ta = Vec::with_capacity(ROUNDS);
    let mut tb = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let t = std::time::Instant::now();
        for _ in 0..BATCH {
            a();
        }
        ta.push(t.elapsed().as_secs_f64() * 1e6 / f64::from(BATCH));
        let t = std::time::Instant::now();
        for _ in 0..BATCH {
            b();
        }
        tb.push(t.elapsed().as_secs_f64() * 1e6 / f64::from(BATCH));
    }
    ta.sort_by(f64::total_cmp);
    tb.sort_by(f64::total_cmp);
    (ta[ROUNDS / 2], tb[ROUNDS / 2])
}

criterion_group!(benches, bench);
criterion_main!(benches);
