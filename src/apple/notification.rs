//! The verified notification: the decoded payload, its nested transaction and renewal info, and
//! what it tells the pipeline.

use std::time::SystemTime;

use super::mapping;
use super::payload::{
    Environment, JWSRenewalInfoDecodedPayload, JWSTransactionDecodedPayload, NotificationType,
    ResponseBodyV2DecodedPayload, Subtype,
};
use super::shape::{AppBinding, PayloadShape};
use crate::event::EventKind;
use crate::hook::Receipt;
use crate::store::{Disposition, Notification, StoreId};

/// A verified App Store Server Notification V2.
#[derive(Debug, Clone)]
pub struct AppleNotification {
    payload: ResponseBodyV2DecodedPayload,
    transaction: Option<JWSTransactionDecodedPayload>,
    renewal_info: Option<JWSRenewalInfoDecodedPayload>,
    receipt: Option<Receipt>,
}

impl AppleNotification {
    pub(super) fn new(
        payload: ResponseBodyV2DecodedPayload,
        transaction: Option<JWSTransactionDecodedPayload>,
        renewal_info: Option<JWSRenewalInfoDecodedPayload>,
    ) -> Self {
        let receipt = mapping::receipt(&payload, transaction.as_ref(), renewal_info.as_ref());
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

    /// `notificationType`, typed (the [`Notification::notification_type`] is its name).
    pub fn typed_notification_type(&self) -> &NotificationType {
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
        AppBinding::of(&self.payload).map(|b| b.shape)
    }

    /// The environment the notification is from (after the app binding, the configured one).
    pub fn environment(&self) -> Option<Environment> {
        AppBinding::of(&self.payload).and_then(|b| b.environment)
    }

    /// The bundle id the notification is for.
    pub fn bundle_id(&self) -> Option<&str> {
        AppBinding::of(&self.payload).and_then(|b| b.bundle_id)
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
        mapping::event_kind(
            &self.payload.notification_type,
            self.payload.subtype.as_ref(),
        )
    }

    fn occurred_at(&self) -> Option<SystemTime> {
        crate::clock::time_from_unix_millis(self.payload.signed_date?)
    }
}
