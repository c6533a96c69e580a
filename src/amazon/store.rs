//! The configuration: [`AmazonStore`], its constructors and `with_*` builders.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

#[cfg(feature = "fetch")]
use super::cert::HttpsCertSource;
use super::cert::{self, CertSource, DEFAULT_KEY_CACHE_CAPACITY, KeyCache};
#[cfg(feature = "fetch")]
use super::confirm::HttpsConfirmer;
use super::confirm::{Confirmer, RecordOnly};
use crate::clock::Clock;

/// The Amazon SNS / RTN verifier. Cheap to clone (clones share the key cache).
#[derive(Clone)]
pub struct AmazonStore {
    pub(super) certs: Arc<dyn CertSource>,
    pub(super) keys: Arc<KeyCache>,
    pub(super) confirmer: Arc<dyn Confirmer>,
    pub(super) topic_arns: Option<Vec<String>>,
    pub(super) app_package_name: Option<String>,
    pub(super) clock: Clock,
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
