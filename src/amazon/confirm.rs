//! Confirming SNS subscriptions ("Verified" in the Amazon console).
//!
//! When you add an endpoint in the Amazon Appstore console (or press *Resend*), SNS sends a
//! `SubscriptionConfirmation`; the endpoint is *Verified* once something GETs its
//! `SubscribeURL`. The store hands a verified confirmation — signature checked, topic allowed,
//! `SubscribeURL` on the SNS host of the topic's region — to a [`Confirmer`]:
//!
//! - [`HttpsConfirmer`] (feature `fetch`) GETs the URL;
//! - [`RecordOnly`] does nothing, so the subscription is recorded as pending with its token,
//!   for an operator to confirm (the default);
//! - any `Fn(ConfirmRequest) -> impl Future<Output = Result<(), E>>` closure confirms it your
//!   way (through your own HTTP client, a queue, …).
//!
//! A failing confirmation answers 503, so SNS sends the confirmation again.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;

use super::notification::AmazonNotification;
use super::store::AmazonStore;
use crate::BoxError;
use crate::amazon::cert::{self, UrlError, canonical_url_region, parse_sns_https};
use crate::rejection::{Rejection, RejectionKind};
use crate::status::{Subscription, SubscriptionState};

/// A `SubscribeURL` that passed the URL rules: `https`, no userinfo, no port, an Amazon SNS
/// host (`sns.<region>.amazonaws.com`, the same rule as the signing certificate's), and nothing
/// another URL parser could read as a different host.
///
/// Before following it the store also requires [`region`](SubscribeUrl::region) to be the
/// region of the confirmation's `TopicArn`.
#[derive(Clone, PartialEq, Eq)]
pub struct SubscribeUrl(String);

impl SubscribeUrl {
    /// Checks `url`.
    ///
    /// ```
    /// use store_notifications::amazon::SubscribeUrl;
    /// assert!(SubscribeUrl::parse("https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=t").is_ok());
    /// assert!(SubscribeUrl::parse("https://sns.us-east-1.amazonaws.com.evil.com/?Token=t").is_err());
    /// ```
    pub fn parse(url: &str) -> Result<SubscribeUrl, UrlError> {
        let (host, _) = parse_sns_https(url)?;
        // `http::Uri` and the WHATWG parser reqwest uses disagree on some inputs (backslashes,
        // whitespace): demand the plain `https://<host>/` prefix and no such characters, so
        // both read the same host.
        let prefix_ok = url
            .strip_prefix("https://")
            .and_then(|rest| rest.strip_prefix(host.as_str()))
            .is_some_and(|rest| rest.starts_with('/'));
        let clean = url
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'\\' | b'#'));
        if !prefix_ok || !clean {
            return Err(UrlError("the SubscribeURL is not in canonical form"));
        }
        Ok(SubscribeUrl(url.to_owned()))
    }

    /// The URL.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The region of the host (`us-east-1` in `https://sns.us-east-1.amazonaws.com/?…`).
    pub fn region(&self) -> &str {
        canonical_url_region(&self.0)
    }
}

impl fmt::Debug for SubscribeUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SubscribeUrl(<redacted>)")
    }
}

/// What a [`Confirmer`] is asked to confirm.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfirmRequest {
    /// The topic (`TopicArn`).
    pub topic_arn: String,
    /// The confirmation token (`Token`).
    pub token: String,
    /// The URL whose GET confirms the subscription (`SubscribeURL`).
    pub subscribe_url: SubscribeUrl,
}

impl fmt::Debug for ConfirmRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfirmRequest")
            .field("topic_arn", &self.topic_arn)
            .field("token", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// Confirms verified SNS subscription requests.
///
/// Object-safe: the store holds an `Arc<dyn Confirmer>`. Answer the state to record:
/// [`Confirmed`](SubscriptionState::Confirmed) when done,
/// [`PendingConfirmation`](SubscriptionState::PendingConfirmation) when left to someone else.
/// An error answers SNS 503, so it sends the confirmation again.
///
/// ```
/// use store_notifications::amazon::{ConfirmRequest, Confirmer};
/// use store_notifications::SubscriptionState;
///
/// let confirmer = |req: ConfirmRequest| async move {
///     // e.g. queue `req.subscribe_url` for your own HTTP client.
///     let _ = (req.topic_arn, req.token);
///     Ok::<_, std::io::Error>(())
/// };
/// # let _: &dyn Confirmer = &confirmer;
/// ```
#[async_trait]
pub trait Confirmer: Send + Sync + 'static {
    /// Confirms (or records) one subscription request.
    async fn confirm(&self, request: &ConfirmRequest) -> Result<SubscriptionState, BoxError>;
}

#[async_trait]
impl<F, Fut, E> Confirmer for F
where
    F: Fn(ConfirmRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send,
    E: Into<BoxError>,
{
    async fn confirm(&self, request: &ConfirmRequest) -> Result<SubscriptionState, BoxError> {
        self(request.clone()).await.map_err(Into::into)?;
        Ok(SubscriptionState::Confirmed)
    }
}

#[async_trait]
impl Confirmer for Arc<dyn Confirmer> {
    async fn confirm(&self, request: &ConfirmRequest) -> Result<SubscriptionState, BoxError> {
        (**self).confirm(request).await
    }
}

/// Makes no request: the subscription is recorded as pending, with its token and URL, for an
/// operator to confirm (the gateway's `AMAZON_AUTO_CONFIRM=false`).
#[derive(Debug, Clone, Copy, Default)]
pub struct RecordOnly;

#[async_trait]
impl Confirmer for RecordOnly {
    async fn confirm(&self, request: &ConfirmRequest) -> Result<SubscriptionState, BoxError> {
        tracing::info!(topic = %request.topic_arn,
            "SNS subscription confirmation recorded, not confirmed (record-only mode)");
        Ok(SubscriptionState::PendingConfirmation)
    }
}

/// Confirms by an HTTPS GET of the `SubscribeURL` with reqwest (feature `fetch`).
///
/// Redirects are not followed and the request times out after 10 s; anything but a 2xx is an
/// error (503 to SNS, which resends).
#[cfg(feature = "fetch")]
#[cfg_attr(docsrs, doc(cfg(feature = "fetch")))]
#[derive(Debug, Clone)]
pub struct HttpsConfirmer {
    client: reqwest::Client,
    /// Tests only: send the request to this origin (a loopback server) instead of the
    /// validated SNS host, keeping the path and query. Absent from non-test builds.
    #[cfg(test)]
    origin_override: Option<String>,
}

#[cfg(feature = "fetch")]
impl HttpsConfirmer {
    /// A confirmer with its own client (no redirects, HTTPS only, 10 s timeout). Fails only
    /// if the TLS backend cannot be initialised.
    pub fn new() -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .https_only(true)
            .timeout(std::time::Duration::from_secs(10))
            .build()?;
        Ok(Self::from_client(client))
    }

    /// A confirmer using `client` (configure no redirects and a timeout on it).
    pub fn from_client(client: reqwest::Client) -> Self {
        HttpsConfirmer {
            client,
            #[cfg(test)]
            origin_override: None,
        }
    }

    fn target(&self, url: &SubscribeUrl) -> String {
        #[cfg(test)]
        if let Some(origin) = &self.origin_override {
            let path = url
                .as_str()
                .strip_prefix("https://")
                .and_then(|r| r.find('/').and_then(|i| r.get(i..)))
                .unwrap_or("/");
            return format!("{origin}{path}");
        }
        url.as_str().to_owned()
    }
}

#[cfg(feature = "fetch")]
#[async_trait]
impl Confirmer for HttpsConfirmer {
    async fn confirm(&self, request: &ConfirmRequest) -> Result<SubscriptionState, BoxError> {
        let response = self
            .client
            .get(self.target(&request.subscribe_url))
            .send()
            .await?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("SubscribeURL answered {status}").into());
        }
        Ok(SubscriptionState::Confirmed)
    }
}

impl AmazonStore {
    /// Handles a confirmation ([`Store::handle_control`](crate::Store::handle_control)):
    /// confirms a subscription through the [`Confirmer`], records an unsubscription.
    pub(super) async fn control(
        &self,
        n: &AmazonNotification,
    ) -> Result<Option<Subscription>, Rejection> {
        let at = self.clock.now();
        let subscription = match n {
            AmazonNotification::SubscriptionConfirmation(c) => {
                // Checked here, after the signature, as AWS's validators do: the confirmation
                // is genuine, but its URL is still only followed to an SNS host.
                let refused =
                    |e: UrlError| Rejection::unauthenticated(format!("SubscribeURL refused: {e}"));
                let subscribe_url = SubscribeUrl::parse(&c.subscribe_url).map_err(refused)?;
                cert::check_region_matches_topic(subscribe_url.region(), &c.sns.topic_arn)
                    .map_err(refused)?;
                let request = ConfirmRequest {
                    topic_arn: c.sns.topic_arn.clone(),
                    token: c.token.clone(),
                    subscribe_url,
                };
                if self.topic_arns.is_none() {
                    // Any AWS account can subscribe this endpoint to its own topic and then
                    // publish genuinely signed messages: the allow-list is what stops that.
                    tracing::warn!(topic = %c.sns.topic_arn,
                        "confirming an SNS subscription with no topic allow-list; \
                         set AmazonStore::with_topic_arn to this topic");
                }
                // No "already confirmed" shortcut: *Resend* in the console must confirm again.
                let state = self.confirmer.confirm(&request).await.map_err(|e| {
                    tracing::warn!(topic = %c.sns.topic_arn, error = %e,
                        "SNS subscription confirmation failed; answering 503 so SNS resends");
                    Rejection::new(
                        RejectionKind::Unavailable,
                        "subscription confirmation failed; resend",
                    )
                })?;
                Subscription::new(c.sns.topic_arn.clone(), state, at)
                    .with_token(c.token.clone())
                    .with_subscribe_url(c.subscribe_url.clone())
            }
            // Never GET this one's SubscribeURL: that would subscribe again.
            AmazonNotification::UnsubscribeConfirmation(c) => {
                Subscription::new(c.sns.topic_arn.clone(), SubscriptionState::Unsubscribed, at)
                    .with_token(c.token.clone())
                    .with_subscribe_url(c.subscribe_url.clone())
            }
            AmazonNotification::Rtn(_) => return Ok(None),
        };
        Ok(Some(subscription))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscribe_url_uses_the_sns_host_rule() {
        for bad in [
            "http://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription",
            "https://sns.us-east-1.amazonaws.com.evil.com/?Action=ConfirmSubscription",
            "https://sns.us-east-1.amazonaws.com@evil.com/?Action=ConfirmSubscription",
            "https://sns.us-east-1.amazonaws.com:8443/?Action=ConfirmSubscription",
            "https://sns.us-east-1.evilamazonaws.com/?Action=ConfirmSubscription",
            "https://evil.com/?https://sns.us-east-1.amazonaws.com/",
            "https://sns.s3.amazonaws.com/?Action=ConfirmSubscription",
            "https://sns.s3-ap-southeast-2.amazonaws.com/?Action=ConfirmSubscription",
        ] {
            assert!(SubscribeUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn subscribe_url_must_read_the_same_to_every_parser() {
        for bad in [
            "https://sns.us-east-1.amazonaws.com\\@evil.com/",
            "https://sns.us-east-1.amazonaws.com/ x",
            "https://sns.us-east-1.amazonaws.com/?a#b",
            "https://sns.us-east-1.amazonaws.com?Action=x",
        ] {
            assert!(SubscribeUrl::parse(bad).is_err(), "{bad}");
        }
        assert!(
            SubscribeUrl::parse(
                "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-east-1:1:t&Token=abc"
            )
            .is_ok()
        );
    }

    #[tokio::test]
    async fn record_only_leaves_the_subscription_pending() {
        let req = ConfirmRequest {
            topic_arn: "t".into(),
            token: "tok-s3cr3t".into(),
            subscribe_url: SubscribeUrl::parse("https://sns.us-east-1.amazonaws.com/?x=1")
                .expect("url"),
        };
        assert_eq!(
            RecordOnly.confirm(&req).await.expect("ok"),
            SubscriptionState::PendingConfirmation
        );
        assert!(!format!("{req:?}").contains("s3cr3t"));
    }

    #[cfg(feature = "fetch")]
    mod https {
        use super::*;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        use tokio::net::TcpListener;

        /// A one-shot loopback HTTP server answering `status`; returns its origin and the
        /// request line it saw.
        async fn server(status: u16) -> (String, tokio::task::JoinHandle<String>) {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let origin = format!("http://{}", listener.local_addr().expect("addr"));
            let task = tokio::spawn(async move {
                let (mut sock, _) = listener.accept().await.expect("accept");
                let mut buf = vec![0u8; 8192];
                let n = sock.read(&mut buf).await.expect("read");
                let request = String::from_utf8_lossy(&buf[..n]).into_owned();
                let reply = format!(
                    "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
                sock.write_all(reply.as_bytes()).await.expect("write");
                request.lines().next().unwrap_or_default().to_owned()
            });
            (origin, task)
        }

        fn confirmer(origin: String) -> HttpsConfirmer {
            let client = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client");
            HttpsConfirmer {
                origin_override: Some(origin),
                ..HttpsConfirmer::from_client(client)
            }
        }

        fn request() -> ConfirmRequest {
            ConfirmRequest {
                topic_arn: "arn:aws:sns:us-east-1:1:t".into(),
                token: "tok".into(),
                subscribe_url: SubscribeUrl::parse(
                    "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=tok",
                )
                .expect("url"),
            }
        }

        #[tokio::test]
        async fn https_confirmer_gets_the_subscribe_url() {
            let (origin, seen) = server(200).await;
            let state = confirmer(origin).confirm(&request()).await.expect("ok");
            assert_eq!(state, SubscriptionState::Confirmed);
            assert_eq!(
                seen.await.expect("join"),
                "GET /?Action=ConfirmSubscription&Token=tok HTTP/1.1"
            );
        }

        #[tokio::test]
        async fn https_confirmer_fails_on_a_non_2xx_answer() {
            let (origin, _seen) = server(500).await;
            assert!(confirmer(origin).confirm(&request()).await.is_err());
        }

        #[tokio::test]
        async fn https_confirmer_does_not_follow_redirects() {
            let (origin, _seen) = server(302).await;
            assert!(confirmer(origin).confirm(&request()).await.is_err());
        }
    }
}
