//! The store seam: what every store's verifier provides to the pipeline.
//!
//! A [`Store`] is framework-free: it turns a request's headers and raw body into a
//! [`Verdict`] on an authentic delivery (a typed [`Notification`], or an authentic payload that
//! is [unusable](Verdict::Unusable)) or a [`Rejection`]. The Tower layer, the axum extractor and
//! your own code all call the same [`Store::verify`].

use std::fmt;
use std::future::Future;
use std::str::FromStr;

use bytes::Bytes;
use http::HeaderMap;
use serde::Serialize;

use std::time::SystemTime;

use crate::event::EventKind;
use crate::hook::Receipt;
use crate::rejection::Rejection;
use crate::status::Subscription;

/// Which store a notification came from: an open identity, so a store written outside this
/// crate (Huawei AppGallery, Paddle, a Standard Webhooks sender …) is a first-class citizen.
///
/// A `StoreId` is a short lower-case name (`[a-z0-9_-]`, 1 to 32 bytes) used in URLs, JSON,
/// metrics and logs. The built-in stores have constants; your own store declares its own:
///
/// ```
/// use store_notifications::StoreId;
///
/// const PADDLE: StoreId = StoreId::new("paddle");
/// assert_eq!(PADDLE.as_str(), "paddle");
/// assert_ne!(PADDLE, StoreId::STRIPE);
/// assert_eq!("apple".parse::<StoreId>(), Ok(StoreId::APPLE));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StoreId(&'static str);

impl StoreId {
    /// Apple App Store Server Notifications V2.
    pub const APPLE: StoreId = StoreId::new("apple");
    /// Google Play Real-time Developer Notifications.
    pub const GOOGLE: StoreId = StoreId::new("google");
    /// Stripe webhooks.
    pub const STRIPE: StoreId = StoreId::new("stripe");
    /// Amazon Appstore Real-time Notifications.
    pub const AMAZON: StoreId = StoreId::new("amazon");

    /// The stores this crate implements, in a stable order.
    pub const BUILT_IN: [StoreId; 4] = [
        StoreId::APPLE,
        StoreId::GOOGLE,
        StoreId::STRIPE,
        StoreId::AMAZON,
    ];

    /// A store named `name`: 1 to 32 bytes of `a`–`z`, `0`–`9`, `_` and `-`.
    ///
    /// Meant for a `const`, where a bad name fails the build; called at run time with a bad
    /// name it panics, so never build one from input (parse input with
    /// [`StoreId::find`] or [`str::parse`]).
    pub const fn new(name: &'static str) -> StoreId {
        let bytes = name.as_bytes();
        assert!(
            !bytes.is_empty() && bytes.len() <= 32,
            "a store id is 1 to 32 bytes"
        );
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            assert!(
                b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-',
                "a store id is made of a-z, 0-9, _ and -"
            );
            i += 1;
        }
        StoreId(name)
    }

    /// The name (`"apple"`, …).
    pub const fn as_str(self) -> &'static str {
        self.0
    }

    /// The one of `candidates` named `name`, if any (to parse a name against the stores a
    /// deployment mounts, built-in or not).
    pub fn find(name: &str, candidates: &[StoreId]) -> Option<StoreId> {
        candidates.iter().copied().find(|id| id.0 == name)
    }
}

impl fmt::Display for StoreId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl fmt::Debug for StoreId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreId({:?})", self.0)
    }
}

impl Serialize for StoreId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0)
    }
}

/// The error of parsing a [`StoreId`] from a string that names no built-in store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownStore(String);

impl UnknownStore {
    /// The error for `name`.
    pub fn new(name: impl Into<String>) -> Self {
        UnknownStore(name.into())
    }
}

impl fmt::Display for UnknownStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown store {:?}", self.0)
    }
}

impl std::error::Error for UnknownStore {}

/// Parses the name of a built-in store (see [`StoreId::find`] for your own).
impl FromStr for StoreId {
    type Err = UnknownStore;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        StoreId::find(s, &StoreId::BUILT_IN).ok_or_else(|| UnknownStore(s.to_owned()))
    }
}

/// What the pipeline does with a verified notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Disposition<'a> {
    /// About a receipt: the [`ReceiptHook`](crate::ReceiptHook) is asked whether it is tracked
    /// here; only tracked receipts reach the handler.
    Receipt(&'a Receipt),
    /// A test notification sent from the store's console: the handler sees it, the hook is
    /// not asked.
    Test,
    /// Authentic, about no receipt (a Stripe `balance.available`, say): the handler sees it,
    /// the hook is not asked.
    Unreferenced,
    /// A protocol message handled by the store itself (an SNS subscription confirmation):
    /// answered 200, the handler is not called.
    Control,
}

/// What a store concluded about a delivery whose proof checked out.
///
/// A delivery that is not authentic (or cannot be checked now) is an `Err(`[`Rejection`]`)`
/// of [`Store::verify`]; an authentic one is a `Verdict`:
///
/// - [`Notification`](Verdict::Notification): typed and ready for the pipeline;
/// - [`Unusable`](Verdict::Unusable): the store vouched for it, but its payload is not one this
///   store can use (a Stripe body that is not an event, an SNS `Message` that is not RTN JSON).
///   The endpoint keeps it in the [`DeadLetterSink`](crate::DeadLetterSink) and, by default,
///   answers 200, so nothing is lost and no retry storm starts. The [`Rejection`] says why.
///
/// ```
/// use store_notifications::{Rejection, RejectionKind, Verdict};
///
/// let ok: Verdict<&str> = Verdict::Notification("evt_1");
/// assert_eq!(ok.clone().map(str::len).notification(), Some(5));
///
/// let kept: Verdict<&str> =
///     Verdict::Unusable(Rejection::new(RejectionKind::Malformed, "not an event"));
/// assert!(kept.is_unusable());
/// assert_eq!(kept.unusable().map(|r| r.kind()), Some(RejectionKind::Malformed));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict<N> {
    /// An authentic, usable notification.
    Notification(N),
    /// An authentic delivery whose payload is unusable, and why.
    Unusable(Rejection),
}

impl<N> Verdict<N> {
    /// The notification, if the payload was usable.
    pub fn notification(self) -> Option<N> {
        match self {
            Verdict::Notification(n) => Some(n),
            Verdict::Unusable(_) => None,
        }
    }

    /// Why the payload was unusable, if it was.
    pub fn unusable(self) -> Option<Rejection> {
        match self {
            Verdict::Notification(_) => None,
            Verdict::Unusable(r) => Some(r),
        }
    }

    /// Whether the delivery was authentic but its payload unusable.
    pub fn is_unusable(&self) -> bool {
        matches!(self, Verdict::Unusable(_))
    }

    /// Maps the notification, keeping an unusable verdict as it is.
    pub fn map<M>(self, f: impl FnOnce(N) -> M) -> Verdict<M> {
        match self {
            Verdict::Notification(n) => Verdict::Notification(f(n)),
            Verdict::Unusable(r) => Verdict::Unusable(r),
        }
    }

    /// The public boundary of a built-in store: a rejection carrying the crate-private
    /// "authentic" marker (set while parsing, deep in a store) becomes [`Verdict::Unusable`];
    /// the marker itself never leaves the crate.
    // Only the built-in stores mark unusable payloads while parsing.
    #[cfg_attr(
        not(any(
            feature = "stripe",
            feature = "apple",
            feature = "google",
            feature = "amazon"
        )),
        allow(dead_code)
    )]
    pub(crate) fn from_result(result: Result<N, Rejection>) -> Result<Verdict<N>, Rejection> {
        match result {
            Ok(n) => Ok(Verdict::Notification(n)),
            Err(r) if r.is_authentic() => Ok(Verdict::Unusable(r.into_unmarked())),
            Err(r) => Err(r),
        }
    }
}

/// What every store's verified notification tells the pipeline.
pub trait Notification: Clone + fmt::Debug + Send + Sync + 'static {
    /// The store it came from.
    fn store(&self) -> StoreId;

    /// The store's idempotency id: Apple `notificationUUID`, Google `messageId`, Stripe
    /// `event.id`, SNS `MessageId`. Redeliveries carry the same id.
    fn id(&self) -> &str;

    /// The store's own name for what happened (`"DID_RENEW"`, `"invoice.paid"`, `"3"`, …).
    fn notification_type(&self) -> &str;

    /// What the pipeline should do with it.
    fn disposition(&self) -> Disposition<'_>;

    /// What happened, in the cross-store vocabulary (each store's mapping table).
    fn event_kind(&self) -> EventKind;

    /// When it happened according to the store (signed date, event time), if it says and the
    /// time is between 1970 and 9999 (a value outside is absent, never a panic).
    fn occurred_at(&self) -> Option<SystemTime> {
        None
    }
}

/// A store's verifier: headers and raw body in, a [`Verdict`] on an authentic delivery out.
///
/// Implementations parse their configuration once, at construction, and are shared behind an
/// `Arc` by the layer. `verify` must never panic on any input. Each built-in store also has a
/// framework-free `verify_at(&HeaderMap, &[u8], SystemTime)` that `verify` calls with the
/// store's clock.
pub trait Store: Send + Sync + 'static {
    /// The verified, typed notification.
    type Notification: Notification;

    /// Which store this verifies.
    const ID: StoreId;

    /// Authenticates and parses one delivery. The body is the exact bytes received.
    ///
    /// `Err` for a delivery that is not authentic or cannot be checked now; an authentic one
    /// is [`Verdict::Notification`], or [`Verdict::Unusable`] when its payload is not usable.
    fn verify(
        &self,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> impl Future<Output = Result<Verdict<Self::Notification>, Rejection>> + Send;

    /// Acts on a [`Disposition::Control`] notification (confirms an SNS subscription, say)
    /// and reports the subscription change to record in the status. An error answers with its
    /// status (503 for a transient failure, so the store retries).
    fn handle_control(
        &self,
        notification: &Self::Notification,
    ) -> impl Future<Output = Result<Option<Subscription>, Rejection>> + Send {
        let _ = notification;
        std::future::ready(Ok(None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_id_round_trips_through_its_name() {
        for id in StoreId::BUILT_IN {
            assert_eq!(id.as_str().parse::<StoreId>(), Ok(id));
            assert_eq!(id.to_string(), id.as_str());
        }
        assert!("paypal".parse::<StoreId>().is_err());
        const PADDLE: StoreId = StoreId::new("paddle");
        assert_eq!(
            StoreId::find("paddle", &[StoreId::STRIPE, PADDLE]),
            Some(PADDLE)
        );
        assert_eq!(StoreId::find("apple", &[PADDLE]), None);
        assert_eq!(format!("{PADDLE:?}"), "StoreId(\"paddle\")");
    }

    #[test]
    fn only_a_marked_rejection_becomes_an_unusable_verdict() {
        use crate::rejection::RejectionKind;
        assert_eq!(Verdict::from_result(Ok(1)), Ok(Verdict::Notification(1)));
        let refused = Rejection::unauthenticated("forged");
        assert_eq!(
            Verdict::<u8>::from_result(Err(refused.clone())),
            Err(refused)
        );
        let marked = Rejection::unusable(RejectionKind::Malformed, "not an event");
        let verdict = Verdict::<u8>::from_result(Err(marked)).expect("authentic");
        assert_eq!(
            verdict,
            Verdict::Unusable(Rejection::new(RejectionKind::Malformed, "not an event"))
        );
    }

    #[test]
    #[should_panic(expected = "a-z, 0-9")]
    fn store_id_names_are_lower_case_words() {
        let _ = StoreId::new("Apple Store");
    }
}
