//! Signs one notification with the keys in `DEMO_KEYS_DIR` (written by
//! `cargo run --example gateway -- --demo`) and sends it, like `stripe trigger`:
//!
//! ```text
//! cargo run --example simulate -- stripe http://127.0.0.1:8080/notifications/stripe --receipt sub_123
//! cargo run --example simulate -- stripe http://127.0.0.1:8080/notifications/stripe --type invoice.paid --receipt sub_123
//! cargo run --example simulate -- stripe http://127.0.0.1:8080/notifications/stripe   # no receipt: unreferenced
//! cargo run --example simulate -- apple http://127.0.0.1:8080/notifications/apple --receipt 2000000123456789 --type DID_RENEW
//! cargo run --example simulate -- apple http://127.0.0.1:8080/notifications/apple --type SUBSCRIBED/RESUBSCRIBE --receipt 2000000123456789
//! cargo run --example simulate -- apple http://127.0.0.1:8080/notifications/apple     # no receipt: TEST
//! cargo run --example simulate -- google http://127.0.0.1:8080/notifications/google --receipt TOKEN --type SUBSCRIPTION_RENEWED
//! cargo run --example simulate -- google http://127.0.0.1:8080/notifications/google   # no receipt: testNotification
//! cargo run --example simulate -- amazon http://127.0.0.1:8080/notifications/amazon --receipt R --type SUBSCRIPTION_CANCELLED
//! cargo run --example simulate -- amazon http://127.0.0.1:8080/notifications/amazon   # no receipt: SubscriptionConfirmation
//! cargo run --example simulate -- amazon http://127.0.0.1:8080/notifications/amazon --type UnsubscribeConfirmation
//! ```
//!
//! `--type` is the store's own type string: Stripe's event type, Apple's `notificationType`
//! (`TYPE/SUBTYPE` for a subtype), Google's `SUBSCRIPTION_…` / `ONE_TIME_PRODUCT_…` name or
//! number or `VOIDED_PURCHASE`, Amazon's RTN `notificationType`.

// The gateway's own modules, so the signing is exactly the demo's.
#[allow(dead_code)]
#[path = "gateway/app.rs"]
mod app;

use std::path::PathBuf;
use std::process::ExitCode;

use store_notifications::{BoxError, StoreId};

use app::config::DEFAULT_DEMO_KEYS_DIR;
use app::stores::{self, Sample};

const USAGE: &str = "usage: simulate <store> <url> [--receipt R] [--type T]";

#[tokio::main]
async fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()).await {
        Ok(status) if (200..300).contains(&status) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("simulate: {e}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

async fn run(args: Vec<String>) -> Result<u16, BoxError> {
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
    let reply = app::client::send("POST", &url, &delivery.headers, &delivery.body).await?;
    println!(
        "{kind} {} → {} {}: {}",
        delivery.id,
        reply.status,
        reply.header(app::routes::OUTCOME_HEADER).unwrap_or("-"),
        reply.text().trim_end()
    );
    Ok(reply.status)
}
