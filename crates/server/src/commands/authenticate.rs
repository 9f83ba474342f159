//! AUTHENTICATE (SASL PLAIN, EXTERNAL and SCRAM-SHA-256). What logging in
//! does lives in `accounts/`.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ferry_proto::{numeric::*, Message};
use ferry_store::Account;
use tracing::warn;

use crate::accounts::{
    check_password, logged_in, sasl_fail, sasl_success, sasl_suspended, Login, PLAIN_NEEDS_TLS,
};
use crate::auth::scram;
use crate::caps::Cap;
use crate::ctx::{then, Ctx, Outcome, Reject};
use crate::session::Sasl;
use crate::stats;

/// Longest AUTHENTICATE payload ferry accepts, decoded chunks included.
const MAX_SASL: usize = 8192;

pub(super) fn run(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
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
            logged_in(cx, &account);
            sasl_success(cx);
            Ok(())
        }
    }
}

fn sasl_start(cx: &mut Ctx<'_>, mechanism: &str) -> Outcome {
    if cx.s.account.is_some() && !cx.s.registered {
        return Err(Reject::Numeric(
            ERR_SASLALREADY,
            vec!["You have already authenticated using SASL".into()],
        ));
    }
    let tls = cx.conn().tls;
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
        "EXTERNAL" if cx.conn().certfp.is_some() => Sasl::External,
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
    let Some(fp) = cx.conn().certfp.clone() else {
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
                    cx.server.stats.login(stats::Login::Failed);
                    warn!(certfp = %fp, "SASL EXTERNAL: no account lists this certificate");
                    return cx.reject(sasl_fail());
                }
                Err(e) => {
                    warn!(error = %e, "SASL EXTERNAL: store unavailable");
                    return cx.reject(sasl_fail());
                }
            };
            if !authzid.is_empty()
                && cx.server.fold_nick(&authzid).as_deref() != Some(&account.name)
            {
                cx.server.stats.login(stats::Login::Failed);
                return cx.reject(sasl_fail());
            }
            if account.suspended.is_some() {
                cx.server.stats.login(stats::Login::Suspended);
                return cx.reject(sasl_suspended());
            }
            cx.server.stats.login(stats::Login::Ok);
            logged_in(cx, &account);
            sasl_success(cx);
        })
    });
    Ok(())
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
    let ip = cx.conn().ip;
    if !cx.server.login_limiter.allowed(ip, &folded) {
        cx.server.stats.login(stats::Login::Throttled);
        return Err(sasl_fail());
    }
    let server = cx.server_arc();
    cx.defer(async move {
        let f = folded.clone();
        let account = server.store(move |s| s.account(&f)).await.ok().flatten();
        then(move |cx: &mut Ctx<'_>| {
            let Some(account) = account else {
                cx.server.stats.login(stats::Login::Failed);
                cx.server.login_limiter.failed(ip, &folded);
                return cx.reject(sasl_fail());
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
    let ip = cx.conn().ip;
    let Ok(text) = std::str::from_utf8(payload) else {
        return Err(sasl_fail());
    };
    match scram::verify_client_final(&sf, &account.scram, text) {
        Ok(_) if account.suspended.is_some() => {
            cx.server.stats.login(stats::Login::Suspended);
            warn!(account = %account.name, %ip, "SCRAM login refused: the account is suspended");
            Err(sasl_suspended())
        }
        Ok(server_final) => {
            cx.server.stats.login(stats::Login::Ok);
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
            cx.server.stats.login(stats::Login::Failed);
            cx.server.login_limiter.failed(ip, &account.name);
            warn!(account = %account.name, %ip, "failed SCRAM login");
            Err(sasl_fail())
        }
    }
}
