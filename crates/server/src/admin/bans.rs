//! `/api/v1/klines`, `/api/v1/dlines`, `/api/v1/rehash`: the operators'
//! KLINE/DLINE (and their removal) and REHASH, for scripts.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Extension, Json, Router};
use ferry_store::{BanKind, ServerBan};
use serde::Deserialize;
use serde_json::{json, Value};
use tracing::{info, warn};

use super::{ApiError, ApiResult, App, JsonBody, Token};
use crate::bans;

pub(super) fn routes() -> Router<App> {
    Router::new()
        .route("/klines", get(list_k).post(add_k))
        .route("/klines/{mask}", delete(remove_k))
        .route("/dlines", get(list_d).post(add_d))
        .route("/dlines/{mask}", delete(remove_d))
        .route("/rehash", post(rehash))
}

fn describe(b: &ServerBan) -> Value {
    json!({
        "mask": b.mask,
        "reason": b.reason,
        "set_by": b.set_by,
        "set_ms": b.set_ms,
        "expires_ms": b.expires_ms,
    })
}

fn list(app: &App, kind: BanKind) -> Json<Value> {
    let all: Vec<Value> = bans::list(&app.server, kind).iter().map(describe).collect();
    Json(json!({ "bans": all }))
}

async fn list_k(State(app): State<App>) -> Json<Value> {
    list(&app, BanKind::Kline)
}

async fn list_d(State(app): State<App>) -> Json<Value> {
    list(&app, BanKind::Dline)
}

#[derive(Debug, Deserialize)]
struct NewBan {
    mask: String,
    #[serde(default)]
    reason: String,
    /// None or 0: until removed.
    minutes: Option<u64>,
}

async fn add(
    app: App,
    token: &str,
    kind: BanKind,
    b: NewBan,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let mask = bans::mask(kind, b.mask.trim()).map_err(ApiError::bad)?;
    let reason = match b.reason.trim() {
        "" => "No reason",
        r => r,
    };
    let reason: String = reason
        .chars()
        .filter(|c| !c.is_control())
        .take(300)
        .collect();
    let ban = bans::new_ban(
        &app.server,
        kind,
        mask,
        &reason,
        format!("admin API ({token})"),
        b.minutes.filter(|m| *m > 0),
    );
    let stored = ban.clone();
    app.server
        .store(move |s| s.add_ban(&stored))
        .await
        .map_err(ApiError::unavailable)?;
    let disconnected = bans::install(&app.server, &ban);
    let (word, _) = bans::words(kind);
    info!(%token, action = %format!("add {word}"), target = %ban.mask, disconnected, "admin api");
    let mut v = describe(&ban);
    v["disconnected"] = json!(disconnected);
    Ok((StatusCode::CREATED, Json(v)))
}

async fn add_k(
    State(app): State<App>,
    Extension(Token(token)): Extension<Token>,
    JsonBody(body): JsonBody<NewBan>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    add(app, &token, BanKind::Kline, body).await
}

async fn add_d(
    State(app): State<App>,
    Extension(Token(token)): Extension<Token>,
    JsonBody(body): JsonBody<NewBan>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    add(app, &token, BanKind::Dline, body).await
}

async fn remove(app: App, token: &str, kind: BanKind, raw: &str) -> ApiResult {
    let mask = bans::stored_mask(&app.server, kind, raw);
    let m = mask.clone();
    let removed = app
        .server
        .store(move |s| s.remove_ban(kind, &m))
        .await
        .map_err(ApiError::unavailable)?;
    if !removed {
        return Err(ApiError::not_found(format!("no ban on {mask}")));
    }
    bans::uninstall(&app.server, kind, &mask);
    let (word, _) = bans::words(kind);
    info!(%token, action = %format!("remove {word}"), target = %mask, "admin api");
    Ok(Json(json!({ "removed": mask })))
}

async fn remove_k(
    State(app): State<App>,
    Extension(Token(token)): Extension<Token>,
    Path(mask): Path<String>,
) -> ApiResult {
    remove(app, &token, BanKind::Kline, &mask).await
}

async fn remove_d(
    State(app): State<App>,
    Extension(Token(token)): Extension<Token>,
    Path(mask): Path<String>,
) -> ApiResult {
    remove(app, &token, BanKind::Dline, &mask).await
}

/// REHASH: the configuration file read again (as SIGHUP and REHASH do).
async fn rehash(State(app): State<App>, Extension(Token(token)): Extension<Token>) -> ApiResult {
    match app.server.rehash() {
        Ok(what) => {
            info!(%token, action = "rehash", %what, "admin api");
            app.server
                .snote('s', &format!("Rehashing {what} (admin API, {token})"));
            Ok(Json(json!({ "rehashed": what })))
        }
        Err(e) => {
            warn!(%token, action = "rehash", error = %e, "admin api: rehash failed");
            let text = e.to_string();
            let text: Vec<&str> = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            Err(ApiError(StatusCode::INTERNAL_SERVER_ERROR, text.join(" ")))
        }
    }
}
