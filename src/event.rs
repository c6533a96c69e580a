//! A normalised, cross-store view of what happened, for hosts that don't want four
//! vocabularies.
//!
//! Each store maps its own types onto [`EventKind`] (the tables live next to each store's types
//! and are tested there); [`Event::of`] assembles the rest from the [`Notification`].
//! [`webhook`] turns an event into a signed Standard Webhooks message, to forward it.

pub mod webhook;

use std::fmt;
use std::time::SystemTime;

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

use crate::clock::rfc3339;
use crate::store::{Disposition, Notification, StoreId};

/// What happened, across stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// A new purchase or subscription.
    Purchase,
    /// A subscription renewed (or a renewal was paid).
    Renewal,
    /// The user cancelled (turned off auto-renew, or asked to cancel).
    Cancellation,
    /// A subscription ended.
    Expiration,
    /// A payment failed; the subscription may be in grace or on hold.
    BillingIssue,
    /// Money was given back (refund, voided purchase, revoked access).
    Refund,
    /// The user moved to another product or plan.
    ProductChange,
    /// A test notification from the store's console.
    Test,
    /// Anything else.
    Other,
}

impl EventKind {
    /// The snake-case name (`"billing_issue"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Purchase => "purchase",
            EventKind::Renewal => "renewal",
            EventKind::Cancellation => "cancellation",
            EventKind::Expiration => "expiration",
            EventKind::BillingIssue => "billing_issue",
            EventKind::Refund => "refund",
            EventKind::ProductChange => "product_change",
            EventKind::Test => "test",
            EventKind::Other => "other",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A normalised event.
///
/// `Debug` redacts a sensitive receipt reference (see [`Receipt::sensitive`]); the serialised
/// form carries it whole, for the backend it is meant for.
///
/// [`Receipt::sensitive`]: crate::Receipt::sensitive
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Event {
    /// The store.
    pub store: StoreId,
    /// What happened.
    pub kind: EventKind,
    /// The store's idempotency id.
    pub id: String,
    /// The store's own type name.
    pub notification_type: String,
    /// The receipt reference, if any.
    pub receipt: Option<String>,
    /// Whether the receipt reference is a credential (a Google purchase token): show it only
    /// through [`hook::redact`](crate::hook::redact).
    pub receipt_sensitive: bool,
    /// The product, if known.
    pub product: Option<String>,
    /// The environment, if known.
    pub environment: Option<String>,
    /// When it happened according to the store, if it says.
    pub occurred_at: Option<SystemTime>,
    /// Whether it is a test notification.
    pub test: bool,
}

impl Event {
    /// The normalised view of a verified notification.
    pub fn of<N: Notification>(n: &N) -> Event {
        let (receipt, test) = match n.disposition() {
            Disposition::Receipt(r) => (Some(r), false),
            Disposition::Test => (None, true),
            _ => (None, false),
        };
        Event {
            store: n.store(),
            kind: if test {
                EventKind::Test
            } else {
                n.event_kind()
            },
            id: n.id().to_owned(),
            notification_type: n.notification_type().to_owned(),
            receipt: receipt.map(|r| r.reference.clone()),
            receipt_sensitive: receipt.is_some_and(|r| r.is_sensitive()),
            product: receipt.and_then(|r| r.product.clone()),
            environment: receipt.and_then(|r| r.environment.clone()),
            occurred_at: n.occurred_at(),
            test,
        }
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let receipt = match &self.receipt {
            Some(r) if self.receipt_sensitive => Some(crate::hook::redact(r)),
            other => other.clone(),
        };
        f.debug_struct("Event")
            .field("store", &self.store)
            .field("kind", &self.kind)
            .field("id", &self.id)
            .field("notification_type", &self.notification_type)
            .field("receipt", &receipt)
            .field("product", &self.product)
            .field("environment", &self.environment)
            .field("occurred_at", &self.occurred_at)
            .field("test", &self.test)
            .finish()
    }
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Event", 9)?;
        st.serialize_field("store", &self.store)?;
        st.serialize_field("kind", &self.kind)?;
        st.serialize_field("id", &self.id)?;
        st.serialize_field("type", &self.notification_type)?;
        st.serialize_field("receipt", &self.receipt)?;
        st.serialize_field("product", &self.product)?;
        st.serialize_field("environment", &self.environment)?;
        st.serialize_field("occurred_at", &self.occurred_at.map(rfc3339))?;
        st.serialize_field("test", &self.test)?;
        st.end()
    }
}
