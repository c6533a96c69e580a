//! Group commit: one writer task per database turns many deliveries into one transaction.
//!
//! A handled delivery's event (with its dedupe claim) is queued with a reply channel and
//! answered only after the `COMMIT` of the batch that holds it, so "acknowledged means
//! committed" still holds while one fsync serves every delivery of the batch. Status counters
//! (outcome counts, the hourly chart, "last received at") are observability, not data: they are
//! queued without waiting, summed in memory and written with the next batch (or within
//! [`FLUSH_EVERY`]), so a rejected delivery costs no database write of its own. A failed batch
//! answers every event in it with the error (503: the stores retry) and keeps the counters for
//! the next one.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use store_notifications::{BoxError, Event, Outcome, StoreId};
use tokio::sync::{mpsc, oneshot};

use super::{Db, Recorded, WriteTx, key, outcome_key};
use crate::time;

/// How long counters may wait for a batch before they are written on their own.
pub const FLUSH_EVERY: Duration = Duration::from_millis(250);

/// The most jobs one transaction takes.
const MAX_BATCH: usize = 256;

/// How many jobs may wait for the writer.
pub const QUEUE: usize = 8192;

/// A request to the writer.
pub enum Job {
    /// Record this event (once per id); answer after the commit.
    Event {
        /// The event.
        event: Box<Event>,
        /// When it was handled.
        at: SystemTime,
        /// The answer.
        reply: oneshot::Sender<Result<Recorded, String>>,
    },
    /// Count one delivery's outcome (not waited for).
    Count {
        /// The store.
        store: StoreId,
        /// What happened.
        outcome: Outcome,
        /// When.
        at: SystemTime,
    },
    /// Write the pending counters now; answer after the commit.
    Flush {
        /// The answer.
        reply: oneshot::Sender<Result<(), String>>,
    },
}

/// Counters summed since the last commit.
#[derive(Default)]
struct Pending {
    counts: BTreeMap<(StoreId, String), i64>,
    hourly: BTreeMap<(StoreId, i64, String), i64>,
    last_tracked: BTreeMap<StoreId, i64>,
}

impl Pending {
    fn add(&mut self, store: StoreId, outcome: Outcome, at: SystemTime) {
        let key = outcome_key(outcome);
        let secs = time::unix(at);
        *self.counts.entry((store, key.clone())).or_default() += 1;
        *self
            .hourly
            .entry((store, secs.div_euclid(3600), key))
            .or_default() += 1;
        if outcome == Outcome::Tracked {
            let last = self.last_tracked.entry(store).or_insert(secs);
            *last = (*last).max(secs);
        }
    }

    fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// Puts counters of a failed batch back, so they are written with the next one.
    fn merge(&mut self, other: Pending) {
        for (k, n) in other.counts {
            *self.counts.entry(k).or_default() += n;
        }
        for (k, n) in other.hourly {
            *self.hourly.entry(k).or_default() += n;
        }
        for (store, secs) in other.last_tracked {
            let last = self.last_tracked.entry(store).or_insert(secs);
            *last = (*last).max(secs);
        }
    }
}

/// Starts the writer of `db` (a handle without a writer of its own); its queue.
pub fn spawn(db: Db) -> mpsc::Sender<Job> {
    let (jobs, queue) = mpsc::channel(QUEUE);
    tokio::spawn(run(db, queue));
    jobs
}

async fn run(db: Db, mut queue: mpsc::Receiver<Job>) {
    let mut pending = Pending::default();
    loop {
        let first = if pending.is_empty() {
            queue.recv().await
        } else {
            match tokio::time::timeout(FLUSH_EVERY, queue.recv()).await {
                Ok(job) => job,
                // Counters waited long enough: write them on their own.
                Err(_) => Some(Job::Flush {
                    reply: oneshot::channel().0,
                }),
            }
        };
        let Some(first) = first else {
            // Every handle is gone: write what is left and stop.
            if !pending.is_empty() {
                let _ = commit(&db, &[], &pending).await;
            }
            return;
        };
        let mut events = Vec::new();
        let mut flushes = Vec::new();
        let mut take = |job: Job, pending: &mut Pending| match job {
            Job::Event { event, at, reply } => events.push((event, at, reply)),
            Job::Count { store, outcome, at } => pending.add(store, outcome, at),
            Job::Flush { reply } => flushes.push(reply),
        };
        take(first, &mut pending);
        let mut taken = 1;
        while taken < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => {
                    take(job, &mut pending);
                    taken += 1;
                }
                Err(_) => break,
            }
        }
        let batch = std::mem::take(&mut pending);
        let jobs: Vec<(&Event, SystemTime)> =
            events.iter().map(|(e, at, _)| (e.as_ref(), *at)).collect();
        match commit(&db, &jobs, &batch).await {
            Ok(recorded) => {
                for ((_, _, reply), recorded) in events.into_iter().zip(recorded) {
                    let _ = reply.send(Ok(recorded));
                }
                for reply in flushes {
                    let _ = reply.send(Ok(()));
                }
            }
            Err(e) => {
                let e = e.to_string();
                tracing::error!(error = %e, events = jobs.len(), "group commit failed");
                pending.merge(batch);
                for (_, _, reply) in events {
                    let _ = reply.send(Err(e.clone()));
                }
                for reply in flushes {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }
}

/// One transaction: every event's dedupe claim and row, then the summed counters.
async fn commit(
    db: &Db,
    events: &[(&Event, SystemTime)],
    pending: &Pending,
) -> Result<Vec<Recorded>, BoxError> {
    db.bounded("group commit", async {
        let mut tx = db.begin_write().await?;
        let mut recorded = Vec::with_capacity(events.len());
        for (event, at) in events {
            recorded.push(insert_event(&mut tx, event, *at).await?);
        }
        write_counts(&mut tx, pending).await?;
        tx.commit().await?;
        Ok(recorded)
    })
    .await
}

async fn insert_event(
    tx: &mut WriteTx,
    event: &Event,
    at: SystemTime,
) -> Result<Recorded, BoxError> {
    let received_at = time::unix(at);
    let claimed = sqlx::query(
        "INSERT INTO handled_deliveries (store, id_key, handled_at) VALUES ($1, $2, $3) \
         ON CONFLICT (store, id_key) DO NOTHING",
    )
    .bind(event.store.as_str())
    .bind(key(&event.id))
    .bind(received_at)
    .execute(tx.conn()?)
    .await?
    .rows_affected()
        == 1;
    if !claimed {
        return Ok(Recorded::Duplicate);
    }
    sqlx::query(
        "INSERT INTO events (store, id, receipt, test, event_type, kind, product, \
         environment, occurred_at, received_at, receipt_sensitive) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(event.store.as_str())
    .bind(event.id.as_str())
    .bind(event.receipt.clone())
    .bind(i64::from(event.test))
    .bind(event.notification_type.as_str())
    .bind(event.kind.as_str())
    .bind(event.product.clone())
    .bind(event.environment.clone())
    .bind(event.occurred_at.map(time::unix))
    .bind(received_at)
    .bind(i64::from(event.receipt_sensitive))
    .execute(tx.conn()?)
    .await?;
    Ok(Recorded::New)
}

async fn write_counts(tx: &mut WriteTx, pending: &Pending) -> Result<(), BoxError> {
    for ((store, outcome), n) in &pending.counts {
        sqlx::query(
            "INSERT INTO outcome_counts (store, outcome, n) VALUES ($1, $2, $3) \
             ON CONFLICT (store, outcome) DO UPDATE SET n = outcome_counts.n + excluded.n",
        )
        .bind(store.as_str())
        .bind(outcome.as_str())
        .bind(*n)
        .execute(tx.conn()?)
        .await?;
    }
    for ((store, hour, outcome), n) in &pending.hourly {
        sqlx::query(
            "INSERT INTO hourly_outcomes (store, hour, outcome, n) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (store, hour, outcome) DO UPDATE SET n = hourly_outcomes.n + excluded.n",
        )
        .bind(store.as_str())
        .bind(*hour)
        .bind(outcome.as_str())
        .bind(*n)
        .execute(tx.conn()?)
        .await?;
    }
    for (store, secs) in &pending.last_tracked {
        // Never backwards: deliveries handled out of order keep the latest time.
        sqlx::query(
            "INSERT INTO store_status (store, last_received_at) VALUES ($1, $2) \
             ON CONFLICT (store) DO UPDATE SET last_received_at = CASE \
             WHEN store_status.last_received_at IS NULL \
               OR store_status.last_received_at < excluded.last_received_at \
             THEN excluded.last_received_at ELSE store_status.last_received_at END",
        )
        .bind(store.as_str())
        .bind(*secs)
        .execute(tx.conn()?)
        .await?;
    }
    Ok(())
}
