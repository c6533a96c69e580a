//! Apple App Store Server Notifications V2: a JWS signed by a certificate chain to Apple's root.
//!
//! Apple POSTs `{"signedPayload": "<JWS>"}`. [`AppleStore`] authenticates it the way Apple's
//! official app-store-server libraries do and parses it into an [`AppleNotification`]:
//!
//! ```
//! use bytes::Bytes;
//! use store_notifications::{AppleStore, Clock, RejectionKind};
//! use store_notifications::apple::ValidityDate;
//!
//! // Trusts Apple Root CA - G3 (embedded); Production requires your app's Apple ID.
//! let store = AppleStore::production("com.example.app", 1234567890)
//!     .verify_nested(false)                         // the default, see "Nested JWS" below
//!     .with_validity_date(ValidityDate::SignedDate) // the default, see "Time" below
//!     .with_clock(Clock::system());
//!
//! let body = Bytes::from_static(br#"{"signedPayload":"not.a.jws"}"#);
//! let rejection = store.verify_at(&body, store.now()).unwrap_err();
//! assert_eq!(rejection.kind(), RejectionKind::Malformed);
//! assert_eq!(rejection.status(), 400);
//! ```
//!
//! Mount it with [`Endpoint`](crate::Endpoint) like any store; the handler gets an
//! [`AppleNotification`] (typed payload, decoded transaction and renewal info). For tests, the
//! `test-util` feature's `testing::AppleSigner` makes a throwaway root, intermediate and leaf and
//! signs notifications that this store accepts once it trusts the signer's root.
//!
//! # Rules
//!
//! - **JWS**: compact, three base64url parts without padding;
//!   `alg` exactly `ES256`; raw `r‖s` signature checked with ring (`ECDSA_P256_SHA256_FIXED`).
//! - **Chain**: `x5c` holds exactly three certificates; the leaf (marker OID
//!   `1.2.840.113635.100.6.11.1`) is signed by the intermediate (marker `1.2.840.113635.100.6.2.1`,
//!   a CA), which is signed by one of the **configured** roots. The third `x5c` certificate is
//!   never trusted by itself — as in Apple's libraries, it is not used at all.
//! - **Header size**: the protected header is at most 16 KiB of base64url (Apple's is about
//!   4 KiB); a larger one is malformed (400) and is not decoded.
//! - **Cache**: a verified chain is cached (32 entries, 15 minutes, like Apple's libraries) by
//!   its leaf and intermediate certificates (a SHA-256 of their `x5c` text, so other header
//!   fields do not matter), together with its validity window, so a steady stream costs one
//!   ES256 verify per notification and the date check needs no crypto. A chain is cached only
//!   after the JWS signature verified with its leaf key: a genuine `x5c` replayed with a bad
//!   signature is refused without taking (or evicting) an entry.
//! - **Time**: certificates must be valid at the payload's `signedDate` (the effective date
//!   Apple's libraries use offline), or at the clock's "now" with [`ValidityDate::Now`]. A
//!   payload without `signedDate` is checked at "now". Online revocation (OCSP) is not checked.
//! - **App binding**: the bundle id and environment (from `data`, else `summary`, else
//!   `externalPurchaseToken` — Sandbox when its id starts with `SANDBOX` — else `appData`) must
//!   match the configuration, and in Production the `appAppleId` too. A genuine notification for
//!   another app or environment is [`RejectionKind::WrongApp`] (403).
//! - **Payload**: an authentic JWS whose payload is not a notification is an
//!   [authentic](Rejection::is_authentic) rejection, which the endpoint dead-letters (200).
//!
//! # Nested JWS
//!
//! `data.signedTransactionInfo` and `data.signedRenewalInfo` are JWS too. Their exact bytes are
//! part of the outer payload, which the outer ES256 signature already covers: nobody can change a
//! byte of them without breaking that signature. By default they are therefore decoded without a
//! second and third ECDSA verify (their header and signature are not looked at), which is what
//! makes this store about 3× cheaper than verifying everything. With
//! [`verify_nested(true)`](AppleStore::verify_nested) each nested JWS (and `appData`'s
//! `signedAppTransactionInfo`) is verified with the full rules against the same roots, at its own
//! `signedDate`, and the transaction's bundle id and environment and the renewal info's
//! environment must match the configuration — parity with Apple's
//! `verify_and_decode_signed_transaction` / `…_renewal_info`.
//!
//! # Where this differs from Apple's libraries
//!
//! - With `Xcode` or `LocalTesting` configured, Apple's libraries skip signature verification;
//!   this store never does: add the StoreKit testing certificate as a root instead.
//! - A payload with none of `data` / `summary` / `externalPurchaseToken` / `appData` is an
//!   authentic-but-unusable payload (dead-lettered), not an app-identifier error.
//! - Apple V1 notifications (no `signedPayload`, `notification_type` field) are
//!   [`RejectionKind::Unsupported`].

mod chain;
mod jws;
mod payload;

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::HeaderMap;
use serde::Deserialize;
use serde::de::{DeserializeOwned, IgnoredAny};

pub use payload::{
    AppData, ConsumptionRequestReason, Data, Environment, ExternalPurchaseToken,
    InAppOwnershipType, JWSRenewalInfoDecodedPayload, JWSTransactionDecodedPayload,
    NotificationType, OfferDiscountType, ResponseBodyV2DecodedPayload, RevocationType, Subtype,
    Summary, TransactionReason, TransactionType,
};

use crate::clock::{Clock, unix_seconds};
use crate::event::EventKind;
use crate::hook::Receipt;
use crate::kernel::{encoding, json};
use crate::rejection::{Rejection, RejectionKind};
use crate::store::{Disposition, Notification, Store, StoreId};

use chain::{ChainCache, ChainKey, TrustedRoot, VerifiedChain};
use jws::CompactJws;
// The test signers' name for it.
#[cfg(feature = "test-util")]
pub(crate) use crate::kernel::encoding::b64url_encode as encode_b64url;

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
pub struct AppleConfigError(Cow<'static, str>);

impl fmt::Display for AppleConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid Apple configuration: {}", self.0)
    }
}

impl std::error::Error for AppleConfigError {}

/// The App Store Server Notifications V2 verifier.
///
/// Cheap to clone: clones share the chain cache.
#[derive(Clone)]
pub struct AppleStore {
    bundle_id: String,
    environment: Environment,
    app_apple_id: Option<i64>,
    roots: Arc<[TrustedRoot]>,
    verify_nested: bool,
    validity: ValidityDate,
    clock: Clock,
    cache: Arc<ChainCache>,
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

    /// Also trusts the root certificate `der` (DER bytes), e.g. the StoreKit testing root.
    pub fn with_trusted_root(mut self, der: &[u8]) -> Result<Self, AppleConfigError> {
        let root = TrustedRoot::from_der(der).map_err(|e| AppleConfigError(e.into()))?;
        let mut roots = self.roots.to_vec();
        roots.push(root);
        self.roots = roots.into();
        self.reset_cache();
        Ok(self)
    }

    /// Trusts exactly these roots (DER bytes), replacing Apple Root CA - G3. At least one.
    pub fn with_only_trusted_roots<I>(mut self, roots: I) -> Result<Self, AppleConfigError>
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        let roots = roots
            .into_iter()
            .map(|der| TrustedRoot::from_der(der.as_ref()).map_err(|e| AppleConfigError(e.into())))
            .collect::<Result<Vec<_>, _>>()?;
        if roots.is_empty() {
            return Err(AppleConfigError("no trusted root".into()));
        }
        self.roots = roots.into();
        self.reset_cache();
        Ok(self)
    }

    /// Verifies nested `signedTransactionInfo`, `signedRenewalInfo` and
    /// `signedAppTransactionInfo` with the full rules too (default `false`: see the module docs
    /// for why the outer signature already authenticates them).
    #[must_use]
    pub fn verify_nested(mut self, verify_nested: bool) -> Self {
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

    /// Verifies one delivery body at `now`.
    pub fn verify_at(&self, body: &[u8], now: SystemTime) -> Result<AppleNotification, Rejection> {
        let now_s = unix_seconds(now);
        let now_ms = now_s.saturating_mul(1000);
        let signed_payload = envelope(body)?;
        let jws = CompactJws::split(&signed_payload).map_err(jws::rejection)?;
        let chain = self.authenticate(&jws, now_s)?;

        // Signed by a trusted chain: from here the payload is Apple's (once the date checks out).
        let parsed = jws
            .decode_payload()
            .map_err(|_| "the payload is not base64url".to_owned())
            .and_then(|bytes| {
                serde_json::from_slice::<ResponseBodyV2DecodedPayload>(&bytes).map_err(|e| {
                    format!(
                        "the payload is not a ResponseBodyV2DecodedPayload ({})",
                        json::describe(&e)
                    )
                })
            });
        let signed_date = parsed.as_ref().ok().and_then(|p| p.signed_date);
        chain.check_date(self.effective_ms(signed_date, now_ms))?;
        let payload = parsed.map_err(|e| {
            Rejection::unusable(
                RejectionKind::Malformed,
                format!("authentic notification is unusable: {e}"),
            )
        })?;
        self.check_app(&payload)?;
        self.decode_nested(payload, now_s, now_ms)
    }

    /// Verifies a standalone `signedTransactionInfo` (from the App Store Server API, say) with
    /// the full rules, at the clock's "now": chain, signature, validity at its `signedDate`,
    /// bundle id and environment.
    pub fn verify_signed_transaction(
        &self,
        signed_transaction: &str,
    ) -> Result<JWSTransactionDecodedPayload, Rejection> {
        let now_s = self.clock.unix();
        let t: JWSTransactionDecodedPayload = self.verify_signed(
            signed_transaction,
            now_s,
            now_s.saturating_mul(1000),
            |t: &JWSTransactionDecodedPayload| t.signed_date,
        )?;
        self.check_nested_app(t.bundle_id.as_deref(), t.environment.as_ref(), true)?;
        Ok(t)
    }

    /// Verifies a standalone `signedRenewalInfo` with the full rules, at the clock's "now":
    /// chain, signature, validity at its `signedDate`, environment.
    pub fn verify_signed_renewal_info(
        &self,
        signed_renewal_info: &str,
    ) -> Result<JWSRenewalInfoDecodedPayload, Rejection> {
        let now_s = self.clock.unix();
        let r: JWSRenewalInfoDecodedPayload = self.verify_signed(
            signed_renewal_info,
            now_s,
            now_s.saturating_mul(1000),
            |r: &JWSRenewalInfoDecodedPayload| r.signed_date,
        )?;
        self.check_nested_app(None, r.environment.as_ref(), false)?;
        Ok(r)
    }

    fn effective_ms(&self, signed_date: Option<i64>, now_ms: i64) -> i64 {
        match self.validity {
            ValidityDate::SignedDate => signed_date.unwrap_or(now_ms),
            ValidityDate::Now => now_ms,
        }
    }

    /// The header rules, the chain (from the cache or verified now) and the ES256 signature
    /// with the chain's leaf key; the chain, not yet date-checked, when all hold.
    fn authenticate(&self, jws: &CompactJws<'_>, now_s: i64) -> Result<VerifiedChain, Rejection> {
        let header_bytes = jws.decode_header(&jws::RULES).map_err(jws::rejection)?;
        let header = jws::Header::parse(&header_bytes)?;
        let x5c = header.x5c()?;
        let key = ChainKey::of(x5c);
        if let Some(chain) = self.cache.get(&key, now_s) {
            jws::verify_es256(jws, &chain.leaf_key)?;
            return Ok(chain);
        }
        let chain = chain::verify_chain(x5c, &self.roots)?;
        jws::verify_es256(jws, &chain.leaf_key)?;
        // Only now: caching before the signature let a genuine x5c with a garbage signature
        // take an entry (and evict a good one) on every request.
        self.cache.insert(key, chain, now_s);
        Ok(chain)
    }

    /// A JWS verified with the full rules: chain, signature, validity at its own date.
    fn verify_signed<T: DeserializeOwned>(
        &self,
        compact: &str,
        now_s: i64,
        fallback_ms: i64,
        signed_date: fn(&T) -> Option<i64>,
    ) -> Result<T, Rejection> {
        let jws = CompactJws::split(compact).map_err(jws::rejection)?;
        let chain = self.authenticate(&jws, now_s)?;
        let value: T = jws
            .decode_payload()
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or_else(|| Rejection::malformed("signed payload is not the expected JSON"))?;
        chain.check_date(self.effective_ms(signed_date(&value), fallback_ms))?;
        Ok(value)
    }

    /// The app-binding rule of Apple's `_verify_notification`.
    fn check_app(&self, payload: &ResponseBodyV2DecodedPayload) -> Result<(), Rejection> {
        let (bundle_id, app_apple_id, environment): (
            Option<&str>,
            Option<i64>,
            Option<Environment>,
        ) = if let Some(d) = &payload.data {
            (
                d.bundle_id.as_deref(),
                d.app_apple_id,
                d.environment.clone(),
            )
        } else if let Some(s) = &payload.summary {
            (
                s.bundle_id.as_deref(),
                s.app_apple_id,
                s.environment.clone(),
            )
        } else if let Some(t) = &payload.external_purchase_token {
            (
                t.bundle_id.as_deref(),
                t.app_apple_id,
                Some(t.environment()),
            )
        } else if let Some(a) = &payload.app_data {
            (
                a.bundle_id.as_deref(),
                a.app_apple_id,
                a.environment.clone(),
            )
        } else {
            return Err(Rejection::unusable(
                RejectionKind::Malformed,
                "authentic notification has no data, summary, externalPurchaseToken or appData",
            ));
        };
        if bundle_id != Some(self.bundle_id.as_str()) {
            return Err(Rejection::new(
                RejectionKind::WrongApp,
                "notification is for another bundle id",
            ));
        }
        if self.environment == Environment::Production && app_apple_id != self.app_apple_id {
            return Err(Rejection::new(
                RejectionKind::WrongApp,
                "notification is for another app Apple ID",
            ));
        }
        if environment.as_ref() != Some(&self.environment) {
            return Err(Rejection::new(
                RejectionKind::WrongApp,
                "notification is for another environment",
            ));
        }
        Ok(())
    }

    fn check_nested_app(
        &self,
        bundle_id: Option<&str>,
        environment: Option<&Environment>,
        check_bundle: bool,
    ) -> Result<(), Rejection> {
        if check_bundle && bundle_id != Some(self.bundle_id.as_str()) {
            return Err(Rejection::new(
                RejectionKind::WrongApp,
                "signed data is for another bundle id",
            ));
        }
        if environment != Some(&self.environment) {
            return Err(Rejection::new(
                RejectionKind::WrongApp,
                "signed data is for another environment",
            ));
        }
        Ok(())
    }

    fn decode_nested(
        &self,
        payload: ResponseBodyV2DecodedPayload,
        now_s: i64,
        now_ms: i64,
    ) -> Result<AppleNotification, Rejection> {
        let outer_ms = self.effective_ms(payload.signed_date, now_ms);
        let data = payload.data.as_ref();
        let transaction = data
            .and_then(|d| d.signed_transaction_info.as_deref())
            .map(|jws| {
                self.nested(jws, now_s, outer_ms, |t: &JWSTransactionDecodedPayload| {
                    t.signed_date
                })
            })
            .transpose()?;
        let renewal_info = data
            .and_then(|d| d.signed_renewal_info.as_deref())
            .map(|jws| {
                self.nested(jws, now_s, outer_ms, |r: &JWSRenewalInfoDecodedPayload| {
                    r.signed_date
                })
            })
            .transpose()?;
        if self.verify_nested {
            if let Some(t) = &transaction {
                self.check_nested_app(t.bundle_id.as_deref(), t.environment.as_ref(), true)?;
            }
            if let Some(r) = &renewal_info {
                self.check_nested_app(None, r.environment.as_ref(), false)?;
            }
            if let Some(app_tx) = payload
                .app_data
                .as_ref()
                .and_then(|a| a.signed_app_transaction_info.as_deref())
            {
                self.nested(app_tx, now_s, outer_ms, |v: &AppTransactionDate| {
                    v.signed_date
                })?;
            }
        }
        Ok(AppleNotification::new(payload, transaction, renewal_info))
    }

    /// A nested JWS: decoded only (its bytes are covered by the outer signature), or verified
    /// with the full rules under `verify_nested`. Undecodable nested data is an authentic
    /// payload that is unusable.
    fn nested<T: DeserializeOwned>(
        &self,
        compact: &str,
        now_s: i64,
        outer_ms: i64,
        signed_date: fn(&T) -> Option<i64>,
    ) -> Result<T, Rejection> {
        let unusable = |what: &str| {
            Rejection::unusable(
                RejectionKind::Malformed,
                format!("authentic notification is unusable: nested {what}"),
            )
        };
        if self.verify_nested {
            return self
                .verify_signed(compact, now_s, outer_ms, signed_date)
                .map_err(|r| {
                    if r.kind() == RejectionKind::Malformed {
                        unusable("JWS is malformed")
                    } else {
                        r
                    }
                });
        }
        let jws = CompactJws::split(compact).map_err(|_| unusable("data is not a compact JWS"))?;
        let bytes = jws
            .decode_payload()
            .map_err(|_| unusable("JWS payload is not base64url"))?;
        serde_json::from_slice(&bytes).map_err(|_| unusable("JWS payload is not the expected JSON"))
    }
}

/// The only field of an app transaction this store needs (its date, under `verify_nested`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AppTransactionDate {
    signed_date: Option<i64>,
}

/// The POST body `{"signedPayload": "…"}`.
fn envelope(body: &[u8]) -> Result<Cow<'_, str>, Rejection> {
    #[derive(Deserialize)]
    struct Envelope<'a> {
        #[serde(rename = "signedPayload", borrow, default)]
        signed_payload: Option<Cow<'a, str>>,
        #[serde(default)]
        notification_type: Option<IgnoredAny>,
        #[serde(default)]
        unified_receipt: Option<IgnoredAny>,
    }
    // Fast path for the exact form Apple sends, `{"signedPayload":"<JWS>"}`: when the string has
    // no quote, backslash or control character, its JSON value is its bytes, so the 10+ KB
    // string need not go through the JSON parser (the JWS rules check its characters later).
    if let Some(jws) = body
        .strip_prefix(br#"{"signedPayload":""#)
        .and_then(|rest| rest.strip_suffix(br#""}"#))
        .filter(|jws| is_plain_json_string(jws))
        .and_then(|jws| std::str::from_utf8(jws).ok())
    {
        return Ok(Cow::Borrowed(jws));
    }
    // A derived struct also accepts a JSON array positionally: only an object is an envelope.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(Rejection::malformed("body is not a JSON object"));
    }
    let envelope: Envelope<'_> = serde_json::from_slice(body)
        .map_err(|_| Rejection::malformed("body is not {\"signedPayload\": \"<JWS>\"}"))?;
    match envelope.signed_payload {
        Some(signed_payload) => Ok(signed_payload),
        None if envelope.notification_type.is_some() || envelope.unified_receipt.is_some() => {
            Err(Rejection::new(
                RejectionKind::Unsupported,
                "App Store Server Notifications V1 are not supported; switch the URL to V2",
            ))
        }
        None => Err(Rejection::malformed("body has no signedPayload")),
    }
}

/// Whether a JSON string's content is its own value: no quote, backslash or control character
/// (written branch-free so it vectorizes; UTF-8 is validated separately).
fn is_plain_json_string(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .fold(true, |ok, &b| ok & (b != b'"') & (b != b'\\') & (b >= 0x20))
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

impl Store for AppleStore {
    type Notification = AppleNotification;
    const ID: StoreId = StoreId::APPLE;

    fn verify(
        &self,
        _headers: &HeaderMap,
        body: &Bytes,
    ) -> impl Future<Output = Result<AppleNotification, Rejection>> + Send {
        std::future::ready(self.verify_at(body, self.clock.now()))
    }
}

/// Which of the four payload shapes a notification carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PayloadShape {
    /// `data` (app, environment, transaction and renewal info).
    Data,
    /// `summary` (a mass renewal extension).
    Summary,
    /// `externalPurchaseToken`.
    ExternalPurchaseToken,
    /// `appData`.
    AppData,
}

impl PayloadShape {
    /// The wire name of the field (`"data"`, `"summary"`, `"externalPurchaseToken"`,
    /// `"appData"`).
    pub fn as_str(self) -> &'static str {
        match self {
            PayloadShape::Data => "data",
            PayloadShape::Summary => "summary",
            PayloadShape::ExternalPurchaseToken => "externalPurchaseToken",
            PayloadShape::AppData => "appData",
        }
    }
}

/// A verified App Store Server Notification V2.
#[derive(Debug, Clone)]
pub struct AppleNotification {
    payload: ResponseBodyV2DecodedPayload,
    transaction: Option<JWSTransactionDecodedPayload>,
    renewal_info: Option<JWSRenewalInfoDecodedPayload>,
    receipt: Option<Receipt>,
}

impl AppleNotification {
    fn new(
        payload: ResponseBodyV2DecodedPayload,
        transaction: Option<JWSTransactionDecodedPayload>,
        renewal_info: Option<JWSRenewalInfoDecodedPayload>,
    ) -> Self {
        // The receipt is the transaction's originalTransactionId, else the renewal info's.
        let reference = transaction
            .as_ref()
            .and_then(|t| t.original_transaction_id.clone())
            .or_else(|| {
                renewal_info
                    .as_ref()
                    .and_then(|r| r.original_transaction_id.clone())
            });
        let receipt = reference.map(|reference| {
            let mut receipt = Receipt::new(StoreId::APPLE, reference);
            let product = transaction
                .as_ref()
                .and_then(|t| t.product_id.clone())
                .or_else(|| renewal_info.as_ref().and_then(|r| r.product_id.clone()));
            if let Some(product) = product {
                receipt = receipt.with_product(product);
            }
            if let Some(data) = &payload.data {
                if let Some(bundle_id) = &data.bundle_id {
                    receipt = receipt.with_app(bundle_id.clone());
                }
                if let Some(environment) = &data.environment {
                    receipt = receipt.with_environment(environment.as_str());
                }
            }
            receipt
        });
        AppleNotification {
            payload,
            transaction,
            renewal_info,
            receipt,
        }
    }

    /// The decoded `signedPayload`.
    pub fn payload(&self) -> &ResponseBodyV2DecodedPayload {
        &self.payload
    }

    /// `notificationType`.
    pub fn notification_type(&self) -> &NotificationType {
        &self.payload.notification_type
    }

    /// `subtype`, if any.
    pub fn subtype(&self) -> Option<&Subtype> {
        self.payload.subtype.as_ref()
    }

    /// `notificationUUID`, the idempotency id.
    pub fn notification_uuid(&self) -> &str {
        &self.payload.notification_uuid
    }

    /// `signedDate` (Unix milliseconds).
    pub fn signed_date(&self) -> Option<i64> {
        self.payload.signed_date
    }

    /// Which payload shape it carries.
    pub fn shape(&self) -> Option<PayloadShape> {
        let p = &self.payload;
        if p.data.is_some() {
            Some(PayloadShape::Data)
        } else if p.summary.is_some() {
            Some(PayloadShape::Summary)
        } else if p.external_purchase_token.is_some() {
            Some(PayloadShape::ExternalPurchaseToken)
        } else if p.app_data.is_some() {
            Some(PayloadShape::AppData)
        } else {
            None
        }
    }

    /// The environment the notification is from (after the app binding, the configured one).
    pub fn environment(&self) -> Option<Environment> {
        let p = &self.payload;
        p.data
            .as_ref()
            .and_then(|d| d.environment.clone())
            .or_else(|| p.summary.as_ref().and_then(|s| s.environment.clone()))
            .or_else(|| p.external_purchase_token.as_ref().map(|t| t.environment()))
            .or_else(|| p.app_data.as_ref().and_then(|a| a.environment.clone()))
    }

    /// The bundle id the notification is for.
    pub fn bundle_id(&self) -> Option<&str> {
        let p = &self.payload;
        p.data
            .as_ref()
            .and_then(|d| d.bundle_id.as_deref())
            .or_else(|| p.summary.as_ref().and_then(|s| s.bundle_id.as_deref()))
            .or_else(|| {
                p.external_purchase_token
                    .as_ref()
                    .and_then(|t| t.bundle_id.as_deref())
            })
            .or_else(|| p.app_data.as_ref().and_then(|a| a.bundle_id.as_deref()))
    }

    /// The decoded `data.signedTransactionInfo`.
    pub fn transaction(&self) -> Option<&JWSTransactionDecodedPayload> {
        self.transaction.as_ref()
    }

    /// The decoded `data.signedRenewalInfo`.
    pub fn renewal_info(&self) -> Option<&JWSRenewalInfoDecodedPayload> {
        self.renewal_info.as_ref()
    }

    /// The receipt the hook is asked about: `originalTransactionId` of the transaction, else of
    /// the renewal info; `None` for `TEST` and notifications without transaction data.
    pub fn receipt(&self) -> Option<&Receipt> {
        self.receipt.as_ref()
    }

    /// Whether it is a `TEST` notification.
    pub fn is_test(&self) -> bool {
        self.payload.notification_type == NotificationType::Test
    }
}

impl Notification for AppleNotification {
    fn store(&self) -> StoreId {
        StoreId::APPLE
    }

    fn id(&self) -> &str {
        &self.payload.notification_uuid
    }

    fn notification_type(&self) -> &str {
        self.payload.notification_type.as_str()
    }

    fn disposition(&self) -> Disposition<'_> {
        if self.is_test() {
            return Disposition::Test;
        }
        match &self.receipt {
            Some(receipt) => Disposition::Receipt(receipt),
            None => Disposition::Unreferenced,
        }
    }

    fn event_kind(&self) -> EventKind {
        event_kind(
            &self.payload.notification_type,
            self.payload.subtype.as_ref(),
        )
    }

    fn occurred_at(&self) -> Option<SystemTime> {
        crate::clock::time_from_unix_millis(self.payload.signed_date?)
    }
}

/// Apple's notification types in the cross-store vocabulary
/// (<https://developer.apple.com/documentation/appstoreservernotifications/notificationtype>).
fn event_kind(notification_type: &NotificationType, subtype: Option<&Subtype>) -> EventKind {
    use NotificationType as T;
    match (notification_type, subtype) {
        (T::Subscribed, _) | (T::OneTimeCharge, _) => EventKind::Purchase,
        (T::OfferRedeemed, Some(Subtype::InitialBuy | Subtype::Resubscribe)) => EventKind::Purchase,
        (T::OfferRedeemed, Some(Subtype::Upgrade | Subtype::Downgrade)) => EventKind::ProductChange,
        (T::DidRenew, _) => EventKind::Renewal,
        (T::DidChangeRenewalStatus, Some(Subtype::AutoRenewDisabled)) => EventKind::Cancellation,
        (T::Expired, _) => EventKind::Expiration,
        (T::DidFailToRenew, _) | (T::GracePeriodExpired, _) => EventKind::BillingIssue,
        (T::Refund, _) | (T::Revoke, _) => EventKind::Refund,
        (T::DidChangeRenewalPref, _) => EventKind::ProductChange,
        (T::Test, _) => EventKind::Test,
        _ => EventKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_kind_table_follows_apples_type_meanings() {
        let k = |t: &str, s: Option<&str>| {
            event_kind(&NotificationType::from(t), s.map(Subtype::from).as_ref())
        };
        let table = [
            ("SUBSCRIBED", Some("INITIAL_BUY"), EventKind::Purchase),
            ("SUBSCRIBED", Some("RESUBSCRIBE"), EventKind::Purchase),
            ("ONE_TIME_CHARGE", None, EventKind::Purchase),
            ("OFFER_REDEEMED", Some("INITIAL_BUY"), EventKind::Purchase),
            ("OFFER_REDEEMED", Some("UPGRADE"), EventKind::ProductChange),
            ("OFFER_REDEEMED", None, EventKind::Other),
            ("DID_RENEW", None, EventKind::Renewal),
            ("DID_RENEW", Some("BILLING_RECOVERY"), EventKind::Renewal),
            (
                "DID_CHANGE_RENEWAL_STATUS",
                Some("AUTO_RENEW_DISABLED"),
                EventKind::Cancellation,
            ),
            (
                "DID_CHANGE_RENEWAL_STATUS",
                Some("AUTO_RENEW_ENABLED"),
                EventKind::Other,
            ),
            ("EXPIRED", Some("VOLUNTARY"), EventKind::Expiration),
            ("DID_FAIL_TO_RENEW", None, EventKind::BillingIssue),
            (
                "DID_FAIL_TO_RENEW",
                Some("GRACE_PERIOD"),
                EventKind::BillingIssue,
            ),
            ("GRACE_PERIOD_EXPIRED", None, EventKind::BillingIssue),
            ("REFUND", None, EventKind::Refund),
            ("REVOKE", None, EventKind::Refund),
            (
                "DID_CHANGE_RENEWAL_PREF",
                Some("UPGRADE"),
                EventKind::ProductChange,
            ),
            ("DID_CHANGE_RENEWAL_PREF", None, EventKind::ProductChange),
            ("TEST", None, EventKind::Test),
            ("REFUND_DECLINED", None, EventKind::Other),
            ("REFUND_REVERSED", None, EventKind::Other),
            ("PRICE_INCREASE", Some("PENDING"), EventKind::Other),
            ("CONSUMPTION_REQUEST", None, EventKind::Other),
            ("RENEWAL_EXTENDED", None, EventKind::Other),
            ("RENEWAL_EXTENSION", Some("SUMMARY"), EventKind::Other),
            (
                "EXTERNAL_PURCHASE_TOKEN",
                Some("UNREPORTED"),
                EventKind::Other,
            ),
            ("RESCIND_CONSENT", None, EventKind::Other),
            ("METADATA_UPDATE", None, EventKind::Other),
            ("MIGRATION", None, EventKind::Other),
            ("PRICE_CHANGE", None, EventKind::Other),
            ("SOMETHING_NEW", None, EventKind::Other),
        ];
        for (t, s, kind) in table {
            assert_eq!(k(t, s), kind, "{t} {s:?}");
        }
    }

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

    #[test]
    fn only_a_json_object_with_signed_payload_is_an_envelope() {
        assert!(envelope(br#" {"signedPayload":"a.b.c"}"#).is_ok());
        for (body, kind) in [
            (&br#"["a.b.c"]"#[..], RejectionKind::Malformed),
            (b"", RejectionKind::Malformed),
            (br#"{"payload":"x"}"#, RejectionKind::Malformed),
            (br#"{"signedPayload":5}"#, RejectionKind::Malformed),
            (br#"{"signedPayload":null}"#, RejectionKind::Malformed),
            (br#"{"signedPayload":"a.b"#, RejectionKind::Malformed),
            (
                br#"{"notification_type":"DID_RENEW","unified_receipt":{}}"#,
                RejectionKind::Unsupported,
            ),
        ] {
            assert_eq!(
                envelope(body).map(|_| ()).unwrap_err().kind(),
                kind,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn the_fast_envelope_path_agrees_with_the_json_parser() {
        for body in [
            &br#"{"signedPayload":"a.b.c"}"#[..],
            br#"{"signedPayload":"a.b\/c"}"#,
            br#"{"signedPayload":"a.b.c" }"#,
            br#"{"signedPayload":"a\u002eb.c"}"#,
            br#"{"signedPayload":"a.b.c","x":1}"#,
            br#"{"signedPayload":"a"b.c"}"#,
            b"{\"signedPayload\":\"a\x01.b.c\"}",
        ] {
            let fast = envelope(body).map(|s| s.into_owned());
            let slow: Result<String, ()> = serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v["signedPayload"].as_str().map(str::to_owned))
                .ok_or(());
            assert_eq!(fast.ok(), slow.ok(), "{}", String::from_utf8_lossy(body));
        }
        assert!(is_plain_json_string(b"eyJ-_.09az+/="));
        for bad in [&b"a\"b"[..], b"a\\b", b"a\nb", b"\x00"] {
            assert!(!is_plain_json_string(bad));
        }
    }

    #[test]
    fn app_binding_takes_values_from_the_first_shape_present() {
        let store = AppleStore::production("com.example", 42);
        let payload = |json: &str| -> ResponseBodyV2DecodedPayload {
            serde_json::from_str(json).expect("payload")
        };
        let ok = payload(
            r#"{"notificationType":"DID_RENEW","notificationUUID":"u","data":{"bundleId":"com.example","appAppleId":42,"environment":"Production"}}"#,
        );
        assert!(store.check_app(&ok).is_ok());
        for json in [
            r#"{"notificationType":"DID_RENEW","notificationUUID":"u","data":{"bundleId":"com.other","appAppleId":42,"environment":"Production"}}"#,
            r#"{"notificationType":"DID_RENEW","notificationUUID":"u","data":{"bundleId":"com.example","appAppleId":43,"environment":"Production"}}"#,
            r#"{"notificationType":"DID_RENEW","notificationUUID":"u","data":{"bundleId":"com.example","environment":"Production"}}"#,
            r#"{"notificationType":"DID_RENEW","notificationUUID":"u","data":{"bundleId":"com.example","appAppleId":42,"environment":"Sandbox"}}"#,
            r#"{"notificationType":"EXTERNAL_PURCHASE_TOKEN","notificationUUID":"u","externalPurchaseToken":{"externalPurchaseId":"SANDBOX_1","bundleId":"com.example","appAppleId":42}}"#,
        ] {
            assert_eq!(
                store.check_app(&payload(json)).unwrap_err().kind(),
                RejectionKind::WrongApp,
                "{json}"
            );
        }
        let none = payload(r#"{"notificationType":"DID_RENEW","notificationUUID":"u"}"#);
        assert!(store.check_app(&none).unwrap_err().is_authentic());
    }

    #[test]
    fn the_sandbox_does_not_check_the_app_apple_id() {
        let store = AppleStore::sandbox("com.example").with_app_apple_id(42);
        let p: ResponseBodyV2DecodedPayload = serde_json::from_str(
            r#"{"notificationType":"DID_RENEW","notificationUUID":"u","data":{"bundleId":"com.example","appAppleId":7,"environment":"Sandbox"}}"#,
        )
        .expect("payload");
        assert!(store.check_app(&p).is_ok());
    }
}

/// Tests that need the test signer's chain.
#[cfg(all(test, feature = "test-util"))]
mod signed_tests {
    use super::*;
    use crate::kernel::encoding::{b64url_decode, b64url_encode};
    use crate::testing::AppleSigner;
    use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
    use serde_json::Value;

    const NOW: u64 = 1_767_225_600;
    const SIGNED_MS: i64 = 1_767_225_570_000;

    fn signer() -> AppleSigner {
        AppleSigner::new("com.example.cache", Environment::Sandbox)
    }

    #[test]
    fn rejections_never_quote_a_value_of_the_body() {
        let s = signer();
        // `signedDate` is a number: the parse error would quote the secret-looking string.
        let payload = serde_json::json!({
            "notificationType": "DID_RENEW",
            "notificationUUID": "u-1",
            "version": "2.0",
            "signedDate": "SECRET_RECEIPT_VALUE",
            "data": { "bundleId": "com.example.cache", "environment": "Sandbox" },
        });
        let body = s.body(&s.sign(payload.to_string().as_bytes()));
        let store = s.store().with_clock(Clock::from_unix(NOW));
        let r = store
            .verify_at(&body, store.now())
            .map(|_| ())
            .expect_err("signedDate is not a number");
        assert!(r.is_authentic(), "{r}");
        assert!(!r.to_string().contains("SECRET"), "{r}");
        assert!(r.to_string().contains("expected i64"), "{r}");
    }

    fn genuine(s: &AppleSigner) -> String {
        let body = s.notification(
            "DID_RENEW",
            None,
            "u-1",
            Some("2000000000000001"),
            SIGNED_MS,
        );
        let v: Value = serde_json::from_slice(&body).expect("json");
        v["signedPayload"].as_str().expect("jws").to_owned()
    }

    /// `jws` with its header replaced by `edit(header)`, signed again with the signer's leaf key:
    /// a JWS Apple could have sent, with the same certificates.
    fn resigned(s: &AppleSigner, jws: &str, edit: impl FnOnce(&mut Value)) -> String {
        let mut parts = jws.split('.');
        let (header, payload) = (parts.next().expect("h"), parts.next().expect("p"));
        let mut header: Value =
            serde_json::from_slice(&b64url_decode(header).expect("b64")).expect("json");
        edit(&mut header);
        let input = format!("{}.{payload}", b64url_encode(header.to_string().as_bytes()));
        let pem = s.to_pem();
        let pkcs8 = x509_parser::pem::Pem::iter_from_buffer(pem.as_bytes())
            .filter_map(Result::ok)
            .find(|p| p.label == "PRIVATE KEY")
            .expect("key")
            .contents;
        let rng = ring::rand::SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8, &rng)
            .expect("leaf key");
        let sig = key.sign(&rng, input.as_bytes()).expect("sign");
        format!("{input}.{}", b64url_encode(sig.as_ref()))
    }

    fn verify(
        store: &AppleStore,
        s: &AppleSigner,
        jws: &str,
    ) -> Result<AppleNotification, Rejection> {
        store.verify_at(&s.body(jws), store.now())
    }

    #[test]
    fn protected_header_over_16_kib_is_malformed() {
        let s = signer();
        let store = s.store().with_clock(Clock::from_unix(NOW));
        let padded = resigned(&s, &genuine(&s), |h| {
            h["pad"] = Value::from("x".repeat(16 * 1024));
        });
        let r = verify(&store, &s, &padded).expect_err("too large");
        assert_eq!(r.kind(), RejectionKind::Malformed);
        assert_eq!(r.status(), 400);
        assert_eq!(store.cache.len(), 0, "the chain was never looked at");
    }

    #[test]
    fn jws_signature_must_verify_before_its_chain_is_cached() {
        let s = signer();
        let store = s.store().with_clock(Clock::from_unix(NOW));
        let jws = genuine(&s);
        let (input, _) = jws.rsplit_once('.').expect("three parts");
        let garbage = format!("{input}.{}", b64url_encode(&[7; 64]));
        let r = verify(&store, &s, &garbage).expect_err("bad signature");
        assert_eq!(r.kind(), RejectionKind::Unauthenticated);
        assert_eq!(
            store.cache.len(),
            0,
            "a chain whose leaf did not sign is not cached"
        );

        // Nor does a stream of them evict a good entry.
        let store = s
            .store()
            .with_clock(Clock::from_unix(NOW))
            .with_chain_cache(1, Duration::from_secs(900));
        verify(&store, &s, &jws).expect("genuine");
        for i in 0..3 {
            let padded = resigned(&s, &jws, |h| h["pad"] = Value::from(i));
            let (input, _) = padded.rsplit_once('.').expect("three parts");
            let garbage = format!("{input}.{}", b64url_encode(&[7; 64]));
            assert!(verify(&store, &s, &garbage).is_err());
        }
        let hits = store.cache.hits();
        verify(&store, &s, &jws).expect("genuine");
        assert_eq!(
            store.cache.hits(),
            hits + 1,
            "the good entry is still there"
        );
    }

    #[test]
    fn signed_date_out_of_range_is_no_occurred_at_never_a_panic() {
        let s = signer();
        // Validity at "now": at `signedDate` an i64::MAX date is past every certificate.
        let store = s
            .store()
            .with_clock(Clock::from_unix(NOW))
            .with_validity_date(ValidityDate::Now);
        let body = s.notification("DID_RENEW", None, "u-1", Some("2000000000000001"), i64::MAX);
        let n = store.verify_at(&body, store.now()).expect("authentic");
        assert_eq!(n.signed_date(), Some(i64::MAX));
        assert_eq!(n.occurred_at(), None);
    }

    #[test]
    fn chain_cache_is_keyed_by_the_certificates_not_the_header() {
        let s = signer();
        let store = s.store().with_clock(Clock::from_unix(NOW));
        let jws = genuine(&s);
        verify(&store, &s, &jws).expect("genuine");
        let padded = resigned(&s, &jws, |h| {
            h["kid"] = Value::from("padding");
            h["pad"] = Value::from("x".repeat(4096));
        });
        verify(&store, &s, &padded).expect("same certificates, other header fields");
        assert_eq!(store.cache.len(), 1, "one entry for one chain");
        assert_eq!(
            store.cache.hits(),
            1,
            "the second header hit the first one's entry"
        );
    }
}
