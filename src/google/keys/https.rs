//! [`GoogleCerts`]: Google's published keys over HTTPS (feature `fetch`).

use std::time::Duration;

#[cfg(feature = "fetch")]
use async_trait::async_trait;

#[cfg(feature = "fetch")]
use super::{FetchedKeys, KeySet, KeySource};
#[cfg(feature = "fetch")]
use crate::BoxError;

/// Google's published keys over HTTPS (feature `fetch`): the JWKS at
/// <https://www.googleapis.com/oauth2/v3/certs> by default, cached for the response's
/// `Cache-Control: max-age` minus its `Age`.
///
/// ```
/// use store_notifications::google::{GoogleCerts, GoogleStore};
///
/// let store = GoogleStore::new(
///     "https://example.com/notifications/google",
///     "play-rtdn-push@my-project.iam.gserviceaccount.com",
///     GoogleCerts::new(),
/// );
/// # let _ = store;
/// ```
#[cfg(feature = "fetch")]
#[cfg_attr(docsrs, doc(cfg(feature = "fetch")))]
#[derive(Debug, Clone)]
pub struct GoogleCerts {
    url: String,
    client: Option<reqwest::Client>,
}

#[cfg(feature = "fetch")]
impl GoogleCerts {
    /// Google's JWKS endpoint.
    pub const URL: &'static str = "https://www.googleapis.com/oauth2/v3/certs";

    /// How long keys are used when the response says nothing about caching: 5 minutes.
    pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(300);

    /// Fetches from [`GoogleCerts::URL`] with a 10-second timeout.
    pub fn new() -> Self {
        GoogleCerts::from_url(Self::URL)
    }

    /// Fetches from another URL (either of Google's two formats), for tests or a mirror.
    pub fn from_url(url: impl Into<String>) -> Self {
        GoogleCerts {
            url: url.into(),
            // Building a client fails only when the TLS backend cannot initialise; `fetch` then
            // reports it (503) instead of panicking here.
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .ok(),
        }
    }

    /// Uses your own `reqwest` client (proxies, timeouts, …).
    #[must_use]
    pub fn with_client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }
}

#[cfg(feature = "fetch")]
impl Default for GoogleCerts {
    fn default() -> Self {
        GoogleCerts::new()
    }
}

#[cfg(feature = "fetch")]
#[async_trait]
impl KeySource for GoogleCerts {
    async fn fetch(&self) -> Result<FetchedKeys, BoxError> {
        let client = self
            .client
            .as_ref()
            .ok_or("the HTTP client could not be built")?;
        let response = client.get(&self.url).send().await?.error_for_status()?;
        let headers = response.headers();
        let max_age = cache_lifetime(
            headers
                .get(http::header::CACHE_CONTROL)
                .and_then(|v| v.to_str().ok()),
            headers.get(http::header::AGE).and_then(|v| v.to_str().ok()),
        )
        .unwrap_or(Self::DEFAULT_MAX_AGE);
        let body = response.bytes().await?;
        Ok(FetchedKeys::new(KeySet::from_json(&body)?, Some(max_age)))
    }
}

/// `max-age` minus `Age` (RFC 9111 §4.2.3: the response is already `Age` seconds old);
/// `no-cache` / `no-store` → zero; `None` when the response says nothing.
#[cfg_attr(not(feature = "fetch"), allow(dead_code))]
pub(crate) fn cache_lifetime(cache_control: Option<&str>, age: Option<&str>) -> Option<Duration> {
    let mut max_age = None;
    for directive in cache_control?.split(',') {
        let directive = directive.trim();
        let (name, value) = directive.split_once('=').unwrap_or((directive, ""));
        match name.trim().to_ascii_lowercase().as_str() {
            "no-store" | "no-cache" => return Some(Duration::ZERO),
            "max-age" => max_age = value.trim().trim_matches('"').parse::<u64>().ok(),
            _ => {}
        }
    }
    let age = age.and_then(|a| a.trim().parse::<u64>().ok()).unwrap_or(0);
    max_age.map(|m| Duration::from_secs(m.saturating_sub(age)))
}

#[cfg(all(test, feature = "test-util"))]
mod tests {
    use super::*;

    #[test]
    fn cache_lifetime_is_max_age_minus_age() {
        let s = |secs| Some(Duration::from_secs(secs));
        assert_eq!(
            cache_lifetime(
                Some("public, max-age=19845, must-revalidate, no-transform"),
                None
            ),
            s(19845)
        );
        assert_eq!(
            cache_lifetime(Some("public, max-age=19845"), Some("845")),
            s(19000)
        );
        assert_eq!(cache_lifetime(Some("max-age=10"), Some("30")), s(0));
        assert_eq!(cache_lifetime(Some("no-cache"), None), s(0));
        assert_eq!(cache_lifetime(Some("public"), None), None);
        assert_eq!(cache_lifetime(None, Some("5")), None);
    }
}
