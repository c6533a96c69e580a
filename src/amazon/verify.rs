//! Verification: the SNS envelope, the `SigningCertURL` rules, the signing key through the
//! cache, the signature, the topic and the RTN, in that order (see the [module docs](super)).

use std::future::Future;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use http::HeaderMap;

use super::cert::{self, CertSourceErrorKind, CertUrl, SigningKey, UrlError};
use super::mapping;
use super::notification::{AmazonNotification, RtnNotification, SnsConfirmation};
use super::rtn::RtnMessage;
use super::sns::{self, SnsMessage, SnsMessageType};
use super::store::AmazonStore;
use crate::kernel::cache::{Fetched, SourceError};
use crate::kernel::json;
use crate::rejection::{Rejection, RejectionKind};
use crate::status::Subscription;
use crate::store::{Store, StoreId, Verdict};

impl AmazonStore {
    /// Verifies one delivery at `now` (what [`Store::verify`] does with the store's clock). An
    /// authentic SNS notification whose `Message` is not an RTN is [`Verdict::Unusable`].
    ///
    /// SNS messages carry no date this store checks (see the [module docs](super)): `now` is
    /// taken for the same shape as every store's `verify_at`; the certificate cache keeps time
    /// on the store's clock.
    pub async fn verify_at(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<Verdict<AmazonNotification>, Rejection> {
        let _ = now;
        Verdict::from_result(self.verify_marked(headers, body).await)
    }

    /// [`verify_at`](AmazonStore::verify_at) with the authentic marker still in the rejection.
    pub(crate) async fn verify_marked(
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
                let receipt = mapping::receipt(&message);
                Ok(AmazonNotification::Rtn(Box::new(RtnNotification::new(
                    sns, message, receipt,
                ))))
            }
            SnsMessageType::SubscriptionConfirmation | SnsMessageType::UnsubscribeConfirmation => {
                let (Some(token), Some(subscribe_url)) =
                    (sns.token.clone(), sns.subscribe_url.clone())
                else {
                    return Err(Rejection::malformed(
                        "confirmation without Token or SubscribeURL",
                    ));
                };
                let confirmation = SnsConfirmation::new(sns, token, subscribe_url);
                Ok(match confirmation.sns().message_type {
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
}

impl Store for AmazonStore {
    type Notification = AmazonNotification;
    const ID: StoreId = StoreId::AMAZON;

    fn verify(
        &self,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> impl Future<Output = Result<Verdict<AmazonNotification>, Rejection>> + Send {
        self.verify_at(headers, body, self.clock.now())
    }

    fn handle_control(
        &self,
        notification: &AmazonNotification,
    ) -> impl Future<Output = Result<Option<Subscription>, Rejection>> + Send {
        self.control(notification)
    }
}

#[cfg(all(test, feature = "test-util"))]
mod tests {
    use super::*;
    use crate::amazon::{CertSource, CertSourceError, ConfirmRequest, PinnedCerts};
    use crate::clock::Clock;
    use crate::event::EventKind;
    use crate::status::SubscriptionState;
    use crate::store::{Disposition, Notification};
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
            .verify_marked(&d.headers, &d.body)
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
                .verify_marked(&forged.headers, &forged.body)
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
            .verify_marked(&forged.headers, &forged.body)
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
            .verify_marked(&d.headers, &d.body)
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
                tokio::spawn(async move { store.verify_marked(&headers, &body).await.map(|_| ()) })
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
            .verify_marked(&d.headers, &d.body)
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
            .verify_marked(&d.headers, &d.body)
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
        store.verify_marked(&d.headers, &d.body).await.expect("ok");
        store.verify_marked(&d.headers, &d.body).await.expect("ok");
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
            .verify_marked(&d.headers, &d.body)
            .await
            .expect_err("503");
        assert_eq!(r.kind(), RejectionKind::Unavailable);
        assert_eq!(r.status(), 503);
    }

    #[tokio::test]
    async fn confirmation_for_a_foreign_topic_is_wrong_app_and_never_confirmed() {
        let (store, calls) =
            counting_confirms(store().with_topic_arn("arn:aws:sns:us-east-1:123456789012:mine"));
        let d = SnsSigner::new().subscription_confirmation("tok").sign();
        let r = store
            .verify_marked(&d.headers, &d.body)
            .await
            .expect_err("403");
        assert_eq!(r.kind(), RejectionKind::WrongApp);
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }

    /// `store` with a confirmer that counts its calls.
    fn counting_confirms(store: AmazonStore) -> (AmazonStore, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = Arc::clone(&calls);
        let store = store.with_confirmer(move |_: ConfirmRequest| {
            c.fetch_add(1, Ordering::SeqCst);
            async { Ok::<_, std::io::Error>(()) }
        });
        (store, calls)
    }

    /// A signed confirmation whose `SubscribeURL` is `url` verifies, but its control handling
    /// refuses it as unauthenticated and never makes the request.
    async fn subscribe_url_is_refused(url: String) {
        let (store, calls) = counting_confirms(store());
        let d = SnsSigner::new()
            .subscription_confirmation("tok")
            .subscribe_url(url)
            .sign();
        let n = store
            .verify_marked(&d.headers, &d.body)
            .await
            .expect("signed");
        let r = store.control(&n).await.expect_err("refused");
        assert_eq!(r.kind(), RejectionKind::Unauthenticated);
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn subscribe_url_off_the_sns_host_is_never_followed() {
        subscribe_url_is_refused(
            "https://sns.us-east-1.amazonaws.com.evil.com/?Token=tok".to_owned(),
        )
        .await;
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
            .verify_marked(&d.headers, &d.body)
            .await
            .expect_err("401");
        assert_eq!(r.kind(), RejectionKind::Unauthenticated);
        assert!(r.to_string().contains("region"), "{r}");
    }

    #[tokio::test]
    async fn sns_host_region_must_match_topic_arn_region_on_a_cache_hit_too() {
        let store = store();
        let d = SnsSigner::new().notification(rtn(false)).sign();
        store.verify_marked(&d.headers, &d.body).await.expect("ok");
        assert_eq!(store.keys.len(), 1, "the us-east-1 URL is cached");
        let d = SnsSigner::new()
            .notification(rtn(false))
            .topic_arn("arn:aws:sns:eu-west-1:123456789012:store-notifications-test")
            .sign();
        let r = store
            .verify_marked(&d.headers, &d.body)
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
                .verify_marked(&d.headers, &d.body)
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
            .verify_marked(&d.headers, &d.body)
            .await
            .expect_err("401");
        assert_eq!(r.kind(), RejectionKind::Unauthenticated);
    }

    #[tokio::test]
    async fn subscribe_url_region_must_match_topic_arn_region() {
        subscribe_url_is_refused(format!(
            "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={}&Token=tok",
            SnsSigner::TOPIC_ARN
        ))
        .await;
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
                .verify_marked(&d.headers, &d.body)
                .await
                .unwrap_or_else(|e| panic!("{topic}: {e}"));
            let d = signer.subscription_confirmation("tok").sign();
            let n = store
                .verify_marked(&d.headers, &d.body)
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
            .verify_marked(&d.headers, &d.body)
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
            .verify_marked(&d.headers, &d.body)
            .await
            .expect_err("not an RTN");
        assert!(r.is_authentic(), "{r}");
    }

    #[tokio::test]
    async fn unsubscribe_confirmation_is_recorded_without_a_request() {
        let (store, calls) = counting_confirms(store());
        let d = SnsSigner::new().unsubscribe_confirmation("tok").sign();
        let n = store.verify_marked(&d.headers, &d.body).await.expect("ok");
        assert_eq!(n.disposition(), Disposition::Control);
        let sub = store.control(&n).await.expect("ok").expect("recorded");
        assert_eq!(sub.state, SubscriptionState::Unsubscribed);
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn record_only_is_the_default_and_keeps_the_token() {
        let d = SnsSigner::new().subscription_confirmation("tok-1").sign();
        let n = store()
            .verify_marked(&d.headers, &d.body)
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
