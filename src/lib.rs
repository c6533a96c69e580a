//! Verify, parse and route server-to-server notifications from the App Store, Google Play,
//! Stripe and the Amazon Appstore, in axum or any Tower stack.
//!
//! Every delivery walks one road: the body is read once (with a limit), authenticated as
//! strictly as the store's official SDK does, parsed into typed values that never break on a new
//! notification type, checked against your [`ReceiptHook`] ("does this receipt exist here?"),
//! and handed to your handler only when it is tracked. Everything else gets the answer that makes
//! the store do the right thing: 200 for untracked receipts (stop retrying), 5xx for transient
//! failures (retry, nothing is lost), 4xx for forged or malformed input.
//!
//! # Quick start
//!
//! ```
//! # #[cfg(feature = "stripe")] {
//! use axum::{Extension, Router, routing::post};
//! use store_notifications::{Endpoint, InMemoryReceipts, StoreId, StripeStore};
//! use store_notifications::stripe::StripeEvent;
//!
//! async fn on_stripe(Extension(event): Extension<StripeEvent>) -> &'static str {
//!     // Only tracked receipts (and test / unreferenced events) get here.
//!     println!("{} for {:?}", event.event_type(), event.receipt());
//!     "ok"
//! }
//!
//! let receipts = InMemoryReceipts::new(); // or your own `ReceiptHook` over your database
//! receipts.insert(StoreId::STRIPE, "sub_1Pgc6rB7WZ01zgkWNy0Cn5nw");
//!
//! let stripe = Endpoint::new(StripeStore::new("whsec_…"), receipts);
//! let app: Router = Router::new()
//!     .route("/notifications/stripe", post(on_stripe).layer(stripe.layer()));
//! # }
//! ```
//!
//! # Features
//!
//! | feature | default | what it enables |
//! | --- | --- | --- |
//! | `stripe` | yes | `stripe`: Stripe webhooks (`Stripe-Signature` HMAC-SHA256) |
//! | `apple` | yes | `apple`: App Store Server Notifications V2 (JWS, x5c chain to Apple's root) |
//! | `google` | yes | `google`: Google Play RTDN over Pub/Sub push (OIDC bearer token) |
//! | `amazon` | yes | `amazon`: Amazon Appstore RTN over SNS (RSA signature, cert URL rules) |
//! | `axum` | no | the [`Verified`] extractor (through `axum-core`) |
//! | `fetch` | no | HTTPS key/certificate sources and SNS confirmation (reqwest + rustls) |
//! | `metrics` | no | counters and a histogram through the `metrics` facade (below) |
//! | `test-util` | no | `testing`: signers with throwaway keys for every store (each a `testing::PolicySigner`) |
//!
//! # Response policy
//!
//! | outcome | status | hook called | handler called |
//! | --- | --- | --- | --- |
//! | tracked receipt | handler's own | yes | yes |
//! | untracked receipt | 200 | yes | no |
//! | test notification | handler's own | no | yes |
//! | control message (SNS confirmation) | 200 | no | no |
//! | body over the limit | 413 | no | no |
//! | malformed envelope, missing headers | 400 | no | no |
//! | authentication failed | 401 | no | no |
//! | genuine, but for another app | 403 | no | no |
//! | keys/certs temporarily unobtainable | 503 | no | no |
//! | hook returned an error | 503 | yes | no |
//! | authentic but unusable payload | 200 + [`DeadLetterSink`] (configurable) | no | no |
//!
//! # Observability
//!
//! Every delivery runs in one `tracing` span, `notification`, with the fields `store`, `id`,
//! `app` and `environment` (when the receipt names them), `outcome`, and the microseconds
//! spent in `verify_us`, `hook_us` and `handler_us` (the handler's time through the layer).
//! It closes with one event: `info` when handled or acknowledged, `warn` for a 4xx rejection or
//! a dead letter, `error` with its cause for a 5xx (the store retries). No field holds a secret
//! or a token. With the `metrics` feature the pipeline also reports, through the `metrics`
//! facade (nothing when the feature is off):
//!
//! | metric | kind | labels |
//! | --- | --- | --- |
//! | `store_notifications_total` | counter | `store`, `outcome` (`tracked`, `untracked`, …, or the rejection kind) |
//! | `store_notification_verify_seconds` | histogram | `store` |
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod clock;
pub mod dead_letter;
mod endpoint;
pub mod event;
#[cfg(feature = "axum")]
mod extract;
pub mod hook;
mod kernel;
mod layer;
#[cfg_attr(
    not(any(feature = "stripe", feature = "apple", feature = "amazon")),
    allow(unused_macros, unused_imports)
)]
mod open_enum;
mod rejection;
pub mod status;
mod store;

#[cfg(feature = "amazon")]
#[cfg_attr(docsrs, doc(cfg(feature = "amazon")))]
pub mod amazon;
#[cfg(feature = "apple")]
#[cfg_attr(docsrs, doc(cfg(feature = "apple")))]
pub mod apple;
#[cfg(feature = "google")]
#[cfg_attr(docsrs, doc(cfg(feature = "google")))]
pub mod google;
#[cfg(feature = "stripe")]
#[cfg_attr(docsrs, doc(cfg(feature = "stripe")))]
pub mod stripe;
#[cfg(feature = "test-util")]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
pub mod testing;

#[cfg(feature = "amazon")]
pub use amazon::AmazonStore;
#[cfg(feature = "apple")]
pub use apple::AppleStore;
pub use clock::Clock;
pub use dead_letter::{DeadLetter, DeadLetterSink, LogDeadLetters, UnusablePolicy};
pub use endpoint::{
    Answered, DEFAULT_BODY_LIMIT, DEFAULT_BODY_TIMEOUT, DEFAULT_CONTROL_TIMEOUT,
    DEFAULT_HOOK_TIMEOUT, Endpoint, Processed,
};
pub use event::{Event, EventKind};
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub use extract::Verified;
#[cfg(feature = "google")]
pub use google::GoogleStore;
pub use hook::{AlwaysTracked, InMemoryReceipts, Receipt, ReceiptHook};
pub use layer::{NotificationLayer, NotificationService, ResponseFuture};
pub use rejection::{Rejection, RejectionKind};
pub use status::{
    InMemoryStatus, Outcome, StatusService, StatusSnapshot, StatusStore, Subscription,
    SubscriptionState,
};
pub use store::{Disposition, Notification, Store, StoreId, UnknownStore, Verdict};
#[cfg(feature = "stripe")]
pub use stripe::StripeStore;

// The README's examples are compiled and run as doc tests.
#[cfg(all(doctest, feature = "stripe"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// A boxed error, as returned by hooks, sinks and status stores.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
