#![allow(missing_docs)]
//! Stripe: the verifier against its floor (one HMAC-SHA256 over the same bytes), measured in the
//! same run, and a full request through an axum Router with `oneshot`.
//!
//! `cargo bench --bench stripe`; the ratios go into BENCHMARKS.md.

use std::hint::black_box;

use axum::Router;
use axum::body::Body;
use axum::routing::post;
use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http::Request;
use ring::hmac;
use store_notifications::testing::StripeSigner;
use store_notifications::{AlwaysTracked, Clock, Endpoint, StripeStore};
use tower::ServiceExt;

const SECRET: &str = "whsec_bench_secret_0123456789abcdef";
const T: i64 = 1_767_225_570;

/// A `customer.subscription.updated` event of about 3 KB, shaped like Stripe's.
fn event_3k(signer: &StripeSigner) -> Bytes {
    let items: Vec<String> = (0..6)
        .map(|i| {
            format!(
                r#"{{"id":"si_{i:014}","object":"subscription_item","created":1767225000,"metadata":{{}},"price":{{"id":"price_{i:014}","object":"price","active":true,"billing_scheme":"per_unit","currency":"usd","livemode":false,"product":"prod_{i:014}","recurring":{{"interval":"month","interval_count":1,"usage_type":"licensed"}},"type":"recurring","unit_amount":999}},"quantity":1,"subscription":"sub_1Pgc6rB7WZ01zgkWNy0Cn5nw"}}"#
            )
        })
        .collect();
    let object = format!(
        r#"{{"id":"sub_1Pgc6rB7WZ01zgkWNy0Cn5nw","object":"subscription","billing_cycle_anchor":1767225000,"cancel_at_period_end":false,"collection_method":"charge_automatically","created":1767225000,"currency":"usd","customer":"cus_QXg1o8vcGmoR32","items":{{"object":"list","data":[{}],"has_more":false,"url":"/v1/subscription_items?subscription=sub_1Pgc6rB7WZ01zgkWNy0Cn5nw"}},"latest_invoice":"in_1Pgc6tB7WZ01zgkWu9fdqL6I","livemode":false,"metadata":{{"plan":"pro"}},"status":"active"}}"#,
        items.join(",")
    );
    signer.event(
        "evt_bench_3k",
        "customer.subscription.updated",
        &object,
        T - 2,
    )
}

/// The 445-byte class of event the async-stripe comparison in issue 4 used.
fn event_small(signer: &StripeSigner) -> Bytes {
    signer.event(
        "evt_bench_small",
        "customer.subscription.updated",
        r#"{"id":"sub_1Pgc6rB7WZ01zgkWNy0Cn5nw","object":"subscription","customer":"cus_QXg1o8vcGmoR32","status":"active"}"#,
        T - 2,
    )
}

fn bench(c: &mut Criterion) {
    let signer = StripeSigner::new(SECRET);
    let store = StripeStore::new(SECRET).with_clock(Clock::from_unix(T as u64));
    let key = hmac::Key::new(hmac::HMAC_SHA256, SECRET.as_bytes());

    for (name, body) in [("3k", event_3k(&signer)), ("small", event_small(&signer))] {
        let headers = signer.headers(T, &body);
        let mut g = c.benchmark_group(format!("stripe/{name}"));
        g.throughput(Throughput::Bytes(body.len() as u64));
        println!("stripe/{name}: body {} bytes", body.len());

        // The floor: one HMAC-SHA256 over "{t}." + body, nothing else.
        g.bench_function("floor_hmac_sha256", |b| {
            b.iter(|| {
                let mut ctx = hmac::Context::with_key(&key);
                ctx.update(b"1767225570.");
                ctx.update(black_box(&body));
                black_box(ctx.sign())
            })
        });
        // What serde_json alone needs to scan the same bytes: the floor of any JSON parse.
        g.bench_function("json_scan_floor", |b| {
            b.iter(|| {
                black_box(serde_json::from_slice::<serde::de::IgnoredAny>(black_box(
                    &body,
                )))
            })
        });
        g.bench_function("verify_signature", |b| {
            b.iter(|| black_box(store.verify_signature(black_box(&headers), black_box(&body))))
        });
        g.bench_function("verify_and_parse", |b| {
            b.iter(|| {
                black_box(store.verify_at(black_box(&headers), black_box(&body), store.now()))
            })
        });
        g.finish();
    }

    let body = event_3k(&signer);
    let headers = signer.headers(T, &body);
    let endpoint = Endpoint::new(store.clone(), AlwaysTracked);
    let app = Router::new().route("/", post(|| async { "ok" }).layer(endpoint.layer()));
    let bare = Router::new().route("/", post(|| async { "ok" }));
    // The endpoint bounds its waits with tokio's timers.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let request = |body: Bytes| {
        let mut req = Request::post("/").body(Body::from(body)).expect("request");
        *req.headers_mut() = headers.clone();
        req
    };
    let mut g = c.benchmark_group("stripe/router");
    g.bench_function("bare_router_oneshot", |b| {
        b.iter(|| rt.block_on(bare.clone().oneshot(request(body.clone()))))
    });
    g.bench_function("layer_router_oneshot", |b| {
        b.iter(|| rt.block_on(app.clone().oneshot(request(body.clone()))))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
