//! A fifth store, written outside the crate with nothing but its public API: a
//! [Standard Webhooks](https://www.standardwebhooks.com/) receiver. It gets its own
//! [`StoreId`], its own [`PolicySigner`], is mounted with [`Endpoint`] through the layer and the
//! extractor, and passes the same policy rows as the built-in stores — so adding a store needs
//! no edit of the crate.
//!
//! The scheme (the spec's "Verifying webhooks"): `webhook-id`, `webhook-timestamp` (Unix
//! seconds) and `webhook-signature` (space-separated `v1,<base64 HMAC-SHA256>` entries, any of
//! which may match, so senders can rotate secrets) headers; the MAC is over
//! `"{id}.{timestamp}.{body}"` with the key `whsec_<base64>`; timestamps more than five minutes
//! away from now are refused. The payload here is `{"type": …, "data": {"subscription_id": …}}`:
//! the receipt is the subscription, `test.ping` is the test message.

mod common;

use std::fmt;
use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue};
use ring::hmac;
use serde::Deserialize;
use store_notifications::testing::PolicySigner;
use store_notifications::{
    Clock, Disposition, EventKind, Notification, Receipt, Rejection, RejectionKind, Store, StoreId,
    Verdict,
};

/// The store's identity: declared here, not in the crate.
const WEBHOOKS: StoreId = StoreId::new("webhooks");

/// How far `webhook-timestamp` may be from now, either way (the spec's recommendation): an
/// intercepted delivery cannot be replayed later.
const TOLERANCE: Duration = Duration::from_secs(5 * 60);

/// The `type` of the sender's test message.
const TEST_TYPE: &str = "test.ping";

// ---------------------------------------------------------------------------------------------
// The verifier: a plain function over (headers, body, now), with the framework glue on top.

/// A Standard Webhooks verifier for one endpoint secret, parsed once.
#[derive(Clone)]
struct WebhooksStore {
    key: hmac::Key,
    clock: Clock,
}

/// The secret is not `whsec_` followed by base64.
#[derive(Debug, PartialEq, Eq)]
struct BadSecret;

impl WebhooksStore {
    /// A verifier for `secret` (`whsec_<base64>`, as senders show it).
    fn new(secret: &str) -> Result<Self, BadSecret> {
        let key = secret
            .strip_prefix("whsec_")
            .and_then(|b64| STANDARD.decode(b64).ok())
            .filter(|key| !key.is_empty())
            .ok_or(BadSecret)?;
        Ok(WebhooksStore {
            key: hmac::Key::new(hmac::HMAC_SHA256, &key),
            clock: Clock::system(),
        })
    }

    fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Authenticates one delivery at `now`: the id and timestamp it was signed with.
    fn authenticate<'h>(
        &self,
        headers: &'h HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<(&'h str, u64), Rejection> {
        let header = |name: &str| {
            let mut values = headers.get_all(name).iter();
            match (values.next(), values.next()) {
                (Some(v), None) => v
                    .to_str()
                    .map_err(|_| Rejection::malformed(format!("{name} is not visible ASCII"))),
                (None, _) => Err(Rejection::malformed(format!("no {name} header"))),
                // Two values are ambiguous: which one did the sender sign?
                (Some(_), Some(_)) => Err(Rejection::malformed(format!("more than one {name}"))),
            }
        };
        let id = header("webhook-id")?;
        let timestamp = header("webhook-timestamp")?;
        let signatures = header("webhook-signature")?;
        // Digits only: the MAC covers the header's text, so "+1" and "01" must not pass as 1.
        let t: u64 = timestamp
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| timestamp.parse().ok())
            .flatten()
            .ok_or_else(|| Rejection::malformed("webhook-timestamp is not Unix seconds"))?;

        let mut signed = Vec::with_capacity(id.len() + timestamp.len() + body.len() + 2);
        signed.extend_from_slice(id.as_bytes());
        signed.push(b'.');
        signed.extend_from_slice(timestamp.as_bytes());
        signed.push(b'.');
        signed.extend_from_slice(body);
        // `hmac::verify` compares in constant time; entries of other versions are skipped.
        let authentic = signatures
            .split(' ')
            .filter_map(|entry| entry.strip_prefix("v1,"))
            .filter_map(|b64| STANDARD.decode(b64).ok())
            .any(|tag| hmac::verify(&self.key, &signed, &tag).is_ok());
        if !authentic {
            return Err(Rejection::unauthenticated("no v1 signature matches"));
        }

        // After the MAC, so an unauthenticated sender learns nothing about our clock.
        let now = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        if t.saturating_add(TOLERANCE.as_secs()) < now {
            return Err(Rejection::new(
                RejectionKind::Expired,
                "webhook-timestamp is more than 5 minutes old",
            ));
        }
        if t > now.saturating_add(TOLERANCE.as_secs()) {
            return Err(Rejection::new(
                RejectionKind::NotYetValid,
                "webhook-timestamp is more than 5 minutes ahead",
            ));
        }
        Ok((id, t))
    }

    /// Authenticates and parses one delivery at `now`.
    fn verify_at(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<Verdict<WebhookEvent>, Rejection> {
        let (id, timestamp) = self.authenticate(headers, body, now)?;
        // Authentic from here on: a payload we cannot read is dead-lettered, not refused.
        let Ok(payload) = serde_json::from_slice::<Payload>(body) else {
            return Ok(Verdict::Unusable(Rejection::new(
                RejectionKind::Malformed,
                "the payload is not a webhook event",
            )));
        };
        let receipt = match (payload.event_type.as_str(), payload.data.subscription_id) {
            (TEST_TYPE, _) | (_, None) => None,
            (_, Some(subscription)) => Some(Receipt::new(WEBHOOKS, subscription)),
        };
        Ok(Verdict::Notification(WebhookEvent {
            id: id.to_owned(),
            timestamp,
            test: payload.event_type == TEST_TYPE,
            event_type: payload.event_type,
            receipt,
        }))
    }
}

// Secrets stay out of logs.
impl fmt::Debug for WebhooksStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhooksStore")
            .field("key", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// The sender's payload; unknown fields are ignored, so a new field never breaks a delivery.
#[derive(Deserialize)]
struct Payload {
    #[serde(rename = "type")]
    event_type: String,
    #[serde(default)]
    data: Data,
}

#[derive(Default, Deserialize)]
struct Data {
    subscription_id: Option<String>,
}

/// A verified delivery.
#[derive(Debug, Clone)]
struct WebhookEvent {
    id: String,
    timestamp: u64,
    event_type: String,
    test: bool,
    receipt: Option<Receipt>,
}

impl Notification for WebhookEvent {
    fn store(&self) -> StoreId {
        WEBHOOKS
    }

    fn id(&self) -> &str {
        &self.id
    }

    fn notification_type(&self) -> &str {
        &self.event_type
    }

    fn disposition(&self) -> Disposition<'_> {
        match (&self.receipt, self.test) {
            (_, true) => Disposition::Test,
            (Some(receipt), false) => Disposition::Receipt(receipt),
            (None, false) => Disposition::Unreferenced,
        }
    }

    fn event_kind(&self) -> EventKind {
        if self.test {
            EventKind::Test
        } else {
            EventKind::Other
        }
    }

    fn occurred_at(&self) -> Option<SystemTime> {
        UNIX_EPOCH.checked_add(Duration::from_secs(self.timestamp))
    }
}

impl Store for WebhooksStore {
    type Notification = WebhookEvent;
    const ID: StoreId = WEBHOOKS;

    fn verify(
        &self,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> impl Future<Output = Result<Verdict<WebhookEvent>, Rejection>> + Send {
        std::future::ready(self.verify_at(headers, body, self.clock.now()))
    }
}

// ---------------------------------------------------------------------------------------------
// The test signer, and the policy deliveries it makes.

const NOW: u64 = 1_767_225_600;

/// Signs deliveries as a Standard Webhooks sender does.
struct WebhooksSigner {
    secret: String,
}

impl WebhooksSigner {
    fn new(secret: &str) -> Self {
        WebhooksSigner {
            secret: secret.to_owned(),
        }
    }

    /// `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`.
    fn signature(&self, id: &str, timestamp: u64, body: &[u8]) -> String {
        let key = STANDARD
            .decode(self.secret.trim_start_matches("whsec_"))
            .expect("the test secret is base64");
        let mut signed = format!("{id}.{timestamp}.").into_bytes();
        signed.extend_from_slice(body);
        let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &key), &signed);
        format!("v1,{}", STANDARD.encode(tag.as_ref()))
    }

    fn headers(id: &str, timestamp: u64, signature: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("content-type", "application/json"),
            ("webhook-id", id),
            ("webhook-timestamp", &timestamp.to_string()),
            ("webhook-signature", signature),
        ] {
            headers.insert(name, HeaderValue::from_str(value).expect("header value"));
        }
        headers
    }

    /// A delivery of `body` signed 10 s before the store's clock.
    fn delivery(&self, body: &str) -> (HeaderMap, Bytes) {
        let (id, t) = ("msg_policy", NOW - 10);
        let headers = Self::headers(id, t, &self.signature(id, t, body.as_bytes()));
        (headers, Bytes::from(body.to_owned()))
    }

    fn event(event_type: &str, subscription: Option<&str>) -> String {
        serde_json::json!({
            "type": event_type,
            "timestamp": "2025-12-31T23:59:50Z",
            "data": { "subscription_id": subscription },
        })
        .to_string()
    }
}

impl PolicySigner for WebhooksSigner {
    type Store = WebhooksStore;

    fn store(&self) -> WebhooksStore {
        WebhooksStore::new(&self.secret)
            .expect("the test secret parses")
            .with_clock(Clock::from_unix(NOW))
    }

    fn receipt(&self, reference: &str) -> (HeaderMap, Bytes) {
        self.delivery(&Self::event("subscription.renewed", Some(reference)))
    }

    fn forged(&self, reference: &str) -> (HeaderMap, Bytes) {
        let (_, body) = self.receipt(reference);
        let forger = WebhooksSigner::new("whsec_Zm9yZ2VkIGJ5IHNvbWVvbmUgZWxzZQ==");
        let signature = forger.signature("msg_policy", NOW - 10, &body);
        (Self::headers("msg_policy", NOW - 10, &signature), body)
    }

    fn test(&self) -> Option<(HeaderMap, Bytes)> {
        Some(self.delivery(&Self::event(TEST_TYPE, None)))
    }

    fn unreferenced(&self) -> Option<(HeaderMap, Bytes)> {
        Some(self.delivery(&Self::event("customer.updated", None)))
    }

    fn unusable(&self) -> Option<(HeaderMap, Bytes)> {
        Some(self.delivery("this is not JSON"))
    }
}

const SECRET: &str = "whsec_c3RvcmUtbm90aWZpY2F0aW9ucyBleHRlcm5hbCBzdG9yZQ==";

// ---------------------------------------------------------------------------------------------
// The same policy rows as the built-in stores.

mod policy {
    crate::common::policy_suite!(crate::WebhooksSigner::new(crate::SECRET));
}

// ---------------------------------------------------------------------------------------------
// The store's own rules.

fn at(unix: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(unix)
}

#[test]
fn the_spec_test_vector_verifies() {
    // The Standard Webhooks reference implementations' vector.
    let signer = WebhooksSigner::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    let body = br#"{"test": 2432232314}"#;
    let signature = signer.signature("msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, body);
    assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    let store = WebhooksStore::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("secret");
    let headers =
        WebhooksSigner::headers("msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, &signature);
    assert_eq!(
        store.authenticate(&headers, body, at(1_614_265_330)),
        Ok(("msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330))
    );
    // Authentic, but not this sender's event shape: dead-lettered, not refused.
    let verdict = store
        .verify_at(&headers, body, at(1_614_265_330))
        .expect("authentic");
    assert!(verdict.is_unusable(), "{verdict:?}");
}

#[test]
fn timestamps_more_than_five_minutes_away_are_refused_either_way() {
    let signer = WebhooksSigner::new(SECRET);
    let store = WebhooksStore::new(SECRET).expect("secret");
    let body = WebhooksSigner::event("subscription.renewed", Some("sub_1"));
    let sign = |t: u64| {
        WebhooksSigner::headers("msg_1", t, &signer.signature("msg_1", t, body.as_bytes()))
    };
    let verdict = |t: u64| {
        store
            .verify_at(&sign(t), body.as_bytes(), at(NOW))
            .map(|_| ())
            .map_err(|r| r.kind())
    };
    assert_eq!(verdict(NOW - 300), Ok(()));
    assert_eq!(verdict(NOW + 300), Ok(()));
    assert_eq!(verdict(NOW - 301), Err(RejectionKind::Expired));
    assert_eq!(verdict(NOW + 301), Err(RejectionKind::NotYetValid));
}

#[test]
fn any_v1_entry_may_match_so_senders_can_rotate_secrets() {
    let signer = WebhooksSigner::new(SECRET);
    let old = WebhooksSigner::new("whsec_b2xkIHNlY3JldA==");
    let store = WebhooksStore::new(SECRET).expect("secret");
    let body = WebhooksSigner::event("subscription.renewed", Some("sub_1"));
    let t = NOW - 10;
    let both = format!(
        "v1a,c29tZSBvdGhlciBzY2hlbWU= {} {}",
        old.signature("msg_1", t, body.as_bytes()),
        signer.signature("msg_1", t, body.as_bytes())
    );
    let headers = WebhooksSigner::headers("msg_1", t, &both);
    assert!(store.verify_at(&headers, body.as_bytes(), at(NOW)).is_ok());
    // Only the old secret's entry, and an asymmetric-scheme entry of the same bytes: refused.
    let none = format!(
        "{} v1a,{}",
        old.signature("msg_1", t, body.as_bytes()),
        signer
            .signature("msg_1", t, body.as_bytes())
            .trim_start_matches("v1,")
    );
    let headers = WebhooksSigner::headers("msg_1", t, &none);
    let r = store
        .verify_at(&headers, body.as_bytes(), at(NOW))
        .expect_err("no v1 entry matches");
    assert_eq!(r.kind(), RejectionKind::Unauthenticated);
}

#[test]
fn the_mac_covers_the_id_and_the_timestamp() {
    let signer = WebhooksSigner::new(SECRET);
    let store = WebhooksStore::new(SECRET).expect("secret");
    let body = WebhooksSigner::event("subscription.renewed", Some("sub_1"));
    let signature = signer.signature("msg_1", NOW - 10, body.as_bytes());
    for headers in [
        WebhooksSigner::headers("msg_2", NOW - 10, &signature),
        WebhooksSigner::headers("msg_1", NOW - 11, &signature),
    ] {
        let r = store
            .verify_at(&headers, body.as_bytes(), at(NOW))
            .expect_err("replayed under another id or time");
        assert_eq!(r.kind(), RejectionKind::Unauthenticated);
    }
}

#[test]
fn missing_duplicate_or_garbled_headers_are_400() {
    let (headers, body) = WebhooksSigner::new(SECRET).receipt("sub_1");
    let store = WebhooksStore::new(SECRET).expect("secret");
    let mut cases = Vec::new();
    for name in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        let mut missing = headers.clone();
        missing.remove(name);
        cases.push(missing);
        let mut twice = headers.clone();
        twice.append(name, headers[name].clone());
        cases.push(twice);
    }
    let mut signed_plus = headers.clone();
    signed_plus.insert("webhook-timestamp", HeaderValue::from_static("+1767225590"));
    cases.push(signed_plus);
    for case in cases {
        let r = store.verify_at(&case, &body, at(NOW)).expect_err("refused");
        assert_eq!(r.status(), 400, "{r}");
    }
}

#[test]
fn secrets_are_parsed_once_and_never_shown() {
    assert_eq!(WebhooksStore::new("c2VjcmV0").map(|_| ()), Err(BadSecret));
    assert_eq!(WebhooksStore::new("whsec_%%%").map(|_| ()), Err(BadSecret));
    assert_eq!(WebhooksStore::new("whsec_").map(|_| ()), Err(BadSecret));
    let store = WebhooksStore::new(SECRET).expect("secret");
    assert!(!format!("{store:?}").contains(SECRET.trim_start_matches("whsec_")));
}

#[test]
fn the_receipt_is_the_subscription_and_test_ping_is_a_test() {
    let signer = WebhooksSigner::new(SECRET);
    let store = PolicySigner::store(&signer);
    let verify = |(headers, body): (HeaderMap, Bytes)| {
        store
            .verify_at(&headers, &body, at(NOW))
            .expect("authentic")
            .notification()
            .expect("an event")
    };
    let renewed = verify(signer.receipt("sub_42"));
    assert_eq!(renewed.store(), WEBHOOKS);
    assert_eq!(renewed.id(), "msg_policy");
    assert_eq!(renewed.notification_type(), "subscription.renewed");
    assert_eq!(renewed.occurred_at(), Some(at(NOW - 10)));
    assert!(matches!(
        renewed.disposition(),
        Disposition::Receipt(r) if r.store == WEBHOOKS && r.reference == "sub_42"
    ));
    // A test ping is a test even if it names a subscription.
    let ping = verify(signer.delivery(&WebhooksSigner::event(TEST_TYPE, Some("sub_42"))));
    assert_eq!(ping.disposition(), Disposition::Test);
    assert_eq!(ping.event_kind(), EventKind::Test);
}

/// How a user mounts it: exactly like a built-in store.
#[tokio::test]
async fn it_mounts_like_a_built_in_store() {
    use axum::Router;
    use axum::routing::post;
    use store_notifications::{Endpoint, InMemoryReceipts, InMemoryStatus, StatusStore};

    let receipts = InMemoryReceipts::new();
    receipts.insert(WEBHOOKS, "sub_tracked");
    let status = InMemoryStatus::new();
    let signer = WebhooksSigner::new(SECRET);
    let endpoint =
        Endpoint::new(PolicySigner::store(&signer), receipts).with_status(status.clone());
    let app: Router = Router::new().route(
        "/",
        post(|| async { (common::HANDLER_STATUS, "handled") }).layer(endpoint.layer()),
    );
    #[cfg(feature = "axum")]
    let app = app.merge(
        Router::new()
            .route(
                "/verified",
                post(
                    |store_notifications::Verified(event): store_notifications::Verified<
                        WebhooksStore,
                    >| async move { (common::HANDLER_STATUS, event.event_type) },
                ),
            )
            .with_state(endpoint),
    );

    let (headers, body) = signer.receipt("sub_tracked");
    let reply = common::send(&app, &headers, body.clone()).await;
    assert_eq!(reply.status, common::HANDLER_STATUS);
    #[cfg(feature = "axum")]
    {
        let mut req = http::Request::post("/verified")
            .body(axum::body::Body::from(body))
            .expect("request");
        *req.headers_mut() = headers;
        let res = tower::ServiceExt::oneshot(app, req)
            .await
            .expect("infallible");
        assert_eq!(res.status(), common::HANDLER_STATUS);
    }
    let snap = status.snapshot().await.expect("snapshot");
    assert!(snap.stores[&WEBHOOKS].last_received_at.is_some());
}

/// The library's own Standard Webhooks signer (`event::webhook`, for forwarding normalised
/// events) is accepted by this verifier, written independently of it.
#[test]
fn the_librarys_webhook_signer_is_accepted_by_an_independent_verifier() {
    let signer = store_notifications::event::webhook::WebhookSigner::new(SECRET).expect("secret");
    let store = WebhooksStore::new(SECRET).expect("secret");
    let body = WebhooksSigner::event("subscription.renewed", Some("sub_forwarded"));
    let headers = signer.headers("msg_forwarded", at(NOW), body.as_bytes());
    assert_eq!(
        store.authenticate(&headers, body.as_bytes(), at(NOW)),
        Ok(("msg_forwarded", NOW))
    );
    let tampered = body.replace("sub_forwarded", "sub_tampered");
    assert!(
        store
            .authenticate(&headers, tampered.as_bytes(), at(NOW))
            .is_err()
    );
}
