//! `[accounts]`: registration, nick protection, offline messages and
//! login limits.

use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, Source};

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawAccounts {
    register_before_connect: bool,
    min_password_length: usize,
    callerid_default: bool,
    nick_enforcement: String,
    nick_grace_secs: u64,
    offline_max_messages: usize,
    login_failures: u32,
    login_window_secs: u64,
    hash_concurrency: usize,
    require_tls_for_plain: bool,
    registrations_per_hour: u32,
    multiclient: bool,
    always_on: String,
}

impl Default for RawAccounts {
    fn default() -> Self {
        RawAccounts {
            register_before_connect: true,
            min_password_length: 8,
            callerid_default: false,
            nick_enforcement: "rename".into(),
            nick_grace_secs: 60,
            offline_max_messages: 200,
            login_failures: 10,
            login_window_secs: 60,
            hash_concurrency: 2,
            require_tls_for_plain: false,
            registrations_per_hour: 5,
            multiclient: true,
            always_on: "opt-in".into(),
        }
    }
}

/// Whether a user stays when its last device leaves (Ergo's always-on):
/// present in its channels, online to MONITOR, what is sent to it kept
/// for its next device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlwaysOn {
    /// Never.
    Disabled,
    /// For accounts whose owner turned it on (NickServ SET ALWAYS-ON ON).
    OptIn,
    /// For every account whose owner did not turn it off.
    OptOut,
    /// For every account, whatever its owner says.
    Mandatory,
}

impl AlwaysOn {
    /// Is an account with this owner's choice always-on?
    pub fn applies(self, choice: Option<bool>) -> bool {
        match self {
            AlwaysOn::Disabled => false,
            AlwaysOn::OptIn => choice == Some(true),
            AlwaysOn::OptOut => choice != Some(false),
            AlwaysOn::Mandatory => true,
        }
    }
}

/// What happens when someone takes a nick that is a registered account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NickEnforcement {
    /// Told to identify; renamed to a guest nick after the grace period.
    Rename,
    /// The nick cannot be used without logging in to its account.
    Refuse,
    None,
}

#[derive(Debug, Clone)]
pub struct Accounts {
    /// REGISTER allowed before the connection is registered.
    pub register_before_connect: bool,
    pub min_password_length: usize,
    /// New accounts start with user mode +g (QQ: only friends may write).
    pub callerid_default: bool,
    pub nick_enforcement: NickEnforcement,
    pub nick_grace: Duration,
    /// Messages that may wait for one offline account.
    pub offline_max_messages: usize,
    /// Failed logins per IP and per account allowed in `login_window`.
    pub login_failures: u32,
    pub login_window_secs: u64,
    /// Password hashes computed at once.
    pub hash_concurrency: usize,
    /// SASL PLAIN and NickServ IDENTIFY only over TLS.
    pub require_tls_for_plain: bool,
    /// Accounts one address (not in `limits.exempt`) may register in an
    /// hour (REGISTER, NickServ REGISTER, the web page's Register).
    pub registrations_per_hour: u32,
    /// Several connections logged in to one account share its nick (as
    /// Ergo's multiclient): a connection that asks for the nick another
    /// connection of its account holds becomes another device of it.
    pub multiclient: bool,
    /// Who stays when its last device leaves.
    pub always_on: AlwaysOn,
}

pub(super) fn validate(a: RawAccounts, src: &Source<'_>) -> Result<Accounts, ConfigError> {
    let nick_enforcement = match a.nick_enforcement.as_str() {
        "rename" => NickEnforcement::Rename,
        "refuse" => NickEnforcement::Refuse,
        "none" => NickEnforcement::None,
        _ => {
            return Err(src.invalid(
                "accounts.nick_enforcement",
                "must be \"rename\", \"refuse\" or \"none\"".into(),
            ))
        }
    };
    let always_on = match a.always_on.as_str() {
        "disabled" => AlwaysOn::Disabled,
        "opt-in" => AlwaysOn::OptIn,
        "opt-out" => AlwaysOn::OptOut,
        "mandatory" => AlwaysOn::Mandatory,
        _ => {
            return Err(src.invalid(
                "accounts.always_on",
                "must be \"disabled\", \"opt-in\", \"opt-out\" or \"mandatory\"".into(),
            ))
        }
    };
    if a.min_password_length == 0 {
        return Err(src.invalid("accounts.min_password_length", "must be at least 1".into()));
    }
    Ok(Accounts {
        register_before_connect: a.register_before_connect,
        min_password_length: a.min_password_length,
        callerid_default: a.callerid_default,
        nick_enforcement,
        nick_grace: Duration::from_secs(a.nick_grace_secs),
        offline_max_messages: a.offline_max_messages,
        login_failures: a.login_failures.max(1),
        login_window_secs: a.login_window_secs.max(1),
        hash_concurrency: a.hash_concurrency.max(1),
        require_tls_for_plain: a.require_tls_for_plain,
        registrations_per_hour: a.registrations_per_hour.max(1),
        multiclient: a.multiclient,
        always_on,
    })
}
