//! NICK <nick>: choose a nick before registration, or change it after.

use ferry_proto::validate::is_valid_nick;
use ferry_proto::{numeric::*, Message};

use crate::ctx::{then, Ctx, Outcome, Reject};
use crate::lifecycle::{may_use_nick, try_register};
use crate::route;
use crate::server::WhowasEntry;

pub(super) fn run(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    let Some(new) = msg.param(0).filter(|n| !n.is_empty()) else {
        return Err(Reject::Numeric(
            ERR_NONICKNAMEGIVEN,
            vec!["No nickname given".into()],
        ));
    };
    let cfg = &cx.server.config();
    if !is_valid_nick(new, cfg.casemap, cfg.limits.nick_length) {
        return Err(Reject::Numeric(
            ERR_ERRONEUSNICKNAME,
            vec![new.into(), "Erroneous nickname".into()],
        ));
    }
    let folded = cx.server.fold_nick(new).expect("valid nicks fold");
    // The services' names: what is sent to them never reaches a user.
    if matches!(folded.as_str(), "nickserv" | "chanserv") {
        return Err(Reject::Numeric(
            ERR_ERRONEUSNICKNAME,
            vec![new.into(), "Reserved for a service".into()],
        ));
    }
    let old_nick = cx.me().nick();
    if old_nick == new {
        return Ok(());
    }
    let me = cx.me().clone();
    let refolded = cx.s.folded_nick.as_deref() != Some(folded.as_str());
    if refolded
        && cx.s.registered
        && cx.server.config().accounts.nick_enforcement == crate::config::NickEnforcement::Refuse
        && cx.server.registered_names.contains(&folded)
        && cx.s.account.as_deref() != Some(folded.as_str())
    {
        return Err(Reject::NicknameInUse(
            new.into(),
            "Nickname is reserved by a different account; log in to use it",
        ));
    }
    if refolded && cx.s.registered {
        if let Some(c) = cx.server.cluster().cloned() {
            if !c.holds(me.id, &folded) {
                // The cluster's claim first (docs/CLUSTER.md), then here.
                let (id, new) = (me.id, new.to_string());
                cx.defer(async move {
                    let r = c.claim(id, &folded).await;
                    if matches!(r, Ok(true)) {
                        c.drop_held(id).await;
                    }
                    then(move |cx: &mut Ctx<'_>| match r {
                        Ok(true) => match change(cx, &new, folded.clone(), true) {
                            Ok(()) if cx.s.folded_nick.as_deref() == Some(folded.as_str()) => {
                                c.commit(id, &folded)
                            }
                            r => {
                                tokio::spawn(async move { c.unclaim(id, &folded).await });
                                if let Err(r) = r {
                                    cx.reject(r);
                                }
                            }
                        },
                        Ok(false) => {
                            cx.reject(Reject::NicknameInUse(new, "Nickname is already in use"))
                        }
                        Err(_) => cx.fail(
                            "TEMPORARILY_UNAVAILABLE",
                            &[&new],
                            "The cluster cannot confirm this nick now; try again",
                        ),
                    })
                });
                return Ok(());
            }
        }
    }
    change(cx, new, folded, refolded)
}

/// NICK once the nick is this node's to give: held here, told to peers.
fn change(cx: &mut Ctx<'_>, new: &str, folded: String, refolded: bool) -> Outcome {
    let me = cx.me().clone();
    let old_nick = me.nick();
    if refolded {
        if cx.server.registry.claim_nick(&folded, &me).is_err() {
            if !cx.s.registered && may_attach(cx, &folded) {
                // Another device of a logged-in user, perhaps: decided
                // when registration completes (SASL may come after NICK).
                if let Some(old) = cx.s.folded_nick.take() {
                    cx.server.registry.release_nick(&old, me.id);
                }
                cx.s.more.attach = Some(folded);
                me.info().nick = new.into();
                try_register(cx);
                return Ok(());
            }
            cx.s.more.nick_attempt = Some(new.to_string());
            return Err(Reject::NicknameInUse(
                new.into(),
                "Nickname is already in use",
            ));
        }
        if let Some(m) = cx.s.more.if_made() {
            m.attach = None;
        }
        // The nick held (with several devices, the user's, which another
        // device may have changed since this one last looked).
        let old = if cx.s.registered {
            cx.server.fold_nick(&old_nick)
        } else {
            cx.s.folded_nick.clone()
        };
        cx.s.folded_nick = Some(folded.clone());
        if let Some(old) = old {
            cx.server.registry.release_nick(&old, me.id);
            if cx.s.registered {
                route::monitor_offline(cx.server, &old, &old_nick);
            }
        }
    }
    if !cx.s.registered {
        me.info().nick = new.into();
        try_register(cx);
        return Ok(());
    }
    let (prefix, user, host, realname) = {
        let mut info = me.info();
        let p = info.prefix();
        let r = (
            p,
            info.user.to_string(),
            info.host.to_string(),
            info.realname.to_string(),
        );
        info.nick = new.into();
        r
    };
    for d in me.devices() {
        d.info().nick = new.into();
    }
    cx.server.add_whowas(WhowasEntry {
        folded: cx.server.fold_nick(&old_nick).unwrap_or_default(),
        nick: old_nick,
        user,
        host,
        realname,
        at: cx.server.clock.unix_secs(),
    });
    cx.server.snote(
        'n',
        &format!(
            "Nick change: From {prefix} to {new} [{}]",
            me.ip.to_canonical()
        ),
    );
    let e = cx.event(format!(":{prefix} NICK :{new}\r\n"));
    cx.push_event(&e);
    route::to_channel_peers(cx.server, &me, &e);
    if refolded {
        route::monitor_online(cx.server, &me, &folded);
        may_use_nick(cx, &folded, false);
    }
    Ok(())
}

/// May a connection not yet registered wait to become another device of
/// whoever holds `folded`? Only a registered user logged in to an account,
/// with multiclient on, and not if this connection is logged in to
/// another account already.
fn may_attach(cx: &Ctx<'_>, folded: &str) -> bool {
    if !cx.server.config().accounts.multiclient {
        return false;
    }
    let Some(holder) = cx.server.registry.find_nick(folded) else {
        return false;
    };
    if !holder.allows_devices() {
        return false;
    }
    let account = holder.info().account.clone();
    let Some(account) = account.and_then(|a| cx.server.fold_nick(&a)) else {
        return false;
    };
    cx.s.account.as_deref().is_none_or(|mine| mine == account)
}
