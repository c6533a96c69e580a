//! The Stripe `Event` object, parsed lazily.
//!
//! Only the envelope is parsed (id, type, created, livemode, api_version, account, request) plus
//! the few fields of `data.object` that name the receipt. `data.object` itself is kept as raw
//! JSON: deserialize it into your own type with [`StripeEvent::object_as`] when you need it.

use std::fmt;
use std::time::SystemTime;

use bytes::Bytes;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use crate::event::EventKind;
use crate::hook::Receipt;
use crate::open_enum::open_enum;
use crate::store::{Disposition, Notification, StoreId};

open_enum! {
    /// A Stripe event type (<https://docs.stripe.com/api/events/types>). Open: types Stripe adds
    /// later parse as [`EventType::Unknown`].
    pub enum EventType {
        /// `checkout.session.completed`
        CheckoutSessionCompleted => "checkout.session.completed",
        /// `checkout.session.expired`
        CheckoutSessionExpired => "checkout.session.expired",
        /// `checkout.session.async_payment_succeeded`
        CheckoutSessionAsyncPaymentSucceeded => "checkout.session.async_payment_succeeded",
        /// `checkout.session.async_payment_failed`
        CheckoutSessionAsyncPaymentFailed => "checkout.session.async_payment_failed",
        /// `customer.created`
        CustomerCreated => "customer.created",
        /// `customer.updated`
        CustomerUpdated => "customer.updated",
        /// `customer.deleted`
        CustomerDeleted => "customer.deleted",
        /// `customer.subscription.created`
        CustomerSubscriptionCreated => "customer.subscription.created",
        /// `customer.subscription.updated`
        CustomerSubscriptionUpdated => "customer.subscription.updated",
        /// `customer.subscription.deleted`
        CustomerSubscriptionDeleted => "customer.subscription.deleted",
        /// `customer.subscription.paused`
        CustomerSubscriptionPaused => "customer.subscription.paused",
        /// `customer.subscription.resumed`
        CustomerSubscriptionResumed => "customer.subscription.resumed",
        /// `customer.subscription.trial_will_end`
        CustomerSubscriptionTrialWillEnd => "customer.subscription.trial_will_end",
        /// `customer.subscription.pending_update_applied`
        CustomerSubscriptionPendingUpdateApplied => "customer.subscription.pending_update_applied",
        /// `customer.subscription.pending_update_expired`
        CustomerSubscriptionPendingUpdateExpired => "customer.subscription.pending_update_expired",
        /// `invoice.created`
        InvoiceCreated => "invoice.created",
        /// `invoice.finalized`
        InvoiceFinalized => "invoice.finalized",
        /// `invoice.paid`
        InvoicePaid => "invoice.paid",
        /// `invoice.payment_succeeded`
        InvoicePaymentSucceeded => "invoice.payment_succeeded",
        /// `invoice.payment_failed`
        InvoicePaymentFailed => "invoice.payment_failed",
        /// `invoice.payment_action_required`
        InvoicePaymentActionRequired => "invoice.payment_action_required",
        /// `invoice.upcoming`
        InvoiceUpcoming => "invoice.upcoming",
        /// `invoice.voided`
        InvoiceVoided => "invoice.voided",
        /// `invoice.marked_uncollectible`
        InvoiceMarkedUncollectible => "invoice.marked_uncollectible",
        /// `charge.succeeded`
        ChargeSucceeded => "charge.succeeded",
        /// `charge.failed`
        ChargeFailed => "charge.failed",
        /// `charge.refunded`
        ChargeRefunded => "charge.refunded",
        /// `charge.dispute.created`
        ChargeDisputeCreated => "charge.dispute.created",
        /// `charge.dispute.closed`
        ChargeDisputeClosed => "charge.dispute.closed",
        /// `payment_intent.succeeded`
        PaymentIntentSucceeded => "payment_intent.succeeded",
        /// `payment_intent.payment_failed`
        PaymentIntentPaymentFailed => "payment_intent.payment_failed",
        /// `payment_intent.canceled`
        PaymentIntentCanceled => "payment_intent.canceled",
        /// `refund.created`
        RefundCreated => "refund.created",
        /// `refund.updated`
        RefundUpdated => "refund.updated",
        /// `entitlements.active_entitlement_summary.updated`
        EntitlementsActiveEntitlementSummaryUpdated => "entitlements.active_entitlement_summary.updated",
    }
}

/// What the receipt reference of an event names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReceiptKind {
    /// A subscription id (`sub_…`).
    Subscription,
    /// A customer id (`cus_…`), for events about no subscription.
    Customer,
}

impl ReceiptKind {
    /// `"subscription"` or `"customer"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReceiptKind::Subscription => "subscription",
            ReceiptKind::Customer => "customer",
        }
    }
}

/// A verified Stripe event.
#[derive(Clone)]
pub struct StripeEvent {
    wire: Wire,
    receipt: Option<(Receipt, ReceiptKind)>,
    signed_at: i64,
    body: Bytes,
}

impl StripeEvent {
    /// Parses an authenticated body; `signed_at` is the signature's `t`.
    pub(crate) fn parse(body: Bytes, signed_at: i64) -> Result<Self, serde_json::Error> {
        // One UTF-8 check of the whole body lets serde_json skip it for every string and key.
        let text = std::str::from_utf8(&body)
            .map_err(|_| <serde_json::Error as de::Error>::custom("the body is not UTF-8"))?;
        let wire: Wire = serde_json::from_str(text)?;
        if wire.object.as_deref().is_some_and(|o| o != "event") {
            return Err(de::Error::custom("the JSON object is not an event"));
        }
        let peek = &wire.data.object;
        let environment = if wire.livemode { "live" } else { "test" };
        let receipt = peek.receipt().map(|(reference, kind)| {
            let mut r = Receipt::new(StoreId::STRIPE, reference).with_environment(environment);
            if let Some(account) = &wire.account {
                r = r.with_app(account.clone());
            }
            (r, kind)
        });
        Ok(StripeEvent {
            receipt,
            wire,
            signed_at,
            body,
        })
    }

    /// The event id (`evt_…`), Stripe's idempotency key for redeliveries.
    pub fn id(&self) -> &str {
        &self.wire.id
    }

    /// The event type.
    pub fn event_type(&self) -> &EventType {
        &self.wire.event_type
    }

    /// When the event was created (Unix seconds).
    pub fn created(&self) -> i64 {
        self.wire.created
    }

    /// Whether it happened in live mode.
    pub fn livemode(&self) -> bool {
        self.wire.livemode
    }

    /// `"live"` or `"test"`.
    pub fn environment(&self) -> &'static str {
        if self.wire.livemode { "live" } else { "test" }
    }

    /// The API version the event was rendered with.
    pub fn api_version(&self) -> Option<&str> {
        self.wire.api_version.as_deref()
    }

    /// The connected account (Connect events).
    pub fn account(&self) -> Option<&str> {
        self.wire.account.as_deref()
    }

    /// The id of the API request that caused the event, if any.
    pub fn request_id(&self) -> Option<&str> {
        self.wire.request.as_ref().and_then(|r| r.0.as_deref())
    }

    /// `data.object` deserialized into your own type, on demand (the verifier only peeks at the
    /// fields it needs). `T` may borrow from the event: `object_as::<&RawValue>()` gives the
    /// object's exact JSON text, `object_as::<serde_json::Value>()` a tree.
    ///
    /// ```
    /// # use store_notifications::testing::StripeSigner;
    /// # use store_notifications::{Clock, StripeStore};
    /// # let signer = StripeSigner::new("whsec_x");
    /// # let body = signer.event("evt_1", "customer.subscription.updated", r#"{"object":"subscription","id":"sub_1","status":"active"}"#, 100);
    /// # let store = StripeStore::new("whsec_x").with_clock(Clock::from_unix(100));
    /// # let event = store.verify_at(&signer.headers(100, &body), &body, store.now()).unwrap().notification().unwrap();
    /// #[derive(serde::Deserialize)]
    /// struct Subscription<'a> {
    ///     status: &'a str,
    /// }
    /// assert_eq!(event.object_as::<Subscription>().unwrap().status, "active");
    /// let raw = event.object_as::<&serde_json::value::RawValue>().unwrap();
    /// assert!(raw.get().starts_with('{'));
    /// ```
    pub fn object_as<'a, T: Deserialize<'a>>(&'a self) -> Result<T, serde_json::Error> {
        serde_json::from_slice::<RawData<'a, T>>(&self.body).map(|d| d.data.object)
    }

    /// `data.previous_attributes` (on `*.updated` events) as raw JSON, on demand.
    pub fn previous_attributes(&self) -> Option<&RawValue> {
        serde_json::from_slice::<RawData<'_, IgnoredAny>>(&self.body)
            .ok()
            .and_then(|d| d.data.previous_attributes)
    }

    /// Whether the event has `data.previous_attributes`.
    pub fn has_previous_attributes(&self) -> bool {
        self.wire.data.previous_attributes.is_some()
    }

    /// `data.object.object`: the object's kind (`"subscription"`, `"invoice"`, …).
    pub fn object_type(&self) -> Option<&str> {
        self.wire.data.object.object.as_deref()
    }

    /// `data.object.id`.
    pub fn object_id(&self) -> Option<&str> {
        self.wire.data.object.id.as_deref()
    }

    /// The receipt: the subscription id, else the customer id (see the crate's receipt table).
    pub fn receipt(&self) -> Option<&Receipt> {
        self.receipt.as_ref().map(|(r, _)| r)
    }

    /// What [`receipt`](Self::receipt) names.
    pub fn receipt_kind(&self) -> Option<ReceiptKind> {
        self.receipt.as_ref().map(|(_, k)| *k)
    }

    /// The signature's timestamp `t` (Unix seconds).
    pub fn signed_at(&self) -> i64 {
        self.signed_at
    }

    /// The exact body received.
    pub fn raw_body(&self) -> &Bytes {
        &self.body
    }
}

impl StripeEvent {
    /// `cancel_at_period_end` turned from false to true: the customer cancelled.
    fn cancellation_requested(&self) -> bool {
        self.wire.data.object.cancel_at_period_end == Some(true)
            && self
                .wire
                .data
                .previous_attributes
                .as_ref()
                .is_some_and(|p| p.cancel_at_period_end == Some(false))
    }
}

impl fmt::Debug for StripeEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripeEvent")
            .field("id", &self.wire.id)
            .field("type", &self.wire.event_type)
            .field("created", &self.wire.created)
            .field("livemode", &self.wire.livemode)
            .field("receipt", &self.receipt())
            .finish_non_exhaustive()
    }
}

impl Notification for StripeEvent {
    fn store(&self) -> StoreId {
        StoreId::STRIPE
    }

    fn id(&self) -> &str {
        &self.wire.id
    }

    fn notification_type(&self) -> &str {
        self.wire.event_type.as_str()
    }

    fn disposition(&self) -> Disposition<'_> {
        match self.receipt() {
            Some(r) => Disposition::Receipt(r),
            None => Disposition::Unreferenced,
        }
    }

    fn event_kind(&self) -> EventKind {
        use EventType as T;
        match &self.wire.event_type {
            T::CustomerSubscriptionCreated | T::CheckoutSessionCompleted => EventKind::Purchase,
            T::InvoicePaid | T::InvoicePaymentSucceeded => {
                if self.wire.data.object.billing_reason.as_deref() == Some("subscription_create") {
                    EventKind::Purchase
                } else {
                    EventKind::Renewal
                }
            }
            T::CustomerSubscriptionDeleted => EventKind::Expiration,
            T::InvoicePaymentFailed | T::InvoicePaymentActionRequired => EventKind::BillingIssue,
            T::ChargeRefunded | T::RefundCreated => EventKind::Refund,
            T::CustomerSubscriptionUpdated if self.cancellation_requested() => {
                EventKind::Cancellation
            }
            _ => EventKind::Other,
        }
    }

    /// `created`; `None` when it is before 1970 or after 9999 (an authentic event is still
    /// delivered: the time is informational).
    fn occurred_at(&self) -> Option<SystemTime> {
        crate::clock::time_from_unix_seconds(self.wire.created)
    }
}

#[derive(Clone, Deserialize)]
struct Wire {
    id: String,
    object: Option<String>,
    #[serde(rename = "type")]
    event_type: EventType,
    created: i64,
    livemode: bool,
    api_version: Option<String>,
    account: Option<String>,
    request: Option<IdRef>,
    data: Data,
}

/// `data`, peeked in the same pass as the envelope: only the receipt-bearing fields of
/// `data.object` are kept, everything else is skipped without allocating.
#[derive(Clone, Deserialize)]
struct Data {
    object: ObjectPeek,
    previous_attributes: Option<PreviousPeek>,
}

/// `data.object` and `data.previous_attributes` borrowed from the body, on demand.
#[derive(Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
struct RawData<'a, T> {
    #[serde(borrow)]
    data: RawObject<'a, T>,
}

#[derive(Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
struct RawObject<'a, T> {
    object: T,
    #[serde(borrow)]
    previous_attributes: Option<&'a RawValue>,
}

/// The receipt-bearing fields of `data.object`.
#[derive(Clone, Deserialize)]
struct ObjectPeek {
    object: Option<String>,
    id: Option<String>,
    subscription: Option<IdRef>,
    customer: Option<IdRef>,
    parent: Option<Parent>,
    billing_reason: Option<String>,
    cancel_at_period_end: Option<bool>,
}

#[derive(Clone, Deserialize)]
struct PreviousPeek {
    cancel_at_period_end: Option<bool>,
}

#[derive(Clone, Deserialize)]
struct Parent {
    subscription_details: Option<SubscriptionDetails>,
}

#[derive(Clone, Deserialize)]
struct SubscriptionDetails {
    subscription: Option<IdRef>,
}

impl ObjectPeek {
    /// The receipt rule: a subscription's own id; an object's `subscription` (id or
    /// expanded); an invoice's `parent.subscription_details.subscription` (API 2025-03-31.basil
    /// and later); a customer's own id; an object's `customer`; else none.
    fn receipt(&self) -> Option<(String, ReceiptKind)> {
        let own_id = |kind: &str| {
            (self.object.as_deref() == Some(kind))
                .then(|| self.id.clone())
                .flatten()
        };
        let id_of = |r: &Option<IdRef>| r.as_ref().and_then(|r| r.0.clone());
        let sub = own_id("subscription")
            .or_else(|| id_of(&self.subscription))
            .or_else(|| {
                self.parent
                    .as_ref()
                    .and_then(|p| p.subscription_details.as_ref())
                    .and_then(|d| id_of(&d.subscription))
            });
        if let Some(id) = sub {
            return Some((id, ReceiptKind::Subscription));
        }
        own_id("customer")
            .or_else(|| id_of(&self.customer))
            .map(|id| (id, ReceiptKind::Customer))
    }
}

/// A Stripe reference: an id string, an expanded object (its `id`), or null.
#[derive(Clone)]
struct IdRef(Option<String>);

impl<'de> Deserialize<'de> for IdRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = IdRef;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an id string, an expanded object or null")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<IdRef, E> {
                Ok(IdRef(Some(v.to_owned())))
            }
            fn visit_unit<E: de::Error>(self) -> Result<IdRef, E> {
                Ok(IdRef(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<IdRef, E> {
                Ok(IdRef(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<IdRef, A::Error> {
                let mut id = None;
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    if key == "id" && id.is_none() {
                        id = map.next_value::<Option<String>>()?;
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(IdRef(id))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(object: &str) -> StripeEvent {
        let body = format!(
            r#"{{"id":"evt_1","object":"event","type":"invoice.paid","created":1,"livemode":false,"data":{{"object":{object}}}}}"#
        );
        StripeEvent::parse(Bytes::from(body), 1).expect("parse")
    }

    #[test]
    fn a_subscription_names_itself() {
        let e = event(r#"{"object":"subscription","id":"sub_1","customer":"cus_1"}"#);
        assert_eq!(e.receipt().map(|r| r.reference.as_str()), Some("sub_1"));
        assert_eq!(e.receipt_kind(), Some(ReceiptKind::Subscription));
    }

    #[test]
    fn basil_invoices_name_the_subscription_under_parent() {
        let e = event(
            r#"{"object":"invoice","id":"in_1","customer":"cus_1","parent":{"type":"subscription_details","subscription_details":{"subscription":"sub_2"}}}"#,
        );
        assert_eq!(e.receipt().map(|r| r.reference.as_str()), Some("sub_2"));
    }

    #[test]
    fn expanded_references_use_their_id() {
        let e = event(
            r#"{"object":"invoice","id":"in_1","subscription":{"id":"sub_3","object":"subscription","items":{"data":[{"id":"x"}]}}}"#,
        );
        assert_eq!(e.receipt().map(|r| r.reference.as_str()), Some("sub_3"));
        let e = event(
            r#"{"object":"charge","id":"ch_1","customer":{"object":"customer","id":"cus_9"}}"#,
        );
        assert_eq!(e.receipt().map(|r| r.reference.as_str()), Some("cus_9"));
        assert_eq!(e.receipt_kind(), Some(ReceiptKind::Customer));
    }

    #[test]
    fn null_subscription_falls_back_to_the_customer() {
        let e = event(r#"{"object":"invoice","id":"in_1","subscription":null,"customer":"cus_4"}"#);
        assert_eq!(e.receipt().map(|r| r.reference.as_str()), Some("cus_4"));
    }

    #[test]
    fn events_about_neither_have_no_receipt_and_skip_the_hook() {
        let e = event(r#"{"object":"balance","available":[]}"#);
        assert!(e.receipt().is_none());
        assert_eq!(e.disposition(), Disposition::Unreferenced);
    }

    #[test]
    fn stripe_types_map_onto_the_normalised_kinds() {
        let kind = |t: &str, object: &str, previous: &str| {
            let body = format!(
                r#"{{"id":"evt_1","type":"{t}","created":1,"livemode":false,"data":{{"object":{object}{previous}}}}}"#
            );
            StripeEvent::parse(Bytes::from(body), 1)
                .expect("parse")
                .event_kind()
        };
        let sub = r#"{"object":"subscription","id":"sub_1","cancel_at_period_end":true}"#;
        let inv = |reason: &str| {
            format!(
                r#"{{"object":"invoice","id":"in_1","subscription":"sub_1","billing_reason":"{reason}"}}"#
            )
        };
        assert_eq!(
            kind("customer.subscription.created", sub, ""),
            EventKind::Purchase
        );
        assert_eq!(
            kind("invoice.paid", &inv("subscription_create"), ""),
            EventKind::Purchase
        );
        assert_eq!(
            kind("invoice.paid", &inv("subscription_cycle"), ""),
            EventKind::Renewal
        );
        assert_eq!(
            kind("invoice.payment_failed", &inv("subscription_cycle"), ""),
            EventKind::BillingIssue
        );
        assert_eq!(
            kind("customer.subscription.deleted", sub, ""),
            EventKind::Expiration
        );
        assert_eq!(
            kind(
                "charge.refunded",
                r#"{"object":"charge","customer":"cus_1"}"#,
                ""
            ),
            EventKind::Refund
        );
        let prev = r#","previous_attributes":{"cancel_at_period_end":false}"#;
        assert_eq!(
            kind("customer.subscription.updated", sub, prev),
            EventKind::Cancellation
        );
        assert_eq!(
            kind("customer.subscription.updated", sub, ""),
            EventKind::Other
        );
        assert_eq!(kind("foo.bar", sub, ""), EventKind::Other);
    }

    #[test]
    fn unknown_types_parse() {
        let body =
            r#"{"id":"evt_1","type":"x.y.z","created":1,"livemode":true,"data":{"object":{}}}"#;
        let e = StripeEvent::parse(Bytes::from_static(body.as_bytes()), 1).expect("parse");
        assert_eq!(e.event_type(), &EventType::Unknown("x.y.z".into()));
        assert_eq!(e.environment(), "live");
    }

    #[test]
    fn objects_that_are_not_events_are_refused() {
        for body in [
            r#"{"id":"cus_1","object":"customer"}"#,
            "[]",
            "",
            "nope",
            r#"{"id":"evt","object":"customer","type":"a","created":1,"livemode":false,"data":{"object":{}}}"#,
        ] {
            assert!(StripeEvent::parse(Bytes::from(body), 1).is_err(), "{body}");
        }
    }

    #[test]
    fn object_as_deserializes_the_raw_object() {
        #[derive(Deserialize)]
        struct Sub<'a> {
            status: &'a str,
        }
        let e = event(r#"{"object":"subscription","id":"sub_1","status":"active"}"#);
        assert_eq!(e.object_as::<Sub>().expect("typed").status, "active");
    }
}
