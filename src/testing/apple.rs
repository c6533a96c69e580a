//! An App Store Server Notifications V2 signer with a throwaway certificate chain.

use std::fmt;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue};
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType, IsCa, Issuer,
    KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, date_time_ymd,
};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use serde_json::{Value, json};

use super::PolicySigner;
use super::policy::POLICY_NOW;
use crate::apple::{AppleRoot, AppleStore, Environment};
use crate::{BoxError, Clock};

/// Apple's marker extensions, with an ASN.1 NULL value as Apple's certificates carry them.
const LEAF_MARKER: &[u64] = &[1, 2, 840, 113_635, 100, 6, 11, 1];
const INTERMEDIATE_MARKER: &[u64] = &[1, 2, 840, 113_635, 100, 6, 2, 1];
const ASN1_NULL: [u8; 2] = [0x05, 0x00];

/// Signs App Store Server Notifications V2 as Apple does, with a freshly generated P-256
/// root, intermediate (marker `1.2.840.113635.100.6.2.1`) and leaf (marker
/// `1.2.840.113635.100.6.11.1`), all valid 2020–2049. Configure the store to trust
/// [`root`](Self::root) (or take [`store`](Self::store)).
///
/// ```
/// use store_notifications::apple::Environment;
/// use store_notifications::testing::AppleSigner;
/// use store_notifications::{Clock, Notification};
///
/// let signer = AppleSigner::new("com.example.app", Environment::Sandbox);
/// let body = signer.notification("DID_RENEW", None, "uuid-1", Some("2000000000000001"), 1_767_225_570_000);
///
/// let store = store_notifications::AppleStore::sandbox("com.example.app")
///     .with_only_trusted_roots(signer.root(), [])
///     .with_clock(Clock::from_unix(1_767_225_600));
/// let n = store.verify_at(&http::HeaderMap::new(), &body, store.now()).unwrap().notification().unwrap();
/// assert_eq!(n.id(), "uuid-1");
/// assert_eq!(n.receipt().unwrap().reference, "2000000000000001");
/// assert_eq!(n.transaction().unwrap().product_id.as_deref(), Some("com.example.app.premium"));
/// ```
#[derive(Clone)]
pub struct AppleSigner {
    bundle_id: String,
    environment: Environment,
    app_apple_id: i64,
    product_id: String,
    /// `x5c` as DER: leaf, intermediate, root.
    chain: Arc<[Vec<u8>; 3]>,
    /// The root, parsed as a store trusts it.
    root: AppleRoot,
    /// The leaf's PKCS#8 private key, kept for [`AppleSigner::to_pem`].
    leaf_pkcs8: Arc<Vec<u8>>,
    header_b64: String,
    key: Arc<EcdsaKeyPair>,
    rng: SystemRandom,
}

impl AppleSigner {
    /// A signer for `bundle_id` in `environment`, with app Apple ID `1234567890` and product
    /// `{bundle_id}.premium`.
    ///
    /// # Panics
    ///
    /// If the system random generator fails (see [`try_new`](Self::try_new)).
    pub fn new(bundle_id: impl Into<String>, environment: Environment) -> Self {
        match Self::try_new(bundle_id, environment) {
            Ok(signer) => signer,
            Err(e) => panic!("cannot make a test certificate chain: {e}"),
        }
    }

    /// Like [`new`](Self::new), reporting a failure to generate keys or certificates.
    pub fn try_new(
        bundle_id: impl Into<String>,
        environment: Environment,
    ) -> Result<Self, BoxError> {
        let bundle_id = bundle_id.into();
        let root_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let intermediate_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let leaf_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;

        let mut root = params("store-notifications Test Root CA");
        root.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        root.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let root_cert = root.self_signed(&root_key)?;
        let root_issuer = Issuer::new(root, &root_key);

        let mut intermediate = params("store-notifications Test WWDR Intermediate");
        intermediate.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        intermediate.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        intermediate.custom_extensions = vec![CustomExtension::from_oid_content(
            INTERMEDIATE_MARKER,
            ASN1_NULL.to_vec(),
        )];
        let intermediate_cert = intermediate.signed_by(&intermediate_key, &root_issuer)?;
        let intermediate_issuer = Issuer::new(intermediate, &intermediate_key);

        let mut leaf = params("store-notifications Test Signing Leaf");
        leaf.is_ca = IsCa::ExplicitNoCa;
        leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        leaf.custom_extensions = vec![CustomExtension::from_oid_content(
            LEAF_MARKER,
            ASN1_NULL.to_vec(),
        )];
        let leaf_cert = leaf.signed_by(&leaf_key, &intermediate_issuer)?;

        Self::from_parts(
            bundle_id,
            environment,
            [
                leaf_cert.der().to_vec(),
                intermediate_cert.der().to_vec(),
                root_cert.der().to_vec(),
            ],
            leaf_key.serialized_der().to_vec(),
        )
    }

    /// The signing material as PEM: the `x5c` chain (leaf, intermediate, root) as three
    /// `CERTIFICATE` blocks and the leaf's key as a `PRIVATE KEY` block, so another process can
    /// sign with the same chain ([`from_pem`](Self::from_pem)). Throwaway test material only.
    pub fn to_pem(&self) -> String {
        let mut pem = String::new();
        for der in self.chain.iter() {
            pem.push_str(&pem_block("CERTIFICATE", der));
        }
        pem.push_str(&pem_block("PRIVATE KEY", &self.leaf_pkcs8));
        pem
    }

    /// A signer for `bundle_id` in `environment` from the material [`to_pem`](Self::to_pem)
    /// wrote.
    ///
    /// ```
    /// use store_notifications::apple::Environment;
    /// use store_notifications::testing::AppleSigner;
    ///
    /// let signer = AppleSigner::new("com.example.app", Environment::Sandbox);
    /// let again = AppleSigner::from_pem("com.example.app", Environment::Sandbox, &signer.to_pem()).unwrap();
    /// assert_eq!(again.root_der(), signer.root_der());
    /// ```
    pub fn from_pem(
        bundle_id: impl Into<String>,
        environment: Environment,
        pem: &str,
    ) -> Result<Self, BoxError> {
        let mut certs = Vec::new();
        let mut key = None;
        for block in x509_parser::pem::Pem::iter_from_buffer(pem.as_bytes()) {
            let block = block?;
            match block.label.as_str() {
                "CERTIFICATE" => certs.push(block.contents),
                "PRIVATE KEY" if key.is_none() => key = Some(block.contents),
                _ => {}
            }
        }
        let [leaf, intermediate, root]: [Vec<u8>; 3] = certs
            .try_into()
            .map_err(|_| "expected exactly three CERTIFICATE blocks (leaf, intermediate, root)")?;
        let key = key.ok_or("no PRIVATE KEY block")?;
        Self::from_parts(
            bundle_id.into(),
            environment,
            [leaf, intermediate, root],
            key,
        )
    }

    fn from_parts(
        bundle_id: String,
        environment: Environment,
        chain: [Vec<u8>; 3],
        leaf_pkcs8: Vec<u8>,
    ) -> Result<Self, BoxError> {
        let header = json!({
            "alg": "ES256",
            "x5c": chain.iter().map(|der| STANDARD.encode(der)).collect::<Vec<_>>(),
        });
        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &leaf_pkcs8, &rng)
            .map_err(|e| format!("leaf key: {e}"))?;
        let root = AppleRoot::from_der(&chain[2])?;
        Ok(AppleSigner {
            product_id: format!("{bundle_id}.premium"),
            bundle_id,
            environment,
            app_apple_id: 1_234_567_890,
            chain: Arc::new(chain),
            root,
            leaf_pkcs8: Arc::new(leaf_pkcs8),
            header_b64: crate::apple::encode_b64url(header.to_string().as_bytes()),
            key: Arc::new(key),
            rng,
        })
    }

    /// Uses another app Apple ID in the notifications.
    #[must_use]
    pub fn with_app_apple_id(mut self, app_apple_id: i64) -> Self {
        self.app_apple_id = app_apple_id;
        self
    }

    /// Uses another product id in the transactions and renewal info.
    #[must_use]
    pub fn with_product_id(mut self, product_id: impl Into<String>) -> Self {
        self.product_id = product_id.into();
        self
    }

    /// The test root certificate (DER).
    pub fn root_der(&self) -> &[u8] {
        &self.chain[2]
    }

    /// The test root, to trust with [`AppleStore::with_trusted_root`] or
    /// [`AppleStore::with_only_trusted_roots`].
    pub fn root(&self) -> AppleRoot {
        self.root.clone()
    }

    /// A store for this signer's app that trusts only this signer's root.
    pub fn store(&self) -> AppleStore {
        let store = match AppleStore::new(
            self.bundle_id.clone(),
            self.environment.clone(),
            Some(self.app_apple_id),
        ) {
            Ok(store) => store,
            Err(_) => AppleStore::production(self.bundle_id.clone(), self.app_apple_id),
        };
        store.with_only_trusted_roots(self.root(), [])
    }

    /// Signs `payload` (any bytes, usually JSON) into a compact JWS with the test chain.
    pub fn sign(&self, payload: &[u8]) -> String {
        let signing_input = format!(
            "{}.{}",
            self.header_b64,
            crate::apple::encode_b64url(payload)
        );
        let signature = self
            .key
            .sign(&self.rng, signing_input.as_bytes())
            .map(|s| crate::apple::encode_b64url(s.as_ref()))
            .unwrap_or_default();
        format!("{signing_input}.{signature}")
    }

    /// A signed `JWSTransactionDecodedPayload` for a subscription.
    pub fn signed_transaction(
        &self,
        original_transaction_id: &str,
        transaction_id: &str,
        signed_date_ms: i64,
    ) -> String {
        let payload = json!({
            "transactionId": transaction_id,
            "originalTransactionId": original_transaction_id,
            "bundleId": self.bundle_id,
            "productId": self.product_id,
            "purchaseDate": signed_date_ms.saturating_sub(1000),
            "originalPurchaseDate": signed_date_ms.saturating_sub(1000),
            "expiresDate": signed_date_ms.saturating_add(30 * 86_400_000),
            "quantity": 1,
            "type": "Auto-Renewable Subscription",
            "inAppOwnershipType": "PURCHASED",
            "signedDate": signed_date_ms,
            "environment": self.environment.as_str(),
            "transactionReason": "PURCHASE",
            "storefront": "USA",
            "storefrontId": "143441",
            "price": 9990,
            "currency": "USD",
        });
        self.sign(payload.to_string().as_bytes())
    }

    /// A signed `JWSRenewalInfoDecodedPayload`.
    pub fn signed_renewal_info(
        &self,
        original_transaction_id: &str,
        signed_date_ms: i64,
    ) -> String {
        let payload = json!({
            "originalTransactionId": original_transaction_id,
            "autoRenewProductId": self.product_id,
            "productId": self.product_id,
            "autoRenewStatus": 1,
            "signedDate": signed_date_ms,
            "environment": self.environment.as_str(),
            "renewalDate": signed_date_ms.saturating_add(30 * 86_400_000),
        });
        self.sign(payload.to_string().as_bytes())
    }

    /// A notification POST body: `data` with nested signed transaction and renewal info when
    /// `original_transaction_id` is given (its transaction id is `{original}-1`).
    pub fn notification(
        &self,
        notification_type: &str,
        subtype: Option<&str>,
        notification_uuid: &str,
        original_transaction_id: Option<&str>,
        signed_date_ms: i64,
    ) -> Bytes {
        self.body(&self.signed_notification(
            notification_type,
            subtype,
            notification_uuid,
            original_transaction_id,
            signed_date_ms,
        ))
    }

    /// The `signedPayload` JWS of [`notification`](Self::notification).
    fn signed_notification(
        &self,
        notification_type: &str,
        subtype: Option<&str>,
        notification_uuid: &str,
        original_transaction_id: Option<&str>,
        signed_date_ms: i64,
    ) -> String {
        let mut data = json!({
            "appAppleId": self.app_apple_id,
            "bundleId": self.bundle_id,
            "bundleVersion": "1",
            "environment": self.environment.as_str(),
        });
        if let (Some(original), Some(object)) = (original_transaction_id, data.as_object_mut()) {
            let transaction_id = format!("{original}-1");
            object.insert(
                "signedTransactionInfo".into(),
                Value::from(self.signed_transaction(original, &transaction_id, signed_date_ms)),
            );
            object.insert(
                "signedRenewalInfo".into(),
                Value::from(self.signed_renewal_info(original, signed_date_ms)),
            );
            object.insert("status".into(), Value::from(1));
        }
        let mut payload = json!({
            "notificationType": notification_type,
            "notificationUUID": notification_uuid,
            "data": data,
            "version": "2.0",
            "signedDate": signed_date_ms,
        });
        if let (Some(subtype), Some(object)) = (subtype, payload.as_object_mut()) {
            object.insert("subtype".into(), Value::from(subtype));
        }
        self.sign(payload.to_string().as_bytes())
    }

    /// A `TEST` notification POST body.
    pub fn test_notification(&self, notification_uuid: &str, signed_date_ms: i64) -> Bytes {
        self.notification("TEST", None, notification_uuid, None, signed_date_ms)
    }

    /// The POST body `{"signedPayload": "<signed_payload>"}`.
    pub fn body(&self, signed_payload: &str) -> Bytes {
        Bytes::from(json!({ "signedPayload": signed_payload }).to_string())
    }

    /// The headers Apple sends (`Content-Type: application/json`).
    pub fn headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers
    }
}

/// Notifications signed 30 s before the store's fixed clock: a receipt is a `DID_RENEW` about
/// that original transaction (transaction and renewal info signed by the same chain), the test
/// message is `TEST`, the unreferenced one a `METADATA_UPDATE` without transaction info, the
/// forged one a receipt's payload with the signature of other bytes, and the unusable one a
/// JWS over bytes that are not JSON.
impl PolicySigner for AppleSigner {
    type Store = AppleStore;

    fn store(&self) -> AppleStore {
        AppleSigner::store(self).with_clock(Clock::from_unix(POLICY_NOW))
    }

    fn receipt(&self, reference: &str) -> (HeaderMap, Bytes) {
        let body = self.notification(
            "DID_RENEW",
            None,
            "policy-receipt",
            Some(reference),
            POLICY_SIGNED_AT_MS,
        );
        (self.headers(), body)
    }

    fn forged(&self, reference: &str) -> (HeaderMap, Bytes) {
        let jws = self.signed_notification(
            "DID_RENEW",
            None,
            "policy-receipt",
            Some(reference),
            POLICY_SIGNED_AT_MS,
        );
        let other = self.sign(b"{}");
        let forged = match (jws.rsplit_once('.'), other.rsplit_once('.')) {
            (Some((signing_input, _)), Some((_, signature))) => {
                format!("{signing_input}.{signature}")
            }
            _ => String::new(),
        };
        (self.headers(), self.body(&forged))
    }

    fn test(&self) -> Option<(HeaderMap, Bytes)> {
        let body = self.test_notification("policy-test", POLICY_SIGNED_AT_MS);
        Some((self.headers(), body))
    }

    fn unreferenced(&self) -> Option<(HeaderMap, Bytes)> {
        let body = self.notification(
            "METADATA_UPDATE",
            None,
            "policy-unreferenced",
            None,
            POLICY_SIGNED_AT_MS,
        );
        Some((self.headers(), body))
    }

    fn unusable(&self) -> Option<(HeaderMap, Bytes)> {
        Some((self.headers(), self.body(&self.sign(b"this is not JSON"))))
    }
}

/// When the policy notifications are signed (ms): 30 s before the store's clock.
const POLICY_SIGNED_AT_MS: i64 = (POLICY_NOW as i64 - 30) * 1000;

/// One PEM block with 64-column base64 lines.
fn pem_block(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn params(common_name: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn.push(DnType::OrganizationName, "store-notifications test");
    params.distinguished_name = dn;
    params.not_before = date_time_ymd(2020, 1, 1);
    params.not_after = date_time_ymd(2049, 12, 31);
    params
}

impl fmt::Debug for AppleSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppleSigner")
            .field("bundle_id", &self.bundle_id)
            .field("environment", &self.environment)
            .field("app_apple_id", &self.app_apple_id)
            .field("key", &"[redacted]")
            .finish_non_exhaustive()
    }
}
