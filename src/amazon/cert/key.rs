//! The parsed signing key of a certificate and the bounded cache that keeps it per URL.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::kernel::cache::{Cache, CachePolicy, DEFAULT_NEGATIVE_CAPACITY, DEFAULT_NOT_FOUND_TTL};
use crate::kernel::pem::{self, PemError};

/// A certificate that cannot be used to verify SNS signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertError(pub(super) &'static str);

impl fmt::Display for CertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for CertError {}

/// The RSA public key of a signing certificate (PKCS#1 `RSAPublicKey` DER, what ring takes).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct SigningKey(pub(super) Vec<u8>);

impl SigningKey {
    /// The key of the first `CERTIFICATE` block of `pem`. Validity dates are not checked: the
    /// URL rules (or your pinning) decide trust, as in AWS's PHP and JS validators.
    pub(crate) fn from_pem(pem: &[u8]) -> Result<SigningKey, CertError> {
        let der = pem_certificate_der(pem)?;
        let (_, cert) = x509_parser::parse_x509_certificate(&der)
            .map_err(|_| CertError("not an X.509 certificate"))?;
        let spki = cert.public_key();
        if spki.algorithm.algorithm != x509_parser::oid_registry::OID_PKCS1_RSAENCRYPTION {
            return Err(CertError("the certificate's key is not RSA"));
        }
        Ok(SigningKey(spki.subject_public_key.data.to_vec()))
    }

    pub(crate) fn der(&self) -> &[u8] {
        &self.0
    }
}

fn pem_certificate_der(pem: &[u8]) -> Result<Vec<u8>, CertError> {
    pem::first(pem, "CERTIFICATE").map_err(|e| {
        CertError(match e {
            PemError::NotText => "the PEM is not text",
            PemError::NoBlock => "no CERTIFICATE block in the PEM",
            PemError::Unterminated => "unterminated CERTIFICATE block",
            PemError::NotBase64 => "the CERTIFICATE block is not base64",
        })
    })
}

/// Parsed keys by validated URL, in the shared cache: bounded so a stream of distinct
/// (genuine) certificate URLs cannot grow memory without limit, single-flight so N messages
/// naming a new certificate cause one fetch, and remembering a "not found" (a 404, an unpinned
/// file, a file that is not a usable certificate) for [`DEFAULT_NOT_FOUND_TTL`], so a forged
/// `SigningCertURL` repeated costs one outbound request per window. Only URLs that passed
/// [`CertUrl::parse`] are keys.
pub(crate) type KeyCache = Cache<Arc<SigningKey>>;

/// SNS uses one certificate per region at a time, rotated rarely: a few dozen covers every
/// region plus a rotation.
pub(crate) const DEFAULT_KEY_CACHE_CAPACITY: usize = 64;

/// A key cache holding at most `capacity` keys. A certificate never expires from it (validity
/// dates are not checked, as in AWS's validators); a transient failure is retried on the next
/// message (SNS retries a 503 on its own schedule).
pub(crate) fn key_cache(capacity: usize) -> KeyCache {
    Cache::new(
        "SNS signing certificates",
        CachePolicy {
            capacity,
            negative_capacity: DEFAULT_NEGATIVE_CAPACITY,
            min_refetch: Duration::ZERO,
            not_found_ttl: DEFAULT_NOT_FOUND_TTL,
            failure_backoff: Duration::ZERO,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::super::url::CertUrl;
    use super::*;

    #[tokio::test]
    async fn key_cache_is_bounded() {
        let cache = key_cache(2);
        let clock = crate::clock::Clock::from_unix(1_767_225_600);
        for i in 0..5 {
            let url = CertUrl::parse(&format!("https://sns.us-east-1.amazonaws.com/{i}.pem"))
                .expect("url");
            let key = cache
                .get(
                    url.as_str(),
                    &clock,
                    |k| Some(Arc::clone(k)),
                    || async {
                        Ok(crate::kernel::cache::Fetched {
                            value: Arc::new(SigningKey(vec![i])),
                            max_age: None,
                        })
                    },
                )
                .await;
            assert!(key.is_ok());
        }
        assert_eq!(cache.len(), 2);
    }
}
