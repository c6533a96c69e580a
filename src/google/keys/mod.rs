//! Google's token-signing keys: where they come from ([`KeySource`]) and how they are cached.
//!
//! Google publishes the keys that sign Pub/Sub push ID tokens in two forms: a JWKS at
//! <https://www.googleapis.com/oauth2/v3/certs> and a `{kid: PEM certificate}` map at
//! <https://www.googleapis.com/oauth2/v1/certs>. Both parse into a [`KeySet`] whose RSA keys are
//! decoded once, so verifying a token costs one RS256 check.
//!
//! The store keeps the keys in a cache that
//!
//! - uses them until the lifetime the source reported (`Cache-Control: max-age` minus `Age`
//!   for [`GoogleCerts`]) has passed, then refetches;
//! - refetches when a token names a `kid` it does not know (Google rotates keys), at most once
//!   per [`min_refetch_interval`](super::GoogleStore::with_min_refetch_interval), so forged
//!   tokens with random `kid`s cannot turn into a flood of requests to Google;
//! - fetches single-flight: N requests needing a refresh at once cause one fetch;
//! - keeps the old keys when a refresh fails, and answers 503 (Pub/Sub retries) rather than 401
//!   when no usable keys can be had.

mod cache;
mod https;
mod set;
mod source;

pub use cache::DEFAULT_MIN_REFETCH_INTERVAL;
pub(crate) use cache::KeyCache;
#[cfg(feature = "fetch")]
pub use https::GoogleCerts;
pub(crate) use set::RsaKey;
pub use set::{KeyError, KeySet};
pub use source::{FetchedKeys, KeySource, StaticKeys};
