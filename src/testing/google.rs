//! A Google Pub/Sub push signer: ID tokens signed with a throwaway RSA key, its JWKS, and push
//! bodies.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue};
use ring::rand::SystemRandom;
use ring::signature::{KeyPair, RSA_PKCS1_SHA256, RsaKeyPair};
use serde_json::{Value, json};

use super::PolicySigner;
use super::policy::POLICY_NOW;
use crate::Clock;
use crate::google::{GoogleStore, KeySet, StaticKeys};

/// The throwaway RSA-2048 key (PKCS#8 DER), published with the crate for tests only. See
/// `src/testing/keys/google-test-rsa.README.md`.
const TEST_KEY_PKCS8: &[u8] = include_bytes!("keys/google-test-rsa.pk8.der");
/// A self-signed certificate of the same key, for the `oauth2/v1/certs` form.
const TEST_CERT_PEM: &str = include_str!("keys/google-test-rsa.cert.pem");

/// Signs Pub/Sub push ID tokens as Google does, with a throwaway key, and builds push bodies.
///
/// The key is published: a store only trusts it when you give it [`jwks`](GoogleSigner::jwks)
/// or [`static_keys`](GoogleSigner::static_keys) yourself. Never do that outside tests.
///
/// ```
/// use store_notifications::google::GoogleStore;
/// use store_notifications::testing::GoogleSigner;
/// use store_notifications::Clock;
///
/// let signer = GoogleSigner::new();
/// let store = GoogleStore::new("https://example.com/push", "push@p.iam.gserviceaccount.com", signer.static_keys())
///     .with_clock(Clock::from_unix(1_767_225_600));
/// let token = signer.id_token("https://example.com/push", "push@p.iam.gserviceaccount.com", 1_767_225_500);
/// let body = GoogleSigner::wrapped_body(&GoogleSigner::test_notification("com.example", 1_767_225_595_123), "1", "2026-01-01T00:00:00Z", "projects/p/subscriptions/s");
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let n = store.verify_at(&GoogleSigner::headers(&token), &body, store.now()).await.unwrap().notification().unwrap();
/// assert!(n.is_test());
/// # });
/// ```
pub struct GoogleSigner {
    key: RsaKeyPair,
    kid: String,
    rng: SystemRandom,
}

impl GoogleSigner {
    /// The key id the signer puts in its tokens and its JWKS.
    pub const KID: &'static str = "store-notifications-throwaway-test-key-1";

    /// The signer with the crate's throwaway test key.
    pub fn new() -> Self {
        GoogleSigner {
            key: RsaKeyPair::from_pkcs8(TEST_KEY_PKCS8)
                .expect("the committed throwaway test key is valid PKCS#8"),
            kid: Self::KID.to_owned(),
            rng: SystemRandom::new(),
        }
    }

    /// The same key under another `kid` (a rotated-in key, or one missing from the JWKS).
    #[must_use]
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = kid.into();
        self
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWKS document, in the shape of `oauth2/v3/certs`.
    pub fn jwks(&self) -> String {
        let public = self.key.public_key();
        let components: ring::rsa::PublicKeyComponents<Vec<u8>> = public.into();
        json!({
            "keys": [{
                "kty": "RSA",
                "alg": "RS256",
                "use": "sig",
                "kid": self.kid,
                "n": URL_SAFE_NO_PAD.encode(&components.n),
                "e": URL_SAFE_NO_PAD.encode(&components.e),
            }]
        })
        .to_string()
    }

    /// The public key as a `{kid: PEM certificate}` map, in the shape of `oauth2/v1/certs`.
    pub fn pem_certificates(&self) -> String {
        json!({ self.kid.clone(): TEST_CERT_PEM }).to_string()
    }

    /// The parsed key set.
    pub fn key_set(&self) -> KeySet {
        KeySet::from_jwks(self.jwks().as_bytes()).expect("the signer's own JWKS parses")
    }

    /// A key source serving the signer's key.
    pub fn static_keys(&self) -> StaticKeys {
        StaticKeys::new(self.key_set())
    }

    /// The claims of a push token as Pub/Sub mints them: `iss` `https://accounts.google.com`,
    /// `aud`, `email` with `email_verified: true`, `iat`, `exp = iat + 3600`, `azp`/`sub`.
    /// Change any of them before [`token`](GoogleSigner::token).
    pub fn claims(audience: &str, service_account: &str, iat: i64) -> Value {
        json!({
            "aud": audience,
            "azp": "109876543210987654321",
            "email": service_account,
            "email_verified": true,
            "exp": iat.saturating_add(3600),
            "iat": iat,
            "iss": "https://accounts.google.com",
            "sub": "109876543210987654321",
        })
    }

    /// A valid push token for `audience` and `service_account`, issued at `iat`.
    pub fn id_token(&self, audience: &str, service_account: &str, iat: i64) -> String {
        self.token(&Self::claims(audience, service_account, iat))
    }

    /// A token with these claims and the header `{"alg":"RS256","kid":…,"typ":"JWT"}`.
    pub fn token(&self, claims: &Value) -> String {
        self.token_with_header(
            &json!({"alg": "RS256", "kid": self.kid, "typ": "JWT"}),
            claims,
        )
    }

    /// A token with any header (to test `alg` / `kid` rules), RS256-signed all the same.
    pub fn token_with_header(&self, header: &Value, claims: &Value) -> String {
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &self.rng,
                signing_input.as_bytes(),
                &mut signature,
            )
            .expect("RSA signing with a valid key does not fail");
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    /// Headers of a push: `Authorization: Bearer <token>` and `Content-Type: application/json`.
    pub fn headers(token: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Ok(v) = HeaderValue::from_str(&format!("Bearer {token}")) {
            headers.insert(http::header::AUTHORIZATION, v);
        }
        headers
    }

    /// Headers of an unwrapped push with "write metadata": [`headers`](GoogleSigner::headers)
    /// plus `x-goog-pubsub-message-id`, `-publish-time` and `-subscription-name`.
    pub fn unwrapped_headers(
        token: &str,
        message_id: &str,
        publish_time: &str,
        subscription: &str,
    ) -> HeaderMap {
        let mut headers = Self::headers(token);
        for (name, value) in [
            ("x-goog-pubsub-message-id", message_id),
            ("x-goog-pubsub-publish-time", publish_time),
            ("x-goog-pubsub-subscription-name", subscription),
        ] {
            if let Ok(v) = HeaderValue::from_str(value) {
                headers.insert(name, v);
            }
        }
        headers
    }

    /// The push wrapper around `data` as Pub/Sub sends it (both spellings of the metadata).
    pub fn wrapped_body(
        data: &str,
        message_id: &str,
        publish_time: &str,
        subscription: &str,
    ) -> Bytes {
        let body = json!({
            "message": {
                "attributes": {},
                "data": STANDARD.encode(data),
                "messageId": message_id,
                "message_id": message_id,
                "publishTime": publish_time,
                "publish_time": publish_time,
            },
            "subscription": subscription,
        });
        Bytes::from(body.to_string())
    }

    /// A `subscriptionNotification` DeveloperNotification (JSON).
    pub fn subscription_notification(
        package_name: &str,
        notification_type: i32,
        purchase_token: &str,
        subscription_id: &str,
        event_time_millis: i64,
    ) -> String {
        Self::developer_notification(
            package_name,
            event_time_millis,
            "subscriptionNotification",
            json!({
                "version": "1.0",
                "notificationType": notification_type,
                "purchaseToken": purchase_token,
                "subscriptionId": subscription_id,
            }),
        )
    }

    /// A `oneTimeProductNotification` DeveloperNotification (JSON).
    pub fn one_time_product_notification(
        package_name: &str,
        notification_type: i32,
        purchase_token: &str,
        sku: &str,
        event_time_millis: i64,
    ) -> String {
        Self::developer_notification(
            package_name,
            event_time_millis,
            "oneTimeProductNotification",
            json!({
                "version": "1.0",
                "notificationType": notification_type,
                "purchaseToken": purchase_token,
                "sku": sku,
            }),
        )
    }

    /// A `voidedPurchaseNotification` DeveloperNotification (JSON).
    pub fn voided_purchase_notification(
        package_name: &str,
        purchase_token: &str,
        order_id: &str,
        product_type: i32,
        refund_type: i32,
        event_time_millis: i64,
    ) -> String {
        Self::developer_notification(
            package_name,
            event_time_millis,
            "voidedPurchaseNotification",
            json!({
                "purchaseToken": purchase_token,
                "orderId": order_id,
                "productType": product_type,
                "refundType": refund_type,
            }),
        )
    }

    /// A `testNotification` DeveloperNotification (JSON), as the Play Console sends it.
    pub fn test_notification(package_name: &str, event_time_millis: i64) -> String {
        Self::developer_notification(
            package_name,
            event_time_millis,
            "testNotification",
            json!({ "version": "1.0" }),
        )
    }

    /// A DeveloperNotification with any kind (`kind` is the field name, `value` its object).
    pub fn developer_notification(
        package_name: &str,
        event_time_millis: i64,
        kind: &str,
        value: Value,
    ) -> String {
        json!({
            "version": "1.0",
            "packageName": package_name,
            // A decimal string, as Play sends it.
            "eventTimeMillis": event_time_millis.to_string(),
            kind: value,
        })
        .to_string()
    }
}

/// The push subscription the policy deliveries come from (and the store expects).
const POLICY_AUDIENCE: &str = "https://example.com/notifications/google";
const POLICY_SERVICE_ACCOUNT: &str = "play-rtdn-push@example-project.iam.gserviceaccount.com";
const POLICY_PACKAGE: &str = "com.example.app";
/// Tokens are issued 100 s, notifications made 5 s, before the store's fixed clock.
const POLICY_IAT: i64 = POLICY_NOW as i64 - 100;
const POLICY_EVENT_MS: i64 = (POLICY_NOW as i64 - 5) * 1000;

/// Wrapped pushes for a fixed push subscription (audience, service account) and package
/// `com.example.app`, which the store accepts alone: a receipt is a `SUBSCRIPTION_RENEWED`
/// about that purchase token, the test message a `testNotification`, the unreferenced one a
/// DeveloperNotification of a kind this crate does not know yet, the forged one a receipt
/// whose token carries the signature of another token, and the unusable one a push whose
/// `data` is not JSON.
impl PolicySigner for GoogleSigner {
    type Store = GoogleStore;

    fn store(&self) -> GoogleStore {
        GoogleStore::new(POLICY_AUDIENCE, POLICY_SERVICE_ACCOUNT, self.static_keys())
            .with_package_name(POLICY_PACKAGE)
            .with_clock(Clock::from_unix(POLICY_NOW))
    }

    fn receipt(&self, reference: &str) -> (HeaderMap, Bytes) {
        let data = Self::subscription_notification(
            POLICY_PACKAGE,
            2,
            reference,
            "premium.monthly",
            POLICY_EVENT_MS,
        );
        self.policy_push(&data)
    }

    fn forged(&self, reference: &str) -> (HeaderMap, Bytes) {
        let (_, body) = self.receipt(reference);
        let genuine = self.policy_token(POLICY_IAT);
        let other = self.policy_token(POLICY_IAT - 1);
        let forged = match (genuine.rsplit_once('.'), other.rsplit_once('.')) {
            (Some((signing_input, _)), Some((_, signature))) => {
                format!("{signing_input}.{signature}")
            }
            _ => String::new(),
        };
        (Self::headers(&forged), body)
    }

    fn test(&self) -> Option<(HeaderMap, Bytes)> {
        Some(self.policy_push(&Self::test_notification(POLICY_PACKAGE, POLICY_EVENT_MS)))
    }

    fn unreferenced(&self) -> Option<(HeaderMap, Bytes)> {
        let data = Self::developer_notification(
            POLICY_PACKAGE,
            POLICY_EVENT_MS,
            "someFutureNotification",
            json!({ "version": "1.0" }),
        );
        Some(self.policy_push(&data))
    }

    fn unusable(&self) -> Option<(HeaderMap, Bytes)> {
        Some(self.policy_push("this is not JSON"))
    }
}

impl GoogleSigner {
    fn policy_token(&self, iat: i64) -> String {
        self.id_token(POLICY_AUDIENCE, POLICY_SERVICE_ACCOUNT, iat)
    }

    fn policy_push(&self, data: &str) -> (HeaderMap, Bytes) {
        let body = Self::wrapped_body(
            data,
            "17000000000000001",
            "2025-12-31T23:59:55.456Z",
            "projects/example-project/subscriptions/play-rtdn",
        );
        (Self::headers(&self.policy_token(POLICY_IAT)), body)
    }
}

impl Default for GoogleSigner {
    fn default() -> Self {
        GoogleSigner::new()
    }
}

impl fmt::Debug for GoogleSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GoogleSigner")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}
