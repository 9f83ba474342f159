//! Accounts: REGISTER (draft/account-registration), AUTHENTICATE (SASL
//! PLAIN and SCRAM-SHA-256), and the NickServ pseudo-user for clients
//! without either. What happens at login lives in `login.rs`.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ferry_proto::validate::is_valid_nick;
use ferry_proto::{numeric::*, Message};
use ferry_store::{Account, CertAdded, StoreError, MAX_CERTS};
use tracing::{info, warn};

use super::{login, then, Ctx, Outcome, Reject};
use crate::auth::scram;
use crate::caps::Cap;
use crate::session::Sasl;

/// Longest AUTHENTICATE payload ferry accepts, decoded chunks included.
const MAX_SASL: usize = 8192;
pub(crate) const NICKSERV: &str = "NickServ";

// ---------------------------------------------------------------- REGISTER

pub(super) fn register(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    let (Some(name), Some(_email), Some(password)) = (msg.param(0), msg.param(1), msg.param(2))
    else {
        return Err(Reject::NeedMoreParams);
    };
    let name = name.to_string();
    let password = password.to_string();
    if !cx.s.registered && !cx.server.config().accounts.register_before_connect {
        return Err(fail_register(
            "COMPLETE_CONNECTION_REQUIRED",
            &name,
            "Finish connecting before registering",
        ));
    }
    start_registration(cx, name, password, Via::Register)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Via {
    Register,
    NickServ,
}

fn fail_register(code: &'static str, account: &str, text: &str) -> Reject {
    Reject::Fail(code, vec![account.to_string()], text.to_string())
}

/// Registers `name` (`*`: the current nick) with `password` and logs in.
fn start_registration(cx: &mut Ctx<'_>, name: String, password: String, via: Via) -> Outcome {
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
        .and_then(|f| cx.server.nicks.get(&f).map(|c| c.clone()))
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
                login::logged_in(cx, &account);
            }
            Err(StoreError::AccountExists) => {
                let _ = fail(
                    cx,
                    "ACCOUNT_EXISTS",
                    &account.display,
                    "That account already exists",
                )
                .map_err(|r| super::reject(cx, r));
            }
            Err(e) => {
                warn!(error = %e, "account registration failed");
                let _ = fail(
                    cx,
                    "TEMPORARILY_UNAVAILABLE",
                    &account.display,
                    "Could not register now, try later",
                )
                .map_err(|r| super::reject(cx, r));
            }
        })
    });
    Ok(())
}

// ---------------------------------------------------------------- SASL

pub(super) fn authenticate(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    let arg = msg.param(0).unwrap_or("");
    if !cx.caps().has(Cap::Sasl) {
        // Clients must negotiate the capability first.
        return Err(Reject::Numeric(
            ERR_SASLFAIL,
            vec!["SASL authentication failed".into()],
        ));
    }
    if arg == "*" {
        if cx.s.more.if_made().and_then(|m| m.sasl.take()).is_some() {
            return Err(Reject::Numeric(
                ERR_SASLABORTED,
                vec!["SASL authentication aborted".into()],
            ));
        }
        return Err(Reject::Numeric(
            ERR_SASLFAIL,
            vec!["SASL authentication failed".into()],
        ));
    }
    let Some(state) = cx.s.more.if_made().and_then(|m| m.sasl.take()) else {
        return sasl_start(cx, arg);
    };
    // Payload chunks of 400 bytes; a shorter chunk (or "+") ends it.
    let (mechanism, mut buf, step) = state;
    if arg.len() > 400 {
        return Err(Reject::Numeric(
            ERR_SASLTOOLONG,
            vec!["SASL message too long".into()],
        ));
    }
    if arg != "+" {
        buf.push_str(arg);
    }
    if buf.len() > MAX_SASL {
        return Err(sasl_fail());
    }
    if arg.len() == 400 {
        cx.s.more.sasl = Some((mechanism, buf, step));
        return Ok(());
    }
    let Ok(payload) = B64.decode(buf.as_bytes()) else {
        return Err(sasl_fail());
    };
    match step {
        Sasl::Plain => sasl_plain(cx, &payload),
        Sasl::External => sasl_external(cx, &payload),
        Sasl::ScramFirst => scram_first(cx, &payload),
        Sasl::ScramFinal(sf, account) => scram_final(cx, &payload, sf, account),
        Sasl::ScramDone(account) => {
            // The client acknowledged server-final ("+").
            login::logged_in(cx, &account);
            sasl_success(cx);
            Ok(())
        }
    }
}

fn sasl_fail() -> Reject {
    Reject::Numeric(ERR_SASLFAIL, vec!["SASL authentication failed".into()])
}

fn sasl_success(cx: &mut Ctx<'_>) {
    cx.num(RPL_SASLSUCCESS, &["SASL authentication successful"]);
}

fn sasl_start(cx: &mut Ctx<'_>, mechanism: &str) -> Outcome {
    if cx.s.account.is_some() && !cx.s.registered {
        return Err(Reject::Numeric(
            ERR_SASLALREADY,
            vec!["You have already authenticated using SASL".into()],
        ));
    }
    let tls = cx.me().tls;
    let mechanisms = crate::caps::sasl_mechanisms(&cx.server.config(), tls);
    let step = match mechanism.to_ascii_uppercase().as_str() {
        "PLAIN" if !tls && cx.server.config().accounts.require_tls_for_plain => {
            // Refused before the password is sent.
            cx.reply.line(format!(
                ":{} NOTE AUTHENTICATE TLS_REQUIRED :{PLAIN_NEEDS_TLS}",
                cx.server_name()
            ));
            cx.num(
                RPL_SASLMECHS,
                &[mechanisms, "are available SASL mechanisms"],
            );
            return Err(sasl_fail());
        }
        "PLAIN" => Sasl::Plain,
        "SCRAM-SHA-256" => Sasl::ScramFirst,
        "EXTERNAL" if cx.me().certfp.is_some() => Sasl::External,
        "EXTERNAL" if tls => {
            cx.reply.line(format!(
                ":{} NOTE AUTHENTICATE NO_CERTIFICATE :SASL EXTERNAL needs a TLS connection \
                 with a client certificate",
                cx.server_name()
            ));
            return Err(sasl_fail());
        }
        _ => {
            cx.num(
                RPL_SASLMECHS,
                &[mechanisms, "are available SASL mechanisms"],
            );
            return Err(sasl_fail());
        }
    };
    cx.s.more.sasl = Some((mechanism.to_ascii_uppercase(), String::new(), step));
    cx.reply.line("AUTHENTICATE +".into());
    Ok(())
}

fn sasl_plain(cx: &mut Ctx<'_>, payload: &[u8]) -> Outcome {
    let mut parts = payload.split(|&b| b == 0);
    let (Some(authzid), Some(authcid), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(sasl_fail());
    };
    let (Ok(authzid), Ok(authcid), Ok(password)) = (
        std::str::from_utf8(authzid),
        std::str::from_utf8(authcid),
        std::str::from_utf8(password),
    ) else {
        return Err(sasl_fail());
    };
    if authcid.is_empty()
        || (!authzid.is_empty() && cx.server.fold_nick(authzid) != cx.server.fold_nick(authcid))
    {
        return Err(sasl_fail());
    }
    check_password(cx, authcid.to_string(), password.to_string(), Login::Sasl)
}

/// SASL EXTERNAL: the account that lists the client certificate's
/// fingerprint (the payload, if any, must name that account).
fn sasl_external(cx: &mut Ctx<'_>, payload: &[u8]) -> Outcome {
    let Ok(authzid) = std::str::from_utf8(payload) else {
        return Err(sasl_fail());
    };
    let authzid = authzid.to_string();
    let Some(fp) = cx.me().certfp.clone() else {
        return Err(sasl_fail());
    };
    let server = cx.server_arc();
    cx.defer(async move {
        let f = fp.clone();
        let account = server.store(move |s| s.account_by_cert(&f)).await;
        then(move |cx: &mut Ctx<'_>| {
            let account = match account {
                Ok(Some(a)) => a,
                Ok(None) => {
                    warn!(certfp = %fp, "SASL EXTERNAL: no account lists this certificate");
                    return super::reject(cx, sasl_fail());
                }
                Err(e) => {
                    warn!(error = %e, "SASL EXTERNAL: store unavailable");
                    return super::reject(cx, sasl_fail());
                }
            };
            if !authzid.is_empty()
                && cx.server.fold_nick(&authzid).as_deref() != Some(&account.name)
            {
                return super::reject(cx, sasl_fail());
            }
            login::logged_in(cx, &account);
            sasl_success(cx);
        })
    });
    Ok(())
}

/// Why REGISTER and SET PASSWORD are refused on a plain-text connection.
const NEW_PASSWORD_NEEDS_TLS: &str =
    "This server takes new passwords only over TLS: reconnect with TLS";

/// Why a password is refused on a plain-text connection.
const PLAIN_NEEDS_TLS: &str = "This server takes passwords only over TLS: \
    reconnect with TLS, or log in with SASL SCRAM-SHA-256";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Login {
    Sasl,
    NickServ,
}

/// Verifies a password for an account, then logs in (or fails), through
/// the login limiter and the hasher.
fn check_password(cx: &mut Ctx<'_>, name: String, password: String, how: Login) -> Outcome {
    let Some(folded) = cx.server.fold_nick(&name) else {
        return refuse(cx, how);
    };
    let ip = cx.me().ip;
    if !cx.server.login_limiter.allowed(ip, &folded) {
        warn!(account = %folded, %ip, "login refused: too many failures");
        return refuse(cx, how);
    }
    let server = cx.server_arc();
    cx.defer(async move {
        let f = folded.clone();
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
        then(move |cx: &mut Ctx<'_>| match (ok, account) {
            (true, Some(a)) => {
                cx.server.login_limiter.succeeded(ip, &folded);
                login::logged_in(cx, &a);
                match how {
                    Login::Sasl => sasl_success(cx),
                    Login::NickServ => {
                        nickserv_say(cx, &format!("You are now identified for {}.", a.display))
                    }
                }
            }
            _ => {
                cx.server.login_limiter.failed(ip, &folded);
                warn!(account = %folded, %ip, "failed login");
                let _ = refuse(cx, how).map_err(|r| super::reject(cx, r));
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

fn scram_first(cx: &mut Ctx<'_>, payload: &[u8]) -> Outcome {
    let Ok(text) = std::str::from_utf8(payload) else {
        return Err(sasl_fail());
    };
    let Ok(cf) = scram::parse_client_first(text) else {
        return Err(sasl_fail());
    };
    let Some(folded) = cx.server.fold_nick(&cf.username) else {
        return Err(sasl_fail());
    };
    let ip = cx.me().ip;
    if !cx.server.login_limiter.allowed(ip, &folded) {
        return Err(sasl_fail());
    }
    let server = cx.server_arc();
    cx.defer(async move {
        let f = folded.clone();
        let account = server.store(move |s| s.account(&f)).await.ok().flatten();
        then(move |cx: &mut Ctx<'_>| {
            let Some(account) = account else {
                cx.server.login_limiter.failed(ip, &folded);
                return super::reject(cx, sasl_fail());
            };
            let sf = scram::server_first(&cf, &account.scram);
            cx.reply.line(format!(
                "AUTHENTICATE {}",
                B64.encode(sf.message.as_bytes())
            ));
            cx.s.more.sasl = Some((
                "SCRAM-SHA-256".into(),
                String::new(),
                Sasl::ScramFinal(Box::new(sf), Box::new(account)),
            ));
        })
    });
    Ok(())
}

fn scram_final(
    cx: &mut Ctx<'_>,
    payload: &[u8],
    sf: Box<scram::ServerFirst>,
    account: Box<Account>,
) -> Outcome {
    let ip = cx.me().ip;
    let Ok(text) = std::str::from_utf8(payload) else {
        return Err(sasl_fail());
    };
    match scram::verify_client_final(&sf, &account.scram, text) {
        Ok(server_final) => {
            cx.server.login_limiter.succeeded(ip, &account.name);
            cx.reply.line(format!(
                "AUTHENTICATE {}",
                B64.encode(server_final.as_bytes())
            ));
            cx.s.more.sasl = Some((
                "SCRAM-SHA-256".into(),
                String::new(),
                Sasl::ScramDone(account),
            ));
            Ok(())
        }
        Err(_) => {
            cx.server.login_limiter.failed(ip, &account.name);
            warn!(account = %account.name, %ip, "failed SCRAM login");
            Err(sasl_fail())
        }
    }
}

// ---------------------------------------------------------------- NickServ

/// A NOTICE from NickServ to this client.
pub(crate) fn nickserv_say(cx: &mut Ctx<'_>, text: &str) {
    let nick = cx.me().nick();
    let line = format!(
        ":{NICKSERV}!{NICKSERV}@{} NOTICE {nick} :{text}",
        cx.server_name()
    );
    cx.reply.line(line);
}

/// `PRIVMSG NickServ :<command> ...`
pub(super) fn nickserv(cx: &mut Ctx<'_>, text: &str) -> Outcome {
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
        "IDENTIFY" | "LOGIN" => {
            let (name, password) = match args.as_slice() {
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
            if !cx.me().tls && cx.server.config().accounts.require_tls_for_plain {
                nickserv_say(cx, PLAIN_NEEDS_TLS);
                return Ok(());
            }
            check_password(cx, name, password, Login::NickServ)
        }
        "CERT" => cert(cx, &args),
        "LOGOUT" => {
            if cx.s.account.is_none() {
                nickserv_say(cx, "You are not logged in.");
            } else {
                login::logged_out(cx);
                nickserv_say(cx, "You are now logged out.");
            }
            Ok(())
        }
        "SET"
            if args
                .first()
                .is_some_and(|a| a.eq_ignore_ascii_case("PASSWORD")) =>
        {
            let (Some(account), Some(password)) = (cx.s.account.clone(), args.get(1).cloned())
            else {
                nickserv_say(cx, "Log in first; syntax: SET PASSWORD <new password>");
                return Ok(());
            };
            if !cx.me().tls && cx.server.config().accounts.require_tls_for_plain {
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
                let (hash, scram) = server.hasher.credentials(password).await;
                let a = account.clone();
                let r = server
                    .store(move |s| s.set_credentials(&a, &hash, &scram))
                    .await;
                then(move |cx: &mut Ctx<'_>| match r {
                    Ok(true) => nickserv_say(cx, "Password changed."),
                    _ => nickserv_say(cx, "Could not change the password now, try later."),
                })
            });
            Ok(())
        }
        "INFO" => {
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
                        let when = crate::router::format_time(
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
        "DROP" => {
            let (Some(account), Some(password)) = (cx.s.account.clone(), args.first().cloned())
            else {
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
                        login::logged_out(cx);
                        info!(%account, "account dropped");
                        nickserv_say(cx, "Your account is gone.");
                    } else {
                        nickserv_say(cx, "Wrong password; nothing was dropped.");
                    }
                })
            });
            Ok(())
        }
        _ => {
            for l in [
                "NickServ keeps ferry's accounts. Commands:",
                "REGISTER <password> [email] - make your current nick an account",
                "IDENTIFY [account] <password> - log in",
                "LOGOUT - log out",
                "SET PASSWORD <new password> - change your password",
                "INFO [account] - about an account",
                "DROP <password> - delete your account",
                "CERT ADD [fingerprint] | DEL <fingerprint> | LIST - client certificates that log you in (SASL EXTERNAL)",
            ] {
                nickserv_say(cx, l);
            }
            Ok(())
        }
    }
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
                None => match cx.me().certfp.as_deref().map(str::to_string) {
                    Some(fp) => fp,
                    None => {
                        nickserv_say(cx, "You have no client certificate: connect with one, or give its fingerprint.");
                        return Ok(());
                    }
                },
            };
            cx.defer(async move {
                let (a, f) = (account.clone(), fp.clone());
                let r = server
                    .store(move |s| s.add_cert(&a, &f, crate::unix_millis()))
                    .await;
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
