//! Apple App Store Server Notifications V2: a JWS signed by a certificate chain to Apple's root.
//!
//! Apple POSTs `{"signedPayload": "<JWS>"}`. [`AppleStore`] authenticates it the way Apple's
//! official app-store-server libraries do and parses it into an [`AppleNotification`]:
//!
//! ```
//! use bytes::Bytes;
//! use http::HeaderMap;
//! use store_notifications::{AppleStore, Clock, RejectionKind};
//! use store_notifications::apple::ValidityDate;
//!
//! // Trusts Apple Root CA - G3 (embedded); Production requires your app's Apple ID.
//! let store = AppleStore::production("com.example.app", 1234567890)
//!     .with_nested_verification(false)              // the default, see "Nested JWS" below
//!     .with_validity_date(ValidityDate::SignedDate) // the default, see "Time" below
//!     .with_clock(Clock::system());
//!
//! let body = Bytes::from_static(br#"{"signedPayload":"not.a.jws"}"#);
//! let rejection = store.verify_at(&HeaderMap::new(), &body, store.now()).unwrap_err();
//! assert_eq!(rejection.kind(), RejectionKind::Malformed);
//! assert_eq!(rejection.status(), 400);
//! ```
//!
//! Mount it with [`Endpoint`](crate::Endpoint) like any store; the handler gets an
//! [`AppleNotification`] (typed payload, decoded transaction and renewal info). For tests, the
//! `test-util` feature's `testing::AppleSigner` makes a throwaway root, intermediate and leaf and
//! signs notifications that this store accepts once it trusts the signer's root.
//!
//! # Rules
//!
//! - **JWS**: compact, three base64url parts without padding;
//!   `alg` exactly `ES256`; raw `r‖s` signature checked with ring (`ECDSA_P256_SHA256_FIXED`).
//! - **Chain**: `x5c` holds exactly three certificates; the leaf (marker OID
//!   `1.2.840.113635.100.6.11.1`) is signed by the intermediate (marker `1.2.840.113635.100.6.2.1`,
//!   a CA), which is signed by one of the **configured** roots. The third `x5c` certificate is
//!   never trusted by itself — as in Apple's libraries, it is not used at all.
//! - **Header size**: the protected header is at most 16 KiB of base64url (Apple's is about
//!   4 KiB); a larger one is malformed (400) and is not decoded.
//! - **Cache**: a verified chain is cached (32 entries, 15 minutes, like Apple's libraries) by
//!   its leaf and intermediate certificates (a SHA-256 of their `x5c` text, so other header
//!   fields do not matter), together with its validity window, so a steady stream costs one
//!   ES256 verify per notification and the date check needs no crypto. A chain is cached only
//!   after the JWS signature verified with its leaf key: a genuine `x5c` replayed with a bad
//!   signature is refused without taking (or evicting) an entry.
//! - **Time**: certificates must be valid at the payload's `signedDate` (the effective date
//!   Apple's libraries use offline), or at the clock's "now" with [`ValidityDate::Now`]. A
//!   payload without `signedDate` is checked at "now". Online revocation (OCSP) is not checked.
//! - **App binding**: the bundle id and environment (from `data`, else `summary`, else
//!   `externalPurchaseToken` — Sandbox when its id starts with `SANDBOX` — else `appData`) must
//!   match the configuration, and in Production the `appAppleId` too. A genuine notification for
//!   another app or environment is [`RejectionKind::WrongApp`](crate::RejectionKind::WrongApp) (403).
//! - **Payload**: an authentic JWS whose payload is not a notification is
//!   [`Verdict::Unusable`](crate::Verdict::Unusable), which the endpoint dead-letters (200).
//!
//! # Nested JWS
//!
//! `data.signedTransactionInfo` and `data.signedRenewalInfo` are JWS too. Their exact bytes are
//! part of the outer payload, which the outer ES256 signature already covers: nobody can change a
//! byte of them without breaking that signature. By default they are therefore decoded without a
//! second and third ECDSA verify (their header and signature are not looked at), which is what
//! makes this store about 3× cheaper than verifying everything. With
//! [`with_nested_verification(true)`](AppleStore::with_nested_verification) each nested JWS
//! (and `appData`'s `signedAppTransactionInfo`) is verified with the full rules against the same
//! roots, at its own `signedDate`, and the transaction's bundle id and environment and the
//! renewal info's environment must match the configuration — parity with Apple's
//! `verify_and_decode_signed_transaction` / `…_renewal_info`.
//!
//! # Where this differs from Apple's libraries
//!
//! - With `Xcode` or `LocalTesting` configured, Apple's libraries skip signature verification;
//!   this store never does: add the StoreKit testing certificate as a root instead.
//! - A payload with none of `data` / `summary` / `externalPurchaseToken` / `appData` is an
//!   authentic-but-unusable payload (dead-lettered), not an app-identifier error.
//! - Apple V1 notifications (no `signedPayload`, `notification_type` field) are
//!   [`RejectionKind::Unsupported`](crate::RejectionKind::Unsupported).

mod chain;
mod envelope;
mod jws;
mod mapping;
mod notification;
mod payload;
mod shape;
mod store;
mod verify;

pub use notification::AppleNotification;
pub use payload::{
    AppData, ConsumptionRequestReason, Data, Environment, ExternalPurchaseToken,
    InAppOwnershipType, JWSRenewalInfoDecodedPayload, JWSTransactionDecodedPayload,
    NotificationType, OfferDiscountType, ResponseBodyV2DecodedPayload, RevocationType, Subtype,
    Summary, TransactionReason, TransactionType,
};
pub use shape::PayloadShape;
pub use store::{APPLE_ROOT_CA_G3, AppleConfigError, AppleRoot, AppleStore, ValidityDate};

// The test signers' name for it.
#[cfg(feature = "test-util")]
pub(crate) use crate::kernel::encoding::b64url_encode as encode_b64url;
