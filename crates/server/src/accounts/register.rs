//! Registering an account (REGISTER, NickServ REGISTER, `ferry account add`).

use ferry_proto::validate::is_valid_nick;
use ferry_store::{Account, StoreError};
use tracing::{info, warn};

use super::{logged_in, nickserv_say, NEW_PASSWORD_NEEDS_TLS, NICKSERV};
use crate::ctx::{then, Ctx, Outcome, Reject};

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Via {
    Register,
    NickServ,
}

/// `FAIL REGISTER <code> <account> :<text>`.
pub(crate) fn fail_register(code: &'static str, account: &str, text: &str) -> Reject {
    Reject::Fail(code, vec![account.to_string()], text.to_string())
}

/// Registers `name` (`*`: the current nick) with `password` and logs in.
pub(crate) fn start_registration(
    cx: &mut Ctx<'_>,
    name: String,
    password: String,
    via: Via,
) -> Outcome {
    let nick = cx.me().nick();
    let fail = move |cx: &mut Ctx<'_>, code: &'static str, account: &str, text: &str| -> Outcome {
        match via {
            Via::Register => Err(fail_register(code, account, text)),
            Via::NickServ => {
                nickserv_say(cx, text);
                Ok(())
            }
        }
    };
    if cx.s.account.is_some() {
        return fail(
            cx,
            "ALREADY_AUTHENTICATED",
            &name,
            "You are already logged in",
        );
    }
    if !cx.me().tls && cx.server.config().accounts.require_tls_for_plain {
        return fail(cx, "TLS_REQUIRED", &name, NEW_PASSWORD_NEEDS_TLS);
    }
    let name = match name.as_str() {
        // The current nick, or the one just refused as in use.
        "*" if nick == "*" => cx.s.more.nick_attempt.clone().unwrap_or(nick.clone()),
        "*" => nick.clone(),
        _ => name,
    };
    if name == "*" {
        return fail(cx, "NEED_NICK", "*", "Send NICK first");
    }
    // No land grabs: a nick someone else is using cannot become an account.
    if let Some(holder) = cx
        .server
        .fold_nick(&name)
        .and_then(|f| cx.server.registry.nick_holder(&f))
    {
        if holder.id != cx.me().id {
            return fail(cx, "ACCOUNT_EXISTS", &name, "That name is in use");
        }
    }
    let cfg = &cx.server.config();
    if !is_valid_nick(&name, cfg.casemap, cfg.limits.nick_length)
        || name.eq_ignore_ascii_case(NICKSERV)
    {
        return fail(
            cx,
            "BAD_ACCOUNT_NAME",
            &name,
            "That account name is not allowed",
        );
    }
    if cx.server.fold_nick(&name) != cx.server.fold_nick(&nick) {
        return fail(
            cx,
            "ACCOUNT_NAME_MUST_BE_NICK",
            &name,
            "The account name must be your current nick",
        );
    }
    if password.chars().count() < cfg.accounts.min_password_length || password.contains(' ') {
        let text = format!(
            "Passwords must be at least {} characters",
            cfg.accounts.min_password_length
        );
        return fail(cx, "WEAK_PASSWORD", &name, &text);
    }
    let folded = cx.server.fold_nick(&name).expect("valid names fold");
    if cx.server.registered_names.contains(&folded) {
        return fail(cx, "ACCOUNT_EXISTS", &name, "That account already exists");
    }
    let server = cx.server_arc();
    let callerid = cfg.accounts.callerid_default;
    cx.defer(async move {
        let (hash, scram) = server.hasher.credentials(password).await;
        let account = Account {
            name: folded.clone(),
            display: name.clone(),
            password_hash: hash,
            scram,
            email: None,
            callerid,
            created_ms: crate::unix_millis(),
        };
        let a = account.clone();
        let r = server.store(move |s| s.create_account(&a)).await;
        then(move |cx: &mut Ctx<'_>| match r {
            Ok(()) => {
                cx.server.registered_names.insert(account.name.clone());
                info!(account = %account.display, "account registered");
                match via {
                    Via::Register => {
                        let line = format!(
                            ":{} REGISTER SUCCESS {} :Account created",
                            cx.server_name(),
                            account.display
                        );
                        cx.reply.line(line);
                    }
                    Via::NickServ => nickserv_say(
                        cx,
                        &format!("Account {} registered; you are logged in.", account.display),
                    ),
                }
                logged_in(cx, &account);
            }
            Err(StoreError::AccountExists) => {
                let _ = fail(
                    cx,
                    "ACCOUNT_EXISTS",
                    &account.display,
                    "That account already exists",
                )
                .map_err(|r| cx.reject(r));
            }
            Err(e) => {
                warn!(error = %e, "account registration failed");
                let _ = fail(
                    cx,
                    "TEMPORARILY_UNAVAILABLE",
                    &account.display,
                    "Could not register now, try later",
                )
                .map_err(|r| cx.reject(r));
            }
        })
    });
    Ok(())
}
