//! The byte encodings the stores read and write: base64 (standard, padded), base64url (no
//! padding) and lower-case hex. Every decoder is strict — one spelling per byte string — so a
//! value that passed a check cannot be re-spelled into another that also passes.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// Strict standard base64 with padding (RFC 4648 §4): no whitespace, no missing or extra
/// padding, no non-canonical trailing bits. What SNS signatures, PEM bodies, Apple's `x5c`
/// entries and Pub/Sub `data` use.
pub(crate) fn b64_decode(s: impl AsRef<[u8]>) -> Option<Vec<u8>> {
    STANDARD.decode(s).ok()
}

/// Standard base64 with padding.
#[cfg(any(test, feature = "test-util"))]
pub(crate) fn b64_encode(bytes: impl AsRef<[u8]>) -> String {
    STANDARD.encode(bytes)
}

/// Strict base64url without padding (RFC 4648 §5, RFC 7515 §2): padding, the standard
/// alphabet (`+`, `/`), whitespace and non-canonical trailing bits are refused.
/// SIMD-accelerated (`base64-simd`): an App Store notification is 10+ KB of base64url and
/// decoding it is the largest cost after the signature check (about 3× faster than the scalar
/// `base64` engine there).
#[cfg(any(feature = "apple", feature = "google"))]
pub(crate) fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    base64_simd::URL_SAFE_NO_PAD.decode_to_vec(s).ok()
}

/// Base64url without padding.
#[cfg(all(
    any(feature = "apple", feature = "google"),
    any(test, feature = "test-util")
))]
pub(crate) fn b64url_encode(bytes: &[u8]) -> String {
    base64_simd::URL_SAFE_NO_PAD.encode_to_string(bytes)
}

/// Lower-case hex, two digits a byte.
pub(crate) fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

/// Exactly `2 * N` lower-case hex digits; upper case, odd lengths and anything else refused.
pub(crate) fn hex_lower_decode<const N: usize>(s: &str) -> Option<[u8; N]> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    let bytes = s.as_bytes();
    if bytes.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        *byte = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_base64_is_padded_and_strict() {
        assert_eq!(b64_decode("YQ==").as_deref(), Some(&b"a"[..]));
        assert_eq!(b64_decode("+/8=").as_deref(), Some(&[0xfb, 0xff][..]));
        for bad in [
            "YQ", "YQ=", "YQ===", "YR==", "Y Q==", "YQ==\n", "-_8=", "!!!!",
        ] {
            assert_eq!(b64_decode(bad), None, "{bad:?}");
        }
        assert_eq!(
            b64_decode(b64_encode(b"round trip")).as_deref(),
            Some(&b"round trip"[..])
        );
    }

    #[cfg(any(feature = "apple", feature = "google"))]
    #[test]
    fn base64url_is_unpadded_and_strict() {
        assert_eq!(b64url_decode("YQ").as_deref(), Some(&b"a"[..]));
        assert_eq!(b64url_decode("-_8").as_deref(), Some(&[0xfb, 0xff][..]));
        assert_eq!(b64url_decode("").as_deref(), Some(&b""[..]));
        for (bad, why) in [
            ("YQ==", "padding"),
            ("YQ=", "padding"),
            ("Y+8", "standard alphabet"),
            ("Y/8", "standard alphabet"),
            ("YR", "non-canonical trailing bits"),
            ("Y Q", "whitespace"),
            ("YQ\n", "newline"),
            ("Y", "impossible length"),
            ("YQ.", "not the alphabet"),
        ] {
            assert_eq!(b64url_decode(bad), None, "{why}: {bad:?}");
        }
        assert_eq!(
            b64url_decode(&b64url_encode(&[0, 1, 254, 255])).as_deref(),
            Some(&[0, 1, 254, 255][..])
        );
    }

    #[test]
    fn hex_is_lower_case_and_exact_length() {
        assert_eq!(hex_lower(&[0x00, 0xab, 0xff]), "00abff");
        assert_eq!(hex_lower_decode::<3>("00abff"), Some([0x00, 0xab, 0xff]));
        for bad in ["00ABFF", "00abf", "00abfff", "00abfg", "", " 0abff"] {
            assert_eq!(hex_lower_decode::<3>(bad), None, "{bad:?}");
        }
        let bytes: Vec<u8> = (0..=255).collect();
        let bytes: [u8; 256] = bytes.try_into().expect("256");
        assert_eq!(hex_lower_decode::<256>(&hex_lower(&bytes)), Some(bytes));
    }
}
