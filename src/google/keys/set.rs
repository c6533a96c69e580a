//! [`KeySet`]: Google's keys parsed once, from a JWKS or a `{kid: PEM certificate}` map.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use ring::signature::{RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
use serde::Deserialize;

use crate::kernel::encoding::b64url_decode;
use crate::kernel::{json, pem};

/// One RSA public key, its modulus and exponent decoded once.
#[derive(Clone, Debug)]
pub(crate) struct RsaKey {
    components: RsaPublicKeyComponents<Vec<u8>>,
}

impl PartialEq for RsaKey {
    fn eq(&self, other: &Self) -> bool {
        self.components.n == other.components.n && self.components.e == other.components.e
    }
}

impl Eq for RsaKey {}

impl RsaKey {
    /// Big-endian modulus and exponent; leading zero bytes are dropped (ring wants minimal
    /// encodings, DER integers carry a sign byte). RS256 with keys of 2048 to 8192 bits only.
    fn new(n: &[u8], e: &[u8]) -> Option<Self> {
        let n = strip_leading_zeros(n);
        let e = strip_leading_zeros(e);
        if !(256..=1024).contains(&n.len()) || e.is_empty() || e.len() > 4 {
            return None;
        }
        Some(RsaKey {
            components: RsaPublicKeyComponents {
                n: n.to_vec(),
                e: e.to_vec(),
            },
        })
    }

    /// One RSASSA-PKCS1-v1_5 SHA-256 verification.
    pub(crate) fn verify_rs256(&self, message: &[u8], signature: &[u8]) -> bool {
        self.components
            .verify(&RSA_PKCS1_2048_8192_SHA256, message, signature)
            .is_ok()
    }
}

fn strip_leading_zeros(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    b.get(start..).unwrap_or_default()
}

/// Why a key set could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError(String);

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for KeyError {}

/// Google's public RSA signing keys, by key id (`kid`), parsed once.
///
/// ```
/// use store_notifications::google::KeySet;
///
/// // A key set without a single usable RS256 key is a configuration error.
/// assert!(KeySet::from_jwks(br#"{"keys": [{"kty": "EC", "kid": "k1"}]}"#).is_err());
/// assert!(KeySet::from_pem_certificates(b"{}").is_err());
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct KeySet {
    keys: HashMap<String, Arc<RsaKey>>,
}

impl KeySet {
    /// Parses a JWKS (`{"keys": [{"kty": "RSA", "kid", "n", "e", "alg", "use"}, …]}`), the form
    /// of <https://www.googleapis.com/oauth2/v3/certs>.
    ///
    /// Keys that cannot sign RS256 tokens (other `kty`, `use` other than `sig`, `alg` other than
    /// `RS256`, no `kid`, a modulus under 2048 bits) are skipped, so a key type Google adds later
    /// does not break verification; a set with no usable key at all is an error.
    pub fn from_jwks(json: &[u8]) -> Result<Self, KeyError> {
        #[derive(Deserialize)]
        struct Jwks {
            keys: Vec<serde_json::Value>,
        }
        #[derive(Deserialize)]
        struct Jwk {
            kty: String,
            kid: Option<String>,
            #[serde(rename = "use")]
            use_: Option<String>,
            alg: Option<String>,
            n: Option<String>,
            e: Option<String>,
        }
        let jwks: Jwks = serde_json::from_slice(json)
            .map_err(|e| KeyError(format!("not a JWKS document: {}", json::describe(&e))))?;
        let mut keys = HashMap::new();
        for value in jwks.keys {
            let Ok(jwk) = serde_json::from_value::<Jwk>(value) else {
                continue;
            };
            let usable = jwk.kty == "RSA"
                && jwk.use_.as_deref().is_none_or(|u| u == "sig")
                && jwk.alg.as_deref().is_none_or(|a| a == "RS256");
            let (Some(kid), Some(n), Some(e), true) = (jwk.kid, jwk.n, jwk.e, usable) else {
                continue;
            };
            let (Some(n), Some(e)) = (b64url_decode(&n), b64url_decode(&e)) else {
                continue;
            };
            if let Some(key) = RsaKey::new(&n, &e) {
                keys.insert(kid, Arc::new(key));
            }
        }
        KeySet::non_empty(keys)
    }

    /// Parses the `{kid: "-----BEGIN CERTIFICATE-----…"}` map of
    /// <https://www.googleapis.com/oauth2/v1/certs>.
    ///
    /// Only each certificate's RSA public key is used, as Google's own libraries do: the
    /// certificates are self-signed containers for the key, not a chain to validate.
    pub fn from_pem_certificates(json: &[u8]) -> Result<Self, KeyError> {
        let map: HashMap<String, String> = serde_json::from_slice(json).map_err(|e| {
            KeyError(format!(
                "not a {{kid: PEM certificate}} map: {}",
                json::describe(&e)
            ))
        })?;
        let mut keys = HashMap::new();
        for (kid, pem) in map {
            if let Some(key) = rsa_key_of_pem_certificate(pem.as_bytes()) {
                keys.insert(kid, Arc::new(key));
            }
        }
        KeySet::non_empty(keys)
    }

    /// Parses either form, telling them apart by the JWKS `keys` array.
    pub fn from_json(json: &[u8]) -> Result<Self, KeyError> {
        #[derive(Deserialize)]
        struct Probe {
            keys: Option<serde::de::IgnoredAny>,
        }
        match serde_json::from_slice::<Probe>(json) {
            Ok(Probe { keys: Some(_) }) => KeySet::from_jwks(json),
            _ => KeySet::from_pem_certificates(json),
        }
    }

    fn non_empty(keys: HashMap<String, Arc<RsaKey>>) -> Result<Self, KeyError> {
        if keys.is_empty() {
            Err(KeyError("no usable RS256 key in the key set".into()))
        } else {
            Ok(KeySet { keys })
        }
    }

    /// How many keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether a key with this `kid` is in the set.
    pub fn contains(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }

    /// The key ids, in no particular order.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    pub(crate) fn get(&self, kid: &str) -> Option<&Arc<RsaKey>> {
        self.keys.get(kid)
    }
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySet")
            .field("kids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn rsa_key_of_pem_certificate(pem: &[u8]) -> Option<RsaKey> {
    use x509_parser::public_key::PublicKey;
    let der = pem::first(pem, "CERTIFICATE").ok()?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der).ok()?;
    match cert.public_key().parsed().ok()? {
        PublicKey::RSA(rsa) => RsaKey::new(rsa.modulus, rsa.exponent),
        _ => None,
    }
}

#[cfg(all(test, feature = "test-util"))]
mod tests {
    use super::*;
    use crate::testing::GoogleSigner;

    #[test]
    fn jwks_keys_that_cannot_sign_rs256_are_skipped() {
        let signer = GoogleSigner::new();
        let jwks: serde_json::Value = serde_json::from_str(&signer.jwks()).expect("jwks");
        let good = jwks["keys"][0].clone();
        let mut ec = good.clone();
        ec["kty"] = "EC".into();
        ec["kid"] = "ec".into();
        let mut enc = good.clone();
        enc["use"] = "enc".into();
        enc["kid"] = "enc".into();
        let mut rs512 = good.clone();
        rs512["alg"] = "RS512".into();
        rs512["kid"] = "rs512".into();
        let mut small = good.clone();
        small["n"] = "AQAB".into();
        small["kid"] = "small".into();
        let doc = serde_json::json!({ "keys": [good, ec, enc, rs512, small, 42] });
        let set = KeySet::from_jwks(doc.to_string().as_bytes()).expect("one usable key");
        assert_eq!(set.kids().collect::<Vec<_>>(), vec![signer.kid()]);
        let none = serde_json::json!({ "keys": [] });
        assert!(KeySet::from_jwks(none.to_string().as_bytes()).is_err());
        assert!(KeySet::from_jwks(b"not json").is_err());
    }

    #[test]
    fn pem_certificate_maps_give_the_same_key_as_the_jwks() {
        let signer = GoogleSigner::new();
        let from_pem =
            KeySet::from_pem_certificates(signer.pem_certificates().as_bytes()).expect("pem map");
        let from_jwks = KeySet::from_jwks(signer.jwks().as_bytes()).expect("jwks");
        assert_eq!(from_pem, from_jwks);
        assert_eq!(
            KeySet::from_json(signer.pem_certificates().as_bytes()).expect("auto"),
            from_jwks
        );
        assert_eq!(
            KeySet::from_json(signer.jwks().as_bytes()).expect("auto"),
            from_jwks
        );
        assert!(
            KeySet::from_pem_certificates(
                br#"{"k":"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}"#
            )
            .is_err()
        );
    }
}
