//! Compact JWS as Apple signs it: `b64url(header) "." b64url(payload) "." b64url(r‖s)`.
//!
//! Rules (RFC 7515 compact serialization, RFC 7518 §3.4 for ES256, and Apple's libraries):
//! exactly three parts, base64url without padding; the header is a JSON object whose `alg` must
//! be `ES256` (anything else — `none`, `HS256` keyed with the public key, `RS256`, `ES384` — is
//! refused before any key is used, which stops algorithm-confusion attacks) and whose `x5c`
//! holds exactly three certificates; the signature is the 64-byte raw `r‖s` (a DER signature is
//! refused, as JOSE requires).
//!
//! The protected header is at most [`MAX_HEADER_LEN`] (16 KiB) of base64url, checked before it
//! is decoded: Apple's is about 4 KiB (three certificates), and a larger one is only padding
//! someone wants decoded and parsed on every request.

use std::borrow::Cow;

use ring::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
use serde::Deserialize;

use crate::rejection::Rejection;

/// The largest protected header accepted, in base64url characters as sent (16 KiB, about
/// 12 KiB decoded). Over it the JWS is malformed (400).
pub(crate) const MAX_HEADER_LEN: usize = 16 * 1024;

/// A compact JWS split into its parts (nothing decoded yet).
#[derive(Debug, Clone, Copy)]
pub(crate) struct CompactJws<'a> {
    /// The base64url header, exactly as sent.
    pub(crate) header: &'a str,
    /// The base64url payload.
    pub(crate) payload: &'a str,
    /// The base64url signature.
    pub(crate) signature: &'a str,
    /// `header "." payload`: the bytes the signature covers.
    pub(crate) signing_input: &'a str,
}

impl<'a> CompactJws<'a> {
    /// Splits on `.`; anything but three parts is malformed.
    pub(crate) fn split(jws: &'a str) -> Result<Self, Rejection> {
        let mut parts = jws.splitn(4, '.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Rejection::malformed(
                "signed payload is not a compact JWS of three parts",
            ));
        };
        // `header.len() + 1 + payload.len()` is within `jws`: the first two parts and their dot.
        let signing_input = jws
            .get(..header.len() + 1 + payload.len())
            .ok_or_else(|| Rejection::malformed("signed payload is not a compact JWS"))?;
        Ok(CompactJws {
            header,
            payload,
            signature,
            signing_input,
        })
    }

    /// Decodes the protected header (parse it with [`Header::parse`]). A header over
    /// [`MAX_HEADER_LEN`] or not base64url is malformed.
    pub(crate) fn decode_header(&self) -> Result<Vec<u8>, Rejection> {
        if self.header.len() > MAX_HEADER_LEN {
            return Err(Rejection::malformed(format!(
                "JWS header is larger than {MAX_HEADER_LEN} bytes"
            )));
        }
        decode_b64url(self.header)
            .ok_or_else(|| Rejection::malformed("JWS header is not base64url"))
    }

    /// Checks the ES256 signature with the leaf's key.
    pub(crate) fn verify_es256(&self, leaf_key: &[u8]) -> Result<(), Rejection> {
        let signature = decode_b64url(self.signature)
            .filter(|s| s.len() == 64)
            .ok_or_else(|| {
                Rejection::unauthenticated("JWS signature is not a base64url raw ES256 r||s")
            })?;
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, leaf_key)
            .verify(self.signing_input.as_bytes(), &signature)
            .map_err(|_| Rejection::unauthenticated("JWS signature does not verify"))
    }

    /// Decodes the payload bytes (call only after the signature verified, or for nested JWS
    /// whose bytes an outer signature covers).
    pub(crate) fn decode_payload(&self) -> Option<Vec<u8>> {
        decode_b64url(self.payload)
    }
}

/// The protected header fields Apple uses.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Header<'a> {
    #[serde(borrow)]
    pub(crate) alg: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) x5c: Option<Vec<Cow<'a, str>>>,
}

impl<'a> Header<'a> {
    /// Parses decoded header bytes, borrowing the strings that need no unescaping. Not a JSON
    /// object: malformed.
    pub(crate) fn parse(bytes: &'a [u8]) -> Result<Self, Rejection> {
        serde_json::from_slice(bytes)
            .map_err(|_| Rejection::malformed("JWS header is not a JSON object"))
    }

    /// The algorithm rule: exactly `ES256`.
    pub(crate) fn check_alg(&self) -> Result<(), Rejection> {
        match self.alg.as_deref() {
            Some("ES256") => Ok(()),
            Some(other) => Err(Rejection::unauthenticated(format!(
                "JWS alg {:?} is not ES256",
                other.chars().take(16).collect::<String>()
            ))),
            None => Err(Rejection::unauthenticated("JWS header has no alg")),
        }
    }

    /// The `x5c` rule: present, exactly three entries `[leaf, intermediate, root]`.
    pub(crate) fn x5c(&self) -> Result<[&str; 3], Rejection> {
        let x5c = self
            .x5c
            .as_deref()
            .ok_or_else(|| Rejection::unauthenticated("JWS header has no x5c chain"))?;
        match x5c {
            [leaf, intermediate, root] => Ok([leaf, intermediate, root]),
            other => Err(Rejection::unauthenticated(format!(
                "x5c has {} certificates, Apple sends exactly 3",
                other.len()
            ))),
        }
    }
}

/// Strict base64url without padding: padding, the standard alphabet and non-canonical trailing
/// bits are refused. SIMD-accelerated (`base64-simd`): the outer payload is 10+ KB of base64url
/// and decoding it is the largest cost after the signature check (about 3× faster than the
/// scalar `base64` engine here).
pub(crate) fn decode_b64url(s: &str) -> Option<Vec<u8>> {
    base64_simd::URL_SAFE_NO_PAD.decode_to_vec(s).ok()
}

/// Encodes base64url without padding.
#[cfg(feature = "test-util")]
pub(crate) fn encode_b64url(bytes: &[u8]) -> String {
    base64_simd::URL_SAFE_NO_PAD.encode_to_string(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rejection::RejectionKind;

    #[test]
    fn a_compact_jws_has_exactly_three_parts() {
        assert!(CompactJws::split("a.b.c").is_ok());
        for bad in ["", "a", "a.b", "a.b.c.d", "a.b.c.d.e"] {
            assert_eq!(
                CompactJws::split(bad).map(|_| ()).unwrap_err().kind(),
                RejectionKind::Malformed,
                "{bad}"
            );
        }
        let jws = CompactJws::split("hh.pp.ss").expect("split");
        assert_eq!(jws.signing_input, "hh.pp");
    }

    #[test]
    fn alg_must_be_es256() {
        for (alg, ok) in [
            (Some("ES256"), true),
            (Some("none"), false),
            (Some("HS256"), false),
            (Some("RS256"), false),
            (Some("ES384"), false),
            (Some("es256"), false),
            (None, false),
        ] {
            let h = Header {
                alg: alg.map(Cow::Borrowed),
                x5c: None,
            };
            assert_eq!(h.check_alg().is_ok(), ok, "{alg:?}");
        }
    }

    #[test]
    fn x5c_must_hold_exactly_three_certificates() {
        let h = |n: usize| Header {
            alg: None,
            x5c: Some(vec![Cow::Borrowed("x"); n]),
        };
        assert!(h(3).x5c().is_ok());
        for n in [0, 1, 2, 4] {
            assert_eq!(
                h(n).x5c().map(|_| ()).unwrap_err().kind(),
                RejectionKind::Unauthenticated
            );
        }
        let none = Header {
            alg: None,
            x5c: None,
        };
        assert!(none.x5c().is_err());
    }

    #[test]
    fn base64url_is_strict_without_padding() {
        assert_eq!(decode_b64url("YQ").as_deref(), Some(&b"a"[..]));
        assert!(decode_b64url("YQ==").is_none(), "padding");
        assert!(decode_b64url("Y+8").is_none(), "standard alphabet");
        assert!(decode_b64url("YR").is_none(), "non-canonical trailing bits");
    }

    #[test]
    fn protected_header_is_capped_at_16_kib() {
        let at_cap = "A".repeat(MAX_HEADER_LEN);
        let jws = format!("{at_cap}.e30.AA");
        // At the cap the header is decoded; one byte over, it is not.
        let bytes = CompactJws::split(&jws)
            .expect("split")
            .decode_header()
            .expect("at the cap");
        assert_eq!(bytes.len(), MAX_HEADER_LEN / 4 * 3);
        let jws = format!("{at_cap}A.e30.AA");
        let r = CompactJws::split(&jws)
            .expect("split")
            .decode_header()
            .unwrap_err();
        assert_eq!(r.kind(), RejectionKind::Malformed);
        assert!(r.to_string().contains("larger than"), "{r}");
    }

    #[test]
    fn a_der_signature_is_refused() {
        let jws = CompactJws::split("e30.e30.MEUCIQ").expect("split");
        assert_eq!(
            jws.verify_es256(&[4; 65]).unwrap_err().kind(),
            RejectionKind::Unauthenticated
        );
    }
}
