//! The `DeveloperNotification` Google Play publishes to your Pub/Sub topic
//! (<https://developer.android.com/google/play/billing/rtdn-reference>).
//!
//! Parsing rules (each has a test below):
//!
//! - `eventTimeMillis` is documented as a `long` and sent as a decimal string; both a string of
//!   digits and a JSON integer are accepted.
//! - Exactly one of `subscriptionNotification`, `oneTimeProductNotification`,
//!   `voidedPurchaseNotification` and `testNotification` may be present: the docs call them
//!   mutually exclusive, so a message carrying two is ambiguous and rejected.
//! - A message carrying none of them (a kind Google adds later, such as
//!   `pendingRefundReviewNotification`) parses as [`NotificationKind::Unknown`]; the raw JSON
//!   stays available on [`GoogleNotification::data`](super::GoogleNotification::data).
//! - `notificationType` numbers Google adds later parse as `Unknown(n)`; unknown fields are
//!   ignored.

use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

/// Defines an open, integer-valued enum: the documented values plus `Unknown(i32)`.
macro_rules! open_int_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal => $wire_name:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A number this version of the library does not know, kept as sent.
            Unknown(i32),
        }

        impl $name {
            /// The number, exactly as Google sends it.
            pub const fn value(self) -> i32 {
                match self {
                    $( $name::$variant => $value, )+
                    $name::Unknown(n) => n,
                }
            }

            /// The documented constant name (`"SUBSCRIPTION_RENEWED"`, …), `None` for unknown
            /// numbers.
            pub const fn name(self) -> Option<&'static str> {
                match self {
                    $( $name::$variant => Some($wire_name), )+
                    $name::Unknown(_) => None,
                }
            }

            /// Whether this is a number this version of the library does not know.
            pub const fn is_unknown(self) -> bool {
                matches!(self, $name::Unknown(_))
            }
        }

        impl From<i32> for $name {
            fn from(n: i32) -> Self {
                match n {
                    $( $value => $name::$variant, )+
                    other => $name::Unknown(other),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.name() {
                    Some(name) => f.write_str(name),
                    None => write!(f, "{}", self.value()),
                }
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_i32(self.value())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                // A JSON integer only: `"2"` is not a notification type (fixture
                // `reject_notification_type_string`).
                i32::deserialize(d).map($name::from)
            }
        }
    };
}

open_int_enum! {
    /// `subscriptionNotification.notificationType`.
    pub enum SubscriptionNotificationType {
        /// 1: a subscription was recovered from account hold.
        Recovered = 1 => "SUBSCRIPTION_RECOVERED",
        /// 2: an active subscription was renewed.
        Renewed = 2 => "SUBSCRIPTION_RENEWED",
        /// 3: a subscription was either voluntarily or involuntarily cancelled.
        Canceled = 3 => "SUBSCRIPTION_CANCELED",
        /// 4: a new subscription was purchased.
        Purchased = 4 => "SUBSCRIPTION_PURCHASED",
        /// 5: a subscription has entered account hold.
        OnHold = 5 => "SUBSCRIPTION_ON_HOLD",
        /// 6: a subscription has entered the grace period.
        InGracePeriod = 6 => "SUBSCRIPTION_IN_GRACE_PERIOD",
        /// 7: the user restored the subscription before it expired.
        Restarted = 7 => "SUBSCRIPTION_RESTARTED",
        /// 8: a price change was confirmed by the user (deprecated by Google, still parsed).
        PriceChangeConfirmed = 8 => "SUBSCRIPTION_PRICE_CHANGE_CONFIRMED",
        /// 9: the subscription's renewal time was extended.
        Deferred = 9 => "SUBSCRIPTION_DEFERRED",
        /// 10: a subscription was paused.
        Paused = 10 => "SUBSCRIPTION_PAUSED",
        /// 11: a subscription pause schedule was changed.
        PauseScheduleChanged = 11 => "SUBSCRIPTION_PAUSE_SCHEDULE_CHANGED",
        /// 12: a subscription was revoked before its expiry time.
        Revoked = 12 => "SUBSCRIPTION_REVOKED",
        /// 13: a subscription has expired.
        Expired = 13 => "SUBSCRIPTION_EXPIRED",
        /// 17: items of the subscription changed.
        ItemsChanged = 17 => "SUBSCRIPTION_ITEMS_CHANGED",
        /// 18: a cancellation of the subscription was scheduled.
        CancellationScheduled = 18 => "SUBSCRIPTION_CANCELLATION_SCHEDULED",
        /// 19: a subscription price change was updated.
        PriceChangeUpdated = 19 => "SUBSCRIPTION_PRICE_CHANGE_UPDATED",
        /// 20: a pending transaction of a subscription was cancelled.
        PendingPurchaseCanceled = 20 => "SUBSCRIPTION_PENDING_PURCHASE_CANCELED",
        /// 22: the user's consent to a price step-up was updated.
        PriceStepUpConsentUpdated = 22 => "SUBSCRIPTION_PRICE_STEP_UP_CONSENT_UPDATED",
    }
}

open_int_enum! {
    /// `oneTimeProductNotification.notificationType`.
    pub enum OneTimeProductNotificationType {
        /// 1: a one-time product was successfully purchased.
        Purchased = 1 => "ONE_TIME_PRODUCT_PURCHASED",
        /// 2: a pending one-time product purchase was cancelled.
        Canceled = 2 => "ONE_TIME_PRODUCT_CANCELED",
    }
}

open_int_enum! {
    /// `voidedPurchaseNotification.productType`.
    pub enum VoidedProductType {
        /// 1: a subscription purchase was voided.
        Subscription = 1 => "PRODUCT_TYPE_SUBSCRIPTION",
        /// 2: a one-time purchase was voided.
        OneTime = 2 => "PRODUCT_TYPE_ONE_TIME",
    }
}

open_int_enum! {
    /// `voidedPurchaseNotification.refundType`.
    pub enum VoidedRefundType {
        /// 1: the purchase was fully voided.
        FullRefund = 1 => "REFUND_TYPE_FULL_REFUND",
        /// 2: part of a multi-quantity purchase was voided.
        QuantityBasedPartialRefund = 2 => "REFUND_TYPE_QUANTITY_BASED_PARTIAL_REFUND",
    }
}

/// A Google Play Real-time Developer Notification.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeveloperNotification {
    /// `version` (`"1.0"`).
    pub version: Option<String>,
    /// `packageName`: the app the notification is about.
    pub package_name: String,
    /// `eventTimeMillis`: when the event happened, in milliseconds since the Unix epoch.
    pub event_time_millis: i64,
    /// Which notification it is, with its fields.
    pub kind: NotificationKind,
}

/// The one notification a [`DeveloperNotification`] carries.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotificationKind {
    /// `subscriptionNotification`.
    Subscription(SubscriptionNotification),
    /// `oneTimeProductNotification`.
    OneTimeProduct(OneTimeProductNotification),
    /// `voidedPurchaseNotification`.
    VoidedPurchase(VoidedPurchaseNotification),
    /// `testNotification`, sent from the Play Console.
    Test(TestNotification),
    /// None of the kinds above: one Google added after this version of the library. The raw
    /// JSON is on [`GoogleNotification::data`](super::GoogleNotification::data).
    Unknown,
}

impl NotificationKind {
    /// The purchase token the notification is about, if it carries one.
    pub fn purchase_token(&self) -> Option<&str> {
        match self {
            NotificationKind::Subscription(n) => Some(&n.purchase_token),
            NotificationKind::OneTimeProduct(n) => Some(&n.purchase_token),
            NotificationKind::VoidedPurchase(n) => Some(&n.purchase_token),
            NotificationKind::Test(_) | NotificationKind::Unknown => None,
        }
    }
}

/// `subscriptionNotification`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct SubscriptionNotification {
    /// `version`.
    #[serde(default)]
    pub version: Option<String>,
    /// `notificationType`.
    #[serde(rename = "notificationType")]
    pub notification_type: SubscriptionNotificationType,
    /// `purchaseToken`: a credential for Google's API; redacted in `Debug`.
    #[serde(rename = "purchaseToken")]
    pub purchase_token: String,
    /// `subscriptionId`: the subscription's product id (absent for some newer subscriptions).
    #[serde(rename = "subscriptionId", default)]
    pub subscription_id: Option<String>,
}

/// `oneTimeProductNotification`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct OneTimeProductNotification {
    /// `version`.
    #[serde(default)]
    pub version: Option<String>,
    /// `notificationType`.
    #[serde(rename = "notificationType")]
    pub notification_type: OneTimeProductNotificationType,
    /// `purchaseToken`: a credential for Google's API; redacted in `Debug`.
    #[serde(rename = "purchaseToken")]
    pub purchase_token: String,
    /// `sku`: the product id.
    #[serde(default)]
    pub sku: Option<String>,
}

/// `voidedPurchaseNotification`: a purchase was refunded, charged back or revoked.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct VoidedPurchaseNotification {
    /// `purchaseToken`: a credential for Google's API; redacted in `Debug`.
    #[serde(rename = "purchaseToken")]
    pub purchase_token: String,
    /// `orderId`: the order the voided transaction belongs to.
    #[serde(rename = "orderId")]
    pub order_id: String,
    /// `productType`.
    #[serde(rename = "productType")]
    pub product_type: VoidedProductType,
    /// `refundType`.
    #[serde(rename = "refundType")]
    pub refund_type: VoidedRefundType,
}

/// `testNotification`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct TestNotification {
    /// `version`.
    #[serde(default)]
    pub version: Option<String>,
}

/// Purchase tokens grant access to Google's purchase API: they never reach a log.
struct RedactedToken<'a>(&'a str);

impl fmt::Debug for RedactedToken<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<redacted {} bytes>", self.0.len())
    }
}

impl fmt::Debug for SubscriptionNotification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubscriptionNotification")
            .field("version", &self.version)
            .field("notification_type", &self.notification_type)
            .field("purchase_token", &RedactedToken(&self.purchase_token))
            .field("subscription_id", &self.subscription_id)
            .finish()
    }
}

impl fmt::Debug for OneTimeProductNotification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OneTimeProductNotification")
            .field("version", &self.version)
            .field("notification_type", &self.notification_type)
            .field("purchase_token", &RedactedToken(&self.purchase_token))
            .field("sku", &self.sku)
            .finish()
    }
}

impl fmt::Debug for VoidedPurchaseNotification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VoidedPurchaseNotification")
            .field("purchase_token", &RedactedToken(&self.purchase_token))
            .field("order_id", &self.order_id)
            .field("product_type", &self.product_type)
            .field("refund_type", &self.refund_type)
            .finish()
    }
}

impl DeveloperNotification {
    /// Parses the decoded `data` of a Pub/Sub message.
    ///
    /// ```
    /// use store_notifications::google::{DeveloperNotification, NotificationKind};
    ///
    /// let n = DeveloperNotification::from_json(br#"{"version":"1.0","packageName":"com.example","eventTimeMillis":"1767225595123","testNotification":{"version":"1.0"}}"#).unwrap();
    /// assert_eq!(n.package_name, "com.example");
    /// assert!(matches!(n.kind, NotificationKind::Test(_)));
    /// ```
    pub fn from_json(data: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(data)
    }
}

impl<'de> Deserialize<'de> for DeveloperNotification {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(DeveloperNotificationVisitor)
    }
}

struct DeveloperNotificationVisitor;

impl<'de> Visitor<'de> for DeveloperNotificationVisitor {
    type Value = DeveloperNotification;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a DeveloperNotification object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut version: Option<Option<String>> = None;
        let mut package_name: Option<String> = None;
        let mut event_time_millis: Option<i64> = None;
        let mut kind: Option<NotificationKind> = None;

        // A duplicated key is ambiguous (which one did Google mean?): rejected, like two kinds.
        fn once<T, E: de::Error>(
            slot: &mut Option<T>,
            value: T,
            key: &'static str,
        ) -> Result<(), E> {
            if slot.is_some() {
                return Err(E::duplicate_field(key));
            }
            *slot = Some(value);
            Ok(())
        }
        fn one_kind<E: de::Error>(
            slot: &mut Option<NotificationKind>,
            value: Option<NotificationKind>,
        ) -> Result<(), E> {
            // `"testNotification": null` is the same as an absent key.
            let Some(value) = value else { return Ok(()) };
            if slot.is_some() {
                return Err(E::custom(
                    "more than one notification kind in one DeveloperNotification",
                ));
            }
            *slot = Some(value);
            Ok(())
        }

        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match key.as_ref() {
                "version" => once(&mut version, map.next_value()?, "version")?,
                "packageName" => once(&mut package_name, map.next_value()?, "packageName")?,
                "eventTimeMillis" => once(
                    &mut event_time_millis,
                    map.next_value::<EventTimeMillis>()?.0,
                    "eventTimeMillis",
                )?,
                "subscriptionNotification" => one_kind(
                    &mut kind,
                    map.next_value::<Option<SubscriptionNotification>>()?
                        .map(NotificationKind::Subscription),
                )?,
                "oneTimeProductNotification" => one_kind(
                    &mut kind,
                    map.next_value::<Option<OneTimeProductNotification>>()?
                        .map(NotificationKind::OneTimeProduct),
                )?,
                "voidedPurchaseNotification" => one_kind(
                    &mut kind,
                    map.next_value::<Option<VoidedPurchaseNotification>>()?
                        .map(NotificationKind::VoidedPurchase),
                )?,
                "testNotification" => one_kind(
                    &mut kind,
                    map.next_value::<Option<TestNotification>>()?
                        .map(NotificationKind::Test),
                )?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(DeveloperNotification {
            version: version.flatten(),
            package_name: package_name.ok_or_else(|| de::Error::missing_field("packageName"))?,
            event_time_millis: event_time_millis
                .ok_or_else(|| de::Error::missing_field("eventTimeMillis"))?,
            kind: kind.unwrap_or(NotificationKind::Unknown),
        })
    }
}

/// `eventTimeMillis`: a decimal string (what Play sends) or a JSON integer (what the docs'
/// `long` type allows).
struct EventTimeMillis(i64);

impl<'de> Deserialize<'de> for EventTimeMillis {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = EventTimeMillis;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("milliseconds since the epoch, as an integer or a decimal string")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(EventTimeMillis(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                i64::try_from(v)
                    .map(EventTimeMillis)
                    .map_err(|_| E::custom("eventTimeMillis is out of range"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                let digits = v.strip_prefix('-').unwrap_or(v);
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(E::invalid_value(de::Unexpected::Str(v), &self));
                }
                v.parse()
                    .map(EventTimeMillis)
                    .map_err(|_| E::custom("eventTimeMillis is out of range"))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<DeveloperNotification, serde_json::Error> {
        DeveloperNotification::from_json(json.as_bytes())
    }

    const SUB: &str = r#""subscriptionNotification":{"version":"1.0","notificationType":2,"purchaseToken":"tok","subscriptionId":"monthly"}"#;

    #[test]
    fn event_time_millis_is_a_decimal_string_or_an_integer() {
        for time in [r#""1767225595123""#, "1767225595123"] {
            let n = parse(&format!(
                r#"{{"version":"1.0","packageName":"p","eventTimeMillis":{time},{SUB}}}"#
            ))
            .expect(time);
            assert_eq!(n.event_time_millis, 1_767_225_595_123);
        }
        for bad in [r#""yesterday""#, r#""""#, "1.5", r#""12a""#, "true"] {
            assert!(
                parse(&format!(
                    r#"{{"packageName":"p","eventTimeMillis":{bad},{SUB}}}"#
                ))
                .is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn every_documented_subscription_type_has_its_name() {
        let documented = [
            1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 17, 18, 19, 20, 22,
        ];
        for n in documented {
            let t = SubscriptionNotificationType::from(n);
            assert!(!t.is_unknown(), "{n}");
            assert_eq!(t.value(), n);
            assert!(t.name().is_some_and(|s| s.starts_with("SUBSCRIPTION_")));
        }
        for n in [0, 14, 15, 16, 21, 99, -1] {
            assert_eq!(
                SubscriptionNotificationType::from(n),
                SubscriptionNotificationType::Unknown(n)
            );
        }
    }

    #[test]
    fn unknown_notification_type_numbers_parse() {
        let n = parse(r#"{"packageName":"p","eventTimeMillis":"1","subscriptionNotification":{"notificationType":99,"purchaseToken":"t"}}"#).expect("parse");
        let NotificationKind::Subscription(s) = n.kind else {
            panic!("not a subscription notification")
        };
        assert_eq!(
            s.notification_type,
            SubscriptionNotificationType::Unknown(99)
        );
        assert_eq!(s.subscription_id, None);
    }

    #[test]
    fn notification_type_must_be_a_json_integer() {
        assert!(parse(r#"{"packageName":"p","eventTimeMillis":"1","subscriptionNotification":{"notificationType":"2","purchaseToken":"t"}}"#).is_err());
    }

    #[test]
    fn the_kinds_are_mutually_exclusive() {
        let two = format!(
            r#"{{"packageName":"p","eventTimeMillis":"1",{SUB},"testNotification":{{"version":"1.0"}}}}"#
        );
        assert!(parse(&two).is_err());
        let null_other =
            format!(r#"{{"packageName":"p","eventTimeMillis":"1",{SUB},"testNotification":null}}"#);
        assert!(matches!(
            parse(&null_other).expect("null is absent").kind,
            NotificationKind::Subscription(_)
        ));
    }

    #[test]
    fn an_unknown_kind_parses_without_a_purchase_token() {
        let n = parse(r#"{"version":"1.0","packageName":"p","eventTimeMillis":"1","pendingRefundReviewNotification":{"pendingRefundToken":"x"}}"#).expect("parse");
        assert_eq!(n.kind, NotificationKind::Unknown);
        assert_eq!(n.kind.purchase_token(), None);
    }

    #[test]
    fn package_name_and_event_time_are_required() {
        assert!(parse(&format!(r#"{{"eventTimeMillis":"1",{SUB}}}"#)).is_err());
        assert!(
            parse(&format!(
                r#"{{"packageName":12345,"eventTimeMillis":"1",{SUB}}}"#
            ))
            .is_err()
        );
        assert!(parse(&format!(r#"{{"packageName":"p",{SUB}}}"#)).is_err());
    }

    #[test]
    fn purchase_token_is_required_on_purchase_kinds() {
        assert!(parse(r#"{"packageName":"p","eventTimeMillis":"1","subscriptionNotification":{"notificationType":2}}"#).is_err());
        assert!(parse(r#"{"packageName":"p","eventTimeMillis":"1","oneTimeProductNotification":{"notificationType":1,"sku":"s"}}"#).is_err());
    }

    #[test]
    fn voided_purchase_fields_parse() {
        let n = parse(r#"{"packageName":"p","eventTimeMillis":"1","voidedPurchaseNotification":{"purchaseToken":"t","orderId":"GPA.1","productType":2,"refundType":2}}"#).expect("parse");
        let NotificationKind::VoidedPurchase(v) = n.kind else {
            panic!("not voided")
        };
        assert_eq!(v.order_id, "GPA.1");
        assert_eq!(v.product_type, VoidedProductType::OneTime);
        assert_eq!(v.refund_type, VoidedRefundType::QuantityBasedPartialRefund);
    }

    #[test]
    fn duplicated_keys_are_rejected() {
        assert!(
            parse(&format!(
                r#"{{"packageName":"p","packageName":"q","eventTimeMillis":"1",{SUB}}}"#
            ))
            .is_err()
        );
    }

    #[test]
    fn purchase_tokens_are_redacted_in_debug() {
        let n = parse(&format!(
            r#"{{"packageName":"p","eventTimeMillis":"1",{}}}"#,
            SUB.replace("tok", "secret-purchase-token")
        ))
        .expect("parse");
        let shown = format!("{n:?}");
        assert!(!shown.contains("secret-purchase-token"), "{shown}");
        assert!(shown.contains("monthly"));
    }
}
