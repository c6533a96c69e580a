//! The POST body Apple sends, `{"signedPayload": "<JWS>"}`, with a fast path for its exact form.

use std::borrow::Cow;

use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::rejection::{Rejection, RejectionKind};

/// The POST body `{"signedPayload": "…"}`.
pub(super) fn envelope(body: &[u8]) -> Result<Cow<'_, str>, Rejection> {
    #[derive(Deserialize)]
    struct Envelope<'a> {
        #[serde(rename = "signedPayload", borrow, default)]
        signed_payload: Option<Cow<'a, str>>,
        #[serde(default)]
        notification_type: Option<IgnoredAny>,
        #[serde(default)]
        unified_receipt: Option<IgnoredAny>,
    }
    // Fast path for the exact form Apple sends, `{"signedPayload":"<JWS>"}`: when the string has
    // no quote, backslash or control character, its JSON value is its bytes, so the 10+ KB
    // string need not go through the JSON parser (the JWS rules check its characters later).
    if let Some(jws) = body
        .strip_prefix(br#"{"signedPayload":""#)
        .and_then(|rest| rest.strip_suffix(br#""}"#))
        .filter(|jws| is_plain_json_string(jws))
        .and_then(|jws| std::str::from_utf8(jws).ok())
    {
        return Ok(Cow::Borrowed(jws));
    }
    // A derived struct also accepts a JSON array positionally: only an object is an envelope.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(Rejection::malformed("body is not a JSON object"));
    }
    let envelope: Envelope<'_> = serde_json::from_slice(body)
        .map_err(|_| Rejection::malformed("body is not {\"signedPayload\": \"<JWS>\"}"))?;
    match envelope.signed_payload {
        Some(signed_payload) => Ok(signed_payload),
        None if envelope.notification_type.is_some() || envelope.unified_receipt.is_some() => {
            Err(Rejection::new(
                RejectionKind::Unsupported,
                "App Store Server Notifications V1 are not supported; switch the URL to V2",
            ))
        }
        None => Err(Rejection::malformed("body has no signedPayload")),
    }
}

/// Whether a JSON string's content is its own value: no quote, backslash or control character
/// (written branch-free so it vectorizes; UTF-8 is validated separately).
fn is_plain_json_string(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .fold(true, |ok, &b| ok & (b != b'"') & (b != b'\\') & (b >= 0x20))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_json_object_with_signed_payload_is_an_envelope() {
        assert!(envelope(br#" {"signedPayload":"a.b.c"}"#).is_ok());
        for (body, kind) in [
            (&br#"["a.b.c"]"#[..], RejectionKind::Malformed),
            (b"", RejectionKind::Malformed),
            (br#"{"payload":"x"}"#, RejectionKind::Malformed),
            (br#"{"signedPayload":5}"#, RejectionKind::Malformed),
            (br#"{"signedPayload":null}"#, RejectionKind::Malformed),
            (br#"{"signedPayload":"a.b"#, RejectionKind::Malformed),
            (
                br#"{"notification_type":"DID_RENEW","unified_receipt":{}}"#,
                RejectionKind::Unsupported,
            ),
        ] {
            assert_eq!(
                envelope(body).map(|_| ()).unwrap_err().kind(),
                kind,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn the_fast_envelope_path_agrees_with_the_json_parser() {
        for body in [
            &br#"{"signedPayload":"a.b.c"}"#[..],
            br#"{"signedPayload":"a.b\/c"}"#,
            br#"{"signedPayload":"a.b.c" }"#,
            br#"{"signedPayload":"a\u002eb.c"}"#,
            br#"{"signedPayload":"a.b.c","x":1}"#,
            br#"{"signedPayload":"a"b.c"}"#,
            b"{\"signedPayload\":\"a\x01.b.c\"}",
        ] {
            let fast = envelope(body).map(|s| s.into_owned());
            let slow: Result<String, ()> = serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v["signedPayload"].as_str().map(str::to_owned))
                .ok_or(());
            assert_eq!(fast.ok(), slow.ok(), "{}", String::from_utf8_lossy(body));
        }
        assert!(is_plain_json_string(b"eyJ-_.09az+/="));
        for bad in [&b"a\"b"[..], b"a\\b", b"a\nb", b"\x00"] {
            assert!(!is_plain_json_string(bad));
        }
    }
}
