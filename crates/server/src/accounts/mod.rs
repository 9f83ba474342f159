//! Accounts: logging in and out, registering, passwords, NickServ, the
//! account's stored MONITOR, ACCEPT and SILENCE lists, its offline messages, and the one
//! renderer for stored messages (history and offline).

mod clients;
mod export;
mod lists;
mod login;
mod markers;
mod monitor;
mod nickserv;
mod offline;
mod password;
mod register;
mod replay;
pub(crate) mod tokens;

use ferry_proto::numeric::*;

pub(crate) use export::export;
pub(crate) use lists::persist_list;
pub(crate) use login::{after_login, logged_in, logged_out};
pub(crate) use markers::{
    attach_markers, detach_markers, send_marker, send_marker_if_wanted, set_marker, Marks,
    SharedMarkers,
};
pub(crate) use monitor::{
    chunk_list, monitor_add, monitor_remove, monitored_names, persist_monitor, send_status,
    sync_stored_monitor,
};
pub(crate) use nickserv::nickserv;
pub(crate) use offline::{offline_poked, store_for_later, Waiting};
pub(crate) use password::{check_password, Login};
pub use register::{check_new_account, create_account, set_password, AccountError};
pub(crate) use register::{fail_register, start_registration, Via};
pub(crate) use replay::send_batch;

use crate::ctx::{Ctx, Reject};

pub(crate) const NICKSERV: &str = "NickServ";

/// Why REGISTER and SET PASSWORD are refused on a plain-text connection.
pub(crate) const NEW_PASSWORD_NEEDS_TLS: &str =
    "This server takes new passwords only over TLS: reconnect with TLS";

/// Why a password is refused on a plain-text connection.
pub(crate) const PLAIN_NEEDS_TLS: &str = "This server takes passwords only over TLS: \
    reconnect with TLS, or log in with SASL SCRAM-SHA-256";

/// A NOTICE from NickServ to this client.
pub(crate) fn nickserv_say(cx: &mut Ctx<'_>, text: &str) {
    let nick = cx.me().nick();
    let line = format!(
        ":{NICKSERV}!{NICKSERV}@{} NOTICE {nick} :{text}",
        cx.server_name()
    );
    cx.reply.line(line);
}

/// 904, for every way SASL can fail.
pub(crate) fn sasl_fail() -> Reject {
    Reject::Numeric(ERR_SASLFAIL, vec!["SASL authentication failed".into()])
}

/// 904 for the right password of a suspended account.
pub(crate) fn sasl_suspended() -> Reject {
    Reject::Numeric(
        ERR_SASLFAIL,
        vec!["SASL authentication failed: this account is suspended".into()],
    )
}

/// 903.
pub(crate) fn sasl_success(cx: &mut Ctx<'_>) {
    cx.num(RPL_SASLSUCCESS, &["SASL authentication successful"]);
}
