//! SNS signing certificates: the `SigningCertURL` rules ([`url`]), where certificates come from
//! ([`source`]) and the parsed key with its cache ([`key`]).

mod key;
mod source;
mod url;

pub use key::CertError;
pub(crate) use key::{DEFAULT_KEY_CACHE_CAPACITY, KeyCache, SigningKey, key_cache};
#[cfg(feature = "fetch")]
pub use source::HttpsCertSource;
pub use source::{CertSource, CertSourceError, CertSourceErrorKind, PinnedCerts};
pub use url::{CertUrl, UrlError};
pub(crate) use url::{
    canonical_url_region, check_region_matches_topic, parse_sns_https, topic_arn_region,
};
