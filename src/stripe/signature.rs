//! The `Stripe-Signature` header and its HMAC-SHA256 check.
//!
//! `Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>…][,v0=<hex>]`, where each `v1` is
//! `hex(HMAC-SHA256(key = the endpoint secret's bytes, "{t}." + raw body))`
//! (<https://docs.stripe.com/webhooks/signature>). Where Stripe's SDKs disagree, this takes the
//! stricter reading (each rule has a test below):
//!
//! - exactly one `Stripe-Signature` header; two are malformed, like a duplicate `t` (a proxy
//!   that joins repeated fields with `,` would read them as one value);
//! - items are split on `,` and `=` and never trimmed (`" v1"` is not `v1`), like stripe-go,
//!   -python, -node, -php and -java;
//! - exactly one `t`, decimal digits only; a duplicate `t` is ambiguous and rejected;
//! - only `v1` counts; `v0` and unknown schemes are ignored;
//! - a `v1` is compared as the canonical lower-case hex Stripe sends (upper case never matches);
//! - the tolerance applies both ways: a `t` too far in the future is rejected too.

use ring::hmac;
use subtle::ConstantTimeEq;

use crate::kernel::encoding;
use crate::rejection::{Rejection, RejectionKind};

/// The parsed header: the timestamp's canonical digits and the header text to scan for `v1`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SignatureHeader<'a> {
    /// `t` without leading zeros (the digits the MAC covers).
    pub(crate) t_digits: &'a str,
    /// `t` as a number.
    pub(crate) t: i64,
    /// Whether any `v1` item is present (found in the same scan as `t`).
    has_v1: bool,
    header: &'a str,
}

impl<'a> SignatureHeader<'a> {
    /// Parses the header. Only the timestamp is required here; a header without any `v1` is
    /// unauthenticated, not malformed, and is reported by [`verify`](Self::verify).
    pub(crate) fn parse(header: &'a str) -> Result<Self, Rejection> {
        let mut t = None;
        let mut has_v1 = false;
        for (key, value) in items(header) {
            has_v1 |= key == "v1";
            if key == "t" {
                if t.is_some() {
                    return Err(Rejection::malformed(
                        "Stripe-Signature has more than one timestamp",
                    ));
                }
                t = Some(value);
            }
        }
        let Some(t_text) = t else {
            return Err(Rejection::malformed(
                "Stripe-Signature has no timestamp (t=)",
            ));
        };
        if t_text.is_empty() || !t_text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Rejection::malformed(
                "Stripe-Signature timestamp is not a decimal integer",
            ));
        }
        let trimmed = t_text.trim_start_matches('0');
        let t_digits = if trimmed.is_empty() { "0" } else { trimmed };
        let t = t_digits
            .parse::<i64>()
            .map_err(|_| Rejection::malformed("Stripe-Signature timestamp is out of range"))?;
        Ok(SignatureHeader {
            t_digits,
            t,
            has_v1,
            header,
        })
    }

    /// Checks the `v1` signatures against every key, in constant time per comparison.
    ///
    /// One HMAC per configured secret; each is compared with every well-formed `v1`.
    pub(crate) fn verify(&self, keys: &[hmac::Key], body: &[u8]) -> Result<(), Rejection> {
        let candidates = || {
            items(self.header)
                .filter(|(k, _)| *k == "v1")
                .filter_map(|(_, v)| encoding::hex_lower_decode::<32>(v))
        };
        if !self.has_v1 {
            return Err(Rejection::unauthenticated(
                "Stripe-Signature has no v1 signature",
            ));
        }
        let mut matched = subtle::Choice::from(0);
        for key in keys {
            let tag = self.sign(key, body);
            for mac in candidates() {
                matched |= tag.as_ref().ct_eq(&mac);
            }
        }
        if bool::from(matched) {
            Ok(())
        } else {
            Err(Rejection::unauthenticated(
                "no v1 signature matches a configured secret",
            ))
        }
    }

    /// Checks `t` against `now` with `tolerance` seconds either way.
    pub(crate) fn check_time(&self, now: i64, tolerance: i64) -> Result<(), Rejection> {
        let age = i128::from(now) - i128::from(self.t);
        if age > i128::from(tolerance) {
            Err(Rejection::new(
                RejectionKind::Expired,
                format!("signature timestamp is {age} s old (tolerance {tolerance} s)"),
            ))
        } else if -age > i128::from(tolerance) {
            Err(Rejection::new(
                RejectionKind::NotYetValid,
                format!(
                    "signature timestamp is {} s in the future (tolerance {tolerance} s)",
                    -age
                ),
            ))
        } else {
            Ok(())
        }
    }

    pub(crate) fn sign(&self, key: &hmac::Key, body: &[u8]) -> hmac::Tag {
        sign(key, self.t_digits, body)
    }
}

/// `HMAC-SHA256(key, "{t}." + body)` without copying the body.
pub(crate) fn sign(key: &hmac::Key, t_digits: &str, body: &[u8]) -> hmac::Tag {
    let mut ctx = hmac::Context::with_key(key);
    ctx.update(t_digits.as_bytes());
    ctx.update(b".");
    ctx.update(body);
    ctx.sign()
}

fn items(header: &str) -> impl Iterator<Item = (&str, &str)> {
    header.split(',').filter_map(|item| item.split_once('='))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> hmac::Key {
        hmac::Key::new(hmac::HMAC_SHA256, s.as_bytes())
    }

    fn header_for(secret: &str, t: i64, body: &[u8]) -> String {
        let tag = sign(&key(secret), &t.to_string(), body);
        format!("t={t},v1={}", encoding::hex_lower(tag.as_ref()))
    }

    #[test]
    fn the_mac_covers_t_dot_body_keyed_by_the_whole_secret_string() {
        // HMAC-SHA256(key = "webhook_secret", "1533204620.x"), computed independently with
        // Python's `hmac` module.
        let tag = sign(&key("webhook_secret"), "1533204620", b"x");
        assert_eq!(
            encoding::hex_lower(tag.as_ref()),
            "0badea7e78464d12c33746bfe7e654f8358c00b2f061452b36d813b234fc5623"
        );
        let h = header_for("whsec_abc", 100, b"{}");
        let parsed = SignatureHeader::parse(&h).expect("parse");
        assert!(parsed.verify(&[key("whsec_abc")], b"{}").is_ok());
        assert!(
            parsed.verify(&[key("abc")], b"{}").is_err(),
            "prefix is part of the key"
        );
    }

    #[test]
    fn exactly_one_decimal_timestamp_is_required() {
        for bad in [
            "", "v1=00", "t=", "t=1.0", "t=0x10", "t=-5", "t=+5", "t=1,t=1", "t = 1",
        ] {
            let r = SignatureHeader::parse(bad).expect_err(bad);
            assert_eq!(r.kind(), RejectionKind::Malformed, "{bad}");
        }
        assert_eq!(
            SignatureHeader::parse("t=99999999999999999999")
                .expect_err("overflow")
                .kind(),
            RejectionKind::Malformed
        );
    }

    #[test]
    fn leading_zeros_in_t_sign_the_canonical_number() {
        let parsed = SignatureHeader::parse("t=000123").expect("parse");
        assert_eq!((parsed.t, parsed.t_digits), (123, "123"));
        assert_eq!(SignatureHeader::parse("t=0").expect("parse").t_digits, "0");
    }

    #[test]
    fn items_are_not_trimmed() {
        let mut h = header_for("s", 5, b"b");
        h = h.replace(",v1=", ", v1=");
        let parsed = SignatureHeader::parse(&h).expect("parse");
        let r = parsed
            .verify(&[key("s")], b"b")
            .expect_err("space before v1");
        assert_eq!(r.kind(), RejectionKind::Unauthenticated);
    }

    #[test]
    fn any_v1_may_match_any_configured_secret() {
        let good = header_for("new", 5, b"b");
        let old = header_for("old", 5, b"b");
        let both = format!("{old},{}", &good["t=5,".len()..]);
        let parsed = SignatureHeader::parse(&both).expect("parse");
        assert!(parsed.verify(&[key("other"), key("new")], b"b").is_ok());
        assert!(parsed.verify(&[key("other")], b"b").is_err());
    }

    #[test]
    fn v1_must_be_lower_case_hex_of_the_right_length() {
        let h = header_for("s", 5, b"b");
        for bad in [
            h.to_uppercase().replace("T=", "t=").replace("V1=", "v1="),
            format!("{}0", h),
            h[..h.len() - 1].to_owned(),
        ] {
            let parsed = SignatureHeader::parse(&bad).expect("parse");
            assert!(parsed.verify(&[key("s")], b"b").is_err(), "{bad}");
        }
    }

    #[test]
    fn the_tolerance_applies_both_ways_inclusive() {
        let p = SignatureHeader::parse("t=1000").expect("parse");
        assert!(p.check_time(1300, 300).is_ok());
        assert!(p.check_time(700, 300).is_ok());
        assert_eq!(
            p.check_time(1301, 300).expect_err("old").kind(),
            RejectionKind::Expired
        );
        assert_eq!(
            p.check_time(699, 300).expect_err("future").kind(),
            RejectionKind::NotYetValid
        );
        assert_eq!(
            p.check_time(i64::MIN, 300).expect_err("far past").kind(),
            RejectionKind::NotYetValid
        );
        assert_eq!(
            p.check_time(i64::MAX, 300).expect_err("far future").kind(),
            RejectionKind::Expired
        );
    }

    #[test]
    fn hex_round_trips() {
        let bytes: Vec<u8> = (0..32).collect();
        assert_eq!(
            encoding::hex_lower_decode::<32>(&encoding::hex_lower(&bytes)).map(|a| a.to_vec()),
            Some(bytes)
        );
    }
}
