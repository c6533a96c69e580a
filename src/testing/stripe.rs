//! A Stripe webhook signer.

use std::fmt;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue};

use super::PolicySigner;
use super::policy::POLICY_NOW;
use crate::{Clock, StripeStore};

/// Signs Stripe webhook bodies as Stripe does, for tests.
///
/// ```
/// use store_notifications::testing::StripeSigner;
/// use store_notifications::{Clock, StripeStore};
///
/// let signer = StripeSigner::new("whsec_test");
/// let body = signer.event("evt_1", "customer.subscription.updated", r#"{"object":"subscription","id":"sub_1"}"#, 1_767_225_570);
/// let headers = signer.headers(1_767_225_570, &body);
///
/// let store = StripeStore::new("whsec_test").with_clock(Clock::from_unix(1_767_225_600));
/// let event = store.verify_at(&headers, &body, store.now()).unwrap().notification().unwrap();
/// assert_eq!(event.receipt().unwrap().reference, "sub_1");
/// ```
#[derive(Clone)]
pub struct StripeSigner {
    secret: String,
}

impl StripeSigner {
    /// A signer with the given endpoint secret.
    pub fn new(secret: impl Into<String>) -> Self {
        StripeSigner {
            secret: secret.into(),
        }
    }

    /// The `Stripe-Signature` value for `body` signed at `t` (Unix seconds).
    pub fn signature(&self, t: i64, body: &[u8]) -> String {
        crate::stripe::signature_header(self.secret.as_bytes(), t, body)
    }

    /// Headers with `Stripe-Signature` and `Content-Type: application/json`.
    pub fn headers(&self, t: i64, body: &[u8]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Ok(v) = HeaderValue::from_str(&self.signature(t, body)) {
            headers.insert("stripe-signature", v);
        }
        headers
    }

    /// A minimal event body (`object` is the raw JSON of `data.object`).
    pub fn event(&self, id: &str, event_type: &str, object: &str, created: i64) -> Bytes {
        let id = serde_json::Value::from(id);
        let event_type = serde_json::Value::from(event_type);
        Bytes::from(format!(
            r#"{{"id":{id},"object":"event","api_version":"2025-03-31.basil","created":{created},"data":{{"object":{object}}},"livemode":false,"pending_webhooks":1,"request":{{"id":null,"idempotency_key":null}},"type":{event_type}}}"#
        ))
    }
}

/// Events signed 5 s before the store's fixed clock; the receipt is a subscription (its
/// customer `cus_policy`); no test message (Stripe has none: test-mode events are events).
impl PolicySigner for StripeSigner {
    type Store = StripeStore;

    fn store(&self) -> StripeStore {
        StripeStore::new(&self.secret).with_clock(Clock::from_unix(POLICY_NOW))
    }

    fn receipt(&self, reference: &str) -> (HeaderMap, Bytes) {
        let object = serde_json::json!({
            "object": "subscription",
            "id": reference,
            "customer": "cus_policy",
        });
        self.signed(&self.event_body("customer.subscription.updated", &object.to_string()))
    }

    fn forged(&self, reference: &str) -> (HeaderMap, Bytes) {
        let (_, body) = self.receipt(reference);
        let forger = StripeSigner::new(format!("{}_but_not_quite", self.secret));
        (forger.headers(POLICY_SIGNED_AT, &body), body)
    }

    fn unreferenced(&self) -> Option<(HeaderMap, Bytes)> {
        let object = r#"{"object":"balance","available":[]}"#;
        Some(self.signed(&self.event_body("balance.available", object)))
    }

    fn unusable(&self) -> Option<(HeaderMap, Bytes)> {
        Some(self.signed(&Bytes::from_static(br#"{"not":"an event"}"#)))
    }
}

/// When the policy deliveries are signed: 5 s before the store's clock.
const POLICY_SIGNED_AT: i64 = POLICY_NOW as i64 - 5;

impl StripeSigner {
    fn event_body(&self, event_type: &str, object: &str) -> Bytes {
        self.event("evt_policy", event_type, object, POLICY_SIGNED_AT)
    }

    fn signed(&self, body: &Bytes) -> (HeaderMap, Bytes) {
        (self.headers(POLICY_SIGNED_AT, body), body.clone())
    }
}

impl fmt::Debug for StripeSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripeSigner").finish_non_exhaustive()
    }
}
