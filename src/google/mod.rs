//! Google Play Real-time Developer Notifications, delivered by an authenticated Cloud Pub/Sub
//! push subscription.
//!
//! ```
//! # #[cfg(feature = "test-util")]
//! # fn main() {
//! use std::time::Duration;
//! use store_notifications::google::GoogleStore;
//! use store_notifications::testing::GoogleSigner;
//! use store_notifications::{Clock, Disposition, Notification};
//!
//! // In production: `GoogleCerts::new()` (feature `fetch`) instead of the test signer's keys.
//! let signer = GoogleSigner::new();
//! let store = GoogleStore::new(
//!     "https://example.com/notifications/google",          // the push subscription's audience
//!     "play-rtdn-push@my-project.iam.gserviceaccount.com", // its service account
//!     signer.static_keys(),
//! )
//! .with_package_name("com.example.app")
//! .with_leeway(Duration::from_secs(60)) // the default
//! .with_clock(Clock::from_unix(1_767_225_600));
//!
//! // What Pub/Sub sends: a bearer ID token and the push wrapper around the notification.
//! let data = GoogleSigner::subscription_notification("com.example.app", 4, "purchase-token", "premium", 1_767_225_595_123);
//! let body = GoogleSigner::wrapped_body(&data, "1234567890", "2025-12-31T23:59:55.456Z", "projects/p/subscriptions/s");
//! let token = signer.id_token("https://example.com/notifications/google", "play-rtdn-push@my-project.iam.gserviceaccount.com", 1_767_225_500);
//! let headers = GoogleSigner::headers(&token);
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let verdict = store.verify_at(&headers, &body, store.now()).await.unwrap();
//! let notification = verdict.notification().expect("a usable notification");
//! assert_eq!(notification.id(), "1234567890");
//! assert_eq!(notification.notification_type(), "SUBSCRIPTION_PURCHASED");
//! let Disposition::Receipt(receipt) = notification.disposition() else { unreachable!() };
//! assert_eq!(receipt.reference, "purchase-token");
//! assert_eq!(receipt.product.as_deref(), Some("premium"));
//! # });
//! # }
//! # #[cfg(not(feature = "test-util"))]
//! # fn main() {}
//! ```
//!
//! # What is checked, in order
//!
//! 1. The `Authorization: Bearer` OIDC token ([below](#the-push-token)): RS256 with a
//!    Google key named by `kid`, issuer `accounts.google.com`, the configured audience and
//!    service account, `email_verified`, `exp`/`iat`/`nbf` with the leeway. Failures are 401
//!    (`expired` / `not_yet_valid` / `unauthenticated`); Google's keys unobtainable is 503.
//! 2. The Pub/Sub push envelope, wrapped or unwrapped ([`PushMetadata`]); garbage is 400.
//! 3. The `data`: base64, JSON, a [`DeveloperNotification`]. A push whose token verified but
//!    whose data is unusable is [`Verdict::Unusable`]: the
//!    layer dead-letters it and answers 200, so Pub/Sub does not retry it for 7 days.
//! 4. The package name, when configured ([`GoogleStore::with_package_name`]): a genuine
//!    notification for another app is 403.
//!
//! Every accepted outcome answers 200 and every transient failure 503: Pub/Sub acknowledges
//! only 102, 200, 201, 202 and 204 and retries everything else.
//!
//! # The push token
//!
//! Pub/Sub does not sign the body; the token proves the push came from *your* subscription
//! (its audience and service account), not what it carries. That is Google's design: TLS to your
//! endpoint protects the body in transit.
//!
//! # The notification value
//!
//! [`GoogleNotification`]: [`id`](crate::Notification::id) is Pub/Sub's `messageId` (for an
//! unwrapped push without metadata headers, `sha256:` and the hex SHA-256 of the data, so
//! redeliveries still share an id); [`notification_type`](crate::Notification::notification_type)
//! is the documented constant name (`SUBSCRIPTION_RENEWED`, `ONE_TIME_PRODUCT_PURCHASED`,
//! `VOIDED_PURCHASE`, `TEST_NOTIFICATION`, `SUBSCRIPTION_NOTIFICATION_99` for numbers this
//! version does not know, `UNKNOWN_NOTIFICATION` for kinds it does not know); the receipt
//! reference is the `purchaseToken`, with `subscriptionId` / `sku` as product and
//! `packageName` as app. Purchase tokens are credentials: `Debug` never prints them.

mod keys;
mod oidc;
mod push;
mod rtdn;

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::HeaderMap;

#[cfg(feature = "fetch")]
pub use keys::GoogleCerts;
pub use keys::{
    DEFAULT_MIN_REFETCH_INTERVAL, FetchedKeys, KeyError, KeySet, KeySource, StaticKeys,
};
pub use oidc::PushToken;
pub use push::PushMetadata;
pub use rtdn::{
    DeveloperNotification, NotificationKind, OneTimeProductNotification,
    OneTimeProductNotificationType, SubscriptionNotification, SubscriptionNotificationType,
    TestNotification, VoidedProductType, VoidedPurchaseNotification, VoidedRefundType,
};

use crate::clock::{Clock, unix_seconds};
use crate::event::EventKind;
use crate::hook::Receipt;
use crate::kernel::encoding;
use crate::rejection::{Rejection, RejectionKind};
use crate::store::{Disposition, Notification, Store, StoreId, Verdict};

/// The default leeway on the token's `exp`, `iat` and `nbf`: 60 s.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);

/// The Google Play verifier: one push subscription's audience and service account, Google's
/// keys behind a cache, optionally the app's package name(s).
///
/// Cheap to clone; clones share the key cache.
#[derive(Clone)]
pub struct GoogleStore {
    inner: Arc<Inner>,
}

struct Inner {
    expect: oidc::Expectations,
    packages: Vec<String>,
    clock: Clock,
    source: Arc<dyn KeySource>,
    min_refetch_interval: Duration,
    cache: keys::KeyCache,
}

impl GoogleStore {
    /// A verifier for pushes whose token carries `audience` (the push subscription's
    /// "audience", by default the endpoint URL) and `service_account` (the push
    /// subscription's service account email), checked with keys from `keys`.
    pub fn new(
        audience: impl Into<String>,
        service_account: impl Into<String>,
        keys: impl KeySource,
    ) -> Self {
        let clock = Clock::system();
        let source: Arc<dyn KeySource> = Arc::new(keys);
        GoogleStore {
            inner: Arc::new(Inner {
                expect: oidc::Expectations {
                    audience: audience.into(),
                    service_account: service_account.into(),
                    leeway_s: seconds(DEFAULT_LEEWAY),
                },
                packages: Vec::new(),
                cache: keys::KeyCache::new(
                    Arc::clone(&source),
                    clock.clone(),
                    DEFAULT_MIN_REFETCH_INTERVAL,
                ),
                clock,
                source,
                min_refetch_interval: DEFAULT_MIN_REFETCH_INTERVAL,
            }),
        }
    }

    /// Rebuilds the shared state with one setting changed (builder methods run at start-up,
    /// before any clone shares the cache; the cache starts empty again).
    fn rebuild(self, change: impl FnOnce(&mut Settings)) -> Self {
        let inner = &self.inner;
        let mut s = Settings {
            expect: inner.expect.clone(),
            packages: inner.packages.clone(),
            clock: inner.clock.clone(),
            min_refetch_interval: inner.min_refetch_interval,
        };
        change(&mut s);
        GoogleStore {
            inner: Arc::new(Inner {
                cache: keys::KeyCache::new(
                    Arc::clone(&inner.source),
                    s.clock.clone(),
                    s.min_refetch_interval,
                ),
                expect: s.expect,
                packages: s.packages,
                clock: s.clock,
                source: Arc::clone(&inner.source),
                min_refetch_interval: s.min_refetch_interval,
            }),
        }
    }

    /// Accepts notifications for this package name (call again for several apps sharing one
    /// topic). Without any, every package is accepted. A genuine notification for another
    /// package is answered 403.
    #[must_use]
    pub fn with_package_name(self, package_name: impl Into<String>) -> Self {
        let package_name = package_name.into();
        self.rebuild(|s| s.packages.push(package_name))
    }

    /// The leeway on the token's `exp`, `iat` and `nbf` (default [`DEFAULT_LEEWAY`]).
    #[must_use]
    pub fn with_leeway(self, leeway: Duration) -> Self {
        self.rebuild(|s| s.expect.leeway_s = seconds(leeway))
    }

    /// The least time between two key fetches caused by an unknown `kid` or a failed fetch
    /// (default [`DEFAULT_MIN_REFETCH_INTERVAL`]).
    #[must_use]
    pub fn with_min_refetch_interval(self, interval: Duration) -> Self {
        self.rebuild(|s| s.min_refetch_interval = interval)
    }

    /// The clock "now" is read from, for the token's times and the key cache.
    #[must_use]
    pub fn with_clock(self, clock: Clock) -> Self {
        self.rebuild(|s| s.clock = clock)
    }

    /// The current time on this store's clock.
    pub fn now(&self) -> SystemTime {
        self.inner.clock.now()
    }

    /// Verifies a push at `now`: the token, then the envelope, then the notification, then the
    /// package name (see the [module docs](self)). A push whose token verified but whose data
    /// is unusable is [`Verdict::Unusable`]. Google's keys are cached on the store's clock.
    pub async fn verify_at(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<Verdict<GoogleNotification>, Rejection> {
        let verified = self
            .verify_marked(headers, body, now, Bytes::copy_from_slice)
            .await;
        Verdict::from_result(verified)
    }

    /// [`verify_at`](GoogleStore::verify_at) with the authentic marker still in the rejection;
    /// `own` turns the body into the `Bytes` an unwrapped push keeps.
    pub(crate) async fn verify_marked<B: AsRef<[u8]> + Sync + ?Sized>(
        &self,
        headers: &HeaderMap,
        body: &B,
        now: SystemTime,
        own: fn(&B) -> Bytes,
    ) -> Result<GoogleNotification, Rejection> {
        let token = self.verify_token(headers, now).await?;
        let delivery = push::open(headers, body, own)?;
        let notification = DeveloperNotification::from_json(&delivery.data).map_err(|e| {
            Rejection::unusable(
                RejectionKind::Malformed,
                format!(
                    "the push data is not a DeveloperNotification: {}",
                    crate::kernel::json::describe(&e)
                ),
            )
        })?;
        let packages = &self.inner.packages;
        if !packages.is_empty() && !packages.contains(&notification.package_name) {
            return Err(Rejection::new(
                RejectionKind::WrongApp,
                format!(
                    "notification for package {:?}, not a configured one",
                    notification.package_name
                ),
            ));
        }
        Ok(GoogleNotification::new(
            delivery.metadata,
            delivery.data,
            notification,
            token,
        ))
    }

    /// Only the push token (no body): the `Authorization` header checked at `now`. The
    /// building block of [`verify_at`](GoogleStore::verify_at).
    pub async fn verify_token(
        &self,
        headers: &HeaderMap,
        now: SystemTime,
    ) -> Result<PushToken, Rejection> {
        let token = oidc::bearer_token(headers)?;
        let token = oidc::UnverifiedToken::parse(token)?;
        let key = self.inner.cache.key(&token.kid).await?;
        if !key.verify_rs256(token.signing_input.as_bytes(), &token.signature) {
            return Err(Rejection::unauthenticated(
                "the token's signature does not verify with Google's key",
            ));
        }
        oidc::check_claims(token.claims_b64(), &self.inner.expect, unix_seconds(now))
    }
}

struct Settings {
    expect: oidc::Expectations,
    packages: Vec<String>,
    clock: Clock,
    min_refetch_interval: Duration,
}

fn seconds(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

impl fmt::Debug for GoogleStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("GoogleStore")
            .field("audience", &inner.expect.audience)
            .field("service_account", &inner.expect.service_account)
            .field("leeway_s", &inner.expect.leeway_s)
            .field("packages", &inner.packages)
            .field("keys", &inner.cache)
            .finish_non_exhaustive()
    }
}

impl Store for GoogleStore {
    type Notification = GoogleNotification;
    const ID: StoreId = StoreId::GOOGLE;

    fn verify(
        &self,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> impl Future<Output = Result<Verdict<GoogleNotification>, Rejection>> + Send {
        // The received `Bytes` are shared, never copied, on the pipeline's path.
        let verified = self.verify_marked(headers, body, self.inner.clock.now(), Bytes::clone);
        async move { Verdict::from_result(verified.await) }
    }
}

/// A verified Google Play notification and the push that carried it.
#[derive(Clone)]
pub struct GoogleNotification {
    id: String,
    notification_type: Cow<'static, str>,
    metadata: PushMetadata,
    data: Bytes,
    notification: DeveloperNotification,
    receipt: Option<Receipt>,
    token: PushToken,
}

impl GoogleNotification {
    fn new(
        metadata: PushMetadata,
        data: Bytes,
        notification: DeveloperNotification,
        token: PushToken,
    ) -> Self {
        let id = match &metadata.message_id {
            Some(id) => id.clone(),
            None => {
                let digest = ring::digest::digest(&ring::digest::SHA256, &data);
                format!("sha256:{}", encoding::hex_lower(digest.as_ref()))
            }
        };
        let notification_type = type_name(&notification.kind);
        let product = match &notification.kind {
            NotificationKind::Subscription(n) => n.subscription_id.clone(),
            NotificationKind::OneTimeProduct(n) => n.sku.clone(),
            _ => None,
        };
        let receipt = notification.kind.purchase_token().map(|token| {
            // A purchase token is a bearer credential for Google's API.
            let receipt = Receipt::new(StoreId::GOOGLE, token)
                .with_app(notification.package_name.clone())
                .sensitive();
            match product {
                Some(p) => receipt.with_product(p),
                None => receipt,
            }
        });
        GoogleNotification {
            id,
            notification_type,
            metadata,
            data,
            notification,
            receipt,
            token,
        }
    }

    /// The DeveloperNotification.
    pub fn notification(&self) -> &DeveloperNotification {
        &self.notification
    }

    /// The Pub/Sub metadata (message id, publish time, subscription, attributes, …).
    pub fn push(&self) -> &PushMetadata {
        &self.metadata
    }

    /// The verified push token's claims (the service account email, …).
    pub fn token(&self) -> &PushToken {
        &self.token
    }

    /// The decoded message data: the DeveloperNotification JSON exactly as Google sent it, for
    /// kinds this version does not know. Contains the purchase token: treat it as a secret.
    pub fn data(&self) -> &Bytes {
        &self.data
    }

    /// The receipt this notification is about (`purchaseToken`), if any.
    pub fn receipt(&self) -> Option<&Receipt> {
        self.receipt.as_ref()
    }

    /// Whether this is a Play Console test notification.
    pub fn is_test(&self) -> bool {
        matches!(self.notification.kind, NotificationKind::Test(_))
    }
}

impl fmt::Debug for GoogleNotification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GoogleNotification")
            .field("id", &self.id)
            .field("notification_type", &self.notification_type)
            .field("push", &self.metadata)
            .field("notification", &self.notification)
            .field("receipt", &self.receipt)
            .field("data", &format_args!("<{} bytes>", self.data.len()))
            .finish_non_exhaustive()
    }
}

fn type_name(kind: &NotificationKind) -> Cow<'static, str> {
    match kind {
        NotificationKind::Subscription(n) => match n.notification_type.name() {
            Some(name) => Cow::Borrowed(name),
            None => Cow::Owned(format!(
                "SUBSCRIPTION_NOTIFICATION_{}",
                n.notification_type.value()
            )),
        },
        NotificationKind::OneTimeProduct(n) => match n.notification_type.name() {
            Some(name) => Cow::Borrowed(name),
            None => Cow::Owned(format!(
                "ONE_TIME_PRODUCT_NOTIFICATION_{}",
                n.notification_type.value()
            )),
        },
        NotificationKind::VoidedPurchase(_) => Cow::Borrowed("VOIDED_PURCHASE"),
        NotificationKind::Test(_) => Cow::Borrowed("TEST_NOTIFICATION"),
        NotificationKind::Unknown => Cow::Borrowed("UNKNOWN_NOTIFICATION"),
    }
}

impl Notification for GoogleNotification {
    fn store(&self) -> StoreId {
        StoreId::GOOGLE
    }

    fn id(&self) -> &str {
        &self.id
    }

    fn notification_type(&self) -> &str {
        &self.notification_type
    }

    fn disposition(&self) -> Disposition<'_> {
        match (&self.notification.kind, &self.receipt) {
            (NotificationKind::Test(_), _) => Disposition::Test,
            (_, Some(receipt)) => Disposition::Receipt(receipt),
            (_, None) => Disposition::Unreferenced,
        }
    }

    fn event_kind(&self) -> EventKind {
        event_kind(&self.notification.kind)
    }

    fn occurred_at(&self) -> Option<SystemTime> {
        crate::clock::time_from_unix_millis(self.notification.event_time_millis)
    }
}

/// Google's types in the cross-store vocabulary.
fn event_kind(kind: &NotificationKind) -> EventKind {
    use OneTimeProductNotificationType as O;
    use SubscriptionNotificationType as S;
    match kind {
        NotificationKind::Subscription(n) => match n.notification_type {
            S::Purchased => EventKind::Purchase,
            // Recovered: payment succeeded after account hold; restarted: the user undid a
            // cancellation before expiry. Both continue the paid period like a renewal.
            S::Renewed | S::Recovered | S::Restarted => EventKind::Renewal,
            S::Canceled | S::CancellationScheduled => EventKind::Cancellation,
            S::Expired => EventKind::Expiration,
            S::InGracePeriod | S::OnHold => EventKind::BillingIssue,
            // Revoked: access withdrawn before expiry, which Google does on refunds and
            // chargebacks.
            S::Revoked => EventKind::Refund,
            S::ItemsChanged => EventKind::ProductChange,
            _ => EventKind::Other,
        },
        NotificationKind::OneTimeProduct(n) => match n.notification_type {
            O::Purchased => EventKind::Purchase,
            O::Canceled => EventKind::Cancellation,
            _ => EventKind::Other,
        },
        NotificationKind::VoidedPurchase(_) => EventKind::Refund,
        NotificationKind::Test(_) => EventKind::Test,
        NotificationKind::Unknown => EventKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "test-util")]
    #[tokio::test]
    async fn rejections_never_quote_a_value_of_the_body() {
        use crate::testing::GoogleSigner;
        const AUD: &str = "https://example.com/push";
        const SA: &str = "push@p.iam.gserviceaccount.com";
        const NOW: i64 = 1_767_225_600;
        let signer = GoogleSigner::new();
        let store = GoogleStore::new(AUD, SA, signer.static_keys())
            .with_clock(Clock::from_unix(NOW.unsigned_abs()));
        // `notificationType` is a number: the parse error would quote the secret-looking string.
        let data = r#"{"version":"1.0","packageName":"com.example","eventTimeMillis":"1767225595123","subscriptionNotification":{"version":"1.0","notificationType":"SECRET_PURCHASE_TOKEN","purchaseToken":"t","subscriptionId":"s"}}"#;
        let body = GoogleSigner::wrapped_body(
            data,
            "1",
            "2026-01-01T00:00:00Z",
            "projects/p/subscriptions/s",
        );
        let headers = GoogleSigner::headers(&signer.id_token(AUD, SA, NOW));
        let r = store
            .verify_at(&headers, &body, store.now())
            .await
            .expect("authentic")
            .unusable()
            .expect("notificationType is not a number");
        assert!(!r.to_string().contains("SECRET"), "{r}");
    }

    fn kind_of(json: &str) -> NotificationKind {
        DeveloperNotification::from_json(json.as_bytes())
            .expect("parse")
            .kind
    }

    fn sub(n: i32) -> NotificationKind {
        kind_of(&format!(
            r#"{{"packageName":"p","eventTimeMillis":"1","subscriptionNotification":{{"notificationType":{n},"purchaseToken":"t"}}}}"#
        ))
    }

    #[test]
    fn event_kind_table() {
        use EventKind as E;
        let table = [
            (1, E::Renewal),
            (2, E::Renewal),
            (3, E::Cancellation),
            (4, E::Purchase),
            (5, E::BillingIssue),
            (6, E::BillingIssue),
            (7, E::Renewal),
            (8, E::Other),
            (9, E::Other),
            (10, E::Other),
            (11, E::Other),
            (12, E::Refund),
            (13, E::Expiration),
            (17, E::ProductChange),
            (18, E::Cancellation),
            (19, E::Other),
            (20, E::Other),
            (22, E::Other),
            (99, E::Other),
        ];
        for (n, expected) in table {
            assert_eq!(event_kind(&sub(n)), expected, "subscription type {n}");
        }
        let otp = |n: i32| {
            kind_of(&format!(
                r#"{{"packageName":"p","eventTimeMillis":"1","oneTimeProductNotification":{{"notificationType":{n},"purchaseToken":"t","sku":"s"}}}}"#
            ))
        };
        assert_eq!(event_kind(&otp(1)), E::Purchase);
        assert_eq!(event_kind(&otp(2)), E::Cancellation);
        assert_eq!(event_kind(&otp(3)), E::Other);
        let voided = kind_of(
            r#"{"packageName":"p","eventTimeMillis":"1","voidedPurchaseNotification":{"purchaseToken":"t","orderId":"o","productType":1,"refundType":1}}"#,
        );
        assert_eq!(event_kind(&voided), E::Refund);
        let test = kind_of(r#"{"packageName":"p","eventTimeMillis":"1","testNotification":{}}"#);
        assert_eq!(event_kind(&test), E::Test);
        let unknown = kind_of(r#"{"packageName":"p","eventTimeMillis":"1","x":{}}"#);
        assert_eq!(event_kind(&unknown), E::Other);
    }

    #[test]
    fn notification_type_names_are_the_documented_constants() {
        assert_eq!(type_name(&sub(2)), "SUBSCRIPTION_RENEWED");
        assert_eq!(type_name(&sub(99)), "SUBSCRIPTION_NOTIFICATION_99");
        let unknown = kind_of(r#"{"packageName":"p","eventTimeMillis":"1","x":{}}"#);
        assert_eq!(type_name(&unknown), "UNKNOWN_NOTIFICATION");
    }
}
