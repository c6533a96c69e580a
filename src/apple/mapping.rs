//! Apple's vocabulary in the cross-store one: the receipt a notification is about and its
//! [`EventKind`].

use super::payload::{
    JWSRenewalInfoDecodedPayload, JWSTransactionDecodedPayload, NotificationType,
    ResponseBodyV2DecodedPayload, Subtype,
};
use crate::event::EventKind;
use crate::hook::Receipt;
use crate::store::StoreId;

/// The receipt: the transaction's `originalTransactionId`, else the renewal info's, with its
/// product and (from `data`) app and environment; `None` without either.
pub(super) fn receipt(
    payload: &ResponseBodyV2DecodedPayload,
    transaction: Option<&JWSTransactionDecodedPayload>,
    renewal_info: Option<&JWSRenewalInfoDecodedPayload>,
) -> Option<Receipt> {
    let reference = transaction
        .and_then(|t| t.original_transaction_id.clone())
        .or_else(|| renewal_info.and_then(|r| r.original_transaction_id.clone()))?;
    let mut receipt = Receipt::new(StoreId::APPLE, reference);
    let product = transaction
        .and_then(|t| t.product_id.clone())
        .or_else(|| renewal_info.and_then(|r| r.product_id.clone()));
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
    Some(receipt)
}

/// Apple's notification types in the cross-store vocabulary
/// (<https://developer.apple.com/documentation/appstoreservernotifications/notificationtype>).
pub(super) fn event_kind(
    notification_type: &NotificationType,
    subtype: Option<&Subtype>,
) -> EventKind {
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
}
