//! Black-box tests of the gateway example (`examples/gateway/`): its own router, started on a
//! loopback port and spoken to over real HTTP, with a temp SQLite file, and the same suite
//! against PostgreSQL when `GATEWAY_TEST_DATABASE_URL` (or a `postgres://` `DATABASE_URL`)
//! names a server (`.ci/postgres.sh` starts one and prints its URL).
#![cfg(all(feature = "stripe", feature = "axum", feature = "test-util"))]

// The example's modules, compiled into this test: the test runs the real gateway code, not a
// copy. (Files loaded with `#[path]` own their directory, so its submodules resolve there.)
#[allow(dead_code)]
#[path = "../examples/gateway/app.rs"]
mod app;

use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde_json::{Value, json};
use sqlx::Connection;
use store_notifications::hook::conformance;
use store_notifications::testing::StripeSigner;
use store_notifications::{Receipt, StoreKind};

use app::client::{self, Reply};
use app::config::Config;
use app::db::Db;
use app::routes::OUTCOME_HEADER;

const SECRET: &str = "whsec_gateway_test_secret";

/// A database for one test: a temp SQLite file, or a fresh schema on the PostgreSQL server.
struct TestDb {
    url: String,
    sqlite_file: Option<PathBuf>,
    /// The PostgreSQL server and the schema to drop afterwards.
    postgres_schema: Option<(String, String)>,
}

impl TestDb {
    fn sqlite(name: &str) -> TestDb {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let file = std::env::temp_dir().join(format!(
            "store-notifications-gateway-{name}-{}-{nanos}.db",
            std::process::id()
        ));
        TestDb {
            url: format!("sqlite://{}", file.display()),
            sqlite_file: Some(file),
            postgres_schema: None,
        }
    }

    fn postgres_server() -> Option<String> {
        std::env::var("GATEWAY_TEST_DATABASE_URL")
            .ok()
            .or_else(|| std::env::var("DATABASE_URL").ok())
            .filter(|u| u.starts_with("postgres://") || u.starts_with("postgresql://"))
    }

    /// A schema of its own per test (tests run in parallel on one server), made current
    /// through the connection's `search_path`.
    async fn postgres(name: &str) -> Option<TestDb> {
        let server = Self::postgres_server()?;
        // PostgreSQL identifiers stop at 63 bytes; the test names stay under it.
        let schema = format!("gw_{name}");
        let mut conn = sqlx::PgConnection::connect(&server)
            .await
            .expect("GATEWAY_TEST_DATABASE_URL must name a reachable PostgreSQL server");
        for sql in [
            format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
            format!("CREATE SCHEMA {schema}"),
        ] {
            sqlx::query(&sql).execute(&mut conn).await.expect(&sql);
        }
        conn.close().await.expect("close");
        let sep = if server.contains('?') { '&' } else { '?' };
        Some(TestDb {
            url: format!("{server}{sep}options[search_path]={schema}"),
            sqlite_file: None,
            postgres_schema: Some((server, schema)),
        })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(file) = &self.sqlite_file {
            for suffix in ["", "-wal", "-shm"] {
                let mut path = file.clone().into_os_string();
                path.push(suffix);
                let _ = std::fs::remove_file(path);
            }
        }
        if let Some((server, schema)) = self.postgres_schema.take() {
            // Drop runs inside the test's runtime: drop the schema from a thread of its own.
            let dropped = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?;
                rt.block_on(async {
                    let mut conn = sqlx::PgConnection::connect(&server).await.ok()?;
                    let sql = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
                    sqlx::query(&sql).execute(&mut conn).await.ok()?;
                    conn.close().await.ok()
                })
            });
            let _ = dropped.join();
        }
    }
}

/// Generates each test once per backend.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = super::TestDb::sqlite(stringify!($name));
                    super::$name(&db.url).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = super::TestDb::postgres(stringify!($name)).await else {
                        eprintln!("skipped: set GATEWAY_TEST_DATABASE_URL to a PostgreSQL server");
                        return;
                    };
                    super::$name(&db.url).await;
                }
            )*
        }
    };
}

on_both_backends!(
    untracked_receipt_is_acknowledged_and_leaves_no_trace,
    tracked_receipt_is_recorded_and_moves_last_received_at,
    unreferenced_event_reaches_the_handler_without_a_receipt,
    forged_or_tampered_deliveries_are_401_and_record_nothing,
    oversize_body_is_413_and_records_nothing,
    redeliveries_are_handled_once_even_concurrently,
    restart_on_the_same_database_loses_nothing,
    status_page_renders_the_state_escaped,
    authentic_but_unusable_body_is_dead_lettered_with_200,
    receipts_events_and_unknown_routes_answer_clearly,
    database_hook_passes_the_crate_conformance_check,
);

struct Gateway {
    running: app::Running,
    signer: StripeSigner,
}

async fn start(db_url: &str) -> Gateway {
    let vars = [
        ("BIND", "127.0.0.1:0"),
        ("DATABASE_URL", db_url),
        ("STRIPE_WEBHOOK_SECRET", SECRET),
    ];
    let config = Config::from_vars(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    })
    .expect("config");
    let running = app::start(&config).await.expect("gateway starts");
    assert_eq!(running.enabled, [StoreKind::Stripe]);
    Gateway {
        running,
        signer: StripeSigner::new(SECRET),
    }
}

fn now() -> i64 {
    app::time::now()
}

impl Gateway {
    fn event(&self, id: &str, event_type: &str, receipt: Option<&str>) -> Bytes {
        let object = match receipt {
            Some(sub) => json!({ "object": "subscription", "id": sub }),
            None => json!({ "object": "balance" }),
        };
        self.signer
            .event(id, event_type, &object.to_string(), now())
    }

    async fn post_signed(&self, body: &[u8], signer: &StripeSigner) -> Reply {
        let headers = signer.headers(now(), body);
        client::send(
            "POST",
            &self.running.url("/notifications/stripe"),
            &headers,
            body,
        )
        .await
        .expect("request")
    }

    async fn deliver(&self, id: &str, receipt: Option<&str>) -> Reply {
        let body = self.event(id, "customer.subscription.created", receipt);
        self.post_signed(&body, &self.signer).await
    }

    async fn track(&self, store: &str, receipt: &str) -> Reply {
        client::post_json(
            &self.running.url("/receipts"),
            &json!({ "store": store, "receipt": receipt }),
        )
        .await
        .expect("request")
    }

    async fn get_json(&self, path: &str) -> Value {
        let reply = client::get(&self.running.url(path)).await.expect("request");
        assert_eq!(reply.status, 200, "{path}: {}", reply.text());
        reply.json().expect("json")
    }

    async fn stripe_status(&self) -> Value {
        self.get_json("/status").await["stores"]["stripe"].clone()
    }

    async fn events(&self) -> Vec<Value> {
        match self.get_json("/events?store=stripe").await {
            Value::Array(events) => events,
            other => panic!("events must be an array: {other}"),
        }
    }
}

fn outcome(reply: &Reply) -> &str {
    reply.header(OUTCOME_HEADER).unwrap_or("-")
}

async fn untracked_receipt_is_acknowledged_and_leaves_no_trace(db: &str) {
    let gw = start(db).await;
    let reply = gw.deliver("evt_untracked", Some("sub_nobody")).await;
    assert_eq!(
        (reply.status, outcome(&reply)),
        (200, "untracked"),
        "{}",
        reply.text()
    );
    assert!(gw.events().await.is_empty(), "the handler must not run");
    let status = gw.stripe_status().await;
    assert_eq!(status["enabled"], true);
    assert_eq!(
        status["last_received_at"],
        Value::Null,
        "untracked must not look alive"
    );
    assert_eq!(status["counts"]["tracked"], 0);
    assert_eq!(status["counts"]["untracked"], 1);
    gw.running.stop().await.expect("stop");
}

async fn tracked_receipt_is_recorded_and_moves_last_received_at(db: &str) {
    let gw = start(db).await;
    assert_eq!(gw.track("stripe", "sub_tracked").await.status, 201);
    let before = now();
    let reply = gw.deliver("evt_tracked", Some("sub_tracked")).await;
    assert_eq!(
        (reply.status, outcome(&reply)),
        (200, "tracked"),
        "{}",
        reply.text()
    );
    assert_eq!(reply.text(), "recorded\n");

    let events = gw.events().await;
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(e["store"], "stripe");
    assert_eq!(e["id"], "evt_tracked");
    assert_eq!(e["receipt"], "sub_tracked");
    assert_eq!(e["test"], false);
    assert_eq!(e["type"], "customer.subscription.created");
    assert_eq!(e["kind"], "purchase");

    let status = gw.stripe_status().await;
    let last = status["last_received_at"].as_str().expect("set");
    assert!(last >= app::time::rfc3339(before).as_str(), "{last}");
    assert_eq!(status["counts"]["tracked"], 1);
    gw.running.stop().await.expect("stop");
}

async fn unreferenced_event_reaches_the_handler_without_a_receipt(db: &str) {
    let gw = start(db).await;
    let body = gw.event("evt_balance", "balance.available", None);
    let reply = gw.post_signed(&body, &gw.signer).await;
    assert_eq!((reply.status, outcome(&reply)), (200, "unreferenced"));
    let events = gw.events().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["receipt"], Value::Null);
    assert_eq!(events[0]["kind"], "other");
    assert_eq!(gw.stripe_status().await["last_received_at"], Value::Null);
    gw.running.stop().await.expect("stop");
}

async fn forged_or_tampered_deliveries_are_401_and_record_nothing(db: &str) {
    let gw = start(db).await;
    assert_eq!(gw.track("stripe", "sub_victim").await.status, 201);

    let body = gw.event(
        "evt_forged",
        "customer.subscription.created",
        Some("sub_victim"),
    );
    let forger = StripeSigner::new("whsec_not_the_secret");
    let reply = gw.post_signed(&body, &forger).await;
    assert_eq!((reply.status, outcome(&reply)), (401, "unauthenticated"));

    let genuine = gw.event(
        "evt_tampered",
        "customer.subscription.created",
        Some("sub_victim"),
    );
    let headers = gw.signer.headers(now(), &genuine);
    let tampered =
        String::from_utf8_lossy(&genuine).replace("subscription.created", "subscription.deleted");
    let url = gw.running.url("/notifications/stripe");
    let reply = client::send("POST", &url, &headers, tampered.as_bytes())
        .await
        .expect("request");
    assert_eq!(reply.status, 401);

    let reply = client::send("POST", &url, &http::HeaderMap::new(), &genuine)
        .await
        .expect("request");
    assert_eq!((reply.status, outcome(&reply)), (400, "malformed"));

    assert!(gw.events().await.is_empty());
    let status = gw.stripe_status().await;
    assert_eq!(status["last_received_at"], Value::Null);
    assert_eq!(status["counts"]["tracked"], 0);
    assert_eq!(status["counts"]["rejected"]["unauthenticated"], 2);
    gw.running.stop().await.expect("stop");
}

async fn oversize_body_is_413_and_records_nothing(db: &str) {
    let gw = start(db).await;
    let mut body = vec![b' '; app::routes::BODY_LIMIT + 1];
    let event = gw.event("evt_big", "customer.subscription.created", Some("sub_big"));
    body[..event.len()].copy_from_slice(&event);
    let reply = gw.post_signed(&body, &gw.signer).await;
    assert_eq!((reply.status, outcome(&reply)), (413, "payload_too_large"));

    // Exactly at the limit is read, verified and answered normally.
    let mut body = vec![b' '; app::routes::BODY_LIMIT];
    body[..event.len()].copy_from_slice(&event);
    let reply = gw.post_signed(&body, &gw.signer).await;
    assert_eq!((reply.status, outcome(&reply)), (200, "untracked"));

    assert!(gw.events().await.is_empty());
    gw.running.stop().await.expect("stop");
}

async fn redeliveries_are_handled_once_even_concurrently(db: &str) {
    let gw = start(db).await;
    assert_eq!(gw.track("stripe", "sub_replayed").await.status, 201);
    let body = gw.event("evt_once", "invoice.paid", Some("sub_replayed"));
    let first = gw.post_signed(&body, &gw.signer).await;
    let again = gw.post_signed(&body, &gw.signer).await;
    assert_eq!((first.status, first.text().as_str()), (200, "recorded\n"));
    assert_eq!(
        (again.status, again.text().as_str()),
        (200, "already handled (redelivery)\n")
    );

    // Stripe may deliver the same event to several instances at once.
    let body = gw.event("evt_racing", "invoice.paid", Some("sub_replayed"));
    let replies = futures_join_all(
        (0..8)
            .map(|_| gw.post_signed(&body, &gw.signer))
            .collect::<Vec<_>>(),
    )
    .await;
    assert!(replies.iter().all(|r| r.status == 200), "{replies:?}");
    let recorded = replies.iter().filter(|r| r.text() == "recorded\n").count();
    assert_eq!(recorded, 1, "exactly one delivery runs the effect");

    let events = gw.events().await;
    let ids: Vec<&str> = events.iter().filter_map(|e| e["id"].as_str()).collect();
    assert_eq!(ids, ["evt_racing", "evt_once"], "newest first, each once");
    gw.running.stop().await.expect("stop");
}

/// `join_all` without the `futures` crate: spawn each on the runtime, then await in order.
async fn futures_join_all<F>(futures: Vec<F>) -> Vec<F::Output>
where
    F: std::future::Future,
{
    // The futures borrow the gateway, so they cannot be spawned; poll them together instead.
    let mut pinned: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (fut, out) in pinned.iter_mut().zip(outputs.iter_mut()) {
            if out.is_none() {
                match fut.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *out = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

async fn restart_on_the_same_database_loses_nothing(db: &str) {
    let gw = start(db).await;
    assert_eq!(gw.track("stripe", "sub_durable").await.status, 201);
    let body = gw.event(
        "evt_durable",
        "customer.subscription.created",
        Some("sub_durable"),
    );
    assert_eq!(gw.post_signed(&body, &gw.signer).await.status, 200);
    assert_eq!(
        gw.deliver("evt_stranger", Some("sub_stranger"))
            .await
            .status,
        200
    );
    let status = gw.stripe_status().await;
    let events = gw.events().await;
    gw.running.stop().await.expect("stop");

    let gw = start(db).await;
    assert_eq!(gw.stripe_status().await, status, "status survives");
    assert_eq!(gw.events().await, events, "events survive");
    assert_eq!(
        gw.track("stripe", "sub_durable").await.status,
        200,
        "still tracked"
    );
    let replay = gw.post_signed(&body, &gw.signer).await;
    assert_eq!(
        replay.text(),
        "already handled (redelivery)\n",
        "dedupe survives"
    );
    assert_eq!(gw.events().await.len(), 1);
    gw.running.stop().await.expect("stop");
}

async fn status_page_renders_the_state_escaped(db: &str) {
    let gw = start(db).await;
    assert_eq!(gw.track("stripe", "sub_<b>html</b>").await.status, 201);
    let body = gw.event(
        "evt_page",
        "<script>alert(1)</script>",
        Some("sub_<b>html</b>"),
    );
    assert_eq!(gw.post_signed(&body, &gw.signer).await.status, 200);
    let last = gw.stripe_status().await["last_received_at"]
        .as_str()
        .expect("set")
        .to_owned();

    let reply = client::get(&gw.running.url("/")).await.expect("request");
    assert_eq!(reply.status, 200);
    assert!(
        reply
            .header("content-type")
            .is_some_and(|c| c.starts_with("text/html"))
    );
    let html = reply.text();
    assert!(!html.contains("<script>alert"), "event types are escaped");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(
        html.contains("sub_&lt;b&gt;html&lt;/b&gt;"),
        "receipts are escaped"
    );
    assert!(html.contains("evt_page"));
    assert!(html.contains(&last), "last received at is shown");
    assert!(
        html.contains("<code>/notifications/stripe</code>"),
        "stripe shows as enabled"
    );
    assert!(html.contains("not verified"), "amazon's SNS state is shown");
    gw.running.stop().await.expect("stop");
}

async fn authentic_but_unusable_body_is_dead_lettered_with_200(db: &str) {
    let gw = start(db).await;
    let reply = gw.post_signed(br#"{"not":"an event"}"#, &gw.signer).await;
    assert_eq!((reply.status, outcome(&reply)), (200, "dead_lettered"));
    assert_eq!(
        gw.running
            .db
            .dead_letter_count(StoreKind::Stripe)
            .await
            .expect("count"),
        1
    );
    assert!(gw.events().await.is_empty());
    assert_eq!(gw.stripe_status().await["counts"]["dead_lettered"], 1);
    gw.running.stop().await.expect("stop");
}

async fn receipts_events_and_unknown_routes_answer_clearly(db: &str) {
    let gw = start(db).await;
    assert_eq!(gw.track("stripe", "sub_1").await.status, 201);
    assert_eq!(gw.track("stripe", "sub_1").await.status, 200);
    assert_eq!(gw.track("apple", "sub_1").await.status, 201, "per store");
    assert_eq!(gw.track("paypal", "x").await.status, 422);
    assert_eq!(gw.track("stripe", "").await.status, 422);

    let url = |p: &str| gw.running.url(p);
    let empty = http::HeaderMap::new();
    for store in ["apple", "google", "amazon"] {
        let reply = client::send(
            "POST",
            &url(&format!("/notifications/{store}")),
            &empty,
            b"{}",
        )
        .await
        .expect("request");
        assert_eq!(reply.status, 404);
        assert!(reply.text().contains(store), "{}", reply.text());
    }
    let reply = client::send("POST", &url("/notifications/paypal"), &empty, b"{}")
        .await
        .expect("request");
    assert_eq!(reply.status, 404);
    assert!(reply.text().contains("unknown store"), "{}", reply.text());
    assert_eq!(
        client::get(&url("/notifications/stripe"))
            .await
            .expect("get")
            .status,
        405
    );
    assert_eq!(
        client::get(&url("/events?store=paypal"))
            .await
            .expect("get")
            .status,
        400
    );
    let health = client::get(&url("/healthz")).await.expect("get");
    assert_eq!((health.status, health.text().as_str()), (200, "ok\n"));

    let status = gw.get_json("/status").await;
    for store in ["apple", "google", "stripe", "amazon"] {
        let s = &status["stores"][store];
        assert_eq!(s["enabled"], store == "stripe", "{store}");
        assert!(s["counts"].is_object(), "{store}");
        assert_eq!(
            s.get("subscription").is_some(),
            store == "amazon",
            "{store}"
        );
    }
    gw.running.stop().await.expect("stop");
}

async fn database_hook_passes_the_crate_conformance_check(db: &str) {
    let db = Db::connect(db).await.expect("connect");
    let tracker = db.clone();
    conformance::check(&db, move |r: Receipt| {
        let tracker = tracker.clone();
        async move {
            tracker.track(r.store, &r.reference).await.expect("track");
        }
    })
    .await;
    db.close().await;
}

/// Start-up time and requests/s on loopback (SQLite, tracked deliveries, 16 in flight):
/// `cargo test --release --no-default-features --features stripe,axum,test-util --test gateway
///  -- --ignored --nocapture` (set GATEWAY_TEST_DATABASE_URL for PostgreSQL).
#[tokio::test(flavor = "multi_thread")]
#[ignore = "a measurement, not a test"]
async fn throughput() {
    let pg = match TestDb::postgres_server() {
        Some(_) => TestDb::postgres("throughput").await,
        None => None,
    };
    let db = pg.unwrap_or_else(|| TestDb::sqlite("throughput"));
    let started = Instant::now();
    let gw = start(&db.url).await;
    let startup = started.elapsed();
    let requests: usize = std::env::var("GATEWAY_BENCH_REQUESTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2000);
    assert_eq!(gw.track("stripe", "sub_bench").await.status, 201);
    let bodies: Vec<Bytes> = (0..requests)
        .map(|i| gw.event(&format!("evt_bench_{i}"), "invoice.paid", Some("sub_bench")))
        .collect();
    let url = gw.running.url("/notifications/stripe");
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let per_task = requests.div_ceil(16);
    for chunk in bodies.chunks(per_task) {
        let chunk = chunk.to_vec();
        let (url, signer) = (url.clone(), gw.signer.clone());
        tasks.spawn(async move {
            for body in chunk {
                let headers = signer.headers(now(), &body);
                let reply = client::send("POST", &url, &headers, &body)
                    .await
                    .expect("request");
                assert_eq!(reply.status, 200);
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("task");
    }
    let elapsed = started.elapsed();
    assert_eq!(gw.events().await.len(), requests.min(100));
    println!(
        "{}: start-up {:.1} ms; {requests} tracked deliveries in {:.2} s = {:.0} requests/s",
        db.url.split(':').next().unwrap_or("?"),
        startup.as_secs_f64() * 1000.0,
        elapsed.as_secs_f64(),
        requests as f64 / elapsed.as_secs_f64().max(f64::EPSILON)
    );
    gw.running.stop().await.expect("stop");
}

/// The built `gateway` example (cargo builds examples before running tests), running as its
/// own process; killed on drop.
struct Process {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Process {
    fn spawn(args: &[&str], vars: &[(&str, &str)]) -> Option<Process> {
        // target/<profile>/deps/gateway-… → target/<profile>/examples/gateway
        let exe = std::env::current_exe().ok()?;
        let bin = exe
            .parent()?
            .parent()?
            .join("examples")
            .join(format!("gateway{}", std::env::consts::EXE_SUFFIX));
        if !bin.exists() {
            return None;
        }
        let mut cmd = std::process::Command::new(bin);
        cmd.args(args)
            .env_clear()
            .envs(vars.iter().copied())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit());
        let mut child = cmd.spawn().expect("spawn the gateway example");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Some(Process { child, lines })
    }

    /// Lines up to and including the first that contains `marker`.
    fn read_until(&self, marker: &str) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            match self.lines.recv_timeout(std::time::Duration::from_secs(60)) {
                Ok(line) => {
                    let done = line.contains(marker);
                    seen.push(line);
                    if done {
                        return seen;
                    }
                }
                Err(e) => panic!("no {marker:?} from the gateway ({e}); saw {seen:#?}"),
            }
        }
    }

    /// `http://127.0.0.1:port` from the start-up line.
    fn base_url(&self) -> String {
        let lines = self.read_until("listening on ");
        let line = lines.last().expect("a line");
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .expect("a URL");
        url.to_owned()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The README's first command, `gateway --demo`, as a process: its table shows the three
/// deliveries, and a second process on the same database, trusting the demo's secret from
/// `DEMO_KEYS_DIR`, still has everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_process_fires_its_deliveries_and_a_restarted_process_keeps_them() {
    let db = TestDb::sqlite("demo_process");
    let keys = std::env::temp_dir().join(format!(
        "store-notifications-demo-keys-{}",
        std::process::id()
    ));
    let keys_str = keys.display().to_string();
    let vars = [
        ("BIND", "127.0.0.1:0"),
        ("DATABASE_URL", db.url.as_str()),
        ("DEMO_KEYS_DIR", keys_str.as_str()),
    ];
    let Some(demo) = Process::spawn(&["--demo"], &vars) else {
        eprintln!("skipped: the gateway example is not built next to this test");
        return;
    };
    let base = demo.base_url();
    let table = demo.read_until("send another");
    let row = |case: &str| {
        table
            .iter()
            .find(|l| l.starts_with("stripe") && l.split_whitespace().nth(1) == Some(case))
            .cloned()
            .unwrap_or_else(|| panic!("no {case} row in {table:#?}"))
    };
    for (case, outcome) in [
        ("tracked", "tracked"),
        ("untracked", "untracked"),
        ("test", "unreferenced"),
    ] {
        let line = row(case);
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cols.get(2..4), Some(&["200", outcome][..]), "{line}");
    }
    let events = client::get(&format!("{base}/events"))
        .await
        .expect("events");
    let events = events.json().expect("json");
    assert_eq!(events.as_array().map(Vec::len), Some(2), "{events}");
    drop(demo);

    let secret = std::fs::read_to_string(keys.join(app::stripe::SECRET_FILE)).expect("secret");
    let vars = [
        ("BIND", "127.0.0.1:0"),
        ("DATABASE_URL", db.url.as_str()),
        ("STRIPE_WEBHOOK_SECRET", secret.trim()),
    ];
    let again = Process::spawn(&[], &vars).expect("spawn");
    let base = again.base_url();
    let after = client::get(&format!("{base}/events"))
        .await
        .expect("events");
    assert_eq!(
        after.json().expect("json"),
        events,
        "events survive a restart"
    );
    let status = client::get(&format!("{base}/status"))
        .await
        .expect("status");
    let stripe = &status.json().expect("json")["stores"]["stripe"];
    assert_eq!(stripe["counts"]["tracked"], 1);
    assert!(stripe["last_received_at"].is_string());
    drop(again);
    let _ = std::fs::remove_dir_all(&keys);
}
