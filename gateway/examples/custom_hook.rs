//! A [`ReceiptHook`] over your own table: here a SQLite `subscriptions` table keyed by the
//! Stripe subscription id, the way an app that stores its users' subscriptions already has it.
//! No server: the endpoint is driven directly with signed test deliveries.
//!
//! ```text
//! cargo run -p store-notifications-gateway --example custom_hook
//! ```

use async_trait::async_trait;
use sqlx::SqlitePool;
use sqlx::sqlite::SqlitePoolOptions;
use store_notifications::testing::StripeSigner;
use store_notifications::{
    BoxError, Endpoint, Processed, Receipt, ReceiptHook, StoreId, StripeStore,
};

/// "Does this receipt exist here?", answered from the app's own table.
struct Subscriptions {
    pool: SqlitePool,
}

#[async_trait]
impl ReceiptHook for Subscriptions {
    async fn receipt_exists(&self, receipt: &Receipt) -> Result<bool, BoxError> {
        // This app only sells through Stripe; other stores' receipts are never tracked here.
        if receipt.store != StoreId::STRIPE {
            return Ok(false);
        }
        // An error (database down) becomes a 503, so Stripe retries later: nothing is lost.
        let row = sqlx::query("SELECT 1 FROM subscriptions WHERE stripe_subscription_id = ?")
            .bind(&receipt.reference)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    // One connection: every connection to `sqlite::memory:` is its own database.
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect("sqlite::memory:")
        .await?;
    sqlx::query(
        "CREATE TABLE subscriptions (stripe_subscription_id TEXT PRIMARY KEY, user_id TEXT NOT NULL)",
    )
    .execute(&pool)
    .await?;
    sqlx::query("INSERT INTO subscriptions VALUES ('sub_known', 'user_42')")
        .execute(&pool)
        .await?;

    let secret = "whsec_custom_hook_example";
    let endpoint = Endpoint::new(StripeStore::new(secret), Subscriptions { pool });

    let signer = StripeSigner::new(secret);
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs(),
    )?;
    for (id, subscription) in [("evt_1", "sub_known"), ("evt_2", "sub_unknown")] {
        let object = format!(r#"{{"object":"subscription","id":"{subscription}"}}"#);
        let body = signer.event(id, "customer.subscription.updated", &object, now);
        let headers = signer.headers(now, &body);
        match endpoint.process(&headers, body).await {
            Processed::Handle { notification, .. } => {
                println!(
                    "{subscription}: tracked, handler gets {}",
                    notification.id()
                );
            }
            Processed::Answer(answer) => {
                println!("{subscription}: answered {} ({answer})", answer.status());
            }
        }
    }
    Ok(())
}
