//! Stripe webhooks: `Stripe-Signature` HMAC-SHA256 and the `Event` object.
//!
//! ```
//! use std::time::Duration;
//! use bytes::Bytes;
//! use http::{HeaderMap, HeaderName};
//! use store_notifications::{Clock, StripeStore};
//!
//! let store = StripeStore::new("whsec_current")
//!     .with_secret("whsec_previous")           // during a secret roll
//!     .with_tolerance(Duration::from_secs(300)) // the default
//!     .with_clock(Clock::from_unix(1_767_225_600));
//!
//! let body = Bytes::from_static(br#"{"id":"evt_1","object":"event","type":"customer.created","created":1767225570,"livemode":false,"data":{"object":{"object":"customer","id":"cus_1"}}}"#);
//! let mut headers = HeaderMap::new();
//! headers.insert("stripe-signature", "t=1767225570,v1=0000".parse().unwrap());
//! let rejection = store.verify_at(&headers, &body, store.now()).unwrap_err();
//! assert_eq!(rejection.status(), 401);
//! ```
//!
//! Secrets are parsed into HMAC keys once, at construction, and never printed. The HMAC key is
//! the secret string's bytes exactly as configured (`whsec_` prefix included), as in every
//! official SDK.

mod event;
mod signature;

use std::fmt;
use std::future::Future;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, HeaderName};
use ring::hmac;

pub use event::{EventType, ReceiptKind, StripeEvent};

use crate::clock::{Clock, unix_seconds};
use crate::rejection::{Rejection, RejectionKind};
use crate::store::{Store, StoreId, Verdict};

/// The default tolerance on the signature timestamp, in both directions: 300 s, as every Stripe
/// SDK.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// The header carrying the signatures (a constant name: no parsing per request).
static STRIPE_SIGNATURE: HeaderName = HeaderName::from_static("stripe-signature");

/// Why [`StripeStore::from_secrets`] refused its secrets: there were none, or one was empty.
///
/// Its `Display` names the position of an empty secret, never a secret's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripeConfigError {
    /// The 0-based position of the first empty secret; `None` when there was no secret at all.
    empty_at: Option<usize>,
}

impl fmt::Display for StripeConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.empty_at {
            None => f.write_str(
                "invalid Stripe configuration: at least one secret is needed, there is none",
            ),
            Some(i) => write!(
                f,
                "invalid Stripe configuration: secret #{} is empty (at least one secret is \
                 needed, and none may be empty)",
                i + 1
            ),
        }
    }
}

impl std::error::Error for StripeConfigError {}

/// The Stripe verifier.
#[derive(Clone)]
pub struct StripeStore {
    keys: Vec<hmac::Key>,
    tolerance: i64,
    clock: Clock,
}

impl StripeStore {
    /// A verifier for one endpoint secret (`whsec_…`). For secrets read from configuration,
    /// [`from_secrets`](Self::from_secrets) also refuses an empty list or an empty secret.
    pub fn new(secret: impl AsRef<[u8]>) -> Self {
        StripeStore {
            keys: vec![hmac::Key::new(hmac::HMAC_SHA256, secret.as_ref())],
            tolerance: i64::try_from(DEFAULT_TOLERANCE.as_secs()).unwrap_or(i64::MAX),
            clock: Clock::system(),
        }
    }

    /// A verifier accepting any of `secrets` (e.g. a list read from configuration), in order:
    /// the same as [`new`](Self::new) with the first and [`with_secret`](Self::with_secret)
    /// with each of the others.
    ///
    /// Refuses an empty list, which would refuse every delivery, and an empty secret, which
    /// anyone can sign with: both are configuration mistakes, reported once at start-up.
    ///
    /// ```
    /// use store_notifications::StripeStore;
    ///
    /// let store = StripeStore::from_secrets(["whsec_current", "whsec_previous"]).unwrap();
    /// # let _ = store;
    /// let none: [&str; 0] = [];
    /// let e = StripeStore::from_secrets(none).unwrap_err();
    /// assert!(e.to_string().contains("at least one secret"));
    /// assert!(StripeStore::from_secrets(["whsec_current", ""]).is_err());
    /// ```
    pub fn from_secrets<I>(secrets: I) -> Result<Self, StripeConfigError>
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        let mut store: Option<StripeStore> = None;
        for (index, secret) in secrets.into_iter().enumerate() {
            if secret.as_ref().is_empty() {
                return Err(StripeConfigError {
                    empty_at: Some(index),
                });
            }
            store = Some(match store {
                None => StripeStore::new(secret),
                Some(store) => store.with_secret(secret),
            });
        }
        store.ok_or(StripeConfigError { empty_at: None })
    }

    /// Also accepts signatures made with `secret` (for secret rolls).
    #[must_use]
    pub fn with_secret(mut self, secret: impl AsRef<[u8]>) -> Self {
        self.keys
            .push(hmac::Key::new(hmac::HMAC_SHA256, secret.as_ref()));
        self
    }

    /// How far the signature timestamp may be from now, either way (default 300 s).
    #[must_use]
    pub fn with_tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = i64::try_from(tolerance.as_secs()).unwrap_or(i64::MAX);
        self
    }

    /// The clock "now" is read from.
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The current time on this store's clock.
    pub fn now(&self) -> SystemTime {
        self.clock.now()
    }

    /// Verifies a delivery at `now`: the `Stripe-Signature` header, then the timestamp, then
    /// parses the event. A body that is authentic but not an event is
    /// [`Verdict::Unusable`] (`Malformed`).
    ///
    /// The event keeps the body: it is copied once, after the signature checked out
    /// ([`Store::verify`] shares the received `Bytes` instead).
    pub fn verify_at(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<Verdict<StripeEvent>, Rejection> {
        Verdict::from_result(self.verify_marked(headers, body, now, Bytes::copy_from_slice))
    }

    /// [`verify_at`](StripeStore::verify_at) with the authentic marker still in the rejection;
    /// `own` turns the authenticated body into the event's `Bytes` (a copy, or a shared clone).
    pub(crate) fn verify_marked<'b, B>(
        &self,
        headers: &HeaderMap,
        body: &'b B,
        now: SystemTime,
        own: impl FnOnce(&'b B) -> Bytes,
    ) -> Result<StripeEvent, Rejection>
    where
        B: AsRef<[u8]> + ?Sized,
    {
        let header = signature_header_value(headers)?;
        let parsed = signature::SignatureHeader::parse(header)?;
        parsed.verify(&self.keys, body.as_ref())?;
        parsed.check_time(unix_seconds(now), self.tolerance)?;
        StripeEvent::parse(own(body), parsed.t).map_err(|e| {
            Rejection::unusable(
                RejectionKind::Malformed,
                format!(
                    "authentic body is not a Stripe event: {}",
                    crate::kernel::json::describe(&e)
                ),
            )
        })
    }

    /// Only the signature check (no timestamp, no parsing): the floor the benchmarks compare
    /// against, and a building block for custom pipelines.
    pub fn verify_signature(&self, headers: &HeaderMap, body: &[u8]) -> Result<i64, Rejection> {
        let header = signature_header_value(headers)?;
        let parsed = signature::SignatureHeader::parse(header)?;
        parsed.verify(&self.keys, body)?;
        Ok(parsed.t)
    }
}

/// The one `Stripe-Signature` header, as text. Missing, repeated or not ASCII: malformed.
///
/// Stripe sends one. Two are ambiguous: `HeaderMap::get` reads the first, a proxy or framework
/// that joins repeated fields with `,` (RFC 9110 §5.3) reads both as one value with two `t`,
/// so two readers of the same request would disagree on what was signed. Refused, as a
/// duplicate `t` is, and a duplicate `Authorization` for Google.
fn signature_header_value(headers: &HeaderMap) -> Result<&str, Rejection> {
    let mut values = headers.get_all(&STRIPE_SIGNATURE).iter();
    let value = values
        .next()
        .ok_or_else(|| Rejection::malformed("missing Stripe-Signature header"))?;
    if values.next().is_some() {
        return Err(Rejection::malformed(
            "more than one Stripe-Signature header",
        ));
    }
    value
        .to_str()
        .map_err(|_| Rejection::malformed("Stripe-Signature is not ASCII"))
}

impl fmt::Debug for StripeStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripeStore")
            .field("secrets", &format_args!("[{} redacted]", self.keys.len()))
            .field("tolerance_s", &self.tolerance)
            .finish_non_exhaustive()
    }
}

impl Store for StripeStore {
    type Notification = StripeEvent;
    const ID: StoreId = StoreId::STRIPE;

    fn verify(
        &self,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> impl Future<Output = Result<Verdict<StripeEvent>, Rejection>> + Send {
        // The received `Bytes` are shared with the event: no copy on the pipeline's path.
        let verified = self.verify_marked(headers, body, self.clock.now(), Bytes::clone);
        std::future::ready(Verdict::from_result(verified))
    }
}

/// Computes a `Stripe-Signature` header value for `body` signed at `t` (used by the test
/// signers).
#[cfg(feature = "test-util")]
pub(crate) fn signature_header(secret: &[u8], t: i64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let tag = signature::sign(&key, &t.to_string(), body);
    format!(
        "t={t},v1={}",
        crate::kernel::encoding::hex_lower(tag.as_ref())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejections_never_quote_a_value_of_the_body() {
        // `created` is a number: the parse error would quote the secret-looking string.
        let body = Bytes::from_static(
            br#"{"id":"evt_1","object":"event","type":"customer.created","created":"sk_live_SECRET_VALUE","livemode":false,"data":{"object":{}}}"#,
        );
        let t = 1_767_225_570;
        let key = hmac::Key::new(hmac::HMAC_SHA256, b"whsec_test");
        let tag = signature::sign(&key, &t.to_string(), &body);
        let mut headers = HeaderMap::new();
        let value = format!(
            "t={t},v1={}",
            crate::kernel::encoding::hex_lower(tag.as_ref())
        );
        headers.insert("stripe-signature", value.parse().expect("value"));
        let store = StripeStore::new("whsec_test").with_clock(Clock::from_unix(1_767_225_600));
        let r = store
            .verify_at(&headers, &body, store.now())
            .expect("authentic")
            .unusable()
            .expect("created is not a number");
        assert_eq!(r.kind(), RejectionKind::Malformed);
        assert!(!r.to_string().contains("SECRET"), "{r}");
        assert!(r.to_string().contains("expected i64"), "{r}");
    }

    #[test]
    fn debug_never_prints_a_secret() {
        let store = StripeStore::new("whsec_supersecret").with_secret("whsec_other");
        let shown = format!("{store:?}");
        assert!(
            !shown.contains("supersecret") && !shown.contains("other"),
            "{shown}"
        );
        assert!(shown.contains("2 redacted"));
    }

    #[cfg(feature = "test-util")]
    #[test]
    fn more_than_one_stripe_signature_header_is_malformed() {
        use crate::testing::StripeSigner;
        let signer = StripeSigner::new("whsec_test");
        let body = signer.event("evt_1", "customer.created", "{}", 1_767_225_570);
        let store = StripeStore::new("whsec_test").with_clock(Clock::from_unix(1_767_225_600));
        let mut headers = signer.headers(1_767_225_570, &body);
        assert!(store.verify_at(&headers, &body, store.now()).is_ok());
        // A second, genuine value: each alone verifies, together they are ambiguous.
        let again = signer.signature(1_767_225_571, &body);
        headers.append("stripe-signature", again.parse().expect("value"));
        for r in [
            store.verify_at(&headers, &body, store.now()).map(|_| ()),
            store.verify_signature(&headers, &body).map(|_| ()),
        ] {
            let r = r.expect_err("two headers");
            assert_eq!(r.kind(), RejectionKind::Malformed);
            assert_eq!(r.status(), 400);
        }
    }

    #[cfg(feature = "test-util")]
    #[test]
    fn created_out_of_range_is_no_occurred_at_never_a_panic() {
        use crate::store::Notification as _;
        use crate::testing::StripeSigner;
        let signer = StripeSigner::new("whsec_test");
        let store = StripeStore::new("whsec_test").with_clock(Clock::from_unix(1_767_225_600));
        let body = signer.event("evt_1", "customer.created", "{}", i64::MAX);
        let headers = signer.headers(1_767_225_570, &body);
        let event = store
            .verify_at(&headers, &body, store.now())
            .expect("authentic")
            .notification()
            .expect("an event");
        assert_eq!(event.created(), i64::MAX);
        assert_eq!(event.occurred_at(), None);
        let json = serde_json::to_value(crate::Event::of(&event)).expect("serializes");
        assert!(json["occurred_at"].is_null());

        // `created` is required and an integer: past i64 the body is not an event at all.
        let body = Bytes::from(
            String::from_utf8_lossy(&body).replace(&i64::MAX.to_string(), &u64::MAX.to_string()),
        );
        let headers = signer.headers(1_767_225_570, &body);
        let r = store
            .verify_at(&headers, &body, store.now())
            .expect("authentic: dead-lettered, not refused")
            .unusable()
            .expect("not an event");
        assert_eq!(r.kind(), RejectionKind::Malformed);
    }

    #[test]
    fn from_secrets_needs_at_least_one() {
        let e = StripeStore::from_secrets(Vec::<String>::new()).expect_err("no secret");
        assert!(
            e.to_string().contains("at least one secret is needed"),
            "{e}"
        );
        let store = StripeStore::from_secrets(["a", "b"]).expect("two secrets");
        assert!(format!("{store:?}").contains("2 redacted"));
    }

    #[test]
    fn from_secrets_refuses_an_empty_secret() {
        // An empty HMAC key is one anybody can sign with.
        for secrets in [vec![""], vec!["whsec_a", ""], vec!["", "whsec_b"]] {
            let e = StripeStore::from_secrets(&secrets).expect_err("an empty secret");
            assert!(e.to_string().contains("is empty"), "{e}");
            assert!(!e.to_string().contains("whsec_"), "{e}");
        }
        let e = StripeStore::from_secrets(["whsec_a", ""]).expect_err("empty");
        assert!(e.to_string().contains("secret #2"), "{e}");
    }
}
