//! `--demo`: trust only freshly generated keys, then fire one tracked, one untracked and one
//! test (or unreferenced) delivery per enabled store at the running gateway over real HTTP,
//! and print what happened.

use std::path::Path;
use std::time::Instant;

use serde_json::json;
use store_notifications::BoxError;

use super::config::{AdminToken, Config};
use super::routes::OUTCOME_HEADER;
use super::stores::{self, Sample};
use super::{Running, client};

/// Generates and writes every registered store's throwaway keys into `DEMO_KEYS_DIR` and
/// points `config` at them only; stores' real secrets from the environment are dropped.
pub fn prepare(config: &mut Config) -> Result<(), BoxError> {
    let dir = config.demo_keys_dir.clone();
    for module in stores::MODULES {
        (module.demo_setup)(&dir, config)?;
    }
    Ok(())
}

/// One delivery's result.
#[derive(Debug, Clone)]
pub struct Row {
    /// The store.
    pub store: String,
    /// `tracked`, `untracked` or `test`.
    pub case: &'static str,
    /// The HTTP status.
    pub status: u16,
    /// What the pipeline did (the outcome header).
    pub outcome: String,
    /// The reply's first line.
    pub reply: String,
    /// Round-trip time in milliseconds.
    pub millis: f64,
}

/// Fires the deliveries at `running` (tracking receipts with `admin`'s token, if set) and
/// returns one row each.
pub async fn fire(
    running: &Running,
    keys_dir: &Path,
    admin: Option<&AdminToken>,
) -> Result<Vec<Row>, BoxError> {
    let mut admin_headers = http::HeaderMap::new();
    admin_headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    if let Some(bearer) = admin.and_then(AdminToken::bearer) {
        admin_headers.insert(http::header::AUTHORIZATION, bearer);
    }
    let mut rows = Vec::new();
    for kind in &running.enabled {
        let Some(module) = stores::module(*kind) else {
            continue;
        };
        let tracked = (module.new_reference)()?;
        let body = json!({ "store": kind, "receipt": tracked }).to_string();
        let reply = client::send(
            "POST",
            &running.url("/receipts"),
            &admin_headers,
            body.as_bytes(),
        )
        .await?;
        if reply.status != 201 {
            return Err(
                format!("POST /receipts answered {}: {}", reply.status, reply.text()).into(),
            );
        }
        let cases = [
            ("tracked", Some(tracked)),
            ("untracked", Some((module.new_reference)()?)),
            ("test", None),
        ];
        for (case, receipt) in cases {
            let sample = Sample {
                receipt,
                notification_type: None,
            };
            let delivery = (module.sign)(keys_dir, &sample)?;
            let started = Instant::now();
            let reply = client::send(
                "POST",
                &running.url(&stores::path(*kind)),
                &delivery.headers,
                &delivery.body,
            )
            .await?;
            rows.push(Row {
                store: kind.to_string(),
                case,
                status: reply.status,
                outcome: reply.header(OUTCOME_HEADER).unwrap_or("-").to_owned(),
                reply: reply.text().lines().next().unwrap_or("").to_owned(),
                millis: started.elapsed().as_secs_f64() * 1000.0,
            });
        }
    }
    Ok(rows)
}

/// Prints the table, the URLs to look at and how to send more.
pub fn print(running: &Running, keys_dir: &Path, rows: &[Row]) {
    println!();
    println!(
        "{:<8} {:<10} {:>6}  {:<14} {:>8}  reply",
        "store", "delivery", "status", "outcome", "ms"
    );
    for r in rows {
        println!(
            "{:<8} {:<10} {:>6}  {:<14} {:>8.2}  {}",
            r.store, r.case, r.status, r.outcome, r.millis, r.reply
        );
    }
    println!();
    println!("status page   {}", running.url("/"));
    println!("status JSON   {}", running.url("/status"));
    println!("events        {}", running.url("/events"));
    println!("keys          {}", keys_dir.display());
    for kind in &running.enabled {
        println!(
            "send another  store-notifications-gateway simulate {kind} {} [--receipt R] [--type T]",
            running.url(&stores::path(*kind))
        );
    }
    println!();
}
