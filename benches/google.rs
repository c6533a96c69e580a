//! Google Play push verification against its floor, in the same run: the full
//! `GoogleStore::verify_at` (bearer token → RS256 → claims → Pub/Sub envelope → base64 →
//! DeveloperNotification, keys cached) versus one bare RS256 verification of the same token
//! with ring. Target: full ≤ 1.3 × floor.
#![allow(missing_docs)] // criterion's macros generate undocumented items

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use ring::signature::{RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
use store_notifications::Clock;
use store_notifications::google::GoogleStore;
use store_notifications::testing::GoogleSigner;

const NOW: i64 = 1_767_225_600;
const AUDIENCE: &str = "https://notifications.example.com/notifications/google";
const SERVICE_ACCOUNT: &str = "play-rtdn-push@bench-project.iam.gserviceaccount.com";
const PACKAGE: &str = "com.example.bench";

/// Polls a future that does not wait (cached keys: the hot path never suspends) to completion.
fn now_or_never<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

fn bench(c: &mut Criterion) {
    let signer = GoogleSigner::new();
    let store = GoogleStore::new(AUDIENCE, SERVICE_ACCOUNT, signer.static_keys())
        .with_package_name(PACKAGE)
        .with_clock(Clock::from_unix(NOW as u64));
    let token = signer.id_token(AUDIENCE, SERVICE_ACCOUNT, NOW - 100);
    let headers = GoogleSigner::headers(&token);
    let data = GoogleSigner::subscription_notification(
        PACKAGE,
        2,
        "bench-purchase-token.AO-J1OxyzAO-J1OxyzAO-J1OxyzAO-J1OxyzAO-J1OxyzAO-J1Oxyz",
        "premium.monthly",
        1_767_225_595_123,
    );
    let body = GoogleSigner::wrapped_body(
        &data,
        "17000000000000001",
        "2025-12-31T23:59:55.456Z",
        "projects/bench-project/subscriptions/play-rtdn",
    );
    let now = store.now();
    // Warm the key cache once, as a running server's is.
    now_or_never(store.verify_at(&headers, &body, now)).expect("the bench push verifies");

    // The floor: the same token's RS256 check with ring, key components decoded beforehand.
    let jwks: serde_json::Value = serde_json::from_str(&signer.jwks()).expect("jwks");
    let decode = |field: &str| {
        URL_SAFE_NO_PAD
            .decode(jwks["keys"][0][field].as_str().expect("field"))
            .expect("base64url")
    };
    let key = RsaPublicKeyComponents {
        n: decode("n"),
        e: decode("e"),
    };
    let (signing_input, signature) = token.rsplit_once('.').expect("jwt");
    let signature = URL_SAFE_NO_PAD.decode(signature).expect("signature");

    let mut group = c.benchmark_group("google");
    group.bench_function("floor: one RS256 verify (ring)", |b| {
        b.iter(|| {
            key.verify(
                &RSA_PKCS1_2048_8192_SHA256,
                black_box(signing_input.as_bytes()),
                black_box(&signature),
            )
            .expect("verifies")
        })
    });
    group.bench_function("verify_token (bearer + RS256 + claims)", |b| {
        b.iter(|| now_or_never(store.verify_token(black_box(&headers), now)).expect("valid"))
    });
    group.bench_function("verify_at (token + envelope + notification)", |b| {
        b.iter(|| {
            now_or_never(store.verify_at(black_box(&headers), black_box(&body), now))
                .expect("valid")
        })
    });
    group.finish();

    // The machine these run on is shared, so sequential criterion groups can see different
    // loads. Alternate short batches of floor and full verification and report the median of
    // the per-round ratios: load shifts hit both sides of each round alike.
    let floor = || {
        key.verify(
            &RSA_PKCS1_2048_8192_SHA256,
            black_box(signing_input.as_bytes()),
            black_box(&signature),
        )
        .expect("verifies")
    };
    let full = || {
        now_or_never(store.verify_at(black_box(&headers), black_box(&body), now)).expect("valid")
    };
    let token_only = || now_or_never(store.verify_token(black_box(&headers), now)).expect("valid");
    let time = |f: &dyn Fn()| {
        let start = Instant::now();
        for _ in 0..20 {
            f();
        }
        start.elapsed().as_secs_f64()
    };
    let (mut full_ratios, mut token_ratios) = (Vec::new(), Vec::new());
    for _ in 0..150 {
        let base = time(&|| {
            floor();
        });
        full_ratios.push(
            time(&|| {
                full();
            }) / base,
        );
        token_ratios.push(
            time(&|| {
                token_only();
            }) / base,
        );
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    };
    println!(
        "google: interleaved median ratio vs one RS256 verify: verify_token {:.3}x, verify_at {:.3}x (target <= 1.3x)",
        median(&mut token_ratios),
        median(&mut full_ratios)
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
