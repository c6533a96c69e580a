//! One notification endpoint: a store, the receipt hook, the status, and the response policy.
//!
//! [`Endpoint`] is the single implementation of the response policy (the table in the crate
//! docs). The Tower
//! [`NotificationLayer`](crate::NotificationLayer) and the axum
//! [`Verified`](crate::Verified) extractor both call [`Endpoint::process`], so the two ways of
//! mounting answer every input identically.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use http_body::Body;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use tracing::field::Empty;
use tracing::{Instrument, Span};

use crate::BoxError;
use crate::clock::Clock;
use crate::dead_letter::{DeadLetter, DeadLetterSink, LogDeadLetters, UnusablePolicy};
use crate::hook::ReceiptHook;
use crate::rejection::{Rejection, RejectionKind};
use crate::status::{InMemoryStatus, Outcome, StatusStore};
use crate::store::{Disposition, Notification, Store, Verdict};

/// The default body limit: 1 MiB. Real notifications are a few KiB.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// The default bound on each call to the receipt hook, the status store and the dead-letter
/// sink: 5 s. Past it the store is answered 503 and retries.
pub const DEFAULT_HOOK_TIMEOUT: Duration = Duration::from_secs(5);

/// The default bound on [`Store::handle_control`] (an SNS subscription confirmation makes one
/// outbound HTTPS request, itself bounded at 10 s): 15 s.
pub const DEFAULT_CONTROL_TIMEOUT: Duration = Duration::from_secs(15);

/// The default bound on reading the request body once the handler has the headers: 30 s.
/// Past it the store is answered 408 and retries.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// A configured notification endpoint. Cheap to clone (shared configuration).
///
/// Every wait has a bound: reading the body ([`with_body_timeout`](Endpoint::with_body_timeout)),
/// each call to your hook, status store and dead-letter sink
/// ([`with_hook_timeout`](Endpoint::with_hook_timeout)) and the store's control handling
/// ([`with_control_timeout`](Endpoint::with_control_timeout)). A wait that runs out answers
/// the status that makes the store retry (408 for the body, 503 otherwise). The timers are
/// tokio's: run the endpoint on a tokio runtime with time enabled (`#[tokio::main]` and
/// `axum::serve` do), or pass `None` to each to run without them.
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
    timeouts: Timeouts,
    clock: Clock,
}

/// The endpoint's bounds on waiting for a peer (`None`: unbounded).
#[derive(Debug, Clone, Copy)]
struct Timeouts {
    body: Option<Duration>,
    hook: Option<Duration>,
    control: Option<Duration>,
}

/// Awaits `work`, or gives up after `limit`.
async fn bounded<T>(limit: Option<Duration>, work: impl Future<Output = T>) -> Option<T> {
    match limit {
        Some(limit) => tokio::time::timeout(limit, work).await.ok(),
        None => Some(work.await),
    }
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
            timeouts: self.timeouts,
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
            .field("timeouts", &self.timeouts)
            .finish_non_exhaustive()
    }
}

impl<S: Store> Endpoint<S> {
    /// An endpoint verifying with `store` and asking `hook` about receipts, with in-memory
    /// status, the logging dead-letter sink, a 1 MiB body limit, the default timeouts and the
    /// system clock.
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
            timeouts: Timeouts {
                body: Some(DEFAULT_BODY_TIMEOUT),
                hook: Some(DEFAULT_HOOK_TIMEOUT),
                control: Some(DEFAULT_CONTROL_TIMEOUT),
            },
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

    /// The bound on each call to the receipt hook, the status store and the dead-letter sink
    /// (default [`DEFAULT_HOOK_TIMEOUT`]). A hook or sink that has not answered by then
    /// answers 503 (the store retries); a status store that has not is logged and skipped.
    /// `None` waits as long as they take.
    #[must_use]
    pub fn with_hook_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.timeouts.hook = timeout.into();
        self
    }

    /// The bound on the store's [`handle_control`](Store::handle_control) (default
    /// [`DEFAULT_CONTROL_TIMEOUT`]); past it, 503. `None` waits as long as it takes.
    #[must_use]
    pub fn with_control_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.timeouts.control = timeout.into();
        self
    }

    /// The bound on reading the request body in [`process_body`](Endpoint::process_body)
    /// (default [`DEFAULT_BODY_TIMEOUT`]); past it, 408. Bound the wait for the headers in
    /// your server (hyper's `header_read_timeout`). `None` waits as long as it takes.
    #[must_use]
    pub fn with_body_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.timeouts.body = timeout.into();
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

    /// The span of one delivery: `notification`, at `info`, with the fields `store`, `id`,
    /// `app` and `environment` (when the receipt names them), `outcome`, and the
    /// microseconds spent in `verify_us`, `hook_us` and `handler_us`. No field ever holds a
    /// secret or a token.
    pub(crate) fn span(&self) -> Span {
        tracing::info_span!(
            "notification",
            store = S::ID.as_str(),
            id = Empty,
            app = Empty,
            environment = Empty,
            outcome = Empty,
            verify_us = Empty,
            hook_us = Empty,
            handler_us = Empty,
        )
    }

    /// Reads `body` (up to the limit) and [`process`](Endpoint::process)es it, in the
    /// delivery's span (see the crate docs' "Observability").
    pub async fn process_body<B>(
        &self,
        headers: &HeaderMap,
        body: B,
    ) -> (Bytes, Processed<S::Notification>)
    where
        B: Body,
        B::Error: Into<BoxError>,
    {
        self.in_span(self.read_and_process(headers, body), |(_, p)| p)
            .await
    }

    /// Runs `work` in a new delivery span and closes the span if the delivery is handed on
    /// (an answered one was closed when it was answered).
    async fn in_span<T>(
        &self,
        work: impl Future<Output = T>,
        processed: impl Fn(&T) -> &Processed<S::Notification>,
    ) -> T {
        async {
            let out = work.await;
            if let Processed::Handle { outcome, .. } = processed(&out) {
                finish(S::ID, *outcome, None, None);
            }
            out
        }
        .instrument(self.span())
        .await
    }

    /// [`process_body`](Endpoint::process_body) in the caller's span, leaving the closing
    /// event of a handled delivery to the caller (the layer, which times the handler).
    pub(crate) async fn read_and_process<B>(
        &self,
        headers: &HeaderMap,
        body: B,
    ) -> (Bytes, Processed<S::Notification>)
    where
        B: Body,
        B::Error: Into<BoxError>,
    {
        let read = bounded(
            self.timeouts.body,
            read_body(headers, body, self.body_limit),
        )
        .await
        .unwrap_or_else(|| {
            Err(Rejection::new(
                RejectionKind::RequestTimeout,
                "the body did not arrive in time; retry",
            ))
        });
        match read {
            Ok(bytes) => {
                let processed = self.process_read(headers, bytes.clone()).await;
                (bytes, processed)
            }
            Err(rejection) => (Bytes::new(), self.reject(rejection).await),
        }
    }

    /// Runs the response policy on one delivery whose body was read already, in the
    /// delivery's span.
    pub async fn process(&self, headers: &HeaderMap, body: Bytes) -> Processed<S::Notification> {
        self.in_span(self.process_read(headers, body), |p| p).await
    }

    async fn process_read(&self, headers: &HeaderMap, body: Bytes) -> Processed<S::Notification> {
        let started = Instant::now();
        let verified = self.store.verify(headers, &body).await;
        let spent = started.elapsed();
        let span = Span::current();
        span.record("verify_us", micros(spent));
        #[cfg(feature = "metrics")]
        metrics::histogram!("store_notification_verify_seconds", "store" => S::ID.as_str())
            .record(spent.as_secs_f64());
        let notification = match verified {
            Ok(Verdict::Notification(n)) => {
                span.record("id", n.id());
                n
            }
            Ok(Verdict::Unusable(rejection)) => {
                return self.dead_letter(headers, body, rejection).await;
            }
            Err(rejection) => return self.reject(rejection).await,
        };
        let outcome = match notification.disposition() {
            Disposition::Test => Outcome::Test,
            Disposition::Unreferenced => Outcome::Unreferenced,
            Disposition::Control => {
                let handled = bounded(
                    self.timeouts.control,
                    self.store.handle_control(&notification),
                )
                .await;
                return match handled {
                    Some(Ok(subscription)) => {
                        if let Some(sub) = subscription {
                            let recorded = bounded(
                                self.timeouts.hook,
                                self.status.record_subscription(S::ID, &sub),
                            )
                            .await;
                            status_failed(S::ID, recorded);
                        }
                        self.answer(Outcome::Control, None).await
                    }
                    Some(Err(rejection)) => self.reject(rejection).await,
                    None => {
                        self.fail(
                            RejectionKind::Unavailable,
                            "control message handling timed out; retry",
                            &"timed out",
                        )
                        .await
                    }
                };
            }
            Disposition::Receipt(receipt) => {
                if let Some(app) = &receipt.app {
                    span.record("app", app.as_str());
                }
                if let Some(environment) = &receipt.environment {
                    span.record("environment", environment.as_str());
                }
                let asked = Instant::now();
                let answer = bounded(self.timeouts.hook, self.hook.receipt_exists(receipt)).await;
                span.record("hook_us", micros(asked.elapsed()));
                match answer {
                    Some(Ok(true)) => Outcome::Tracked,
                    Some(Ok(false)) => return self.answer(Outcome::Untracked, None).await,
                    Some(Err(e)) => {
                        return self
                            .fail(
                                RejectionKind::HookFailed,
                                "receipt lookup failed; retry",
                                &e,
                            )
                            .await;
                    }
                    None => {
                        return self
                            .fail(
                                RejectionKind::HookFailed,
                                "receipt lookup timed out; retry",
                                &"timed out",
                            )
                            .await;
                    }
                }
            }
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
        let letter = DeadLetter::new(S::ID, rejection.clone(), headers, body, self.clock.now());
        match bounded(self.timeouts.hook, self.dead_letters.dead_letter(letter)).await {
            Some(Ok(())) => {}
            Some(Err(e)) => {
                return self
                    .fail(
                        RejectionKind::DeadLetterFailed,
                        "could not keep the notification; retry",
                        &e,
                    )
                    .await;
            }
            None => {
                return self
                    .fail(
                        RejectionKind::DeadLetterFailed,
                        "keeping the notification timed out; retry",
                        &"timed out",
                    )
                    .await;
            }
        }
        match self.unusable {
            UnusablePolicy::DeadLetter => self.answer(Outcome::DeadLettered, Some(rejection)).await,
            UnusablePolicy::Reject => self.reject(rejection).await,
        }
    }

    /// A failure of ours or of a peer (hook, sink, control handling): logged once, at
    /// `error`, with its cause, then answered (503, so the store retries).
    async fn fail(
        &self,
        kind: RejectionKind,
        message: &'static str,
        cause: &(dyn fmt::Display + Sync),
    ) -> Processed<S::Notification> {
        let rejection = Rejection::new(kind, message);
        let outcome = Outcome::Rejected(kind);
        self.record(outcome).await;
        finish(
            S::ID,
            outcome,
            None,
            Some(&format_args!("{message}: {cause}")),
        );
        Processed::Answer(Answered {
            outcome,
            rejection: Some(rejection),
        })
    }

    async fn reject(&self, rejection: Rejection) -> Processed<S::Notification> {
        self.answer(Outcome::Rejected(rejection.kind()), Some(rejection))
            .await
    }

    async fn answer(
        &self,
        outcome: Outcome,
        rejection: Option<Rejection>,
    ) -> Processed<S::Notification> {
        self.record(outcome).await;
        finish(
            S::ID,
            outcome,
            None,
            rejection.as_ref().map(|r| r as &dyn fmt::Display),
        );
        Processed::Answer(Answered { outcome, rejection })
    }

    async fn record(&self, outcome: Outcome) {
        // Status is observability, not data: a failing status store must not make the store
        // retry a notification the handler already has.
        let recorded = bounded(
            self.timeouts.hook,
            self.status.record(S::ID, outcome, self.clock.now()),
        )
        .await;
        status_failed(S::ID, recorded);
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Closes a delivery: records its outcome (and the handler's time) on the current span, emits
/// its one event — `info` when handled or answered 200, `warn` when rejected with a 4xx,
/// `error` with its cause when answered 5xx (the store retries: an operator must see it) — and
/// counts it (`store_notifications_total{store, outcome}` with the `metrics` feature).
pub(crate) fn finish(
    store: crate::StoreId,
    outcome: Outcome,
    handler: Option<Duration>,
    detail: Option<&dyn fmt::Display>,
) {
    let span = Span::current();
    span.record("outcome", outcome.as_str());
    if let Some(handler) = handler {
        span.record("handler_us", micros(handler));
    }
    #[cfg(feature = "metrics")]
    metrics::counter!(
        "store_notifications_total",
        "store" => store.as_str(),
        "outcome" => outcome.as_str()
    )
    .increment(1);
    let detail = detail.map(tracing::field::display);
    match outcome {
        Outcome::Rejected(kind) if kind.status().is_server_error() => tracing::error!(
            store = %store,
            outcome = outcome.as_str(),
            status = kind.status().as_u16(),
            reason = detail,
            "answering {}: the store retries",
            kind.status().as_u16()
        ),
        Outcome::Rejected(kind) => tracing::warn!(
            store = %store,
            outcome = outcome.as_str(),
            status = kind.status().as_u16(),
            reason = detail,
            "notification rejected"
        ),
        Outcome::DeadLettered => tracing::warn!(
            store = %store,
            outcome = outcome.as_str(),
            reason = detail,
            "authentic but unusable: dead-lettered"
        ),
        _ if outcome.reaches_handler() => {
            tracing::info!(store = %store, outcome = outcome.as_str(), "notification handled");
        }
        _ => {
            tracing::info!(store = %store, outcome = outcome.as_str(), "notification acknowledged")
        }
    }
}

/// Logs a status store that failed or timed out (never fatal: status is observability).
fn status_failed(store: crate::StoreId, recorded: Option<Result<(), crate::BoxError>>) {
    match recorded {
        Some(Ok(())) => {}
        Some(Err(e)) => tracing::warn!(store = %store, error = %e, "status store failed"),
        None => tracing::warn!(store = %store, "status store timed out"),
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
