//! The configuration: [`AppleStore`], its constructors and `with_*` builders, and the roots it
//! trusts.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::chain::{self, ChainCache, TrustedRoot};
use super::payload::Environment;
use crate::clock::Clock;
use crate::kernel::{encoding, pem};

/// Apple Root CA - G3 (DER), the root of App Store signed data: SHA-256
/// `63343abfb89a6a03ebb57e9b3f5fa7be7c4f5c756f3017b3a8c488c3653e9179`, valid 2014–2039,
/// from <https://www.apple.com/certificateauthority/>. The default trusted root.
pub const APPLE_ROOT_CA_G3: &[u8] = include_bytes!("AppleRootCA-G3.cer");

/// At which instant the certificates' validity is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ValidityDate {
    /// The payload's `signedDate` (the clock's "now" when it has none), as Apple's libraries do
    /// offline: a notification redelivered after its leaf expired still verifies.
    #[default]
    SignedDate,
    /// The clock's "now".
    Now,
}

/// A configuration error (a root that is not a usable certificate, a missing app Apple ID).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppleConfigError(pub(super) Cow<'static, str>);

impl fmt::Display for AppleConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid Apple configuration: {}", self.0)
    }
}

impl std::error::Error for AppleConfigError {}

/// A root certificate to trust, parsed and checked once: a DER X.509 certificate with an EC
/// P-256 or P-384 key, allowed to sign certificates, with room for Apple's intermediate below it
/// (not a path length of 0).
///
/// Give it to [`AppleStore::with_trusted_root`] or [`AppleStore::with_only_trusted_roots`].
/// `Debug` shows the start of its SHA-256 fingerprint.
///
/// ```
/// use store_notifications::apple::{APPLE_ROOT_CA_G3, AppleRoot};
///
/// let g3 = AppleRoot::from_der(APPLE_ROOT_CA_G3).unwrap();
/// assert!(format!("{g3:?}").contains("63343abfb89a6a03"));
/// assert!(AppleRoot::from_der(b"not a certificate").is_err());
/// ```
#[derive(Clone)]
pub struct AppleRoot(TrustedRoot);

impl AppleRoot {
    /// Parses one DER certificate.
    pub fn from_der(der: &[u8]) -> Result<AppleRoot, AppleConfigError> {
        TrustedRoot::from_der(der)
            .map(AppleRoot)
            .map_err(|e| AppleConfigError(e.into()))
    }

    /// Parses every `CERTIFICATE` block of a PEM text (a bundle of one or more roots), in order.
    /// Blocks of other labels are skipped; no `CERTIFICATE` block at all, a malformed block or
    /// a certificate [`from_der`](Self::from_der) refuses is an error, so a non-empty `Vec` is
    /// returned.
    ///
    /// ```
    /// use store_notifications::apple::AppleRoot;
    ///
    /// assert!(AppleRoot::from_pem("not a PEM").is_err());
    /// ```
    pub fn from_pem(pem: &str) -> Result<Vec<AppleRoot>, AppleConfigError> {
        let mut roots = Vec::new();
        for block in pem::blocks(pem.as_bytes()) {
            let block = block.map_err(|e| AppleConfigError(format!("root PEM: {e}").into()))?;
            if block.label != "CERTIFICATE" {
                continue;
            }
            let der = block.decode().map_err(|e| {
                AppleConfigError(format!("root PEM, certificate #{}: {e}", roots.len() + 1).into())
            })?;
            let root = TrustedRoot::from_der(&der).map_err(|e| {
                AppleConfigError(format!("root PEM, certificate #{}: {e}", roots.len() + 1).into())
            })?;
            roots.push(AppleRoot(root));
        }
        if roots.is_empty() {
            return Err(AppleConfigError("root PEM: no CERTIFICATE block".into()));
        }
        Ok(roots)
    }
}

impl fmt::Debug for AppleRoot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppleRoot")
            .field(
                "sha256_prefix",
                &encoding::hex_lower(&self.0.fingerprint_prefix()),
            )
            .finish_non_exhaustive()
    }
}

/// The App Store Server Notifications V2 verifier.
///
/// Cheap to clone: clones share the chain cache.
#[derive(Clone)]
pub struct AppleStore {
    pub(super) bundle_id: String,
    pub(super) environment: Environment,
    pub(super) app_apple_id: Option<i64>,
    pub(super) roots: Arc<[TrustedRoot]>,
    pub(super) verify_nested: bool,
    pub(super) validity: ValidityDate,
    pub(super) clock: Clock,
    pub(super) cache: Arc<ChainCache>,
}

impl AppleStore {
    /// A verifier for the App Store (Production): `app_apple_id` is your app's Apple ID, which
    /// Production notifications must carry.
    pub fn production(bundle_id: impl Into<String>, app_apple_id: i64) -> Self {
        Self::unchecked(
            bundle_id.into(),
            Environment::Production,
            Some(app_apple_id),
        )
    }

    /// A verifier for the sandbox (the app Apple ID is not checked there, as in Apple's
    /// libraries).
    pub fn sandbox(bundle_id: impl Into<String>) -> Self {
        Self::unchecked(bundle_id.into(), Environment::Sandbox, None)
    }

    /// A verifier for any environment; Production requires `app_apple_id`.
    pub fn new(
        bundle_id: impl Into<String>,
        environment: Environment,
        app_apple_id: Option<i64>,
    ) -> Result<Self, AppleConfigError> {
        if environment == Environment::Production && app_apple_id.is_none() {
            return Err(AppleConfigError(
                "the Production environment requires the app's Apple ID".into(),
            ));
        }
        Ok(Self::unchecked(bundle_id.into(), environment, app_apple_id))
    }

    fn unchecked(bundle_id: String, environment: Environment, app_apple_id: Option<i64>) -> Self {
        let roots: Arc<[TrustedRoot]> = match TrustedRoot::from_der(APPLE_ROOT_CA_G3) {
            Ok(root) => Arc::new([root]),
            // Unreachable with the embedded certificate (a unit test parses it); an empty trust
            // store fails closed.
            Err(_) => Arc::new([]),
        };
        AppleStore {
            bundle_id,
            environment,
            app_apple_id,
            roots,
            verify_nested: false,
            validity: ValidityDate::default(),
            clock: Clock::system(),
            cache: Arc::new(ChainCache::new(
                chain::DEFAULT_CACHE_CAPACITY,
                chain::DEFAULT_CACHE_TTL_S,
            )),
        }
    }

    /// Sets the app's Apple ID (checked in Production only, as Apple's libraries do).
    #[must_use]
    pub fn with_app_apple_id(mut self, app_apple_id: i64) -> Self {
        self.app_apple_id = Some(app_apple_id);
        self
    }

    /// Also trusts `root`, e.g. the StoreKit testing root; the chain cache is emptied, as on
    /// every change of roots.
    #[must_use]
    pub fn with_trusted_root(mut self, root: AppleRoot) -> Self {
        let mut roots = self.roots.to_vec();
        roots.push(root.0);
        self.roots = roots.into();
        self.reset_cache();
        self
    }

    /// Trusts exactly `first` and the `rest`, replacing Apple Root CA - G3 (and every root
    /// trusted so far); the chain cache is emptied.
    ///
    /// At least one root, by the signature: a store that trusts no root would refuse every
    /// notification as forged, a configuration mistake better caught where it is written.
    ///
    /// ```
    /// use store_notifications::AppleStore;
    /// use store_notifications::apple::{APPLE_ROOT_CA_G3, AppleRoot};
    ///
    /// let g3 = AppleRoot::from_der(APPLE_ROOT_CA_G3).unwrap();
    /// let store = AppleStore::sandbox("com.example.app").with_only_trusted_roots(g3, []);
    /// # let _ = store;
    /// ```
    #[must_use]
    pub fn with_only_trusted_roots(
        mut self,
        first: AppleRoot,
        rest: impl IntoIterator<Item = AppleRoot>,
    ) -> Self {
        let roots: Vec<TrustedRoot> = std::iter::once(first)
            .chain(rest)
            .map(|root| root.0)
            .collect();
        self.roots = roots.into();
        self.reset_cache();
        self
    }

    /// Verifies nested `signedTransactionInfo`, `signedRenewalInfo` and
    /// `signedAppTransactionInfo` with the full rules too (default `false`: see the module docs
    /// for why the outer signature already authenticates them).
    #[must_use]
    pub fn with_nested_verification(mut self, verify_nested: bool) -> Self {
        self.verify_nested = verify_nested;
        self
    }

    /// At which instant certificate validity is checked (default: the payload's `signedDate`).
    #[must_use]
    pub fn with_validity_date(mut self, validity: ValidityDate) -> Self {
        self.validity = validity;
        self
    }

    /// The clock "now" is read from.
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Sizes the verified-chain cache (default 32 entries for 15 minutes; 0 disables it).
    #[must_use]
    pub fn with_chain_cache(mut self, capacity: usize, ttl: Duration) -> Self {
        let ttl_s = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
        self.cache = Arc::new(ChainCache::new(capacity, ttl_s));
        self
    }

    fn reset_cache(&mut self) {
        // Chains verified against the old roots must not be trusted under the new ones.
        self.cache = Arc::new(self.cache.emptied());
    }

    /// The configured bundle id.
    pub fn bundle_id(&self) -> &str {
        &self.bundle_id
    }

    /// The configured environment.
    pub fn environment(&self) -> &Environment {
        &self.environment
    }

    /// The current time on this store's clock.
    pub fn now(&self) -> SystemTime {
        self.clock.now()
    }
}

impl fmt::Debug for AppleStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let roots: Vec<String> = self
            .roots
            .iter()
            .map(|r| encoding::hex_lower(&r.fingerprint_prefix()))
            .collect();
        f.debug_struct("AppleStore")
            .field("bundle_id", &self.bundle_id)
            .field("environment", &self.environment)
            .field("app_apple_id", &self.app_apple_id)
            .field("roots_sha256_prefix", &roots)
            .field("verify_nested", &self.verify_nested)
            .field("validity", &self.validity)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_requires_the_app_apple_id() {
        assert!(AppleStore::new("com.example", Environment::Production, None).is_err());
        assert!(AppleStore::new("com.example", Environment::Production, Some(1)).is_ok());
        assert!(AppleStore::new("com.example", Environment::Xcode, None).is_ok());
    }

    #[test]
    fn apple_root_ca_g3_is_trusted_by_default() {
        let store = AppleStore::sandbox("com.example");
        assert_eq!(store.roots.len(), 1);
        assert!(format!("{store:?}").contains("63343abfb89a6a03"));
    }
}
