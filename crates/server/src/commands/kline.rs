//! KLINE/DLINE and UNKLINE/UNDLINE: one family, server bans by user@host
//! or by address, added and removed the same way (operators).

use std::sync::Arc;

use ferry_proto::Message;
use tracing::{info, warn};

use ferry_store::{BanKind, ServerBan};

use crate::ctx::{then, Ctx, Outcome, Reject};
use crate::server::Server;

/// `KLINE [minutes] <user@host> :<reason>` / `DLINE [minutes] <address|cidr> :<reason>`.
fn parse_ban<'m>(msg: &'m Message<'_>) -> Option<(Option<u64>, &'m str, &'m str)> {
    let p = msg.params();
    let (minutes, rest) = match p.first()?.parse::<u64>() {
        Ok(m) => (Some(m).filter(|m| *m > 0), &p[1..]),
        Err(_) => (None, p),
    };
    let mask = *rest.first()?;
    let reason = rest
        .get(1)
        .copied()
        .filter(|r| !r.is_empty())
        .unwrap_or("No reason");
    Some((minutes, mask, reason))
}

fn set_ban(cx: &mut Ctx<'_>, msg: &Message<'_>, kind: BanKind) -> Outcome {
    if cx.s.more.oper_name.is_none() {
        return Err(Reject::NoPrivileges);
    }
    let Some((minutes, raw, reason)) = parse_ban(msg) else {
        return Err(Reject::NeedMoreParams);
    };
    let mask = match kind {
        BanKind::Kline => {
            // nick!user@host: the nick part does not matter to a K-line.
            let uh = raw.rsplit_once('!').map(|(_, r)| r).unwrap_or(raw);
            if !uh.contains('@') {
                return Err(Reject::Fail(
                    "INVALID_MASK",
                    vec![raw.into()],
                    "A K-line is user@host".into(),
                ));
            }
            uh.to_string()
        }
        BanKind::Dline => match crate::guard::parse_net(raw) {
            Some(n) => n.trunc().to_string(),
            None => {
                return Err(Reject::Fail(
                    "INVALID_MASK",
                    vec![raw.into()],
                    "A D-line is an address or CIDR".into(),
                ))
            }
        },
    };
    let now = cx.server.clock.unix_ms();
    let ban = ServerBan {
        kind,
        mask: mask.clone(),
        reason: reason.to_string(),
        set_by: cx.prefix(),
        set_ms: now,
        expires_ms: minutes.map(|m| now + m as i64 * 60_000),
    };
    let server = cx.server_arc();
    cx.defer(async move {
        let b = ban.clone();
        let r = server.store(move |s| s.add_ban(&b)).await;
        then(move |cx: &mut Ctx<'_>| {
            if let Err(e) = r {
                warn!(error = %e, "could not save a ban");
                cx.fail("TEMPORARILY_UNAVAILABLE", &[], "The ban could not be saved");
                return;
            }
            {
                let mut bans = cx.server.bans.write().expect("bans lock");
                let cm = cx.server.config().casemap;
                let key = cm.fold_lossy(&ban.mask);
                bans.retain(|b| !(b.kind == ban.kind && cm.fold_lossy(&b.mask) == key));
                bans.push(ban.clone());
            }
            let (word, verb) = match kind {
                BanKind::Kline => ("K-line", "K-lined"),
                BanKind::Dline => ("D-line", "D-lined"),
            };
            let how_long = minutes
                .map(|m| format!("{m} minutes"))
                .unwrap_or_else(|| "permanent".into());
            info!(mask = %ban.mask, by = %ban.set_by, reason = %ban.reason, "{word} added");
            cx.server.snote(
                's',
                &format!(
                    "{} added {how_long} {word} for [{}] [{}]",
                    ban.set_by, ban.mask, ban.reason
                ),
            );
            let nick = cx.me().nick();
            let server_name = cx.server_name().to_string();
            cx.reply.line(format!(
                ":{server_name} NOTICE {nick} :Added {how_long} {word} for [{}] ({})",
                ban.mask, ban.reason
            ));
            enforce_ban(cx.server, &ban, verb);
        })
    });
    Ok(())
}

/// Applies a new ban to everyone connected now.
fn enforce_ban(server: &Arc<Server>, ban: &ServerBan, verb: &str) {
    for c in server.registry.clients() {
        let (user, host) = {
            let i = c.info();
            (i.user.clone(), i.host.clone())
        };
        let hit = match ban.kind {
            BanKind::Kline => {
                c.is_registered()
                    && crate::guard::kline_reason(server, &user, &host, c.ip).is_some()
            }
            BanKind::Dline => {
                crate::guard::parse_net(&ban.mask).is_some_and(|n| n.contains(&c.ip.to_canonical()))
            }
        };
        if hit {
            c.kill(format!("{verb}: {}", ban.reason));
        }
    }
}

fn remove_ban(cx: &mut Ctx<'_>, msg: &Message<'_>, kind: BanKind) -> Outcome {
    if cx.s.more.oper_name.is_none() {
        return Err(Reject::NoPrivileges);
    }
    let raw = msg.param(0).unwrap_or("");
    let typed = match kind {
        BanKind::Kline => raw
            .rsplit_once('!')
            .map(|(_, r)| r)
            .unwrap_or(raw)
            .to_string(),
        BanKind::Dline => crate::guard::parse_net(raw)
            .map(|n| n.trunc().to_string())
            .unwrap_or_else(|| raw.to_string()),
    };
    // The ban as stored, found by its casefolded mask.
    let cm = cx.server.config().casemap;
    let mask = cx
        .server
        .bans
        .read()
        .expect("bans lock")
        .iter()
        .find(|b| b.kind == kind && cm.fold_lossy(&b.mask) == cm.fold_lossy(&typed))
        .map(|b| b.mask.clone())
        .unwrap_or(typed);
    let server = cx.server_arc();
    cx.defer(async move {
        let m = mask.clone();
        let r = server.store(move |s| s.remove_ban(kind, &m)).await;
        then(move |cx: &mut Ctx<'_>| {
            let nick = cx.me().nick();
            let server_name = cx.server_name().to_string();
            match r {
                Ok(true) => {
                    cx.server
                        .bans
                        .write()
                        .expect("bans lock")
                        .retain(|b| !(b.kind == kind && b.mask == mask));
                    info!(%mask, "ban removed");
                    cx.reply.line(format!(
                        ":{server_name} NOTICE {nick} :Removed the ban on [{mask}]"
                    ));
                }
                Ok(false) => cx
                    .reply
                    .line(format!(":{server_name} NOTICE {nick} :No ban on [{mask}]")),
                Err(_) => cx.fail(
                    "TEMPORARILY_UNAVAILABLE",
                    &[],
                    "The ban could not be removed",
                ),
            }
        })
    });
    Ok(())
}

pub(super) fn kline(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    set_ban(cx, msg, BanKind::Kline)
}

pub(super) fn unkline(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    remove_ban(cx, msg, BanKind::Kline)
}

pub(super) fn dline(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    set_ban(cx, msg, BanKind::Dline)
}

pub(super) fn undline(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    remove_ban(cx, msg, BanKind::Dline)
}
