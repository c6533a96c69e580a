//! Compact JWS (RFC 7515 §7.1): `b64url(header) "." b64url(payload) "." b64url(signature)`,
//! with one set of rules for every store that receives one (Apple's `signedPayload`, Google's
//! Pub/Sub push token):
//!
//! - exactly three parts;
//! - each part strict base64url without padding ([`b64url_decode`]);
//! - the protected header is at most the caller's cap of base64url characters, checked before
//!   it is decoded (a larger header is only padding someone wants decoded and parsed on every
//!   request);
//! - `alg` is exactly the one the caller pins (`ES256` for Apple, `RS256` for Google): `none`,
//!   `HS256` keyed with the public key and every other label are refused before a key is looked
//!   at, which stops algorithm confusion;
//! - `crit` is refused (RFC 7515 §4.1.11: critical extensions must be understood, and no store
//!   uses one).
//!
//! The parts are borrowed from the token: the signing input is a slice of it, never a copy.
//! What goes wrong is a [`JoseError`]; each store decides the rejection kind (a malformed
//! `signedPayload` body field is a 400, a bad bearer token a 401).

use std::fmt;

use serde::Deserialize;

use super::encoding::b64url_decode;

/// What a store pins for the JWS it receives.
#[derive(Debug, Clone, Copy)]
pub(crate) struct JwsRules {
    /// The one `alg` accepted.
    pub(crate) alg: &'static str,
    /// The largest protected header, in base64url characters as sent.
    pub(crate) max_header_len: usize,
}

/// Why a compact JWS was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JoseError {
    /// Not three `.`-separated parts.
    NotThreeParts,
    /// The protected header is over the cap (the cap).
    HeaderTooLarge(usize),
    /// The protected header is not strict base64url.
    HeaderNotBase64url,
    /// The protected header is not the JSON object expected.
    HeaderNotJson,
    /// The header has no `alg`.
    NoAlg,
    /// `alg` is not the pinned one (the pinned one).
    WrongAlg(&'static str),
    /// The header lists critical extensions.
    Crit,
    /// The signature is not strict base64url.
    SignatureNotBase64url,
    /// The payload is not strict base64url.
    PayloadNotBase64url,
}

impl JoseError {
    /// Whether the error is in the token's form (three parts, header encoding and JSON) rather
    /// than in what it claims (`alg`, `crit`, signature).
    pub(crate) fn is_form(self) -> bool {
        matches!(
            self,
            JoseError::NotThreeParts
                | JoseError::HeaderTooLarge(_)
                | JoseError::HeaderNotBase64url
                | JoseError::HeaderNotJson
                | JoseError::PayloadNotBase64url
        )
    }
}

impl fmt::Display for JoseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // No value from the token is quoted: a rejection's message goes into the response.
        match self {
            JoseError::NotThreeParts => f.write_str("not a compact JWS of three parts"),
            JoseError::HeaderTooLarge(max) => {
                write!(f, "the JWS header is larger than {max} bytes")
            }
            JoseError::HeaderNotBase64url => f.write_str("the JWS header is not base64url"),
            JoseError::HeaderNotJson => f.write_str("the JWS header is not a JSON object"),
            JoseError::NoAlg => f.write_str("the JWS header has no alg"),
            JoseError::WrongAlg(alg) => write!(f, "the JWS alg is not {alg}"),
            JoseError::Crit => f.write_str("the JWS header has critical extensions"),
            JoseError::SignatureNotBase64url => f.write_str("the JWS signature is not base64url"),
            JoseError::PayloadNotBase64url => f.write_str("the JWS payload is not base64url"),
        }
    }
}

/// The registered header parameters the rules read, implemented by each store's header type
/// (which adds its own fields: Apple's `x5c`, Google's `kid`).
pub(crate) trait ProtectedHeader {
    /// `alg`, if present.
    fn alg(&self) -> Option<&str>;
    /// Whether `crit` is present.
    fn has_crit(&self) -> bool;
}

/// A compact JWS split into its parts, nothing decoded yet.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CompactJws<'a> {
    /// The base64url header, exactly as sent.
    pub(crate) header: &'a str,
    /// The base64url payload.
    pub(crate) payload: &'a str,
    /// The base64url signature.
    pub(crate) signature: &'a str,
    /// `header "." payload`: the bytes the signature covers, borrowed from the token.
    pub(crate) signing_input: &'a str,
}

impl<'a> CompactJws<'a> {
    /// Splits on `.`; anything but three parts is [`JoseError::NotThreeParts`].
    pub(crate) fn split(token: &'a str) -> Result<Self, JoseError> {
        let mut parts = token.splitn(4, '.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JoseError::NotThreeParts);
        };
        // `header.len() + 1 + payload.len()` is within `token`: the first two parts and their dot.
        let signing_input = token
            .get(..header.len() + 1 + payload.len())
            .ok_or(JoseError::NotThreeParts)?;
        Ok(CompactJws {
            header,
            payload,
            signature,
            signing_input,
        })
    }

    /// Decodes the protected header, refusing one over the cap before decoding it. Parse the
    /// bytes with [`parse_header`].
    pub(crate) fn decode_header(&self, rules: &JwsRules) -> Result<Vec<u8>, JoseError> {
        if self.header.len() > rules.max_header_len {
            return Err(JoseError::HeaderTooLarge(rules.max_header_len));
        }
        b64url_decode(self.header).ok_or(JoseError::HeaderNotBase64url)
    }

    /// Decodes the signature bytes.
    pub(crate) fn decode_signature(&self) -> Result<Vec<u8>, JoseError> {
        b64url_decode(self.signature).ok_or(JoseError::SignatureNotBase64url)
    }

    /// Decodes the payload bytes (read them only once the signature verified, or for a nested
    /// JWS whose bytes an outer signature covers).
    pub(crate) fn decode_payload(&self) -> Result<Vec<u8>, JoseError> {
        b64url_decode(self.payload).ok_or(JoseError::PayloadNotBase64url)
    }
}

/// Parses decoded header bytes as `H` (borrowing what needs no unescaping) and applies the
/// `alg` and `crit` rules. Only a JSON object is a header: serde's derived structs would also
/// take an array positionally.
pub(crate) fn parse_header<'h, H>(bytes: &'h [u8], rules: &JwsRules) -> Result<H, JoseError>
where
    H: Deserialize<'h> + ProtectedHeader,
{
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(JoseError::HeaderNotJson);
    }
    let header: H = serde_json::from_slice(bytes).map_err(|_| JoseError::HeaderNotJson)?;
    match header.alg() {
        Some(alg) if alg == rules.alg => {}
        Some(_) => return Err(JoseError::WrongAlg(rules.alg)),
        None => return Err(JoseError::NoAlg),
    }
    if header.has_crit() {
        return Err(JoseError::Crit);
    }
    Ok(header)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::IgnoredAny;

    const RULES: JwsRules = JwsRules {
        alg: "ES256",
        max_header_len: 64,
    };

    #[derive(Deserialize)]
    struct Header {
        alg: Option<String>,
        crit: Option<IgnoredAny>,
    }

    impl ProtectedHeader for Header {
        fn alg(&self) -> Option<&str> {
            self.alg.as_deref()
        }
        fn has_crit(&self) -> bool {
            self.crit.is_some()
        }
    }

    fn header(json: &str) -> Result<Header, JoseError> {
        parse_header::<Header>(json.as_bytes(), &RULES)
    }

    #[test]
    fn a_compact_jws_has_exactly_three_parts() {
        for bad in ["", "a", "a.b", "a.b.c.d", "a.b.c.d.e", "...."] {
            assert_eq!(
                CompactJws::split(bad).map(|_| ()),
                Err(JoseError::NotThreeParts),
                "{bad}"
            );
        }
        let jws = CompactJws::split("hh.pp.ss").expect("split");
        assert_eq!((jws.header, jws.payload, jws.signature), ("hh", "pp", "ss"));
        assert_eq!(jws.signing_input, "hh.pp");
        // Empty parts split; their decoding decides.
        assert!(CompactJws::split("..").is_ok());
    }

    #[test]
    fn the_signing_input_is_borrowed_from_the_token() {
        let token = String::from("aGg.cHA.c3M");
        let jws = CompactJws::split(&token).expect("split");
        assert_eq!(jws.signing_input.as_ptr(), token.as_ptr());
    }

    #[test]
    fn every_part_is_strict_base64url() {
        for (token, what) in [
            ("e30=.e30.AA", "padded header"),
            ("e3+.e30.AA", "standard alphabet"),
            ("e 30.e30.AA", "whitespace"),
            ("e31.e30.AA", "non-canonical trailing bits"),
        ] {
            let jws = CompactJws::split(token).expect("split");
            assert_eq!(
                jws.decode_header(&RULES),
                Err(JoseError::HeaderNotBase64url),
                "{what}"
            );
        }
        let jws = CompactJws::split("e30.e30=.AA==").expect("split");
        assert_eq!(jws.decode_payload(), Err(JoseError::PayloadNotBase64url));
        assert_eq!(
            jws.decode_signature(),
            Err(JoseError::SignatureNotBase64url)
        );
        let jws = CompactJws::split("e30.e30.AA").expect("split");
        assert_eq!(jws.decode_header(&RULES).as_deref(), Ok(&b"{}"[..]));
        assert_eq!(jws.decode_signature().as_deref(), Ok(&[0][..]));
    }

    #[test]
    fn the_header_is_capped_before_it_is_decoded() {
        let at_cap = "A".repeat(RULES.max_header_len);
        let jws = format!("{at_cap}.e30.AA");
        let bytes = CompactJws::split(&jws)
            .expect("split")
            .decode_header(&RULES)
            .expect("at the cap");
        assert_eq!(bytes.len(), RULES.max_header_len / 4 * 3);
        // One over: refused even though it is not base64url either (never decoded).
        let jws = format!("{at_cap}!.e30.AA");
        let e = CompactJws::split(&jws)
            .expect("split")
            .decode_header(&RULES)
            .unwrap_err();
        assert_eq!(e, JoseError::HeaderTooLarge(RULES.max_header_len));
        assert!(e.to_string().contains("larger than"), "{e}");
    }

    #[test]
    fn alg_is_exactly_the_pinned_one() {
        assert!(header(r#"{"alg":"ES256"}"#).is_ok());
        for alg in ["none", "HS256", "RS256", "ES384", "es256", "ES256 ", ""] {
            let json = format!(r#"{{"alg":"{alg}"}}"#);
            assert_eq!(
                parse_header::<Header>(json.as_bytes(), &RULES).map(|_| ()),
                Err(JoseError::WrongAlg("ES256")),
                "{alg:?}"
            );
        }
        assert_eq!(header("{}").map(|_| ()), Err(JoseError::NoAlg));
        let rs256 = JwsRules {
            alg: "RS256",
            ..RULES
        };
        assert!(parse_header::<Header>(br#"{"alg":"RS256"}"#, &rs256).is_ok());
        assert!(parse_header::<Header>(br#"{"alg":"ES256"}"#, &rs256).is_err());
    }

    #[test]
    fn critical_extensions_are_refused() {
        for crit in [r#"["exp"]"#, "[]", r#""b64""#] {
            let json = format!(r#"{{"alg":"ES256","crit":{crit}}}"#);
            assert_eq!(
                parse_header::<Header>(json.as_bytes(), &RULES).map(|_| ()),
                Err(JoseError::Crit),
                "{crit}"
            );
        }
    }

    #[test]
    fn the_header_is_a_json_object() {
        for bad in [
            r#"["ES256"]"#,
            "",
            "null",
            r#""ES256""#,
            "{",
            r#"{"alg":1}"#,
        ] {
            assert_eq!(
                header(bad).map(|_| ()),
                Err(JoseError::HeaderNotJson),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn messages_quote_nothing_from_the_token() {
        let e = header(r#"{"alg":"secret-alg"}"#).map(|_| ()).unwrap_err();
        assert!(!e.to_string().contains("secret"), "{e}");
    }

    #[test]
    fn form_errors_are_told_apart_from_claim_errors() {
        assert!(JoseError::NotThreeParts.is_form());
        assert!(JoseError::HeaderTooLarge(1).is_form());
        assert!(JoseError::HeaderNotJson.is_form());
        assert!(!JoseError::WrongAlg("ES256").is_form());
        assert!(!JoseError::Crit.is_form());
        assert!(!JoseError::SignatureNotBase64url.is_form());
    }
}
