//! A Stripe receiver with the `Verified` extractor instead of the layer: the endpoint lives in
//! your state and the extractor runs the same policy (untracked receipts answered 200 without
//! calling the handler).
//!
//! ```text
//! STRIPE_WEBHOOK_SECRET=whsec_… cargo run --example axum_extractor
//! ```

use axum::Router;
use axum::extract::FromRef;
use axum::routing::post;
use store_notifications::{Endpoint, InMemoryReceipts, StoreId, StripeStore, Verified};

/// Your application's state, with the endpoint in it.
#[derive(Clone)]
struct AppState {
    stripe: Endpoint<StripeStore>,
}

// What `#[derive(FromRef)]` (axum's `macros` feature) writes for you.
impl FromRef<AppState> for Endpoint<StripeStore> {
    fn from_ref(state: &AppState) -> Self {
        state.stripe.clone()
    }
}

async fn on_stripe(Verified(event): Verified<StripeStore>) -> &'static str {
    println!(
        "{} {} {:?}",
        event.id(),
        event.event_type(),
        event.receipt()
    );
    "ok"
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let secret = std::env::var("STRIPE_WEBHOOK_SECRET").map_err(|_| "set STRIPE_WEBHOOK_SECRET")?;
    let receipts = InMemoryReceipts::new();
    receipts.insert(StoreId::STRIPE, "sub_1Pgc6rB7WZ01zgkWNy0Cn5nw");
    let state = AppState {
        stripe: Endpoint::new(StripeStore::new(secret), receipts),
    };
    let app = Router::new()
        .route("/notifications/stripe", post(on_stripe))
        .with_state(state);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!(
        "listening on http://{}/notifications/stripe",
        listener.local_addr()?
    );
    axum::serve(listener, app).await?;
    Ok(())
}
