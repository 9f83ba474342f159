//! Registering an account (REGISTER, NickServ REGISTER, `ferry account add`).

use ferry_proto::validate::is_valid_nick;
use ferry_store::{Account, Store, StoreError};
use tracing::{info, warn};

use super::{logged_in, nickserv_say, NEW_PASSWORD_NEEDS_TLS, NICKSERV};
use crate::auth::{hash_password, scram};
use crate::ctx::{then, Ctx, Outcome, Reject};
use crate::Config;

/// Why an account could not be made or changed.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("{0:?} is not a valid account name (it must be a valid nick)")]
    BadName(String),
    #[error("passwords must be at least {0} characters, without spaces")]
    WeakPassword(usize),
    #[error("account {0} already exists")]
    Exists(String),
    #[error("no account {0}")]
    NoSuchAccount(String),
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// The rules every new account and password follows, however it is made
/// (REGISTER, NickServ, `ferry account`): the name is a valid nick and not
/// a service's, the password long enough and without spaces. Returns the
/// casefolded name.
pub fn check_new_account(cfg: &Config, name: &str, password: &str) -> Result<String, AccountError> {
    if !is_valid_nick(name, cfg.casemap, cfg.limits.nick_length)
        || name.eq_ignore_ascii_case(NICKSERV)
    {
        return Err(AccountError::BadName(name.into()));
    }
    check_password_rules(cfg, password)?;
    Ok(cfg
        .casemap
        .fold(name)
        .expect("valid nicks fold")
        .into_owned())
}

fn check_password_rules(cfg: &Config, password: &str) -> Result<(), AccountError> {
    let min = cfg.accounts.min_password_length;
    if password.chars().count() < min || password.contains(' ') {
        return Err(AccountError::WeakPassword(min));
    }
    Ok(())
}

/// Makes the account `name` with `password` (argon2 and SCRAM forms) and
/// commits it: what REGISTER, NickServ REGISTER and `ferry account add` all
/// call. Blocking (hashing, the store): run it off the async runtime.
pub fn create_account(
    store: &dyn Store,
    cfg: &Config,
    name: &str,
    password: &str,
) -> Result<Account, AccountError> {
    let folded = check_new_account(cfg, name, password)?;
    let account = Account {
        name: folded,
        display: name.to_string(),
        password_hash: hash_password(password),
        scram: scram::credentials(password),
        email: None,
        callerid: cfg.accounts.callerid_default,
        created_ms: crate::unix_millis(),
        suspended: None,
        always_on: None,
        last_seen_ms: None,
        multiclient: None,
    };
    match store.create_account(&account) {
        Ok(()) => Ok(account),
        Err(StoreError::AccountExists) => Err(AccountError::Exists(name.into())),
        Err(e) => Err(e.into()),
    }
}

/// Gives the account `name` a new password, under the same rules: what
/// NickServ SET PASSWORD and `ferry account passwd` call. Blocking.
pub fn set_password(
    store: &dyn Store,
    cfg: &Config,
    name: &str,
    password: &str,
) -> Result<(), AccountError> {
    check_password_rules(cfg, password)?;
    let folded = cfg
        .casemap
        .fold(name)
        .ok_or_else(|| AccountError::NoSuchAccount(name.into()))?;
    let changed = store.set_credentials(
        &folded,
        &hash_password(password),
        &scram::credentials(password),
    )?;
    if changed {
        Ok(())
    } else {
        Err(AccountError::NoSuchAccount(name.into()))
    }
}

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
    let name = match registrable_name(cx, name, &password) {
        Ok(name) => name,
        Err(r) => return refuse_registration(cx, via, r.code, &r.account, &r.text),
    };
    // Accounts one address may make in an hour (`accounts.registrations_per_hour`).
    let ip = cx.conn().ip;
    let exempt = crate::guard::is_exempt(&cx.server.config(), ip);
    if !exempt && !cx.server.registration_limiter.allowed_ip(ip) {
        warn!(%ip, "registration refused: too many from this address");
        return refuse_registration(
            cx,
            via,
            "TEMPORARILY_UNAVAILABLE",
            &name,
            "Too many accounts were registered from your address; try again later",
        );
    }
    let server = cx.server_arc();
    let cfg = std::sync::Arc::clone(&cx.server.config());
    let display = name.clone();
    cx.defer(async move {
        let store = server.store.clone();
        let r = server
            .hasher
            .run(move || create_account(&*store, &cfg, &name, &password))
            .await;
        then(move |cx: &mut Ctx<'_>| registration_done(cx, via, r, &display))
    });
    Ok(())
}

/// Why a registration is refused: the FAIL code, the account it names, and
/// the text (of the FAIL, or of NickServ's notice).
struct Refusal {
    code: &'static str,
    account: String,
    text: String,
}

fn refusal(code: &'static str, account: &str, text: &str) -> Refusal {
    Refusal {
        code,
        account: account.to_string(),
        text: text.to_string(),
    }
}

/// A refusal as the way it was asked for answers: FAIL REGISTER, or a
/// notice from NickServ.
fn refuse_registration(
    cx: &mut Ctx<'_>,
    via: Via,
    code: &'static str,
    account: &str,
    text: &str,
) -> Outcome {
    match via {
        Via::Register => Err(fail_register(code, account, text)),
        Via::NickServ => {
            nickserv_say(cx, text);
            Ok(())
        }
    }
}

/// The account name to register (`*` resolved to the nick), once every
/// check before hashing the password has passed.
fn registrable_name(cx: &mut Ctx<'_>, name: String, password: &str) -> Result<String, Refusal> {
    let nick = cx.me().nick();
    if cx.s.account.is_some() {
        return Err(refusal(
            "ALREADY_AUTHENTICATED",
            &name,
            "You are already logged in",
        ));
    }
    if !cx.conn().tls && cx.server.config().accounts.require_tls_for_plain {
        return Err(refusal("TLS_REQUIRED", &name, NEW_PASSWORD_NEEDS_TLS));
    }
    let name = match name.as_str() {
        // The current nick, or the one just refused as in use.
        "*" if nick == "*" => cx.s.more.nick_attempt.clone().unwrap_or(nick.clone()),
        "*" => nick.clone(),
        _ => name,
    };
    if name == "*" {
        return Err(refusal("NEED_NICK", "*", "Send NICK first"));
    }
    // No land grabs: a nick someone else is using cannot become an account.
    if let Some(holder) = cx
        .server
        .fold_nick(&name)
        .and_then(|f| cx.server.registry.nick_holder(&f))
    {
        if holder.id != cx.me().id {
            return Err(refusal("ACCOUNT_EXISTS", &name, "That name is in use"));
        }
    }
    let checked = check_new_account(&cx.server.config(), &name, password);
    if let Err(AccountError::BadName(_)) = checked {
        return Err(refusal(
            "BAD_ACCOUNT_NAME",
            &name,
            "That account name is not allowed",
        ));
    }
    if cx.server.fold_nick(&name) != cx.server.fold_nick(&nick) {
        return Err(refusal(
            "ACCOUNT_NAME_MUST_BE_NICK",
            &name,
            "The account name must be your current nick",
        ));
    }
    let folded = match checked {
        Ok(f) => f,
        Err(AccountError::WeakPassword(min)) => {
            let text = format!("Passwords must be at least {min} characters");
            return Err(refusal("WEAK_PASSWORD", &name, &text));
        }
        Err(_) => {
            return Err(refusal(
                "BAD_ACCOUNT_NAME",
                &name,
                "That account name is not allowed",
            ))
        }
    };
    if cx.server.registered_names.contains(&folded) {
        return Err(refusal(
            "ACCOUNT_EXISTS",
            &name,
            "That account already exists",
        ));
    }
    Ok(name)
}

/// After the account was written (or not): tell the client, log it in.
fn registration_done(cx: &mut Ctx<'_>, via: Via, r: Result<Account, AccountError>, display: &str) {
    let refused = match r {
        Ok(account) => {
            cx.server.registered_names.insert(account.name.clone());
            // Counted against the address (the limiter's "failures").
            cx.server.registration_limiter.count_ip(cx.conn().ip);
            cx.server
                .stats
                .registrations
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
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
            return;
        }
        Err(AccountError::Exists(_)) => refuse_registration(
            cx,
            via,
            "ACCOUNT_EXISTS",
            display,
            "That account already exists",
        ),
        Err(e) => {
            warn!(error = %e, "account registration failed");
            refuse_registration(
                cx,
                via,
                "TEMPORARILY_UNAVAILABLE",
                display,
                "Could not register now, try later",
            )
        }
    };
    if let Err(r) = refused {
        cx.reject(r);
    }
}
