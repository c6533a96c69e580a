//! The smallest Stripe receiver, mounted as a Tower layer: verified, tracked events reach the
//! handler; everything else is answered by the layer.
//!
//! ```text
//! STRIPE_WEBHOOK_SECRET=whsec_… cargo run --example axum_layer
//! ```

use axum::routing::post;
use axum::{Extension, Router};
use store_notifications::stripe::StripeEvent;
use store_notifications::{Endpoint, InMemoryReceipts, StoreId, StripeStore};

async fn on_stripe(Extension(event): Extension<StripeEvent>) -> &'static str {
    // Only tracked receipts and unreferenced events get here, verified.
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
    let receipts = InMemoryReceipts::new(); // your own ReceiptHook in production
    receipts.insert(StoreId::STRIPE, "sub_1Pgc6rB7WZ01zgkWNy0Cn5nw");

    let stripe = Endpoint::new(StripeStore::new(secret), receipts);
    let app = Router::new().route(
        "/notifications/stripe",
        post(on_stripe).layer(stripe.layer()),
    );

    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!(
        "listening on http://{}/notifications/stripe",
        listener.local_addr()?
    );
    axum::serve(listener, app).await?;
    Ok(())
}
