//! `/api/v1/clients`, `/api/v1/channels`, `/api/v1/notice`: who is
//! connected, what channels exist, and ending, kicking and telling them.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use tracing::info;

use super::{ApiError, ApiResult, App, JsonBody, Page, Token};
use crate::channel::Channel;
use crate::client::Client;
use crate::route;

pub(super) fn routes() -> Router<App> {
    Router::new()
        .route("/clients", get(list))
        .route("/clients/{nick}", get(one))
        .route("/clients/{nick}/kill", post(kill))
        .route("/channels", get(channels))
        .route("/channels/{channel}", get(channel))
        .route("/channels/{channel}/kick", post(kick))
        .route("/notice", post(notice))
}

/// A client as operators see it (WHOIS and more): its real address too.
fn describe(app: &App, c: &Client) -> Value {
    let now = app.server.uptime_secs();
    let i = c.info().clone();
    let idle = now.saturating_sub(c.last_active.load(std::sync::atomic::Ordering::Relaxed));
    json!({
        "id": c.id,
        "nick": &*i.nick,
        "user": &*i.user,
        "host": &*i.host,
        "ip": c.ip.to_canonical().to_string(),
        "realname": &*i.realname,
        "account": i.account.as_deref(),
        "registered": c.is_registered(),
        "connected_at": c.connected_at,
        "idle_secs": idle,
        "tls": c.tls,
        "certfp": c.certfp.as_deref(),
        "oper": i.modes.oper,
        "away": i.away.as_deref(),
        "modes": i.modes.to_mode_string(),
        "channels": i.channels.iter().map(|ch| ch.name.as_str()).collect::<Vec<_>>(),
    })
}

fn find(app: &App, nick: &str) -> Result<Arc<Client>, ApiError> {
    app.server
        .find_nick(nick)
        .ok_or_else(|| ApiError::not_found(format!("no client {nick}")))
}

/// Clients in id order, `limit` after the id `after`.
async fn list(State(app): State<App>, Query(page): Query<Page>) -> ApiResult {
    let after: u64 = match page.after.as_deref() {
        Some(a) => a
            .parse()
            .map_err(|_| ApiError::bad("after is a client id"))?,
        None => 0,
    };
    let mut all: Vec<Arc<Client>> = app
        .server
        .registry
        .clients()
        .into_iter()
        .filter(|c| c.id > after)
        .collect();
    all.sort_unstable_by_key(|c| c.id);
    let limit = page.limit();
    let next = (all.len() > limit).then(|| all[limit - 1].id.to_string());
    all.truncate(limit);
    let clients: Vec<Value> = all.iter().map(|c| describe(&app, c)).collect();
    Ok(Json(json!({ "clients": clients, "next": next })))
}

async fn one(State(app): State<App>, Path(nick): Path<String>) -> ApiResult {
    let c = find(&app, &nick)?;
    Ok(Json(describe(&app, &c)))
}

#[derive(Debug, Deserialize)]
struct Reason {
    #[serde(default)]
    reason: String,
}

fn reason_or(r: &str, default: &str) -> String {
    let r = r.trim();
    let r = if r.is_empty() { default } else { r };
    // One IRC line: no line breaks, and bounded.
    r.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(300)
        .collect()
}

async fn kill(
    State(app): State<App>,
    Extension(Token(token)): Extension<Token>,
    Path(nick): Path<String>,
    JsonBody(r): JsonBody<Reason>,
) -> ApiResult {
    let c = find(&app, &nick)?;
    let reason = reason_or(&r.reason, "No reason");
    let tnick = c.nick();
    info!(%token, action = "kill", target = %tnick, %reason, "admin api");
    app.server.snote(
        'k',
        &format!("Received KILL message for {tnick} from admin API ({token}) ({reason})"),
    );
    crate::lifecycle::kill_user(
        &app.server,
        &c,
        format!("Killed ({} ({reason}))", app.server.name),
    );
    Ok(Json(json!({ "killed": tnick })))
}

fn find_channel(app: &App, name: &str) -> Result<Arc<Channel>, ApiError> {
    app.server
        .find_channel(name)
        .ok_or_else(|| ApiError::not_found(format!("no channel {name}")))
}

async fn channels(State(app): State<App>) -> ApiResult {
    let mut all = app.server.registry.channels();
    all.sort_by(|a, b| a.folded.cmp(&b.folded));
    let list: Vec<Value> = all
        .iter()
        .map(|ch| {
            let st = ch.lock();
            json!({
                "name": ch.name,
                "members": st.members.len(),
                "topic": st.topic.as_ref().map(|t| &t.text),
                "modes": st.modes.to_mode_string(false).0,
            })
        })
        .collect();
    Ok(Json(json!({ "channels": list })))
}

async fn channel(State(app): State<App>, Path(name): Path<String>) -> ApiResult {
    let ch = find_channel(&app, &name)?;
    let st = ch.lock();
    let mut members: Vec<(String, &'static str)> = st
        .members
        .values()
        .map(|m| (m.client.nick(), m.prefix.symbols(true)))
        .collect();
    members.sort();
    Ok(Json(json!({
        "name": ch.name,
        "created": st.created,
        "topic": st.topic.as_ref().map(|t| json!({
            "text": t.text, "set_by": t.set_by, "set_at": t.set_at,
        })),
        "modes": st.modes.to_mode_string(false).0,
        "members": members
            .iter()
            .map(|(nick, prefix)| json!({ "nick": nick, "prefix": prefix }))
            .collect::<Vec<_>>(),
    })))
}

#[derive(Debug, Deserialize)]
struct Kick {
    nick: String,
    #[serde(default)]
    reason: String,
}

async fn kick(
    State(app): State<App>,
    Extension(Token(token)): Extension<Token>,
    Path(name): Path<String>,
    JsonBody(k): JsonBody<Kick>,
) -> ApiResult {
    let ch = find_channel(&app, &name)?;
    let target = find(&app, &k.nick)?;
    let reason = reason_or(&k.reason, "Kicked by the server");
    let tnick = target.nick();
    if !route::kick_by_server(&app.server, &ch, &target, &reason) {
        return Err(ApiError::not_found(format!(
            "{tnick} is not on {}",
            ch.name
        )));
    }
    info!(%token, action = "kick", channel = %ch.name, target = %tnick, %reason, "admin api");
    Ok(Json(json!({ "kicked": tnick, "channel": ch.name })))
}

#[derive(Debug, Deserialize)]
struct Notice {
    text: String,
}

async fn notice(
    State(app): State<App>,
    Extension(Token(token)): Extension<Token>,
    JsonBody(n): JsonBody<Notice>,
) -> ApiResult {
    let text = reason_or(&n.text, "");
    if text.is_empty() {
        return Err(ApiError::bad("text is empty"));
    }
    let sent = route::notice_everyone(&app.server, &text);
    info!(%token, action = "notice", sent, "admin api");
    Ok(Json(json!({ "sent": sent })))
}
