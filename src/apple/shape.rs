//! The four payload shapes and the app a notification is for.
//!
//! A notification carries one of `data`, `summary`, `externalPurchaseToken` or `appData`, and the
//! bundle id, app Apple ID and environment are read from the first one present, in that order —
//! the precedence of Apple's `_verify_notification`. It is written once, here: the app binding
//! and [`AppleNotification`](super::AppleNotification)'s accessors both read it.

use super::payload::{Environment, ResponseBodyV2DecodedPayload};

/// Which of the four payload shapes a notification carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PayloadShape {
    /// `data` (app, environment, transaction and renewal info).
    Data,
    /// `summary` (a mass renewal extension).
    Summary,
    /// `externalPurchaseToken`.
    ExternalPurchaseToken,
    /// `appData`.
    AppData,
}

impl PayloadShape {
    /// The wire name of the field (`"data"`, `"summary"`, `"externalPurchaseToken"`,
    /// `"appData"`).
    pub fn as_str(self) -> &'static str {
        match self {
            PayloadShape::Data => "data",
            PayloadShape::Summary => "summary",
            PayloadShape::ExternalPurchaseToken => "externalPurchaseToken",
            PayloadShape::AppData => "appData",
        }
    }
}

/// The app identifiers of the first shape present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AppBinding<'a> {
    pub(crate) shape: PayloadShape,
    pub(crate) bundle_id: Option<&'a str>,
    pub(crate) app_apple_id: Option<i64>,
    pub(crate) environment: Option<Environment>,
}

impl<'a> AppBinding<'a> {
    /// `data`, else `summary`, else `externalPurchaseToken` (Sandbox when its id starts with
    /// `SANDBOX`), else `appData`; `None` when the payload has none of them.
    pub(crate) fn of(p: &'a ResponseBodyV2DecodedPayload) -> Option<Self> {
        let binding = |shape, bundle_id: &'a Option<String>, app_apple_id, environment| {
            Some(AppBinding {
                shape,
                bundle_id: bundle_id.as_deref(),
                app_apple_id,
                environment,
            })
        };
        if let Some(d) = &p.data {
            binding(
                PayloadShape::Data,
                &d.bundle_id,
                d.app_apple_id,
                d.environment.clone(),
            )
        } else if let Some(s) = &p.summary {
            binding(
                PayloadShape::Summary,
                &s.bundle_id,
                s.app_apple_id,
                s.environment.clone(),
            )
        } else if let Some(t) = &p.external_purchase_token {
            binding(
                PayloadShape::ExternalPurchaseToken,
                &t.bundle_id,
                t.app_apple_id,
                Some(t.environment()),
            )
        } else if let Some(a) = &p.app_data {
            binding(
                PayloadShape::AppData,
                &a.bundle_id,
                a.app_apple_id,
                a.environment.clone(),
            )
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding_of(json: &str) -> Option<(PayloadShape, Option<String>, Option<Environment>)> {
        let p: ResponseBodyV2DecodedPayload = serde_json::from_str(json).expect("payload");
        AppBinding::of(&p).map(|b| (b.shape, b.bundle_id.map(str::to_owned), b.environment))
    }

    #[test]
    fn the_first_shape_present_names_the_app() {
        let both = r#"{"notificationType":"X","notificationUUID":"u","data":{"bundleId":"a","environment":"Sandbox"},"summary":{"bundleId":"b","environment":"Production"}}"#;
        assert_eq!(
            binding_of(both),
            Some((
                PayloadShape::Data,
                Some("a".to_owned()),
                Some(Environment::Sandbox)
            ))
        );
        let token = r#"{"notificationType":"X","notificationUUID":"u","externalPurchaseToken":{"externalPurchaseId":"SANDBOX_1","bundleId":"c"},"appData":{"bundleId":"d"}}"#;
        assert_eq!(
            binding_of(token),
            Some((
                PayloadShape::ExternalPurchaseToken,
                Some("c".to_owned()),
                Some(Environment::Sandbox)
            ))
        );
        assert_eq!(
            binding_of(r#"{"notificationType":"X","notificationUUID":"u"}"#),
            None
        );
    }
}
