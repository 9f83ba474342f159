//! The admin listener (`[admin]`, `ferry serve --admin`): HTTP for the
//! people who run the server, never for its users.
//!
//! - `/metrics`: Prometheus' text format (`metrics.rs`), read from the
//!   counters the server keeps anyway: a scrape costs the relay nothing.
//! - `/healthz` (the process answers) and `/readyz` (the store can be read
//!   and written), without a token, for supervisors and load balancers.
//! - `/api/v1/…`: a JSON API for scripts (`clients.rs`, `accounts.rs`,
//!   `bans.rs`; docs/openapi.yaml describes it), behind named bearer tokens
//!   from the configuration. Every write is logged with the token's name.
//!   Nothing in it shows a message's text.
//!
//! It sits beside `net/` at the top of the layers: it calls what commands
//! share (`accounts`, `bans`, `route`), never a command handler.

mod accounts;
mod bans;
mod clients;
mod metrics;

use std::sync::Arc;

use axum::extract::{FromRequest, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::Server;

pub(crate) use metrics::Metrics;

/// What every handler gets: the server and its metrics registry.
#[derive(Clone)]
struct App {
    server: Arc<Server>,
    metrics: Arc<Metrics>,
}

/// The name of the token a request came with (set by [`authorize`]).
#[derive(Clone, Debug)]
struct Token(Arc<str>);

/// A refusal: its status and a sentence, as `{"error": "..."}`.
#[derive(Debug)]
struct ApiError(StatusCode, String);

impl ApiError {
    fn bad(text: impl Into<String>) -> ApiError {
        ApiError(StatusCode::BAD_REQUEST, text.into())
    }
    fn not_found(text: impl Into<String>) -> ApiError {
        ApiError(StatusCode::NOT_FOUND, text.into())
    }
    fn unavailable(e: impl std::fmt::Display) -> ApiError {
        warn!(error = %e, "admin api: the store failed");
        ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            "the store is unavailable; try again".into(),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

/// A JSON request body, whatever its `Content-Type` says (`curl -d`
/// sends a form's); an empty body is `{}`. Anything else is a 400 with
/// serde's sentence.
struct JsonBody<T>(T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::bad(e.body_text()))?;
        let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        serde_json::from_slice(text)
            .map(JsonBody)
            .map_err(|e| ApiError::bad(format!("the body is not what this call takes: {e}")))
    }
}

type ApiResult<T = Json<serde_json::Value>> = Result<T, ApiError>;

/// Serves the admin listener until `cancel`.
pub(crate) async fn serve(
    server: Arc<Server>,
    metrics: Arc<Metrics>,
    listener: tokio::net::TcpListener,
    cancel: CancellationToken,
) {
    let app = App { server, metrics };
    let api = Router::new()
        .merge(clients::routes())
        .merge(accounts::routes())
        .merge(bans::routes())
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .layer(axum::middleware::from_fn_with_state(app.clone(), authorize));
    let router = Router::new()
        .route("/metrics", get(metrics::scrape))
        .route(
            "/healthz",
            get(|| async { Json(json!({ "status": "ok" })) }),
        )
        .route("/readyz", get(ready))
        .nest("/api/v1", api)
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .with_state(app);
    if let Ok(addr) = listener.local_addr() {
        info!(%addr, "admin listener");
    }
    if let Err(e) = axum::serve(listener, router)
        .with_graceful_shutdown(cancel.cancelled_owned())
        .await
    {
        warn!(error = %e, "admin listener stopped");
    }
}

/// 200 while the store answers a read and its writer runs; else 503.
async fn ready(State(app): State<App>) -> Response {
    let store = match app.server.store(|s| s.ping()).await {
        Ok(()) => Ok(()),
        Err(e) => Err(e.to_string()),
    };
    // A node of a cluster is ready only with its bus too.
    let bus = app
        .server
        .cluster()
        .map(|c| (c.node.clone(), c.bus_state()));
    let ok = store.is_ok() && bus.as_ref().is_none_or(|(_, b)| b.is_ok());
    let word = |r: &Result<(), String>| match r {
        Ok(()) => "ok".to_string(),
        Err(e) => e.clone(),
    };
    let mut body = json!({
        "status": if ok { "ready" } else { "not ready" },
        "store": word(&store),
    });
    if let Some((node, b)) = &bus {
        body["node"] = json!(node);
        body["nats"] = json!(word(b));
    }
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body)).into_response()
}

/// Lets a request through only with `Authorization: Bearer <token>` for a
/// configured token (REHASH can change them). Every configured token's
/// hash is compared, in constant time, so neither the time taken nor an
/// early exit tells which part of a guess was right.
async fn authorize(State(app): State<App>, mut req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| Sha256::digest(t.trim().as_bytes()));
    let mut found: Option<Arc<str>> = None;
    if let Some(hash) = presented {
        for t in &app.server.config().admin.tokens {
            if bool::from(t.sha256.ct_eq(hash.as_slice())) {
                found = Some(t.name.as_str().into());
            }
        }
    }
    match found {
        Some(name) => {
            req.extensions_mut().insert(Token(name));
            next.run(req).await
        }
        None => {
            let mut r = ApiError(
                StatusCode::UNAUTHORIZED,
                "a valid token is needed: Authorization: Bearer <token>".into(),
            )
            .into_response();
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"ferry\""),
            );
            r
        }
    }
}

/// A fresh API token: 32 random bytes as 64 hex digits, and the config
/// line that admits it (`ferry admin token NAME`).
pub fn new_token() -> (String, String) {
    let bytes: [u8; 32] = rand::random();
    let token = hex(&bytes);
    let hash = format!("sha256:{}", hex(&Sha256::digest(token.as_bytes())));
    (token, hash)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

/// `?limit=&after=`: a page of a listing (by id or by name).
#[derive(Debug, serde::Deserialize)]
struct Page {
    limit: Option<usize>,
    after: Option<String>,
}

impl Page {
    const MAX: usize = 10_000;

    fn limit(&self) -> usize {
        self.limit.unwrap_or(1000).clamp(1, Page::MAX)
    }
}
