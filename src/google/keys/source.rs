//! Where the keys come from: the [`KeySource`] seam and [`StaticKeys`].

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::*;
use crate::BoxError;

/// Keys from a [`KeySource`], and how long they may be used.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FetchedKeys {
    /// The keys.
    pub keys: KeySet,
    /// How long they may be used before asking the source again; `None` for keys that never
    /// change (a static set).
    pub max_age: Option<Duration>,
}

impl FetchedKeys {
    /// Keys usable for `max_age` (`None`: forever).
    pub fn new(keys: KeySet, max_age: Option<Duration>) -> Self {
        FetchedKeys { keys, max_age }
    }
}

/// Where the store gets Google's signing keys. Object-safe: the store holds an
/// `Arc<dyn KeySource>`.
///
/// The store calls [`fetch`](KeySource::fetch) through its cache (single-flight, rate-limited),
/// never once per request. An `Err` means "unobtainable right now": the cache keeps the keys it
/// has, and answers 503 when it has none.
///
/// ```
/// use async_trait::async_trait;
/// use store_notifications::BoxError;
/// use store_notifications::google::{FetchedKeys, KeySet, KeySource};
///
/// struct FromMyConfigService;
///
/// #[async_trait]
/// impl KeySource for FromMyConfigService {
///     async fn fetch(&self) -> Result<FetchedKeys, BoxError> {
///         let jwks = std::fs::read("/etc/my-app/google-keys.json")?; // your fetch here
///         Ok(FetchedKeys::new(KeySet::from_json(&jwks)?, None))
///     }
/// }
/// ```
#[async_trait]
pub trait KeySource: Send + Sync + 'static {
    /// Fetches the current keys.
    async fn fetch(&self) -> Result<FetchedKeys, BoxError>;
}

#[async_trait]
impl<T: KeySource + ?Sized> KeySource for Arc<T> {
    async fn fetch(&self) -> Result<FetchedKeys, BoxError> {
        (**self).fetch().await
    }
}

/// A fixed key set: for tests, for air-gapped deployments that ship Google's keys with their
/// configuration, or for keys fetched by your own code.
///
/// ```
/// # #[cfg(feature = "test-util")]
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use store_notifications::google::{GoogleStore, StaticKeys};
///
/// // In a deployment: the bytes of a saved https://www.googleapis.com/oauth2/v3/certs.
/// let jwks = store_notifications::testing::GoogleSigner::new().jwks();
/// let keys = StaticKeys::from_jwks(jwks.as_bytes())?;
/// assert_eq!(keys.keys().len(), 1);
/// let store = GoogleStore::new(
///     "https://example.com/notifications/google",
///     "play-rtdn-push@my-project.iam.gserviceaccount.com",
///     keys,
/// );
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "test-util"))]
/// # fn main() {}
/// ```
#[derive(Debug, Clone)]
pub struct StaticKeys {
    keys: KeySet,
}

impl StaticKeys {
    /// These keys.
    pub fn new(keys: KeySet) -> Self {
        StaticKeys { keys }
    }

    /// From a JWKS document (the `oauth2/v3/certs` form).
    pub fn from_jwks(json: &[u8]) -> Result<Self, KeyError> {
        KeySet::from_jwks(json).map(StaticKeys::new)
    }

    /// From a `{kid: PEM certificate}` map (the `oauth2/v1/certs` form).
    pub fn from_pem_certificates(json: &[u8]) -> Result<Self, KeyError> {
        KeySet::from_pem_certificates(json).map(StaticKeys::new)
    }

    /// The keys.
    pub fn keys(&self) -> &KeySet {
        &self.keys
    }
}

#[async_trait]
impl KeySource for StaticKeys {
    async fn fetch(&self) -> Result<FetchedKeys, BoxError> {
        Ok(FetchedKeys::new(self.keys.clone(), None))
    }
}
