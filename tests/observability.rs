//! One `tracing` span per delivery, with one closing event at the level its outcome deserves,
//! and no secret or token in any field — for every built-in store, through the Tower layer.
#![cfg(all(
    feature = "test-util",
    any(
        feature = "stripe",
        feature = "apple",
        feature = "google",
        feature = "amazon"
    )
))]

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::Body;
use axum::routing::post;
use bytes::Bytes;
use http::{HeaderMap, Request};
use store_notifications::testing::PolicySigner;
use store_notifications::{AlwaysTracked, BoxError, Endpoint, Receipt, ReceiptHook};
use tower::ServiceExt;

/// What a subscriber saw: the span fields (all spans share one record here, enough for one
/// delivery per capture) and every event's level and fields.
#[derive(Default)]
struct Seen {
    span: String,
    events: Vec<(tracing::Level, String)>,
    /// The span's metadata and how deep it is entered (`Span::current()` asks for it).
    metadata: Option<&'static tracing::Metadata<'static>>,
    entered: usize,
}

struct Capture(Arc<Mutex<Seen>>);

struct Fields<'a>(&'a mut String);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        self.0.push_str(&format!("{}={value:?} ", field.name()));
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attrs: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        let mut seen = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        seen.span
            .push_str(&format!("span={} ", attrs.metadata().name()));
        seen.metadata = Some(attrs.metadata());
        attrs.record(&mut Fields(&mut seen.span));
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        let mut seen = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        values.record(&mut Fields(&mut seen.span));
    }
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = String::new();
        event.record(&mut Fields(&mut fields));
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .events
            .push((*event.metadata().level(), fields));
    }
    fn enter(&self, _: &tracing::span::Id) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entered += 1;
    }
    fn exit(&self, _: &tracing::span::Id) {
        let mut seen = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        seen.entered = seen.entered.saturating_sub(1);
    }
    fn current_span(&self) -> tracing_core::span::Current {
        let seen = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match seen.metadata {
            Some(metadata) if seen.entered > 0 => {
                tracing_core::span::Current::new(tracing::span::Id::from_u64(1), metadata)
            }
            _ => tracing_core::span::Current::none(),
        }
    }
}

struct FailingHook;

#[async_trait::async_trait]
impl ReceiptHook for FailingHook {
    async fn receipt_exists(&self, _: &Receipt) -> Result<bool, BoxError> {
        Err("database unavailable".into())
    }
}

/// Sends one delivery through the layer under a capturing subscriber.
async fn deliver<P: PolicySigner>(
    signer: &P,
    hook: impl ReceiptHook,
    (headers, body): (HeaderMap, Bytes),
) -> Seen {
    let endpoint = Endpoint::new(PolicySigner::store(signer), hook);
    let app = Router::new().route("/", post(|| async { "handled" }).layer(endpoint.layer()));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let _guard = tracing::subscriber::set_default(Capture(Arc::clone(&seen)));
    let mut req = Request::post("/").body(Body::from(body)).expect("request");
    *req.headers_mut() = headers;
    let _ = app.oneshot(req).await.expect("infallible");
    drop(_guard);
    Arc::try_unwrap(seen)
        .ok()
        .map(|m| m.into_inner().unwrap_or_else(PoisonError::into_inner))
        .unwrap_or_default()
}

/// The closing events (those naming an `outcome`).
fn closing(seen: &Seen) -> Vec<&(tracing::Level, String)> {
    seen.events
        .iter()
        .filter(|(_, f)| f.contains("outcome="))
        .collect()
}

async fn one_span_one_event_no_token<P: PolicySigner>(signer: P) {
    // A reference shaped like a credential, which must appear in no field.
    let reference = "secret-reference-0123456789abcdef";

    let seen = deliver(&signer, AlwaysTracked, signer.receipt(reference)).await;
    let store = <P::Store as store_notifications::Store>::ID;
    assert!(seen.span.contains("span=notification"), "{}", seen.span);
    assert!(
        seen.span.contains(&format!("store=\"{store}\"")),
        "{}",
        seen.span
    );
    for field in [
        "id=",
        "verify_us=",
        "hook_us=",
        "handler_us=",
        "outcome=\"tracked\"",
    ] {
        assert!(
            seen.span.contains(field),
            "{store}: {field} in {}",
            seen.span
        );
    }
    let events = closing(&seen);
    assert_eq!(
        events.len(),
        1,
        "{store}: one closing event: {:?}",
        seen.events
    );
    assert_eq!(events[0].0, tracing::Level::INFO, "{store}");
    let everything = format!("{} {:?}", seen.span, seen.events);
    assert!(
        !everything.contains(reference),
        "{store}: the reference is never logged"
    );

    let seen = deliver(&signer, AlwaysTracked, signer.forged(reference)).await;
    let events = closing(&seen);
    assert_eq!(events.len(), 1, "{store}: {:?}", seen.events);
    assert_eq!(
        events[0].0,
        tracing::Level::WARN,
        "{store}: a rejection is a warning"
    );
    assert!(
        seen.span.contains("outcome=\"unauthenticated\""),
        "{}",
        seen.span
    );

    let seen = deliver(&signer, FailingHook, signer.receipt(reference)).await;
    let events = closing(&seen);
    assert_eq!(
        events.len(),
        1,
        "{store}: a 503 is logged once: {:?}",
        seen.events
    );
    assert_eq!(events[0].0, tracing::Level::ERROR, "{store}");
    assert!(
        events[0].1.contains("database unavailable"),
        "{store}: with its cause: {}",
        events[0].1
    );
}

#[cfg(feature = "stripe")]
#[tokio::test]
async fn stripe_deliveries_are_one_span_and_one_event() {
    one_span_one_event_no_token(store_notifications::testing::StripeSigner::new(
        "whsec_observability_secret",
    ))
    .await;
}

#[cfg(feature = "apple")]
#[tokio::test]
async fn apple_deliveries_are_one_span_and_one_event() {
    one_span_one_event_no_token(store_notifications::testing::AppleSigner::new(
        "com.example.observability",
        store_notifications::apple::Environment::Production,
    ))
    .await;
}

#[cfg(feature = "google")]
#[tokio::test]
async fn google_deliveries_are_one_span_and_one_event() {
    one_span_one_event_no_token(store_notifications::testing::GoogleSigner::new()).await;
}

#[cfg(feature = "amazon")]
#[tokio::test]
async fn amazon_deliveries_are_one_span_and_one_event() {
    one_span_one_event_no_token(store_notifications::testing::SnsSigner::new()).await;
}
