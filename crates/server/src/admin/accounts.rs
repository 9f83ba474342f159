//! `/api/v1/accounts`: list and look up accounts, create one, reset a
//! password, suspend and lift a suspension. A suspended account's logins
//! are refused (SASL 904, NickServ says so) and its connected sessions
//! end at once.

use std::sync::atomic::Ordering;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use ferry_store::{Account, Suspension};
use serde::Deserialize;
use serde_json::{json, Value};
use tracing::info;

use super::{ApiError, ApiResult, App, JsonBody, Page, Token};
use crate::accounts::AccountError;

pub(super) fn routes() -> Router<App> {
    Router::new()
        .route("/accounts", get(list).post(create))
        .route("/accounts/{name}", get(one))
        .route("/accounts/{name}/password", post(password))
        .route("/accounts/{name}/suspend", post(suspend))
        .route("/accounts/{name}/unsuspend", post(unsuspend))
}

/// The account's sessions connected now (`folded`: its casefolded name).
fn sessions(app: &App, folded: &str) -> Vec<std::sync::Arc<crate::client::Client>> {
    app.server.registry.devices(folded)
}

/// An account as the API shows it: never a password form.
fn describe(app: &App, a: &Account) -> Value {
    json!({
        "name": a.name,
        "display": a.display,
        "email": a.email,
        "created_ms": a.created_ms,
        "callerid": a.callerid,
        "suspended": a.suspended.as_ref().map(|s| json!({
            "reason": s.reason, "by": s.by, "at_ms": s.at_ms,
        })),
        "online": sessions(app, &a.name).len(),
    })
}

fn fold(app: &App, name: &str) -> Result<String, ApiError> {
    app.server
        .fold_nick(name)
        .ok_or_else(|| ApiError::not_found(format!("no account {name}")))
}

async fn load(app: &App, name: &str) -> Result<Account, ApiError> {
    let folded = fold(app, name)?;
    app.server
        .store(move |s| s.account(&folded))
        .await
        .map_err(ApiError::unavailable)?
        .ok_or_else(|| ApiError::not_found(format!("no account {name}")))
}

async fn list(State(app): State<App>, Query(page): Query<Page>) -> ApiResult {
    let all = app
        .server
        .store(|s| s.accounts())
        .await
        .map_err(ApiError::unavailable)?;
    let limit = page.limit();
    let after = page.after.unwrap_or_default();
    let mut page: Vec<&Account> = all.iter().filter(|a| a.name > after).collect();
    let next = (page.len() > limit).then(|| page[limit - 1].name.clone());
    page.truncate(limit);
    let accounts: Vec<Value> = page.iter().map(|a| describe(&app, a)).collect();
    Ok(Json(json!({ "accounts": accounts, "next": next })))
}

async fn one(State(app): State<App>, Path(name): Path<String>) -> ApiResult {
    let a = load(&app, &name).await?;
    Ok(Json(describe(&app, &a)))
}

fn account_error(e: AccountError) -> ApiError {
    match e {
        AccountError::BadName(_) | AccountError::WeakPassword(_) => ApiError::bad(e.to_string()),
        AccountError::Exists(_) => ApiError(StatusCode::CONFLICT, e.to_string()),
        AccountError::NoSuchAccount(_) => ApiError::not_found(e.to_string()),
        AccountError::Store(e) => ApiError::unavailable(e),
    }
}

#[derive(Debug, Deserialize)]
struct NewAccount {
    name: String,
    password: String,
}

async fn create(
    State(app): State<App>,
    Extension(Token(token)): Extension<Token>,
    JsonBody(n): JsonBody<NewAccount>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let cfg = std::sync::Arc::clone(&app.server.config());
    let store = app.server.store.clone();
    let name = n.name.clone();
    // argon2 and the commit: off the runtime.
    let made = tokio::task::spawn_blocking(move || {
        crate::accounts::create_account(&*store, &cfg, &name, &n.password)
    })
    .await
    .map_err(ApiError::unavailable)?
    .map_err(account_error)?;
    app.server.registered_names.insert(made.name.clone());
    app.server
        .stats
        .registrations
        .fetch_add(1, Ordering::Relaxed);
    info!(%token, action = "create account", target = %made.display, "admin api");
    Ok((StatusCode::CREATED, Json(describe(&app, &made))))
}

#[derive(Debug, Deserialize)]
struct NewPassword {
    password: String,
}

async fn password(
    State(app): State<App>,
    Extension(Token(token)): Extension<Token>,
    Path(name): Path<String>,
    JsonBody(p): JsonBody<NewPassword>,
) -> ApiResult {
    let a = load(&app, &name).await?;
    let cfg = std::sync::Arc::clone(&app.server.config());
    let store = app.server.store.clone();
    let n = a.name.clone();
    tokio::task::spawn_blocking(move || {
        crate::accounts::set_password(&*store, &cfg, &n, &p.password)
    })
    .await
    .map_err(ApiError::unavailable)?
    .map_err(account_error)?;
    info!(%token, action = "reset password", target = %a.display, "admin api");
    Ok(Json(json!({ "account": a.display, "password": "changed" })))
}

#[derive(Debug, Deserialize)]
struct Reason {
    #[serde(default)]
    reason: String,
}

async fn suspend(
    State(app): State<App>,
    Extension(Token(token)): Extension<Token>,
    Path(name): Path<String>,
    JsonBody(r): JsonBody<Reason>,
) -> ApiResult {
    let a = load(&app, &name).await?;
    let reason = match r.reason.trim() {
        "" => "No reason".to_string(),
        t => t.chars().filter(|c| !c.is_control()).take(300).collect(),
    };
    let s = Suspension {
        reason: reason.clone(),
        by: token.to_string(),
        at_ms: app.server.clock.unix_ms(),
    };
    let n = a.name.clone();
    app.server
        .store(move |st| st.set_suspended(&n, Some(&s)))
        .await
        .map_err(ApiError::unavailable)?;
    // Its sessions end now; the store refuses their next logins.
    let ended = sessions(&app, &a.name);
    let why = format!("Account suspended: {reason}");
    for c in &ended {
        crate::lifecycle::kill_user(&app.server, c, why.clone());
    }
    // An always-on user with no device left has no session to end.
    if let Some(u) = app.server.registry.find_nick(&a.name) {
        let same = u
            .info()
            .account
            .as_deref()
            .and_then(|x| app.server.fold_nick(x));
        if same.as_deref() == Some(a.name.as_str()) {
            crate::lifecycle::kill_user(&app.server, &u, why);
        }
    }
    let ended = ended.len() as u64;
    info!(%token, action = "suspend account", target = %a.display, %reason, ended, "admin api");
    app.server.snote(
        's',
        &format!(
            "Account {} suspended by admin API ({token}): {reason}",
            a.display
        ),
    );
    let a = load(&app, &name).await?;
    let mut v = describe(&app, &a);
    // The ended sessions are still leaving: not counted as online.
    let online = v["online"].as_u64().unwrap_or(0).saturating_sub(ended);
    v["online"] = json!(online);
    v["sessions_ended"] = json!(ended);
    Ok(Json(v))
}

async fn unsuspend(
    State(app): State<App>,
    Extension(Token(token)): Extension<Token>,
    Path(name): Path<String>,
) -> ApiResult {
    let a = load(&app, &name).await?;
    let n = a.name.clone();
    app.server
        .store(move |st| st.set_suspended(&n, None))
        .await
        .map_err(ApiError::unavailable)?;
    info!(%token, action = "unsuspend account", target = %a.display, "admin api");
    let a = load(&app, &name).await?;
    Ok(Json(describe(&app, &a)))
}
