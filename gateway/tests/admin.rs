//! Safe by default and observable, checked against the real binary on loopback: the admin
//! token, the refusal to serve unauthenticated admin routes off loopback, the DNS-rebinding
//! `Host` check, tokens never shown whole, Amazon's topic allow-list, `/metrics`, staleness, the
//! page's chart and JSON logs.
#![cfg(all(feature = "stripe", feature = "demo"))]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde_json::json;
use store_notifications::testing::StripeSigner;
use store_notifications_gateway::client;

mod common;

use common::{Process as Gateway, command, temp_dir};

const SECRET: &str = "whsec_admin_suite_secret";
const TOKEN: &str = "admin-token-0123456789abcdef";

/// The gateway with its debug logs, started as `name`.
fn spawn(name: &str, args: &[&str], vars: &[(&str, &str)]) -> Gateway {
    let mut all = vec![("RUST_LOG", "debug")];
    all.extend_from_slice(vars);
    Gateway::start(name, args, &all)
}

/// One raw request with exactly these header lines; the status and the whole reply.
fn raw(gw: &Gateway, head: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(gw.addr()).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream
        .write_all(format!("{head}Connection: close\r\n\r\n").as_bytes())
        .expect("send");
    let mut reply = String::new();
    let _ = stream.read_to_string(&mut reply);
    let status = reply
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, reply)
}

fn bearer(token: &str) -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    headers.insert(
        http::header::AUTHORIZATION,
        format!("Bearer {token}").parse().expect("header"),
    );
    headers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_token_guards_admin_routes_and_never_notifications_or_health() {
    let gw = spawn(
        "admin-token",
        &[],
        &[
            ("BIND", "127.0.0.1:0"),
            ("STRIPE_WEBHOOK_SECRET", SECRET),
            ("GATEWAY_ADMIN_TOKEN", TOKEN),
        ],
    );
    for path in ["/status", "/events", "/"] {
        for headers in [http::HeaderMap::new(), bearer("not-the-admin-token-at-all")] {
            let reply = client::send("GET", &gw.url(path), &headers, b"")
                .await
                .expect("reply");
            assert_eq!(reply.status, 401, "{path}");
            let challenge = reply.header("www-authenticate").expect("a challenge");
            let scheme = if path == "/" { "Basic" } else { "Bearer" };
            assert!(challenge.starts_with(scheme), "{path}: {challenge}");
        }
        let reply = client::send("GET", &gw.url(path), &bearer(TOKEN), b"")
            .await
            .expect("reply");
        assert_eq!(reply.status, 200, "{path}: {}", reply.text());
    }
    // The page takes the token as the password of HTTP Basic, for a browser.
    let basic = |password: &str| {
        use base64::Engine as _;
        let creds = base64::engine::general_purpose::STANDARD.encode(format!("admin:{password}"));
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::AUTHORIZATION,
            format!("Basic {creds}").parse().expect("header"),
        );
        headers
    };
    let page = client::send("GET", &gw.url("/"), &basic(TOKEN), b"")
        .await
        .expect("reply");
    assert_eq!(page.status, 200);
    let wrong = client::send("GET", &gw.url("/"), &basic("wrong"), b"")
        .await
        .expect("reply");
    assert_eq!(wrong.status, 401);
    let not_on_api = client::send("GET", &gw.url("/status"), &basic(TOKEN), b"")
        .await
        .expect("reply");
    assert_eq!(not_on_api.status, 401, "Basic is for the page only");

    let body = json!({ "store": "stripe", "receipt": "sub_admin" }).to_string();
    let mut headers = bearer(TOKEN);
    headers.insert(
        http::header::CONTENT_TYPE,
        "application/json".parse().expect("h"),
    );
    let tracked = client::send("POST", &gw.url("/receipts"), &headers, body.as_bytes())
        .await
        .expect("reply");
    assert_eq!(tracked.status, 201, "{}", tracked.text());
    let refused = client::post_json(
        &gw.url("/receipts"),
        &json!({ "store": "stripe", "receipt": "sub_x" }),
    )
    .await
    .expect("reply");
    assert_eq!(refused.status, 401);

    // Stores authenticate by signature; health checks by nothing.
    let health = client::get(&gw.url("/healthz")).await.expect("reply");
    assert_eq!(health.status, 200);
    let signer = StripeSigner::new(SECRET);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let event = signer.event(
        "evt_admin",
        "customer.subscription.updated",
        &json!({ "object": "subscription", "id": "sub_admin" }).to_string(),
        now,
    );
    let delivery = client::send(
        "POST",
        &gw.url("/notifications/stripe"),
        &signer.headers(now, &event),
        &event,
    )
    .await
    .expect("reply");
    assert_eq!(delivery.status, 200, "{}", delivery.text());
    assert!(
        !gw.stderr().contains(TOKEN),
        "the admin token is never logged"
    );
}

#[test]
fn a_non_loopback_bind_without_an_admin_token_refuses_to_start() {
    let dir = temp_dir("refuse-bind");
    // Refused before anything listens or opens the database.
    let out = command(
        &dir,
        &[],
        &[("BIND", "0.0.0.0:0"), ("STRIPE_WEBHOOK_SECRET", SECRET)],
    )
    .output()
    .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("GATEWAY_ADMIN_TOKEN"), "{stderr}");
    assert!(
        !dir.join("gw.db").exists(),
        "refused before opening the database"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn amazon_auto_confirm_without_a_topic_allow_list_refuses_to_start() {
    let dir = temp_dir("refuse-amazon");
    let certs = dir.join("certs");
    std::fs::create_dir_all(&certs).expect("certs");
    std::fs::write(
        certs.join(store_notifications::testing::SnsSigner::CERT_FILE_NAME),
        store_notifications::testing::SnsSigner::CERT_PEM,
    )
    .expect("cert");
    let certs = certs.display().to_string();
    let out = command(
        &dir,
        &[],
        &[
            ("BIND", "127.0.0.1:0"),
            ("AMAZON_SNS_CERT_DIR", certs.as_str()),
            ("AMAZON_AUTO_CONFIRM", "true"),
        ],
    )
    .output()
    .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("AMAZON_SNS_TOPIC_ARNS"), "{stderr}");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_loopback_without_a_token_admin_requests_for_another_host_are_refused() {
    let gw = spawn(
        "rebinding",
        &[],
        &[("BIND", "127.0.0.1:0"), ("STRIPE_WEBHOOK_SECRET", SECRET)],
    );
    for path in ["/status", "/events", "/"] {
        let (status, reply) = raw(
            &gw,
            &format!("GET {path} HTTP/1.1\r\nHost: evil.example\r\n"),
        );
        assert_eq!(status, 403, "{path}: {reply}");
        let (status, _) = raw(
            &gw,
            &format!("GET {path} HTTP/1.1\r\nHost: {}\r\n", gw.addr()),
        );
        assert_eq!(status, 200, "{path} under its own loopback name");
        let (status, _) = raw(&gw, &format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n"));
        assert_eq!(status, 200, "{path} as localhost");
    }
    // A store's delivery through a reverse proxy carries the public Host: still answered.
    let (status, _) = raw(&gw, "GET /healthz HTTP/1.1\r\nHost: api.example.com\r\n");
    assert_eq!(status, 200);
    let (status, reply) = raw(
        &gw,
        "POST /notifications/stripe HTTP/1.1\r\nHost: api.example.com\r\nContent-Length: 0\r\n",
    );
    assert_eq!(
        status, 400,
        "verified as usual, not refused by Host: {reply}"
    );
}

#[cfg(all(feature = "google", feature = "amazon"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purchase_and_sns_tokens_are_never_shown_whole() {
    let mut gw = spawn("tokens", &["--demo"], &[("BIND", "127.0.0.1:0")]);
    // The demo fires its deliveries after it listens: wait for its table.
    gw.wait_for("send another", Duration::from_secs(60));
    let db = format!("sqlite://{}", gw.dir.join("gw.db").display());
    sqlx::any::install_default_drivers();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&db)
        .await
        .expect("db");
    let purchase_tokens: Vec<String> = sqlx::query_scalar(
        "SELECT receipt FROM events WHERE store = 'google' AND receipt IS NOT NULL",
    )
    .fetch_all(&mut conn)
    .await
    .expect("tokens");
    let sns_tokens: Vec<String> = sqlx::query_scalar(
        "SELECT subscription_token FROM store_status WHERE subscription_token IS NOT NULL",
    )
    .fetch_all(&mut conn)
    .await
    .expect("tokens");
    assert!(!purchase_tokens.is_empty() && !sns_tokens.is_empty());
    let mut shown = String::new();
    for path in ["/events", "/status", "/"] {
        let reply = client::get(&gw.url(path)).await.expect("reply");
        assert_eq!(reply.status, 200, "{path}");
        shown.push_str(&reply.text());
    }
    shown.push_str(&gw.stdout());
    shown.push_str(&gw.stderr());
    for token in purchase_tokens.iter().chain(&sns_tokens) {
        assert!(token.len() > 16);
        assert!(!shown.contains(token.as_str()), "a token is shown whole");
        let recognisable = store_notifications::hook::redact(token);
        assert!(
            shown.contains(&recognisable),
            "{recognisable} is shown instead"
        );
    }
}

/// A signed Stripe delivery about `receipt`, and one signed with another secret.
fn stripe_delivery(id: &str, receipt: &str, secret: &str) -> (http::HeaderMap, Bytes) {
    let signer = StripeSigner::new(secret);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let event = signer.event(
        id,
        "customer.subscription.updated",
        &json!({ "object": "subscription", "id": receipt }).to_string(),
        now,
    );
    (signer.headers(now, &event), event)
}

async fn track(gw: &Gateway, receipt: &str) {
    let mut headers = bearer(TOKEN);
    headers.insert(
        http::header::CONTENT_TYPE,
        "application/json".parse().expect("h"),
    );
    let body = json!({ "store": "stripe", "receipt": receipt }).to_string();
    let reply = client::send("POST", &gw.url("/receipts"), &headers, body.as_bytes())
        .await
        .expect("track");
    assert_eq!(reply.status, 201, "{}", reply.text());
}

/// The value of the sample whose line starts with `name{` and holds every label.
fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .find(|l| labels.iter().all(|label| l.contains(label)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_exactly_what_was_sent() {
    let gw = spawn(
        "metrics",
        &[],
        &[
            ("BIND", "127.0.0.1:0"),
            ("STRIPE_WEBHOOK_SECRET", SECRET),
            ("GATEWAY_ADMIN_TOKEN", TOKEN),
        ],
    );
    track(&gw, "sub_metrics").await;
    let url = gw.url("/notifications/stripe");
    let sent = [
        (3, "sub_metrics", SECRET),
        (2, "sub_untracked", SECRET),
        (4, "sub_metrics", "whsec_forged"),
    ];
    let mut n = 0;
    for (count, receipt, secret) in sent {
        for _ in 0..count {
            n += 1;
            let (headers, body) = stripe_delivery(&format!("evt_metrics_{n}"), receipt, secret);
            client::send("POST", &url, &headers, &body)
                .await
                .expect("delivery");
        }
    }
    let refused = client::get(&gw.url("/metrics")).await.expect("reply");
    assert_eq!(refused.status, 401, "/metrics is an admin route");
    let reply = client::send("GET", &gw.url("/metrics"), &bearer(TOKEN), b"")
        .await
        .expect("reply");
    assert_eq!(reply.status, 200);
    let text = reply.text();
    let total = |outcome: &str| {
        sample(
            &text,
            "store_notifications_total",
            &["store=\"stripe\"", &format!("outcome=\"{outcome}\"")],
        )
    };
    assert_eq!(total("tracked"), Some(3.0), "{text}");
    assert_eq!(total("untracked"), Some(2.0), "{text}");
    assert_eq!(total("unauthenticated"), Some(4.0), "{text}");
    assert_eq!(
        sample(
            &text,
            "store_notification_verify_seconds_count",
            &["store=\"stripe\""]
        ),
        Some(9.0),
        "every delivery verified once: {text}"
    );
    assert_eq!(
        sample(&text, "store_notifications_gateway_database_up", &[]),
        Some(1.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_store_is_stale_in_status_and_on_the_page_which_charts_the_deliveries() {
    let gw = spawn(
        "stale",
        &[],
        &[
            ("BIND", "127.0.0.1:0"),
            ("STRIPE_WEBHOOK_SECRET", SECRET),
            ("GATEWAY_ADMIN_TOKEN", TOKEN),
            ("GATEWAY_STALE_AFTER", "1"),
            ("LOG_FORMAT", "json"),
        ],
    );
    track(&gw, "sub_stale").await;
    let (headers, body) = stripe_delivery("evt_stale", "sub_stale", SECRET);
    let reply = client::send("POST", &gw.url("/notifications/stripe"), &headers, &body)
        .await
        .expect("delivery");
    assert_eq!(reply.status, 200);
    let status = |gw: &Gateway| {
        let url = gw.url("/status");
        async move {
            client::send("GET", &url, &bearer(TOKEN), b"")
                .await
                .expect("status")
                .json()
                .expect("json")
        }
    };
    assert_eq!(status(&gw).await["stores"]["stripe"]["stale"], false);
    assert_eq!(
        status(&gw).await["stores"]["apple"]["stale"],
        false,
        "never received: not stale"
    );
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert_eq!(status(&gw).await["stores"]["stripe"]["stale"], true);
    let page = client::send("GET", &gw.url("/"), &bearer(TOKEN), b"")
        .await
        .expect("page")
        .text();
    assert!(
        page.contains("stripe: no tracked notification for"),
        "{page}"
    );
    assert!(
        page.contains("<svg class=\"chart\""),
        "the chart is on the page"
    );
    assert!(
        page.contains("1 tracked (of 1)"),
        "the delivery is charted: {page}"
    );
    assert!(
        page.contains("<time datetime=\"") && page.contains(" ago</time>"),
        "{page}"
    );

    // LOG_FORMAT=json: every log line is one JSON object.
    let logs = gw.stderr();
    let lines: Vec<&str> = logs.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty());
    for line in &lines {
        let value: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(value["level"].is_string(), "{line}");
    }
    assert!(
        lines
            .iter()
            .any(|l| l.contains("notification handled") && l.contains("\"outcome\":\"tracked\"")),
        "{logs}"
    );
}

/// Headless Chromium, if installed (`.ci/run` installs Debian's `chromium`).
fn chromium() -> Option<PathBuf> {
    std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .into_iter()
        .chain(["/usr/bin/chromium", "/usr/bin/chromium-browser"].map(PathBuf::from))
        .find(|p| p.exists())
}

/// Runs headless Chromium on `url` with `extra` (e.g. `--dump-dom`); its standard output.
fn headless(chromium: &Path, profile: &Path, extra: &[&str], url: &str) -> String {
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,1100",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .output()
        .expect("run chromium");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The page in a real browser: the `--demo` gateway with an admin token, opened headless with
/// the token as HTTP Basic password; the store rows, the chart and the escaping of a hostile
/// event type are checked in the DOM Chromium built, and a screenshot is saved under
/// `target/` (not committed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_in_a_headless_browser() {
    let Some(chromium) = chromium() else {
        eprintln!("the_page_in_a_headless_browser: skipped: no chromium (set CHROMIUM)");
        return;
    };
    let mut gw = spawn(
        "browser",
        &["--demo"],
        &[("BIND", "127.0.0.1:0"), ("GATEWAY_ADMIN_TOKEN", TOKEN)],
    );
    gw.wait_for("send another", Duration::from_secs(60));
    // A genuine delivery whose type is markup, about a tracked receipt, so it is recorded.
    track(&gw, "sub_hostile").await;
    let secret = std::fs::read_to_string(gw.dir.join("keys").join("stripe_webhook_secret"))
        .expect("the demo's Stripe secret");
    let signer = StripeSigner::new(secret.trim());
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let hostile = "<img src=x onerror=alert(1)>";
    let event = signer.event(
        "evt_hostile",
        hostile,
        &json!({ "object": "subscription", "id": "sub_hostile" }).to_string(),
        now,
    );
    let reply = client::send(
        "POST",
        &gw.url("/notifications/stripe"),
        &signer.headers(now, &event),
        &event,
    )
    .await
    .expect("delivery");
    assert_eq!(reply.status, 200, "{}", reply.text());

    let page = format!("http://admin:{TOKEN}@{}/", gw.addr());
    let profile = gw.dir.join("chromium-profile");
    let dom = headless(&chromium, &profile, &["--dump-dom"], &page);
    for store in ["apple", "google", "stripe", "amazon"] {
        assert!(
            dom.contains(&format!("<td>{store}</td>")),
            "{store} row in: {dom}"
        );
    }
    assert!(dom.contains("<svg class=\"chart\""), "the chart: {dom}");
    assert!(dom.contains("<rect"), "the chart has bars: {dom}");
    assert!(
        dom.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "the hostile type is shown as text: {dom}"
    );
    assert!(
        !dom.contains("<img src=\"x\""),
        "and never becomes an element"
    );

    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let shot = shots.join("gateway-page.png");
    let _ = std::fs::remove_file(&shot);
    headless(
        &chromium,
        &profile,
        &[&format!("--screenshot={}", shot.display())],
        &page,
    );
    assert!(shot.exists(), "a screenshot at {}", shot.display());
    eprintln!("screenshot: {}", shot.display());
}
