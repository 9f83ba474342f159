//! KLINE/DLINE and UNKLINE/UNDLINE: one family, server bans by user@host
//! or by address, added and removed the same way (operators).

use ferry_proto::Message;
use tracing::warn;

use ferry_store::BanKind;

use crate::bans;
use crate::ctx::{then, Ctx, Outcome, Reject};

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
    let mask = bans::mask(kind, raw)
        .map_err(|why| Reject::Fail("INVALID_MASK", vec![raw.into()], why.into()))?;
    let ban = bans::new_ban(cx.server, kind, mask, reason, cx.prefix(), minutes);
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
            let (word, _) = bans::words(kind);
            let how_long = minutes
                .map(|m| format!("{m} minutes"))
                .unwrap_or_else(|| "permanent".into());
            let nick = cx.me().nick();
            let server_name = cx.server_name().to_string();
            cx.reply.line(format!(
                ":{server_name} NOTICE {nick} :Added {how_long} {word} for [{}] ({})",
                ban.mask, ban.reason
            ));
            bans::install(cx.server, &ban);
        })
    });
    Ok(())
}

fn remove_ban(cx: &mut Ctx<'_>, msg: &Message<'_>, kind: BanKind) -> Outcome {
    if cx.s.more.oper_name.is_none() {
        return Err(Reject::NoPrivileges);
    }
    let mask = bans::stored_mask(cx.server, kind, msg.param(0).unwrap_or(""));
    let server = cx.server_arc();
    cx.defer(async move {
        let m = mask.clone();
        let r = server.store(move |s| s.remove_ban(kind, &m)).await;
        then(move |cx: &mut Ctx<'_>| {
            let nick = cx.me().nick();
            let server_name = cx.server_name().to_string();
            match r {
                Ok(true) => {
                    bans::uninstall(cx.server, kind, &mask);
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
