//! What the four fuzz targets share: the input format, the fixed clock, a runtime for the async
//! verifiers, and the oracle every result is checked against.
//!
//! # Input format
//!
//! An input reads like an HTTP request without its request line, so a fixture case (its headers
//! and body file) is a readable seed:
//!
//! ```text
//! sign                                  <- mode line: `sign`, or anything else for "as is"
//! stripe-signature: t=1767225600,v1=…   <- header lines, `name: value`, until an empty line
//! content-type: application/json
//!
//! {"id":"evt_1",…}                      <- the body, every remaining byte
//! ```
//!
//! *As is*: the headers and body go to `Store::verify` untouched. The target's keys (the
//! `testing` signers') sign nothing the fuzzer sees, so such an input must never verify: this
//! mode explores everything up to and including the signature check.
//!
//! *sign*: the target first signs the input with its own key (a `Stripe-Signature` over the
//! body, an Apple JWS of the body as payload, a Google push token, an SNS signature over the
//! envelope's fields), so the fuzzer reaches the parsers behind the signature. Such an input must
//! never be refused as unauthenticated.

use std::cell::RefCell;
use std::future::Future;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use store_notifications::{Notification, Rejection, RejectionKind, Verdict};

/// The instant every target verifies at (2026-01-01T00:00:00Z), as the shared fixtures do.
pub const NOW: u64 = 1_767_225_600;

/// One fuzz input, split.
#[derive(Debug)]
pub struct Request {
    /// Whether the target signs the input with its own key before verifying it.
    pub sign: bool,
    /// The header lines that are a valid HTTP header (others are skipped).
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl Request {
    /// Splits `data` as described in the [crate docs](crate).
    pub fn parse(data: &[u8]) -> Request {
        let (mode, mut rest) = split_line(data);
        let mut headers = HeaderMap::new();
        loop {
            let (line, after) = split_line(rest);
            if line.is_empty() {
                rest = after;
                break;
            }
            rest = after;
            if let Some((name, value)) = header(line) {
                headers.append(name, value);
            }
        }
        Request {
            sign: mode == b"sign",
            headers,
            body: Bytes::copy_from_slice(rest),
        }
    }
}

/// The first line (without `\n` or `\r\n`) and the rest.
fn split_line(data: &[u8]) -> (&[u8], &[u8]) {
    let (line, rest) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    (line.strip_suffix(b"\r").unwrap_or(line), rest)
}

fn header(line: &[u8]) -> Option<(HeaderName, HeaderValue)> {
    let colon = line.iter().position(|&b| b == b':')?;
    let name = HeaderName::from_bytes(&line[..colon]).ok()?;
    let value = &line[colon + 1..];
    let start = value
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(value.len());
    let value = HeaderValue::from_bytes(&value[start..]).ok()?;
    Some((name, value))
}

thread_local! {
    static RUNTIME: RefCell<Option<tokio::runtime::Runtime>> = const { RefCell::new(None) };
}

/// Drives `future` to completion on a per-thread current-thread runtime.
pub fn block_on<F: Future>(future: F) -> F::Output {
    RUNTIME.with(|cell| {
        let mut runtime = cell.borrow_mut();
        runtime
            .get_or_insert_with(|| {
                tokio::runtime::Builder::new_current_thread()
                    .build()
                    .expect("a current-thread runtime")
            })
            .block_on(future)
    })
}

/// The oracle: an input as is never verifies (nor is found authentic but unusable), a signed
/// one is never unauthenticated, and whatever comes out can be inspected (every accessor the
/// pipeline calls) without panicking.
pub fn check<N: Notification>(signed: bool, result: &Result<Verdict<N>, Rejection>) {
    match result {
        Ok(Verdict::Notification(notification)) => {
            assert!(
                signed,
                "an input the target did not sign verified: {notification:?}"
            );
            inspect(notification);
        }
        Ok(verdict) => {
            assert!(
                signed,
                "an input the target did not sign is authentic: {verdict:?}"
            );
            let _ = format!("{verdict:?}");
        }
        Err(rejection) => {
            assert!(
                !signed || rejection.kind() != RejectionKind::Unauthenticated,
                "a delivery signed with the target's key was refused: {rejection}"
            );
            let _ = rejection.status();
            let _ = rejection.to_string();
        }
    }
}

fn inspect<N: Notification>(n: &N) {
    let _ = (n.store(), n.id(), n.notification_type());
    let _ = (n.disposition(), n.event_kind(), n.occurred_at());
    let _ = format!("{n:?}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_input_splits_into_mode_headers_and_body() {
        let r = Request::parse(b"sign\r\nA: 1\nb:\t2\nnot a header\nb: 3\n\nbody\n\nmore");
        assert!(r.sign);
        assert_eq!(r.headers["a"], "1");
        let b: Vec<_> = r.headers.get_all("b").iter().collect();
        assert_eq!(b, ["2", "3"]);
        assert_eq!(r.headers.len(), 3);
        assert_eq!(&r.body[..], b"body\n\nmore");
    }

    #[test]
    fn anything_but_sign_is_as_is_and_a_missing_blank_line_means_no_body() {
        let r = Request::parse(b"raw\nx-a: 1");
        assert!(!r.sign);
        assert_eq!(r.headers["x-a"], "1");
        assert!(r.body.is_empty());
        let r = Request::parse(b"");
        assert!(!r.sign && r.headers.is_empty() && r.body.is_empty());
        assert!(!Request::parse(b"signed\n\n").sign);
    }
}
