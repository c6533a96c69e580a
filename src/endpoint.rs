//! One notification endpoint: a store, the receipt hook, the status, and the response policy.
//!
//! [`Endpoint`] is the single implementation of DESIGN.md's response policy. The Tower
//! [`NotificationLayer`](crate::NotificationLayer) and the axum
//! [`Verified`](crate::Verified) extractor both call [`Endpoint::process`], so the two ways of
//! mounting answer every input identically.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use http_body::Body;
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::BoxError;
use crate::clock::Clock;
use crate::dead_letter::{DeadLetter, DeadLetterSink, LogDeadLetters, UnusablePolicy};
use crate::hook::ReceiptHook;
use crate::rejection::{Rejection, RejectionKind};
use crate::status::{InMemoryStatus, Outcome, StatusStore};
use crate::store::{Disposition, Notification, Store};

/// The default body limit: 1 MiB. Real notifications are a few KiB.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// A configured notification endpoint. Cheap to clone (shared configuration).
///
/// ```
/// # #[cfg(feature = "stripe")] {
/// use store_notifications::{Endpoint, InMemoryReceipts, InMemoryStatus, StripeStore};
///
/// let status = InMemoryStatus::new();
/// let endpoint = Endpoint::new(StripeStore::new("whsec_test"), InMemoryReceipts::new())
///     .with_status(status.clone())
///     .with_body_limit(256 * 1024);
/// let layer = endpoint.layer(); // or put `endpoint` in your axum state for the extractor
/// # let _ = layer;
/// # }
/// ```
pub struct Endpoint<S> {
    store: Arc<S>,
    hook: Arc<dyn ReceiptHook>,
    status: Arc<dyn StatusStore>,
    dead_letters: Arc<dyn DeadLetterSink>,
    unusable: UnusablePolicy,
    body_limit: usize,
    clock: Clock,
}

impl<S> Clone for Endpoint<S> {
    fn clone(&self) -> Self {
        Endpoint {
            store: Arc::clone(&self.store),
            hook: Arc::clone(&self.hook),
            status: Arc::clone(&self.status),
            dead_letters: Arc::clone(&self.dead_letters),
            unusable: self.unusable,
            body_limit: self.body_limit,
            clock: self.clock.clone(),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for Endpoint<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("store", &self.store)
            .field("unusable", &self.unusable)
            .field("body_limit", &self.body_limit)
            .finish_non_exhaustive()
    }
}

impl<S: Store> Endpoint<S> {
    /// An endpoint verifying with `store` and asking `hook` about receipts, with in-memory
    /// status, the logging dead-letter sink, a 1 MiB body limit and the system clock.
    pub fn new(store: S, hook: impl ReceiptHook) -> Self {
        Self::with_shared_hook(store, Arc::new(hook))
    }

    /// Like [`new`](Endpoint::new) with a hook already shared behind an `Arc`.
    pub fn with_shared_hook(store: S, hook: Arc<dyn ReceiptHook>) -> Self {
        Endpoint {
            store: Arc::new(store),
            hook,
            status: Arc::new(InMemoryStatus::new()),
            dead_letters: Arc::new(LogDeadLetters),
            unusable: UnusablePolicy::default(),
            body_limit: DEFAULT_BODY_LIMIT,
            clock: Clock::system(),
        }
    }

    /// Records outcomes in `status` (share one status store between endpoints).
    #[must_use]
    pub fn with_status(self, status: impl StatusStore) -> Self {
        self.with_shared_status(Arc::new(status))
    }

    /// Records outcomes in a status store already shared behind an `Arc`.
    #[must_use]
    pub fn with_shared_status(mut self, status: Arc<dyn StatusStore>) -> Self {
        self.status = status;
        self
    }

    /// Keeps authentic-but-unusable notifications in `sink`.
    #[must_use]
    pub fn with_dead_letters(mut self, sink: impl DeadLetterSink) -> Self {
        self.dead_letters = Arc::new(sink);
        self
    }

    /// What to answer for authentic-but-unusable notifications (default: 200 after the sink).
    #[must_use]
    pub fn with_unusable_policy(mut self, policy: UnusablePolicy) -> Self {
        self.unusable = policy;
        self
    }

    /// The largest body accepted, in bytes (default [`DEFAULT_BODY_LIMIT`]); larger → 413.
    #[must_use]
    pub fn with_body_limit(mut self, limit: usize) -> Self {
        self.body_limit = limit;
        self
    }

    /// The clock stamping status and dead letters (stores have their own for verification).
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The status store.
    pub fn status(&self) -> &Arc<dyn StatusStore> {
        &self.status
    }

    /// The body limit in bytes.
    pub fn body_limit(&self) -> usize {
        self.body_limit
    }

    /// A Tower layer running this endpoint in front of your handler.
    pub fn layer(&self) -> crate::NotificationLayer<S> {
        crate::NotificationLayer::new(self.clone())
    }

    /// Reads `body` (up to the limit) and [`process`](Endpoint::process)es it.
    pub async fn process_body<B>(
        &self,
        headers: &HeaderMap,
        body: B,
    ) -> (Bytes, Processed<S::Notification>)
    where
        B: Body,
        B::Error: Into<BoxError>,
    {
        match read_body(headers, body, self.body_limit).await {
            Ok(bytes) => {
                let processed = self.process(headers, bytes.clone()).await;
                (bytes, processed)
            }
            Err(rejection) => (Bytes::new(), self.reject(rejection).await),
        }
    }

    /// Runs the response policy on one delivery whose body was read already.
    pub async fn process(&self, headers: &HeaderMap, body: Bytes) -> Processed<S::Notification> {
        let notification = match self.store.verify(headers, &body).await {
            Ok(n) => n,
            Err(rejection) if rejection.is_authentic() => {
                return self.dead_letter(headers, body, rejection).await;
            }
            Err(rejection) => return self.reject(rejection).await,
        };
        let outcome = match notification.disposition() {
            Disposition::Test => Outcome::Test,
            Disposition::Unreferenced => Outcome::Unreferenced,
            Disposition::Control => {
                return match self.store.handle_control(&notification).await {
                    Ok(subscription) => {
                        if let Some(sub) = subscription {
                            if let Err(e) = self.status.record_subscription(S::KIND, &sub).await {
                                tracing::warn!(store = %S::KIND, error = %e, "status store failed");
                            }
                        }
                        self.answer(Outcome::Control, None).await
                    }
                    Err(rejection) => self.reject(rejection).await,
                };
            }
            Disposition::Receipt(receipt) => match self.hook.receipt_exists(receipt).await {
                Ok(true) => Outcome::Tracked,
                Ok(false) => return self.answer(Outcome::Untracked, None).await,
                Err(e) => {
                    tracing::error!(store = %S::KIND, id = notification.id(), error = %e,
                        "receipt hook failed; answering 503 so the store retries");
                    let rejection =
                        Rejection::new(RejectionKind::HookFailed, "receipt lookup failed; retry");
                    return self.reject(rejection).await;
                }
            },
        };
        self.record(outcome).await;
        Processed::Handle {
            notification,
            outcome,
        }
    }

    async fn dead_letter(
        &self,
        headers: &HeaderMap,
        body: Bytes,
        rejection: Rejection,
    ) -> Processed<S::Notification> {
        let letter = DeadLetter::new(S::KIND, rejection.clone(), headers, body, self.clock.now());
        if let Err(e) = self.dead_letters.dead_letter(letter).await {
            tracing::error!(store = %S::KIND, error = %e, "dead-letter sink failed; answering 503");
            let failed = Rejection::new(
                RejectionKind::DeadLetterFailed,
                "could not keep the notification; retry",
            );
            return self.reject(failed).await;
        }
        match self.unusable {
            UnusablePolicy::DeadLetter => self.answer(Outcome::DeadLettered, Some(rejection)).await,
            UnusablePolicy::Reject => self.reject(rejection).await,
        }
    }

    async fn reject(&self, rejection: Rejection) -> Processed<S::Notification> {
        tracing::debug!(store = %S::KIND, %rejection, "notification rejected");
        self.answer(Outcome::Rejected(rejection.kind()), Some(rejection))
            .await
    }

    async fn answer(
        &self,
        outcome: Outcome,
        rejection: Option<Rejection>,
    ) -> Processed<S::Notification> {
        self.record(outcome).await;
        Processed::Answer(Answered { outcome, rejection })
    }

    async fn record(&self, outcome: Outcome) {
        // Status is observability, not data: a failing status store must not make the store
        // retry a notification the handler already has.
        if let Err(e) = self.status.record(S::KIND, outcome, self.clock.now()).await {
            tracing::warn!(store = %S::KIND, error = %e, "status store failed");
        }
    }
}

/// The result of running the policy on one delivery.
#[derive(Debug)]
pub enum Processed<N> {
    /// Hand `notification` to the handler (tracked, test or unreferenced).
    Handle {
        /// The verified notification.
        notification: N,
        /// Why it reaches the handler.
        outcome: Outcome,
    },
    /// The pipeline answers the store itself; the handler is not called.
    Answer(Answered),
}

/// A response the pipeline gives without calling the handler: an untracked receipt, a control
/// message, a dead-lettered payload (all 200) or a rejection (4xx/5xx).
///
/// As a response it carries a short plain-text reason, and its [`Outcome`] and [`Rejection`]
/// (if any) in the response extensions for outer layers to log.
#[derive(Debug, Clone)]
pub struct Answered {
    outcome: Outcome,
    rejection: Option<Rejection>,
}

impl Answered {
    /// What happened.
    pub fn outcome(&self) -> Outcome {
        self.outcome
    }

    /// The rejection, for rejected and dead-lettered deliveries.
    pub fn rejection(&self) -> Option<&Rejection> {
        self.rejection.as_ref()
    }

    /// The status the store is answered with.
    pub fn status(&self) -> StatusCode {
        match self.outcome {
            Outcome::Rejected(kind) => kind.status(),
            _ => StatusCode::OK,
        }
    }

    /// The response, with any body type that can be made from bytes.
    pub fn into_response<B: From<Bytes>>(self) -> Response<B> {
        let text = match (&self.outcome, &self.rejection) {
            (Outcome::Untracked, _) => "acknowledged: receipt not tracked here\n".to_owned(),
            (Outcome::Control, _) => "acknowledged: control message handled\n".to_owned(),
            (Outcome::DeadLettered, Some(r)) => {
                format!("acknowledged: authentic but unusable ({r}); kept for inspection\n")
            }
            (_, Some(r)) => format!("{r}\n"),
            (outcome, None) => format!("{outcome}\n"),
        };
        let mut res = Response::new(B::from(Bytes::from(text)));
        *res.status_mut() = self.status();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        res.extensions_mut().insert(self.outcome);
        if let Some(r) = self.rejection {
            res.extensions_mut().insert(r);
        }
        res
    }
}

impl fmt::Display for Answered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.rejection {
            Some(r) => write!(f, "{}: {r}", self.outcome),
            None => write!(f, "{}", self.outcome),
        }
    }
}

/// Reads a body with a limit; a declared or actual length over it is `PayloadTooLarge`.
async fn read_body<B>(headers: &HeaderMap, body: B, limit: usize) -> Result<Bytes, Rejection>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    let too_large = || {
        Rejection::new(
            RejectionKind::PayloadTooLarge,
            format!("body is larger than the {limit}-byte limit"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(too_large()),
        Err(_) => Err(Rejection::malformed("could not read the request body")),
    }
}
