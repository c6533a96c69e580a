//! Compact JWS as Apple signs it: `b64url(header) "." b64url(payload) "." b64url(r‖s)`.
//!
//! The compact-JWS rules every store shares are in [`crate::kernel::jose`]: exactly three
//! parts, strict base64url without padding, the header capped before decoding, `alg` pinned —
//! here to `ES256` (RFC 7518 §3.4), so `none`, `HS256` keyed with the public key, `RS256` and
//! `ES384` are refused before any key is used — and `crit` refused. Apple's own rules: the
//! header's `x5c` holds exactly three certificates, and the signature is the 64-byte raw `r‖s`
//! (a DER signature is refused, as JOSE requires).
//!
//! The protected header is at most [`MAX_HEADER_LEN`] (16 KiB) of base64url: Apple's is about
//! 4 KiB (three certificates), and a larger one is only padding someone wants decoded and
//! parsed on every request.

use std::borrow::Cow;

use ring::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
use serde::Deserialize;
use serde::de::IgnoredAny;

pub(crate) use crate::kernel::jose::CompactJws;
use crate::kernel::jose::{self, JoseError, JwsRules, ProtectedHeader};
use crate::rejection::Rejection;

/// The largest protected header accepted, in base64url characters as sent (16 KiB, about
/// 12 KiB decoded). Over it the JWS is malformed (400).
pub(crate) const MAX_HEADER_LEN: usize = 16 * 1024;

/// What Apple's JWS must be.
pub(crate) const RULES: JwsRules = JwsRules {
    alg: "ES256",
    max_header_len: MAX_HEADER_LEN,
};

/// Apple's answer to a broken JWS rule: the JWS is a field of the body, so a broken form is a
/// malformed body (400); a wrong `alg` or `crit` is a failed authentication (401).
pub(crate) fn rejection(e: JoseError) -> Rejection {
    if e.is_form() {
        Rejection::malformed(format!("signed payload: {e}"))
    } else {
        Rejection::unauthenticated(e.to_string())
    }
}

/// Checks the ES256 signature of `jws` with the leaf's key.
pub(crate) fn verify_es256(jws: &CompactJws<'_>, leaf_key: &[u8]) -> Result<(), Rejection> {
    let signature = jws
        .decode_signature()
        .ok()
        .filter(|s| s.len() == 64)
        .ok_or_else(|| {
            Rejection::unauthenticated("JWS signature is not a base64url raw ES256 r||s")
        })?;
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, leaf_key)
        .verify(jws.signing_input.as_bytes(), &signature)
        .map_err(|_| Rejection::unauthenticated("JWS signature does not verify"))
}

/// The protected header fields Apple uses.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Header<'a> {
    #[serde(borrow)]
    alg: Option<Cow<'a, str>>,
    #[serde(borrow)]
    x5c: Option<Vec<Cow<'a, str>>>,
    crit: Option<IgnoredAny>,
}

impl ProtectedHeader for Header<'_> {
    fn alg(&self) -> Option<&str> {
        self.alg.as_deref()
    }

    fn has_crit(&self) -> bool {
        self.crit.is_some()
    }
}

impl<'a> Header<'a> {
    /// Parses decoded header bytes, borrowing the strings that need no unescaping, and applies
    /// the `alg` (ES256) and `crit` rules.
    pub(crate) fn parse(bytes: &'a [u8]) -> Result<Self, Rejection> {
        jose::parse_header(bytes, &RULES).map_err(rejection)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::encoding::b64url_encode;
    use crate::rejection::RejectionKind;

    fn header_of(json: &str) -> Result<(), RejectionKind> {
        Header::parse(json.as_bytes())
            .map(|_| ())
            .map_err(|r| r.kind())
    }

    #[test]
    fn a_broken_form_is_malformed_and_a_broken_claim_unauthenticated() {
        for bad in ["", "a", "a.b", "a.b.c.d"] {
            let r = CompactJws::split(bad).map(|_| ()).map_err(rejection);
            assert_eq!(r.unwrap_err().kind(), RejectionKind::Malformed, "{bad}");
        }
        assert_eq!(header_of("[]"), Err(RejectionKind::Malformed));
        assert_eq!(
            header_of(r#"{"alg":"none"}"#),
            Err(RejectionKind::Unauthenticated)
        );
        assert_eq!(header_of("{}"), Err(RejectionKind::Unauthenticated));
    }

    #[test]
    fn alg_must_be_es256() {
        for (alg, ok) in [
            ("ES256", true),
            ("none", false),
            ("HS256", false),
            ("RS256", false),
            ("ES384", false),
            ("es256", false),
        ] {
            let r = header_of(&format!(r#"{{"alg":"{alg}"}}"#));
            assert_eq!(r.is_ok(), ok, "{alg}");
        }
    }

    #[test]
    fn critical_extensions_are_refused() {
        assert_eq!(
            header_of(r#"{"alg":"ES256","crit":["b64"],"b64":false}"#),
            Err(RejectionKind::Unauthenticated)
        );
    }

    #[test]
    fn x5c_must_hold_exactly_three_certificates() {
        let h = |n: usize| {
            let x5c = vec!["x"; n];
            serde_json::json!({ "alg": "ES256", "x5c": x5c }).to_string()
        };
        let three = h(3);
        assert!(
            Header::parse(three.as_bytes())
                .expect("header")
                .x5c()
                .is_ok()
        );
        for n in [0, 1, 2, 4] {
            let json = h(n);
            let header = Header::parse(json.as_bytes()).expect("header");
            assert_eq!(
                header.x5c().map(|_| ()).unwrap_err().kind(),
                RejectionKind::Unauthenticated
            );
        }
        let none = Header::parse(br#"{"alg":"ES256"}"#).expect("header");
        assert!(none.x5c().is_err());
    }

    #[test]
    fn protected_header_is_capped_at_16_kib() {
        let at_cap = "A".repeat(MAX_HEADER_LEN);
        let jws = format!("{at_cap}.e30.AA");
        let bytes = CompactJws::split(&jws)
            .expect("split")
            .decode_header(&RULES)
            .expect("at the cap");
        assert_eq!(bytes.len(), MAX_HEADER_LEN / 4 * 3);
        let jws = format!("{at_cap}A.e30.AA");
        let r = CompactJws::split(&jws)
            .expect("split")
            .decode_header(&RULES)
            .map_err(rejection)
            .unwrap_err();
        assert_eq!(r.kind(), RejectionKind::Malformed);
        assert!(r.to_string().contains("larger than"), "{r}");
    }

    #[test]
    fn a_der_signature_is_refused() {
        let jws = CompactJws::split("e30.e30.MEUCIQ").expect("split");
        assert_eq!(
            verify_es256(&jws, &[4; 65]).unwrap_err().kind(),
            RejectionKind::Unauthenticated
        );
        let padded = format!("e30.e30.{}=", b64url_encode(&[7; 64]));
        let jws = CompactJws::split(&padded).expect("split");
        assert_eq!(
            verify_es256(&jws, &[4; 65]).unwrap_err().kind(),
            RejectionKind::Unauthenticated
        );
    }
}
