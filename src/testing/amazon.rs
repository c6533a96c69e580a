//! An Amazon SNS signer and an RTN message builder, with a published throwaway RSA key.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue};
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use x509_parser::num_bigint::BigUint;

use super::PolicySigner;
use super::policy::POLICY_NOW;
use crate::Clock;
use crate::amazon::{AmazonStore, PinnedCerts, SignatureVersion};

/// Signs SNS deliveries as Amazon SNS does, with a throwaway RSA-2048 key whose certificate is
/// served (in tests) as [`CERT_URL`](SnsSigner::CERT_URL).
///
/// The key is published in this crate (`src/testing/keys/amazon-test-rsa.key.pem`): pin
/// [`pinned_certs`](SnsSigner::pinned_certs) only in tests.
///
/// ```
/// use store_notifications::amazon::{AmazonStore, SignatureVersion};
/// use store_notifications::testing::{RtnMessageBuilder, SnsSigner};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let signer = SnsSigner::new();
/// let store = AmazonStore::new(signer.pinned_certs());
/// let rtn = RtnMessageBuilder::new("com.example.app", "SUBSCRIPTION_PURCHASED", "r:3:11");
/// let delivery = signer
///     .notification(rtn.to_json())
///     .subject("Amazon Appstore Real-Time Notification")
///     .signature_version(SignatureVersion::V1)
///     .sign();
/// assert!(store.verify_at(&delivery.headers, &delivery.body, store.now()).await.is_ok());
/// # });
/// ```
#[derive(Clone)]
pub struct SnsSigner {
    key: Arc<RsaKeyPair>,
    modulus: Arc<BigUint>,
    private_exponent: Arc<BigUint>,
    topic_arn: String,
}

const KEY_PEM: &str = include_str!("keys/amazon-test-rsa.key.pem");

impl SnsSigner {
    /// The throwaway test certificate (self-signed, RSA-2048).
    pub const CERT_PEM: &'static str = include_str!("keys/amazon-test-rsa.cert.pem");
    /// The file name the test certificate is pinned under.
    pub const CERT_FILE_NAME: &'static str =
        "SimpleNotificationService-store-notifications-test.pem";
    /// The `SigningCertURL` of messages for a topic in `us-east-1`, as [`TOPIC_ARN`](SnsSigner::TOPIC_ARN)
    /// (for another topic, the same file on the SNS host of its region).
    pub const CERT_URL: &'static str = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-store-notifications-test.pem";
    /// The default `TopicArn`.
    pub const TOPIC_ARN: &'static str =
        "arn:aws:sns:us-east-1:123456789012:store-notifications-test";

    /// A signer with the published test key, for [`TOPIC_ARN`](SnsSigner::TOPIC_ARN).
    pub fn new() -> Self {
        // The key is a constant of this crate, checked by a unit test: failing here is a
        // packaging bug, not input.
        let der = pem_body(KEY_PEM);
        let key = RsaKeyPair::from_pkcs8(&der).expect("the embedded test key is valid PKCS#8");
        let (modulus, private_exponent) =
            rsa_private_numbers(&der).expect("the embedded test key is an RSA key");
        SnsSigner {
            key: Arc::new(key),
            modulus: Arc::new(modulus),
            private_exponent: Arc::new(private_exponent),
            topic_arn: Self::TOPIC_ARN.to_owned(),
        }
    }

    /// Signs for another topic. `SigningCertURL`, `SubscribeURL` and `UnsubscribeURL` are then
    /// on the SNS host of that topic's region, as SNS sends them (`us-east-1` if the ARN names
    /// none).
    #[must_use]
    pub fn with_topic_arn(mut self, topic_arn: impl Into<String>) -> Self {
        self.topic_arn = topic_arn.into();
        self
    }

    /// The certificates to verify this signer's messages with: the test certificate under
    /// [`CERT_FILE_NAME`](SnsSigner::CERT_FILE_NAME).
    pub fn pinned_certs(&self) -> PinnedCerts {
        PinnedCerts::new()
            .with_pem(Self::CERT_FILE_NAME, Self::CERT_PEM)
            .unwrap_or_default()
    }

    /// A `Notification` carrying `message` (an RTN's JSON, say).
    pub fn notification(&self, message: impl Into<String>) -> SnsBuilder {
        self.builder("Notification", message.into(), None)
    }

    /// A `SubscriptionConfirmation` with `token`.
    pub fn subscription_confirmation(&self, token: impl Into<String>) -> SnsBuilder {
        let message = format!(
            "You have chosen to subscribe to the topic {}.\nTo confirm the subscription, visit the SubscribeURL included in this message.",
            self.topic_arn
        );
        self.builder("SubscriptionConfirmation", message, Some(token.into()))
    }

    /// An `UnsubscribeConfirmation` with `token`.
    pub fn unsubscribe_confirmation(&self, token: impl Into<String>) -> SnsBuilder {
        let message = format!(
            "You have chosen to deactivate subscription {}:test.\nTo cancel this operation and restore the subscription, visit the SubscribeURL included in this message.",
            self.topic_arn
        );
        self.builder("UnsubscribeConfirmation", message, Some(token.into()))
    }

    fn builder(
        &self,
        message_type: &'static str,
        message: String,
        token: Option<String>,
    ) -> SnsBuilder {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let n = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let host = self.host();
        let subscribe_url = token.as_ref().map(|t| {
            format!(
                "https://{host}/?Action=ConfirmSubscription&TopicArn={}&Token={t}",
                self.topic_arn
            )
        });
        SnsBuilder {
            signer: self.clone(),
            message_type,
            message_id: format!("00000000-0000-4000-8000-{n:012x}"),
            topic_arn: self.topic_arn.clone(),
            subject: None,
            message,
            timestamp: "2025-12-31T23:59:30.000Z".to_owned(),
            version: SignatureVersion::V2,
            cert_url: format!("https://{host}/{}", Self::CERT_FILE_NAME),
            subscribe_url,
            token,
        }
    }

    /// The SNS host of the topic's region (`sns.us-east-1.amazonaws.com` by default).
    fn host(&self) -> String {
        let region = crate::amazon::topic_arn_region(&self.topic_arn).unwrap_or("us-east-1");
        let domain = if region.starts_with("cn-") {
            "amazonaws.com.cn"
        } else {
            "amazonaws.com"
        };
        format!("sns.{region}.{domain}")
    }

    /// Signs `data` as SNS does for `version` (base64 of the RSA PKCS#1 v1.5 signature).
    pub fn sign(&self, version: SignatureVersion, data: &[u8]) -> String {
        let signature = match version {
            SignatureVersion::V1 => self.sign_sha1(data),
            _ => {
                let rng = ring::rand::SystemRandom::new();
                let mut sig = vec![0u8; self.key.public().modulus_len()];
                match self.key.sign(&RSA_PKCS1_SHA256, &rng, data, &mut sig) {
                    Ok(()) => sig,
                    Err(_) => Vec::new(),
                }
            }
        };
        crate::kernel::encoding::b64_encode(signature)
    }

    /// ring does not sign with SHA-1, so SignatureVersion 1 is the textbook RSASSA-PKCS1-v1_5
    /// (RFC 8017 §8.2.1) with plain modular exponentiation: fine for a published test key.
    fn sign_sha1(&self, data: &[u8]) -> Vec<u8> {
        const SHA1_DIGEST_INFO: [u8; 15] = [
            0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04,
            0x14,
        ];
        let k = self.key.public().modulus_len();
        let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, data);
        let t_len = SHA1_DIGEST_INFO.len() + digest.as_ref().len();
        let mut em = vec![0xffu8; k];
        em[0] = 0x00;
        em[1] = 0x01;
        em[k - t_len - 1] = 0x00;
        em[k - t_len..k - digest.as_ref().len()].copy_from_slice(&SHA1_DIGEST_INFO);
        em[k - digest.as_ref().len()..].copy_from_slice(digest.as_ref());
        let s = BigUint::from_bytes_be(&em).modpow(&self.private_exponent, &self.modulus);
        let bytes = s.to_bytes_be();
        let mut out = vec![0u8; k - bytes.len()];
        out.extend_from_slice(&bytes);
        out
    }
}

/// The app package the policy RTNs are about (and the store accepts alone).
const POLICY_APP: &str = "com.example.app";

/// SNS deliveries on the signer's topic (the store pins the test certificate and accepts that
/// topic and the app `com.example.app` alone): a receipt is a `SUBSCRIPTION_RENEWED` RTN about
/// that `receiptId`, the test message a Live App Testing purchase (`betaProductTransaction`),
/// the control message a `SubscriptionConfirmation` (recorded, not followed: the store has no
/// confirmer), the forged one a receipt carrying the signature of another message, and the
/// unusable one a notification whose `Message` is not RTN JSON. RTNs always name a receipt:
/// there is no unreferenced one.
impl PolicySigner for SnsSigner {
    type Store = AmazonStore;

    fn store(&self) -> AmazonStore {
        AmazonStore::new(self.pinned_certs())
            .with_topic_arn(self.topic_arn.clone())
            .with_app_package_name(POLICY_APP)
            .with_clock(Clock::from_unix(POLICY_NOW))
    }

    fn receipt(&self, reference: &str) -> (HeaderMap, Bytes) {
        let rtn = RtnMessageBuilder::new(POLICY_APP, "SUBSCRIPTION_RENEWED", reference);
        let d = self
            .notification(rtn.to_json())
            .message_id("00000000-0000-4000-8000-00000000a11c")
            .sign();
        (d.headers, d.body)
    }

    fn forged(&self, reference: &str) -> (HeaderMap, Bytes) {
        let (headers, body) = self.receipt(reference);
        let rtn = RtnMessageBuilder::new(POLICY_APP, "SUBSCRIPTION_CANCELLED", reference);
        let other = self.notification(rtn.to_json()).sign();
        let signature = |body: &[u8]| {
            serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v["Signature"].as_str().map(str::to_owned))
                .unwrap_or_default()
        };
        let forged =
            String::from_utf8_lossy(&body).replace(&signature(&body), &signature(&other.body));
        (headers, Bytes::from(forged))
    }

    fn test(&self) -> Option<(HeaderMap, Bytes)> {
        let rtn = RtnMessageBuilder::new(POLICY_APP, "SUBSCRIPTION_PURCHASED", "policy-live-test")
            .beta_product_transaction(true);
        let d = self.notification(rtn.to_json()).sign();
        Some((d.headers, d.body))
    }

    fn unusable(&self) -> Option<(HeaderMap, Bytes)> {
        let d = self.notification("hello from a misconfigured topic").sign();
        Some((d.headers, d.body))
    }

    fn control(&self) -> Option<(HeaderMap, Bytes)> {
        let d = self.subscription_confirmation("policy-token").sign();
        Some((d.headers, d.body))
    }
}

impl Default for SnsSigner {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for SnsSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SnsSigner")
            .field("topic_arn", &self.topic_arn)
            .finish_non_exhaustive()
    }
}

fn pem_body(pem: &str) -> Vec<u8> {
    crate::kernel::pem::first(pem.as_bytes(), "PRIVATE KEY").unwrap_or_default()
}

/// `n` and `d` of a PKCS#8 `PrivateKeyInfo` holding an `RSAPrivateKey` (RFC 8017 A.1.2).
fn rsa_private_numbers(pkcs8: &[u8]) -> Option<(BigUint, BigUint)> {
    use x509_parser::der_parser::parse_der;
    let (_, info) = parse_der(pkcs8).ok()?;
    let octets = info.as_sequence().ok()?.get(2)?.as_slice().ok()?;
    let (_, key) = parse_der(octets).ok()?;
    let fields = key.as_sequence().ok()?;
    Some((
        fields.get(1)?.as_biguint().ok()?,
        fields.get(3)?.as_biguint().ok()?,
    ))
}

/// One SNS message being built; [`sign`](SnsBuilder::sign) it.
#[derive(Clone)]
pub struct SnsBuilder {
    signer: SnsSigner,
    message_type: &'static str,
    message_id: String,
    topic_arn: String,
    subject: Option<String>,
    message: String,
    timestamp: String,
    version: SignatureVersion,
    cert_url: String,
    subscribe_url: Option<String>,
    token: Option<String>,
}

impl SnsBuilder {
    /// `MessageId` (default: a fresh UUID-shaped id).
    #[must_use]
    pub fn message_id(mut self, id: impl Into<String>) -> Self {
        self.message_id = id.into();
        self
    }

    /// `Subject` (notifications only; default none).
    #[must_use]
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// `Timestamp` as sent (default `2025-12-31T23:59:30.000Z`).
    #[must_use]
    pub fn timestamp(mut self, timestamp: impl Into<String>) -> Self {
        self.timestamp = timestamp.into();
        self
    }

    /// `TopicArn` (default: the signer's).
    #[must_use]
    pub fn topic_arn(mut self, topic_arn: impl Into<String>) -> Self {
        self.topic_arn = topic_arn.into();
        self
    }

    /// `SignatureVersion` (default 2).
    #[must_use]
    pub fn signature_version(mut self, version: SignatureVersion) -> Self {
        self.version = version;
        self
    }

    /// `SigningCertURL` (default [`SnsSigner::CERT_URL`], on the host of the signer's topic's
    /// region), to test the URL rules.
    #[must_use]
    pub fn signing_cert_url(mut self, url: impl Into<String>) -> Self {
        self.cert_url = url.into();
        self
    }

    /// `SubscribeURL` of a confirmation (default: the SNS `ConfirmSubscription` URL).
    #[must_use]
    pub fn subscribe_url(mut self, url: impl Into<String>) -> Self {
        self.subscribe_url = Some(url.into());
        self
    }

    /// Signs and returns the body (pretty JSON in SNS's key order) and SNS's headers.
    pub fn sign(self) -> SnsDelivery {
        let notification = self.message_type == "Notification";
        let mut signed: Vec<(&str, &str)> =
            vec![("Message", &self.message), ("MessageId", &self.message_id)];
        if notification {
            if let Some(subject) = &self.subject {
                signed.push(("Subject", subject));
            }
        } else {
            signed.push(("SubscribeURL", self.subscribe_url.as_deref().unwrap_or("")));
        }
        signed.push(("Timestamp", &self.timestamp));
        if !notification {
            signed.push(("Token", self.token.as_deref().unwrap_or("")));
        }
        signed.push(("TopicArn", &self.topic_arn));
        signed.push(("Type", self.message_type));
        let string_to_sign = crate::amazon::string_to_sign_for_tests(&signed);
        let signature = self.signer.sign(self.version, string_to_sign.as_bytes());

        let mut fields: Vec<(&str, &str)> =
            vec![("Type", self.message_type), ("MessageId", &self.message_id)];
        if let Some(token) = &self.token {
            fields.push(("Token", token));
        }
        fields.push(("TopicArn", &self.topic_arn));
        if let (true, Some(subject)) = (notification, &self.subject) {
            fields.push(("Subject", subject));
        }
        fields.push(("Message", &self.message));
        if let (false, Some(url)) = (notification, &self.subscribe_url) {
            fields.push(("SubscribeURL", url));
        }
        fields.push(("Timestamp", &self.timestamp));
        fields.push(("SignatureVersion", self.version.as_str()));
        fields.push(("Signature", &signature));
        fields.push(("SigningCertURL", &self.cert_url));
        let unsubscribe = format!(
            "https://{}/?Action=Unsubscribe&SubscriptionArn={}:test",
            self.signer.host(),
            self.topic_arn
        );
        if notification {
            fields.push(("UnsubscribeURL", &unsubscribe));
        }
        let entries: Vec<String> = fields
            .iter()
            .map(|(k, v)| format!("  \"{k}\" : {}", serde_json::Value::from(*v)))
            .collect();
        let body = Bytes::from(format!("{{\n{}\n}}", entries.join(",\n")));

        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("content-type", "text/plain; charset=UTF-8"),
            ("user-agent", "Amazon Simple Notification Service Agent"),
            ("x-amz-sns-message-type", self.message_type),
            ("x-amz-sns-message-id", &self.message_id),
            ("x-amz-sns-topic-arn", &self.topic_arn),
        ] {
            if let Ok(v) = HeaderValue::from_str(value) {
                headers.insert(name, v);
            }
        }
        SnsDelivery { headers, body }
    }
}

impl fmt::Debug for SnsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SnsBuilder")
            .field("type", &self.message_type)
            .field("message_id", &self.message_id)
            .finish_non_exhaustive()
    }
}

/// A signed SNS delivery: POST `body` with `headers`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SnsDelivery {
    /// `Content-Type: text/plain; charset=UTF-8`, `x-amz-sns-message-type`, `-message-id`,
    /// `-topic-arn`, as SNS sends them.
    pub headers: HeaderMap,
    /// The JSON body.
    pub body: Bytes,
}

/// Builds RTN message JSON (the SNS `Message` of an Amazon Appstore notification).
///
/// ```
/// use store_notifications::testing::RtnMessageBuilder;
/// let json = RtnMessageBuilder::new("com.example.app", "ENTITLEMENT_PURCHASED", "r:3:11")
///     .app_user_id("user-1")
///     .to_json();
/// assert!(json.contains(r#""receiptId":"r:3:11""#));
/// ```
#[derive(Debug, Clone)]
pub struct RtnMessageBuilder {
    fields: serde_json::Map<String, serde_json::Value>,
}

impl RtnMessageBuilder {
    /// An RTN for `app_package_name`, of `notification_type`, about `receipt_id`, with an
    /// `appUserId`, empty `relatedReceipts`, `timestamp` 2025-12-31T23:59:25Z and
    /// `betaProductTransaction` false.
    pub fn new(app_package_name: &str, notification_type: &str, receipt_id: &str) -> Self {
        let mut fields = serde_json::Map::new();
        fields.insert("appPackageName".into(), app_package_name.into());
        fields.insert("notificationType".into(), notification_type.into());
        fields.insert("appUserId".into(), "test-app-user-id".into());
        fields.insert("receiptId".into(), receipt_id.into());
        fields.insert("relatedReceipts".into(), serde_json::json!({}));
        fields.insert("timestamp".into(), 1_767_225_565_000_i64.into());
        fields.insert("betaProductTransaction".into(), false.into());
        RtnMessageBuilder { fields }
    }

    /// `appUserId`.
    #[must_use]
    pub fn app_user_id(self, id: &str) -> Self {
        self.field("appUserId", id.into())
    }

    /// `timestamp` in milliseconds since the Unix epoch.
    #[must_use]
    pub fn timestamp_ms(self, ms: i64) -> Self {
        self.field("timestamp", ms.into())
    }

    /// `betaProductTransaction` (Live App Testing).
    #[must_use]
    pub fn beta_product_transaction(self, beta: bool) -> Self {
        self.field("betaProductTransaction", beta.into())
    }

    /// Adds a `relatedReceipts` entry.
    #[must_use]
    pub fn related_receipt(mut self, key: &str, receipt_id: &str) -> Self {
        if let Some(serde_json::Value::Object(map)) = self.fields.get_mut("relatedReceipts") {
            map.insert(key.into(), receipt_id.into());
        }
        self
    }

    /// `sku`.
    #[must_use]
    pub fn sku(self, sku: &str) -> Self {
        self.field("sku", sku.into())
    }

    /// Any other field, to test unknown ones.
    #[must_use]
    pub fn field(mut self, name: &str, value: serde_json::Value) -> Self {
        self.fields.insert(name.into(), value);
        self
    }

    /// The compact JSON SNS carries in `Message`.
    pub fn to_json(&self) -> String {
        serde_json::Value::Object(self.fields.clone()).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amazon::AmazonStore;

    #[test]
    fn the_embedded_test_key_loads() {
        let signer = SnsSigner::new();
        assert_eq!(signer.key.public().modulus_len(), 256);
        assert_eq!(signer.pinned_certs().len(), 1);
    }

    #[tokio::test]
    async fn both_signature_versions_verify() {
        let signer = SnsSigner::new();
        let store = AmazonStore::new(signer.pinned_certs());
        for version in [SignatureVersion::V1, SignatureVersion::V2] {
            let rtn = RtnMessageBuilder::new("a", "SUBSCRIPTION_PURCHASED", "r");
            let d = signer
                .notification(rtn.to_json())
                .subject("s")
                .signature_version(version)
                .sign();
            store
                .verify_marked(&d.headers, &d.body)
                .await
                .unwrap_or_else(|e| panic!("{version:?}: {e}"));
            let d = signer
                .subscription_confirmation("t")
                .signature_version(version)
                .sign();
            store
                .verify_marked(&d.headers, &d.body)
                .await
                .unwrap_or_else(|e| panic!("{version:?}: {e}"));
        }
    }
}
