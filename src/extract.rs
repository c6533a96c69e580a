//! The axum extractor [`Verified`].
//!
//! Under a [`NotificationLayer`](crate::NotificationLayer), `Verified<S>` takes the notification
//! the layer verified. Without the layer, it runs the same [`Endpoint`] policy itself, with the
//! endpoint taken from your state through [`FromRef`]; untracked receipts, control messages and
//! dead letters then come back as a 200 [`Answered`] "rejection", so both mountings answer the
//! store identically.
//!
//! ```
//! # #[cfg(feature = "stripe")] {
//! use axum::{Router, extract::FromRef, routing::post};
//! use store_notifications::{Endpoint, InMemoryReceipts, StripeStore, Verified};
//!
//! #[derive(Clone)]
//! struct AppState {
//!     stripe: Endpoint<StripeStore>,
//!     // … your database pool, config, …
//! }
//!
//! impl FromRef<AppState> for Endpoint<StripeStore> {
//!     fn from_ref(state: &AppState) -> Self {
//!         state.stripe.clone()
//!     }
//! }
//!
//! async fn on_stripe(Verified(event): Verified<StripeStore>) -> &'static str {
//!     println!("{}", event.event_type());
//!     "ok"
//! }
//!
//! let state = AppState {
//!     stripe: Endpoint::new(StripeStore::new("whsec_…"), InMemoryReceipts::new()),
//! };
//! let app: Router = Router::new()
//!     .route("/notifications/stripe", post(on_stripe))
//!     .with_state(state);
//! # }
//! ```

use std::fmt;
use std::ops::Deref;

use axum_core::extract::{FromRef, FromRequest, Request};
use axum_core::response::{IntoResponse, Response};

use crate::endpoint::{Answered, Endpoint, Processed};
use crate::store::Store;

/// A notification verified by store `S` and accepted by the policy (tracked, test or
/// unreferenced).
pub struct Verified<S: Store>(pub S::Notification);

impl<S: Store> Verified<S> {
    /// The notification.
    pub fn into_inner(self) -> S::Notification {
        self.0
    }
}

impl<S: Store> Deref for Verified<S> {
    type Target = S::Notification;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<S: Store> Clone for Verified<S> {
    fn clone(&self) -> Self {
        Verified(self.0.clone())
    }
}

impl<S: Store> fmt::Debug for Verified<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Verified").field(&self.0).finish()
    }
}

impl<S, St> FromRequest<St> for Verified<S>
where
    S: Store,
    Endpoint<S>: FromRef<St>,
    St: Send + Sync,
{
    type Rejection = Answered;

    async fn from_request(req: Request, state: &St) -> Result<Self, Self::Rejection> {
        if let Some(n) = req.extensions().get::<S::Notification>() {
            return Ok(Verified(n.clone()));
        }
        let endpoint = Endpoint::<S>::from_ref(state);
        let (parts, body) = req.into_parts();
        match endpoint.process_body(&parts.headers, body).await {
            (_, Processed::Handle { notification, .. }) => Ok(Verified(notification)),
            (_, Processed::Answer(answered)) => Err(answered),
        }
    }
}

impl IntoResponse for Answered {
    fn into_response(self) -> Response {
        Answered::into_response(self)
    }
}
