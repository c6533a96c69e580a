//! The "last received at" registry per store, outcome counters, and SNS subscription state.
//!
//! "Last received at" moves only for *tracked* notifications, as the stores' consoles and
//! RevenueCat's dashboard show it: a flood of untracked or forged deliveries must not make a
//! dead integration look alive. Every outcome is counted.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::Full;
use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

use crate::BoxError;
use crate::clock::rfc3339;
use crate::rejection::RejectionKind;
use crate::store::StoreId;

/// What the pipeline did with one delivery. Put into every response's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// A tracked receipt: handed to the handler.
    Tracked,
    /// An untracked receipt: answered 200, handler not called.
    Untracked,
    /// A test notification: handed to the handler, hook not asked.
    Test,
    /// An authentic notification about no receipt: handed to the handler, hook not asked.
    Unreferenced,
    /// A control message (SNS subscription confirmation) handled by the store: answered 200.
    Control,
    /// Authentic but unusable: kept by the dead-letter sink and answered 200.
    DeadLettered,
    /// Rejected with this kind (and its status).
    Rejected(RejectionKind),
}

impl Outcome {
    /// Whether the handler is called.
    pub fn reaches_handler(self) -> bool {
        matches!(
            self,
            Outcome::Tracked | Outcome::Test | Outcome::Unreferenced
        )
    }

    /// A stable snake-case name: `tracked`, `untracked`, … or the rejection kind's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Tracked => "tracked",
            Outcome::Untracked => "untracked",
            Outcome::Test => "test",
            Outcome::Unreferenced => "unreferenced",
            Outcome::Control => "control",
            Outcome::DeadLettered => "dead_lettered",
            Outcome::Rejected(kind) => kind.as_str(),
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The state of a push subscription (Amazon SNS), as the store's console shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SubscriptionState {
    /// A confirmation request arrived and was recorded, but not confirmed by us.
    PendingConfirmation,
    /// Confirmed ("Verified" in the Amazon console).
    Confirmed,
    /// The subscription was removed.
    Unsubscribed,
}

/// A change of a push subscription, reported by a store's control handling.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Subscription {
    /// The topic (SNS `TopicArn`).
    pub topic: String,
    /// The new state.
    pub state: SubscriptionState,
    /// When the message announcing it was received.
    pub at: SystemTime,
    /// The confirmation token, when one came with it (needed to confirm by hand).
    pub token: Option<String>,
    /// The URL that confirms the subscription, when one came with it.
    pub subscribe_url: Option<String>,
}

impl Subscription {
    /// A subscription change of `topic` to `state` at `at`.
    pub fn new(topic: impl Into<String>, state: SubscriptionState, at: SystemTime) -> Self {
        Subscription {
            topic: topic.into(),
            state,
            at,
            token: None,
            subscribe_url: None,
        }
    }

    /// With the confirmation token.
    #[must_use]
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// With the confirmation URL.
    #[must_use]
    pub fn with_subscribe_url(mut self, url: impl Into<String>) -> Self {
        self.subscribe_url = Some(url.into());
        self
    }
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("topic", &self.topic)
            .field("state", &self.state)
            .field("at", &self.at)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field(
                "subscribe_url",
                &self.subscribe_url.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl Serialize for Subscription {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Subscription", 5)?;
        st.serialize_field("topic", &self.topic)?;
        st.serialize_field("state", &self.state)?;
        st.serialize_field("confirmed", &(self.state == SubscriptionState::Confirmed))?;
        st.serialize_field("at", &rfc3339(self.at))?;
        // The confirmation token confirms the subscription: recognisable, never whole.
        st.serialize_field("token", &self.token.as_deref().map(crate::hook::redact))?;
        st.end()
    }
}

/// Counters of outcomes for one store.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Counts {
    /// Tracked receipts handed to the handler.
    pub tracked: u64,
    /// Untracked receipts answered 200.
    pub untracked: u64,
    /// Test notifications.
    pub test: u64,
    /// Authentic notifications about no receipt.
    pub unreferenced: u64,
    /// Control messages.
    pub control: u64,
    /// Authentic-but-unusable notifications kept by the dead-letter sink.
    pub dead_lettered: u64,
    /// Rejections by kind name (`unauthenticated`, `hook_failed`, …).
    pub rejected: BTreeMap<String, u64>,
}

impl Counts {
    /// Adds `n` deliveries with the given outcome.
    pub fn add(&mut self, outcome: Outcome, n: u64) {
        let slot = match outcome {
            Outcome::Tracked => &mut self.tracked,
            Outcome::Untracked => &mut self.untracked,
            Outcome::Test => &mut self.test,
            Outcome::Unreferenced => &mut self.unreferenced,
            Outcome::Control => &mut self.control,
            Outcome::DeadLettered => &mut self.dead_lettered,
            Outcome::Rejected(kind) => self.rejected.entry(kind.as_str().to_owned()).or_default(),
        };
        *slot = slot.saturating_add(n);
    }
}

/// The status of one store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreStatus {
    /// When the last tracked notification was received.
    pub last_received_at: Option<SystemTime>,
    /// Outcome counters.
    pub counts: Counts,
    /// The push subscription, for stores that have one (Amazon SNS).
    pub subscription: Option<Subscription>,
}

impl Serialize for StoreStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("StoreStatus", 3)?;
        st.serialize_field("last_received_at", &self.last_received_at.map(rfc3339))?;
        st.serialize_field("counts", &self.counts)?;
        st.serialize_field("subscription", &self.subscription)?;
        st.end()
    }
}

/// The status of every store that has seen a delivery.
///
/// Serialises as `{"stores": {"apple": {"last_received_at": …, "counts": {…}, "subscription": …}}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct StatusSnapshot {
    /// Per store.
    pub stores: BTreeMap<StoreId, StoreStatus>,
}

/// Where the pipeline records outcomes. Implement it over your database to share status
/// between instances; [`InMemoryStatus`] is the default.
#[async_trait]
pub trait StatusStore: Send + Sync + 'static {
    /// Records one delivery's outcome. `at` is the pipeline clock's time of receipt;
    /// implementations move "last received at" only for [`Outcome::Tracked`].
    async fn record(
        &self,
        store: StoreId,
        outcome: Outcome,
        at: SystemTime,
    ) -> Result<(), BoxError>;

    /// Records a push subscription change (SNS confirmation).
    async fn record_subscription(
        &self,
        store: StoreId,
        subscription: &Subscription,
    ) -> Result<(), BoxError>;

    /// The current status.
    async fn snapshot(&self) -> Result<StatusSnapshot, BoxError>;
}

/// The in-memory [`StatusStore`]. Clones share the state.
///
/// ```
/// use std::time::SystemTime;
/// use store_notifications::{InMemoryStatus, Outcome, StatusStore, StoreId};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let status = InMemoryStatus::new();
/// status.record(StoreId::STRIPE, Outcome::Untracked, SystemTime::now()).await.unwrap();
/// let snap = status.snapshot().await.unwrap();
/// assert_eq!(snap.stores[&StoreId::STRIPE].counts.untracked, 1);
/// assert_eq!(snap.stores[&StoreId::STRIPE].last_received_at, None);
/// # });
/// ```
#[derive(Debug, Clone, Default)]
pub struct InMemoryStatus {
    inner: Arc<Mutex<StatusSnapshot>>,
}

impl InMemoryStatus {
    /// Empty status.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<R>(&self, f: impl FnOnce(&mut StatusSnapshot) -> R) -> R {
        f(&mut self.inner.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

#[async_trait]
impl StatusStore for InMemoryStatus {
    async fn record(
        &self,
        store: StoreId,
        outcome: Outcome,
        at: SystemTime,
    ) -> Result<(), BoxError> {
        self.with(|s| {
            let entry = s.stores.entry(store).or_default();
            entry.counts.add(outcome, 1);
            if outcome == Outcome::Tracked {
                entry.last_received_at = Some(entry.last_received_at.map_or(at, |t| t.max(at)));
            }
        });
        Ok(())
    }

    async fn record_subscription(
        &self,
        store: StoreId,
        subscription: &Subscription,
    ) -> Result<(), BoxError> {
        self.with(|s| s.stores.entry(store).or_default().subscription = Some(subscription.clone()));
        Ok(())
    }

    async fn snapshot(&self) -> Result<StatusSnapshot, BoxError> {
        Ok(self.with(|s| s.clone()))
    }
}

/// A Tower service answering any request with the status as JSON.
///
/// Mount it in axum with `route_service`:
///
/// ```
/// use std::sync::Arc;
/// use store_notifications::{InMemoryStatus, StatusService};
///
/// let status = InMemoryStatus::new();
/// let app: axum::Router = axum::Router::new()
///     .route_service("/status", StatusService::new(Arc::new(status)));
/// ```
#[derive(Clone)]
pub struct StatusService {
    status: Arc<dyn StatusStore>,
}

impl StatusService {
    /// Serves the given status store.
    pub fn new(status: Arc<dyn StatusStore>) -> Self {
        StatusService { status }
    }
}

impl fmt::Debug for StatusService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StatusService").finish_non_exhaustive()
    }
}

impl<B> tower_service::Service<Request<B>> for StatusService {
    type Response = Response<Full<Bytes>>;
    type Error = std::convert::Infallible;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>,
    >;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<B>) -> Self::Future {
        let status = Arc::clone(&self.status);
        Box::pin(async move {
            let (code, body) = match status.snapshot().await {
                Ok(snap) => match serde_json::to_vec(&snap) {
                    Ok(json) => (StatusCode::OK, json),
                    Err(e) => (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        error_json(&e.to_string()),
                    ),
                },
                Err(e) => {
                    tracing::error!(error = %e, "status store failed");
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        error_json("status unavailable"),
                    )
                }
            };
            let mut res = Response::new(Full::new(Bytes::from(body)));
            *res.status_mut() = code;
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            Ok(res)
        })
    }
}

fn error_json(message: &str) -> Vec<u8> {
    serde_json::json!({ "error": message })
        .to_string()
        .into_bytes()
}

/// A conformance test any [`StatusStore`] implementation can run.
#[cfg(feature = "test-util")]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
pub mod conformance {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use super::{Outcome, StatusStore, Subscription, SubscriptionState};
    use crate::rejection::RejectionKind;
    use crate::store::StoreId;

    /// Checks the rules every status store must follow, panicking with a clear message on the
    /// first one broken. Run it on an empty store (it records on `StoreId::STRIPE` and
    /// `StoreId::AMAZON`); times are whole seconds, so stores keeping seconds pass.
    ///
    /// Rules: outcomes are counted per store and per kind (rejections by kind name); "last
    /// received at" moves only for tracked deliveries and never backwards; another store is
    /// untouched; the latest subscription change is kept with its topic, state, time and
    /// token; concurrent records are all counted.
    ///
    /// ```
    /// use store_notifications::InMemoryStatus;
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// store_notifications::status::conformance::check(&InMemoryStatus::new()).await;
    /// # });
    /// ```
    pub async fn check<S: StatusStore + ?Sized>(status: &S) {
        let at = |secs: u64| UNIX_EPOCH + Duration::from_secs(1_767_225_600 + secs);
        let record = |store, outcome, t: SystemTime| async move {
            if let Err(e) = status.record(store, outcome, t).await {
                panic!("record({store}, {outcome}) failed: {e}");
            }
        };
        let snapshot = || async {
            match status.snapshot().await {
                Ok(s) => s,
                Err(e) => panic!("snapshot failed: {e}"),
            }
        };
        let stripe = StoreId::STRIPE;

        record(stripe, Outcome::Untracked, at(10)).await;
        let s = snapshot().await;
        let entry = s.stores.get(&stripe).cloned().unwrap_or_default();
        assert_eq!(
            entry.counts.untracked, 1,
            "an untracked delivery is counted"
        );
        assert_eq!(
            entry.last_received_at, None,
            "last received at moves only for tracked deliveries"
        );

        record(stripe, Outcome::Tracked, at(20)).await;
        record(stripe, Outcome::Tracked, at(5)).await;
        let s = snapshot().await;
        let entry = s.stores.get(&stripe).cloned().unwrap_or_default();
        assert_eq!(entry.counts.tracked, 2, "tracked deliveries are counted");
        assert_eq!(
            entry.last_received_at,
            Some(at(20)),
            "last received at never moves backwards"
        );
        record(stripe, Outcome::Tracked, at(30)).await;
        record(
            stripe,
            Outcome::Rejected(RejectionKind::Unauthenticated),
            at(40),
        )
        .await;
        let s = snapshot().await;
        let entry = s.stores.get(&stripe).cloned().unwrap_or_default();
        assert_eq!(entry.last_received_at, Some(at(30)), "a later one moves it");
        assert_eq!(
            entry.counts.rejected.get("unauthenticated").copied(),
            Some(1),
            "rejections are counted by kind name"
        );
        assert!(
            s.stores
                .get(&StoreId::AMAZON)
                .is_none_or(|a| a.counts.tracked == 0 && a.last_received_at.is_none()),
            "another store is untouched"
        );

        let pending = Subscription::new(
            "arn:aws:sns:us-east-1:123456789012:conformance",
            SubscriptionState::PendingConfirmation,
            at(50),
        )
        .with_token("conformance-token");
        if let Err(e) = status.record_subscription(StoreId::AMAZON, &pending).await {
            panic!("record_subscription failed: {e}");
        }
        let confirmed =
            Subscription::new(pending.topic.clone(), SubscriptionState::Confirmed, at(60));
        if let Err(e) = status
            .record_subscription(StoreId::AMAZON, &confirmed)
            .await
        {
            panic!("record_subscription failed: {e}");
        }
        let s = snapshot().await;
        let sub = s
            .stores
            .get(&StoreId::AMAZON)
            .and_then(|a| a.subscription.clone())
            .unwrap_or_else(|| panic!("the subscription is kept"));
        assert_eq!(sub.topic, confirmed.topic, "the topic is kept");
        assert_eq!(
            sub.state,
            SubscriptionState::Confirmed,
            "the latest change wins"
        );
        assert_eq!(sub.at, at(60), "its time is kept");
        assert_eq!(sub.token, None, "the latest change's token (none) is kept");

        let before = snapshot()
            .await
            .stores
            .get(&stripe)
            .map_or(0, |e| e.counts.test);
        let records: Vec<_> = (0..32)
            .map(|i| Box::pin(record(stripe, Outcome::Test, at(100 + i))))
            .collect();
        JoinAll(records.into_iter().map(Some).collect()).await;
        let after = snapshot()
            .await
            .stores
            .get(&stripe)
            .map_or(0, |e| e.counts.test);
        assert_eq!(after - before, 32, "concurrent records are all counted");
    }

    /// Polls every future to completion (no runtime needed beyond the caller's).
    pub(crate) struct JoinAll<F>(pub(crate) Vec<Option<Pin<Box<F>>>>);

    impl<F: Future<Output = ()>> Future for JoinAll<F> {
        type Output = ();

        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            let mut pending = false;
            for slot in self.0.iter_mut() {
                if let Some(fut) = slot {
                    if fut.as_mut().poll(cx).is_ready() {
                        *slot = None;
                    } else {
                        pending = true;
                    }
                }
            }
            if pending {
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    #[cfg(feature = "test-util")]
    #[test]
    fn in_memory_status_passes_the_conformance_check() {
        block_on(conformance::check(&InMemoryStatus::new()));
    }

    #[test]
    fn last_received_at_moves_only_for_tracked_notifications() {
        let status = InMemoryStatus::new();
        let t = |s| UNIX_EPOCH + Duration::from_secs(s);
        block_on(async {
            for outcome in [
                Outcome::Untracked,
                Outcome::Test,
                Outcome::Control,
                Outcome::DeadLettered,
                Outcome::Rejected(RejectionKind::Unauthenticated),
            ] {
                status
                    .record(StoreId::APPLE, outcome, t(10))
                    .await
                    .expect("record");
            }
            let snap = status.snapshot().await.expect("snapshot");
            assert_eq!(snap.stores[&StoreId::APPLE].last_received_at, None);

            status
                .record(StoreId::APPLE, Outcome::Tracked, t(20))
                .await
                .expect("record");
            status
                .record(StoreId::APPLE, Outcome::Tracked, t(15))
                .await
                .expect("record");
            let snap = status.snapshot().await.expect("snapshot");
            let apple = &snap.stores[&StoreId::APPLE];
            assert_eq!(apple.last_received_at, Some(t(20)), "never moves backwards");
            assert_eq!(apple.counts.tracked, 2);
            assert_eq!(apple.counts.rejected["unauthenticated"], 1);
        });
    }

    #[test]
    fn snapshot_serialises_with_rfc3339_times_and_store_names() {
        let status = InMemoryStatus::new();
        let at = UNIX_EPOCH + Duration::from_secs(1_767_225_600);
        block_on(async {
            status
                .record(StoreId::STRIPE, Outcome::Tracked, at)
                .await
                .expect("record");
            let sub = Subscription::new(
                "arn:aws:sns:us-east-1:1:t",
                SubscriptionState::Confirmed,
                at,
            )
            .with_token("tok");
            status
                .record_subscription(StoreId::AMAZON, &sub)
                .await
                .expect("record");
            let json =
                serde_json::to_value(status.snapshot().await.expect("snapshot")).expect("json");
            assert_eq!(
                json["stores"]["stripe"]["last_received_at"],
                "2026-01-01T00:00:00Z"
            );
            assert_eq!(json["stores"]["stripe"]["counts"]["tracked"], 1);
            assert_eq!(json["stores"]["amazon"]["subscription"]["confirmed"], true);
        });
    }

    #[test]
    fn subscription_debug_redacts_the_token() {
        let sub = Subscription::new("t", SubscriptionState::PendingConfirmation, UNIX_EPOCH)
            .with_token("very-secret");
        assert!(!format!("{sub:?}").contains("very-secret"));
    }
}
