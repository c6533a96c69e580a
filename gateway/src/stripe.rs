//! Stripe in the gateway: `STRIPE_WEBHOOK_SECRET` (comma-separated, any may match), and for
//! the demo a random `whsec_` secret in `DEMO_KEYS_DIR/stripe_webhook_secret`.
// The demo's signing half (test keys) is compiled only with the `demo` feature.
#![cfg_attr(not(feature = "demo"), allow(dead_code, unused_imports))]

use std::path::Path;

use serde_json::json;
#[cfg(feature = "demo")]
use store_notifications::testing::StripeSigner;
use store_notifications::{BoxError, StoreId, StripeStore};

use super::config::{Config, StripeConfig};
use super::db::Db;
use super::routes;
use super::stores::{Delivery, Route, Sample, StoreModule};
use super::{keys, time};

/// Stripe's wiring.
pub const MODULE: StoreModule = StoreModule {
    kind: StoreId::STRIPE,
    mount,
    #[cfg(feature = "demo")]
    demo_setup,
    #[cfg(feature = "demo")]
    sign,
    new_reference,
};

/// The demo secret's file in `DEMO_KEYS_DIR`.
pub const SECRET_FILE: &str = "stripe_webhook_secret";

fn mount(config: &Config, db: &Db) -> Result<Option<Route>, BoxError> {
    let store = config
        .stripe
        .as_ref()
        .map(|stripe| StripeStore::from_secrets(&stripe.secrets))
        .transpose()?;
    Ok(routes::mounted(store, db, config))
}

#[cfg(feature = "demo")]
fn demo_setup(dir: &Path, config: &mut Config) -> Result<(), BoxError> {
    // 32 random bytes, like the secrets the Stripe dashboard and CLI hand out.
    let secret = format!("whsec_{}", keys::random_hex(32)?);
    keys::write(dir, SECRET_FILE, secret.as_bytes())?;
    config.stripe = Some(StripeConfig {
        secrets: vec![secret],
    });
    config.enable(StoreId::STRIPE);
    Ok(())
}

#[cfg(feature = "demo")]
fn sign(dir: &Path, sample: &Sample) -> Result<Delivery, BoxError> {
    let signer = StripeSigner::new(keys::read(dir, SECRET_FILE)?);
    let id = format!("evt_{}", keys::random_hex(12)?);
    let (default_type, object) = match &sample.receipt {
        Some(subscription) => (
            "customer.subscription.created",
            json!({ "object": "subscription", "id": subscription, "status": "active" }),
        ),
        // An event about no subscription or customer: Stripe has no "test" event, so the
        // demo's third delivery is an unreferenced one, which reaches the handler the same way.
        None => (
            "balance.available",
            json!({ "object": "balance", "livemode": false }),
        ),
    };
    let event_type = sample.notification_type.as_deref().unwrap_or(default_type);
    let now = time::now();
    let body = signer.event(&id, event_type, &object.to_string(), now);
    Ok(Delivery {
        id,
        headers: signer.headers(now, &body),
        body: body.to_vec(),
    })
}

fn new_reference() -> Result<String, BoxError> {
    Ok(format!("sub_demo_{}", keys::random_hex(8)?))
}
