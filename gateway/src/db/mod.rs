//! The gateway's state in SQLite or PostgreSQL, behind the crate's three storage traits:
//! [`ReceiptHook`] (the `receipts` table), [`StatusStore`] (`outcome_counts`, `store_status`)
//! and [`DeadLetterSink`] (`dead_letters`), plus the handler's own effect: the `events` table,
//! guarded by the `deliveries` dedupe table.
//!
//! One code path for both databases (sqlx's `Any` driver): the SQL is the common subset
//! (`$n` parameters, `INSERT … ON CONFLICT`, times as Unix seconds in `BIGINT`); only the
//! auto-increment and blob column types differ.
//!
//! # "Acknowledged" means "committed"
//!
//! Every write runs in a `WriteTx`: a pooled connection on which the gateway itself says
//! `BEGIN IMMEDIATE` (SQLite: take the write lock now) or `BEGIN` (PostgreSQL) and `COMMIT`,
//! instead of sqlx's `Transaction`. A connection whose transaction did not end in a
//! successful `COMMIT` or `ROLLBACK` — an error, a timeout, a cancelled request — is closed,
//! never returned to the pool. sqlx 0.8.6's own transactions keep counting depth on a SQLite
//! connection after `COMMIT` fails with `SQLITE_FULL`, so every later `begin`/`commit` on it
//! becomes a `SAVEPOINT`/`RELEASE` inside a transaction that is never committed while
//! `commit()` answers `Ok`: the gateway would acknowledge events it never stored.
//!
//! # Every wait has a bound
//!
//! Acquiring a connection and every statement or transaction are bounded by
//! [`Limits::database`](super::config::Limits) on the client side (a frozen server answers
//! nothing, so a server-side timeout alone is not enough), and by `statement_timeout` /
//! `busy_timeout` on the server side.
//!
//! # Long identifiers
//!
//! Idempotency ids and receipt references are unbounded strings (a PostgreSQL btree entry is
//! not: about 2,700 bytes), so the unique keys are SHA-256 digests of them ([`key`]), the same
//! on both databases; the values themselves are kept in unindexed columns.

use std::future::Future;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use serde::Serialize;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{Any, AnyConnection, AnyPool, ConnectOptions, Connection, Executor, Row};
use store_notifications::status::{Counts, StoreStatus};
use store_notifications::{
    BoxError, DeadLetter, DeadLetterSink, Event, Outcome, Receipt, ReceiptHook, StatusSnapshot,
    StatusStore, StoreId, Subscription, SubscriptionState,
};

use super::time;

/// Which database is behind the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `sqlite:…` (bundled SQLite).
    Sqlite,
    /// `postgres://…` or `postgresql://…`.
    Postgres,
}

impl Backend {
    /// The backend a database URL names.
    pub fn of(url: &str) -> Result<Backend, BoxError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err("DATABASE_URL must start with sqlite: or postgres://".into())
        }
    }
}

mod batch;

/// The gateway's database. Cheap to clone (a pool and the group-commit writer's queue).
#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    timeout: Duration,
    /// The group-commit writer ([`batch`]); `None` in the writer's own handle.
    writer: Option<tokio::sync::mpsc::Sender<batch::Job>>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("backend", &self.backend)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// The unique key of an id or a receipt reference: the hex SHA-256 of its bytes (64 bytes,
/// whatever the value's length).
pub fn key(value: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, value.as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in digest.as_ref() {
        hex.push(char::from(b"0123456789abcdef"[usize::from(byte >> 4)]));
        hex.push(char::from(b"0123456789abcdef"[usize::from(byte & 0xf)]));
    }
    hex
}

/// A write transaction on a connection of its own. Dropped without a successful
/// [`commit`](WriteTx::commit) or [`rollback`](WriteTx::rollback), it closes the connection
/// (the database rolls the transaction back) instead of returning it to the pool.
struct WriteTx {
    conn: Option<PoolConnection<Any>>,
}

impl WriteTx {
    fn conn(&mut self) -> Result<&mut AnyConnection, BoxError> {
        self.conn
            .as_deref_mut()
            .ok_or_else(|| "transaction already ended".into())
    }

    async fn finish(mut self, statement: &str) -> Result<(), BoxError> {
        // On error `self` drops here, closing the connection.
        self.conn()?.execute(statement).await?;
        // Ended cleanly: the connection goes back to the pool.
        drop(self.conn.take());
        Ok(())
    }

    /// `COMMIT`: `Ok` only when the database said the commit happened.
    async fn commit(self) -> Result<(), BoxError> {
        self.finish("COMMIT").await
    }
}

impl Drop for WriteTx {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.as_mut() {
            conn.close_on_drop();
        }
    }
}

/// What [`Db::record_event`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// First delivery of this id: the event was recorded.
    New,
    /// A redelivery: already recorded, nothing done.
    Duplicate,
}

/// One row of `GET /events`.
#[derive(Debug, Clone, Serialize)]
pub struct EventRow {
    /// `apple`, `google`, `stripe` or `amazon`.
    pub store: String,
    /// The store's idempotency id.
    pub id: String,
    /// The receipt reference, if any (redacted when it is a credential).
    pub receipt: Option<String>,
    /// A test notification.
    pub test: bool,
    /// The store's own type string.
    #[serde(rename = "type")]
    pub notification_type: String,
    /// The normalised kind ([`store_notifications::EventKind`]).
    pub kind: String,
    /// The product, if known.
    pub product: Option<String>,
    /// The environment, if known.
    pub environment: Option<String>,
    /// When it happened according to the store (RFC 3339), if it says.
    pub occurred_at: Option<String>,
    /// When the gateway handled it (RFC 3339).
    pub received_at: String,
}

impl Db {
    /// Connects with the default 3 s bound on every wait (see [`connect_with`](Db::connect_with)).
    pub async fn connect(url: &str) -> Result<Db, BoxError> {
        Db::connect_with(url, Duration::from_secs(3)).await
    }

    /// Connects, creating a SQLite file if missing, and creates the tables if needed.
    /// `timeout` bounds acquiring a connection and each statement or transaction.
    pub async fn connect_with(url: &str, timeout: Duration) -> Result<Db, BoxError> {
        install_default_drivers();
        let backend = Backend::of(url)?;
        if backend == Backend::Sqlite {
            // The Any driver takes only a URL; open the file once natively to create it and
            // switch it to WAL (persistent), so readers never block the writer.
            let conn = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .connect()
                .await?;
            conn.close().await?;
        }
        let millis = timeout.as_millis().max(1);
        let session = match backend {
            // SQLite waits this long for the write lock before answering SQLITE_BUSY.
            Backend::Sqlite => format!("PRAGMA busy_timeout = {millis}"),
            // The server gives up on a statement, a lock or an abandoned transaction itself.
            Backend::Postgres => format!(
                "SET statement_timeout = {millis}; SET lock_timeout = {millis}; \
                 SET idle_in_transaction_session_timeout = {}",
                millis.saturating_mul(4)
            ),
        };
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 8 })
            .acquire_timeout(timeout)
            .after_connect(move |conn, _| {
                let session = session.clone();
                Box::pin(async move {
                    conn.execute(session.as_str()).await?;
                    Ok(())
                })
            })
            .connect(url);
        let pool = tokio::time::timeout(timeout, pool)
            .await
            .map_err(|_| format!("cannot open the database: no answer within {timeout:?}"))?
            .map_err(|e| format!("cannot open the database: {e}"))?;
        let mut db = Db {
            pool,
            backend,
            timeout,
            writer: None,
        };
        db.migrate().await?;
        db.writer = Some(batch::spawn(db.clone()));
        Ok(db)
    }

    /// Queues `job` for the group-commit writer (bounded: a full queue is an error).
    async fn enqueue(&self, job: batch::Job) -> Result<(), BoxError> {
        let writer = self.writer.as_ref().ok_or("no writer")?;
        match tokio::time::timeout(self.timeout, writer.send(job)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err("database writer stopped".into()),
            Err(_) => Err(format!("database writer busy for {:?}", self.timeout).into()),
        }
    }

    /// Writes the pending status counters now (reads of the status call it first).
    pub async fn flush(&self) -> Result<(), BoxError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.enqueue(batch::Job::Flush { reply }).await?;
        self.bounded("flushing the counters", async {
            answer.await.map_err(|_| "database writer stopped")??;
            Ok(())
        })
        .await
    }

    /// Runs `work` with the database bound: past it, an error (the caller answers 503).
    async fn bounded<T>(
        &self,
        what: &str,
        work: impl Future<Output = Result<T, BoxError>>,
    ) -> Result<T, BoxError> {
        match tokio::time::timeout(self.timeout, work).await {
            Ok(done) => done,
            Err(_) => Err(format!("database: {what} timed out after {:?}", self.timeout).into()),
        }
    }

    /// Starts a write transaction: SQLite takes the write lock at once (`BEGIN IMMEDIATE`,
    /// which also fails on a connection that is somehow inside a transaction already).
    async fn begin_write(&self) -> Result<WriteTx, BoxError> {
        let mut tx = WriteTx {
            conn: Some(self.pool.acquire().await?),
        };
        let begin = match self.backend {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        };
        tx.conn()?.execute(begin).await?;
        Ok(tx)
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Writes the pending counters and closes the pool.
    pub async fn close(&self) {
        if let Err(e) = self.flush().await {
            tracing::warn!(error = %e, "the last status counters could not be written");
        }
        self.pool.close().await;
    }

    async fn migrate(&self) -> Result<(), BoxError> {
        let (serial, blob) = match self.backend {
            Backend::Sqlite => ("INTEGER PRIMARY KEY AUTOINCREMENT", "BLOB"),
            Backend::Postgres => (
                "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
                "BYTEA",
            ),
        };
        let schema = [
            // Unique keys are digests (see [`key`]): any length fits either database's index.
            "CREATE TABLE IF NOT EXISTS tracked_receipts (store TEXT NOT NULL, \
             reference_key TEXT NOT NULL, reference TEXT NOT NULL, tracked_at BIGINT NOT NULL, \
             PRIMARY KEY (store, reference_key))"
                .to_owned(),
            "CREATE TABLE IF NOT EXISTS handled_deliveries (store TEXT NOT NULL, \
             id_key TEXT NOT NULL, handled_at BIGINT NOT NULL, PRIMARY KEY (store, id_key))"
                .to_owned(),
            format!(
                "CREATE TABLE IF NOT EXISTS events (seq {serial}, store TEXT NOT NULL, \
                 id TEXT NOT NULL, receipt TEXT, test BIGINT NOT NULL, event_type TEXT NOT NULL, \
                 kind TEXT NOT NULL, product TEXT, environment TEXT, occurred_at BIGINT, \
                 received_at BIGINT NOT NULL, receipt_sensitive BIGINT NOT NULL DEFAULT 0)"
            ),
            "CREATE INDEX IF NOT EXISTS events_by_store ON events (store, seq)".to_owned(),
            "CREATE TABLE IF NOT EXISTS outcome_counts (store TEXT NOT NULL, \
             outcome TEXT NOT NULL, n BIGINT NOT NULL, PRIMARY KEY (store, outcome))"
                .to_owned(),
            // Deliveries per store, hour and outcome, for the page's 48-hour chart.
            "CREATE TABLE IF NOT EXISTS hourly_outcomes (store TEXT NOT NULL, \
             hour BIGINT NOT NULL, outcome TEXT NOT NULL, n BIGINT NOT NULL, \
             PRIMARY KEY (store, hour, outcome))"
                .to_owned(),
            "CREATE TABLE IF NOT EXISTS store_status (store TEXT PRIMARY KEY, \
             last_received_at BIGINT, subscription_topic TEXT, subscription_state TEXT, \
             subscription_at BIGINT, subscription_token TEXT, subscription_url TEXT)"
                .to_owned(),
            format!(
                "CREATE TABLE IF NOT EXISTS dead_letters (seq {serial}, store TEXT NOT NULL, \
                 reason TEXT NOT NULL, body {blob} NOT NULL, received_at BIGINT NOT NULL)"
            ),
        ];
        // Migrations may wait on another instance's lock: a longer bound than a delivery's.
        let bound = self.timeout.saturating_mul(10);
        let work = async {
            let mut tx = self.begin_write().await?;
            if self.backend == Backend::Postgres {
                // Several instances starting at once would race on CREATE TABLE IF NOT
                // EXISTS (a unique violation in pg_type); the first takes the lock, the
                // others wait.
                sqlx::query("SELECT 1 FROM (SELECT pg_advisory_xact_lock(7261853)) AS locked")
                    .execute(tx.conn()?)
                    .await?;
            }
            for statement in &schema {
                sqlx::query(statement).execute(tx.conn()?).await?;
            }
            self.migrate_v1_tables(&mut tx).await?;
            self.migrate_v1_events(&mut tx).await?;
            tx.commit().await
        };
        tokio::time::timeout(bound, work)
            .await
            .map_err(|_| format!("database: migration timed out after {bound:?}"))?
    }

    /// Adds 0.1's `events` the `receipt_sensitive` column; 0.1's sensitive references were
    /// Google's purchase tokens.
    async fn migrate_v1_events(&self, tx: &mut WriteTx) -> Result<(), BoxError> {
        let has_column = match self.backend {
            Backend::Sqlite => {
                "SELECT COUNT(*) AS n FROM pragma_table_info('events') \
                 WHERE name = 'receipt_sensitive'"
            }
            Backend::Postgres => {
                "SELECT COUNT(*) AS n FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = 'events' \
                 AND column_name = 'receipt_sensitive'"
            }
        };
        let row = sqlx::query(has_column).fetch_one(tx.conn()?).await?;
        if row.try_get::<i64, _>("n")? == 0 {
            for sql in [
                "ALTER TABLE events ADD COLUMN receipt_sensitive BIGINT NOT NULL DEFAULT 0",
                "UPDATE events SET receipt_sensitive = 1 WHERE store = 'google'",
            ] {
                sqlx::query(sql).execute(tx.conn()?).await?;
            }
        }
        Ok(())
    }

    /// Moves rows of the 0.1 tables (`receipts`, `deliveries`, keyed on the raw values) into
    /// the digest-keyed ones, then drops them. Nothing tracked or handled is forgotten.
    async fn migrate_v1_tables(&self, tx: &mut WriteTx) -> Result<(), BoxError> {
        let exists = match self.backend {
            Backend::Sqlite => {
                "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = $1"
            }
            Backend::Postgres => {
                "SELECT COUNT(*) AS n FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_name = $1"
            }
        };
        for table in ["receipts", "deliveries"] {
            let row = sqlx::query(exists)
                .bind(table)
                .fetch_one(tx.conn()?)
                .await?;
            if row.try_get::<i64, _>("n")? == 0 {
                continue;
            }
            if table == "receipts" {
                let rows = sqlx::query("SELECT store, reference, tracked_at FROM receipts")
                    .fetch_all(tx.conn()?)
                    .await?;
                for row in &rows {
                    let reference: String = row.try_get("reference")?;
                    sqlx::query(
                        "INSERT INTO tracked_receipts (store, reference_key, reference, \
                         tracked_at) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (store, reference_key) DO NOTHING",
                    )
                    .bind(row.try_get::<String, _>("store")?)
                    .bind(key(&reference))
                    .bind(reference)
                    .bind(row.try_get::<i64, _>("tracked_at")?)
                    .execute(tx.conn()?)
                    .await?;
                }
            } else {
                let rows = sqlx::query("SELECT store, id, handled_at FROM deliveries")
                    .fetch_all(tx.conn()?)
                    .await?;
                for row in &rows {
                    sqlx::query(
                        "INSERT INTO handled_deliveries (store, id_key, handled_at) \
                         VALUES ($1, $2, $3) ON CONFLICT (store, id_key) DO NOTHING",
                    )
                    .bind(row.try_get::<String, _>("store")?)
                    .bind(key(&row.try_get::<String, _>("id")?))
                    .bind(row.try_get::<i64, _>("handled_at")?)
                    .execute(tx.conn()?)
                    .await?;
                }
            }
            sqlx::query(&format!("DROP TABLE {table}"))
                .execute(tx.conn()?)
                .await?;
        }
        Ok(())
    }

    /// Answers whether the database is reachable.
    pub async fn ping(&self) -> Result<(), BoxError> {
        self.bounded("ping", async {
            sqlx::query("SELECT 1").execute(&self.pool).await?;
            Ok(())
        })
        .await
    }

    /// Tracks a receipt; `false` if it was tracked already.
    pub async fn track(&self, store: StoreId, reference: &str) -> Result<bool, BoxError> {
        self.bounded("tracking a receipt", async {
            let mut tx = self.begin_write().await?;
            let done = sqlx::query(
                "INSERT INTO tracked_receipts (store, reference_key, reference, tracked_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (store, reference_key) DO NOTHING",
            )
            .bind(store.as_str())
            .bind(key(reference))
            .bind(reference)
            .bind(time::now())
            .execute(tx.conn()?)
            .await?;
            tx.commit().await?;
            Ok(done.rows_affected() == 1)
        })
        .await
    }

    /// Records what the handler saw, once per `(store, id)`.
    ///
    /// The dedupe claim and the effect commit in one transaction: a redelivery racing the
    /// first delivery waits on the primary key (PostgreSQL) or the write lock (SQLite) and
    /// then finds the claim, and a crash between the two leaves neither, so the store's retry
    /// does the work.
    pub async fn record_event(&self, event: &Event, at: SystemTime) -> Result<Recorded, BoxError> {
        // Group commit: answered after the COMMIT of the batch holding it (see `batch`).
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.enqueue(batch::Job::Event {
            event: Box::new(event.clone()),
            at,
            reply,
        })
        .await?;
        self.bounded("recording an event", async {
            Ok(answer.await.map_err(|_| "database writer stopped")??)
        })
        .await
    }

    /// Events, newest first, optionally of one store.
    pub async fn events(
        &self,
        store: Option<StoreId>,
        limit: i64,
    ) -> Result<Vec<EventRow>, BoxError> {
        self.bounded("listing events", self.events_unbounded(store, limit))
            .await
    }

    async fn events_unbounded(
        &self,
        store: Option<StoreId>,
        limit: i64,
    ) -> Result<Vec<EventRow>, BoxError> {
        const COLUMNS: &str = "SELECT store, id, receipt, test, event_type, kind, product, \
                               environment, occurred_at, received_at, receipt_sensitive \
                               FROM events";
        let rows = match store {
            Some(store) => {
                sqlx::query(&format!(
                    "{COLUMNS} WHERE store = $1 ORDER BY seq DESC LIMIT $2"
                ))
                .bind(store.as_str())
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(&format!("{COLUMNS} ORDER BY seq DESC LIMIT $1"))
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.iter()
            .map(|row| {
                Ok(EventRow {
                    store: row.try_get("store")?,
                    id: row.try_get("id")?,
                    // Credentials (Google purchase tokens) are shown recognisable, not whole.
                    receipt: row.try_get::<Option<String>, _>("receipt")?.map(|r| {
                        match row.try_get::<i64, _>("receipt_sensitive") {
                            Ok(0) => r,
                            _ => store_notifications::hook::redact(&r),
                        }
                    }),
                    test: row.try_get::<i64, _>("test")? != 0,
                    notification_type: row.try_get("event_type")?,
                    kind: row.try_get("kind")?,
                    product: row.try_get("product")?,
                    environment: row.try_get("environment")?,
                    occurred_at: row
                        .try_get::<Option<i64>, _>("occurred_at")?
                        .map(time::rfc3339),
                    received_at: time::rfc3339(row.try_get("received_at")?),
                })
            })
            .collect()
    }

    /// Deliveries per hour since `since_hour` (Unix hours), as `(hour, outcome key, n)` summed
    /// over the stores. (Rows are kept: one per store, hour and outcome is small.)
    pub async fn hourly(&self, since_hour: i64) -> Result<Vec<(i64, String, i64)>, BoxError> {
        self.bounded("reading the hourly counts", async {
            let rows = sqlx::query(
                "SELECT hour, outcome, CAST(SUM(n) AS BIGINT) AS n FROM hourly_outcomes \
                 WHERE hour >= $1 GROUP BY hour, outcome ORDER BY hour",
            )
            .bind(since_hour)
            .fetch_all(&self.pool)
            .await?;
            rows.iter()
                .map(|row| {
                    Ok((
                        row.try_get("hour")?,
                        row.try_get("outcome")?,
                        row.try_get("n")?,
                    ))
                })
                .collect()
        })
        .await
    }

    /// Every dead letter kept, as `(store, body)`.
    pub async fn dead_letters(&self) -> Result<Vec<(String, Vec<u8>)>, BoxError> {
        self.bounded("reading dead letters", async {
            let rows = sqlx::query("SELECT store, body FROM dead_letters ORDER BY seq")
                .fetch_all(&self.pool)
                .await?;
            rows.iter()
                .map(|row| Ok((row.try_get("store")?, row.try_get("body")?)))
                .collect()
        })
        .await
    }

    /// How many dead letters are kept for `store`.
    pub async fn dead_letter_count(&self, store: StoreId) -> Result<i64, BoxError> {
        self.bounded("counting dead letters", async {
            let row = sqlx::query("SELECT COUNT(*) AS n FROM dead_letters WHERE store = $1")
                .bind(store.as_str())
                .fetch_one(&self.pool)
                .await?;
            Ok(row.try_get("n")?)
        })
        .await
    }
}

#[async_trait]
impl ReceiptHook for Db {
    async fn receipt_exists(&self, receipt: &Receipt) -> Result<bool, BoxError> {
        self.bounded("looking up a receipt", async {
            let row = sqlx::query(
                "SELECT 1 AS tracked FROM tracked_receipts \
                 WHERE store = $1 AND reference_key = $2",
            )
            .bind(receipt.store.as_str())
            .bind(key(&receipt.reference))
            .fetch_optional(&self.pool)
            .await?;
            Ok(row.is_some())
        })
        .await
    }
}

/// The `outcome_counts.outcome` key: the outcome's name, rejections prefixed so a future
/// outcome can never be mistaken for one.
fn outcome_key(outcome: Outcome) -> String {
    match outcome {
        Outcome::Rejected(kind) => format!("rejected.{kind}"),
        other => other.as_str().to_owned(),
    }
}

fn add_count(counts: &mut Counts, key: &str, n: u64) {
    if let Some(kind) = key.strip_prefix("rejected.") {
        let slot = counts.rejected.entry(kind.to_owned()).or_default();
        *slot = slot.saturating_add(n);
        return;
    }
    let slot = match key {
        "tracked" => &mut counts.tracked,
        "untracked" => &mut counts.untracked,
        "test" => &mut counts.test,
        "unreferenced" => &mut counts.unreferenced,
        "control" => &mut counts.control,
        "dead_lettered" => &mut counts.dead_lettered,
        _ => return,
    };
    *slot = slot.saturating_add(n);
}

fn subscription_state(name: &str) -> Option<SubscriptionState> {
    match name {
        "pending_confirmation" => Some(SubscriptionState::PendingConfirmation),
        "confirmed" => Some(SubscriptionState::Confirmed),
        "unsubscribed" => Some(SubscriptionState::Unsubscribed),
        _ => None,
    }
}

#[async_trait]
impl StatusStore for Db {
    async fn record(
        &self,
        store: StoreId,
        outcome: Outcome,
        at: SystemTime,
    ) -> Result<(), BoxError> {
        // Summed in memory and written with the next batch: no write of its own.
        self.enqueue(batch::Job::Count { store, outcome, at }).await
    }

    async fn record_subscription(
        &self,
        store: StoreId,
        subscription: &Subscription,
    ) -> Result<(), BoxError> {
        let state = serde_json::to_value(subscription.state)?;
        let upsert = sqlx::query(
            "INSERT INTO store_status (store, subscription_topic, subscription_state, \
             subscription_at, subscription_token, subscription_url) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (store) DO UPDATE SET subscription_topic = excluded.subscription_topic, \
             subscription_state = excluded.subscription_state, \
             subscription_at = excluded.subscription_at, \
             subscription_token = excluded.subscription_token, \
             subscription_url = excluded.subscription_url",
        )
        .bind(store.as_str())
        .bind(subscription.topic.as_str())
        .bind(state.as_str().unwrap_or("unknown").to_owned())
        .bind(time::unix(subscription.at))
        .bind(subscription.token.clone())
        .bind(subscription.subscribe_url.clone());
        self.bounded("recording a subscription", async {
            upsert.execute(&self.pool).await?;
            Ok(())
        })
        .await
    }

    async fn snapshot(&self) -> Result<StatusSnapshot, BoxError> {
        self.flush().await?;
        self.bounded("reading status", self.snapshot_unbounded())
            .await
    }
}

impl Db {
    async fn snapshot_unbounded(&self) -> Result<StatusSnapshot, BoxError> {
        let mut snapshot = StatusSnapshot::default();
        let counts = sqlx::query("SELECT store, outcome, n FROM outcome_counts")
            .fetch_all(&self.pool)
            .await?;
        for row in &counts {
            let Ok(store) = row.try_get::<String, _>("store")?.parse::<StoreId>() else {
                continue;
            };
            let n = u64::try_from(row.try_get::<i64, _>("n")?).unwrap_or(0);
            let entry = snapshot
                .stores
                .entry(store)
                .or_insert_with(StoreStatus::default);
            add_count(&mut entry.counts, &row.try_get::<String, _>("outcome")?, n);
        }
        let statuses = sqlx::query(
            "SELECT store, last_received_at, subscription_topic, subscription_state, \
             subscription_at, subscription_token, subscription_url FROM store_status",
        )
        .fetch_all(&self.pool)
        .await?;
        for row in &statuses {
            let Ok(store) = row.try_get::<String, _>("store")?.parse::<StoreId>() else {
                continue;
            };
            let entry = snapshot
                .stores
                .entry(store)
                .or_insert_with(StoreStatus::default);
            entry.last_received_at = row
                .try_get::<Option<i64>, _>("last_received_at")?
                .map(time::from_unix);
            let topic: Option<String> = row.try_get("subscription_topic")?;
            let state: Option<String> = row.try_get("subscription_state")?;
            if let (Some(topic), Some(state)) =
                (topic, state.as_deref().and_then(subscription_state))
            {
                let at = time::from_unix(
                    row.try_get::<Option<i64>, _>("subscription_at")?
                        .unwrap_or(0),
                );
                let mut sub = Subscription::new(topic, state, at);
                if let Some(token) = row.try_get::<Option<String>, _>("subscription_token")? {
                    sub = sub.with_token(token);
                }
                if let Some(url) = row.try_get::<Option<String>, _>("subscription_url")? {
                    sub = sub.with_subscribe_url(url);
                }
                entry.subscription = Some(sub);
            }
        }
        Ok(snapshot)
    }
}

#[async_trait]
impl DeadLetterSink for Db {
    async fn dead_letter(&self, letter: DeadLetter) -> Result<(), BoxError> {
        let insert = sqlx::query(
            "INSERT INTO dead_letters (store, reason, body, received_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(letter.store.as_str())
        .bind(letter.rejection.to_string())
        .bind(letter.body.to_vec())
        .bind(time::unix(letter.received_at));
        self.bounded("keeping a dead letter", async {
            insert.execute(&self.pool).await?;
            Ok(())
        })
        .await
    }
}

// Only stand-alone helpers here: the database-backed rules are exercised end to end by
// `tests/gateway.rs` on both backends.
#[cfg(test)]
mod tests {
    use store_notifications::RejectionKind;

    use super::*;

    #[test]
    fn outcome_keys_round_trip_through_counts() {
        let mut counts = Counts::default();
        let mut expected = Counts::default();
        for outcome in [
            Outcome::Tracked,
            Outcome::Untracked,
            Outcome::Test,
            Outcome::Unreferenced,
            Outcome::Control,
            Outcome::DeadLettered,
            Outcome::Rejected(RejectionKind::Unauthenticated),
        ] {
            add_count(&mut counts, &outcome_key(outcome), 2);
            expected.add(outcome, 2);
        }
        assert_eq!(counts, expected);
    }

    #[test]
    fn database_urls_name_their_backend() {
        assert_eq!(Backend::of("sqlite://x.db").ok(), Some(Backend::Sqlite));
        assert_eq!(
            Backend::of("postgres://u@h/d").ok(),
            Some(Backend::Postgres)
        );
        assert_eq!(
            Backend::of("postgresql://u@h/d").ok(),
            Some(Backend::Postgres)
        );
        assert!(Backend::of("mysql://u@h/d").is_err());
    }
}
