//! The Amazon Appstore Real-Time Notification (RTN): the JSON inside the SNS `Message`.
//!
//! Fields from Amazon's "Understanding Real-Time Notifications" and "Real-Time Notifications
//! Examples" (<https://developer.amazon.com/docs/in-app-purchasing/real-time-notifications.html>).
//! `appPackageName`, `notificationType` and `receiptId` are required strings; everything else is
//! optional, and unknown fields are ignored so a new field never becomes a rejection.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::open_enum::open_enum;

open_enum! {
    /// RTN `notificationType`: every type Amazon documents, plus `Unknown` for new ones.
    pub enum RtnNotificationType {
        /// A consumable was bought.
        ConsumablePurchased => "CONSUMABLE_PURCHASED",
        /// A consumable purchase was cancelled (refunded or voided).
        ConsumableCancelled => "CONSUMABLE_CANCELLED",
        /// An entitlement was bought.
        EntitlementPurchased => "ENTITLEMENT_PURCHASED",
        /// An entitlement purchase was cancelled (refunded or voided).
        EntitlementCancelled => "ENTITLEMENT_CANCELLED",
        /// A subscription was bought.
        SubscriptionPurchased => "SUBSCRIPTION_PURCHASED",
        /// A subscription renewed.
        SubscriptionRenewed => "SUBSCRIPTION_RENEWED",
        /// A subscription was cancelled.
        SubscriptionCancelled => "SUBSCRIPTION_CANCELLED",
        /// A subscription expired.
        SubscriptionExpired => "SUBSCRIPTION_EXPIRED",
        /// A renewal payment failed; the subscription is in its grace period.
        SubscriptionInGracePeriod => "SUBSCRIPTION_IN_GRACE_PERIOD",
        /// The grace period ended.
        SubscriptionOutOfGracePeriod => "SUBSCRIPTION_OUT_OF_GRACE_PERIOD",
        /// The customer turned auto-renewal on.
        SubscriptionAutoRenewalOn => "SUBSCRIPTION_AUTO_RENEWAL_ON",
        /// The customer turned auto-renewal off.
        SubscriptionAutoRenewalOff => "SUBSCRIPTION_AUTO_RENEWAL_OFF",
        /// The subscription will end at the end of the current period.
        SubscriptionScheduledToEnd => "SUBSCRIPTION_SCHEDULED_TO_END",
        /// The subscription was changed, effective now.
        SubscriptionModifiedImmediate => "SUBSCRIPTION_MODIFIED_IMMEDIATE",
        /// The subscription was changed, effective at the next renewal.
        SubscriptionModifiedDeferred => "SUBSCRIPTION_MODIFIED_DEFERRED",
        /// A free trial converted to a paid subscription.
        SubscriptionConvertedFreeTrialToPaid => "SUBSCRIPTION_CONVERTED_FREE_TRIAL_TO_PAID",
    }
}

/// An RTN message.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct RtnMessage {
    /// `appPackageName`: the app the purchase belongs to.
    #[serde(rename = "appPackageName")]
    pub app_package_name: String,
    /// `notificationType`.
    #[serde(rename = "notificationType")]
    pub notification_type: RtnNotificationType,
    /// `appUserId`: the Amazon user id scoped to your app.
    #[serde(rename = "appUserId", default)]
    pub app_user_id: Option<String>,
    /// `receiptId`: the receipt to look up with the Receipt Verification Service.
    #[serde(rename = "receiptId")]
    pub receipt_id: String,
    /// `relatedReceipts`: receipts this one relates to (`previousReceiptId` on a plan change,
    /// …). Sent as `{}` when there are none; `[]` is read as empty too.
    #[serde(
        rename = "relatedReceipts",
        default,
        deserialize_with = "related_receipts"
    )]
    pub related_receipts: BTreeMap<String, serde_json::Value>,
    /// `timestamp`: when the event happened, in milliseconds since the Unix epoch.
    #[serde(rename = "timestamp", default)]
    pub timestamp_ms: Option<i64>,
    /// `betaProductTransaction`: `true` for Live App Testing purchases.
    #[serde(rename = "betaProductTransaction", default)]
    pub beta_product_transaction: Option<bool>,
    /// `sku`, if Amazon sends it (not in the documented field list; read when present).
    #[serde(default)]
    pub sku: Option<String>,
}

impl RtnMessage {
    /// Parses the SNS `Message` text. Only a JSON object with string `appPackageName`,
    /// `notificationType` and `receiptId` is an RTN.
    pub fn parse(message: &str) -> Result<RtnMessage, serde_json::Error> {
        // serde's derived structs accept arrays positionally; an RTN is an object.
        if message.trim_start().as_bytes().first() != Some(&b'{') {
            return Err(de::Error::custom("the message is not a JSON object"));
        }
        serde_json::from_str(message)
    }

    /// Whether this is a Live App Testing purchase.
    pub fn is_beta(&self) -> bool {
        self.beta_product_transaction == Some(true)
    }

    /// A related receipt by key (`previousReceiptId`, …), when it is a string.
    pub fn related_receipt(&self, key: &str) -> Option<&str> {
        self.related_receipts.get(key).and_then(|v| v.as_str())
    }

    /// `timestamp` as a time; `None` when absent, before 1970 or after 9999 (the RTN itself is
    /// still delivered: the time is informational).
    pub fn time(&self) -> Option<SystemTime> {
        crate::clock::time_from_unix_millis(self.timestamp_ms?)
    }
}

fn related_receipts<'de, D>(d: D) -> Result<BTreeMap<String, serde_json::Value>, D::Error>
where
    D: Deserializer<'de>,
{
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = BTreeMap<String, serde_json::Value>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object (or an empty array)")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some((k, v)) = map.next_entry()? {
                out.insert(k, v);
            }
            Ok(out)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            if seq.next_element::<de::IgnoredAny>()?.is_some() {
                return Err(de::Error::custom("relatedReceipts is a non-empty array"));
            }
            Ok(BTreeMap::new())
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(BTreeMap::new())
        }
    }
    d.deserialize_any(V)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#""appPackageName":"com.example","notificationType":"SUBSCRIPTION_RENEWED","appUserId":"u","receiptId":"r:3:11","timestamp":1767225565000"#;

    #[test]
    fn rtn_parses_the_documented_fields() {
        let m = RtnMessage::parse(&format!(
            r#"{{{BASE},"relatedReceipts":{{"previousReceiptId":"p"}},"betaProductTransaction":false}}"#
        ))
        .expect("rtn");
        assert_eq!(m.app_package_name, "com.example");
        assert_eq!(
            m.notification_type,
            RtnNotificationType::SubscriptionRenewed
        );
        assert_eq!(m.receipt_id, "r:3:11");
        assert_eq!(m.related_receipt("previousReceiptId"), Some("p"));
        assert_eq!(m.timestamp_ms, Some(1_767_225_565_000));
        assert!(!m.is_beta());
    }

    #[test]
    fn related_receipts_accepts_an_empty_array() {
        let m = RtnMessage::parse(&format!(r#"{{{BASE},"relatedReceipts":[]}}"#)).expect("rtn");
        assert!(m.related_receipts.is_empty());
    }

    #[test]
    fn unknown_notification_types_and_fields_are_kept_or_ignored() {
        let m = RtnMessage::parse(
            &format!(r#"{{{BASE},"newField":{{"a":1}}}}"#)
                .replace("SUBSCRIPTION_RENEWED", "SUBSCRIPTION_HIBERNATED"),
        )
        .expect("rtn");
        assert!(m.notification_type.is_unknown());
        assert_eq!(m.notification_type.as_str(), "SUBSCRIPTION_HIBERNATED");
    }

    #[test]
    fn rtn_requires_string_receipt_id() {
        assert!(RtnMessage::parse(r#"{"appPackageName":"a","notificationType":"X"}"#).is_err());
        assert!(
            RtnMessage::parse(r#"{"appPackageName":"a","notificationType":"X","receiptId":1}"#)
                .is_err()
        );
    }

    #[test]
    fn rtn_must_be_a_json_object() {
        assert!(RtnMessage::parse(r#"["a","X","u","r"]"#).is_err());
        assert!(RtnMessage::parse("boo").is_err());
    }
}
