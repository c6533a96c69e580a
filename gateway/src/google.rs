//! Google Play in the gateway: `GOOGLE_PACKAGE_NAME`, `GOOGLE_PUSH_AUDIENCE`,
//! `GOOGLE_PUSH_SERVICE_ACCOUNT` and `GOOGLE_JWKS_FILE` (static keys, JWKS or `{kid: PEM}`,
//! instead of fetching Google's: without it the gateway needs the crate's `fetch` feature).
//!
//! For the demo, `DEMO_KEYS_DIR/google_jwks.json`: the JWKS of the crate's
//! `testing::GoogleSigner`, the only key the demo trusts. That key is a published test key (the
//! signer has no other), so a demo gateway accepts pushes anyone can sign: keep it on loopback.
// The demo's signing half (test keys) is compiled only with the `demo` feature.
#![cfg_attr(not(feature = "demo"), allow(dead_code, unused_imports))]

use std::path::Path;

use store_notifications::google::OneTimeProductNotificationType;
use store_notifications::google::{GoogleStore, KeySet, StaticKeys, SubscriptionNotificationType};
#[cfg(feature = "demo")]
use store_notifications::testing::GoogleSigner;
use store_notifications::{BoxError, StoreId};

use super::config::{Config, GoogleConfig};
use super::db::Db;
use super::routes;
use super::stores::{Delivery, Route, Sample, StoreModule};
use super::{keys, time};

/// Google's wiring.
pub const MODULE: StoreModule = StoreModule {
    kind: StoreId::GOOGLE,
    mount,
    #[cfg(feature = "demo")]
    demo_setup,
    #[cfg(feature = "demo")]
    sign,
    new_reference,
};

/// The demo's key set in `DEMO_KEYS_DIR`, what `GOOGLE_JWKS_FILE` points at.
pub const JWKS_FILE: &str = "google_jwks.json";
/// The demo app's package name.
pub const DEMO_PACKAGE_NAME: &str = "com.example.gateway.demo";
/// The demo push subscription's audience.
pub const DEMO_AUDIENCE: &str = "https://gateway.example/notifications/google";
/// The demo push subscription's service account.
pub const DEMO_SERVICE_ACCOUNT: &str = "play-rtdn-push@gateway-demo.iam.gserviceaccount.com";
/// The demo's Pub/Sub subscription.
const DEMO_SUBSCRIPTION: &str = "projects/gateway-demo/subscriptions/play-rtdn";

fn mount(config: &Config, db: &Db) -> Result<Option<Route>, BoxError> {
    let store = config.google.as_ref().map(store).transpose()?.flatten();
    Ok(routes::mounted(store, db, config))
}

/// The store `GOOGLE_*` describe; `None` (with the reason logged) when it would have to fetch
/// Google's keys and this build cannot.
pub fn store(google: &GoogleConfig) -> Result<Option<GoogleStore>, BoxError> {
    let store = match &google.jwks_file {
        Some(path) => {
            let json = std::fs::read(path)
                .map_err(|e| format!("GOOGLE_JWKS_FILE: cannot read {}: {e}", path.display()))?;
            let keys = KeySet::from_json(&json)
                .map_err(|e| format!("GOOGLE_JWKS_FILE: {}: {e}", path.display()))?;
            GoogleStore::new(
                google.push_audience.clone(),
                google.push_service_account.clone(),
                StaticKeys::new(keys),
            )
        }
        #[cfg(feature = "fetch")]
        None => GoogleStore::new(
            google.push_audience.clone(),
            google.push_service_account.clone(),
            store_notifications::google::GoogleCerts::new(),
        ),
        #[cfg(not(feature = "fetch"))]
        None => {
            eprintln!(
                "google: disabled: GOOGLE_JWKS_FILE is not set and this build cannot fetch \
                 Google's keys (build with the `fetch` feature, or set GOOGLE_JWKS_FILE)"
            );
            return Ok(None);
        }
    };
    Ok(Some(store.with_package_name(google.package_name.clone())))
}

#[cfg(feature = "demo")]
fn demo_setup(dir: &Path, config: &mut Config) -> Result<(), BoxError> {
    keys::write(dir, JWKS_FILE, GoogleSigner::new().jwks().as_bytes())?;
    config.google = Some(GoogleConfig {
        package_name: DEMO_PACKAGE_NAME.to_owned(),
        push_audience: DEMO_AUDIENCE.to_owned(),
        push_service_account: DEMO_SERVICE_ACCOUNT.to_owned(),
        jwks_file: Some(dir.join(JWKS_FILE)),
    });
    config.enable(StoreId::GOOGLE);
    Ok(())
}

/// `SUBSCRIPTION_RENEWED` (or its number), `ONE_TIME_PRODUCT_PURCHASED`, … to a
/// DeveloperNotification about `token`.
#[cfg(feature = "demo")]
fn notification(notification_type: &str, token: &str, event_ms: i64) -> Result<String, BoxError> {
    let known = |name: Option<&str>| name == Some(notification_type);
    if notification_type == "VOIDED_PURCHASE" {
        let order = format!("GPA.{}", keys::random_hex(8)?);
        return Ok(GoogleSigner::voided_purchase_notification(
            DEMO_PACKAGE_NAME,
            token,
            &order,
            1,
            1,
            event_ms,
        ));
    }
    if let Some(n) = (1..=2).find(|n| known(OneTimeProductNotificationType::from(*n).name())) {
        return Ok(GoogleSigner::one_time_product_notification(
            DEMO_PACKAGE_NAME,
            n,
            token,
            "coins_100",
            event_ms,
        ));
    }
    let n = match notification_type.parse::<i32>() {
        Ok(n) => n,
        Err(_) => (1..=64)
            .find(|n| known(SubscriptionNotificationType::from(*n).name()))
            .ok_or_else(|| {
                format!(
                    "unknown Google notification type {notification_type:?}: use a \
                     SUBSCRIPTION_… or ONE_TIME_PRODUCT_… name, a number, or VOIDED_PURCHASE"
                )
            })?,
    };
    Ok(GoogleSigner::subscription_notification(
        DEMO_PACKAGE_NAME,
        n,
        token,
        "premium_monthly",
        event_ms,
    ))
}

#[cfg(feature = "demo")]
fn sign(dir: &Path, sample: &Sample) -> Result<Delivery, BoxError> {
    let signer = GoogleSigner::new();
    // The signer's key is built in; checking the demo's key file makes `simulate` fail clearly
    // before the demo ran instead of getting a 401.
    let jwks = keys::read(dir, JWKS_FILE)?;
    if !KeySet::from_json(jwks.as_bytes()).is_ok_and(|k| k.contains(signer.kid())) {
        return Err(format!("{JWKS_FILE} does not hold the test signer's key").into());
    }
    let now = time::now();
    let event_ms = now.saturating_mul(1000);
    let data = match (&sample.receipt, sample.notification_type.as_deref()) {
        (Some(token), t) => notification(t.unwrap_or("SUBSCRIPTION_PURCHASED"), token, event_ms)?,
        (None, None | Some("TEST_NOTIFICATION")) => {
            GoogleSigner::test_notification(DEMO_PACKAGE_NAME, event_ms)
        }
        (None, Some(t)) => {
            return Err(format!("a {t} notification needs --receipt <purchase token>").into());
        }
    };
    // Pub/Sub message ids are decimal numbers.
    let id = u64::from_str_radix(&keys::random_hex(7)?, 16)?.to_string();
    let token = signer.id_token(DEMO_AUDIENCE, DEMO_SERVICE_ACCOUNT, now);
    let body = GoogleSigner::wrapped_body(&data, &id, &time::rfc3339(now), DEMO_SUBSCRIPTION);
    Ok(Delivery {
        id,
        headers: GoogleSigner::headers(&token),
        body: body.to_vec(),
    })
}

fn new_reference() -> Result<String, BoxError> {
    // Purchase tokens are long opaque strings.
    let hex = keys::random_hex(24)?;
    Ok(format!(
        "{}.AO-J1O{}",
        &hex[..24],
        hex[24..].to_ascii_uppercase()
    ))
}
