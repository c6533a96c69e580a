//! The store-notifications gateway: every store's notifications verified, deduplicated and
//! recorded in SQLite (default) or PostgreSQL, with a status page.
//!
//! ```text
//! cargo run --example gateway -- --demo     # throwaway keys, signed deliveries at itself
//! STRIPE_WEBHOOK_SECRET=whsec_… cargo run --example gateway
//! ```
//!
//! Environment: `BIND` (default `127.0.0.1:8080`), `DATABASE_URL` (default
//! `sqlite://store-notifications.db`, or `postgres://…` to share state between instances),
//! `DEMO_KEYS_DIR` (default `./demo-keys`) and each store's variables (see `config.rs`).
//!
//! Routes: `POST /notifications/{apple,google,stripe,amazon}`, `POST /receipts`,
//! `GET /status`, `GET /events?store=`, `GET /` (HTML), `GET /healthz`.

// Files loaded with `#[path]` own their directory, so `app.rs`'s modules resolve to
// `examples/gateway/*.rs` here and in `tests/gateway.rs` alike. Each of the three users
// (this binary, the tests, `simulate`) uses a different part, hence the allow.
#[allow(dead_code)]
#[path = "app.rs"]
mod app;

use std::process::ExitCode;
use std::time::Instant;

use store_notifications::BoxError;

use app::config::{self, Config};

const USAGE: &str = "usage: gateway [--demo]\n\n  --demo  generate throwaway keys in DEMO_KEYS_DIR, trust only them, send signed test\n          deliveries to this gateway and keep serving\n";

#[tokio::main]
async fn main() -> ExitCode {
    let started = Instant::now();
    init_logs();
    let mut demo = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--demo" => demo = true,
            "-h" | "--help" => {
                print!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => {
                eprint!("gateway: unknown argument {other:?}\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    match run(demo, started).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gateway: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(demo: bool, started: Instant) -> Result<(), BoxError> {
    let mut config = Config::from_env()?;
    if demo {
        app::demo::prepare(&mut config)?;
        println!(
            "demo: trusting only fresh throwaway keys written to {}",
            config.demo_keys_dir.display()
        );
    }
    let running = app::start(&config).await?;
    for kind in &running.enabled {
        println!("{kind}: enabled at {}", app::stores::path(*kind));
    }
    for (kind, reason) in &config.disabled {
        let support = if app::stores::module(*kind).is_some() {
            ""
        } else {
            " (not in this build)"
        };
        println!("{kind}: disabled: {reason}{support}");
    }
    println!(
        "listening on http://{} with {} (ready in {} ms)",
        running.addr,
        config::redact_url(&config.database_url),
        started.elapsed().as_millis()
    );
    if demo {
        let rows = app::demo::fire(&running, &config.demo_keys_dir).await?;
        app::demo::print(&running, &config.demo_keys_dir, &rows);
    }
    running.serve_until(shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Logs to standard error, as text; `RUST_LOG` picks the levels (default: `info`).
fn init_logs() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// Completes on SIGTERM (how orchestrators stop a service) or SIGINT (Ctrl-C).
async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!("SIGINT received"),
        () = terminate => tracing::info!("SIGTERM received"),
    }
}
