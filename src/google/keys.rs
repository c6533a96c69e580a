//! Google's token-signing keys: where they come from ([`KeySource`]) and how they are cached.
//!
//! Google publishes the keys that sign Pub/Sub push ID tokens in two forms: a JWKS at
//! <https://www.googleapis.com/oauth2/v3/certs> and a `{kid: PEM certificate}` map at
//! <https://www.googleapis.com/oauth2/v1/certs>. Both parse into a [`KeySet`] whose RSA keys are
//! decoded once, so verifying a token costs one RS256 check.
//!
//! The store keeps the keys in a cache that
//!
//! - uses them until the lifetime the source reported (`Cache-Control: max-age` minus `Age`
//!   for [`GoogleCerts`]) has passed, then refetches;
//! - refetches when a token names a `kid` it does not know (Google rotates keys), at most once
//!   per [`min_refetch_interval`](super::GoogleStore::with_min_refetch_interval), so forged
//!   tokens with random `kid`s cannot turn into a flood of requests to Google;
//! - fetches single-flight: N requests needing a refresh at once cause one fetch;
//! - keeps the old keys when a refresh fails, and answers 503 (Pub/Sub retries) rather than 401
//!   when no usable keys can be had.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ring::signature::{RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
use serde::Deserialize;

use crate::BoxError;
use crate::clock::Clock;
use crate::kernel::cache::{Cache, CachePolicy, Fetched, SourceError};
use crate::kernel::encoding::b64url_decode;
use crate::kernel::{json, pem};
use crate::rejection::Rejection;

/// One RSA public key, its modulus and exponent decoded once.
#[derive(Clone, Debug)]
pub(crate) struct RsaKey {
    components: RsaPublicKeyComponents<Vec<u8>>,
}

impl PartialEq for RsaKey {
    fn eq(&self, other: &Self) -> bool {
        self.components.n == other.components.n && self.components.e == other.components.e
    }
}

impl Eq for RsaKey {}

impl RsaKey {
    /// Big-endian modulus and exponent; leading zero bytes are dropped (ring wants minimal
    /// encodings, DER integers carry a sign byte). RS256 with keys of 2048 to 8192 bits only.
    fn new(n: &[u8], e: &[u8]) -> Option<Self> {
        let n = strip_leading_zeros(n);
        let e = strip_leading_zeros(e);
        if !(256..=1024).contains(&n.len()) || e.is_empty() || e.len() > 4 {
            return None;
        }
        Some(RsaKey {
            components: RsaPublicKeyComponents {
                n: n.to_vec(),
                e: e.to_vec(),
            },
        })
    }

    /// One RSASSA-PKCS1-v1_5 SHA-256 verification.
    pub(crate) fn verify_rs256(&self, message: &[u8], signature: &[u8]) -> bool {
        self.components
            .verify(&RSA_PKCS1_2048_8192_SHA256, message, signature)
            .is_ok()
    }
}

fn strip_leading_zeros(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    b.get(start..).unwrap_or_default()
}

/// Why a key set could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError(String);

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for KeyError {}

/// Google's public RSA signing keys, by key id (`kid`), parsed once.
///
/// ```
/// use store_notifications::google::KeySet;
///
/// // A key set without a single usable RS256 key is a configuration error.
/// assert!(KeySet::from_jwks(br#"{"keys": [{"kty": "EC", "kid": "k1"}]}"#).is_err());
/// assert!(KeySet::from_pem_certificates(b"{}").is_err());
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct KeySet {
    keys: HashMap<String, Arc<RsaKey>>,
}

impl KeySet {
    /// Parses a JWKS (`{"keys": [{"kty": "RSA", "kid", "n", "e", "alg", "use"}, …]}`), the form
    /// of <https://www.googleapis.com/oauth2/v3/certs>.
    ///
    /// Keys that cannot sign RS256 tokens (other `kty`, `use` other than `sig`, `alg` other than
    /// `RS256`, no `kid`, a modulus under 2048 bits) are skipped, so a key type Google adds later
    /// does not break verification; a set with no usable key at all is an error.
    pub fn from_jwks(json: &[u8]) -> Result<Self, KeyError> {
        #[derive(Deserialize)]
        struct Jwks {
            keys: Vec<serde_json::Value>,
        }
        #[derive(Deserialize)]
        struct Jwk {
            kty: String,
            kid: Option<String>,
            #[serde(rename = "use")]
            use_: Option<String>,
            alg: Option<String>,
            n: Option<String>,
            e: Option<String>,
        }
        let jwks: Jwks = serde_json::from_slice(json)
            .map_err(|e| KeyError(format!("not a JWKS document: {}", json::describe(&e))))?;
        let mut keys = HashMap::new();
        for value in jwks.keys {
            let Ok(jwk) = serde_json::from_value::<Jwk>(value) else {
                continue;
            };
            let usable = jwk.kty == "RSA"
                && jwk.use_.as_deref().is_none_or(|u| u == "sig")
                && jwk.alg.as_deref().is_none_or(|a| a == "RS256");
            let (Some(kid), Some(n), Some(e), true) = (jwk.kid, jwk.n, jwk.e, usable) else {
                continue;
            };
            let (Some(n), Some(e)) = (b64url_decode(&n), b64url_decode(&e)) else {
                continue;
            };
            if let Some(key) = RsaKey::new(&n, &e) {
                keys.insert(kid, Arc::new(key));
            }
        }
        KeySet::non_empty(keys)
    }

    /// Parses the `{kid: "-----BEGIN CERTIFICATE-----…"}` map of
    /// <https://www.googleapis.com/oauth2/v1/certs>.
    ///
    /// Only each certificate's RSA public key is used, as Google's own libraries do: the
    /// certificates are self-signed containers for the key, not a chain to validate.
    pub fn from_pem_certificates(json: &[u8]) -> Result<Self, KeyError> {
        let map: HashMap<String, String> = serde_json::from_slice(json).map_err(|e| {
            KeyError(format!(
                "not a {{kid: PEM certificate}} map: {}",
                json::describe(&e)
            ))
        })?;
        let mut keys = HashMap::new();
        for (kid, pem) in map {
            if let Some(key) = rsa_key_of_pem_certificate(pem.as_bytes()) {
                keys.insert(kid, Arc::new(key));
            }
        }
        KeySet::non_empty(keys)
    }

    /// Parses either form, telling them apart by the JWKS `keys` array.
    pub fn from_json(json: &[u8]) -> Result<Self, KeyError> {
        #[derive(Deserialize)]
        struct Probe {
            keys: Option<serde::de::IgnoredAny>,
        }
        match serde_json::from_slice::<Probe>(json) {
            Ok(Probe { keys: Some(_) }) => KeySet::from_jwks(json),
            _ => KeySet::from_pem_certificates(json),
        }
    }

    fn non_empty(keys: HashMap<String, Arc<RsaKey>>) -> Result<Self, KeyError> {
        if keys.is_empty() {
            Err(KeyError("no usable RS256 key in the key set".into()))
        } else {
            Ok(KeySet { keys })
        }
    }

    /// How many keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether a key with this `kid` is in the set.
    pub fn contains(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }

    /// The key ids, in no particular order.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    pub(crate) fn get(&self, kid: &str) -> Option<&Arc<RsaKey>> {
        self.keys.get(kid)
    }
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySet")
            .field("kids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn rsa_key_of_pem_certificate(pem: &[u8]) -> Option<RsaKey> {
    use x509_parser::public_key::PublicKey;
    let der = pem::first(pem, "CERTIFICATE").ok()?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der).ok()?;
    match cert.public_key().parsed().ok()? {
        PublicKey::RSA(rsa) => RsaKey::new(rsa.modulus, rsa.exponent),
        _ => None,
    }
}

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

/// The default time between two refetches caused by unknown `kid`s or failures: 30 s.
pub const DEFAULT_MIN_REFETCH_INTERVAL: Duration = Duration::from_secs(30);

/// The store's key cache around a [`KeySource`]: the whole key set is one entry of the
/// shared cache, so a `kid` it lacks waits for the refetch interval like any missing key.
pub(crate) struct KeyCache {
    source: Arc<dyn KeySource>,
    clock: Clock,
    cache: Cache<KeySet>,
}

/// The one key of the cache: the source serves a whole set.
const KEY_SET: &str = "";

impl KeyCache {
    pub(crate) fn new(source: Arc<dyn KeySource>, clock: Clock, min_refetch: Duration) -> Self {
        let policy = CachePolicy {
            capacity: 1,
            negative_capacity: 1,
            min_refetch,
            not_found_ttl: min_refetch,
            failure_backoff: min_refetch,
        };
        KeyCache {
            source,
            clock,
            cache: Cache::new("Google token-signing keys", policy),
        }
    }

    /// The key named `kid`: from the cache when fresh, else after a (single-flight,
    /// rate-limited) refresh. Unknown `kid` with usable keys → 401; no usable keys, or a `kid`
    /// unknown while Google cannot be asked → 503.
    pub(crate) async fn key(&self, kid: &str) -> Result<Arc<RsaKey>, Rejection> {
        // Possibly stale keys after a failed refresh: Google's keys overlap for days, an old key
        // is still the right key.
        let pick = |keys: &KeySet| keys.get(kid).cloned();
        let fetch = || async {
            match self.source.fetch().await {
                Ok(fetched) => Ok(Fetched {
                    value: fetched.keys,
                    max_age: fetched.max_age,
                }),
                Err(e) => Err(SourceError::Unavailable(e.to_string())),
            }
        };
        self.cache
            .get(KEY_SET, &self.clock, pick, fetch)
            .await
            .map_err(|miss| {
                miss.into_rejection(
                    "the token's kid names no Google signing key",
                    "Google's token-signing keys are unobtainable right now; retry",
                )
            })
    }
}

impl fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyCache")
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

/// Google's published keys over HTTPS (feature `fetch`): the JWKS at
/// <https://www.googleapis.com/oauth2/v3/certs> by default, cached for the response's
/// `Cache-Control: max-age` minus its `Age`.
///
/// ```
/// use store_notifications::google::{GoogleCerts, GoogleStore};
///
/// let store = GoogleStore::new(
///     "https://example.com/notifications/google",
///     "play-rtdn-push@my-project.iam.gserviceaccount.com",
///     GoogleCerts::new(),
/// );
/// # let _ = store;
/// ```
#[cfg(feature = "fetch")]
#[cfg_attr(docsrs, doc(cfg(feature = "fetch")))]
#[derive(Debug, Clone)]
pub struct GoogleCerts {
    url: String,
    client: Option<reqwest::Client>,
}

#[cfg(feature = "fetch")]
impl GoogleCerts {
    /// Google's JWKS endpoint.
    pub const URL: &'static str = "https://www.googleapis.com/oauth2/v3/certs";

    /// How long keys are used when the response says nothing about caching: 5 minutes.
    pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(300);

    /// Fetches from [`GoogleCerts::URL`] with a 10-second timeout.
    pub fn new() -> Self {
        GoogleCerts::with_url(Self::URL)
    }

    /// Fetches from another URL (either of Google's two formats), for tests or a mirror.
    pub fn with_url(url: impl Into<String>) -> Self {
        GoogleCerts {
            url: url.into(),
            // Building a client fails only when the TLS backend cannot initialise; `fetch` then
            // reports it (503) instead of panicking here.
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .ok(),
        }
    }

    /// Uses your own `reqwest` client (proxies, timeouts, …).
    #[must_use]
    pub fn with_client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }
}

#[cfg(feature = "fetch")]
impl Default for GoogleCerts {
    fn default() -> Self {
        GoogleCerts::new()
    }
}

#[cfg(feature = "fetch")]
#[async_trait]
impl KeySource for GoogleCerts {
    async fn fetch(&self) -> Result<FetchedKeys, BoxError> {
        let client = self
            .client
            .as_ref()
            .ok_or("the HTTP client could not be built")?;
        let response = client.get(&self.url).send().await?.error_for_status()?;
        let headers = response.headers();
        let max_age = cache_lifetime(
            headers
                .get(http::header::CACHE_CONTROL)
                .and_then(|v| v.to_str().ok()),
            headers.get(http::header::AGE).and_then(|v| v.to_str().ok()),
        )
        .unwrap_or(Self::DEFAULT_MAX_AGE);
        let body = response.bytes().await?;
        Ok(FetchedKeys::new(KeySet::from_json(&body)?, Some(max_age)))
    }
}

/// `max-age` minus `Age` (RFC 9111 §4.2.3: the response is already `Age` seconds old);
/// `no-cache` / `no-store` → zero; `None` when the response says nothing.
#[cfg_attr(not(feature = "fetch"), allow(dead_code))]
pub(crate) fn cache_lifetime(cache_control: Option<&str>, age: Option<&str>) -> Option<Duration> {
    let mut max_age = None;
    for directive in cache_control?.split(',') {
        let directive = directive.trim();
        let (name, value) = directive.split_once('=').unwrap_or((directive, ""));
        match name.trim().to_ascii_lowercase().as_str() {
            "no-store" | "no-cache" => return Some(Duration::ZERO),
            "max-age" => max_age = value.trim().trim_matches('"').parse::<u64>().ok(),
            _ => {}
        }
    }
    let age = age.and_then(|a| a.trim().parse::<u64>().ok()).unwrap_or(0);
    max_age.map(|m| Duration::from_secs(m.saturating_sub(age)))
}

#[cfg(all(test, feature = "test-util"))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

    use crate::rejection::RejectionKind;

    use crate::testing::GoogleSigner;

    #[test]
    fn cache_lifetime_is_max_age_minus_age() {
        let s = |secs| Some(Duration::from_secs(secs));
        assert_eq!(
            cache_lifetime(
                Some("public, max-age=19845, must-revalidate, no-transform"),
                None
            ),
            s(19845)
        );
        assert_eq!(
            cache_lifetime(Some("public, max-age=19845"), Some("845")),
            s(19000)
        );
        assert_eq!(cache_lifetime(Some("max-age=10"), Some("30")), s(0));
        assert_eq!(cache_lifetime(Some("no-cache"), None), s(0));
        assert_eq!(cache_lifetime(Some("public"), None), None);
        assert_eq!(cache_lifetime(None, Some("5")), None);
    }

    #[test]
    fn jwks_keys_that_cannot_sign_rs256_are_skipped() {
        let signer = GoogleSigner::new();
        let jwks: serde_json::Value = serde_json::from_str(&signer.jwks()).expect("jwks");
        let good = jwks["keys"][0].clone();
        let mut ec = good.clone();
        ec["kty"] = "EC".into();
        ec["kid"] = "ec".into();
        let mut enc = good.clone();
        enc["use"] = "enc".into();
        enc["kid"] = "enc".into();
        let mut rs512 = good.clone();
        rs512["alg"] = "RS512".into();
        rs512["kid"] = "rs512".into();
        let mut small = good.clone();
        small["n"] = "AQAB".into();
        small["kid"] = "small".into();
        let doc = serde_json::json!({ "keys": [good, ec, enc, rs512, small, 42] });
        let set = KeySet::from_jwks(doc.to_string().as_bytes()).expect("one usable key");
        assert_eq!(set.kids().collect::<Vec<_>>(), vec![signer.kid()]);
        let none = serde_json::json!({ "keys": [] });
        assert!(KeySet::from_jwks(none.to_string().as_bytes()).is_err());
        assert!(KeySet::from_jwks(b"not json").is_err());
    }

    #[test]
    fn pem_certificate_maps_give_the_same_key_as_the_jwks() {
        let signer = GoogleSigner::new();
        let from_pem =
            KeySet::from_pem_certificates(signer.pem_certificates().as_bytes()).expect("pem map");
        let from_jwks = KeySet::from_jwks(signer.jwks().as_bytes()).expect("jwks");
        assert_eq!(from_pem, from_jwks);
        assert_eq!(
            KeySet::from_json(signer.pem_certificates().as_bytes()).expect("auto"),
            from_jwks
        );
        assert_eq!(
            KeySet::from_json(signer.jwks().as_bytes()).expect("auto"),
            from_jwks
        );
        assert!(
            KeySet::from_pem_certificates(
                br#"{"k":"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}"#
            )
            .is_err()
        );
    }

    /// A source that counts fetches, fails on demand and can be held mid-fetch.
    struct Counting {
        fetches: AtomicUsize,
        fail: std::sync::atomic::AtomicBool,
        keys: KeySet,
        max_age: Option<Duration>,
        gate: tokio::sync::Semaphore,
    }

    #[async_trait]
    impl KeySource for Counting {
        async fn fetch(&self) -> Result<FetchedKeys, BoxError> {
            self.fetches.fetch_add(1, Ordering::SeqCst);
            let _permit = self.gate.acquire().await?;
            if self.fail.load(Ordering::SeqCst) {
                return Err("google unreachable".into());
            }
            Ok(FetchedKeys::new(self.keys.clone(), self.max_age))
        }
    }

    fn counting(max_age: Option<Duration>) -> Arc<Counting> {
        Arc::new(Counting {
            fetches: AtomicUsize::new(0),
            fail: false.into(),
            keys: GoogleSigner::new().key_set(),
            max_age,
            gate: tokio::sync::Semaphore::new(1_000),
        })
    }

    fn clock() -> (Clock, Arc<AtomicU64>) {
        crate::clock::manual(1_767_225_600)
    }

    fn kid() -> String {
        GoogleSigner::new().kid().to_owned()
    }

    #[tokio::test]
    async fn keys_are_fetched_once_and_served_from_the_cache() {
        let source = counting(Some(Duration::from_secs(600)));
        let (clock, _) = clock();
        let cache = KeyCache::new(source.clone(), clock, Duration::ZERO);
        for _ in 0..10 {
            cache.key(&kid()).await.expect("key");
        }
        assert_eq!(source.fetches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn expired_keys_are_refetched() {
        let source = counting(Some(Duration::from_secs(600)));
        let (clock, now) = clock();
        let cache = KeyCache::new(source.clone(), clock, Duration::ZERO);
        cache.key(&kid()).await.expect("key");
        now.fetch_add(599, Ordering::SeqCst);
        cache.key(&kid()).await.expect("key");
        assert_eq!(source.fetches.load(Ordering::SeqCst), 1, "still fresh");
        now.fetch_add(1, Ordering::SeqCst);
        cache.key(&kid()).await.expect("key");
        assert_eq!(source.fetches.load(Ordering::SeqCst), 2, "max-age passed");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_unknown_kids_cause_a_single_fetch() {
        let source = counting(None);
        let (clock, _) = clock();
        let cache = Arc::new(KeyCache::new(source.clone(), clock, Duration::ZERO));
        // Hold the fetch until every request is waiting on it.
        let held = source.gate.acquire_many(1_000).await.expect("permits");
        let tasks: Vec<_> = (0..32)
            .map(|_| {
                let cache = Arc::clone(&cache);
                tokio::spawn(async move { cache.key("rotated-in-kid").await })
            })
            .collect();
        while source.fetches.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(held);
        for task in tasks {
            let rejection = task.await.expect("join").expect_err("unknown kid");
            assert_eq!(rejection.kind(), RejectionKind::Unauthenticated);
        }
        assert_eq!(source.fetches.load(Ordering::SeqCst), 1, "single flight");
    }

    #[tokio::test]
    async fn unknown_kid_refetches_are_rate_limited() {
        let source = counting(None);
        let (clock, now) = clock();
        let cache = KeyCache::new(source.clone(), clock, Duration::from_secs(30));
        cache.key(&kid()).await.expect("first fetch");
        for i in 0..100 {
            let r = cache.key(&format!("forged-{i}")).await.expect_err("forged");
            assert_eq!(r.kind(), RejectionKind::Unauthenticated);
        }
        assert_eq!(
            source.fetches.load(Ordering::SeqCst),
            1,
            "within the interval"
        );
        now.fetch_add(30, Ordering::SeqCst);
        cache.key("forged-again").await.expect_err("forged");
        assert_eq!(
            source.fetches.load(Ordering::SeqCst),
            2,
            "after the interval"
        );
        cache.key(&kid()).await.expect("known kids never wait");
        assert_eq!(source.fetches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn stale_keys_are_kept_when_a_refresh_fails() {
        let source = counting(Some(Duration::from_secs(60)));
        let (clock, now) = clock();
        let cache = KeyCache::new(source.clone(), clock, Duration::from_secs(30));
        cache.key(&kid()).await.expect("first fetch");
        source.fail.store(true, Ordering::SeqCst);
        now.fetch_add(120, Ordering::SeqCst);
        cache.key(&kid()).await.expect("stale key still verifies");
        assert_eq!(source.fetches.load(Ordering::SeqCst), 2);
        let r = cache
            .key("new-kid")
            .await
            .expect_err("unknown while failing");
        assert_eq!(r.kind(), RejectionKind::Unavailable, "503, not 401: {r}");
        source.fail.store(false, Ordering::SeqCst);
        now.fetch_add(30, Ordering::SeqCst);
        cache.key(&kid()).await.expect("recovered");
        assert_eq!(source.fetches.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn no_keys_at_all_is_unavailable_not_unauthenticated() {
        let source = counting(None);
        source.fail.store(true, Ordering::SeqCst);
        let (clock, now) = clock();
        let cache = KeyCache::new(source.clone(), clock, Duration::from_secs(30));
        let r = cache.key(&kid()).await.expect_err("no keys");
        assert_eq!(r.kind(), RejectionKind::Unavailable);
        assert_eq!(r.status(), 503);
        cache.key(&kid()).await.expect_err("no keys");
        assert_eq!(
            source.fetches.load(Ordering::SeqCst),
            1,
            "failures are rate-limited too"
        );
        source.fail.store(false, Ordering::SeqCst);
        now.fetch_add(30, Ordering::SeqCst);
        cache.key(&kid()).await.expect("recovered");
    }
}
