//! Where signing certificates come from: the [`CertSource`] seam, certificates pinned on disk
//! ([`PinnedCerts`]) and, with feature `fetch`, downloaded over HTTPS.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;

use super::key::{CertError, SigningKey};
use super::url::{CertUrl, is_pem_file_name};

/// Why a [`CertSource`] could not produce a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertSourceError {
    kind: CertSourceErrorKind,
    message: String,
}

/// The category of a [`CertSourceError`]; it decides the answer to SNS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CertSourceErrorKind {
    /// The source definitely has no such certificate (not pinned, 404): the message cannot be
    /// authenticated (401).
    NotFound,
    /// The certificate cannot be had right now (network, timeout, 5xx): 503, so SNS retries —
    /// SNS treats every answer below 500 as final.
    Unavailable,
}

impl CertSourceError {
    /// An error of `kind` with a short explanation.
    pub fn new(kind: CertSourceErrorKind, message: impl Into<String>) -> Self {
        CertSourceError {
            kind,
            message: message.into(),
        }
    }

    /// The category.
    pub fn kind(&self) -> CertSourceErrorKind {
        self.kind
    }

    /// The explanation.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for CertSourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CertSourceError {}

/// Where SNS signing certificates come from: a validated URL in, the certificate's PEM out.
///
/// Object-safe, so the store holds an `Arc<dyn CertSource>`. The store only ever asks for URLs
/// that passed [`CertUrl::parse`], and caches the parsed key per URL, so a source is asked once
/// per certificate (until the bounded cache evicts it).
#[async_trait]
pub trait CertSource: Send + Sync + 'static {
    /// The PEM-encoded certificate `url` names.
    async fn certificate(&self, url: &CertUrl) -> Result<Vec<u8>, CertSourceError>;
}

#[async_trait]
impl CertSource for Arc<dyn CertSource> {
    async fn certificate(&self, url: &CertUrl) -> Result<Vec<u8>, CertSourceError> {
        (**self).certificate(url).await
    }
}

/// Certificates you trust, looked up by the URL's file name: no network, you decide the trust.
///
/// The URL rules still apply: a message naming an unpinned file, or a pinned file on a host
/// that is not SNS, is unauthenticated. An unpinned file is also logged at `error` with its
/// URL: SNS does not retry a 401, so after AWS rotates its certificate every message is lost
/// until the new file is pinned.
///
/// ```
/// use store_notifications::amazon::PinnedCerts;
///
/// // Every `*.pem` of a directory, named as in the SigningCertURL
/// // (`SimpleNotificationService-<id>.pem`), or one by one with `with_pem`.
/// assert!(PinnedCerts::from_dir("/no/such/dir").is_err());
/// assert!(PinnedCerts::new().with_pem("SimpleNotificationService-x.pem", "not a cert").is_err());
/// ```
#[derive(Clone, Default)]
pub struct PinnedCerts {
    by_file_name: HashMap<String, Vec<u8>>,
}

impl PinnedCerts {
    /// No certificates.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every `*.pem` file of `dir`, keyed by file name. Each must be a certificate with an RSA
    /// key, checked now rather than at the first message.
    pub fn from_dir(dir: impl AsRef<Path>) -> std::io::Result<Self> {
        let mut certs = PinnedCerts::new();
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if !is_pem_file_name(name) || !path.is_file() {
                continue;
            }
            let name = name.to_owned();
            let pem = std::fs::read(&path)?;
            certs = certs.with_pem(name, pem).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            })?;
        }
        Ok(certs)
    }

    /// Adds the certificate `pem` under `file_name` (`SimpleNotificationService-….pem`).
    pub fn with_pem(
        mut self,
        file_name: impl Into<String>,
        pem: impl Into<Vec<u8>>,
    ) -> Result<Self, CertError> {
        let file_name = file_name.into();
        if !is_pem_file_name(&file_name) {
            return Err(CertError("the file name is not `<name>.pem`"));
        }
        let pem = pem.into();
        SigningKey::from_pem(&pem)?;
        self.by_file_name.insert(file_name, pem);
        Ok(self)
    }

    /// How many certificates are pinned.
    pub fn len(&self) -> usize {
        self.by_file_name.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.by_file_name.is_empty()
    }
}

impl fmt::Debug for PinnedCerts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&String> = self.by_file_name.keys().collect();
        names.sort();
        f.debug_struct("PinnedCerts")
            .field("files", &names)
            .finish()
    }
}

#[async_trait]
impl CertSource for PinnedCerts {
    async fn certificate(&self, url: &CertUrl) -> Result<Vec<u8>, CertSourceError> {
        match self.by_file_name.get(url.file_name()) {
            Some(pem) => Ok(pem.clone()),
            None => {
                // SNS treats a 4xx as final and never retries: when AWS rotates its signing
                // certificate, every message is lost until the new one is pinned. Loud, with
                // the URL (not a secret; it passed the URL rules, so it is plain
                // `https://sns.<region>.amazonaws.com/<[A-Za-z0-9._-]>.pem` text).
                tracing::error!(
                    url = %url,
                    file = url.file_name(),
                    "SNS signing certificate is not pinned: the message is refused (401) and SNS \
                     will not retry it. If AWS rotated its certificate, download it from this URL \
                     and pin it under this file name (PinnedCerts::from_dir / with_pem)"
                );
                Err(CertSourceError::new(
                    CertSourceErrorKind::NotFound,
                    format!("signing certificate {} is not pinned", url.file_name()),
                ))
            }
        }
    }
}

/// Downloads signing certificates over HTTPS with reqwest (feature `fetch`).
///
/// Redirects are not followed (a redirect would leave the host the URL rules checked), the
/// body is capped at 64 KiB and the request times out after 10 s. A 404 or 410 means the
/// certificate does not exist (401); any other failure is transient (503, SNS retries).
#[cfg(feature = "fetch")]
#[cfg_attr(docsrs, doc(cfg(feature = "fetch")))]
#[derive(Debug, Clone)]
pub struct HttpsCertSource {
    client: reqwest::Client,
}

#[cfg(feature = "fetch")]
impl HttpsCertSource {
    /// A source with its own client (no redirects, HTTPS only, 10 s timeout). Fails only if
    /// the TLS backend cannot be initialised.
    pub fn new() -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .https_only(true)
            .timeout(std::time::Duration::from_secs(10))
            .build()?;
        Ok(HttpsCertSource { client })
    }

    /// A source using `client` (configure no redirects and a timeout on it).
    pub fn from_client(client: reqwest::Client) -> Self {
        HttpsCertSource { client }
    }
}

#[cfg(feature = "fetch")]
#[async_trait]
impl CertSource for HttpsCertSource {
    async fn certificate(&self, url: &CertUrl) -> Result<Vec<u8>, CertSourceError> {
        const LIMIT: usize = 64 * 1024;
        let unavailable = |m: String| CertSourceError::new(CertSourceErrorKind::Unavailable, m);
        let mut response = self
            .client
            .get(url.as_str())
            .send()
            .await
            .map_err(|e| unavailable(format!("fetching {url}: {e}")))?;
        let status = response.status();
        if status == http::StatusCode::NOT_FOUND || status == http::StatusCode::GONE {
            return Err(CertSourceError::new(
                CertSourceErrorKind::NotFound,
                format!("{url} answered {status}"),
            ));
        }
        if !status.is_success() {
            return Err(unavailable(format!("{url} answered {status}")));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| unavailable(format!("reading {url}: {e}")))?
        {
            if body.len() + chunk.len() > LIMIT {
                return Err(unavailable(format!("{url} is larger than {LIMIT} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Mutex, PoisonError};

    #[cfg(feature = "fetch")]
    const GOOD: &str = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem";

    #[test]
    fn pinned_certs_reject_a_pem_without_a_certificate() {
        assert!(PinnedCerts::new().with_pem("x.pem", "garbage").is_err());
        assert!(
            PinnedCerts::new()
                .with_pem(
                    "x.pem",
                    "-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----"
                )
                .is_err()
        );
    }

    /// Records every event's level and fields: enough to assert on a log line without a
    /// `tracing-subscriber` dependency.
    struct Capture(Arc<Mutex<Vec<(tracing::Level, String)>>>);

    impl tracing::Subscriber for Capture {
        fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            tracing::span::Id::from_u64(1)
        }
        fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
        fn event(&self, event: &tracing::Event<'_>) {
            struct Fields(String);
            impl tracing::field::Visit for Fields {
                fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
                    self.0.push_str(&format!("{}={value:?} ", field.name()));
                }
            }
            let mut fields = Fields(String::new());
            event.record(&mut fields);
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push((*event.metadata().level(), fields.0));
        }
        fn enter(&self, _: &tracing::span::Id) {}
        fn exit(&self, _: &tracing::span::Id) {}
    }

    #[tokio::test]
    async fn unpinned_certificate_is_logged_at_error_with_its_url() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let _guard = tracing::subscriber::set_default(Capture(Arc::clone(&seen)));
        let rotated = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-rotated.pem";
        let err = PinnedCerts::new()
            .certificate(&CertUrl::parse(rotated).expect("url"))
            .await
            .expect_err("not pinned");
        assert_eq!(err.kind(), CertSourceErrorKind::NotFound);
        let seen = seen.lock().unwrap_or_else(PoisonError::into_inner);
        let errors: Vec<&String> = seen
            .iter()
            .filter(|(level, _)| *level == tracing::Level::ERROR)
            .map(|(_, fields)| fields)
            .collect();
        assert_eq!(errors.len(), 1, "{seen:?}");
        assert!(errors[0].contains(rotated), "{}", errors[0]);
        assert!(errors[0].contains("pin it"), "{}", errors[0]);
    }

    #[cfg(feature = "fetch")]
    #[tokio::test]
    async fn https_source_failure_is_unavailable_so_sns_retries() {
        // The SNS host resolves to loopback, where nothing speaks TLS on 443: no network used.
        let client = reqwest::Client::builder()
            .resolve(
                "sns.us-east-1.amazonaws.com",
                std::net::SocketAddr::from(([127, 0, 0, 1], 443)),
            )
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(5))
            .build()
            .expect("client");
        let url = CertUrl::parse(GOOD).expect("url");
        let err = HttpsCertSource::from_client(client)
            .certificate(&url)
            .await
            .expect_err("nothing there");
        assert_eq!(err.kind(), CertSourceErrorKind::Unavailable);
    }
}
