//! What a client is told about the server: the welcome burst, LUSERS,
//! MOTD and ISUPPORT (rendered ahead by `isupport::Burst`).

use std::sync::atomic::Ordering;

use ferry_proto::numeric::*;

use crate::ctx::Ctx;

/// 001-005, LUSERS and MOTD, once registration completes.
pub(crate) fn welcome(cx: &mut Ctx<'_>) {
    let cfg = &cx.server.config();
    let network = cfg.network.clone();
    let prefix = cx.prefix();
    cx.num(
        RPL_WELCOME,
        &[&format!("Welcome to the {network} IRC Network {prefix}")],
    );
    let burst = cx.server.burst();
    cx.nick_lines(&burst.intro);
    cx.nick_lines(burst.isupport(cx.s.charset.is_utf8_only()));
    drop(burst);
    send_lusers(cx);
    send_motd(cx);
}

pub(crate) fn isupport_lines(cx: &mut Ctx<'_>) {
    let burst = cx.server.burst();
    cx.nick_lines(burst.isupport(cx.s.charset.is_utf8_only()));
}

pub(crate) fn send_lusers(cx: &mut Ctx<'_>) {
    let users = cx.server.users.load(Ordering::Relaxed);
    let invisible = cx.server.invisible.load(Ordering::Relaxed).min(users);
    let max = cx.server.max_users.load(Ordering::Relaxed).max(users);
    let opers = cx.server.opers.load(Ordering::Relaxed);
    let unknown = cx.server.registry.client_count().saturating_sub(users);
    let channels = cx.server.registry.channel_count();
    cx.num(
        RPL_LUSERCLIENT,
        &[&format!(
            "There are {} users and {invisible} invisible on 1 servers",
            users - invisible
        )],
    );
    cx.num(RPL_LUSEROP, &[&opers.to_string(), "IRC Operators online"]);
    cx.num(
        RPL_LUSERUNKNOWN,
        &[&unknown.to_string(), "unknown connection(s)"],
    );
    cx.num(
        RPL_LUSERCHANNELS,
        &[&channels.to_string(), "channels formed"],
    );
    cx.num(
        RPL_LUSERME,
        &[&format!("I have {users} clients and 0 servers")],
    );
    let (u, m) = (users.to_string(), max.to_string());
    cx.num(
        RPL_LOCALUSERS,
        &[&u, &m, &format!("Current local users {u}, max {m}")],
    );
    cx.num(
        RPL_GLOBALUSERS,
        &[&u, &m, &format!("Current global users {u}, max {m}")],
    );
}

pub(crate) fn send_motd(cx: &mut Ctx<'_>) {
    let burst = cx.server.burst();
    cx.nick_lines(&burst.motd);
}
