//! Black-box tests of the gateway (`gateway/`): its own router, started on a
//! loopback port and spoken to over real HTTP, with a temp SQLite file, and the same suite
//! against PostgreSQL when `GATEWAY_TEST_DATABASE_URL` (or a `postgres://` `DATABASE_URL`)
//! names a server (`.ci/postgres.sh` starts one and prints its URL).
//!
//! The delivery cases (untracked, tracked, test, forged, oversize, replay, restart) run for
//! every store this build has, each store configured by its module's `demo_setup` (throwaway
//! keys in a temp directory) and signed by its `sign`: the code paths of `--demo` and
//! `simulate`, checked from the outside.
#![cfg(all(feature = "stripe", feature = "demo"))]

mod common;

use store_notifications_gateway as app;

use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue};
use serde_json::{Value, json};
use sqlx::Connection;
use store_notifications::hook::conformance;
use store_notifications::testing::StripeSigner;
use store_notifications::{Receipt, StoreId};

use app::client::{self, Reply};
use app::config::Config;
use app::db::Db;
use app::routes::OUTCOME_HEADER;
use app::stores::{self, Delivery, Sample, StoreModule};

const SECRET: &str = "whsec_gateway_test_secret";

fn unique_suffix() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{}-{nanos}", std::process::id())
}

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

/// Generates each delivery case once per store of this build and per backend:
/// `<case>::<store>::{sqlite,postgres}`.
macro_rules! for_each_store {
    ($($case:ident),* $(,)?) => {
        $(
            mod $case {
                for_each_store!(@store $case, apple, APPLE, "apple");
                for_each_store!(@store $case, google, GOOGLE, "google");
                for_each_store!(@store $case, stripe, STRIPE, "stripe");
                for_each_store!(@store $case, amazon, AMAZON, "amazon");
            }
        )*
    };
    (@store $case:ident, $store:ident, $kind:ident, $feature:literal) => {
        #[cfg(feature = $feature)]
        mod $store {
            use store_notifications::StoreId;

            const NAME: &str = concat!(stringify!($case), "_", stringify!($store));

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = crate::TestDb::sqlite(NAME);
                crate::$case(&db.url, StoreId::$kind).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(db) = crate::TestDb::postgres(NAME).await else {
                    eprintln!("skipped: set GATEWAY_TEST_DATABASE_URL to a PostgreSQL server");
                    return;
                };
                crate::$case(&db.url, StoreId::$kind).await;
            }
        }
    };
}

for_each_store!(
    untracked_is_acknowledged_and_leaves_no_trace,
    tracked_is_recorded_and_moves_last_received_at,
    test_delivery_is_answered_200,
    forged_deliveries_are_401_and_record_nothing,
    oversize_body_is_413_and_records_nothing,
    redeliveries_are_handled_once_even_concurrently,
    restart_on_the_same_database_loses_nothing,
);

on_both_backends!(
    status_page_renders_the_state_escaped,
    authentic_but_unusable_body_is_dead_lettered_with_200,
    receipts_events_and_unknown_routes_answer_clearly,
    database_hook_passes_the_crate_conformance_check,
    database_status_and_dead_letters_pass_the_crate_conformance_checks,
    long_ids_and_references_are_stored_alike_on_both_databases,
    tables_of_0_1_are_migrated_without_losing_a_receipt_or_a_delivery,
);

fn now() -> i64 {
    app::time::now()
}

fn outcome(reply: &Reply) -> &str {
    reply.header(OUTCOME_HEADER).unwrap_or("-")
}

async fn get_json(running: &app::Running, path: &str) -> Value {
    let reply = client::get(&running.url(path)).await.expect("request");
    assert_eq!(reply.status, 200, "{path}: {}", reply.text());
    reply.json().expect("json")
}

/// A directory for one test's throwaway keys, removed on drop.
struct KeysDir(PathBuf);

impl KeysDir {
    fn new(name: &str) -> KeysDir {
        KeysDir(std::env::temp_dir().join(format!(
            "store-notifications-gateway-keys-{name}-{}",
            unique_suffix()
        )))
    }
}

impl Drop for KeysDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One store's gateway: only that store enabled, trusting only fresh keys from its module's
/// `demo_setup`, and signing with its `sign`.
struct StoreGateway {
    kind: StoreId,
    module: &'static StoreModule,
    keys: KeysDir,
    config: Config,
    running: app::Running,
}

/// The configuration of a gateway serving only `kind`, with keys in `keys`.
fn store_config(db_url: &str, kind: StoreId, keys: &Path) -> Config {
    let vars = [("BIND", "127.0.0.1:0"), ("DATABASE_URL", db_url)];
    let mut config = Config::from_vars(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    })
    .expect("config");
    let module = stores::module(kind).expect("a store of this build");
    (module.demo_setup)(keys, &mut config).expect("demo keys");
    config
}

async fn start_store(db_url: &str, kind: StoreId) -> StoreGateway {
    let keys = KeysDir::new(kind.as_str());
    let config = store_config(db_url, kind, &keys.0);
    let running = app::start(&config).await.expect("gateway starts");
    assert_eq!(running.enabled, [kind]);
    StoreGateway {
        kind,
        module: stores::module(kind).expect("module"),
        keys,
        config,
        running,
    }
}

/// What each store does with the delivery `sign` makes without a receipt.
fn test_outcome(kind: StoreId) -> &'static str {
    match kind {
        // Stripe has no test event: an unreferenced one reaches the handler instead.
        StoreId::STRIPE => "unreferenced",
        // Amazon has none either: a SubscriptionConfirmation is a control message.
        StoreId::AMAZON => "control",
        _ => "test",
    }
}

/// The store's own type of the delivery `sign` makes about a receipt.
fn purchase_type(kind: StoreId) -> &'static str {
    match kind {
        StoreId::APPLE => "SUBSCRIBED",
        StoreId::STRIPE => "customer.subscription.created",
        _ => "SUBSCRIPTION_PURCHASED",
    }
}

impl StoreGateway {
    fn sign(&self, receipt: Option<&str>) -> Delivery {
        self.sign_type(receipt, None)
    }

    fn sign_type(&self, receipt: Option<&str>, notification_type: Option<&str>) -> Delivery {
        let sample = Sample {
            receipt: receipt.map(str::to_owned),
            notification_type: notification_type.map(str::to_owned),
        };
        (self.module.sign)(&self.keys.0, &sample).expect("sign")
    }

    fn reference(&self) -> String {
        (self.module.new_reference)().expect("reference")
    }

    fn url(&self) -> String {
        self.running.url(&stores::path(self.kind))
    }

    async fn post(&self, headers: &HeaderMap, body: &[u8]) -> Reply {
        client::send("POST", &self.url(), headers, body)
            .await
            .expect("request")
    }

    async fn deliver(&self, delivery: &Delivery) -> Reply {
        self.post(&delivery.headers, &delivery.body).await
    }

    async fn track(&self, receipt: &str) -> Reply {
        client::post_json(
            &self.running.url("/receipts"),
            &json!({ "store": self.kind, "receipt": receipt }),
        )
        .await
        .expect("request")
    }

    async fn status(&self) -> Value {
        get_json(&self.running, "/status").await["stores"][self.kind.as_str()].clone()
    }

    async fn events(&self) -> Vec<Value> {
        let path = format!("/events?store={}", self.kind);
        match get_json(&self.running, &path).await {
            Value::Array(events) => events,
            other => panic!("events must be an array: {other}"),
        }
    }

    /// Stops it and starts it again on the same database and keys.
    async fn restart(self) -> StoreGateway {
        self.running.stop().await.expect("stop");
        let running = app::start(&self.config).await.expect("gateway restarts");
        StoreGateway { running, ..self }
    }

    async fn stop(self) {
        self.running.stop().await.expect("stop");
    }
}

async fn untracked_is_acknowledged_and_leaves_no_trace(db: &str, kind: StoreId) {
    let gw = start_store(db, kind).await;
    let before = gw.status().await;
    let reply = gw.deliver(&gw.sign(Some(&gw.reference()))).await;
    assert_eq!(
        (reply.status, outcome(&reply)),
        (200, "untracked"),
        "{}",
        reply.text()
    );
    assert!(gw.events().await.is_empty(), "the handler must not run");
    let status = gw.status().await;
    assert_eq!(status["enabled"], true);
    assert_eq!(
        status["last_received_at"],
        Value::Null,
        "untracked must not look alive"
    );
    assert_eq!(status["counts"]["tracked"], 0);
    assert_eq!(status["counts"]["untracked"], 1);
    let mut unchanged = status.clone();
    unchanged["counts"]["untracked"] = json!(0);
    assert_eq!(unchanged, before, "nothing but the untracked count moves");
    gw.stop().await;
}

async fn tracked_is_recorded_and_moves_last_received_at(db: &str, kind: StoreId) {
    let gw = start_store(db, kind).await;
    let receipt = gw.reference();
    assert_eq!(gw.track(&receipt).await.status, 201);
    let before = now();
    let delivery = gw.sign(Some(&receipt));
    let reply = gw.deliver(&delivery).await;
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
    assert_eq!(e["store"], kind.as_str());
    assert_eq!(e["id"], delivery.id.as_str());
    // Google's purchase tokens are credentials: recognisable, never whole.
    let shown = if kind == StoreId::GOOGLE {
        store_notifications::hook::redact(&receipt)
    } else {
        receipt.clone()
    };
    assert_eq!(e["receipt"], shown.as_str());
    assert_eq!(e["test"], false);
    assert_eq!(e["type"], purchase_type(kind));
    assert_eq!(e["kind"], "purchase");

    let status = gw.status().await;
    let last = status["last_received_at"].as_str().expect("set");
    assert!(last >= app::time::rfc3339(before).as_str(), "{last}");
    assert_eq!(status["counts"]["tracked"], 1);
    gw.stop().await;
}

async fn test_delivery_is_answered_200(db: &str, kind: StoreId) {
    let gw = start_store(db, kind).await;
    let delivery = gw.sign(None);
    let reply = gw.deliver(&delivery).await;
    let expected = test_outcome(kind);
    assert_eq!(
        (reply.status, outcome(&reply)),
        (200, expected),
        "{}",
        reply.text()
    );
    let status = gw.status().await;
    assert_eq!(status["last_received_at"], Value::Null, "not a receipt");
    assert_eq!(status["counts"][expected], 1, "{status}");
    let events = gw.events().await;
    if kind == StoreId::AMAZON {
        assert!(
            events.is_empty(),
            "control messages do not reach the handler"
        );
        amazon_subscription_is_pending_in_status_and_page(&gw, &status).await;
    } else {
        assert_eq!(events.len(), 1);
        let e = &events[0];
        assert_eq!(e["id"], delivery.id.as_str());
        assert_eq!(e["receipt"], Value::Null);
        let test = expected == "test";
        assert_eq!(e["test"], test);
        assert_eq!(e["kind"], if test { "test" } else { "other" });
    }
    gw.stop().await;
}

#[cfg(not(feature = "amazon"))]
async fn amazon_subscription_is_pending_in_status_and_page(_: &StoreGateway, _: &Value) {}

/// Amazon's "test": the SubscriptionConfirmation, recorded as pending (the demo's
/// `AMAZON_AUTO_CONFIRM=false`) with its topic, time and token, on `/status` and the page;
/// an UnsubscribeConfirmation then moves it to unsubscribed.
#[cfg(feature = "amazon")]
async fn amazon_subscription_is_pending_in_status_and_page(gw: &StoreGateway, status: &Value) {
    let sub = &status["subscription"];
    assert_eq!(
        sub["topic"],
        store_notifications::testing::SnsSigner::TOPIC_ARN
    );
    assert_eq!(sub["state"], "pending_confirmation");
    assert_eq!(sub["confirmed"], false);
    assert!(
        sub["at"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{sub}"
    );
    assert!(
        sub["token"].as_str().is_some_and(|t| !t.is_empty()),
        "{sub}"
    );

    let page = client::get(&gw.running.url("/")).await.expect("page");
    let html = page.text();
    assert!(
        html.contains(&format!(
            "pending confirmation: {}",
            store_notifications::testing::SnsSigner::TOPIC_ARN
        )),
        "{html}"
    );

    let unsubscribe = gw.sign_type(None, Some("UnsubscribeConfirmation"));
    let reply = gw.deliver(&unsubscribe).await;
    assert_eq!((reply.status, outcome(&reply)), (200, "control"));
    let sub = &gw.status().await["subscription"];
    assert_eq!(sub["state"], "unsubscribed", "{sub}");
    assert_eq!(sub["confirmed"], false);
}

/// A forged or tampered delivery about `receipt`, and the status and outcome it must get.
struct Forgery {
    what: &'static str,
    headers: HeaderMap,
    body: Vec<u8>,
    status: u16,
    outcome: &'static str,
}

impl Forgery {
    fn unauthenticated(what: &'static str, headers: HeaderMap, body: Vec<u8>) -> Forgery {
        Forgery {
            what,
            headers,
            body,
            status: 401,
            outcome: "unauthenticated",
        }
    }
}

fn replace(body: &[u8], from: &str, to: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(body);
    assert!(text.contains(from), "{from:?} not in {text}");
    text.replacen(from, to, 1).into_bytes()
}

/// Changes one character near the end of a JWS / JWT (inside its signature, clear of the
/// last character's unused bits).
#[cfg(any(feature = "apple", feature = "google"))]
fn corrupt_signature(s: &str) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    let i = chars.len() - 5;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

fn forgeries(gw: &StoreGateway, receipt: &str) -> Vec<Forgery> {
    let genuine = gw.sign(Some(receipt));
    match gw.kind {
        StoreId::STRIPE => {
            let forger = StripeSigner::new("whsec_not_the_secret");
            let mut missing = HeaderMap::new();
            missing.insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            vec![
                Forgery::unauthenticated(
                    "signed with another secret",
                    forger.headers(now(), &genuine.body),
                    genuine.body.clone(),
                ),
                Forgery::unauthenticated(
                    "tampered body",
                    genuine.headers.clone(),
                    replace(
                        &genuine.body,
                        "subscription.created",
                        "subscription.deleted",
                    ),
                ),
                Forgery {
                    what: "no signature header",
                    headers: missing,
                    body: genuine.body.clone(),
                    status: 400,
                    outcome: "malformed",
                },
            ]
        }
        #[cfg(feature = "apple")]
        StoreId::APPLE => {
            use store_notifications::apple::Environment;
            // A well-formed chain with Apple's markers, from a root the gateway does not trust.
            let forger = store_notifications::testing::AppleSigner::new(
                app::apple::DEMO_BUNDLE_ID,
                Environment::Sandbox,
            );
            let forged = forger.notification(
                "SUBSCRIBED",
                Some("INITIAL_BUY"),
                "f0f0f0f0-0000-4000-8000-000000000001",
                Some(receipt),
                now() * 1000,
            );
            let envelope: Value = serde_json::from_slice(&genuine.body).expect("json");
            let jws = envelope["signedPayload"].as_str().expect("jws");
            let tampered = json!({ "signedPayload": corrupt_signature(jws) }).to_string();
            vec![
                Forgery::unauthenticated(
                    "chain to an untrusted root",
                    forger.headers(),
                    forged.to_vec(),
                ),
                Forgery::unauthenticated(
                    "corrupted signature",
                    genuine.headers.clone(),
                    tampered.into_bytes(),
                ),
            ]
        }
        #[cfg(feature = "google")]
        StoreId::GOOGLE => {
            use store_notifications::testing::GoogleSigner;
            let signer = GoogleSigner::new();
            let bearer = genuine.headers[http::header::AUTHORIZATION]
                .to_str()
                .expect("ascii")
                .to_owned();
            let token = bearer.strip_prefix("Bearer ").expect("bearer");
            let other_audience = signer.id_token(
                "https://attacker.example/push",
                app::google::DEMO_SERVICE_ACCOUNT,
                now(),
            );
            let other_account = signer.id_token(
                app::google::DEMO_AUDIENCE,
                "someone-else@attacker.iam.gserviceaccount.com",
                now(),
            );
            let unknown_key = GoogleSigner::new().with_kid("not-a-trusted-kid").id_token(
                app::google::DEMO_AUDIENCE,
                app::google::DEMO_SERVICE_ACCOUNT,
                now(),
            );
            vec![
                Forgery::unauthenticated(
                    "corrupted token signature",
                    GoogleSigner::headers(&corrupt_signature(token)),
                    genuine.body.clone(),
                ),
                Forgery::unauthenticated(
                    "token for another push subscription",
                    GoogleSigner::headers(&other_audience),
                    genuine.body.clone(),
                ),
                Forgery::unauthenticated(
                    "token of another service account",
                    GoogleSigner::headers(&other_account),
                    genuine.body.clone(),
                ),
                Forgery::unauthenticated(
                    "token signed by an untrusted key id",
                    GoogleSigner::headers(&unknown_key),
                    genuine.body.clone(),
                ),
                Forgery::unauthenticated("no token", HeaderMap::new(), genuine.body.clone()),
            ]
        }
        #[cfg(feature = "amazon")]
        StoreId::AMAZON => {
            use store_notifications::testing::{RtnMessageBuilder, SnsSigner};
            let unpinned = SnsSigner::new()
                .notification(
                    RtnMessageBuilder::new(
                        app::amazon::DEMO_APP_PACKAGE_NAME,
                        "SUBSCRIPTION_PURCHASED",
                        receipt,
                    )
                    .to_json(),
                )
                .signing_cert_url(
                    "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-unpinned.pem",
                )
                .sign();
            let off_host = SnsSigner::new()
                .notification(
                    RtnMessageBuilder::new(
                        app::amazon::DEMO_APP_PACKAGE_NAME,
                        "SUBSCRIPTION_PURCHASED",
                        receipt,
                    )
                    .to_json(),
                )
                .signing_cert_url(format!(
                    "https://attacker.example/{}",
                    SnsSigner::CERT_FILE_NAME
                ))
                .sign();
            vec![
                Forgery::unauthenticated(
                    "tampered message",
                    genuine.headers.clone(),
                    replace(
                        &genuine.body,
                        "SUBSCRIPTION_PURCHASED",
                        "SUBSCRIPTION_CANCELLED",
                    ),
                ),
                Forgery::unauthenticated(
                    "certificate not pinned",
                    unpinned.headers,
                    unpinned.body.to_vec(),
                ),
                Forgery::unauthenticated(
                    "certificate URL off the SNS host",
                    off_host.headers,
                    off_host.body.to_vec(),
                ),
            ]
        }
        other => panic!("no forgeries for {other}"),
    }
}

async fn forged_deliveries_are_401_and_record_nothing(db: &str, kind: StoreId) {
    let gw = start_store(db, kind).await;
    let receipt = gw.reference();
    assert_eq!(gw.track(&receipt).await.status, 201);
    let forgeries = forgeries(&gw, &receipt);
    for f in &forgeries {
        let reply = gw.post(&f.headers, &f.body).await;
        assert_eq!(
            (reply.status, outcome(&reply)),
            (f.status, f.outcome),
            "{kind}: {}: {}",
            f.what,
            reply.text()
        );
    }
    assert!(gw.events().await.is_empty());
    let status = gw.status().await;
    assert_eq!(status["last_received_at"], Value::Null);
    assert_eq!(status["counts"]["tracked"], 0);
    let unauthenticated = forgeries.iter().filter(|f| f.status == 401).count();
    assert_eq!(
        status["counts"]["rejected"]["unauthenticated"], unauthenticated,
        "{status}"
    );
    // The genuine delivery still goes through.
    let reply = gw.deliver(&gw.sign(Some(&receipt))).await;
    assert_eq!((reply.status, outcome(&reply)), (200, "tracked"));
    gw.stop().await;
}

/// `body` padded with trailing whitespace to `len` bytes (JSON still, and the same signed
/// content for every store but Stripe, whose signature covers every byte: re-signed).
fn padded(gw: &StoreGateway, delivery: &Delivery, len: usize) -> (HeaderMap, Vec<u8>) {
    let mut body = delivery.body.clone();
    assert!(body.len() <= len);
    body.resize(len, b' ');
    let headers = if gw.kind == StoreId::STRIPE {
        let secret = app::keys::read(&gw.keys.0, app::stripe::SECRET_FILE).expect("secret");
        StripeSigner::new(secret).headers(now(), &body)
    } else {
        delivery.headers.clone()
    };
    (headers, body)
}

async fn oversize_body_is_413_and_records_nothing(db: &str, kind: StoreId) {
    let gw = start_store(db, kind).await;
    let delivery = gw.sign(Some(&gw.reference()));
    let (headers, body) = padded(&gw, &delivery, app::routes::BODY_LIMIT + 1);
    let reply = gw.post(&headers, &body).await;
    assert_eq!((reply.status, outcome(&reply)), (413, "payload_too_large"));

    // Exactly at the limit is read, verified and answered normally.
    let (headers, body) = padded(&gw, &delivery, app::routes::BODY_LIMIT);
    let reply = gw.post(&headers, &body).await;
    assert_eq!(
        (reply.status, outcome(&reply)),
        (200, "untracked"),
        "{}",
        reply.text()
    );

    assert!(gw.events().await.is_empty());
    let status = gw.status().await;
    assert_eq!(
        status["counts"]["rejected"]["payload_too_large"], 1,
        "{status}"
    );
    gw.stop().await;
}

async fn redeliveries_are_handled_once_even_concurrently(db: &str, kind: StoreId) {
    let gw = start_store(db, kind).await;
    let receipt = gw.reference();
    assert_eq!(gw.track(&receipt).await.status, 201);
    let once = gw.sign(Some(&receipt));
    let first = gw.deliver(&once).await;
    let again = gw.deliver(&once).await;
    assert_eq!((first.status, first.text().as_str()), (200, "recorded\n"));
    assert_eq!(
        (again.status, again.text().as_str()),
        (200, "already handled (redelivery)\n")
    );

    // Stores may deliver the same notification to several instances at once.
    let racing = gw.sign(Some(&receipt));
    let replies = futures_join_all((0..8).map(|_| gw.deliver(&racing)).collect::<Vec<_>>()).await;
    assert!(replies.iter().all(|r| r.status == 200), "{replies:?}");
    let recorded = replies.iter().filter(|r| r.text() == "recorded\n").count();
    assert_eq!(recorded, 1, "exactly one delivery runs the effect");

    let events = gw.events().await;
    let ids: Vec<&str> = events.iter().filter_map(|e| e["id"].as_str()).collect();
    assert_eq!(
        ids,
        [racing.id.as_str(), once.id.as_str()],
        "newest first, each once"
    );
    gw.stop().await;
}

async fn restart_on_the_same_database_loses_nothing(db: &str, kind: StoreId) {
    let gw = start_store(db, kind).await;
    let receipt = gw.reference();
    assert_eq!(gw.track(&receipt).await.status, 201);
    let tracked = gw.sign(Some(&receipt));
    assert_eq!(gw.deliver(&tracked).await.status, 200);
    assert_eq!(
        gw.deliver(&gw.sign(Some(&gw.reference()))).await.status,
        200
    );
    assert_eq!(gw.deliver(&gw.sign(None)).await.status, 200);
    let status = gw.status().await;
    let events = gw.events().await;

    let gw = gw.restart().await;
    assert_eq!(gw.status().await, status, "status survives");
    assert_eq!(gw.events().await, events, "events survive");
    assert_eq!(gw.track(&receipt).await.status, 200, "still tracked");
    let replay = gw.deliver(&tracked).await;
    assert_eq!(
        replay.text(),
        "already handled (redelivery)\n",
        "dedupe survives"
    );
    assert_eq!(gw.events().await.len(), events.len());
    gw.stop().await;
}

/// Stripe's own gateway for the Stripe-specific cases: configured from the environment
/// variable, as in production.
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
    assert_eq!(running.enabled, [StoreId::STRIPE]);
    Gateway {
        running,
        signer: StripeSigner::new(SECRET),
    }
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

    async fn track(&self, store: &str, receipt: &str) -> Reply {
        client::post_json(
            &self.running.url("/receipts"),
            &json!({ "store": store, "receipt": receipt }),
        )
        .await
        .expect("request")
    }

    async fn get_json(&self, path: &str) -> Value {
        get_json(&self.running, path).await
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
            .dead_letter_count(StoreId::STRIPE)
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

async fn database_status_and_dead_letters_pass_the_crate_conformance_checks(db: &str) {
    let db = Db::connect(db).await.expect("connect");
    store_notifications::status::conformance::check(&db).await;
    let reader = db.clone();
    store_notifications::dead_letter::conformance::check(&db, move || {
        let reader = reader.clone();
        async move {
            reader
                .dead_letters()
                .await
                .expect("read dead letters")
                .into_iter()
                .map(|(store, body)| (store.parse().expect("a built-in store"), body))
                .collect()
        }
    })
    .await;
    db.close().await;
}

/// PostgreSQL's btree refuses entries over ~2,700 bytes; the keys are digests, so an
/// authentic event with a 3,000-byte id and a 4,096-byte receipt reference (the longest
/// `POST /receipts` takes) are tracked, recorded and deduplicated as on SQLite.
async fn long_ids_and_references_are_stored_alike_on_both_databases(db: &str) {
    let gw = start(db).await;
    let receipt = format!("sub_{}", "r".repeat(app::routes::MAX_REFERENCE_LEN - 4));
    assert_eq!(gw.track("stripe", &receipt).await.status, 201);
    assert_eq!(gw.track("stripe", &receipt).await.status, 200, "same key");
    let too_long = "r".repeat(app::routes::MAX_REFERENCE_LEN + 1);
    assert_eq!(gw.track("stripe", &too_long).await.status, 422);
    let id = format!("evt_{}", "i".repeat(3000));
    let body = gw.event(&id, "customer.subscription.updated", Some(&receipt));
    let first = gw.post_signed(&body, &gw.signer).await;
    assert_eq!(
        (first.status, outcome(&first)),
        (200, "tracked"),
        "{}",
        first.text()
    );
    assert_eq!(first.text(), "recorded\n");
    let again = gw.post_signed(&body, &gw.signer).await;
    assert_eq!(again.text(), "already handled (redelivery)\n");
    let events = gw.events().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["id"], id.as_str());
    assert_eq!(events[0]["receipt"], receipt.as_str());
    gw.running.stop().await.expect("stop");
}

/// A database written by 0.1 (receipts and deliveries keyed on the raw values) is migrated
/// at start-up: its receipts stay tracked and its deliveries stay deduplicated.
async fn tables_of_0_1_are_migrated_without_losing_a_receipt_or_a_delivery(db: &str) {
    sqlx::any::install_default_drivers();
    if db.starts_with("sqlite:") {
        let options: sqlx::sqlite::SqliteConnectOptions = db.parse().expect("url");
        let conn = sqlx::ConnectOptions::connect(&options.create_if_missing(true))
            .await
            .expect("create");
        conn.close().await.expect("close");
    }
    let mut conn = sqlx::AnyConnection::connect(db).await.expect("connect");
    for sql in [
        "CREATE TABLE receipts (store TEXT NOT NULL, reference TEXT NOT NULL, \
         tracked_at BIGINT NOT NULL, PRIMARY KEY (store, reference))",
        "CREATE TABLE deliveries (store TEXT NOT NULL, id TEXT NOT NULL, \
         handled_at BIGINT NOT NULL, PRIMARY KEY (store, id))",
        "INSERT INTO receipts VALUES ('stripe', 'sub_from_0_1', 1767225600)",
        "INSERT INTO deliveries VALUES ('stripe', 'evt_from_0_1', 1767225600)",
    ] {
        sqlx::query(sql).execute(&mut conn).await.expect(sql);
    }
    conn.close().await.expect("close");

    let gw = start(db).await;
    assert_eq!(
        gw.track("stripe", "sub_from_0_1").await.status,
        200,
        "still tracked"
    );
    let body = gw.event(
        "evt_from_0_1",
        "customer.subscription.updated",
        Some("sub_from_0_1"),
    );
    let reply = gw.post_signed(&body, &gw.signer).await;
    assert_eq!(reply.text(), "already handled (redelivery)\n");
    let body = gw.event(
        "evt_after_0_1",
        "customer.subscription.updated",
        Some("sub_from_0_1"),
    );
    let reply = gw.post_signed(&body, &gw.signer).await;
    assert_eq!((reply.status, outcome(&reply)), (200, "tracked"));
    gw.running.stop().await.expect("stop");
    // A second start finds nothing left to migrate.
    let gw = start(db).await;
    assert_eq!(gw.events().await.len(), 1);
    gw.running.stop().await.expect("stop");
}

/// Start-up time and requests/s on loopback (tracked deliveries, 16 in flight), per store:
/// `cargo test --release -p store-notifications-gateway --test gateway -- --ignored --nocapture throughput`
/// (`GATEWAY_BENCH_STORE=google` for one store, `GATEWAY_BENCH_REQUESTS=n`, and
/// `GATEWAY_TEST_DATABASE_URL` for PostgreSQL).
#[tokio::test(flavor = "multi_thread")]
#[ignore = "a measurement, not a test"]
async fn throughput() {
    let only = std::env::var("GATEWAY_BENCH_STORE").ok();
    let requests: usize = std::env::var("GATEWAY_BENCH_REQUESTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2000);
    for module in stores::MODULES {
        let kind = module.kind;
        if only.as_deref().is_some_and(|s| s != kind.as_str()) {
            continue;
        }
        let name = format!("throughput_{kind}");
        let pg = match TestDb::postgres_server() {
            Some(_) => TestDb::postgres(&name).await,
            None => None,
        };
        let db = pg.unwrap_or_else(|| TestDb::sqlite(&name));
        let started = Instant::now();
        let gw = start_store(&db.url, kind).await;
        let startup = started.elapsed();
        let receipt = gw.reference();
        assert_eq!(gw.track(&receipt).await.status, 201);
        // Signed up front: the measurement is the gateway's, not the signer's.
        let deliveries: Vec<Delivery> = (0..requests).map(|_| gw.sign(Some(&receipt))).collect();
        let url = gw.url();
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for chunk in deliveries.chunks(requests.div_ceil(16)) {
            let (chunk, url) = (chunk.to_vec(), url.clone());
            tasks.spawn(async move {
                for d in chunk {
                    let reply = client::send("POST", &url, &d.headers, &d.body)
                        .await
                        .expect("request");
                    assert_eq!(reply.status, 200, "{}", reply.text());
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.expect("task");
        }
        let elapsed = started.elapsed();
        assert_eq!(gw.status().await["counts"]["tracked"], requests);
        println!(
            "{:<7} {}: start-up {:.1} ms; {requests} tracked deliveries in {:.2} s = {:.0} requests/s",
            kind.as_str(),
            db.url.split(':').next().unwrap_or("?"),
            startup.as_secs_f64() * 1000.0,
            elapsed.as_secs_f64(),
            requests as f64 / elapsed.as_secs_f64().max(f64::EPSILON)
        );
        gw.stop().await;
    }
}

/// The environment variables that make a gateway trust the demo's keys in `keys`, as an
/// operator would set them (the demo's `Config`, written out).
fn demo_vars(keys: &Path) -> Vec<(&'static str, String)> {
    #[allow(unused_variables)]
    let path = |name: &str| keys.join(name).display().to_string();
    let secret = app::keys::read(keys, app::stripe::SECRET_FILE).expect("stripe secret");
    #[allow(unused_mut)]
    let mut vars = vec![("STRIPE_WEBHOOK_SECRET", secret)];
    #[cfg(feature = "apple")]
    vars.extend([
        ("APPLE_BUNDLE_ID", app::apple::DEMO_BUNDLE_ID.to_owned()),
        (
            "APPLE_APP_APPLE_ID",
            app::apple::DEMO_APP_APPLE_ID.to_string(),
        ),
        (
            "APPLE_ENVIRONMENT",
            app::apple::DEMO_ENVIRONMENT.as_str().to_owned(),
        ),
        ("APPLE_ROOT_CERTS", path(app::apple::ROOT_FILE)),
    ]);
    #[cfg(feature = "google")]
    vars.extend([
        (
            "GOOGLE_PACKAGE_NAME",
            app::google::DEMO_PACKAGE_NAME.to_owned(),
        ),
        (
            "GOOGLE_PUSH_AUDIENCE",
            app::google::DEMO_AUDIENCE.to_owned(),
        ),
        (
            "GOOGLE_PUSH_SERVICE_ACCOUNT",
            app::google::DEMO_SERVICE_ACCOUNT.to_owned(),
        ),
        ("GOOGLE_JWKS_FILE", path(app::google::JWKS_FILE)),
    ]);
    #[cfg(feature = "amazon")]
    vars.extend([
        ("AMAZON_SNS_CERT_DIR", path(app::amazon::CERT_DIR)),
        (
            "AMAZON_SNS_TOPIC_ARNS",
            store_notifications::testing::SnsSigner::TOPIC_ARN.to_owned(),
        ),
        (
            "AMAZON_APP_PACKAGE_NAME",
            app::amazon::DEMO_APP_PACKAGE_NAME.to_owned(),
        ),
        ("AMAZON_AUTO_CONFIRM", "false".to_owned()),
    ]);
    vars
}

/// The README's first command, `gateway --demo`, as a process: its table shows the three
/// deliveries of every store; a second process on the same database, configured through the
/// environment to trust the demo's keys in `DEMO_KEYS_DIR`, still has everything, and the
/// `simulate` example's deliveries reach it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_process_fires_its_deliveries_and_a_restarted_process_keeps_them() {
    let db = TestDb::sqlite("demo_process");
    let keys = KeysDir::new("demo_process");
    let keys_str = keys.0.display().to_string();
    let vars = [
        ("BIND", "127.0.0.1:0"),
        ("DATABASE_URL", db.url.as_str()),
        ("DEMO_KEYS_DIR", keys_str.as_str()),
    ];
    let mut demo = common::Process::start("demo_process", &["--demo"], &vars);
    let base = demo.base.clone();
    demo.wait_for("send another", std::time::Duration::from_secs(60));
    let table: Vec<String> = demo.stdout().lines().map(str::to_owned).collect();
    let mut handled = 0;
    for module in stores::MODULES {
        let store = module.kind.as_str();
        for (case, expected) in [
            ("tracked", "tracked"),
            ("untracked", "untracked"),
            ("test", test_outcome(module.kind)),
        ] {
            let line = table
                .iter()
                .find(|l| {
                    let mut cols = l.split_whitespace();
                    cols.next() == Some(store) && cols.next() == Some(case)
                })
                .unwrap_or_else(|| panic!("no {store} {case} row in {table:#?}"));
            let cols: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(cols.get(2..4), Some(&["200", expected][..]), "{line}");
            if matches!(expected, "tracked" | "test" | "unreferenced") {
                handled += 1;
            }
        }
    }
    let events = client::get(&format!("{base}/events"))
        .await
        .expect("events");
    let events = events.json().expect("json");
    assert_eq!(events.as_array().map(Vec::len), Some(handled), "{events}");
    drop(demo);

    let mut vars: Vec<(&str, String)> = demo_vars(&keys.0);
    vars.extend([
        ("BIND", "127.0.0.1:0".to_owned()),
        ("DATABASE_URL", db.url.clone()),
        ("DEMO_KEYS_DIR", keys_str.clone()),
    ]);
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let again = common::Process::start("demo_process_again", &[], &vars);
    let base = again.base.clone();
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
    let status = status.json().expect("json");
    for module in stores::MODULES {
        let s = &status["stores"][module.kind.as_str()];
        assert_eq!(s["enabled"], true, "{}: {s}", module.kind);
        assert_eq!(s["counts"]["tracked"], 1, "{}: {s}", module.kind);
        assert!(s["last_received_at"].is_string(), "{}: {s}", module.kind);
    }
    #[cfg(feature = "amazon")]
    assert_eq!(
        status["stores"]["amazon"]["subscription"]["state"], "pending_confirmation",
        "{status}"
    );

    // `simulate`, with the demo's keys, against the restarted process.
    {
        for module in stores::MODULES {
            let url = format!("{base}{}", stores::path(module.kind));
            let args = [
                "simulate",
                module.kind.as_str(),
                url.as_str(),
                "--receipt",
                "not-tracked-here",
            ];
            let out = common::command(&again.dir, &args, &[("DEMO_KEYS_DIR", keys_str.as_str())])
                .output()
                .expect("run simulate");
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && stdout.contains("200 untracked"),
                "{}: {stdout}{}",
                module.kind,
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    drop(again);
}
