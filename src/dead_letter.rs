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

#[cfg(all(test, feature = "test-util"))]
mod tests {
    use std::sync::{Arc, Mutex, PoisonError};

    use super::*;

    #[test]
    fn a_vec_behind_a_closure_passes_the_conformance_check() {
        let kept = Arc::new(Mutex::new(Vec::new()));
        let into = Arc::clone(&kept);
        let sink = move |letter: DeadLetter| {
            into.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push((letter.store, letter.body.to_vec()));
            async { Ok::<(), BoxError>(()) }
        };
        let run = conformance::check(&sink, || {
            let kept = kept.lock().unwrap_or_else(PoisonError::into_inner).clone();
            async move { kept }
        });
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(run);
    }

    #[test]
    fn dead_letters_drop_credentials_and_debug_shows_no_body() {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::AUTHORIZATION,
            "Bearer secret".parse().expect("value"),
        );
        let letter = DeadLetter::new(
            StoreId::GOOGLE,
            Rejection::malformed("x"),
            &headers,
            Bytes::from_static(b"secret body"),
            SystemTime::UNIX_EPOCH,
        );
        assert!(letter.headers.get(http::header::AUTHORIZATION).is_none());
        assert!(!format!("{letter:?}").contains("secret"));
    }
}

/// A conformance test any [`DeadLetterSink`] implementation can run.
#[cfg(feature = "test-util")]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
pub mod conformance {
    use std::future::Future;
    use std::time::{Duration, UNIX_EPOCH};

    use bytes::Bytes;
    use http::{HeaderMap, HeaderValue};

    use super::{DeadLetter, DeadLetterSink};
    use crate::rejection::{Rejection, RejectionKind};
    use crate::status::conformance::JoinAll;
    use crate::store::StoreId;

    /// Checks the rules every dead-letter sink must follow, panicking with a clear message on
    /// the first one broken. `kept` reads back what your sink holds, as `(store, body)` pairs
    /// in any order; run it on an empty sink.
    ///
    /// Rules: every letter is accepted (`Ok`) and kept with its store and its exact body —
    /// bytes that are not UTF-8, an empty body and a 1 MiB body included; concurrent letters
    /// are all kept.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use store_notifications::{BoxError, DeadLetter};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let kept = Arc::new(Mutex::new(Vec::new()));
    /// let into = Arc::clone(&kept);
    /// let sink = move |letter: DeadLetter| {
    ///     into.lock().unwrap().push((letter.store, letter.body.to_vec()));
    ///     async { Ok::<(), BoxError>(()) }
    /// };
    /// store_notifications::dead_letter::conformance::check(&sink, || {
    ///     let kept = kept.lock().unwrap().clone();
    ///     async move { kept }
    /// })
    /// .await;
    /// # });
    /// ```
    pub async fn check<S, F, Fut>(sink: &S, mut kept: F)
    where
        S: DeadLetterSink + ?Sized,
        F: FnMut() -> Fut,
        Fut: Future<Output = Vec<(StoreId, Vec<u8>)>>,
    {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        let letter = |store, body: Vec<u8>| {
            DeadLetter::new(
                store,
                Rejection::new(RejectionKind::Malformed, "conformance: not an event"),
                &headers,
                Bytes::from(body),
                UNIX_EPOCH + Duration::from_secs(1_767_225_600),
            )
        };
        let mut expected = vec![
            (StoreId::STRIPE, b"{\"not\": \"an event\"}".to_vec()),
            (StoreId::APPLE, vec![0xff, 0xfe, 0x00, b'{', 0x80]),
            (StoreId::GOOGLE, Vec::new()),
            (StoreId::AMAZON, vec![b'x'; 1024 * 1024]),
        ];
        for (store, body) in &expected {
            if let Err(e) = sink.dead_letter(letter(*store, body.clone())).await {
                panic!(
                    "the sink refused a {}-byte dead letter of {store}: {e}",
                    body.len()
                );
            }
        }
        let concurrent: Vec<_> = (0..16)
            .map(|i| {
                let body = format!("concurrent dead letter {i}").into_bytes();
                expected.push((StoreId::STRIPE, body.clone()));
                let letter = letter(StoreId::STRIPE, body);
                Box::pin(async move {
                    if let Err(e) = sink.dead_letter(letter).await {
                        panic!("the sink refused a concurrent dead letter: {e}");
                    }
                })
            })
            .collect();
        JoinAll(concurrent.into_iter().map(Some).collect()).await;

        let mut have = kept().await;
        have.sort();
        expected.sort();
        assert_eq!(
            have.len(),
            expected.len(),
            "every dead letter is kept, none twice"
        );
        for (h, e) in have.iter().zip(&expected) {
            assert!(
                h == e,
                "a dead letter of {} ({} bytes) was not kept exactly",
                e.0,
                e.1.len()
            );
        }
    }
}
