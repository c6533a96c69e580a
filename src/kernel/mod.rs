//! The plumbing every store shares, one module per concern: the byte encodings, compact JWS,
//! PEM, the key/certificate cache and JSON error messages. Crate-private: each store reads its
//! own wire format with these, so a rule fixed here is fixed for every store.

// Each store uses its part of the kernel: a build with only some stores leaves the rest unused.
#![cfg_attr(
    not(all(
        feature = "stripe",
        feature = "apple",
        feature = "google",
        feature = "amazon"
    )),
    allow(dead_code)
)]

#[cfg(any(feature = "google", feature = "amazon"))]
pub(crate) mod cache;
pub(crate) mod encoding;
#[cfg(any(feature = "apple", feature = "google"))]
pub(crate) mod jose;
pub(crate) mod json;
#[cfg(any(feature = "apple", feature = "google", feature = "amazon"))]
pub(crate) mod pem;
