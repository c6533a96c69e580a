//! The decoded payloads of App Store Server Notifications V2, as Apple documents them.
//!
//! Field names follow Apple's JSON (`signedTransactionInfo` → `signed_transaction_info`), dates
//! are Unix milliseconds as sent, and every string-valued enumeration is open: a value Apple adds
//! later parses as `Unknown(..)` and keeps its wire string. Unknown fields are ignored.
//! Integer-valued enumerations (`status`, `offerType`, `expirationIntent`, …) are kept as the
//! integers Apple sends, so a new value never fails to parse.
//!
//! References:
//! <https://developer.apple.com/documentation/appstoreservernotifications/responsebodyv2decodedpayload>,
//! <https://developer.apple.com/documentation/appstoreservernotifications/jwstransactiondecodedpayload>,
//! <https://developer.apple.com/documentation/appstoreservernotifications/jwsrenewalinfodecodedpayload>.

use serde::{Deserialize, Serialize};

use crate::open_enum::open_enum;

open_enum! {
    /// `notificationType`: what happened
    /// (<https://developer.apple.com/documentation/appstoreservernotifications/notificationtype>).
    pub enum NotificationType {
        /// The customer subscribed (see the subtype: `INITIAL_BUY` or `RESUBSCRIBE`).
        Subscribed => "SUBSCRIBED",
        /// The customer changed the subscription plan (upgrade, downgrade, or a reverted downgrade).
        DidChangeRenewalPref => "DID_CHANGE_RENEWAL_PREF",
        /// Auto-renew was turned on or off.
        DidChangeRenewalStatus => "DID_CHANGE_RENEWAL_STATUS",
        /// An offer or offer code was redeemed.
        OfferRedeemed => "OFFER_REDEEMED",
        /// The subscription renewed.
        DidRenew => "DID_RENEW",
        /// The subscription expired.
        Expired => "EXPIRED",
        /// The renewal failed because of a billing issue.
        DidFailToRenew => "DID_FAIL_TO_RENEW",
        /// The billing grace period ended without a successful renewal.
        GracePeriodExpired => "GRACE_PERIOD_EXPIRED",
        /// A price increase needs (or got) the customer's consent.
        PriceIncrease => "PRICE_INCREASE",
        /// Apple refunded a transaction.
        Refund => "REFUND",
        /// Apple declined a refund request.
        RefundDeclined => "REFUND_DECLINED",
        /// Apple asks for consumption data for a refund request.
        ConsumptionRequest => "CONSUMPTION_REQUEST",
        /// The renewal date of one subscription was extended.
        RenewalExtended => "RENEWAL_EXTENDED",
        /// Family Sharing access was revoked.
        Revoke => "REVOKE",
        /// A test notification requested through the App Store Server API.
        Test => "TEST",
        /// A mass renewal-date extension made progress (see `summary`) or failed for one subscription.
        RenewalExtension => "RENEWAL_EXTENSION",
        /// Apple reversed a previous refund.
        RefundReversed => "REFUND_REVERSED",
        /// An external purchase token was created but not reported.
        ExternalPurchaseToken => "EXTERNAL_PURCHASE_TOKEN",
        /// A one-time (consumable, non-consumable, non-renewing) purchase.
        OneTimeCharge => "ONE_TIME_CHARGE",
        /// A customer rescinded consent for the app's data access (see `appData`).
        RescindConsent => "RESCIND_CONSENT",
        /// Subscription metadata changed.
        MetadataUpdate => "METADATA_UPDATE",
        /// A subscription was migrated.
        Migration => "MIGRATION",
        /// A subscription price changed.
        PriceChange => "PRICE_CHANGE",
    }
}

open_enum! {
    /// `subtype`: details of the notification type
    /// (<https://developer.apple.com/documentation/appstoreservernotifications/subtype>).
    pub enum Subtype {
        /// First purchase of the subscription group.
        InitialBuy => "INITIAL_BUY",
        /// Resubscribed after expiry.
        Resubscribe => "RESUBSCRIBE",
        /// Downgrade, effective at the next renewal.
        Downgrade => "DOWNGRADE",
        /// Upgrade, effective immediately.
        Upgrade => "UPGRADE",
        /// Auto-renew turned on.
        AutoRenewEnabled => "AUTO_RENEW_ENABLED",
        /// Auto-renew turned off.
        AutoRenewDisabled => "AUTO_RENEW_DISABLED",
        /// Expired after the customer turned off auto-renew.
        Voluntary => "VOLUNTARY",
        /// Expired after the billing retry period.
        BillingRetry => "BILLING_RETRY",
        /// Expired because the customer did not consent to a price increase.
        PriceIncrease => "PRICE_INCREASE",
        /// The renewal failed, the billing grace period started.
        GracePeriod => "GRACE_PERIOD",
        /// Price increase awaiting consent.
        Pending => "PENDING",
        /// Price increase accepted.
        Accepted => "ACCEPTED",
        /// Renewed after a billing retry.
        BillingRecovery => "BILLING_RECOVERY",
        /// Expired because the product was not for sale at renewal.
        ProductNotForSale => "PRODUCT_NOT_FOR_SALE",
        /// A mass renewal extension finished (see `summary`).
        Summary => "SUMMARY",
        /// A renewal extension failed for one subscription.
        Failure => "FAILURE",
        /// An external purchase token was not reported.
        Unreported => "UNREPORTED",
    }
}

open_enum! {
    /// The server environment
    /// (<https://developer.apple.com/documentation/appstoreservernotifications/environment>).
    pub enum Environment {
        /// The App Store.
        Production => "Production",
        /// The sandbox.
        Sandbox => "Sandbox",
        /// StoreKit testing in Xcode.
        Xcode => "Xcode",
        /// Local StoreKit testing.
        LocalTesting => "LocalTesting",
    }
}

open_enum! {
    /// `consumptionRequestReason`: why the customer asked for a refund.
    pub enum ConsumptionRequestReason {
        /// The customer didn't intend to buy.
        UnintendedPurchase => "UNINTENDED_PURCHASE",
        /// The purchase was not delivered.
        FulfillmentIssue => "FULFILLMENT_ISSUE",
        /// The customer was not satisfied.
        UnsatisfiedWithPurchase => "UNSATISFIED_WITH_PURCHASE",
        /// A legal reason.
        Legal => "LEGAL",
        /// Another reason.
        Other => "OTHER",
    }
}

open_enum! {
    /// `type` of a transaction: the kind of in-app purchase.
    pub enum TransactionType {
        /// An auto-renewable subscription.
        AutoRenewableSubscription => "Auto-Renewable Subscription",
        /// A non-consumable purchase.
        NonConsumable => "Non-Consumable",
        /// A consumable purchase.
        Consumable => "Consumable",
        /// A non-renewing subscription.
        NonRenewingSubscription => "Non-Renewing Subscription",
    }
}

open_enum! {
    /// `inAppOwnershipType`: whether the customer bought it or has it through Family Sharing.
    pub enum InAppOwnershipType {
        /// Shared by a family member.
        FamilyShared => "FAMILY_SHARED",
        /// Bought by the customer.
        Purchased => "PURCHASED",
    }
}

open_enum! {
    /// `transactionReason`: a purchase by the customer or an automatic renewal.
    pub enum TransactionReason {
        /// The customer bought it.
        Purchase => "PURCHASE",
        /// An automatic renewal.
        Renewal => "RENEWAL",
    }
}

open_enum! {
    /// `offerDiscountType`: the payment mode of an offer.
    pub enum OfferDiscountType {
        /// A free trial.
        FreeTrial => "FREE_TRIAL",
        /// Pay as you go.
        PayAsYouGo => "PAY_AS_YOU_GO",
        /// Pay up front.
        PayUpFront => "PAY_UP_FRONT",
        /// A one-time offer.
        OneTime => "ONE_TIME",
    }
}

open_enum! {
    /// `revocationType`: how a refund or revocation applies.
    pub enum RevocationType {
        /// A full refund.
        RefundFull => "REFUND_FULL",
        /// A prorated refund.
        RefundProrated => "REFUND_PRORATED",
        /// Family Sharing access was revoked.
        FamilyRevoke => "FAMILY_REVOKE",
    }
}

/// The decoded `signedPayload` of a notification (`ResponseBodyV2DecodedPayload`).
///
/// Apple sends exactly one of [`data`](Self::data), [`summary`](Self::summary),
/// [`external_purchase_token`](Self::external_purchase_token) and [`app_data`](Self::app_data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ResponseBodyV2DecodedPayload {
    /// What happened.
    pub notification_type: NotificationType,
    /// Details of what happened, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtype: Option<Subtype>,
    /// The notification's unique id: redeliveries carry the same one (idempotency key).
    #[serde(rename = "notificationUUID")]
    pub notification_uuid: String,
    /// The App Store Server Notification version (`"2.0"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// When Apple signed the notification (Unix milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_date: Option<i64>,
    /// The app, environment and transaction the notification is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Data>,
    /// The summary of a mass renewal-date extension.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<Summary>,
    /// An external purchase token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_purchase_token: Option<ExternalPurchaseToken>,
    /// App-level data (consent changes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_data: Option<AppData>,
}

/// `data`: the app, environment and signed transaction and renewal information.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Data {
    /// The app's Apple ID (absent in the sandbox).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_apple_id: Option<i64>,
    /// The app's bundle id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle_id: Option<String>,
    /// The app's build version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle_version: Option<String>,
    /// The server environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
    /// The transaction, as a JWS (decoded into [`JWSTransactionDecodedPayload`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_transaction_info: Option<String>,
    /// The subscription renewal information, as a JWS (decoded into
    /// [`JWSRenewalInfoDecodedPayload`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_renewal_info: Option<String>,
    /// The auto-renewable subscription status (1 active, 2 expired, 3 billing retry, 4 grace
    /// period, 5 revoked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<i32>,
    /// Why the customer asked for a refund (`CONSUMPTION_REQUEST`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumption_request_reason: Option<ConsumptionRequestReason>,
}

/// `summary`: the progress of a mass renewal-date extension (`RENEWAL_EXTENSION`/`SUMMARY`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Summary {
    /// The id of the extension request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_identifier: Option<String>,
    /// The server environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
    /// The app's Apple ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_apple_id: Option<i64>,
    /// The app's bundle id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle_id: Option<String>,
    /// The subscription product extended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<String>,
    /// The storefronts the extension applies to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storefront_country_codes: Option<Vec<String>>,
    /// How many subscriptions failed to extend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_count: Option<i64>,
    /// How many subscriptions were extended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub succeeded_count: Option<i64>,
}

/// `externalPurchaseToken` (`EXTERNAL_PURCHASE_TOKEN`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ExternalPurchaseToken {
    /// The token's id; sandbox ids start with `SANDBOX`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_purchase_id: Option<String>,
    /// When the token was created (Unix milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_creation_date: Option<i64>,
    /// The app's Apple ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_apple_id: Option<i64>,
    /// The app's bundle id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle_id: Option<String>,
}

impl ExternalPurchaseToken {
    /// The environment, as Apple's libraries derive it: `Sandbox` when the id starts with
    /// `SANDBOX`, else `Production`.
    pub fn environment(&self) -> Environment {
        if self
            .external_purchase_id
            .as_deref()
            .is_some_and(|id| id.starts_with("SANDBOX"))
        {
            Environment::Sandbox
        } else {
            Environment::Production
        }
    }
}

/// `appData` (`RESCIND_CONSENT`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct AppData {
    /// The app's Apple ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_apple_id: Option<i64>,
    /// The app's bundle id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle_id: Option<String>,
    /// The server environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
    /// The app transaction, as a JWS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_app_transaction_info: Option<String>,
}

/// A decoded `signedTransactionInfo` (`JWSTransactionDecodedPayload`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct JWSTransactionDecodedPayload {
    /// The original purchase's transaction id: the receipt reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_transaction_id: Option<String>,
    /// This transaction's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    /// The id of subscription purchase events across devices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_order_line_item_id: Option<String>,
    /// The app's bundle id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle_id: Option<String>,
    /// The product id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<String>,
    /// The subscription group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_group_identifier: Option<String>,
    /// When it was bought or renewed (Unix milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purchase_date: Option<i64>,
    /// When the original transaction was bought (Unix milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_purchase_date: Option<i64>,
    /// When the subscription expires or renews (Unix milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_date: Option<i64>,
    /// How many were bought.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<i64>,
    /// The kind of in-app purchase (wire name `type`).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub transaction_type: Option<TransactionType>,
    /// The UUID the app attached to the purchase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_account_token: Option<String>,
    /// Bought or family-shared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_app_ownership_type: Option<InAppOwnershipType>,
    /// When Apple signed this (Unix milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_date: Option<i64>,
    /// Why it was refunded (0 other, 1 an app issue).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_reason: Option<i32>,
    /// When it was refunded or revoked (Unix milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_date: Option<i64>,
    /// Whether the customer upgraded to another subscription.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_upgraded: Option<bool>,
    /// The offer type (1 introductory, 2 promotional, 3 offer code, 4 win-back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer_type: Option<i32>,
    /// The offer id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer_identifier: Option<String>,
    /// The server environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
    /// The storefront's three-letter country code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storefront: Option<String>,
    /// Apple's storefront id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storefront_id: Option<String>,
    /// A purchase or a renewal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_reason: Option<TransactionReason>,
    /// The ISO 4217 currency of `price`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// The price in milli-units of the currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<i64>,
    /// The payment mode of the offer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer_discount_type: Option<OfferDiscountType>,
    /// The app transaction's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_transaction_id: Option<String>,
    /// The offer's duration (ISO 8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer_period: Option<String>,
    /// How a refund or revocation applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_type: Option<RevocationType>,
    /// The refunded share, in thousandths of a percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_percentage: Option<i64>,
}

/// A decoded `signedRenewalInfo` (`JWSRenewalInfoDecodedPayload`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct JWSRenewalInfoDecodedPayload {
    /// Why the subscription expired (1 cancelled, 2 billing error, 3 price increase refused,
    /// 4 product unavailable, 5 other).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_intent: Option<i32>,
    /// The original purchase's transaction id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_transaction_id: Option<String>,
    /// The product that renews next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_renew_product_id: Option<String>,
    /// The current product.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<String>,
    /// Whether auto-renew is on (1) or off (0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_renew_status: Option<i32>,
    /// Whether Apple is retrying the payment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_in_billing_retry_period: Option<bool>,
    /// The price-increase consent status (0 not yet, 1 consented or not needed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_increase_status: Option<i32>,
    /// When the billing grace period ends (Unix milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_period_expires_date: Option<i64>,
    /// The offer type of the next renewal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer_type: Option<i32>,
    /// The offer id of the next renewal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer_identifier: Option<String>,
    /// When Apple signed this (Unix milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_date: Option<i64>,
    /// The server environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
    /// The start of the current run of continuous subscription (Unix milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recent_subscription_start_date: Option<i64>,
    /// When the subscription renews next (Unix milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewal_date: Option<i64>,
    /// The ISO 4217 currency of `renewal_price`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// The renewal price in milli-units of the currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewal_price: Option<i64>,
    /// The payment mode of the next renewal's offer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer_discount_type: Option<OfferDiscountType>,
    /// Win-back offers the customer is eligible for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eligible_win_back_offer_ids: Option<Vec<String>>,
    /// The UUID the app attached to the purchase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_account_token: Option<String>,
    /// The app transaction's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_transaction_id: Option<String>,
    /// The offer's duration (ISO 8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer_period: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_23_notification_types_and_17_subtypes_are_known() {
        let types = [
            "SUBSCRIBED",
            "DID_CHANGE_RENEWAL_PREF",
            "DID_CHANGE_RENEWAL_STATUS",
            "OFFER_REDEEMED",
            "DID_RENEW",
            "EXPIRED",
            "DID_FAIL_TO_RENEW",
            "GRACE_PERIOD_EXPIRED",
            "PRICE_INCREASE",
            "REFUND",
            "REFUND_DECLINED",
            "CONSUMPTION_REQUEST",
            "RENEWAL_EXTENDED",
            "REVOKE",
            "TEST",
            "RENEWAL_EXTENSION",
            "REFUND_REVERSED",
            "EXTERNAL_PURCHASE_TOKEN",
            "ONE_TIME_CHARGE",
            "RESCIND_CONSENT",
            "METADATA_UPDATE",
            "MIGRATION",
            "PRICE_CHANGE",
        ];
        assert_eq!(types.len(), 23);
        for t in types {
            let parsed = NotificationType::from(t);
            assert!(!parsed.is_unknown(), "{t}");
            assert_eq!(parsed.as_str(), t);
        }
        let subtypes = [
            "INITIAL_BUY",
            "RESUBSCRIBE",
            "DOWNGRADE",
            "UPGRADE",
            "AUTO_RENEW_ENABLED",
            "AUTO_RENEW_DISABLED",
            "VOLUNTARY",
            "BILLING_RETRY",
            "PRICE_INCREASE",
            "GRACE_PERIOD",
            "PENDING",
            "ACCEPTED",
            "BILLING_RECOVERY",
            "PRODUCT_NOT_FOR_SALE",
            "SUMMARY",
            "FAILURE",
            "UNREPORTED",
        ];
        assert_eq!(subtypes.len(), 17);
        for s in subtypes {
            assert!(!Subtype::from(s).is_unknown(), "{s}");
        }
    }

    #[test]
    fn a_new_notification_type_parses_and_keeps_its_wire_string() {
        let p: ResponseBodyV2DecodedPayload = serde_json::from_str(
            r#"{"notificationType":"FUTURE_THING","subtype":"NEW_SUB","notificationUUID":"u","extra":{"a":1}}"#,
        )
        .expect("parse");
        assert_eq!(p.notification_type.as_str(), "FUTURE_THING");
        assert!(p.notification_type.is_unknown());
        assert_eq!(p.subtype.map(|s| s.to_string()).as_deref(), Some("NEW_SUB"));
    }

    #[test]
    fn external_purchase_token_environment_follows_the_sandbox_prefix() {
        let token = |id: &str| ExternalPurchaseToken {
            external_purchase_id: Some(id.into()),
            token_creation_date: None,
            app_apple_id: None,
            bundle_id: None,
        };
        assert_eq!(token("SANDBOX_abc").environment(), Environment::Sandbox);
        assert_eq!(token("abc").environment(), Environment::Production);
    }

    #[test]
    fn transaction_type_uses_the_wire_name_type() {
        let t: JWSTransactionDecodedPayload =
            serde_json::from_str(r#"{"type":"Consumable","price":990}"#).expect("parse");
        assert_eq!(t.transaction_type, Some(TransactionType::Consumable));
        assert_eq!(t.price, Some(990));
    }
}
