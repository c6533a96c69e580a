//! `GET /`: a small server-rendered status page a person can read. Every piece of text that
//! came from outside (event types, ids, receipts, SNS topics) is HTML-escaped.

use std::fmt::Write;
use std::time::{Duration, SystemTime};

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
    let now_hour = time::now().div_euclid(3600);
    let snapshot = shared.db.snapshot().await;
    let events = shared.db.events(None, LATEST).await;
    let hourly = shared.db.hourly(now_hour - 47).await;
    match (snapshot, events, hourly) {
        (Ok(snapshot), Ok(events), Ok(hourly)) => {
            let stores = StoreId::BUILT_IN.map(|kind| {
                let status = snapshot.stores.get(&kind).cloned().unwrap_or_default();
                (kind, shared.enabled.contains(&kind), status)
            });
            let mut warnings = Vec::new();
            if shared.amazon_any_topic {
                warnings.push(
                    "Amazon: AMAZON_SNS_TOPIC_ARNS is not set, so signed messages of any SNS \
                     topic are accepted. Set it to your Appstore topic."
                        .to_owned(),
                );
            }
            let now = SystemTime::now();
            for (kind, _, status) in &stores {
                if super::routes::is_stale(status, now, shared.stale_after) {
                    warnings.push(format!(
                        "{kind}: no tracked notification for {} (GATEWAY_STALE_AFTER is {}): \
                         check the store's notification URL and this gateway's logs.",
                        ago(status.last_received_at, now).trim_end_matches(" ago"),
                        human(shared.stale_after),
                    ));
                }
            }
            let chart = chart(&hourly, now_hour);
            Html(render(&stores, &events, &warnings, &chart, now)).into_response()
        }
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
            tracing::error!(error = %e, "status page unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, "status unavailable\n").into_response()
        }
    }
}

/// One series of the chart: its name, its colour, and which outcome keys it sums.
type Series = (&'static str, &'static str, fn(&str) -> bool);

/// The chart's series, bottom to top.
const SERIES: [Series; 5] = [
    ("tracked", "#2e7d32", |k| k == "tracked"),
    ("untracked", "#9e9e9e", |k| k == "untracked"),
    ("test, unreferenced, control", "#1565c0", |k| {
        matches!(k, "test" | "unreferenced" | "control")
    }),
    ("dead-lettered", "#ef6c00", |k| k == "dead_lettered"),
    ("rejected", "#c62828", |k| k.starts_with("rejected.")),
];

/// A server-rendered SVG of deliveries per hour over the 48 hours up to `now_hour` (Unix
/// hours), stacked by outcome; each bar has a `<title>` tooltip. No JavaScript.
pub fn chart(hourly: &[(i64, String, i64)], now_hour: i64) -> String {
    const HOURS: i64 = 48;
    const BAR: i64 = 12;
    const HEIGHT: i64 = 120;
    let first = now_hour - HOURS + 1;
    let mut bars = vec![[0i64; SERIES.len()]; HOURS as usize];
    for (hour, key, n) in hourly {
        let Ok(slot) = usize::try_from(hour - first) else {
            continue;
        };
        if let (Some(bar), Some(series)) = (
            bars.get_mut(slot),
            SERIES.iter().position(|(_, _, of)| of(key)),
        ) {
            bar[series] = bar[series].saturating_add((*n).max(0));
        }
    }
    let max = bars
        .iter()
        .map(|b| b.iter().sum::<i64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let width = HOURS * BAR;
    let mut svg = format!(
        "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" \
         height=\"{}\" role=\"img\" aria-label=\"deliveries per hour, last 48 hours\">\n",
        HEIGHT + 20
    );
    for (i, bar) in bars.iter().enumerate() {
        let x = i as i64 * BAR;
        let total: i64 = bar.iter().sum();
        let mut y = HEIGHT;
        for (series, n) in bar.iter().enumerate() {
            if *n == 0 {
                continue;
            }
            let h = (n * HEIGHT / max).max(1);
            y -= h;
            let (name, colour, _) = SERIES[series];
            let _ = writeln!(
                svg,
                "<rect x=\"{x}\" y=\"{y}\" width=\"{}\" height=\"{h}\" fill=\"{colour}\">\
                 <title>{}: {n} {name} (of {total})</title></rect>",
                BAR - 2,
                time::rfc3339((first + i as i64) * 3600),
            );
        }
    }
    let _ = writeln!(
        svg,
        "<text x=\"0\" y=\"{}\" font-size=\"11\">48 h ago</text>\
         <text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\">now (peak {max}/h)</text></svg>",
        HEIGHT + 15,
        width,
        HEIGHT + 15
    );
    let mut legend = String::from("<p class=\"legend\">");
    for (name, colour, _) in SERIES {
        let _ = write!(
            legend,
            "<span style=\"color:{colour}\">&#9632;</span> {} ",
            escape(name)
        );
    }
    legend.push_str("</p>\n");
    svg + &legend
}

/// "3 min ago", or "never".
pub fn ago(at: Option<SystemTime>, now: SystemTime) -> String {
    match at {
        None => "never".to_owned(),
        Some(at) => match now.duration_since(at) {
            Ok(d) => format!("{} ago", human(d)),
            Err(_) => "just now".to_owned(),
        },
    }
}

/// A duration as a person says it: "45 s", "3 min", "5 h", "2 days".
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s} s"),
        60..=3_599 => format!("{} min", s / 60),
        3_600..=172_799 => format!("{} h", s / 3_600),
        _ => format!("{} days", s / 86_400),
    }
}

/// The page for these stores (kind, enabled, status), latest events and warnings, at `now`.
pub fn render(
    stores: &[(StoreId, bool, StoreStatus)],
    events: &[EventRow],
    warnings: &[String],
    chart: &str,
    now: SystemTime,
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
        // The exact time on hover.
        let last = match status.last_received_at {
            None => "never".to_owned(),
            Some(t) => format!(
                "<time datetime=\"{at}\" title=\"{at}\">{}</time>",
                ago(Some(t), now),
                at = time::rfc3339(time::unix(t))
            ),
        };
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
    html.push_str("</table>\n<h2>Deliveries per hour (48 h)</h2>\n");
    html.push_str(chart);
    html.push_str("<h2>Latest events</h2>\n");
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
    fn durations_read_as_a_person_says_them() {
        assert_eq!(human(Duration::from_secs(45)), "45 s");
        assert_eq!(human(Duration::from_secs(180)), "3 min");
        assert_eq!(human(Duration::from_secs(5 * 3600)), "5 h");
        assert_eq!(human(Duration::from_secs(3 * 86_400)), "3 days");
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(ago(None, now), "never");
        assert_eq!(ago(Some(now - Duration::from_secs(180)), now), "3 min ago");
        assert_eq!(ago(Some(now + Duration::from_secs(5)), now), "just now");
    }

    #[test]
    fn the_chart_stacks_outcomes_per_hour_and_ignores_other_hours() {
        let now = 500_000;
        let hourly = vec![
            (now, "tracked".to_owned(), 3),
            (now, "rejected.unauthenticated".to_owned(), 1),
            (now - 1, "untracked".to_owned(), 2),
            (now - 100, "tracked".to_owned(), 1000),
            (now + 1, "tracked".to_owned(), 1000),
        ];
        let svg = chart(&hourly, now);
        assert_eq!(svg.matches("<rect").count(), 3, "{svg}");
        assert!(svg.contains(": 3 tracked (of 4)"), "{svg}");
        assert!(svg.contains(": 1 rejected (of 4)"), "{svg}");
        assert!(svg.contains(": 2 untracked (of 2)"), "{svg}");
        assert!(
            svg.contains("peak 4/h"),
            "hours outside the window don't count: {svg}"
        );
        assert!(
            chart(&[], now).contains("peak 1/h"),
            "an empty chart still renders"
        );
    }

    #[test]
    fn escape_neutralises_markup_and_attribute_quotes() {
        assert_eq!(
            escape(r#"<script>"a" & 'b'</script>"#),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
    }
}
