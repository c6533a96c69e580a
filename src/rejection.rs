//! Why a delivery was not accepted, and what the store is answered.

use std::borrow::Cow;
use std::fmt;

use http::StatusCode;

/// The category of a [`Rejection`]. It decides the HTTP status.
///
/// The names follow the `reason` field of the shared fixture manifests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RejectionKind {
    /// The body is larger than the endpoint's limit (413).
    PayloadTooLarge,
    /// The client did not send the whole body within the endpoint's body timeout (408: the
    /// store retries).
    RequestTimeout,
    /// A header or the envelope is missing or cannot be parsed (400).
    Malformed,
    /// Well-formed but of a kind or version this library does not accept (400).
    Unsupported,
    /// The signature, certificate chain or token does not check out (401).
    Unauthenticated,
    /// The proof is genuine but too old (401).
    Expired,
    /// The proof is genuine but dated in the future beyond the tolerance (401).
    NotYetValid,
    /// A genuine message meant for another app, environment or topic (403).
    WrongApp,
    /// Keys or certificates are temporarily unobtainable (503: the store retries).
    Unavailable,
    /// The receipt hook returned an error or did not answer within the endpoint's hook
    /// timeout (503: the store retries).
    HookFailed,
    /// The dead-letter sink failed (or timed out) keeping an unusable notification (503: the
    /// store retries).
    DeadLetterFailed,
}

impl RejectionKind {
    /// The HTTP status the store is answered with.
    pub const fn status(self) -> StatusCode {
        match self {
            RejectionKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            RejectionKind::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            RejectionKind::Malformed | RejectionKind::Unsupported => StatusCode::BAD_REQUEST,
            RejectionKind::Unauthenticated
            | RejectionKind::Expired
            | RejectionKind::NotYetValid => StatusCode::UNAUTHORIZED,
            RejectionKind::WrongApp => StatusCode::FORBIDDEN,
            RejectionKind::Unavailable
            | RejectionKind::HookFailed
            | RejectionKind::DeadLetterFailed => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// A stable snake-case name (`"unauthenticated"`, `"wrong_app"`, …) for logs and metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            RejectionKind::PayloadTooLarge => "payload_too_large",
            RejectionKind::RequestTimeout => "request_timeout",
            RejectionKind::Malformed => "malformed",
            RejectionKind::Unsupported => "unsupported",
            RejectionKind::Unauthenticated => "unauthenticated",
            RejectionKind::Expired => "expired",
            RejectionKind::NotYetValid => "not_yet_valid",
            RejectionKind::WrongApp => "wrong_app",
            RejectionKind::Unavailable => "unavailable",
            RejectionKind::HookFailed => "hook_failed",
            RejectionKind::DeadLetterFailed => "dead_letter_failed",
        }
    }

    /// Whether the store should retry: a 5xx answer, or a 408 for a body that arrived too
    /// slowly.
    pub fn is_transient(self) -> bool {
        self.status().is_server_error() || matches!(self, RejectionKind::RequestTimeout)
    }
}

impl fmt::Display for RejectionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a delivery was not accepted.
///
/// Opaque on purpose: match on [`kind`](Rejection::kind), which may grow. The message is meant
/// for the store's delivery log and your logs; it never contains a secret.
///
/// An authentic delivery whose payload is unusable is not a rejection but a
/// [`Verdict::Unusable`](crate::Verdict::Unusable), which carries a `Rejection` saying why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    kind: RejectionKind,
    authentic: bool,
    message: Cow<'static, str>,
}

impl Rejection {
    /// A rejection of the given kind with a short, secret-free explanation.
    pub fn new(kind: RejectionKind, message: impl Into<Cow<'static, str>>) -> Self {
        Rejection {
            kind,
            authentic: false,
            message: message.into(),
        }
    }

    /// Shorthand for [`RejectionKind::Malformed`].
    pub fn malformed(message: impl Into<Cow<'static, str>>) -> Self {
        Rejection::new(RejectionKind::Malformed, message)
    }

    /// Shorthand for [`RejectionKind::Unauthenticated`].
    pub fn unauthenticated(message: impl Into<Cow<'static, str>>) -> Self {
        Rejection::new(RejectionKind::Unauthenticated, message)
    }

    /// The category, which decides the status.
    pub fn kind(&self) -> RejectionKind {
        self.kind
    }

    /// The HTTP status for this rejection when it is answered as such.
    pub fn status(&self) -> StatusCode {
        self.kind.status()
    }

    /// The explanation.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// The crate-private "authentic but unusable" marker a store sets while parsing, turned into
/// [`Verdict::Unusable`](crate::Verdict::Unusable) at its public boundary. Only the built-in
/// stores set it.
#[cfg_attr(
    not(any(
        feature = "stripe",
        feature = "apple",
        feature = "google",
        feature = "amazon"
    )),
    allow(dead_code)
)]
impl Rejection {
    /// A rejection of a message whose proof checked out but whose payload is unusable: the
    /// crate-private marker a store sets while parsing, turned into
    /// [`Verdict::Unusable`](crate::Verdict::Unusable) at its public boundary.
    pub(crate) fn unusable(kind: RejectionKind, message: impl Into<Cow<'static, str>>) -> Self {
        Rejection {
            authentic: true,
            ..Rejection::new(kind, message)
        }
    }

    /// Whether the message was authentic (proof verified) but its payload unusable.
    pub(crate) fn is_authentic(&self) -> bool {
        self.authentic
    }

    /// The same rejection without the marker (as a [`Rejection::new`] of its kind and message).
    pub(crate) fn into_unmarked(self) -> Self {
        Rejection {
            authentic: false,
            ..self
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for Rejection {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_failures_answer_5xx_so_the_store_retries() {
        for kind in [
            RejectionKind::Unavailable,
            RejectionKind::HookFailed,
            RejectionKind::DeadLetterFailed,
            RejectionKind::RequestTimeout,
        ] {
            assert!(kind.is_transient(), "{kind}");
        }
        for kind in [
            RejectionKind::Malformed,
            RejectionKind::Unauthenticated,
            RejectionKind::WrongApp,
            RejectionKind::PayloadTooLarge,
        ] {
            assert!(!kind.is_transient(), "{kind}");
        }
    }

    #[test]
    fn display_names_the_kind_and_the_reason() {
        let r = Rejection::unauthenticated("no v1 signature matches");
        assert_eq!(r.to_string(), "unauthenticated: no v1 signature matches");
        assert!(!r.is_authentic());
        assert!(Rejection::unusable(RejectionKind::Malformed, "x").is_authentic());
    }
}
