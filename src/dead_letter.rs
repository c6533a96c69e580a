//! Where authentic-but-unusable notifications go.
//!
//! A message whose signature, chain or token verified but whose payload cannot be parsed is
//! not an attack: it is a store sending something this library does not understand yet (or a
//! bug on either side). Answering 4xx would start a retry storm (Pub/Sub retries for 7 days and
//! slows the whole subscription); silently dropping it would lose data. By default the layer
//! answers 200 and hands the raw body to a [`DeadLetterSink`]. If the sink fails, the store is
//! answered 503 and retries, so nothing is lost.

use std::fmt;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use http::HeaderMap;

use crate::BoxError;
use crate::rejection::Rejection;
use crate::store::StoreId;

/// One authentic-but-unusable delivery.
#[derive(Clone)]
#[non_exhaustive]
pub struct DeadLetter {
    /// The store.
    pub store: StoreId,
    /// Why the payload was unusable.
    pub rejection: Rejection,
    /// The request headers (authorization headers are removed).
    pub headers: HeaderMap,
    /// The exact body received.
    pub body: Bytes,
    /// When it was received (pipeline clock).
    pub received_at: SystemTime,
}

impl DeadLetter {
    /// A dead letter. Credentials (`Authorization`) are dropped from the headers.
    pub fn new(
        store: StoreId,
        rejection: Rejection,
        headers: &HeaderMap,
        body: Bytes,
        received_at: SystemTime,
    ) -> Self {
        let mut headers = headers.clone();
        headers.remove(http::header::AUTHORIZATION);
        DeadLetter {
            store,
            rejection,
            headers,
            body,
            received_at,
        }
    }
}

impl fmt::Debug for DeadLetter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeadLetter")
            .field("store", &self.store)
            .field("rejection", &self.rejection)
            .field("body_len", &self.body.len())
            .field("received_at", &self.received_at)
            .finish_non_exhaustive()
    }
}

/// Keeps authentic-but-unusable notifications. `Err` answers the store 503 so it retries.
#[async_trait]
pub trait DeadLetterSink: Send + Sync + 'static {
    /// Keeps one dead letter.
    async fn dead_letter(&self, letter: DeadLetter) -> Result<(), BoxError>;
}

/// The default sink: a `tracing` error event with the reason and the body (lossy UTF-8, first
/// 64 KiB).
#[derive(Debug, Clone, Copy, Default)]
pub struct LogDeadLetters;

const LOGGED_BODY_MAX: usize = 64 * 1024;

#[async_trait]
impl DeadLetterSink for LogDeadLetters {
    async fn dead_letter(&self, letter: DeadLetter) -> Result<(), BoxError> {
        let shown = &letter.body[..letter.body.len().min(LOGGED_BODY_MAX)];
        tracing::error!(
            store = %letter.store,
            reason = %letter.rejection,
            body_len = letter.body.len(),
            body = %String::from_utf8_lossy(shown),
            "authentic notification could not be parsed; acknowledged and dead-lettered"
        );
        Ok(())
    }
}

#[async_trait]
impl<F, Fut, E> DeadLetterSink for F
where
    F: Fn(DeadLetter) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), E>> + Send,
    E: Into<BoxError>,
{
    async fn dead_letter(&self, letter: DeadLetter) -> Result<(), BoxError> {
        self(letter).await.map_err(Into::into)
    }
}

/// What the layer answers for an authentic-but-unusable notification.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum UnusablePolicy {
    /// 200 after the [`DeadLetterSink`] kept it (503 if the sink fails). The default.
    #[default]
    DeadLetter,
    /// Answer the rejection's own status (400), after the sink kept it. The store retries
    /// per its own policy; use this only if you watch its delivery log.
    Reject,
}
