//! NickServ: the account service for clients without SASL or REGISTER.

use ferry_store::{CertAdded, MAX_CERTS};
use tracing::info;

use std::sync::Arc;

use super::{
    check_password, logged_out, nickserv_say, set_password, start_registration, Login, Via,
    NEW_PASSWORD_NEEDS_TLS, PLAIN_NEEDS_TLS,
};
use crate::ctx::{then, Ctx, Outcome};

/// `PRIVMSG NickServ :<command> ...`
pub(crate) fn nickserv(cx: &mut Ctx<'_>, text: &str) -> Outcome {
    let mut words = text.split_whitespace();
    let cmd = words.next().unwrap_or("").to_ascii_uppercase();
    let args: Vec<String> = words.map(str::to_string).collect();
    match cmd.as_str() {
        "REGISTER" => {
            let Some(password) = args.first() else {
                nickserv_say(cx, "Syntax: REGISTER <password> [email]");
                return Ok(());
            };
            start_registration(cx, "*".into(), password.clone(), Via::NickServ)
        }
        "IDENTIFY" | "LOGIN" => identify(cx, &args),
        "CERT" => cert(cx, &args),
        "CLIENTS" => super::clients::clients(cx, &args),
        "LOGOUT" => {
            if cx.s.account.is_none() {
                nickserv_say(cx, "You are not logged in.");
            } else {
                logged_out(cx);
                nickserv_say(cx, "You are now logged out.");
            }
            Ok(())
        }
        "SET"
            if args
                .first()
                .is_some_and(|a| a.eq_ignore_ascii_case("PASSWORD")) =>
        {
            change_password(cx, &args)
        }
        "SET"
            if args
                .first()
                .is_some_and(|a| a.eq_ignore_ascii_case("ALWAYS-ON")) =>
        {
            set_always_on(cx, args.get(1).map(String::as_str))
        }
        "SET"
            if args
                .first()
                .is_some_and(|a| a.eq_ignore_ascii_case("MULTICLIENT")) =>
        {
            set_multiclient(cx, args.get(1).map(String::as_str))
        }
        "INFO" => info(cx, &args),
        "DROP" => drop_account(cx, &args),
        _ => help(cx),
    }
}

/// `IDENTIFY [account] <password>` (or LOGIN).
fn identify(cx: &mut Ctx<'_>, args: &[String]) -> Outcome {
    let (name, password) = match args {
        [p] => (cx.me().nick(), p.clone()),
        [a, p, ..] => (a.clone(), p.clone()),
        [] => {
            nickserv_say(cx, "Syntax: IDENTIFY [account] <password>");
            return Ok(());
        }
    };
    if cx.s.account.is_some() {
        nickserv_say(cx, "You are already logged in.");
        return Ok(());
    }
    if !cx.conn().tls && cx.server.config().accounts.require_tls_for_plain {
        nickserv_say(cx, PLAIN_NEEDS_TLS);
        return Ok(());
    }
    check_password(cx, name, password, Login::NickServ)
}

/// `SET PASSWORD <new password>`, logged in.
fn change_password(cx: &mut Ctx<'_>, args: &[String]) -> Outcome {
    let (Some(account), Some(password)) = (cx.s.account.clone(), args.get(1).cloned()) else {
        nickserv_say(cx, "Log in first; syntax: SET PASSWORD <new password>");
        return Ok(());
    };
    if !cx.conn().tls && cx.server.config().accounts.require_tls_for_plain {
        nickserv_say(cx, NEW_PASSWORD_NEEDS_TLS);
        return Ok(());
    }
    if password.chars().count() < cx.server.config().accounts.min_password_length {
        let text = format!(
            "Passwords must be at least {} characters.",
            cx.server.config().accounts.min_password_length
        );
        nickserv_say(cx, &text);
        return Ok(());
    }
    let server = cx.server_arc();
    cx.defer(async move {
        // The function `ferry account passwd` calls too.
        let (store, cfg) = (server.store.clone(), Arc::clone(&server.config()));
        let r = server
            .hasher
            .run(move || set_password(&*store, &cfg, &account, &password))
            .await;
        then(move |cx: &mut Ctx<'_>| match r {
            Ok(()) => nickserv_say(cx, "Password changed."),
            _ => nickserv_say(cx, "Could not change the password now, try later."),
        })
    });
    Ok(())
}

/// `ON`/`true`, `OFF`/`false` or `DEFAULT` (the server's setting: None);
/// None for anything else.
fn on_off_default(value: Option<&str>) -> Option<Option<bool>> {
    match value.map(str::to_ascii_lowercase).as_deref() {
        Some("on" | "true") => Some(Some(true)),
        Some("off" | "false") => Some(Some(false)),
        Some("default") => Some(None),
        _ => None,
    }
}

/// `SET ALWAYS-ON ON|OFF|DEFAULT` (Ergo's words `true`/`false` too): does
/// the user stay when its last device leaves? Stored; it takes effect at
/// once, and the server's `accounts.always_on` may override it.
fn set_always_on(cx: &mut Ctx<'_>, value: Option<&str>) -> Outcome {
    let Some(choice) = on_off_default(value) else {
        nickserv_say(cx, "Syntax: SET ALWAYS-ON ON|OFF|DEFAULT");
        return Ok(());
    };
    let Some(account) = cx.s.account.clone() else {
        nickserv_say(cx, "Log in first; syntax: SET ALWAYS-ON ON|OFF|DEFAULT");
        return Ok(());
    };
    let server = cx.server_arc();
    cx.defer(async move {
        let r = server
            .store(move |s| s.set_always_on(&account, choice))
            .await;
        then(move |cx: &mut Ctx<'_>| {
            if !matches!(r, Ok(true)) {
                return nickserv_say(cx, "Could not change it now, try later.");
            }
            let mode = cx.server.config().accounts.always_on;
            let on = mode.applies(choice);
            cx.me().set_always_on(on);
            use crate::config::AlwaysOn;
            let forced = matches!(mode, AlwaysOn::Disabled | AlwaysOn::Mandatory);
            let text = match (on, forced) {
                (true, true) => "Always-on is ON (the server's setting: you cannot turn it off).",
                (false, true) => "Always-on is OFF (disabled on this server).",
                (true, false) => "Always-on is ON: you stay in your channels when your last device disconnects; direct messages wait for your next one.",
                (false, false) => "Always-on is OFF: you quit when your last device disconnects.",
            };
            nickserv_say(cx, text);
        })
    });
    Ok(())
}

/// `SET MULTICLIENT ON|OFF|DEFAULT` (Ergo's `true`/`false` too): may
/// another connection logged in to the account share its nick? Stored; it
/// takes effect for the next connection.
fn set_multiclient(cx: &mut Ctx<'_>, value: Option<&str>) -> Outcome {
    let Some(choice) = on_off_default(value) else {
        nickserv_say(cx, "Syntax: SET MULTICLIENT ON|OFF|DEFAULT");
        return Ok(());
    };
    let Some(account) = cx.s.account.clone() else {
        nickserv_say(cx, "Log in first; syntax: SET MULTICLIENT ON|OFF|DEFAULT");
        return Ok(());
    };
    let server = cx.server_arc();
    cx.defer(async move {
        let r = server
            .store(move |s| s.set_multiclient(&account, choice))
            .await;
        then(move |cx: &mut Ctx<'_>| {
            if !matches!(r, Ok(true)) {
                return nickserv_say(cx, "Could not change it now, try later.");
            }
            let on = choice != Some(false);
            cx.me().set_multiclient(on);
            let text = match (on, cx.server.config().accounts.multiclient) {
                (_, false) => "Multiclient is OFF on this server.",
                (true, true) => "Multiclient is ON: your other devices share your nick.",
                (false, true) => "Multiclient is OFF: one connection at a time uses your nick.",
            };
            nickserv_say(cx, text);
        })
    });
    Ok(())
}

/// `INFO [account]`: when an account was registered, who may message it.
fn info(cx: &mut Ctx<'_>, args: &[String]) -> Outcome {
    let name = args
        .first()
        .cloned()
        .or_else(|| cx.s.account.clone())
        .unwrap_or_else(|| cx.me().nick());
    let Some(folded) = cx.server.fold_nick(&name) else {
        nickserv_say(cx, "No such account.");
        return Ok(());
    };
    let server = cx.server_arc();
    cx.defer(async move {
        let a = server
            .store(move |s| s.account(&folded))
            .await
            .ok()
            .flatten();
        then(move |cx: &mut Ctx<'_>| match a {
            Some(a) => {
                let when = crate::event::format_time(
                    std::time::UNIX_EPOCH
                        + std::time::Duration::from_millis(a.created_ms.max(0) as u64),
                );
                nickserv_say(cx, &format!("Account {}: registered {when}.", a.display));
                let mode = if a.callerid {
                    "only accepted accounts (+g)"
                } else {
                    "anyone"
                };
                nickserv_say(cx, &format!("Messages from: {mode}."));
            }
            None => nickserv_say(cx, "No such account."),
        })
    });
    Ok(())
}

/// `DROP <password>`: deletes the logged-in account.
fn drop_account(cx: &mut Ctx<'_>, args: &[String]) -> Outcome {
    let (Some(account), Some(password)) = (cx.s.account.clone(), args.first().cloned()) else {
        nickserv_say(cx, "Log in first; syntax: DROP <password>");
        return Ok(());
    };
    let server = cx.server_arc();
    cx.defer(async move {
        let a = account.clone();
        let stored = server.store(move |s| s.account(&a)).await.ok().flatten();
        let ok = match &stored {
            Some(s) => {
                server
                    .hasher
                    .verify(password, s.password_hash.clone())
                    .await
            }
            None => false,
        };
        let dropped = if ok {
            let a = account.clone();
            server
                .store(move |s| s.delete_account(&a))
                .await
                .unwrap_or(false)
        } else {
            false
        };
        then(move |cx: &mut Ctx<'_>| {
            if dropped {
                cx.server.registered_names.remove(&account);
                crate::chanserv::account_gone(cx.server, &account);
                logged_out(cx);
                info!(%account, "account dropped");
                nickserv_say(cx, "Your account is gone.");
            } else {
                nickserv_say(cx, "Wrong password; nothing was dropped.");
            }
        })
    });
    Ok(())
}

/// Anything else: what NickServ understands.
fn help(cx: &mut Ctx<'_>) -> Outcome {
    for l in [
        "NickServ keeps ferry's accounts. Commands:",
        "REGISTER <password> [email] - make your current nick an account",
        "IDENTIFY [account] <password> - log in",
        "LOGOUT - log out",
        "SET PASSWORD <new password> - change your password",
        "SET ALWAYS-ON ON|OFF|DEFAULT - stay in your channels when your last device disconnects",
        "SET MULTICLIENT ON|OFF|DEFAULT - let your other devices share your nick",
        "INFO [account] - about an account",
        "DROP <password> - delete your account",
        "CERT ADD [fingerprint] | DEL <fingerprint> | LIST - client certificates that log you in (SASL EXTERNAL)",
        "CLIENTS LIST | CLIENTS LOGOUT <number>|ALL - your connected devices, and ending one of them",
    ] {
        nickserv_say(cx, l);
    }
    Ok(())
}

/// `NickServ CERT ADD [fingerprint] | DEL <fingerprint> | LIST`: the client
/// certificates (SHA-256 fingerprints) that log the current account in
/// with SASL EXTERNAL. ADD alone adds the certificate of this connection.
fn cert(cx: &mut Ctx<'_>, args: &[String]) -> Outcome {
    let Some(account) = cx.s.account.clone() else {
        nickserv_say(
            cx,
            "Log in first; syntax: CERT ADD [fingerprint] | DEL <fingerprint> | LIST",
        );
        return Ok(());
    };
    let sub = args
        .first()
        .map(|a| a.to_ascii_uppercase())
        .unwrap_or_default();
    let given = args.get(1).map(|f| crate::tls::normalize_fingerprint(f));
    let server = cx.server_arc();
    match sub.as_str() {
        "LIST" => {
            cx.defer(async move {
                let a = account.clone();
                let r = server.store(move |s| s.certs(&a)).await;
                then(move |cx: &mut Ctx<'_>| match r {
                    Ok(fps) if fps.is_empty() => {
                        nickserv_say(cx, "No certificates log in to your account.")
                    }
                    Ok(fps) => {
                        nickserv_say(cx, "Certificates that log in to your account (SHA-256):");
                        for fp in fps {
                            nickserv_say(cx, &fp);
                        }
                    }
                    Err(_) => nickserv_say(cx, "Could not list certificates now, try later."),
                })
            });
        }
        "ADD" => {
            let fp = match given {
                Some(Some(fp)) => fp,
                Some(None) => {
                    nickserv_say(cx, "That is not a SHA-256 fingerprint (64 hex digits).");
                    return Ok(());
                }
                None => match cx.conn().certfp.as_deref().map(str::to_string) {
                    Some(fp) => fp,
                    None => {
                        nickserv_say(cx, "You have no client certificate: connect with one, or give its fingerprint.");
                        return Ok(());
                    }
                },
            };
            cx.defer(async move {
                let (a, f, now_ms) = (account.clone(), fp.clone(), server.clock.unix_ms());
                let r = server.store(move |s| s.add_cert(&a, &f, now_ms)).await;
                then(move |cx: &mut Ctx<'_>| {
                    let text = match r {
                        Ok(CertAdded::Added) => {
                            info!(%account, certfp = %fp, "certificate added");
                            format!("Certificate {fp} now logs in to your account.")
                        }
                        Ok(CertAdded::Already) => {
                            format!("Certificate {fp} already logs in to your account.")
                        }
                        Ok(CertAdded::OtherAccount) => {
                            "That certificate logs in to another account.".into()
                        }
                        Ok(CertAdded::Full) => format!(
                            "An account may have {MAX_CERTS} certificates; delete one first."
                        ),
                        Err(_) => "Could not add the certificate now, try later.".into(),
                    };
                    nickserv_say(cx, &text);
                })
            });
        }
        "DEL" => {
            let Some(Some(fp)) = given else {
                nickserv_say(cx, "Syntax: CERT DEL <fingerprint> (64 hex digits)");
                return Ok(());
            };
            cx.defer(async move {
                let (a, f) = (account.clone(), fp.clone());
                let r = server.store(move |s| s.del_cert(&a, &f)).await;
                then(move |cx: &mut Ctx<'_>| {
                    let text = match r {
                        Ok(true) => format!("Certificate {fp} no longer logs in to your account."),
                        Ok(false) => format!("Certificate {fp} was not on your account."),
                        Err(_) => "Could not delete the certificate now, try later.".into(),
                    };
                    nickserv_say(cx, &text);
                })
            });
        }
        _ => nickserv_say(
            cx,
            "Syntax: CERT ADD [fingerprint] | DEL <fingerprint> | LIST",
        ),
    }
    Ok(())
}
