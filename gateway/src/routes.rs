//! The HTTP surface: notification routes (one per enabled store, all through the same
//! handler), `POST /receipts`, `GET /status`, `GET /events`, `GET /` and `GET /healthz`.

use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use axum::{Extension, Json, Router, middleware};
use serde::Deserialize;
use serde_json::{Value, json};
use store_notifications::{
    DEFAULT_BODY_LIMIT, Endpoint, Event, Notification, Outcome, StatusStore, Store, StoreId,
};

use super::db::{Db, Recorded};
use super::{config, html, stores};

/// The largest body accepted anywhere: 1 MiB (notifications are a few KiB).
pub const BODY_LIMIT: usize = DEFAULT_BODY_LIMIT;

/// The response header telling what the pipeline did (`tracked`, `untracked`,
/// `unauthenticated`, …): the crate puts the [`Outcome`] in the response extensions, and this
/// makes it visible to the store's delivery log, `curl -i`, the demo and the tests.
pub const OUTCOME_HEADER: &str = "x-notification-outcome";

/// The routes' state.
#[derive(Clone)]
pub struct Shared {
    /// The database.
    pub db: Db,
    /// The stores whose routes are mounted.
    pub enabled: Arc<[StoreId]>,
    /// The admin token the admin routes require, if set.
    pub admin_token: Option<Arc<config::AdminToken>>,
    /// Refuse admin requests whose `Host` is not a loopback name (DNS rebinding): on a
    /// loopback bind without an admin token.
    pub loopback_hosts_only: bool,
    /// Amazon is on without a topic allow-list (the page warns).
    pub amazon_any_topic: bool,
    /// `GATEWAY_STALE_AFTER`.
    pub stale_after: std::time::Duration,
    /// Renders the Prometheus text of the process's metrics.
    pub metrics: super::metrics::Metrics,
}

impl Shared {
    /// State over `db` with these stores enabled, as `config` says.
    pub fn new(db: Db, enabled: Vec<StoreId>, config: &config::Config) -> Shared {
        Shared {
            db,
            amazon_any_topic: enabled.contains(&StoreId::AMAZON)
                && config
                    .amazon
                    .as_ref()
                    .is_some_and(|a| a.sns_topic_arns.is_empty()),
            enabled: enabled.into(),
            admin_token: config.admin_token.clone().map(Arc::new),
            loopback_hosts_only: config.admin_token.is_none()
                && config::is_loopback_bind(&config.bind),
            stale_after: config.limits.stale_after,
            metrics: super::metrics::Metrics::install(),
        }
    }
}

/// The endpoint every store is mounted with: the database as receipt hook, status store and
/// dead-letter sink, the 1 MiB limit and the configured timeouts.
pub fn endpoint<S: Store>(store: S, db: &Db, limits: &config::Limits) -> Endpoint<S> {
    Endpoint::new(store, db.clone())
        .with_status(db.clone())
        .with_dead_letters(db.clone())
        .with_body_limit(BODY_LIMIT)
        .with_body_timeout(limits.body)
        .with_hook_timeout(limits.hook)
}

/// The route of `store`, if the configuration enables it: what every store module's `mount`
/// returns.
pub fn mounted<S: Store>(
    store: Option<S>,
    db: &Db,
    config: &config::Config,
) -> Option<MethodRouter<Shared>> {
    store.map(|store| notification_route(endpoint(store, db, &config.limits)))
}

/// `POST` through the endpoint's layer into `handle`: the route a store module mounts.
/// (`route_layer`, so other methods still get a plain 405 instead of a verification error.)
pub fn notification_route<S: Store>(endpoint: Endpoint<S>) -> MethodRouter<Shared> {
    post(handle::<S::Notification>).route_layer(endpoint.layer())
}

/// The handler: only tracked, test and unreferenced notifications get here. Its effect
/// (recording the normalised event) happens once per idempotency id; a redelivery is answered
/// 200 so the store stops.
async fn handle<N: Notification>(
    State(shared): State<Shared>,
    Extension(notification): Extension<N>,
) -> Response {
    let event = Event::of(&notification);
    match shared.db.record_event(&event, SystemTime::now()).await {
        Ok(Recorded::New) => (StatusCode::OK, "recorded\n").into_response(),
        Ok(Recorded::Duplicate) => {
            (StatusCode::OK, "already handled (redelivery)\n").into_response()
        }
        Err(e) => {
            tracing::error!(store = %event.store, id = %event.id, error = %e,
                "could not record the event; answering 503 so the store retries");
            // 503: the store retries, and the dedupe claim rolled back with the effect.
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "could not record the event; retry\n",
            )
                .into_response()
        }
    }
}

/// The application router around the mounted notification routes. The admin routes (`/`,
/// `/status`, `/events`, `/receipts`, `/metrics`) go through `admin_guard`; `/healthz` and
/// `/notifications/*` never need the token (stores authenticate by signature).
pub fn router(shared: Shared, notifications: Router<Shared>) -> Router {
    let admin = Router::new()
        .route("/", get(html::page))
        .route("/status", get(status))
        .route("/events", get(events))
        .route("/receipts", post(track_receipt))
        .route("/metrics", get(metrics))
        .route_layer(middleware::from_fn_with_state(shared.clone(), admin_guard));
    Router::new()
        .merge(admin)
        .route("/healthz", get(healthz))
        .merge(notifications)
        .route("/notifications/{store}", post(not_enabled))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::map_response(outcome_header))
        .with_state(shared)
}

/// The realm named in `WWW-Authenticate`.
const REALM: &str = "store-notifications gateway";

/// Admin routes: a loopback `Host` when no token is set on a loopback bind (a page opened
/// through DNS rebinding names the attacker's host), else the token as `Bearer`, or as the
/// password of HTTP Basic for the page (so a browser can open it).
async fn admin_guard(
    State(shared): State<Shared>,
    request: axum::extract::Request,
    next: middleware::Next,
) -> Response {
    let headers = request.headers();
    if shared.loopback_hosts_only {
        let host = headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        if !config::is_loopback_host(host) {
            tracing::warn!("admin request refused: Host is not a loopback name");
            return (
                StatusCode::FORBIDDEN,
                "this gateway serves its admin routes to loopback host names only; set \
                 GATEWAY_ADMIN_TOKEN to serve them under another name\n",
            )
                .into_response();
        }
    }
    let Some(token) = &shared.admin_token else {
        return next.run(request).await;
    };
    let page = request.uri().path() == "/";
    let presented = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|value| {
            if let Some(bearer) = value.strip_prefix("Bearer ") {
                return Some(bearer.as_bytes().to_vec());
            }
            let basic = value.strip_prefix("Basic ").filter(|_| page)?;
            let decoded =
                base64::Engine::decode(&base64::engine::general_purpose::STANDARD, basic.trim())
                    .ok()?;
            let colon = decoded.iter().position(|b| *b == b':')?;
            Some(decoded[colon + 1..].to_vec())
        });
    if presented.is_some_and(|p| token.matches(&p)) {
        return next.run(request).await;
    }
    let challenge = if page {
        format!("Basic realm=\"{REALM}\", charset=\"UTF-8\"")
    } else {
        format!("Bearer realm=\"{REALM}\"")
    };
    let mut res = (
        StatusCode::UNAUTHORIZED,
        "the admin token is required: Authorization: Bearer <GATEWAY_ADMIN_TOKEN>\n",
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        res.headers_mut()
            .insert(http::header::WWW_AUTHENTICATE, value);
    }
    res
}

async fn outcome_header(mut res: Response) -> Response {
    if let Some(outcome) = res.extensions().get::<Outcome>().copied() {
        res.headers_mut()
            .insert(OUTCOME_HEADER, HeaderValue::from_static(outcome.as_str()));
    }
    res
}

async fn not_enabled(State(shared): State<Shared>, Path(store): Path<String>) -> Response {
    let text = match store.parse::<StoreId>() {
        Ok(kind) if stores::module(kind).is_none() => {
            format!("{kind} notifications are not supported by this build of the gateway\n")
        }
        Ok(kind) if !shared.enabled.contains(&kind) => format!(
            "{kind} notifications are not enabled on this gateway: set {}\n",
            config::required_vars(kind)
        ),
        Ok(kind) => format!(
            "{kind} notifications are served at {}\n",
            stores::path(kind)
        ),
        Err(e) => format!("{e}\n"),
    };
    (StatusCode::NOT_FOUND, text).into_response()
}

/// `GET /healthz` answers within [`HEALTH_TIMEOUT`], saying whether the database answered.
pub const HEALTH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

async fn healthz(State(shared): State<Shared>) -> Response {
    let ping = tokio::time::timeout(HEALTH_TIMEOUT, shared.db.ping()).await;
    match ping {
        Ok(Ok(())) => (StatusCode::OK, "ok\n").into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "healthz: database unreachable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable\n").into_response()
        }
        Err(_) => {
            tracing::warn!("healthz: database did not answer within {HEALTH_TIMEOUT:?}");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "database unreachable (no answer within 1 s)\n",
            )
                .into_response()
        }
    }
}

/// The status of every store as JSON: the crate's per-store status (`last_received_at`,
/// `counts`, and the SNS `subscription` for Amazon) plus `enabled`.
pub async fn status_json(shared: &Shared) -> Result<Value, Response> {
    let snapshot = shared.db.snapshot().await.map_err(|e| {
        tracing::error!(error = %e, "status unavailable");
        unavailable("status unavailable")
    })?;
    let mut stores = serde_json::Map::new();
    for kind in StoreId::BUILT_IN {
        let status = snapshot.stores.get(&kind).cloned().unwrap_or_default();
        let mut value = serde_json::to_value(&status).map_err(|_| unavailable("status"))?;
        if let Some(fields) = value.as_object_mut() {
            if kind != StoreId::AMAZON {
                fields.remove("subscription");
            }
            fields.insert("enabled".into(), json!(shared.enabled.contains(&kind)));
            fields.insert(
                "stale".into(),
                json!(is_stale(&status, SystemTime::now(), shared.stale_after)),
            );
        }
        stores.insert(kind.as_str().into(), value);
    }
    Ok(json!({ "stores": stores }))
}

/// Whether a store that received tracked notifications has been silent longer than
/// `stale_after` (a store that never received one is not stale: nothing is expected yet).
pub fn is_stale(
    status: &store_notifications::status::StoreStatus,
    now: SystemTime,
    stale_after: std::time::Duration,
) -> bool {
    status.last_received_at.is_some_and(|last| {
        now.duration_since(last)
            .is_ok_and(|silent| silent > stale_after)
    })
}

async fn metrics(State(shared): State<Shared>) -> Response {
    let up = tokio::time::timeout(HEALTH_TIMEOUT, shared.db.ping())
        .await
        .is_ok_and(|r| r.is_ok());
    let text = shared.metrics.render(up);
    (
        [(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        text,
    )
        .into_response()
}

async fn status(State(shared): State<Shared>) -> Response {
    match status_json(&shared).await {
        Ok(value) => Json(value).into_response(),
        Err(res) => res,
    }
}

#[derive(Deserialize)]
struct EventsQuery {
    store: Option<String>,
    limit: Option<u32>,
}

async fn events(State(shared): State<Shared>, Query(q): Query<EventsQuery>) -> Response {
    let store = match q.store.as_deref().filter(|s| !s.is_empty()).map(str::parse) {
        None => None,
        Some(Ok(kind)) => Some(kind),
        Some(Err(e)) => return (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
    };
    let limit = i64::from(q.limit.unwrap_or(100).clamp(1, 1000));
    match shared.db.events(store, limit).await {
        Ok(rows) => Json(rows).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "events unavailable");
            unavailable("events unavailable")
        }
    }
}

#[derive(Deserialize)]
struct TrackReceipt {
    store: String,
    receipt: String,
}

/// The longest receipt reference `POST /receipts` takes, on either database (references are
/// keyed by digest, so the limit is a sanity bound, not a storage one): Google purchase
/// tokens, the longest real ones, are a few hundred bytes.
pub const MAX_REFERENCE_LEN: usize = 4096;

async fn track_receipt(
    State(shared): State<Shared>,
    body: Result<Json<TrackReceipt>, JsonRejection>,
) -> Response {
    let Json(req) = match body {
        Ok(body) => body,
        Err(rejection) => {
            let text = format!(
                "{}; expected {{\"store\": \"apple|google|stripe|amazon\", \"receipt\": \"<reference>\"}}\n",
                rejection.body_text()
            );
            return (rejection.status(), text).into_response();
        }
    };
    let store = match req.store.parse::<StoreId>() {
        Ok(store) => store,
        Err(e) => {
            let text = format!("{e}: expected apple, google, stripe or amazon\n");
            return (StatusCode::UNPROCESSABLE_ENTITY, text).into_response();
        }
    };
    if req.receipt.is_empty() || req.receipt.len() > MAX_REFERENCE_LEN {
        let text = format!("receipt must be 1 to {MAX_REFERENCE_LEN} bytes\n");
        return (StatusCode::UNPROCESSABLE_ENTITY, text).into_response();
    }
    match shared.db.track(store, &req.receipt).await {
        Ok(new) => {
            let code = if new {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            let body = json!({ "store": store, "receipt": req.receipt, "tracked": true });
            (code, Json(body)).into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "could not track the receipt");
            unavailable("could not track the receipt")
        }
    }
}

fn unavailable(message: &str) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({ "error": message })),
    )
        .into_response()
}
