//! The gateway's library part: everything but `main`, so `tests/gateway.rs` and
//! `examples/simulate.rs` run the very same code (they include this file with `#[path]`).
//!
//! Adding a store is one file and two lines: write `<store>.rs` exporting a
//! [`stores::StoreModule`] (see `stripe.rs`), declare it below and list it in
//! [`stores::MODULES`], both under the store's cargo feature.

#[cfg(feature = "amazon")]
pub mod amazon;
#[cfg(feature = "apple")]
pub mod apple;
pub mod client;
pub mod config;
pub mod db;
pub mod demo;
#[cfg(feature = "google")]
pub mod google;
pub mod html;
pub mod keys;
pub mod routes;
pub mod stores;
#[cfg(feature = "stripe")]
pub mod stripe;
pub mod time;

use std::net::SocketAddr;

use axum::Router;
use store_notifications::{BoxError, StoreKind};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use config::Config;
use db::Db;
use routes::Shared;

/// A gateway serving on a socket.
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The stores whose routes are mounted.
    pub enabled: Vec<StoreKind>,
    /// Its database.
    pub db: Db,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// `http://<addr><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Serves until the server stops (it stops only on an I/O error of the listener).
    pub async fn wait(self) -> Result<(), BoxError> {
        self.task.await??;
        Ok(())
    }

    /// Stops accepting, lets in-flight requests finish and closes the database.
    pub async fn stop(self) -> Result<(), BoxError> {
        let _ = self.shutdown.send(());
        self.task.await??;
        self.db.close().await;
        Ok(())
    }
}

/// Connects to the database (creating and migrating it), mounts the enabled stores and
/// serves on `config.bind`.
pub async fn start(config: &Config) -> Result<Running, BoxError> {
    let db = Db::connect(&config.database_url).await?;
    let (router, enabled) = build(config, &db)?;
    let listener = TcpListener::bind(&config.bind)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.bind))?;
    let addr = listener.local_addr()?;
    let (shutdown, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    Ok(Running {
        addr,
        enabled,
        db,
        shutdown,
        task,
    })
}

/// The whole application: one route per enabled store plus the status, events, receipts and
/// health routes.
pub fn build(config: &Config, db: &Db) -> Result<(Router, Vec<StoreKind>), BoxError> {
    let mut notifications = Router::new();
    let mut enabled = Vec::new();
    for module in stores::MODULES {
        let mounted = (module.mount)(config, db)
            .map_err(|e| format!("{}: invalid configuration: {e}", module.kind))?;
        if let Some(route) = mounted {
            notifications = notifications.route(&stores::path(module.kind), route);
            enabled.push(module.kind);
        }
    }
    let shared = Shared::new(db.clone(), enabled.clone());
    Ok((routes::router(shared, notifications), enabled))
}
