//! Amazon's vocabulary in the cross-store one: the receipt an RTN is about and its
//! [`EventKind`].

use super::rtn::{RtnMessage, RtnNotificationType};
use crate::event::EventKind;
use crate::hook::Receipt;
use crate::store::StoreId;

/// The receipt: `receiptId`, with `appPackageName` as the app and `sku` (if sent) as the
/// product; environment `production`, or `live_app_test` for beta transactions.
pub(super) fn receipt(message: &RtnMessage) -> Receipt {
    let mut receipt = Receipt::new(StoreId::AMAZON, message.receipt_id.clone())
        .with_app(message.app_package_name.clone())
        .with_environment(if message.is_beta() {
            "live_app_test"
        } else {
            "production"
        });
    if let Some(sku) = &message.sku {
        receipt = receipt.with_product(sku.clone());
    }
    receipt
}

impl RtnNotificationType {
    /// The cross-store kind.
    ///
    /// Cancelled one-time purchases are [`Refund`](EventKind::Refund)s (the purchase was
    /// voided); a cancelled, auto-renew-off or scheduled-to-end subscription is a
    /// [`Cancellation`](EventKind::Cancellation); a plan change either way is a
    /// [`ProductChange`](EventKind::ProductChange); the end of a grace period (which may be a
    /// recovery) and auto-renew back on are [`Other`](EventKind::Other).
    pub fn event_kind(&self) -> EventKind {
        use RtnNotificationType as T;
        match self {
            T::ConsumablePurchased | T::EntitlementPurchased | T::SubscriptionPurchased => {
                EventKind::Purchase
            }
            T::SubscriptionRenewed | T::SubscriptionConvertedFreeTrialToPaid => EventKind::Renewal,
            T::ConsumableCancelled | T::EntitlementCancelled => EventKind::Refund,
            T::SubscriptionCancelled
            | T::SubscriptionAutoRenewalOff
            | T::SubscriptionScheduledToEnd => EventKind::Cancellation,
            T::SubscriptionExpired => EventKind::Expiration,
            T::SubscriptionInGracePeriod => EventKind::BillingIssue,
            T::SubscriptionModifiedImmediate | T::SubscriptionModifiedDeferred => {
                EventKind::ProductChange
            }
            T::SubscriptionOutOfGracePeriod | T::SubscriptionAutoRenewalOn | T::Unknown(_) => {
                EventKind::Other
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_kind_table() {
        use RtnNotificationType as T;
        let table = [
            (T::ConsumablePurchased, EventKind::Purchase),
            (T::EntitlementPurchased, EventKind::Purchase),
            (T::SubscriptionPurchased, EventKind::Purchase),
            (T::SubscriptionRenewed, EventKind::Renewal),
            (T::SubscriptionConvertedFreeTrialToPaid, EventKind::Renewal),
            (T::ConsumableCancelled, EventKind::Refund),
            (T::EntitlementCancelled, EventKind::Refund),
            (T::SubscriptionCancelled, EventKind::Cancellation),
            (T::SubscriptionAutoRenewalOff, EventKind::Cancellation),
            (T::SubscriptionScheduledToEnd, EventKind::Cancellation),
            (T::SubscriptionExpired, EventKind::Expiration),
            (T::SubscriptionInGracePeriod, EventKind::BillingIssue),
            (T::SubscriptionOutOfGracePeriod, EventKind::Other),
            (T::SubscriptionAutoRenewalOn, EventKind::Other),
            (T::SubscriptionModifiedImmediate, EventKind::ProductChange),
            (T::SubscriptionModifiedDeferred, EventKind::ProductChange),
            (T::Unknown("NEW".into()), EventKind::Other),
        ];
        assert_eq!(table.len(), 17, "16 documented types + Unknown");
        for (t, kind) in table {
            assert_eq!(t.event_kind(), kind, "{t}");
        }
    }
}
