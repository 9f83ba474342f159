//! Checking a password or a login token (SASL PLAIN, NickServ IDENTIFY)
//! and saying how it went.

use tracing::warn;

use super::{logged_in, nickserv_say, sasl_fail, sasl_success, sasl_suspended};
use crate::ctx::{then, Ctx, Outcome};
use crate::stats;

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Login {
    Sasl,
    NickServ,
}

/// Verifies a password for an account, then logs in (or fails), through
/// the login limiter and the hasher.
pub(crate) fn check_password(
    cx: &mut Ctx<'_>,
    name: String,
    password: String,
    how: Login,
) -> Outcome {
    let Some(folded) = cx.server.fold_nick(&name) else {
        return refuse(cx, how);
    };
    let ip = cx.conn().ip;
    if !cx.server.login_limiter.allowed(ip, &folded) {
        cx.server.stats.login(stats::Login::Throttled);
        warn!(account = %folded, %ip, "login refused: too many failures");
        return refuse(cx, how);
    }
    let server = cx.server_arc();
    let now = cx.server.clock.unix_ms();
    cx.defer(async move {
        let f = folded.clone();
        let (ok, account) = if super::tokens::is_token(&password) {
            // A login token (the web page's "stay logged in"): its hash
            // finds the account, which must be the one named.
            let hash = super::tokens::hash(&password);
            let account = server
                .store(move |s| s.login_with_token(&hash, now))
                .await
                .ok()
                .flatten();
            (account.as_ref().is_some_and(|a| a.name == f), account)
        } else {
            let account = server.store(move |s| s.account(&f)).await.ok().flatten();
            let ok = match &account {
                Some(a) => {
                    server
                        .hasher
                        .verify(password, a.password_hash.clone())
                        .await
                }
                None => false,
            };
            (ok, account)
        };
        then(move |cx: &mut Ctx<'_>| match (ok, account) {
            (true, Some(a)) if a.suspended.is_some() => {
                cx.server.stats.login(stats::Login::Suspended);
                warn!(account = %folded, %ip, "login refused: the account is suspended");
                match how {
                    Login::Sasl => cx.reject(sasl_suspended()),
                    Login::NickServ => nickserv_say(cx, "This account is suspended."),
                }
            }
            (true, Some(a)) => {
                cx.server.stats.login(stats::Login::Ok);
                cx.server.login_limiter.succeeded(ip, &folded);
                logged_in(cx, &a);
                match how {
                    Login::Sasl => sasl_success(cx),
                    Login::NickServ => {
                        nickserv_say(cx, &format!("You are now identified for {}.", a.display))
                    }
                }
            }
            _ => {
                cx.server.stats.login(stats::Login::Failed);
                cx.server.login_limiter.failed(ip, &folded);
                warn!(account = %folded, %ip, "failed login");
                let _ = refuse(cx, how).map_err(|r| cx.reject(r));
            }
        })
    });
    Ok(())
}

fn refuse(cx: &mut Ctx<'_>, how: Login) -> Outcome {
    match how {
        Login::Sasl => Err(sasl_fail()),
        Login::NickServ => {
            nickserv_say(cx, "Invalid account or password.");
            Ok(())
        }
    }
}
