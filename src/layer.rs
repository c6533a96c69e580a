//! The Tower middleware: [`NotificationLayer`], [`NotificationService`], [`ResponseFuture`].
//!
//! ```
//! # #[cfg(feature = "stripe")] {
//! use axum::{Extension, Router, routing::post};
//! use store_notifications::{Endpoint, InMemoryReceipts, StripeStore};
//! use store_notifications::stripe::StripeEvent;
//!
//! async fn on_stripe(Extension(event): Extension<StripeEvent>) -> &'static str {
//!     println!("{} {}", event.event_type(), event.id());
//!     "ok"
//! }
//!
//! let endpoint = Endpoint::new(StripeStore::new("whsec_…"), InMemoryReceipts::new());
//! let app: Router = Router::new()
//!     .route("/notifications/stripe", post(on_stripe).layer(endpoint.layer()));
//! # }
//! ```
//!
//! The service reads the body once (with the endpoint's limit), runs the
//! [`Endpoint`] policy, and calls the inner service only for tracked, test and unreferenced
//! notifications, with the verified notification and its [`Outcome`](crate::Outcome) in the
//! request extensions and the same bytes as the body. Every other delivery is answered by the
//! layer; `Service::Error` stays the inner service's.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use tracing::Instrument;

use crate::BoxError;
use crate::endpoint::{Endpoint, Processed};
use crate::store::Store;

/// Applies an [`Endpoint`] in front of a service. Cheap to clone.
pub struct NotificationLayer<S> {
    endpoint: Endpoint<S>,
}

impl<S: Store> NotificationLayer<S> {
    /// A layer running `endpoint`.
    pub fn new(endpoint: Endpoint<S>) -> Self {
        NotificationLayer { endpoint }
    }
}

impl<S> Clone for NotificationLayer<S> {
    fn clone(&self) -> Self {
        NotificationLayer {
            endpoint: self.endpoint.clone(),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for NotificationLayer<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NotificationLayer")
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

impl<S: Store> From<Endpoint<S>> for NotificationLayer<S> {
    fn from(endpoint: Endpoint<S>) -> Self {
        NotificationLayer::new(endpoint)
    }
}

impl<S, I> Layer<I> for NotificationLayer<S> {
    type Service = NotificationService<S, I>;

    fn layer(&self, inner: I) -> Self::Service {
        NotificationService {
            endpoint: self.endpoint.clone(),
            inner,
        }
    }
}

/// The service made by [`NotificationLayer`].
pub struct NotificationService<S, I> {
    endpoint: Endpoint<S>,
    inner: I,
}

impl<S, I: Clone> Clone for NotificationService<S, I> {
    fn clone(&self) -> Self {
        NotificationService {
            endpoint: self.endpoint.clone(),
            inner: self.inner.clone(),
        }
    }
}

impl<S: fmt::Debug, I: fmt::Debug> fmt::Debug for NotificationService<S, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NotificationService")
            .field("endpoint", &self.endpoint)
            .field("inner", &self.inner)
            .finish()
    }
}

impl<S, I, ReqBody, ResBody> Service<Request<ReqBody>> for NotificationService<S, I>
where
    S: Store,
    I: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    I::Future: Send + 'static,
    ReqBody: http_body::Body + From<Bytes> + Send + 'static,
    ReqBody::Data: Send,
    ReqBody::Error: Into<BoxError>,
    ResBody: From<Bytes> + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = I::Error;
    type Future = ResponseFuture<ResBody, I::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        // The instance that was driven to readiness is the one that must be called.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let endpoint = self.endpoint.clone();
        let span = endpoint.span();
        ResponseFuture {
            inner: Box::pin(
                async move {
                    let (mut parts, body) = req.into_parts();
                    match endpoint.read_and_process(&parts.headers, body).await {
                        (
                            bytes,
                            Processed::Handle {
                                notification,
                                outcome,
                            },
                        ) => {
                            parts.extensions.insert(notification);
                            parts.extensions.insert(outcome);
                            let req = Request::from_parts(parts, ReqBody::from(bytes));
                            let started = std::time::Instant::now();
                            let mut res = inner.call(req).await?;
                            crate::endpoint::finish(S::ID, outcome, Some(started.elapsed()), None);
                            res.extensions_mut().insert(outcome);
                            Ok(res)
                        }
                        (_, Processed::Answer(answered)) => Ok(answered.into_response()),
                    }
                }
                .instrument(span),
            ),
        }
    }
}

/// The future of [`NotificationService`].
///
/// One allocation per request: the pipeline awaits the body, the verifier, the (object-safe,
/// hence boxed) receipt hook and the handler in turn. Measured in `benches/stripe.rs`, the whole
/// layer costs a small fraction of one HMAC; see `BENCHMARKS.md`.
pub struct ResponseFuture<B, E> {
    inner: Pin<Box<dyn Future<Output = Result<Response<B>, E>> + Send>>,
}

impl<B, E> Future for ResponseFuture<B, E> {
    type Output = Result<Response<B>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl<B, E> fmt::Debug for ResponseFuture<B, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
