//! Amazon Appstore in the gateway: `AMAZON_SNS_CERT_DIR` (pinned signing certificates named
//! as the `SigningCertURL`'s file, instead of downloading them: without it the gateway needs
//! the crate's `fetch` feature), `AMAZON_SNS_TOPIC_ARNS` (allow-list), `AMAZON_APP_PACKAGE_NAME`
//! and `AMAZON_AUTO_CONFIRM` (default true: GET the `SubscribeURL`, which needs `fetch`; false:
//! record the subscription as pending with its token, no outbound request).
//!
//! For the demo, `DEMO_KEYS_DIR/amazon-sns-certs/`: the certificate of the crate's
//! `testing::SnsSigner`, pinned under the file name of the signer's `SigningCertURL`, and only
//! the signer's topic allowed. That key is a published test key (the signer has no other), so a
//! demo gateway accepts messages anyone can sign: keep it on loopback.
// The demo's signing half (test keys) is compiled only with the `demo` feature.
#![cfg_attr(not(feature = "demo"), allow(dead_code, unused_imports))]

use std::path::Path;

use store_notifications::amazon::{AmazonStore, PinnedCerts, RecordOnly};
#[cfg(feature = "demo")]
use store_notifications::testing::{RtnMessageBuilder, SnsSigner};
use store_notifications::{BoxError, StoreId};

use super::config::{AmazonConfig, Config};
use super::db::Db;
use super::routes;
use super::stores::{Delivery, Route, Sample, StoreModule};
use super::{keys, time};

/// Amazon's wiring.
pub const MODULE: StoreModule = StoreModule {
    kind: StoreId::AMAZON,
    mount,
    #[cfg(feature = "demo")]
    demo_setup,
    #[cfg(feature = "demo")]
    sign,
    new_reference,
};

/// The demo's pinned-certificate directory in `DEMO_KEYS_DIR` (`AMAZON_SNS_CERT_DIR`).
pub const CERT_DIR: &str = "amazon-sns-certs";
/// The demo app's package name.
pub const DEMO_APP_PACKAGE_NAME: &str = "com.example.gateway.demo";
/// The `Subject` SNS carries for Appstore RTNs.
const SUBJECT: &str = "Amazon Appstore Real-Time Notification";

fn mount(config: &Config, db: &Db) -> Result<Option<Route>, BoxError> {
    let store = config.amazon.as_ref().map(store).transpose()?.flatten();
    Ok(routes::mounted(store, db, config))
}

/// The store `AMAZON_*` describe; `None` (with the reason logged) when it would have to
/// download certificates and this build cannot.
pub fn store(amazon: &AmazonConfig) -> Result<Option<AmazonStore>, BoxError> {
    let mut store = match &amazon.sns_cert_dir {
        Some(dir) => {
            let certs = PinnedCerts::from_dir(dir)
                .map_err(|e| format!("AMAZON_SNS_CERT_DIR: {}: {e}", dir.display()))?;
            if certs.is_empty() {
                return Err(format!(
                    "AMAZON_SNS_CERT_DIR: no SimpleNotificationService-….pem in {}",
                    dir.display()
                )
                .into());
            }
            AmazonStore::new(certs)
        }
        #[cfg(feature = "fetch")]
        None => AmazonStore::new(store_notifications::amazon::HttpsCertSource::new()?),
        #[cfg(not(feature = "fetch"))]
        None => {
            eprintln!(
                "amazon: disabled: AMAZON_SNS_CERT_DIR is not set and this build cannot \
                 download SNS signing certificates (build with the `fetch` feature, or pin \
                 them in AMAZON_SNS_CERT_DIR)"
            );
            return Ok(None);
        }
    };
    if amazon.sns_topic_arns.is_empty() {
        // Any AWS account can subscribe this endpoint to its own topic and deliver genuinely
        // signed messages: confirming such subscriptions automatically would let it in.
        if amazon.auto_confirm {
            return Err(
                "AMAZON_AUTO_CONFIRM is on but AMAZON_SNS_TOPIC_ARNS is not set: any AWS \
                        account could subscribe this endpoint to its own topic and be confirmed; \
                        set AMAZON_SNS_TOPIC_ARNS to your Appstore topic (or \
                        AMAZON_AUTO_CONFIRM=false)"
                    .into(),
            );
        }
        tracing::warn!(
            "amazon: AMAZON_SNS_TOPIC_ARNS is not set, so signed messages of any SNS topic are \
             accepted; set it to your Appstore topic"
        );
    }
    for topic in &amazon.sns_topic_arns {
        store = store.with_topic_arn(topic.clone());
    }
    if let Some(name) = &amazon.app_package_name {
        store = store.with_app_package_name(name.clone());
    }
    if !amazon.auto_confirm {
        return Ok(Some(store.with_confirmer(RecordOnly)));
    }
    #[cfg(feature = "fetch")]
    {
        store = store.with_confirmer(store_notifications::amazon::HttpsConfirmer::new()?);
    }
    #[cfg(not(feature = "fetch"))]
    {
        eprintln!(
            "amazon: AMAZON_AUTO_CONFIRM needs the `fetch` feature: SNS subscriptions are \
             recorded as pending (token in /status) for you to confirm; set \
             AMAZON_AUTO_CONFIRM=false to silence this"
        );
        store = store.with_confirmer(RecordOnly);
    }
    Ok(Some(store))
}

#[cfg(feature = "demo")]
fn demo_setup(dir: &Path, config: &mut Config) -> Result<(), BoxError> {
    let certs = dir.join(CERT_DIR);
    keys::write(
        &certs,
        SnsSigner::CERT_FILE_NAME,
        SnsSigner::CERT_PEM.as_bytes(),
    )?;
    config.amazon = Some(AmazonConfig {
        sns_cert_dir: Some(certs),
        sns_topic_arns: vec![SnsSigner::TOPIC_ARN.to_owned()],
        app_package_name: Some(DEMO_APP_PACKAGE_NAME.to_owned()),
        // No outbound GET from the demo: the subscription shows up as pending.
        auto_confirm: false,
    });
    config.enable(StoreId::AMAZON);
    Ok(())
}

#[cfg(feature = "demo")]
fn sign(dir: &Path, sample: &Sample) -> Result<Delivery, BoxError> {
    // The signer's key is built in; reading the pinned copy makes `simulate` fail clearly
    // before the demo ran instead of getting a 401.
    let pinned = keys::read(&dir.join(CERT_DIR), SnsSigner::CERT_FILE_NAME)?;
    if pinned.trim() != SnsSigner::CERT_PEM.trim() {
        return Err(format!(
            "{CERT_DIR}/{} is not the test signer's",
            SnsSigner::CERT_FILE_NAME
        )
        .into());
    }
    let signer = SnsSigner::new();
    let id = uuid()?;
    let now = time::now();
    let builder = match (&sample.receipt, sample.notification_type.as_deref()) {
        (Some(receipt), t) => {
            let rtn = RtnMessageBuilder::new(
                DEMO_APP_PACKAGE_NAME,
                t.unwrap_or("SUBSCRIPTION_PURCHASED"),
                receipt,
            )
            .sku("premium_monthly")
            .timestamp_ms(now.saturating_mul(1000));
            signer.notification(rtn.to_json()).subject(SUBJECT)
        }
        // Amazon has no test notification: what arrives first is SNS's confirmation request.
        (None, None | Some("SubscriptionConfirmation")) => {
            signer.subscription_confirmation(keys::random_hex(32)?)
        }
        (None, Some("UnsubscribeConfirmation")) => {
            signer.unsubscribe_confirmation(keys::random_hex(32)?)
        }
        (None, Some(t)) => {
            return Err(format!(
                "a {t} notification needs --receipt <receiptId>; without one, the type is \
                 SubscriptionConfirmation (default) or UnsubscribeConfirmation"
            )
            .into());
        }
    };
    let delivery = builder
        .message_id(id.clone())
        .timestamp(sns_timestamp(now))
        .sign();
    Ok(Delivery {
        id,
        headers: delivery.headers,
        body: delivery.body.to_vec(),
    })
}

/// `2026-01-01T00:00:00.000Z`, as SNS writes `Timestamp`.
fn sns_timestamp(unix: i64) -> String {
    let mut t = time::rfc3339(unix);
    t.pop();
    t.push_str(".000Z");
    t
}

/// A random UUID, as SNS's `MessageId`.
fn uuid() -> Result<String, BoxError> {
    let hex = keys::random_hex(16)?;
    Ok(format!(
        "{}-{}-4{}-a{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..]
    ))
}

fn new_reference() -> Result<String, BoxError> {
    // Appstore receipt ids look like `q1YqVbJSyk…:3:11`; any opaque string works.
    Ok(format!("{}:3:11", keys::random_hex(16)?))
}
