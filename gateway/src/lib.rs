//! The store-notifications gateway as a library: everything the binary runs, so the tests
//! drive the very same code.
//!
//! Adding a store is one file and two lines: write `<store>.rs` exporting a
//! [`stores::StoreModule`] (see `stripe.rs`), declare it below and list it in
//! [`stores::MODULES`], both under the store's cargo feature.
#![forbid(unsafe_code)]

#[cfg(feature = "amazon")]
pub mod amazon;
#[cfg(feature = "apple")]
pub mod apple;
pub mod client;
pub mod config;
pub mod db;
#[cfg(feature = "demo")]
pub mod demo;
#[cfg(feature = "google")]
pub mod google;
pub mod html;
pub mod keys;
pub mod metrics;
pub mod routes;
#[cfg(feature = "demo")]
pub mod simulate;
pub mod stores;
#[cfg(feature = "stripe")]
pub mod stripe;
pub mod time;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use store_notifications::{BoxError, StoreId};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, oneshot};
use tokio::task::JoinHandle;

use config::{Config, Limits};
use db::Db;
use routes::Shared;

/// A gateway serving on a socket.
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The stores whose routes are mounted.
    pub enabled: Vec<StoreId>,
    /// Its database.
    pub db: Db,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<Result<(), BoxError>>,
    /// `GATEWAY_SHUTDOWN_TIMEOUT`, which also bounds writing the last status counters.
    shutdown_timeout: Duration,
}

impl Running {
    /// `http://<addr><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Serves until `signal` completes, then shuts down gracefully (see [`stop`](Running::stop)).
    pub async fn serve_until(self, signal: impl Future<Output = ()>) -> Result<(), BoxError> {
        signal.await;
        self.stop().await
    }

    /// Stops accepting, lets in-flight requests finish (within `GATEWAY_SHUTDOWN_TIMEOUT`:
    /// each delivery is either committed and answered, or not answered at all) and closes
    /// the database.
    pub async fn stop(self) -> Result<(), BoxError> {
        let _ = self.shutdown.send(());
        self.task.await??;
        // The last status counters are observability: never worth overstaying the deadline
        // (a stuck database must not keep a SIGTERMed process alive).
        let bound = self.shutdown_timeout.min(Duration::from_secs(2));
        if tokio::time::timeout(bound, self.db.close()).await.is_err() {
            tracing::warn!("the database did not close within {bound:?}; exiting anyway");
        }
        Ok(())
    }
}

/// Connects to the database (creating and migrating it), mounts the enabled stores and
/// serves on `config.bind`.
pub async fn start(config: &Config) -> Result<Running, BoxError> {
    config.check()?;
    let db = Db::connect_with(&config.database_url, config.limits.database).await?;
    let (router, enabled) = build(config, &db)?;
    let listener = TcpListener::bind(&config.bind)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.bind))?;
    let addr = listener.local_addr()?;
    let (shutdown, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, router, config.limits, stopped));
    Ok(Running {
        addr,
        enabled,
        db,
        shutdown,
        task,
        shutdown_timeout: config.limits.shutdown,
    })
}

/// The accept loop: HTTP/1.1 with hyper, every connection bounded (headers within
/// `limits.header`, which also closes idle keep-alive connections; at most
/// `limits.max_connections` at once) and watched for a graceful shutdown.
async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    mut stopped: oneshot::Receiver<()>,
) -> Result<(), BoxError> {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header)
        .keep_alive(true);
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    loop {
        // Past the cap, connections wait in the kernel's backlog instead of being served.
        let slot = tokio::select! {
            _ = &mut stopped => break,
            slot = Arc::clone(&slots).acquire_owned() => slot?,
        };
        let (stream, _) = tokio::select! {
            _ = &mut stopped => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, a connection reset before accept, …: keep
                    // serving the connections we have.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    tracing::info!(
        "shutting down: no new connections; waiting up to {:?} for requests in flight",
        limits.shutdown
    );
    if tokio::time::timeout(limits.shutdown, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("shutdown deadline passed with requests still in flight");
    }
    Ok(())
}

/// The whole application: one route per enabled store plus the status, events, receipts and
/// health routes.
pub fn build(config: &Config, db: &Db) -> Result<(Router, Vec<StoreId>), BoxError> {
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
    let shared = Shared::new(db.clone(), enabled.clone(), config);
    Ok((routes::router(shared, notifications), enabled))
}
