//! The Amazon SNS HTTP(S) delivery envelope and its signature.
//!
//! SNS POSTs a JSON object (sent as `text/plain; charset=UTF-8`, so the content type is not
//! looked at) with `Type`, `MessageId`, `TopicArn`, `Message`, `Timestamp`, `SignatureVersion`,
//! `Signature` and `SigningCertURL`, plus `Subject` and `UnsubscribeURL` on notifications and
//! `Token` and `SubscribeURL` on confirmations
//! (<https://docs.aws.amazon.com/sns/latest/dg/sns-message-and-json-formats.html>).
//!
//! The signature is RSA PKCS#1 v1.5 over `"Key\nValue\n"` for a fixed list of keys in a fixed
//! order, per type (<https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html>,
//! and AWS's PHP, JS and Java validators):
//!
//! | `Type` | signed keys, in this order |
//! | --- | --- |
//! | `Notification` | Message, MessageId, Subject (only if present), Timestamp, TopicArn, Type |
//! | `SubscriptionConfirmation`, `UnsubscribeConfirmation` | Message, MessageId, SubscribeURL, Timestamp, Token, TopicArn, Type |
//!
//! `SignatureVersion` `1` is SHA1withRSA, `2` SHA256withRSA; any other value is refused. The
//! version itself is not signed, which is harmless: both digests are checked with the same key.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderMap;
use ring::signature;
use serde::Deserialize;

use crate::rejection::Rejection;

/// The three SNS message types an HTTP(S) subscription receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SnsMessageType {
    /// A message published to the topic (an RTN).
    Notification,
    /// SNS asks the endpoint to confirm a new subscription (sent again by *Resend*).
    SubscriptionConfirmation,
    /// The subscription was removed.
    UnsubscribeConfirmation,
}

impl SnsMessageType {
    /// The wire name (`"Notification"`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            SnsMessageType::Notification => "Notification",
            SnsMessageType::SubscriptionConfirmation => "SubscriptionConfirmation",
            SnsMessageType::UnsubscribeConfirmation => "UnsubscribeConfirmation",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [
            SnsMessageType::Notification,
            SnsMessageType::SubscriptionConfirmation,
            SnsMessageType::UnsubscribeConfirmation,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }
}

impl fmt::Display for SnsMessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `SignatureVersion` of an SNS message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SignatureVersion {
    /// `"1"`: RSA PKCS#1 v1.5 with SHA-1.
    V1,
    /// `"2"`: RSA PKCS#1 v1.5 with SHA-256.
    V2,
}

impl SignatureVersion {
    /// The wire value (`"1"` or `"2"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            SignatureVersion::V1 => "1",
            SignatureVersion::V2 => "2",
        }
    }

    pub(crate) fn algorithm(self) -> &'static signature::RsaParameters {
        match self {
            // SNS still signs with SHA-1 by default (SignatureVersion 1 is the topic default);
            // ring only offers it for verifying legacy signatures, which this is.
            SignatureVersion::V1 => &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
            SignatureVersion::V2 => &signature::RSA_PKCS1_2048_8192_SHA256,
        }
    }
}

/// A parsed SNS envelope. Its signature has been verified when you get one from the store.
#[derive(Clone, PartialEq, Eq)]
pub struct SnsMessage {
    pub(crate) message_type: SnsMessageType,
    pub(crate) message_id: String,
    pub(crate) topic_arn: String,
    pub(crate) subject: Option<String>,
    pub(crate) message: String,
    pub(crate) timestamp: String,
    pub(crate) signature_version: SignatureVersion,
    pub(crate) signing_cert_url: String,
    pub(crate) unsubscribe_url: Option<String>,
    pub(crate) subscribe_url: Option<String>,
    pub(crate) token: Option<String>,
    pub(crate) signature: Vec<u8>,
}

impl SnsMessage {
    /// `Type`.
    pub fn message_type(&self) -> SnsMessageType {
        self.message_type
    }

    /// `MessageId`: the idempotency id (redeliveries carry the same one).
    pub fn message_id(&self) -> &str {
        &self.message_id
    }

    /// `TopicArn`.
    pub fn topic_arn(&self) -> &str {
        &self.topic_arn
    }

    /// `Subject`, on notifications published with one.
    pub fn subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }

    /// `Message`: the RTN JSON for notifications, a human-readable text for confirmations.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// `Timestamp` as sent (ISO 8601, `2026-01-01T00:00:00.000Z`).
    pub fn timestamp(&self) -> &str {
        &self.timestamp
    }

    /// `Timestamp` as a time, if it is in SNS's format.
    pub fn timestamp_time(&self) -> Option<SystemTime> {
        parse_timestamp(&self.timestamp)
    }

    /// `SignatureVersion`.
    pub fn signature_version(&self) -> SignatureVersion {
        self.signature_version
    }

    /// `SigningCertURL` (it passed the URL rules).
    pub fn signing_cert_url(&self) -> &str {
        &self.signing_cert_url
    }

    /// `UnsubscribeURL`, on notifications. Not signed, and not checked by the URL rules (this
    /// store never follows it): do not act on it.
    pub fn unsubscribe_url(&self) -> Option<&str> {
        self.unsubscribe_url.as_deref()
    }

    /// The canonical string the signature covers.
    pub(crate) fn string_to_sign(&self) -> String {
        let mut fields: Vec<(&str, &str)> =
            vec![("Message", &self.message), ("MessageId", &self.message_id)];
        match self.message_type {
            SnsMessageType::Notification => {
                if let Some(subject) = &self.subject {
                    fields.push(("Subject", subject));
                }
                fields.push(("Timestamp", &self.timestamp));
            }
            SnsMessageType::SubscriptionConfirmation | SnsMessageType::UnsubscribeConfirmation => {
                fields.push(("SubscribeURL", self.subscribe_url.as_deref().unwrap_or("")));
                fields.push(("Timestamp", &self.timestamp));
                fields.push(("Token", self.token.as_deref().unwrap_or("")));
            }
        }
        fields.push(("TopicArn", &self.topic_arn));
        fields.push(("Type", self.message_type.as_str()));
        string_to_sign(&fields)
    }

    /// Checks the signature with the RSA public key (`RSAPublicKey` DER) of the signing cert.
    pub(crate) fn verify_signature(&self, public_key_der: &[u8]) -> Result<(), Rejection> {
        if self.signature.is_empty() {
            return Err(Rejection::unauthenticated("the SNS Signature is empty"));
        }
        signature::UnparsedPublicKey::new(self.signature_version.algorithm(), public_key_der)
            .verify(self.string_to_sign().as_bytes(), &self.signature)
            .map_err(|_| Rejection::unauthenticated("the SNS signature does not match the message"))
    }
}

/// `"Key\nValue\n"` for each field, in order.
pub(crate) fn string_to_sign(fields: &[(&str, &str)]) -> String {
    let len = fields.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
    let mut s = String::with_capacity(len);
    for (k, v) in fields {
        s.push_str(k);
        s.push('\n');
        s.push_str(v);
        s.push('\n');
    }
    s
}

// Tokens confirm subscriptions: keep them (and the URLs carrying them) out of logs.
impl fmt::Debug for SnsMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SnsMessage")
            .field("type", &self.message_type)
            .field("message_id", &self.message_id)
            .field("topic_arn", &self.topic_arn)
            .field("subject", &self.subject)
            .field("message", &self.message)
            .field("timestamp", &self.timestamp)
            .field("signature_version", &self.signature_version)
            .field("signing_cert_url", &self.signing_cert_url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field(
                "subscribe_url",
                &self.subscribe_url.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

/// The wire form. Every field is optional here so that a missing one is reported by name;
/// a field of the wrong JSON type (a number `SignatureVersion`, an object `Message`) or a
/// duplicate key fails the whole body as malformed.
#[derive(Deserialize)]
struct Wire {
    #[serde(rename = "Type")]
    message_type: Option<String>,
    #[serde(rename = "MessageId")]
    message_id: Option<String>,
    #[serde(rename = "TopicArn")]
    topic_arn: Option<String>,
    #[serde(rename = "Subject")]
    subject: Option<String>,
    #[serde(rename = "Message")]
    message: Option<String>,
    #[serde(rename = "Timestamp")]
    timestamp: Option<String>,
    #[serde(rename = "SignatureVersion")]
    signature_version: Option<String>,
    #[serde(rename = "Signature")]
    signature: Option<String>,
    #[serde(rename = "SigningCertURL")]
    signing_cert_url: Option<String>,
    #[serde(rename = "UnsubscribeURL")]
    unsubscribe_url: Option<String>,
    #[serde(rename = "SubscribeURL")]
    subscribe_url: Option<String>,
    #[serde(rename = "Token")]
    token: Option<String>,
}

fn required(field: Option<String>, name: &'static str) -> Result<String, Rejection> {
    field.ok_or_else(|| Rejection::malformed(format!("the SNS message has no {name}")))
}

/// Parses the body into an envelope (no signature check yet).
///
/// Malformed (400): not a JSON object, a required field missing or of the wrong type, an
/// unknown `Type`. Unauthenticated (401): a `SignatureVersion` other than `1`/`2`, a
/// `Signature` that is not base64 — as every AWS validator refuses them.
pub(crate) fn parse(body: &[u8]) -> Result<SnsMessage, Rejection> {
    // serde's derived structs also accept JSON arrays (positionally): only an object is SNS.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(Rejection::malformed("the body is not a JSON object"));
    }
    let wire: Wire = serde_json::from_slice(body).map_err(|e| {
        Rejection::malformed(format!(
            "the body is not an SNS message: {}",
            crate::kernel::json::describe(&e)
        ))
    })?;
    let type_text = required(wire.message_type, "Type")?;
    let message_type = SnsMessageType::parse(&type_text)
        .ok_or_else(|| Rejection::malformed("unknown SNS message Type"))?;
    let confirmation = message_type != SnsMessageType::Notification;
    let message_id = required(wire.message_id, "MessageId")?;
    let topic_arn = required(wire.topic_arn, "TopicArn")?;
    let message = required(wire.message, "Message")?;
    let timestamp = required(wire.timestamp, "Timestamp")?;
    let version_text = required(wire.signature_version, "SignatureVersion")?;
    let signature_text = required(wire.signature, "Signature")?;
    let signing_cert_url = required(wire.signing_cert_url, "SigningCertURL")?;
    let (subscribe_url, token) = if confirmation {
        (
            Some(required(wire.subscribe_url, "SubscribeURL")?),
            Some(required(wire.token, "Token")?),
        )
    } else {
        (wire.subscribe_url, wire.token)
    };
    let signature_version = match version_text.as_str() {
        "1" => SignatureVersion::V1,
        "2" => SignatureVersion::V2,
        _ => {
            return Err(Rejection::unauthenticated(
                "unsupported SNS SignatureVersion (only 1 and 2 are)",
            ));
        }
    };
    let signature = crate::kernel::encoding::b64_decode(signature_text)
        .ok_or_else(|| Rejection::unauthenticated("the SNS Signature is not base64"))?;
    Ok(SnsMessage {
        message_type,
        message_id,
        topic_arn,
        // Subject is signed only on notifications; on a confirmation it is ignored entirely.
        subject: if confirmation { None } else { wire.subject },
        message,
        timestamp,
        signature_version,
        signing_cert_url,
        unsubscribe_url: wire.unsubscribe_url,
        subscribe_url,
        token,
        signature,
    })
}

/// The `x-amz-sns-*` headers are optional (proxies drop them), but when present they must say
/// what the signed body says: a disagreement means someone edited one of them.
pub(crate) fn check_headers(headers: &HeaderMap, message: &SnsMessage) -> Result<(), Rejection> {
    for (name, expected) in [
        ("x-amz-sns-message-type", message.message_type.as_str()),
        ("x-amz-sns-message-id", message.message_id.as_str()),
        ("x-amz-sns-topic-arn", message.topic_arn.as_str()),
    ] {
        for value in headers.get_all(name) {
            if value.as_bytes() != expected.as_bytes() {
                return Err(Rejection::malformed(format!(
                    "the {name} header disagrees with the body"
                )));
            }
        }
    }
    Ok(())
}

/// `YYYY-MM-DDTHH:MM:SS[.fff…]Z`, the form SNS writes.
pub(crate) fn parse_timestamp(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(r)?;
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    if b.len() < 20
        || b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || b.get(10) != Some(&b'T')
        || b.get(13) != Some(&b':')
        || b.get(16) != Some(&b':')
        || b.last() != Some(&b'Z')
    {
        return None;
    }
    let (y, mo, d) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (h, mi, sec) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    let nanos = match b.get(19..b.len() - 1)? {
        [] => 0,
        [b'.', frac @ ..] if !frac.is_empty() && frac.len() <= 9 => {
            let n = digits(20..b.len() - 1)?;
            u32::try_from(n * 10_i64.pow(9 - frac.len() as u32)).ok()?
        }
        _ => return None,
    };
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec;
    let secs = u64::try_from(secs).ok()?;
    // Four-digit years keep this far inside `SystemTime`'s range; checked all the same.
    UNIX_EPOCH.checked_add(Duration::new(secs, nanos))
}

/// Howard Hinnant's civil-to-days algorithm (proleptic Gregorian calendar).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(extra: &str) -> String {
        format!(
            r#"{{"Type":"Notification","MessageId":"m1","TopicArn":"arn:t","Message":"hello","Timestamp":"2026-01-01T00:00:00.000Z","SignatureVersion":"1","Signature":"AAAA","SigningCertURL":"https://sns.us-east-1.amazonaws.com/x.pem"{extra}}}"#
        )
    }

    #[test]
    fn notification_string_to_sign_has_subject_only_if_present() {
        let m = parse(body("").as_bytes()).expect("parse");
        assert_eq!(
            m.string_to_sign(),
            "Message\nhello\nMessageId\nm1\nTimestamp\n2026-01-01T00:00:00.000Z\nTopicArn\narn:t\nType\nNotification\n"
        );
        let m = parse(body(r#","Subject":"""#).as_bytes()).expect("parse");
        assert!(m.string_to_sign().contains("Subject\n\nTimestamp"));
    }

    #[test]
    fn null_subject_is_absent_as_in_the_php_and_java_validators() {
        let m = parse(body(r#","Subject":null"#).as_bytes()).expect("parse");
        assert!(!m.string_to_sign().contains("Subject"));
    }

    #[test]
    fn confirmation_string_to_sign_has_subscribe_url_and_token_in_order() {
        let b = r#"{"Type":"SubscriptionConfirmation","MessageId":"m","TopicArn":"t","Message":"msg","Timestamp":"ts","SignatureVersion":"2","Signature":"AAAA","SigningCertURL":"u","SubscribeURL":"s","Token":"k","Subject":"ignored"}"#;
        let m = parse(b.as_bytes()).expect("parse");
        assert_eq!(
            m.string_to_sign(),
            "Message\nmsg\nMessageId\nm\nSubscribeURL\ns\nTimestamp\nts\nToken\nk\nTopicArn\nt\nType\nSubscriptionConfirmation\n"
        );
    }

    #[test]
    fn confirmation_requires_token_and_subscribe_url() {
        let b = r#"{"Type":"SubscriptionConfirmation","MessageId":"m","TopicArn":"t","Message":"msg","Timestamp":"ts","SignatureVersion":"2","Signature":"AAAA","SigningCertURL":"u","SubscribeURL":"s"}"#;
        assert_eq!(
            parse(b.as_bytes()).expect_err("no token").kind(),
            crate::RejectionKind::Malformed
        );
    }

    #[test]
    fn signature_versions_other_than_1_and_2_are_unauthenticated() {
        let b = body("").replace(r#""SignatureVersion":"1""#, r#""SignatureVersion":"3""#);
        assert_eq!(
            parse(b.as_bytes()).expect_err("v3").kind(),
            crate::RejectionKind::Unauthenticated
        );
    }

    #[test]
    fn signature_version_must_be_a_string() {
        let b = body("").replace(r#""SignatureVersion":"1""#, r#""SignatureVersion":1"#);
        assert_eq!(
            parse(b.as_bytes()).expect_err("number").kind(),
            crate::RejectionKind::Malformed
        );
    }

    #[test]
    fn body_must_be_a_json_object() {
        for b in ["", "[]", "null", "\"x\"", "{", "garbage"] {
            assert_eq!(
                parse(b.as_bytes()).expect_err(b).kind(),
                crate::RejectionKind::Malformed,
                "{b}"
            );
        }
    }

    #[test]
    fn duplicate_keys_are_malformed() {
        let b = body(r#","Message":"other""#);
        assert!(parse(b.as_bytes()).is_err());
    }

    #[test]
    fn unknown_type_is_malformed() {
        let b = body("").replace("\"Notification\"", "\"Telegram\"");
        assert_eq!(
            parse(b.as_bytes()).expect_err("type").kind(),
            crate::RejectionKind::Malformed
        );
    }

    #[test]
    fn headers_must_agree_with_the_body_when_present() {
        let m = parse(body("").as_bytes()).expect("parse");
        let mut h = HeaderMap::new();
        assert!(check_headers(&h, &m).is_ok());
        h.insert("x-amz-sns-message-type", "Notification".parse().expect("v"));
        h.insert("x-amz-sns-message-id", "m1".parse().expect("v"));
        assert!(check_headers(&h, &m).is_ok());
        h.insert("x-amz-sns-topic-arn", "arn:other".parse().expect("v"));
        assert!(check_headers(&h, &m).is_err());
    }

    #[test]
    fn timestamps_parse_in_sns_format() {
        let t = parse_timestamp("2026-01-01T00:00:00.000Z").expect("ts");
        assert_eq!(t, UNIX_EPOCH + Duration::from_secs(1_767_225_600));
        let t = parse_timestamp("2025-12-31T23:59:30.123Z").expect("ts");
        assert_eq!(t, UNIX_EPOCH + Duration::from_millis(1_767_225_570_123));
        assert!(parse_timestamp("2025-12-31 23:59:30Z").is_none());
        assert!(parse_timestamp("2025-13-31T23:59:30Z").is_none());
        assert!(parse_timestamp("2025-12-31T23:59:30.Z").is_none());
    }
}
