//! TOKEN NEW [:<label>] | TOKEN LIST | TOKEN REVOKE <id>: the logged-in
//! account's login tokens (ferry's own command, for the web page's "stay
//! logged in"; `accounts/tokens.rs` says how they work).
//!
//! Replies: `TOKEN NEW <id> <token>`; `TOKEN ITEM <id> <created_ms>
//! <last_used_ms> :<label>` per token then `TOKEN END`; `TOKEN REVOKED
//! <id>`. Refusals are `FAIL TOKEN <code>`: ACCOUNT_REQUIRED, NO_SUCH_TOKEN,
//! INVALID_PARAMS, TEMPORARILY_UNAVAILABLE.

use ferry_proto::Message;
use ferry_store::LoginToken;
use tracing::{info, warn};

use crate::accounts::tokens;
use crate::ctx::{then, Ctx, Outcome};

pub(super) fn run(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    let Some(account) = cx.s.account.clone() else {
        cx.fail("ACCOUNT_REQUIRED", &[], "Log in to an account first");
        return Ok(());
    };
    let sub = msg.param(0).unwrap_or("").to_ascii_uppercase();
    let server = cx.server_arc();
    match sub.as_str() {
        "NEW" => {
            let label: String = msg
                .param(1)
                .unwrap_or("")
                .chars()
                .filter(|c| !c.is_control())
                .take(100)
                .collect();
            let (id, token, hash) = tokens::new_token();
            let t = LoginToken {
                id: id.clone(),
                label,
                created_ms: cx.server.clock.unix_ms(),
                last_used_ms: 0,
            };
            let a = account.clone();
            cx.defer(async move {
                let r = server.store(move |s| s.add_token(&a, &t, &hash)).await;
                then(move |cx: &mut Ctx<'_>| match r {
                    Ok(true) => {
                        info!(%account, %id, "login token made");
                        let name = cx.server_name().to_string();
                        cx.reply.line(format!(":{name} TOKEN NEW {id} {token}"));
                    }
                    Ok(false) => cx.fail("ACCOUNT_REQUIRED", &[], "The account is gone"),
                    Err(e) => {
                        warn!(error = %e, "could not keep a login token");
                        cx.fail("TEMPORARILY_UNAVAILABLE", &[], "Try again later");
                    }
                })
            });
        }
        "LIST" => cx.defer(async move {
            let r = server.store(move |s| s.tokens(&account)).await;
            then(move |cx: &mut Ctx<'_>| match r {
                Ok(list) => {
                    let name = cx.server_name().to_string();
                    for t in list {
                        cx.reply.line(format!(
                            ":{name} TOKEN ITEM {} {} {} :{}",
                            t.id, t.created_ms, t.last_used_ms, t.label
                        ));
                    }
                    cx.reply.line(format!(":{name} TOKEN END"));
                }
                Err(_) => cx.fail("TEMPORARILY_UNAVAILABLE", &[], "Try again later"),
            })
        }),
        "REVOKE" => {
            let Some(id) = msg.param(1).map(str::to_string) else {
                cx.fail("INVALID_PARAMS", &["REVOKE"], "Which token?");
                return Ok(());
            };
            cx.defer(async move {
                let i = id.clone();
                let r = server.store(move |s| s.revoke_token(&account, &i)).await;
                then(move |cx: &mut Ctx<'_>| match r {
                    Ok(true) => {
                        let name = cx.server_name().to_string();
                        cx.reply.line(format!(":{name} TOKEN REVOKED {id}"));
                    }
                    Ok(false) => cx.fail("NO_SUCH_TOKEN", &[&id], "No such token"),
                    Err(_) => cx.fail("TEMPORARILY_UNAVAILABLE", &[], "Try again later"),
                })
            });
        }
        _ => cx.fail(
            "INVALID_PARAMS",
            &[&sub],
            "TOKEN NEW, TOKEN LIST or TOKEN REVOKE <id>",
        ),
    }
    Ok(())
}
