//! The store registry: what the gateway needs from each store, as plain function pointers so
//! every store lives in one self-contained file (`stripe.rs` is the model).
//!
//! To add a store: write `<store>.rs` with a `pub const MODULE: StoreModule`, declare it in
//! `app.rs` and add it to [`MODULES`], both under `#[cfg(feature = "<store>")]`.
// The demo's signing half (test keys) is compiled only with the `demo` feature.
#![cfg_attr(not(feature = "demo"), allow(dead_code, unused_imports))]

use std::path::Path;

use axum::routing::MethodRouter;
use http::HeaderMap;
use store_notifications::{BoxError, StoreId};

use super::config::Config;
use super::db::Db;
use super::routes::Shared;

/// Every store this build of the gateway serves (each under its cargo feature).
pub const MODULES: &[StoreModule] = &[
    #[cfg(feature = "apple")]
    super::apple::MODULE,
    #[cfg(feature = "google")]
    super::google::MODULE,
    #[cfg(feature = "stripe")]
    super::stripe::MODULE,
    #[cfg(feature = "amazon")]
    super::amazon::MODULE,
];

/// A store's notification route.
pub type Route = MethodRouter<Shared>;

/// One store's wiring.
pub struct StoreModule {
    /// Which store.
    pub kind: StoreId,
    /// Builds the store from `config` and returns its route (usually
    /// `routes::mounted(store, db, config)`), or `None` when `config`
    /// leaves it disabled. An error (unreadable key file, …) stops start-up.
    pub mount: fn(&Config, &Db) -> Result<Option<Route>, BoxError>,
    /// `--demo`: generates throwaway keys, writes them into the directory, and points
    /// `config` at them only (the demo then runs the same `mount` as production).
    #[cfg(feature = "demo")]
    pub demo_setup: fn(&Path, &mut Config) -> Result<(), BoxError>,
    /// Signs one delivery with the keys `demo_setup` wrote into the directory (the demo and
    /// `examples/simulate.rs`).
    #[cfg(feature = "demo")]
    pub sign: fn(&Path, &Sample) -> Result<Delivery, BoxError>,
    /// A fresh receipt reference in the store's format (Stripe `sub_…`, Apple
    /// `originalTransactionId`, Google `purchaseToken`, Amazon `receiptId`).
    pub new_reference: fn() -> Result<String, BoxError>,
}

/// What to sign.
#[derive(Debug, Clone)]
pub struct Sample {
    /// About this receipt reference; without one, the store's test notification (Stripe has
    /// none: an unreferenced event; Amazon has none: an SNS `SubscriptionConfirmation`).
    pub receipt: Option<String>,
    /// The store's own type string, instead of the store's default.
    pub notification_type: Option<String>,
}

/// A signed delivery, ready to POST.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The store's idempotency id.
    pub id: String,
    /// The headers (signature, content type).
    pub headers: HeaderMap,
    /// The body.
    pub body: Vec<u8>,
}

/// The module of `kind`, if this build serves it.
pub fn module(kind: StoreId) -> Option<&'static StoreModule> {
    MODULES.iter().find(|m| m.kind == kind)
}

/// `/notifications/<store>`.
pub fn path(kind: StoreId) -> String {
    format!("/notifications/{kind}")
}
