//! Amazon Appstore Real-Time Notifications (RTN), delivered by Amazon SNS over HTTPS.
//!
//! ```
//! # #[cfg(feature = "test-util")] {
//! use store_notifications::amazon::AmazonStore;
//! use store_notifications::testing::{RtnMessageBuilder, SnsSigner};
//! use store_notifications::{Clock, Notification};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! // In production: `AmazonStore::new(PinnedCerts::from_dir("sns-certs")?)`, or
//! // `AmazonStore::https()?` (feature `fetch`) to download certificates and confirm
//! // subscriptions. Here: the test signer's throwaway certificate.
//! let signer = SnsSigner::new();
//! let store = AmazonStore::new(signer.pinned_certs())
//!     .with_topic_arn(SnsSigner::TOPIC_ARN)      // only your topic
//!     .with_app_package_name("com.example.app")  // only your app
//!     .with_clock(Clock::from_unix(1_767_225_600));
//!
//! let rtn = RtnMessageBuilder::new("com.example.app", "SUBSCRIPTION_RENEWED", "rcpt:3:11");
//! let delivery = signer.notification(rtn.to_json()).sign();
//! let n = store.verify_delivery(&delivery.headers, &delivery.body).await.unwrap();
//! assert_eq!(n.notification_type(), "SUBSCRIPTION_RENEWED");
//! assert_eq!(n.receipt().unwrap().reference, "rcpt:3:11");
//! # });
//! # }
//! ```
//!
//! What is checked, in order (each rule is a test in `sns.rs`, `cert.rs` or below):
//!
//! 1. the body is an SNS JSON object (any content type: SNS sends `text/plain`) with the
//!    required fields of its `Type`; `x-amz-sns-message-type`, `-message-id` and `-topic-arn`,
//!    when present, agree with it (400 otherwise);
//! 2. `SignatureVersion` is `1` or `2`, `Signature` is base64 (401);
//! 3. `SigningCertURL` passes the [`CertUrl`] rules, and its host's region is the region of the
//!    `TopicArn` (401);
//! 4. the [`CertSource`] has the certificate (401 if it definitely has not, 503 if it cannot
//!    get it now — SNS only retries 5xx); its key is cached per URL, bounded;
//! 5. the RSA PKCS#1 v1.5 signature (`SignatureVersion` `1`: SHA-1, `2`: SHA-256) over
//!    `"Key\nValue\n"` for these keys, in this order (401):
//!
//!    | `Type` | signed keys |
//!    | --- | --- |
//!    | `Notification` | Message, MessageId, Subject (only if present), Timestamp, TopicArn, Type |
//!    | confirmations | Message, MessageId, SubscribeURL, Timestamp, Token, TopicArn, Type |
//!
//! 6. `TopicArn` is in the allow-list, when one is configured (403);
//! 7. for a `Notification`, `Message` is an RTN ([`RtnMessage`]) — an authentic message that
//!    is not one is [unusable](crate::Rejection::is_authentic): dead-lettered, answered 200 —
//!    and its `appPackageName` is the configured one, when configured (403).
//!
//! Configure the topic allow-list ([`AmazonStore::with_topic_arn`]): the signature proves that
//! SNS delivered a message, not which AWS account published it.
//!
//! Certificate validity dates and the `Timestamp`'s age are not checked, as in AWS's PHP and
//! JS validators: trust comes from the URL rules (or your pinning), and SNS retries for hours.
//! Redeliveries keep their `MessageId` ([`Notification::id`]).
//!
//! Subscription confirmations are [`Disposition::Control`]: the pipeline calls
//! [`Store::handle_control`], which confirms through the [`Confirmer`] and reports the
//! [`Subscription`] for the status ("Verified" in the Amazon console). *Resend* in the console
//! sends a new confirmation, which is confirmed again.

mod cert;
mod confirm;
mod rtn;
mod sns;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use http::HeaderMap;

#[cfg(feature = "fetch")]
pub use cert::HttpsCertSource;
pub use cert::{
    CertError, CertSource, CertSourceError, CertSourceErrorKind, CertUrl, PinnedCerts, UrlError,
};
#[cfg(feature = "fetch")]
pub use confirm::HttpsConfirmer;
pub use confirm::{ConfirmRequest, Confirmer, RecordOnly, SubscribeUrl};
pub use rtn::{RtnMessage, RtnNotificationType};
pub use sns::{SignatureVersion, SnsMessage, SnsMessageType};

use crate::clock::Clock;
use crate::event::EventKind;
use crate::hook::Receipt;
use crate::kernel::cache::{Fetched, SourceError};
use crate::kernel::json;
use crate::rejection::{Rejection, RejectionKind};
use crate::status::{Subscription, SubscriptionState};
use crate::store::{Disposition, Notification, Store, StoreId};
#[cfg(feature = "test-util")]
pub(crate) use cert::topic_arn_region;
use cert::{DEFAULT_KEY_CACHE_CAPACITY, KeyCache, SigningKey};
#[cfg(feature = "test-util")]
pub(crate) use sns::string_to_sign as string_to_sign_for_tests;

/// The Amazon SNS / RTN verifier. Cheap to clone (clones share the key cache).
#[derive(Clone)]
pub struct AmazonStore {
    certs: Arc<dyn CertSource>,
    keys: Arc<KeyCache>,
    confirmer: Arc<dyn Confirmer>,
    topic_arns: Option<Vec<String>>,
    app_package_name: Option<String>,
    clock: Clock,
}

impl AmazonStore {
    /// A verifier trusting the certificates `certs` gives for URLs that pass the rules, any
    /// topic and any app, confirming nothing ([`RecordOnly`]: confirmations are recorded as
    /// pending until you set a [`Confirmer`]).
    pub fn new(certs: impl CertSource) -> Self {
        AmazonStore {
            certs: Arc::new(certs),
            keys: Arc::new(cert::key_cache(DEFAULT_KEY_CACHE_CAPACITY)),
            confirmer: Arc::new(RecordOnly),
            topic_arns: None,
            app_package_name: None,
            clock: Clock::system(),
        }
    }

    /// A verifier downloading certificates from SNS ([`HttpsCertSource`]) and confirming
    /// subscriptions by GET of their `SubscribeURL` ([`HttpsConfirmer`]).
    #[cfg(feature = "fetch")]
    #[cfg_attr(docsrs, doc(cfg(feature = "fetch")))]
    pub fn https() -> Result<Self, reqwest::Error> {
        Ok(AmazonStore::new(HttpsCertSource::new()?).with_confirmer(HttpsConfirmer::new()?))
    }

    /// Accepts messages from `topic_arn` (call again for more). Without any, every topic is
    /// accepted; with some, a genuine message from another topic is 403 and its confirmation
    /// is never confirmed.
    ///
    /// Strongly recommended: an SNS signature proves that SNS sent a message, not that
    /// Amazon Appstore published it. Without an allow-list, any AWS account can subscribe your
    /// endpoint to its own topic and publish genuinely signed RTN look-alikes. The topic ARN
    /// is in the first `SubscriptionConfirmation` (recorded in the status).
    #[must_use]
    pub fn with_topic_arn(mut self, topic_arn: impl Into<String>) -> Self {
        self.topic_arns
            .get_or_insert_with(Vec::new)
            .push(topic_arn.into());
        self
    }

    /// Accepts only RTNs whose `appPackageName` is `name` (others: 403).
    #[must_use]
    pub fn with_app_package_name(mut self, name: impl Into<String>) -> Self {
        self.app_package_name = Some(name.into());
        self
    }

    /// Confirms subscriptions with `confirmer` (default [`RecordOnly`]).
    #[must_use]
    pub fn with_confirmer(mut self, confirmer: impl Confirmer) -> Self {
        self.confirmer = Arc::new(confirmer);
        self
    }

    /// How many certificate keys to keep (default 64).
    #[must_use]
    pub fn with_key_cache_capacity(mut self, capacity: usize) -> Self {
        self.keys = Arc::new(cert::key_cache(capacity));
        self
    }

    /// The clock confirmation times are read from, and the certificate cache's windows (how
    /// long a "not found" is remembered).
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The current time on this store's clock.
    pub fn now(&self) -> SystemTime {
        self.clock.now()
    }

    /// Verifies one delivery (the same as [`Store::verify`], callable without the trait).
    pub async fn verify_delivery(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<AmazonNotification, Rejection> {
        let sns = self.verify_envelope(headers, body).await?;
        self.check_topic(&sns)?;
        match sns.message_type {
            SnsMessageType::Notification => {
                let message = RtnMessage::parse(&sns.message).map_err(|e| {
                    Rejection::unusable(
                        RejectionKind::Unsupported,
                        format!(
                            "authentic SNS Message is not an RTN: {}",
                            json::describe(&e)
                        ),
                    )
                })?;
                if let Some(expected) = &self.app_package_name {
                    if &message.app_package_name != expected {
                        return Err(Rejection::new(
                            RejectionKind::WrongApp,
                            format!("RTN for app {:?}, not this one", message.app_package_name),
                        ));
                    }
                }
                let mut receipt = Receipt::new(StoreId::AMAZON, message.receipt_id.clone())
                    .with_app(message.app_package_name.clone())
                    .with_environment(if message.is_beta() {
                        "live_app_test"
                    } else {
                        "production"
                    });
                if let Some(sku) = &message.sku {
                    receipt = receipt.with_product(sku.clone());
                }
                Ok(AmazonNotification::Rtn(Box::new(RtnNotification {
                    sns,
                    message,
                    receipt,
                })))
            }
            SnsMessageType::SubscriptionConfirmation | SnsMessageType::UnsubscribeConfirmation => {
                let (Some(token), Some(subscribe_url)) =
                    (sns.token.clone(), sns.subscribe_url.clone())
                else {
                    return Err(Rejection::malformed(
                        "confirmation without Token or SubscribeURL",
                    ));
                };
                let confirmation = SnsConfirmation {
                    sns,
                    token,
                    subscribe_url,
                };
                Ok(match confirmation.sns.message_type {
                    SnsMessageType::SubscriptionConfirmation => {
                        AmazonNotification::SubscriptionConfirmation(confirmation)
                    }
                    _ => AmazonNotification::UnsubscribeConfirmation(confirmation),
                })
            }
        }
    }

    /// Only the envelope and its signature (steps 1–5, no topic or payload rules): the part
    /// the benchmarks compare with one RSA verify, and a building block for custom pipelines.
    pub async fn verify_envelope(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<SnsMessage, Rejection> {
        let sns = sns::parse(body)?;
        sns::check_headers(headers, &sns)?;
        let refused =
            |e: UrlError| Rejection::unauthenticated(format!("SigningCertURL refused: {e}"));
        // The cache only holds URLs that passed the rules, in canonical form: a byte-equal
        // URL is that same URL, so a hit skips parsing it again. The region rule binds the URL
        // to this message, so it is checked on a hit too (before any certificate lookup).
        let cached = |key: &Arc<SigningKey>| Some(Arc::clone(key));
        let key = match self
            .keys
            .peek(&sns.signing_cert_url, self.clock.now(), cached)
        {
            Some(key) => {
                let region = cert::canonical_url_region(&sns.signing_cert_url);
                cert::check_region_matches_topic(region, &sns.topic_arn).map_err(refused)?;
                key
            }
            None => {
                let url = CertUrl::parse(&sns.signing_cert_url).map_err(refused)?;
                cert::check_region_matches_topic(url.region(), &sns.topic_arn).map_err(refused)?;
                self.fetch_signing_key(&url).await?
            }
        };
        sns.verify_signature(key.der())?;
        Ok(sns)
    }

    /// The signing key of `url` through the cache: one fetch for concurrent messages naming a
    /// new certificate, and a "not found" remembered, so a forged URL repeated is not fetched
    /// again within the window.
    async fn fetch_signing_key(&self, url: &CertUrl) -> Result<Arc<SigningKey>, Rejection> {
        let fetch = || async {
            let pem = self
                .certs
                .certificate(url)
                .await
                .map_err(|e| match e.kind() {
                    CertSourceErrorKind::NotFound => SourceError::NotFound(e.to_string()),
                    CertSourceErrorKind::Unavailable => SourceError::Unavailable(e.to_string()),
                })?;
            let key = SigningKey::from_pem(&pem)
                .map_err(|e| SourceError::NotFound(format!("unusable signing certificate: {e}")))?;
            Ok(Fetched {
                value: Arc::new(key),
                max_age: None,
            })
        };
        self.keys
            .get(
                url.as_str(),
                &self.clock,
                |key| Some(Arc::clone(key)),
                fetch,
            )
            .await
            .map_err(|miss| {
                miss.into_rejection(
                    "signing certificate not found",
                    "signing certificate temporarily unobtainable; retry",
                )
            })
    }

    fn check_topic(&self, sns: &SnsMessage) -> Result<(), Rejection> {
        match &self.topic_arns {
            Some(allowed) if !allowed.iter().any(|t| t == &sns.topic_arn) => Err(Rejection::new(
                RejectionKind::WrongApp,
                format!("topic {} is not allowed here", sns.topic_arn),
            )),
            _ => Ok(()),
        }
    }

    async fn control(&self, n: &AmazonNotification) -> Result<Option<Subscription>, Rejection> {
        let at = self.clock.now();
        let subscription = match n {
            AmazonNotification::SubscriptionConfirmation(c) => {
                // Checked here, after the signature, as AWS's validators do: the confirmation
                // is genuine, but its URL is still only followed to an SNS host.
                let refused =
                    |e: UrlError| Rejection::unauthenticated(format!("SubscribeURL refused: {e}"));
                let subscribe_url = SubscribeUrl::parse(&c.subscribe_url).map_err(refused)?;
                cert::check_region_matches_topic(subscribe_url.region(), &c.sns.topic_arn)
                    .map_err(refused)?;
                let request = ConfirmRequest {
                    topic_arn: c.sns.topic_arn.clone(),
                    token: c.token.clone(),
                    subscribe_url,
                };
                if self.topic_arns.is_none() {
                    // Any AWS account can subscribe this endpoint to its own topic and then
                    // publish genuinely signed messages: the allow-list is what stops that.
                    tracing::warn!(topic = %c.sns.topic_arn,
                        "confirming an SNS subscription with no topic allow-list; \
                         set AmazonStore::with_topic_arn to this topic");
                }
                // No "already confirmed" shortcut: *Resend* in the console must confirm again.
                let state = self.confirmer.confirm(&request).await.map_err(|e| {
                    tracing::warn!(topic = %c.sns.topic_arn, error = %e,
                        "SNS subscription confirmation failed; answering 503 so SNS resends");
                    Rejection::new(
                        RejectionKind::Unavailable,
                        "subscription confirmation failed; resend",
                    )
                })?;
                Subscription::new(c.sns.topic_arn.clone(), state, at)
                    .with_token(c.token.clone())
                    .with_subscribe_url(c.subscribe_url.clone())
            }
            // Never GET this one's SubscribeURL: that would subscribe again.
            AmazonNotification::UnsubscribeConfirmation(c) => {
                Subscription::new(c.sns.topic_arn.clone(), SubscriptionState::Unsubscribed, at)
                    .with_token(c.token.clone())
                    .with_subscribe_url(c.subscribe_url.clone())
            }
            AmazonNotification::Rtn(_) => return Ok(None),
        };
        Ok(Some(subscription))
    }
}

impl fmt::Debug for AmazonStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AmazonStore")
            .field("topic_arns", &self.topic_arns)
            .field("app_package_name", &self.app_package_name)
            .field("cached_keys", &self.keys.len())
            .finish_non_exhaustive()
    }
}

impl Store for AmazonStore {
    type Notification = AmazonNotification;
    const ID: StoreId = StoreId::AMAZON;

    fn verify(
        &self,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> impl Future<Output = Result<AmazonNotification, Rejection>> + Send {
        self.verify_delivery(headers, body)
    }

    fn handle_control(
        &self,
        notification: &AmazonNotification,
    ) -> impl Future<Output = Result<Option<Subscription>, Rejection>> + Send {
        self.control(notification)
    }
}

/// A verified Amazon SNS delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AmazonNotification {
    /// A Real-Time Notification about a receipt.
    Rtn(Box<RtnNotification>),
    /// SNS asks to confirm the subscription (handled by the store: [`Disposition::Control`]).
    SubscriptionConfirmation(SnsConfirmation),
    /// The subscription was removed (recorded: [`Disposition::Control`]).
    UnsubscribeConfirmation(SnsConfirmation),
}

impl AmazonNotification {
    /// The SNS envelope.
    pub fn sns(&self) -> &SnsMessage {
        match self {
            AmazonNotification::Rtn(n) => &n.sns,
            AmazonNotification::SubscriptionConfirmation(c)
            | AmazonNotification::UnsubscribeConfirmation(c) => &c.sns,
        }
    }

    /// The RTN, for notifications.
    pub fn rtn(&self) -> Option<&RtnMessage> {
        match self {
            AmazonNotification::Rtn(n) => Some(&n.message),
            _ => None,
        }
    }

    /// The receipt (`receiptId`) an RTN is about — also for Live App Testing ones, which the
    /// pipeline treats as test notifications.
    pub fn receipt(&self) -> Option<&Receipt> {
        match self {
            AmazonNotification::Rtn(n) => Some(&n.receipt),
            _ => None,
        }
    }

    /// The confirmation, for subscribe and unsubscribe confirmations.
    pub fn confirmation(&self) -> Option<&SnsConfirmation> {
        match self {
            AmazonNotification::SubscriptionConfirmation(c)
            | AmazonNotification::UnsubscribeConfirmation(c) => Some(c),
            AmazonNotification::Rtn(_) => None,
        }
    }

    /// Whether it is a Live App Testing purchase (`betaProductTransaction`).
    pub fn is_test(&self) -> bool {
        self.rtn().is_some_and(RtnMessage::is_beta)
    }
}

impl Notification for AmazonNotification {
    fn store(&self) -> StoreId {
        StoreId::AMAZON
    }

    fn id(&self) -> &str {
        &self.sns().message_id
    }

    fn notification_type(&self) -> &str {
        match self {
            AmazonNotification::Rtn(n) => n.message.notification_type.as_str(),
            other => other.sns().message_type.as_str(),
        }
    }

    fn disposition(&self) -> Disposition<'_> {
        match self {
            // Live App Testing purchases are Amazon's test notifications: the handler sees
            // them, the receipt hook is not asked about a tester's receipt.
            AmazonNotification::Rtn(n) if n.message.is_beta() => Disposition::Test,
            AmazonNotification::Rtn(n) => Disposition::Receipt(&n.receipt),
            _ => Disposition::Control,
        }
    }

    fn event_kind(&self) -> EventKind {
        match self {
            AmazonNotification::Rtn(n) if n.message.is_beta() => EventKind::Test,
            AmazonNotification::Rtn(n) => n.message.notification_type.event_kind(),
            _ => EventKind::Other,
        }
    }

    fn occurred_at(&self) -> Option<SystemTime> {
        self.rtn()
            .and_then(RtnMessage::time)
            .or_else(|| self.sns().timestamp_time())
    }
}

/// A verified RTN with its envelope and receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtnNotification {
    sns: SnsMessage,
    message: RtnMessage,
    receipt: Receipt,
}

impl RtnNotification {
    /// The SNS envelope.
    pub fn sns(&self) -> &SnsMessage {
        &self.sns
    }

    /// The RTN.
    pub fn message(&self) -> &RtnMessage {
        &self.message
    }

    /// The receipt: `receiptId`, with `appPackageName` as the app and `sku` (if sent) as the
    /// product; environment `production`, or `live_app_test` for beta transactions.
    pub fn receipt(&self) -> &Receipt {
        &self.receipt
    }
}

/// A verified `SubscriptionConfirmation` or `UnsubscribeConfirmation`.
#[derive(Clone, PartialEq, Eq)]
pub struct SnsConfirmation {
    sns: SnsMessage,
    token: String,
    subscribe_url: String,
}

impl SnsConfirmation {
    /// The SNS envelope.
    pub fn sns(&self) -> &SnsMessage {
        &self.sns
    }

    /// `TopicArn`.
    pub fn topic_arn(&self) -> &str {
        &self.sns.topic_arn
    }

    /// `Token` (confirms the subscription through the `ConfirmSubscription` API).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// `SubscribeURL`, as signed (checked against the SNS host rule before it is followed).
    pub fn subscribe_url(&self) -> &str {
        &self.subscribe_url
    }
}

impl fmt::Debug for SnsConfirmation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SnsConfirmation")
            .field("sns", &self.sns)
            .field("token", &"<redacted>")
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, feature = "test-util"))]
mod tests {
    use super::*;
    use crate::testing::{RtnMessageBuilder, SnsSigner};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    fn store() -> AmazonStore {
        AmazonStore::new(SnsSigner::new().pinned_certs())
            .with_clock(Clock::from_unix(1_767_225_600))
    }

    #[tokio::test]
    async fn rejections_never_quote_a_value_of_the_body() {
        // `betaProductTransaction` is a boolean: the parse error would quote the string.
        let message = r#"{"appPackageName":"com.example.app","notificationType":"SUBSCRIPTION_RENEWED","receiptId":"r:3:11","betaProductTransaction":"SECRET_RECEIPT_VALUE"}"#;
        let d = SnsSigner::new().notification(message).sign();
        let r = store()
            .verify_delivery(&d.headers, &d.body)
            .await
            .map(|_| ())
            .expect_err("not an RTN");
        assert!(r.is_authentic(), "{r}");
        assert!(!r.to_string().contains("SECRET"), "{r}");
        assert!(r.to_string().contains("expected a boolean"), "{r}");
    }

    /// Pinned certificates that count lookups and can hold them until released.
    struct Counting {
        pinned: PinnedCerts,
        calls: AtomicUsize,
        gate: tokio::sync::Semaphore,
    }

    #[async_trait::async_trait]
    impl CertSource for Counting {
        async fn certificate(&self, url: &CertUrl) -> Result<Vec<u8>, CertSourceError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let _permit = self.gate.acquire().await;
            self.pinned.certificate(url).await
        }
    }

    fn counting() -> Arc<Counting> {
        Arc::new(Counting {
            pinned: SnsSigner::new().pinned_certs(),
            calls: AtomicUsize::new(0),
            gate: tokio::sync::Semaphore::new(1_000),
        })
    }

    #[tokio::test]
    async fn a_forged_signing_cert_url_is_fetched_once_per_window() {
        let source = counting();
        let (clock, now) = crate::clock::manual(1_767_225_600);
        let store = AmazonStore::new(Arc::clone(&source) as Arc<dyn CertSource>).with_clock(clock);
        let forged = SnsSigner::new()
            .notification(rtn(false))
            .signing_cert_url(
                "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-forged.pem",
            )
            .sign();
        for _ in 0..20 {
            let r = store
                .verify_delivery(&forged.headers, &forged.body)
                .await
                .expect_err("not pinned");
            assert_eq!(r.kind(), RejectionKind::Unauthenticated, "{r}");
        }
        assert_eq!(
            source.calls.load(Ordering::SeqCst),
            1,
            "one lookup in the window"
        );
        now.fetch_add(
            crate::kernel::cache::DEFAULT_NOT_FOUND_TTL.as_secs(),
            Ordering::SeqCst,
        );
        store
            .verify_delivery(&forged.headers, &forged.body)
            .await
            .expect_err("not pinned");
        assert_eq!(
            source.calls.load(Ordering::SeqCst),
            2,
            "asked again after the window"
        );
        // The genuine certificate is unaffected.
        let d = SnsSigner::new().notification(rtn(false)).sign();
        store
            .verify_delivery(&d.headers, &d.body)
            .await
            .expect("genuine");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_messages_naming_a_new_certificate_cause_one_lookup() {
        let source = counting();
        let store = AmazonStore::new(Arc::clone(&source) as Arc<dyn CertSource>)
            .with_clock(Clock::from_unix(1_767_225_600));
        let held = source.gate.acquire_many(1_000).await.expect("permits");
        let d = SnsSigner::new().notification(rtn(false)).sign();
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (store, headers, body) = (store.clone(), d.headers.clone(), d.body.clone());
                tokio::spawn(
                    async move { store.verify_delivery(&headers, &body).await.map(|_| ()) },
                )
            })
            .collect();
        while source.calls.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(held);
        for task in tasks {
            task.await.expect("join").expect("genuine");
        }
        assert_eq!(source.calls.load(Ordering::SeqCst), 1, "single flight");
    }

    fn rtn(beta: bool) -> String {
        RtnMessageBuilder::new("com.example.app", "SUBSCRIPTION_PURCHASED", "r:3:11")
            .beta_product_transaction(beta)
            .to_json()
    }

    #[tokio::test]
    async fn beta_product_transactions_are_test_notifications() {
        let d = SnsSigner::new().notification(rtn(true)).sign();
        let n = store()
            .verify_delivery(&d.headers, &d.body)
            .await
            .expect("ok");
        assert_eq!(n.disposition(), Disposition::Test);
        assert_eq!(n.event_kind(), EventKind::Test);
        assert_eq!(n.receipt().map(|r| r.reference.as_str()), Some("r:3:11"));
    }

    #[tokio::test]
    async fn rtn_receipt_carries_app_and_product() {
        let msg = RtnMessageBuilder::new("com.example.app", "SUBSCRIPTION_RENEWED", "r:3:11")
            .sku("premium_monthly")
            .to_json();
        let d = SnsSigner::new().notification(msg).sign();
        let n = store()
            .verify_delivery(&d.headers, &d.body)
            .await
            .expect("ok");
        let Disposition::Receipt(r) = n.disposition() else {
            panic!("not a receipt");
        };
        assert_eq!(r.app.as_deref(), Some("com.example.app"));
        assert_eq!(r.product.as_deref(), Some("premium_monthly"));
        assert_eq!(n.event_kind(), EventKind::Renewal);
    }

    #[tokio::test]
    async fn signing_keys_are_cached_by_url() {
        let store = store();
        let d = SnsSigner::new().notification(rtn(false)).sign();
        store
            .verify_delivery(&d.headers, &d.body)
            .await
            .expect("ok");
        store
            .verify_delivery(&d.headers, &d.body)
            .await
            .expect("ok");
        assert_eq!(store.keys.len(), 1);
    }

    struct Flaky;
    #[async_trait::async_trait]
    impl CertSource for Flaky {
        async fn certificate(&self, _: &CertUrl) -> Result<Vec<u8>, CertSourceError> {
            Err(CertSourceError::new(
                CertSourceErrorKind::Unavailable,
                "timeout",
            ))
        }
    }

    #[tokio::test]
    async fn unobtainable_certificate_is_unavailable_so_sns_retries() {
        let d = SnsSigner::new().notification(rtn(false)).sign();
        let r = AmazonStore::new(Flaky)
            .verify_delivery(&d.headers, &d.body)
            .await
            .expect_err("503");
        assert_eq!(r.kind(), RejectionKind::Unavailable);
        assert_eq!(r.status(), 503);
    }

    #[tokio::test]
    async fn confirmation_for_a_foreign_topic_is_wrong_app_and_never_confirmed() {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = Arc::clone(&calls);
        let store = store()
            .with_topic_arn("arn:aws:sns:us-east-1:123456789012:mine")
            .with_confirmer(move |_: ConfirmRequest| {
                c.fetch_add(1, Ordering::SeqCst);
                async { Ok::<_, std::io::Error>(()) }
            });
        let d = SnsSigner::new().subscription_confirmation("tok").sign();
        let r = store
            .verify_delivery(&d.headers, &d.body)
            .await
            .expect_err("403");
        assert_eq!(r.kind(), RejectionKind::WrongApp);
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn subscribe_url_off_the_sns_host_is_never_followed() {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = Arc::clone(&calls);
        let store = store().with_confirmer(move |_: ConfirmRequest| {
            c.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, std::io::Error>(()) }
        });
        let d = SnsSigner::new()
            .subscription_confirmation("tok")
            .subscribe_url("https://sns.us-east-1.amazonaws.com.evil.com/?Token=tok")
            .sign();
        let n = store
            .verify_delivery(&d.headers, &d.body)
            .await
            .expect("signed");
        let r = store.control(&n).await.expect_err("refused");
        assert_eq!(r.kind(), RejectionKind::Unauthenticated);
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn sns_host_region_must_match_topic_arn_region() {
        // The pinned file under another region's host: genuine file, wrong region for the topic.
        let d = SnsSigner::new()
            .notification(rtn(false))
            .signing_cert_url(format!(
                "https://sns.us-west-2.amazonaws.com/{}",
                SnsSigner::CERT_FILE_NAME
            ))
            .sign();
        let r = store()
            .verify_delivery(&d.headers, &d.body)
            .await
            .expect_err("401");
        assert_eq!(r.kind(), RejectionKind::Unauthenticated);
        assert!(r.to_string().contains("region"), "{r}");
    }

    #[tokio::test]
    async fn sns_host_region_must_match_topic_arn_region_on_a_cache_hit_too() {
        let store = store();
        let d = SnsSigner::new().notification(rtn(false)).sign();
        store
            .verify_delivery(&d.headers, &d.body)
            .await
            .expect("ok");
        assert_eq!(store.keys.len(), 1, "the us-east-1 URL is cached");
        let d = SnsSigner::new()
            .notification(rtn(false))
            .topic_arn("arn:aws:sns:eu-west-1:123456789012:store-notifications-test")
            .sign();
        let r = store
            .verify_delivery(&d.headers, &d.body)
            .await
            .expect_err("401");
        assert_eq!(r.kind(), RejectionKind::Unauthenticated);
    }

    #[tokio::test]
    async fn sns_host_must_name_a_region_not_an_s3_bucket() {
        for host in ["sns.s3.amazonaws.com", "sns.s3-us-east-1.amazonaws.com"] {
            let d = SnsSigner::new()
                .notification(rtn(false))
                .signing_cert_url(format!("https://{host}/{}", SnsSigner::CERT_FILE_NAME))
                .sign();
            let r = store()
                .verify_delivery(&d.headers, &d.body)
                .await
                .expect_err("401");
            assert_eq!(r.kind(), RejectionKind::Unauthenticated, "{host}");
        }
    }

    #[tokio::test]
    async fn topic_arn_that_is_not_an_sns_arn_is_unauthenticated() {
        let d = SnsSigner::new()
            .notification(rtn(false))
            .topic_arn("arn:t")
            .sign();
        let r = store()
            .verify_delivery(&d.headers, &d.body)
            .await
            .expect_err("401");
        assert_eq!(r.kind(), RejectionKind::Unauthenticated);
    }

    #[tokio::test]
    async fn subscribe_url_region_must_match_topic_arn_region() {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = Arc::clone(&calls);
        let store = store().with_confirmer(move |_: ConfirmRequest| {
            c.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, std::io::Error>(()) }
        });
        let d = SnsSigner::new()
            .subscription_confirmation("tok")
            .subscribe_url(format!(
                "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={}&Token=tok",
                SnsSigner::TOPIC_ARN
            ))
            .sign();
        let n = store
            .verify_delivery(&d.headers, &d.body)
            .await
            .expect("signed");
        let r = store.control(&n).await.expect_err("refused");
        assert_eq!(r.kind(), RejectionKind::Unauthenticated);
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn signer_for_another_region_signs_from_that_regions_host() {
        for topic in [
            "arn:aws:sns:ap-southeast-2:123456789012:t",
            "arn:aws-cn:sns:cn-north-1:123456789012:t",
            "arn:aws-us-gov:sns:us-gov-west-1:123456789012:t",
        ] {
            let signer = SnsSigner::new().with_topic_arn(topic);
            let store = AmazonStore::new(signer.pinned_certs()).with_topic_arn(topic);
            let d = signer.notification(rtn(false)).sign();
            store
                .verify_delivery(&d.headers, &d.body)
                .await
                .unwrap_or_else(|e| panic!("{topic}: {e}"));
            let d = signer.subscription_confirmation("tok").sign();
            let n = store
                .verify_delivery(&d.headers, &d.body)
                .await
                .unwrap_or_else(|e| panic!("{topic}: {e}"));
            store
                .control(&n)
                .await
                .unwrap_or_else(|e| panic!("{topic}: {e}"));
        }
    }

    #[tokio::test]
    async fn rtn_timestamp_out_of_range_is_no_time_never_a_panic() {
        let msg = RtnMessageBuilder::new("com.example.app", "SUBSCRIPTION_RENEWED", "r:3:11")
            .timestamp_ms(i64::MAX)
            .to_json();
        let d = SnsSigner::new().notification(msg).sign();
        let n = store()
            .verify_delivery(&d.headers, &d.body)
            .await
            .expect("authentic");
        assert_eq!(n.rtn().and_then(|m| m.timestamp_ms), Some(i64::MAX));
        assert_eq!(n.rtn().and_then(RtnMessage::time), None);
        // The SNS `Timestamp` stands in, as for an RTN without `timestamp`.
        assert_eq!(n.occurred_at(), n.sns().timestamp_time());
        assert!(n.occurred_at().is_some());

        // `timestamp` is an integer: past i64 the Message is not an RTN (dead-lettered).
        let msg = RtnMessageBuilder::new("com.example.app", "SUBSCRIPTION_RENEWED", "r:3:11")
            .field("timestamp", serde_json::Value::from(u64::MAX))
            .to_json();
        let d = SnsSigner::new().notification(msg).sign();
        let r = store()
            .verify_delivery(&d.headers, &d.body)
            .await
            .expect_err("not an RTN");
        assert!(r.is_authentic(), "{r}");
    }

    #[tokio::test]
    async fn unsubscribe_confirmation_is_recorded_without_a_request() {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = Arc::clone(&calls);
        let store = store().with_confirmer(move |_: ConfirmRequest| {
            c.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, std::io::Error>(()) }
        });
        let d = SnsSigner::new().unsubscribe_confirmation("tok").sign();
        let n = store
            .verify_delivery(&d.headers, &d.body)
            .await
            .expect("ok");
        assert_eq!(n.disposition(), Disposition::Control);
        let sub = store.control(&n).await.expect("ok").expect("recorded");
        assert_eq!(sub.state, SubscriptionState::Unsubscribed);
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn record_only_is_the_default_and_keeps_the_token() {
        let d = SnsSigner::new().subscription_confirmation("tok-1").sign();
        let n = store()
            .verify_delivery(&d.headers, &d.body)
            .await
            .expect("ok");
        assert_eq!(n.notification_type(), "SubscriptionConfirmation");
        let sub = store().control(&n).await.expect("ok").expect("recorded");
        assert_eq!(sub.state, SubscriptionState::PendingConfirmation);
        assert_eq!(sub.token.as_deref(), Some("tok-1"));
        assert_eq!(sub.topic, SnsSigner::TOPIC_ARN);
        assert!(!format!("{n:?}").contains("tok-1"));
    }
}
