//! `store-notifications-gateway`: every store's notifications verified, deduplicated and
//! recorded in SQLite (default) or PostgreSQL, with a status page.
//!
//! ```text
//! store-notifications-gateway --demo      # throwaway keys, signed deliveries at itself
//! STRIPE_WEBHOOK_SECRET=whsec_… store-notifications-gateway
//! store-notifications-gateway simulate stripe http://127.0.0.1:8080/notifications/stripe --receipt sub_1
//! ```
//!
//! Environment: `BIND` (default `127.0.0.1:8080`), `DATABASE_URL` (default
//! `sqlite://store-notifications.db`, or `postgres://…` to share state between instances),
//! `DEMO_KEYS_DIR` (default `./demo-keys`), the limits and each store's variables (see the
//! README and `config.rs`).
//!
//! Routes: `POST /notifications/{apple,google,stripe,amazon}`, `POST /receipts`,
//! `GET /status`, `GET /events?store=`, `GET /` (HTML), `GET /healthz`.

use std::process::ExitCode;
use std::time::Instant;

use store_notifications::BoxError;
use store_notifications_gateway as app;

use app::config::{self, Config};

const USAGE: &str = "usage: store-notifications-gateway [--demo]
       store-notifications-gateway simulate <store> <url> [--receipt R] [--type T]

  --demo    generate throwaway keys in DEMO_KEYS_DIR, trust only them, send signed test
            deliveries to this gateway and keep serving (needs the `demo` feature)
  simulate  sign one delivery with the keys in DEMO_KEYS_DIR and send it (needs `demo`)
";

/// What the command line asks for.
enum Command {
    Serve { demo: bool },
    Simulate(Vec<String>),
}

fn parse_args(args: Vec<String>) -> Result<Command, String> {
    if args.first().map(String::as_str) == Some("simulate") {
        return Ok(Command::Simulate(args.into_iter().skip(1).collect()));
    }
    let mut demo = false;
    for arg in args {
        match arg.as_str() {
            "--demo" => demo = true,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Command::Serve { demo })
}

#[tokio::main]
async fn main() -> ExitCode {
    let started = Instant::now();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        print!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let command = match parse_args(args) {
        Ok(command) => command,
        Err(e) => {
            eprint!("store-notifications-gateway: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match command {
        Command::Simulate(args) => simulate(args).await,
        Command::Serve { demo } => {
            init_logs();
            match run(demo, started).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("store-notifications-gateway: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

#[cfg(feature = "demo")]
async fn simulate(args: Vec<String>) -> ExitCode {
    match app::simulate::run(args).await {
        Ok(status) if (200..300).contains(&status) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("simulate: {e}\n{}", app::simulate::USAGE);
            ExitCode::from(2)
        }
    }
}

#[cfg(not(feature = "demo"))]
async fn simulate(_: Vec<String>) -> ExitCode {
    eprintln!(
        "store-notifications-gateway: `simulate` signs with the demo's test keys, which this \
         build does not contain (built without the `demo` feature)"
    );
    ExitCode::from(2)
}

async fn run(demo: bool, started: Instant) -> Result<(), BoxError> {
    let mut config = Config::from_env()?;
    if demo {
        prepare_demo(&mut config)?;
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
        fire_demo(&running, &config).await?;
    }
    running.serve_until(shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

#[cfg(feature = "demo")]
fn prepare_demo(config: &mut Config) -> Result<(), BoxError> {
    app::demo::prepare(config)
}

#[cfg(not(feature = "demo"))]
fn prepare_demo(_: &mut Config) -> Result<(), BoxError> {
    Err(
        "--demo trusts throwaway test keys, which this build does not contain \
         (built without the `demo` feature); configure the stores through the environment"
            .into(),
    )
}

#[cfg(feature = "demo")]
async fn fire_demo(running: &app::Running, config: &Config) -> Result<(), BoxError> {
    let rows = app::demo::fire(running, &config.demo_keys_dir, config.admin_token.as_ref()).await?;
    app::demo::print(running, &config.demo_keys_dir, &rows);
    Ok(())
}

#[cfg(not(feature = "demo"))]
async fn fire_demo(_: &app::Running, _: &Config) -> Result<(), BoxError> {
    Ok(())
}

/// Logs to standard error, as text or, with `LOG_FORMAT=json`, one JSON object a line;
/// `RUST_LOG` picks the levels (default: `info`).
fn init_logs() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match std::env::var("LOG_FORMAT").as_deref() {
        Ok("json") => logs.json().init(),
        _ => logs.init(),
    }
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
