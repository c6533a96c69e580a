//! The store seam: what every store's verifier provides to the pipeline.
//!
//! A [`Store`] is framework-free: it turns a request's headers and raw body into an
//! authenticated, typed [`Notification`] or a [`Rejection`]. The Tower layer, the axum
//! extractor and your own code all call the same [`Store::verify`].

use std::fmt;
use std::future::Future;
use std::str::FromStr;

use bytes::Bytes;
use http::HeaderMap;
use serde::{Deserialize, Serialize};

use std::time::SystemTime;

use crate::event::EventKind;
use crate::hook::Receipt;
use crate::rejection::Rejection;
use crate::status::Subscription;

/// Which store a notification came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum StoreKind {
    /// Apple App Store Server Notifications V2.
    Apple,
    /// Google Play Real-time Developer Notifications.
    Google,
    /// Stripe webhooks.
    Stripe,
    /// Amazon Appstore Real-time Notifications.
    Amazon,
}

impl StoreKind {
    /// Every store, in a stable order.
    pub const ALL: [StoreKind; 4] = [
        StoreKind::Apple,
        StoreKind::Google,
        StoreKind::Stripe,
        StoreKind::Amazon,
    ];

    /// The lower-case name used in URLs, JSON and logs (`"apple"`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            StoreKind::Apple => "apple",
            StoreKind::Google => "google",
            StoreKind::Stripe => "stripe",
            StoreKind::Amazon => "amazon",
        }
    }
}

impl fmt::Display for StoreKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing a [`StoreKind`] from a string that names no store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownStore(String);

impl fmt::Display for UnknownStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown store {:?} (expected apple, google, stripe or amazon)",
            self.0
        )
    }
}

impl std::error::Error for UnknownStore {}

impl FromStr for StoreKind {
    type Err = UnknownStore;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        StoreKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownStore(s.to_owned()))
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

/// What every store's verified notification tells the pipeline.
pub trait Notification: Clone + fmt::Debug + Send + Sync + 'static {
    /// The store it came from.
    fn store(&self) -> StoreKind;

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

/// A store's verifier: headers and raw body in, an authenticated notification out.
///
/// Implementations parse their configuration once, at construction, and are shared behind an
/// `Arc` by the layer. `verify` must never panic on any input.
pub trait Store: Send + Sync + 'static {
    /// The verified, typed notification.
    type Notification: Notification;

    /// Which store this verifies.
    const KIND: StoreKind;

    /// Authenticates and parses one delivery. The body is the exact bytes received.
    fn verify(
        &self,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> impl Future<Output = Result<Self::Notification, Rejection>> + Send;

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
    fn store_kind_round_trips_through_its_name() {
        for kind in StoreKind::ALL {
            assert_eq!(kind.as_str().parse::<StoreKind>(), Ok(kind));
            assert_eq!(kind.to_string(), kind.as_str());
        }
        assert!("paypal".parse::<StoreKind>().is_err());
    }
}
