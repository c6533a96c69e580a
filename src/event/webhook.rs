//! The normalised [`Event`] as a [Standard Webhooks](https://www.standardwebhooks.com/) message,
//! so that any Standard Webhooks verifier (svix's libraries, say) accepts what you forward.
//!
//! The payload is JSON, versioned by its `schema` field ([`SCHEMA`]):
//!
//! ```json
//! {
//!   "schema": "store-notifications.event.v1",
//!   "type": "store_notifications.renewal",
//!   "timestamp": "2026-01-01T00:00:00Z",
//!   "data": {
//!     "store": "apple", "kind": "renewal", "id": "…", "type": "DID_RENEW",
//!     "receipt": "…", "product": "…", "environment": "Production",
//!     "occurred_at": "2025-12-31T23:59:30Z", "test": false
//!   }
//! }
//! ```
//!
//! `data` is [`Event`]'s serialised form: its fields may grow within `v1` (ignore unknown
//! ones); a change that breaks a reader gets a new `schema`. A receipt reference that is a
//! credential (a Google purchase token) is sent whole: the target is a backend of yours.
//!
//! Each message is sent with `webhook-id` ([`Event::webhook_id`]: the same for every retry of
//! one event, so the target can deduplicate), `webhook-timestamp` (Unix seconds) and
//! `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{payload}">`.
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use store_notifications::event::webhook::WebhookSigner;
//!
//! let signer = WebhookSigner::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
//! let at = UNIX_EPOCH + Duration::from_secs(1_614_265_330);
//! let signature = signer.signature("msg_p5jXN8AQM9LWM0D4loKWxJek", at, br#"{"test": 2432232314}"#);
//! assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
//! ```

use std::fmt;
use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, HeaderName, HeaderValue};
use ring::hmac;

use super::Event;
use crate::clock::{rfc3339, unix_seconds};

/// The payload's `schema`: which version of this JSON layout it is.
pub const SCHEMA: &str = "store-notifications.event.v1";

/// `webhook-id`.
pub const WEBHOOK_ID: HeaderName = HeaderName::from_static("webhook-id");
/// `webhook-timestamp`.
pub const WEBHOOK_TIMESTAMP: HeaderName = HeaderName::from_static("webhook-timestamp");
/// `webhook-signature`.
pub const WEBHOOK_SIGNATURE: HeaderName = HeaderName::from_static("webhook-signature");

/// A secret that is not `whsec_` followed by standard base64 of at least 16 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidSecret;

impl fmt::Display for InvalidSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Standard Webhooks secret is `whsec_` followed by base64 of 16 or more bytes")
    }
}

impl std::error::Error for InvalidSecret {}

/// Signs messages with one Standard Webhooks secret. The key is derived once; `Debug` never
/// shows it.
#[derive(Clone)]
pub struct WebhookSigner {
    key: hmac::Key,
}

impl WebhookSigner {
    /// A signer for `secret` (`whsec_<base64>`, as Standard Webhooks senders hand them out;
    /// the `whsec_` prefix may be left out).
    pub fn new(secret: &str) -> Result<WebhookSigner, InvalidSecret> {
        let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
        let bytes = STANDARD.decode(encoded).map_err(|_| InvalidSecret)?;
        if bytes.len() < 16 {
            return Err(InvalidSecret);
        }
        Ok(WebhookSigner {
            key: hmac::Key::new(hmac::HMAC_SHA256, &bytes),
        })
    }

    /// `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{payload}">`.
    pub fn signature(&self, id: &str, at: SystemTime, payload: &[u8]) -> String {
        let timestamp = unix_seconds(at).to_string();
        let mut context = hmac::Context::with_key(&self.key);
        for part in [id.as_bytes(), b".", timestamp.as_bytes(), b".", payload] {
            context.update(part);
        }
        format!("v1,{}", STANDARD.encode(context.sign()))
    }

    /// The three headers of one message (plus `content-type: application/json`). An `id` that
    /// is not a valid header value (control characters) is replaced by its webhook-safe form.
    pub fn headers(&self, id: &str, at: SystemTime, payload: &[u8]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let id_value =
            HeaderValue::from_str(id).unwrap_or_else(|_| HeaderValue::from_static("invalid-id"));
        headers.insert(WEBHOOK_ID, id_value);
        headers.insert(WEBHOOK_TIMESTAMP, HeaderValue::from(unix_seconds(at)));
        if let Ok(signature) = HeaderValue::from_str(&self.signature(id, at, payload)) {
            headers.insert(WEBHOOK_SIGNATURE, signature);
        }
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers
    }
}

impl fmt::Debug for WebhookSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSigner(<redacted>)")
    }
}

impl Event {
    /// The Standard Webhooks message id of this event: `<store>_<32 hex digits of the
    /// SHA-256 of the store's id>`, the same for every delivery (and redelivery) of it.
    pub fn webhook_id(&self) -> String {
        let digest = ring::digest::digest(&ring::digest::SHA256, self.id.as_bytes());
        let hex = crate::kernel::encoding::hex_lower(digest.as_ref());
        format!("{}_{}", self.store, &hex[..32])
    }

    /// The JSON payload of this event's webhook, sent at `at` (see the [module docs](self)).
    pub fn webhook_payload(&self, at: SystemTime) -> Vec<u8> {
        let message = serde_json::json!({
            "schema": SCHEMA,
            "type": format!("store_notifications.{}", self.kind.as_str()),
            "timestamp": rfc3339(at),
            "data": self,
        });
        message.to_string().into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::event::EventKind;
    use crate::store::StoreId;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn event() -> Event {
        Event {
            store: StoreId::GOOGLE,
            kind: EventKind::Renewal,
            id: "17000000000000001".into(),
            notification_type: "SUBSCRIPTION_RENEWED".into(),
            receipt: Some("purchase-token-0123456789".into()),
            receipt_sensitive: true,
            product: Some("premium.monthly".into()),
            environment: None,
            occurred_at: Some(UNIX_EPOCH + Duration::from_secs(1_767_225_590)),
            test: false,
        }
    }

    #[test]
    fn the_standard_webhooks_vector_signs_alike() {
        let signer = WebhookSigner::new(SECRET).expect("secret");
        let at = UNIX_EPOCH + Duration::from_secs(1_614_265_330);
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            signer.signature("msg_p5jXN8AQM9LWM0D4loKWxJek", at, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        let headers = signer.headers("msg_p5jXN8AQM9LWM0D4loKWxJek", at, body);
        assert_eq!(headers[WEBHOOK_TIMESTAMP], "1614265330");
        assert_eq!(headers[WEBHOOK_ID], "msg_p5jXN8AQM9LWM0D4loKWxJek");
        assert_eq!(
            headers[WEBHOOK_SIGNATURE],
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn secrets_are_base64_of_at_least_16_bytes_and_never_shown() {
        assert!(
            WebhookSigner::new("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_ok(),
            "prefix optional"
        );
        for bad in ["whsec_", "whsec_not base64!", "whsec_c2hvcnQ="] {
            assert_eq!(WebhookSigner::new(bad).err(), Some(InvalidSecret), "{bad}");
        }
        let signer = WebhookSigner::new(SECRET).expect("secret");
        assert!(!format!("{signer:?}").contains("MfKQ"));
    }

    #[test]
    fn the_payload_is_the_versioned_event_and_its_id_is_stable() {
        let e = event();
        let at = UNIX_EPOCH + Duration::from_secs(1_767_225_600);
        let payload: serde_json::Value =
            serde_json::from_slice(&e.webhook_payload(at)).expect("json");
        assert_eq!(payload["schema"], SCHEMA);
        assert_eq!(payload["type"], "store_notifications.renewal");
        assert_eq!(payload["timestamp"], "2026-01-01T00:00:00Z");
        assert_eq!(payload["data"]["store"], "google");
        assert_eq!(payload["data"]["id"], "17000000000000001");
        assert_eq!(
            payload["data"]["receipt"], "purchase-token-0123456789",
            "sent whole"
        );
        assert_eq!(payload["data"]["occurred_at"], "2025-12-31T23:59:50Z");
        assert_eq!(e.webhook_id(), e.webhook_id());
        assert!(e.webhook_id().starts_with("google_"));
        assert_eq!(e.webhook_id().len(), "google_".len() + 32);
        let other = Event {
            id: "17000000000000002".into(),
            ..e.clone()
        };
        assert_ne!(other.webhook_id(), e.webhook_id());
        assert!(
            !format!("{e:?}").contains("purchase-token-0123456789"),
            "Debug redacts"
        );
    }
}
