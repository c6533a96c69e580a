//! Configuration from exactly the environment variables of the gateway's issue.
//!
//! A store without its required variables is disabled (its route answers 404 saying what to
//! set). Every store's variables are parsed here, even for stores this build leaves out (cargo
//! features); each store's file (`apple.rs`, …) turns its part into a store. Where that needs
//! the crate's `fetch` feature (Google's keys without `GOOGLE_JWKS_FILE`, SNS certificates
//! without `AMAZON_SNS_CERT_DIR`) and the build has none, the store is disabled at start-up
//! with the reason logged; `AMAZON_AUTO_CONFIRM` without `fetch` records subscriptions instead.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use store_notifications::StoreId;

/// `BIND` when unset.
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
/// `DATABASE_URL` when unset: a SQLite file next to the working directory, created if missing.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://store-notifications.db";
/// `DEMO_KEYS_DIR` when unset.
pub const DEFAULT_DEMO_KEYS_DIR: &str = "demo-keys";

/// The gateway's configuration.
#[derive(Clone)]
pub struct Config {
    /// `BIND`: the listening address.
    pub bind: String,
    /// `DATABASE_URL`: `sqlite://…` or `postgres://…`.
    pub database_url: String,
    /// `DEMO_KEYS_DIR`: where `--demo` writes its throwaway keys and `simulate` reads them.
    pub demo_keys_dir: PathBuf,
    /// Stripe, when `STRIPE_WEBHOOK_SECRET` is set.
    pub stripe: Option<StripeConfig>,
    /// Apple, when `APPLE_BUNDLE_ID` is set.
    pub apple: Option<AppleConfig>,
    /// Google, when `GOOGLE_PACKAGE_NAME`, `GOOGLE_PUSH_AUDIENCE` and
    /// `GOOGLE_PUSH_SERVICE_ACCOUNT` are set.
    pub google: Option<GoogleConfig>,
    /// Amazon, when `AMAZON_SNS_CERT_DIR` or `AMAZON_SNS_TOPIC_ARNS` is set.
    pub amazon: Option<AmazonConfig>,
    /// Why each disabled store is disabled (for the start-up log).
    pub disabled: Vec<(StoreId, String)>,
    /// How long the gateway waits for anything (`GATEWAY_*_TIMEOUT`, …).
    pub limits: Limits,
    /// `GATEWAY_ADMIN_TOKEN`: required (as a bearer token) by `POST /receipts`, `GET /status`,
    /// `GET /events`, `GET /metrics` and the page.
    pub admin_token: Option<AdminToken>,
    /// `GATEWAY_ALLOW_UNAUTHENTICATED_ADMIN=true`: serve the admin routes without a token on
    /// a non-loopback `BIND` (else the gateway refuses to start).
    pub allow_unauthenticated_admin: bool,
}

/// The admin token: compared in constant time, never shown.
#[derive(Clone)]
pub struct AdminToken(String);

impl AdminToken {
    /// A token; at least 16 bytes, so it cannot be guessed by trying.
    pub fn new(token: String) -> Result<AdminToken, ConfigError> {
        if token.len() < 16 {
            return Err(ConfigError(
                "GATEWAY_ADMIN_TOKEN must be at least 16 bytes".into(),
            ));
        }
        Ok(AdminToken(token))
    }

    /// The `Authorization: Bearer …` value (marked sensitive), for the demo's own requests.
    pub fn bearer(&self) -> Option<http::HeaderValue> {
        let mut value = http::HeaderValue::from_str(&format!("Bearer {}", self.0)).ok()?;
        value.set_sensitive(true);
        Some(value)
    }

    /// Whether `candidate` is the token (constant time).
    pub fn matches(&self, candidate: &[u8]) -> bool {
        use subtle::ConstantTimeEq;
        self.0.as_bytes().ct_eq(candidate).into()
    }
}

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}

/// Whether `bind` (`host:port`) listens on loopback only.
pub fn is_loopback_bind(bind: &str) -> bool {
    if let Ok(addr) = bind.parse::<std::net::SocketAddr>() {
        return addr.ip().is_loopback();
    }
    bind.rsplit_once(':')
        .is_some_and(|(host, _)| host.eq_ignore_ascii_case("localhost"))
}

/// Whether a request's `Host` names this machine's loopback (`localhost`, `127.x.x.x`,
/// `[::1]`, with or without a port).
pub fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split_once(']').map_or(rest, |(ip, _)| ip)
    } else {
        host.rsplit_once(':').map_or(host, |(name, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                name
            } else {
                host
            }
        })
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Every bound on waiting, and the connection cap. Each has an environment variable (seconds,
/// decimals allowed, for the timeouts).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    /// `GATEWAY_HEADER_TIMEOUT` (default 10 s): a client must send a request's headers within
    /// this, or its connection is closed. The clock runs from the moment the server waits
    /// for a request, so it also closes idle connections, fresh or kept alive.
    pub header: Duration,
    /// `GATEWAY_BODY_TIMEOUT` (default 30 s): the whole body within this, or 408.
    pub body: Duration,
    /// `GATEWAY_MAX_CONNECTIONS` (default 1024): connections served at once; more wait in the
    /// listen backlog.
    pub max_connections: usize,
    /// `GATEWAY_HOOK_TIMEOUT` (default 5 s): each receipt lookup, status update and dead
    /// letter (503 past it).
    pub hook: Duration,
    /// `GATEWAY_DB_TIMEOUT` (default 3 s): acquiring a database connection, and each
    /// statement or transaction (503 past it).
    pub database: Duration,
    /// `GATEWAY_SHUTDOWN_TIMEOUT` (default 20 s): on SIGTERM or SIGINT, how long in-flight
    /// requests may take before the gateway exits anyway.
    pub shutdown: Duration,
    /// `GATEWAY_STALE_AFTER` (default 24 h): a store that has received tracked notifications
    /// and then none for this long is "stale" in `/status` and warned about on the page.
    pub stale_after: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header: Duration::from_secs(10),
            body: Duration::from_secs(30),
            max_connections: 1024,
            hook: Duration::from_secs(5),
            database: Duration::from_secs(3),
            shutdown: Duration::from_secs(20),
            stale_after: Duration::from_secs(24 * 3600),
        }
    }
}

impl Limits {
    fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Limits, ConfigError> {
        let seconds = |name: &str, default: Duration| -> Result<Duration, ConfigError> {
            let Some(v) = get(name) else {
                return Ok(default);
            };
            v.parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s > 0.0 && *s <= 86_400.0)
                .map(Duration::from_secs_f64)
                .ok_or_else(|| {
                    ConfigError(format!(
                        "{name}={v:?}: expected a number of seconds between 0 and 86400"
                    ))
                })
        };
        let d = Limits::default();
        let max_connections = match get("GATEWAY_MAX_CONNECTIONS") {
            None => d.max_connections,
            Some(v) => v.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
                ConfigError(format!(
                    "GATEWAY_MAX_CONNECTIONS={v:?}: expected a positive number"
                ))
            })?,
        };
        Ok(Limits {
            header: seconds("GATEWAY_HEADER_TIMEOUT", d.header)?,
            body: seconds("GATEWAY_BODY_TIMEOUT", d.body)?,
            max_connections,
            hook: seconds("GATEWAY_HOOK_TIMEOUT", d.hook)?,
            database: seconds("GATEWAY_DB_TIMEOUT", d.database)?,
            shutdown: seconds("GATEWAY_SHUTDOWN_TIMEOUT", d.shutdown)?,
            stale_after: seconds("GATEWAY_STALE_AFTER", d.stale_after)?,
        })
    }
}

/// `STRIPE_WEBHOOK_SECRET`.
#[derive(Clone)]
pub struct StripeConfig {
    /// The endpoint secrets (`whsec_…`); any may match (secret rolls).
    pub secrets: Vec<String>,
}

/// `APPLE_*`.
#[derive(Clone, Debug)]
pub struct AppleConfig {
    /// `APPLE_BUNDLE_ID`.
    pub bundle_id: String,
    /// `APPLE_APP_APPLE_ID` (required in Production, as Apple's own libraries require it).
    pub app_apple_id: Option<u64>,
    /// `APPLE_ENVIRONMENT` (default Production).
    pub environment: AppleEnvironment,
    /// `APPLE_ROOT_CERTS`: DER or PEM files replacing the default Apple root.
    pub root_certs: Vec<PathBuf>,
}

/// `APPLE_ENVIRONMENT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppleEnvironment {
    /// `Production`
    Production,
    /// `Sandbox`
    Sandbox,
    /// `Xcode`
    Xcode,
    /// `LocalTesting`
    LocalTesting,
}

impl AppleEnvironment {
    /// The name Apple uses (`"Sandbox"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            AppleEnvironment::Production => "Production",
            AppleEnvironment::Sandbox => "Sandbox",
            AppleEnvironment::Xcode => "Xcode",
            AppleEnvironment::LocalTesting => "LocalTesting",
        }
    }
}

/// `GOOGLE_*`.
#[derive(Clone, Debug)]
pub struct GoogleConfig {
    /// `GOOGLE_PACKAGE_NAME`.
    pub package_name: String,
    /// `GOOGLE_PUSH_AUDIENCE`: the `aud` the Pub/Sub push token must carry.
    pub push_audience: String,
    /// `GOOGLE_PUSH_SERVICE_ACCOUNT`: the `email` the token must carry. Required: the token
    /// proves which push subscription sent the push only together with its audience.
    pub push_service_account: String,
    /// `GOOGLE_JWKS_FILE`: static keys instead of fetching Google's.
    pub jwks_file: Option<PathBuf>,
}

/// `AMAZON_*`.
#[derive(Clone, Debug)]
pub struct AmazonConfig {
    /// `AMAZON_SNS_CERT_DIR`: pinned signing certificates, by the file name of
    /// `SigningCertURL` (the URL rules still apply).
    pub sns_cert_dir: Option<PathBuf>,
    /// `AMAZON_SNS_TOPIC_ARNS`: the topics accepted (empty: any).
    pub sns_topic_arns: Vec<String>,
    /// `AMAZON_APP_PACKAGE_NAME`: the app whose notifications are accepted, if set.
    pub app_package_name: Option<String>,
    /// `AMAZON_AUTO_CONFIRM` (default true): confirm SNS subscriptions with a GET of
    /// `SubscribeURL`; false records the token and makes no outbound request.
    pub auto_confirm: bool,
}

/// A variable that is set but cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// The variables that enable `store`, for messages.
pub fn required_vars(store: StoreId) -> &'static str {
    match store {
        StoreId::STRIPE => "STRIPE_WEBHOOK_SECRET",
        StoreId::APPLE => "APPLE_BUNDLE_ID (and APPLE_APP_APPLE_ID in Production)",
        StoreId::GOOGLE => {
            "GOOGLE_PACKAGE_NAME, GOOGLE_PUSH_AUDIENCE and GOOGLE_PUSH_SERVICE_ACCOUNT \
             (and GOOGLE_JWKS_FILE without the `fetch` feature)"
        }
        StoreId::AMAZON => {
            "AMAZON_SNS_CERT_DIR (or AMAZON_SNS_TOPIC_ARNS with the `fetch` feature)"
        }
        _ => "its variables",
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_vars(|name| std::env::var(name).ok())
    }

    /// Reads variables through `var` (blank values count as unset).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let get = |name: &str| {
            var(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let list = |name: &str| -> Vec<String> {
            get(name)
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut disabled = Vec::new();

        let secrets = list("STRIPE_WEBHOOK_SECRET");
        let stripe = if secrets.is_empty() {
            disabled.push((StoreId::STRIPE, "STRIPE_WEBHOOK_SECRET is not set".into()));
            None
        } else {
            Some(StripeConfig { secrets })
        };

        let apple = match get("APPLE_BUNDLE_ID") {
            None => {
                disabled.push((StoreId::APPLE, "APPLE_BUNDLE_ID is not set".into()));
                None
            }
            Some(bundle_id) => {
                let environment = match get("APPLE_ENVIRONMENT").as_deref() {
                    None | Some("Production") => AppleEnvironment::Production,
                    Some("Sandbox") => AppleEnvironment::Sandbox,
                    Some("Xcode") => AppleEnvironment::Xcode,
                    Some("LocalTesting") => AppleEnvironment::LocalTesting,
                    Some(other) => {
                        return Err(ConfigError(format!(
                            "APPLE_ENVIRONMENT={other:?}: expected Production, Sandbox, Xcode or LocalTesting"
                        )));
                    }
                };
                let app_apple_id = match get("APPLE_APP_APPLE_ID") {
                    None => None,
                    Some(v) => Some(v.parse::<u64>().map_err(|_| {
                        ConfigError(format!("APPLE_APP_APPLE_ID={v:?}: expected a number"))
                    })?),
                };
                if environment == AppleEnvironment::Production && app_apple_id.is_none() {
                    return Err(ConfigError(
                        "APPLE_APP_APPLE_ID is required when APPLE_ENVIRONMENT is Production"
                            .into(),
                    ));
                }
                Some(AppleConfig {
                    bundle_id,
                    app_apple_id,
                    environment,
                    root_certs: list("APPLE_ROOT_CERTS")
                        .into_iter()
                        .map(PathBuf::from)
                        .collect(),
                })
            }
        };

        let google = match (
            get("GOOGLE_PACKAGE_NAME"),
            get("GOOGLE_PUSH_AUDIENCE"),
            get("GOOGLE_PUSH_SERVICE_ACCOUNT"),
        ) {
            (Some(package_name), Some(push_audience), Some(push_service_account)) => {
                Some(GoogleConfig {
                    package_name,
                    push_audience,
                    push_service_account,
                    jwks_file: get("GOOGLE_JWKS_FILE").map(PathBuf::from),
                })
            }
            (package, audience, account) => {
                let missing: Vec<&str> = [
                    package.is_none().then_some("GOOGLE_PACKAGE_NAME"),
                    audience.is_none().then_some("GOOGLE_PUSH_AUDIENCE"),
                    account.is_none().then_some("GOOGLE_PUSH_SERVICE_ACCOUNT"),
                ]
                .into_iter()
                .flatten()
                .collect();
                let verb = if missing.len() == 1 { "is" } else { "are" };
                disabled.push((
                    StoreId::GOOGLE,
                    format!("{} {verb} not set", missing.join(", ")),
                ));
                None
            }
        };

        let sns_cert_dir = get("AMAZON_SNS_CERT_DIR").map(PathBuf::from);
        let sns_topic_arns = list("AMAZON_SNS_TOPIC_ARNS");
        let auto_confirm = match get("AMAZON_AUTO_CONFIRM").map(|v| v.to_ascii_lowercase()) {
            None => true,
            Some(v) if matches!(v.as_str(), "true" | "1" | "yes" | "on") => true,
            Some(v) if matches!(v.as_str(), "false" | "0" | "no" | "off") => false,
            Some(v) => {
                return Err(ConfigError(format!(
                    "AMAZON_AUTO_CONFIRM={v:?}: expected true or false"
                )));
            }
        };
        let amazon = if sns_cert_dir.is_none() && sns_topic_arns.is_empty() {
            disabled.push((
                StoreId::AMAZON,
                "neither AMAZON_SNS_CERT_DIR nor AMAZON_SNS_TOPIC_ARNS is set".into(),
            ));
            None
        } else {
            Some(AmazonConfig {
                sns_cert_dir,
                sns_topic_arns,
                app_package_name: get("AMAZON_APP_PACKAGE_NAME"),
                auto_confirm,
            })
        };

        Ok(Config {
            bind: get("BIND").unwrap_or_else(|| DEFAULT_BIND.to_owned()),
            database_url: get("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned()),
            demo_keys_dir: get("DEMO_KEYS_DIR")
                .map_or_else(|| PathBuf::from(DEFAULT_DEMO_KEYS_DIR), PathBuf::from),
            stripe,
            apple,
            google,
            amazon,
            disabled,
            limits: Limits::from_vars(get)?,
            admin_token: get("GATEWAY_ADMIN_TOKEN")
                .map(AdminToken::new)
                .transpose()?,
            allow_unauthenticated_admin: match get("GATEWAY_ALLOW_UNAUTHENTICATED_ADMIN")
                .map(|v| v.to_ascii_lowercase())
                .as_deref()
            {
                None | Some("false" | "0" | "no" | "off") => false,
                Some("true" | "1" | "yes" | "on") => true,
                Some(v) => {
                    return Err(ConfigError(format!(
                        "GATEWAY_ALLOW_UNAUTHENTICATED_ADMIN={v:?}: expected true or false"
                    )));
                }
            },
        })
    }

    /// The start-up rules no single variable can check: admin routes without a token only on
    /// loopback (unless explicitly allowed).
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.admin_token.is_none()
            && !self.allow_unauthenticated_admin
            && !is_loopback_bind(&self.bind)
        {
            return Err(ConfigError(format!(
                "refusing to serve /receipts, /status, /events and the page without \
                 authentication on {}: set GATEWAY_ADMIN_TOKEN (or \
                 GATEWAY_ALLOW_UNAUTHENTICATED_ADMIN=true behind your own auth), or BIND a \
                 loopback address",
                self.bind
            )));
        }
        Ok(())
    }

    /// Marks `store` as enabled (the demo does this after pointing it at fresh keys).
    pub fn enable(&mut self, store: StoreId) {
        self.disabled.retain(|(kind, _)| *kind != store);
    }
}

/// The database URL with any password replaced, for logs.
pub fn redact_url(url: &str) -> String {
    // scheme://user:password@host → scheme://user:***@host
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

// Secrets and passwords never reach a log through Debug.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("bind", &self.bind)
            .field("database_url", &redact_url(&self.database_url))
            .field("demo_keys_dir", &self.demo_keys_dir)
            .field("stripe", &self.stripe)
            .field("apple", &self.apple)
            .field("google", &self.google)
            .field("amazon", &self.amazon)
            .field("limits", &self.limits)
            .field("admin_token", &self.admin_token)
            .field(
                "allow_unauthenticated_admin",
                &self.allow_unauthenticated_admin,
            )
            .finish()
    }
}

impl fmt::Debug for StripeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "StripeConfig {{ secrets: [{} redacted] }}",
            self.secrets.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn parse(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_vars(|k| vars.get(k).cloned())
    }

    #[test]
    fn defaults_bind_loopback_and_a_sqlite_file_with_every_store_disabled() {
        let c = parse(&[]).expect("config");
        assert_eq!(c.bind, "127.0.0.1:8080");
        assert_eq!(c.database_url, "sqlite://store-notifications.db");
        assert_eq!(c.demo_keys_dir, PathBuf::from("demo-keys"));
        assert!(c.stripe.is_none() && c.apple.is_none() && c.google.is_none());
        assert!(c.amazon.is_none());
        assert_eq!(c.disabled.len(), 4);
    }

    #[test]
    fn every_wait_has_a_default_bound_and_each_is_configurable() {
        assert_eq!(parse(&[]).expect("config").limits, Limits::default());
        let c = parse(&[
            ("GATEWAY_HEADER_TIMEOUT", "2.5"),
            ("GATEWAY_BODY_TIMEOUT", "4"),
            ("GATEWAY_MAX_CONNECTIONS", "64"),
            ("GATEWAY_HOOK_TIMEOUT", "1"),
            ("GATEWAY_DB_TIMEOUT", "0.5"),
            ("GATEWAY_SHUTDOWN_TIMEOUT", "30"),
        ])
        .expect("config");
        assert_eq!(
            c.limits,
            Limits {
                header: Duration::from_millis(2500),
                body: Duration::from_secs(4),
                max_connections: 64,
                hook: Duration::from_secs(1),
                database: Duration::from_millis(500),
                shutdown: Duration::from_secs(30),
                stale_after: Duration::from_secs(24 * 3600),
            }
        );
        for (name, value) in [
            ("GATEWAY_HEADER_TIMEOUT", "0"),
            ("GATEWAY_BODY_TIMEOUT", "-1"),
            ("GATEWAY_DB_TIMEOUT", "soon"),
            ("GATEWAY_HOOK_TIMEOUT", "inf"),
            ("GATEWAY_SHUTDOWN_TIMEOUT", "1e9"),
            ("GATEWAY_MAX_CONNECTIONS", "0"),
        ] {
            let err = parse(&[(name, value)]).expect_err(name);
            assert!(err.0.contains(name), "{err}");
        }
    }

    #[test]
    fn admin_routes_need_a_token_off_loopback() {
        let c = parse(&[("BIND", "0.0.0.0:8080")]).expect("config");
        let err = c.check().expect_err("refused");
        assert!(err.0.contains("GATEWAY_ADMIN_TOKEN"), "{err}");
        for vars in [
            &[
                ("BIND", "0.0.0.0:8080"),
                ("GATEWAY_ADMIN_TOKEN", "0123456789abcdef"),
            ][..],
            &[
                ("BIND", "0.0.0.0:8080"),
                ("GATEWAY_ALLOW_UNAUTHENTICATED_ADMIN", "true"),
            ],
            &[("BIND", "127.0.0.1:8080")],
            &[("BIND", "[::1]:8080")],
            &[("BIND", "localhost:8080")],
        ] {
            parse(vars).expect("config").check().expect("allowed");
        }
        assert!(parse(&[("GATEWAY_ADMIN_TOKEN", "short")]).is_err());
        let c = parse(&[("GATEWAY_ADMIN_TOKEN", "0123456789abcdef")]).expect("config");
        let token = c.admin_token.expect("token");
        assert!(token.matches(b"0123456789abcdef"));
        assert!(!token.matches(b"0123456789abcdeF"));
        assert!(!token.matches(b""));
        assert!(!format!("{token:?}").contains("0123"));
    }

    #[test]
    fn loopback_hosts_are_recognised() {
        for host in [
            "localhost",
            "localhost:8080",
            "127.0.0.1",
            "127.0.0.1:80",
            "[::1]:8080",
            "[::1]",
            "LOCALHOST",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:8080",
            "10.0.0.1",
            "localhost.evil.example",
            "127.0.0.1.evil.example",
            "[::2]:80",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn stripe_secrets_are_comma_separated_and_blanks_ignored() {
        let c = parse(&[("STRIPE_WEBHOOK_SECRET", " whsec_a, ,whsec_b ")]).expect("config");
        let secrets = c.stripe.expect("stripe").secrets;
        assert_eq!(secrets, ["whsec_a", "whsec_b"]);
    }

    #[test]
    fn apple_production_needs_the_app_apple_id() {
        let err = parse(&[("APPLE_BUNDLE_ID", "com.example")]).expect_err("needs id");
        assert!(err.0.contains("APPLE_APP_APPLE_ID"), "{err}");
        let c = parse(&[
            ("APPLE_BUNDLE_ID", "com.example"),
            ("APPLE_ENVIRONMENT", "Sandbox"),
            ("APPLE_ROOT_CERTS", "a.pem,b.cer"),
        ])
        .expect("sandbox needs no id");
        let apple = c.apple.expect("apple");
        assert_eq!(apple.environment, AppleEnvironment::Sandbox);
        assert_eq!(apple.root_certs.len(), 2);
        assert!(parse(&[("APPLE_BUNDLE_ID", "x"), ("APPLE_ENVIRONMENT", "prod")]).is_err());
    }

    #[test]
    fn google_needs_package_audience_and_service_account() {
        let c = parse(&[("GOOGLE_PACKAGE_NAME", "com.example")]).expect("config");
        assert!(c.google.is_none());
        let reason = &c.disabled.iter().find(|(k, _)| *k == StoreId::GOOGLE);
        assert!(reason.is_some_and(|(_, r)| r.contains("GOOGLE_PUSH_AUDIENCE")));
        let c = parse(&[
            ("GOOGLE_PACKAGE_NAME", "com.example"),
            ("GOOGLE_PUSH_AUDIENCE", "https://example.com/push"),
            ("GOOGLE_JWKS_FILE", "keys.json"),
        ])
        .expect("config");
        let reason = &c.disabled.iter().find(|(k, _)| *k == StoreId::GOOGLE);
        assert!(reason.is_some_and(|(_, r)| r.contains("GOOGLE_PUSH_SERVICE_ACCOUNT")));
        let c = parse(&[
            ("GOOGLE_PACKAGE_NAME", "com.example"),
            ("GOOGLE_PUSH_AUDIENCE", "https://example.com/push"),
            (
                "GOOGLE_PUSH_SERVICE_ACCOUNT",
                "push@p.iam.gserviceaccount.com",
            ),
            ("GOOGLE_JWKS_FILE", "keys.json"),
        ])
        .expect("config");
        assert!(c.google.is_some_and(|g| g.jwks_file.is_some()));
    }

    #[test]
    fn amazon_auto_confirm_defaults_to_true_and_rejects_garbage() {
        let c = parse(&[("AMAZON_SNS_CERT_DIR", "certs")]).expect("config");
        assert!(c.amazon.expect("amazon").auto_confirm);
        let c = parse(&[
            ("AMAZON_SNS_TOPIC_ARNS", "arn:a,arn:b"),
            ("AMAZON_AUTO_CONFIRM", "false"),
        ])
        .expect("config");
        let amazon = c.amazon.expect("amazon");
        assert!(!amazon.auto_confirm);
        assert_eq!(amazon.sns_topic_arns.len(), 2);
        assert!(parse(&[("AMAZON_AUTO_CONFIRM", "maybe")]).is_err());
    }

    #[test]
    fn debug_redacts_secrets_and_database_passwords() {
        let c = parse(&[
            ("STRIPE_WEBHOOK_SECRET", "whsec_topsecret"),
            ("DATABASE_URL", "postgres://app:hunter2@db/app"),
        ])
        .expect("config");
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("topsecret") && !shown.contains("hunter2"),
            "{shown}"
        );
        assert!(shown.contains("postgres://app:***@db/app"));
    }
}
