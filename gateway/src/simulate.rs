//! `store-notifications-gateway simulate`: signs one notification with the keys in
//! `DEMO_KEYS_DIR` (written by `store-notifications-gateway --demo`) and sends it, like
//! `stripe trigger`:
//!
//! ```text
//! store-notifications-gateway simulate stripe http://127.0.0.1:8080/notifications/stripe --receipt sub_123
//! store-notifications-gateway simulate stripe http://127.0.0.1:8080/notifications/stripe --type invoice.paid --receipt sub_123
//! store-notifications-gateway simulate stripe http://127.0.0.1:8080/notifications/stripe   # no receipt: unreferenced
//! store-notifications-gateway simulate apple http://127.0.0.1:8080/notifications/apple --receipt 2000000123456789 --type DID_RENEW
//! store-notifications-gateway simulate apple http://127.0.0.1:8080/notifications/apple --type SUBSCRIBED/RESUBSCRIBE --receipt 2000000123456789
//! store-notifications-gateway simulate apple http://127.0.0.1:8080/notifications/apple     # no receipt: TEST
//! store-notifications-gateway simulate google http://127.0.0.1:8080/notifications/google --receipt TOKEN --type SUBSCRIPTION_RENEWED
//! store-notifications-gateway simulate google http://127.0.0.1:8080/notifications/google   # no receipt: testNotification
//! store-notifications-gateway simulate amazon http://127.0.0.1:8080/notifications/amazon --receipt R --type SUBSCRIPTION_CANCELLED
//! store-notifications-gateway simulate amazon http://127.0.0.1:8080/notifications/amazon   # no receipt: SubscriptionConfirmation
//! store-notifications-gateway simulate amazon http://127.0.0.1:8080/notifications/amazon --type UnsubscribeConfirmation
//! ```
//!
//! `--type` is the store's own type string: Stripe's event type, Apple's `notificationType`
//! (`TYPE/SUBTYPE` for a subtype), Google's `SUBSCRIPTION_…` / `ONE_TIME_PRODUCT_…` name or
//! number or `VOIDED_PURCHASE`, Amazon's RTN `notificationType`.

use std::path::PathBuf;

use store_notifications::{BoxError, StoreId};

use super::client;
use super::config::DEFAULT_DEMO_KEYS_DIR;
use super::routes::OUTCOME_HEADER;
use super::stores::{self, Sample};

/// The subcommand's usage line.
pub const USAGE: &str =
    "usage: store-notifications-gateway simulate <store> <url> [--receipt R] [--type T]";

/// Signs and sends one delivery as `args` say; the status the gateway answered.
pub async fn run(args: Vec<String>) -> Result<u16, BoxError> {
    let mut positional = Vec::new();
    let mut sample = Sample {
        receipt: None,
        notification_type: None,
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--receipt" => sample.receipt = Some(args.next().ok_or("--receipt needs a value")?),
            "--type" => sample.notification_type = Some(args.next().ok_or("--type needs a value")?),
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}").into()),
            _ => positional.push(arg),
        }
    }
    let [store, url] =
        <[String; 2]>::try_from(positional).map_err(|_| "expected exactly a store and a URL")?;
    let kind: StoreId = store.parse()?;
    let module = stores::module(kind)
        .ok_or_else(|| format!("{kind} is not supported by this build of the gateway"))?;
    let dir = std::env::var_os("DEMO_KEYS_DIR")
        .map_or_else(|| PathBuf::from(DEFAULT_DEMO_KEYS_DIR), PathBuf::from);
    let delivery = (module.sign)(&dir, &sample)?;
    let reply = client::send("POST", &url, &delivery.headers, &delivery.body).await?;
    println!(
        "{kind} {} → {} {}: {}",
        delivery.id,
        reply.status,
        reply.header(OUTCOME_HEADER).unwrap_or("-"),
        reply.text().trim_end()
    );
    Ok(reply.status)
}
