//! The `x5c` certificate chain: leaf → intermediate → one of the configured trusted roots.
//!
//! Rules, as Apple's app-store-server libraries apply them (python `signed_data_verifier.py`,
//! node `jws_verification.ts`, java `ChainVerifier.java`):
//!
//! - the leaf is signed by the intermediate, the intermediate by a **configured** root. The third
//!   `x5c` entry must be present but is never used for trust (python never decodes it, node slices
//!   the chain to two, java leaves it out of the PKIX path; Apple's own test vector carries an
//!   x5c root that differs from its `testCA.der`);
//! - the leaf carries Apple's marker extension `1.2.840.113635.100.6.11.1`, the intermediate
//!   `1.2.840.113635.100.6.2.1` (python `check_oid`, java `AppleExtensionCertPathChecker`);
//! - the intermediate is a CA (basic constraints) whose key usage, when present, allows
//!   certificate signing; a root's path length, when present, allows one intermediate; a
//!   certificate with a critical extension this parser does not understand is refused (PKIX and
//!   OpenSSL do the same);
//! - names chain (issuer of the child = subject of the parent, compared as DER) and every
//!   signature is ECDSA (P-256 or P-384, SHA-256 or SHA-384) checked with ring;
//! - leaf, intermediate and root are valid at the effective date. That check needs no crypto:
//!   the verified chain is cached with the intersection of its validity windows, keyed by the
//!   certificates and only once a signature made with its leaf key has verified.
//!
//! Online revocation (OCSP) is not checked: Apple's libraries only do it in their online mode and
//! it would put a network round trip on the path of every new chain.

use std::sync::{Mutex, PoisonError};

use ring::signature::{self, UnparsedPublicKey};
use x509_parser::certificate::X509Certificate;
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_SIG_ECDSA_WITH_SHA256,
    OID_SIG_ECDSA_WITH_SHA384,
};
use x509_parser::prelude::FromDer;
use x509_parser::x509::SubjectPublicKeyInfo;

use crate::rejection::{Rejection, RejectionKind};

/// DER content of OID 1.2.840.113635.100.6.11.1 (Apple's leaf marker for App Store signing).
pub(crate) const LEAF_MARKER_OID: &[u8] =
    &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x63, 0x64, 0x06, 0x0B, 0x01];
/// DER content of OID 1.2.840.113635.100.6.2.1 (Apple WWDR intermediate marker).
pub(crate) const INTERMEDIATE_MARKER_OID: &[u8] =
    &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x63, 0x64, 0x06, 0x02, 0x01];

/// An elliptic curve public key an issuer signs certificates with.
#[derive(Clone, PartialEq, Eq)]
struct EcKey {
    curve: Curve,
    point: Vec<u8>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Curve {
    P256,
    P384,
}

impl EcKey {
    fn from_spki(spki: &SubjectPublicKeyInfo<'_>) -> Option<EcKey> {
        if spki.algorithm.algorithm != OID_KEY_TYPE_EC_PUBLIC_KEY {
            return None;
        }
        let curve_oid = spki.algorithm.parameters.as_ref()?.data;
        let curve = if curve_oid == OID_EC_P256.as_bytes() {
            Curve::P256
        } else if curve_oid == OID_NIST_EC_P384.as_bytes() {
            Curve::P384
        } else {
            return None;
        };
        Some(EcKey {
            curve,
            point: spki.subject_public_key.data.to_vec(),
        })
    }

    /// Whether `cert`'s signature verifies with this key.
    fn signed(&self, cert: &X509Certificate<'_>) -> bool {
        let sig_alg = &cert.signature_algorithm.algorithm;
        let alg: &'static signature::EcdsaVerificationAlgorithm =
            match (self.curve, sig_alg == &OID_SIG_ECDSA_WITH_SHA384) {
                _ if sig_alg != &OID_SIG_ECDSA_WITH_SHA256
                    && sig_alg != &OID_SIG_ECDSA_WITH_SHA384 =>
                {
                    return false;
                }
                (Curve::P256, false) => &signature::ECDSA_P256_SHA256_ASN1,
                (Curve::P256, true) => &signature::ECDSA_P256_SHA384_ASN1,
                (Curve::P384, false) => &signature::ECDSA_P384_SHA256_ASN1,
                (Curve::P384, true) => &signature::ECDSA_P384_SHA384_ASN1,
            };
        // The signature algorithm inside the signed TBS must match the outer one (RFC 5280
        // §4.1.1.2), or an attacker could relabel it.
        if cert.tbs_certificate.signature.algorithm != *sig_alg {
            return false;
        }
        UnparsedPublicKey::new(alg, &self.point)
            .verify(cert.tbs_certificate.as_ref(), &cert.signature_value.data)
            .is_ok()
    }
}

/// A configured trust anchor, parsed once.
#[derive(Clone)]
pub(crate) struct TrustedRoot {
    subject: Vec<u8>,
    key: EcKey,
    not_before: i64,
    not_after: i64,
    fingerprint_prefix: [u8; 8],
}

impl TrustedRoot {
    /// Parses a DER certificate. Only EC (P-256 / P-384) roots can sign App Store chains.
    pub(crate) fn from_der(der: &[u8]) -> Result<TrustedRoot, &'static str> {
        let cert = parse_exact(der).ok_or("not a DER X.509 certificate")?;
        let key = EcKey::from_spki(cert.public_key())
            .ok_or("the root's key is not an EC P-256 or P-384 key")?;
        let digest = ring::digest::digest(&ring::digest::SHA256, der);
        let mut fingerprint_prefix = [0; 8];
        fingerprint_prefix.copy_from_slice(digest.as_ref().get(..8).ok_or("digest")?);
        if cert
            .basic_constraints()
            .ok()
            .flatten()
            .and_then(|bc| bc.value.path_len_constraint)
            == Some(0)
        {
            return Err("the root's path length (0) leaves no room for Apple's intermediate");
        }
        if !allows_cert_sign(&cert) {
            return Err("the root's key usage does not allow certificate signing");
        }
        Ok(TrustedRoot {
            subject: cert.subject().as_raw().to_vec(),
            key,
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
            fingerprint_prefix,
        })
    }

    /// The first 8 bytes of the certificate's SHA-256 fingerprint, for `Debug`.
    pub(crate) fn fingerprint_prefix(&self) -> [u8; 8] {
        self.fingerprint_prefix
    }
}

/// A chain that passed every rule but the date: the leaf's P-256 key and the window in which
/// all three certificates are valid (Unix seconds, inclusive).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct VerifiedChain {
    pub(crate) leaf_key: [u8; 65],
    pub(crate) not_before: i64,
    pub(crate) not_after: i64,
}

impl VerifiedChain {
    /// The validity rule, at `at_ms` (Unix milliseconds).
    pub(crate) fn check_date(&self, at_ms: i64) -> Result<(), Rejection> {
        let at = i128::from(at_ms);
        if at > i128::from(self.not_after) * 1000 {
            Err(Rejection::new(
                RejectionKind::Expired,
                "a certificate of the x5c chain had expired at the effective date",
            ))
        } else if at < i128::from(self.not_before) * 1000 {
            Err(Rejection::new(
                RejectionKind::NotYetValid,
                "a certificate of the x5c chain was not yet valid at the effective date",
            ))
        } else {
            Ok(())
        }
    }
}

/// Verifies `[leaf, intermediate, root]` (standard base64 DER) against `roots`.
pub(crate) fn verify_chain(
    x5c: [&str; 3],
    roots: &[TrustedRoot],
) -> Result<VerifiedChain, Rejection> {
    let [leaf_b64, intermediate_b64, _unused_for_trust] = x5c;
    let leaf_der = decode_cert_b64(leaf_b64)?;
    let intermediate_der = decode_cert_b64(intermediate_b64)?;
    let leaf = parse_exact(&leaf_der)
        .ok_or_else(|| Rejection::unauthenticated("x5c leaf is not a DER certificate"))?;
    let intermediate = parse_exact(&intermediate_der)
        .ok_or_else(|| Rejection::unauthenticated("x5c intermediate is not a DER certificate"))?;

    if !has_extension(&leaf, LEAF_MARKER_OID) {
        return Err(Rejection::unauthenticated(
            "x5c leaf lacks Apple's marker 1.2.840.113635.100.6.11.1",
        ));
    }
    if !has_extension(&intermediate, INTERMEDIATE_MARKER_OID) {
        return Err(Rejection::unauthenticated(
            "x5c intermediate lacks Apple's marker 1.2.840.113635.100.6.2.1",
        ));
    }
    if has_unknown_critical_extension(&leaf) || has_unknown_critical_extension(&intermediate) {
        return Err(Rejection::unauthenticated(
            "x5c certificate has a critical extension that is not understood",
        ));
    }
    let intermediate_is_ca = intermediate
        .basic_constraints()
        .ok()
        .flatten()
        .is_some_and(|bc| bc.value.ca);
    if !intermediate_is_ca || !allows_cert_sign(&intermediate) {
        return Err(Rejection::unauthenticated(
            "x5c intermediate is not a certificate authority",
        ));
    }

    let intermediate_key = EcKey::from_spki(intermediate.public_key()).ok_or_else(|| {
        Rejection::unauthenticated("x5c intermediate key is not EC P-256 or P-384")
    })?;
    if leaf.issuer().as_raw() != intermediate.subject().as_raw() || !intermediate_key.signed(&leaf)
    {
        return Err(Rejection::unauthenticated(
            "x5c leaf is not signed by the intermediate",
        ));
    }
    let root = roots
        .iter()
        .find(|root| {
            intermediate.issuer().as_raw() == root.subject.as_slice()
                && root.key.signed(&intermediate)
        })
        .ok_or_else(|| {
            Rejection::unauthenticated("x5c intermediate is not issued by a trusted root")
        })?;

    let leaf_key = EcKey::from_spki(leaf.public_key())
        .filter(|k| k.curve == Curve::P256)
        .and_then(|k| <[u8; 65]>::try_from(k.point.as_slice()).ok())
        .ok_or_else(|| Rejection::unauthenticated("x5c leaf key is not an EC P-256 key"))?;

    let (leaf_v, int_v) = (leaf.validity(), intermediate.validity());
    Ok(VerifiedChain {
        leaf_key,
        not_before: root
            .not_before
            .max(leaf_v.not_before.timestamp())
            .max(int_v.not_before.timestamp()),
        not_after: root
            .not_after
            .min(leaf_v.not_after.timestamp())
            .min(int_v.not_after.timestamp()),
    })
}

fn decode_cert_b64(b64: &str) -> Result<Vec<u8>, Rejection> {
    crate::kernel::encoding::b64_decode(b64)
        .ok_or_else(|| Rejection::unauthenticated("x5c entry is not base64 DER"))
}

/// Parses a certificate that spans all of `der` (trailing bytes are refused).
fn parse_exact(der: &[u8]) -> Option<X509Certificate<'_>> {
    match X509Certificate::from_der(der) {
        Ok(([], cert)) => Some(cert),
        _ => None,
    }
}

fn has_extension(cert: &X509Certificate<'_>, oid: &[u8]) -> bool {
    cert.extensions().iter().any(|e| e.oid.as_bytes() == oid)
}

fn has_unknown_critical_extension(cert: &X509Certificate<'_>) -> bool {
    cert.extensions().iter().any(|e| {
        e.critical && (e.parsed_extension().unsupported() || e.parsed_extension().error().is_some())
    })
}

/// Key usage, when present, must allow `keyCertSign` (RFC 5280 §4.2.1.3).
fn allows_cert_sign(cert: &X509Certificate<'_>) -> bool {
    match cert.key_usage() {
        Ok(Some(ku)) => ku.value.key_cert_sign(),
        Ok(None) => true,
        Err(_) => false,
    }
}

/// What the chain cache is keyed on: SHA-256 of the leaf's and the intermediate's `x5c` text
/// (`leaf "." intermediate`; `.` is not in the base64 alphabet, so the split is unambiguous).
///
/// The certificates, not the header that carries them: extra header fields (padding, a `kid`)
/// or another third `x5c` entry (never used for trust) must not make the same chain a new
/// entry. Each text is the base64 of exactly the DER the chain was verified from, so an equal
/// key is the same two certificates; a SHA-256 collision is out of reach.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct ChainKey([u8; 32]);

impl ChainKey {
    pub(crate) fn of(x5c: [&str; 3]) -> ChainKey {
        let [leaf, intermediate, _unused_for_trust] = x5c;
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(leaf.as_bytes());
        ctx.update(b".");
        ctx.update(intermediate.as_bytes());
        let mut key = [0; 32];
        key.copy_from_slice(ctx.finish().as_ref());
        ChainKey(key)
    }
}

/// The bounded cache of verified chains.
///
/// Keyed by [`ChainKey`], the certificates' digest. The store inserts a chain only once a JWS
/// signature made with its leaf key has verified, so a genuine `x5c` replayed with a garbage
/// signature never takes a slot (nor evicts a good one). Like Apple's libraries it holds at most
/// 32 entries for 15 minutes; the oldest entry makes room for a new one. Entries are 32-byte
/// keys, so the lock is held for a few comparisons.
pub(crate) struct ChainCache {
    entries: Mutex<Vec<CacheEntry>>,
    capacity: usize,
    ttl_s: i64,
    /// How many lookups found a fresh entry (tests only).
    #[cfg(test)]
    hits: std::sync::atomic::AtomicUsize,
}

struct CacheEntry {
    key: ChainKey,
    chain: VerifiedChain,
    inserted_at: i64,
}

/// Apple's libraries keep at most 32 verified chains…
pub(crate) const DEFAULT_CACHE_CAPACITY: usize = 32;
/// …for 15 minutes.
pub(crate) const DEFAULT_CACHE_TTL_S: i64 = 15 * 60;

impl ChainCache {
    pub(crate) fn new(capacity: usize, ttl_s: i64) -> Self {
        ChainCache {
            entries: Mutex::new(Vec::with_capacity(capacity.min(1024))),
            capacity,
            ttl_s,
            #[cfg(test)]
            hits: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// An empty cache of the same size and lifetime (for a new trust configuration).
    pub(crate) fn emptied(&self) -> Self {
        ChainCache::new(self.capacity, self.ttl_s)
    }

    /// The chain verified for exactly these certificates, if still fresh at `now` (Unix
    /// seconds).
    pub(crate) fn get(&self, key: &ChainKey, now: i64) -> Option<VerifiedChain> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let chain = entries
            .iter()
            .find(|e| e.key == *key)
            .filter(|e| now.saturating_sub(e.inserted_at) < self.ttl_s && now >= e.inserted_at)
            .map(|e| e.chain);
        #[cfg(test)]
        if chain.is_some() {
            self.hits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        chain
    }

    /// Remembers `chain`: call only after a signature made with its leaf key verified.
    pub(crate) fn insert(&self, key: ChainKey, chain: VerifiedChain, now: i64) {
        if self.capacity == 0 {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.retain(|e| e.key != key);
        if entries.len() >= self.capacity {
            if let Some(oldest) = entries
                .iter()
                .enumerate()
                .min_by_key(|(_, e)| e.inserted_at)
                .map(|(i, _)| i)
            {
                entries.swap_remove(oldest);
            }
        }
        entries.push(CacheEntry {
            key,
            chain,
            inserted_at: now,
        });
    }

    #[cfg(test)]
    pub(crate) fn hits(&self) -> usize {
        self.hits.load(std::sync::atomic::Ordering::Relaxed)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_parser::oid_registry::Oid;

    #[test]
    fn marker_oids_are_apples() {
        let leaf = Oid::new(LEAF_MARKER_OID.into());
        assert_eq!(leaf.to_id_string(), "1.2.840.113635.100.6.11.1");
        let intermediate = Oid::new(INTERMEDIATE_MARKER_OID.into());
        assert_eq!(intermediate.to_id_string(), "1.2.840.113635.100.6.2.1");
    }

    #[test]
    fn apple_root_ca_g3_is_a_usable_trust_anchor() {
        let root = TrustedRoot::from_der(super::super::APPLE_ROOT_CA_G3).expect("root");
        assert_eq!(root.key.curve, Curve::P384);
        assert_eq!(root.not_before, 1_398_881_946); // 2014-04-30T18:19:06Z
        assert_eq!(root.not_after, 2_187_800_346); // 2039-04-30T18:19:06Z
        assert_eq!(
            root.fingerprint_prefix(),
            [0x63, 0x34, 0x3a, 0xbf, 0xb8, 0x9a, 0x6a, 0x03]
        );
    }

    #[test]
    fn apple_wwdr_g6_is_issued_by_the_embedded_root_and_carries_the_intermediate_marker() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/fixtures/apple/real/swift-package-manager/AppleWWDRCAG6.cer"
        );
        let Ok(der) = std::fs::read(path) else {
            println!("skipped: {path} not found");
            return;
        };
        let g6 = parse_exact(&der).expect("G6 parses");
        let root = TrustedRoot::from_der(super::super::APPLE_ROOT_CA_G3).expect("root");
        assert_eq!(g6.issuer().as_raw(), root.subject.as_slice());
        assert!(root.key.signed(&g6), "ECDSA P-384 / SHA-384 signature");
        assert!(has_extension(&g6, INTERMEDIATE_MARKER_OID));
        assert!(allows_cert_sign(&g6) && !has_unknown_critical_extension(&g6));
    }

    #[test]
    fn a_non_certificate_is_not_a_root() {
        assert!(TrustedRoot::from_der(b"not a certificate").is_err());
    }

    #[test]
    fn validity_is_checked_against_the_window_without_crypto() {
        let chain = VerifiedChain {
            leaf_key: [4; 65],
            not_before: 100,
            not_after: 200,
        };
        assert!(chain.check_date(100_000).is_ok());
        assert!(chain.check_date(200_000).is_ok());
        assert_eq!(
            chain.check_date(200_001).unwrap_err().kind(),
            RejectionKind::Expired
        );
        assert_eq!(
            chain.check_date(99_999).unwrap_err().kind(),
            RejectionKind::NotYetValid
        );
    }

    #[test]
    fn cache_is_bounded_keyed_by_the_certificates_and_expires() {
        let chain = VerifiedChain {
            leaf_key: [4; 65],
            not_before: 0,
            not_after: 1,
        };
        let key = |leaf, intermediate| ChainKey::of([leaf, intermediate, "root"]);
        let cache = ChainCache::new(2, 10);
        cache.insert(key("a", "i"), chain, 0);
        cache.insert(key("b", "i"), chain, 1);
        assert!(cache.get(&key("a", "i"), 5).is_some());
        assert_eq!(
            ChainKey::of(["a", "i", "root"]),
            ChainKey::of(["a", "i", "other root"]),
            "the third x5c entry is not used for trust"
        );
        assert!(cache.get(&key("a ", "i"), 5).is_none(), "exact leaf bytes");
        assert!(
            cache.get(&key("a", "i "), 5).is_none(),
            "exact intermediate bytes"
        );
        assert_ne!(key("ab", "c"), key("a", "bc"), "unambiguous concatenation");
        cache.insert(key("c", "i"), chain, 2);
        assert_eq!(cache.len(), 2);
        assert!(cache.get(&key("a", "i"), 5).is_none(), "oldest evicted");
        assert!(cache.get(&key("b", "i"), 10).is_some());
        assert!(
            cache.get(&key("b", "i"), 11).is_none(),
            "expired after the TTL"
        );
        assert!(
            cache.get(&key("b", "i"), 0).is_none(),
            "clock moved backwards"
        );
    }
}
