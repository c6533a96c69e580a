//! `GET /`: a small server-rendered status page a person can read. Every piece of text that
//! came from outside (event types, ids, receipts, SNS topics) is HTML-escaped.

use std::fmt::Write;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use store_notifications::status::StoreStatus;
use store_notifications::{StatusStore, StoreId, SubscriptionState};

use super::db::EventRow;
use super::routes::Shared;
use super::{config, stores, time};

/// How many recent events the page lists.
const LATEST: i64 = 20;

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The handler.
pub async fn page(State(shared): State<Shared>) -> Response {
    let snapshot = shared.db.snapshot().await;
    let events = shared.db.events(None, LATEST).await;
    match (snapshot, events) {
        (Ok(snapshot), Ok(events)) => {
            let stores = StoreId::BUILT_IN.map(|kind| {
                let status = snapshot.stores.get(&kind).cloned().unwrap_or_default();
                (kind, shared.enabled.contains(&kind), status)
            });
            let mut warnings = Vec::new();
            if shared.amazon_any_topic {
                warnings.push(
                    "Amazon: AMAZON_SNS_TOPIC_ARNS is not set, so signed messages of any SNS \
                     topic are accepted. Set it to your Appstore topic.",
                );
            }
            Html(render(&stores, &events, &warnings)).into_response()
        }
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, "status page unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, "status unavailable\n").into_response()
        }
    }
}

/// The page for these stores (kind, enabled, status), latest events and warnings.
pub fn render(
    stores: &[(StoreId, bool, StoreStatus)],
    events: &[EventRow],
    warnings: &[&str],
) -> String {
    let mut html = String::from(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"15\">\
         <title>store-notifications gateway</title>\
         <style>body{font:14px system-ui,sans-serif;margin:2em}\
         table{border-collapse:collapse;margin-bottom:2em}\
         th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left}\
         .off{color:#888}.warning{background:#fff3cd;border:1px solid #e0b000;\
         padding:.5em 1em}</style></head><body>\n\
         <h1>store-notifications gateway</h1>\n",
    );
    for warning in warnings {
        let _ = writeln!(html, "<p class=\"warning\">{}</p>", escape(warning));
    }
    html.push_str(
        "<h2>Stores</h2>\n<table>\n\
         <tr><th>store</th><th>enabled</th><th>last received</th><th>SNS subscription</th>\
         <th>tracked</th><th>untracked</th><th>test</th><th>unreferenced</th><th>control</th>\
         <th>dead-lettered</th><th>rejected</th></tr>\n",
    );
    for (kind, enabled, status) in stores {
        let enabled_cell = if *enabled {
            format!("yes (<code>{}</code>)", escape(&stores::path(*kind)))
        } else if stores::module(*kind).is_none() {
            "no: not in this build".to_owned()
        } else {
            format!("no: set {}", escape(config::required_vars(*kind)))
        };
        let last = status
            .last_received_at
            .map_or_else(|| "never".to_owned(), |t| time::rfc3339(time::unix(t)));
        let sns = match (*kind, &status.subscription) {
            (StoreId::AMAZON, Some(sub)) => {
                let verified = match sub.state {
                    SubscriptionState::Confirmed => "verified",
                    SubscriptionState::PendingConfirmation => "pending confirmation",
                    SubscriptionState::Unsubscribed => "unsubscribed",
                    _ => "unknown",
                };
                format!(
                    "{verified}: {} at {}",
                    escape(&sub.topic),
                    time::rfc3339(time::unix(sub.at))
                )
            }
            (StoreId::AMAZON, None) => "not verified (no confirmation received)".to_owned(),
            _ => "n/a".to_owned(),
        };
        let c = &status.counts;
        let rejected = if c.rejected.is_empty() {
            "0".to_owned()
        } else {
            c.rejected
                .iter()
                .map(|(kind, n)| format!("{}: {n}", escape(kind)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            html,
            "<tr{}><td>{kind}</td><td>{enabled_cell}</td><td>{last}</td><td>{sns}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{rejected}</td></tr>",
            if *enabled { "" } else { " class=\"off\"" },
            c.tracked,
            c.untracked,
            c.test,
            c.unreferenced,
            c.control,
            c.dead_lettered,
        );
    }
    html.push_str("</table>\n<h2>Latest events</h2>\n");
    if events.is_empty() {
        html.push_str("<p>No events yet.</p>\n");
    } else {
        html.push_str(
            "<table>\n<tr><th>received</th><th>store</th><th>kind</th><th>type</th>\
             <th>id</th><th>receipt</th><th>test</th></tr>\n",
        );
        for e in events {
            let _ = writeln!(
                html,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&e.received_at),
                escape(&e.store),
                escape(&e.kind),
                escape(&e.notification_type),
                escape(&e.id),
                e.receipt.as_deref().map_or_else(|| "—".to_owned(), escape),
                if e.test { "yes" } else { "no" },
            );
        }
        html.push_str("</table>\n");
    }
    html.push_str(
        "<p><a href=\"/status\">/status</a> · <a href=\"/events\">/events</a> · \
         <a href=\"/healthz\">/healthz</a></p>\n</body></html>\n",
    );
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_neutralises_markup_and_attribute_quotes() {
        assert_eq!(
            escape(r#"<script>"a" & 'b'</script>"#),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
    }
}
