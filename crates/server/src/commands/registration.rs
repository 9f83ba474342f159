//! Connection registration (CAP, PASS, NICK, USER), PING/PONG, QUIT, and
//! what happens when a connection ends.

use ferry_proto::validate::is_valid_nick;
use ferry_proto::{numeric::*, Message};

use crate::caps::Cap;
use crate::ctx::{Ctx, Outcome, Reject};
use crate::lifecycle::{may_use_nick, try_register};
use crate::route;
use crate::server::WhowasEntry;

pub(super) fn cap(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    let sub = msg.param(0).unwrap_or("").to_ascii_uppercase();
    let nick = cx.me().nick();
    let server = cx.server_name().to_string();
    match sub.as_str() {
        "LS" => {
            if !cx.s.registered {
                cx.s.cap_negotiating = true;
            }
            let version = msg
                .param(1)
                .and_then(|v| v.parse::<u32>().ok())
                .unwrap_or(0);
            if version >= 302 {
                cx.s.cap_version = cx.s.cap_version.max(302);
                cx.s.caps.set(Cap::CapNotify, true);
                cx.me().set_caps(cx.s.caps);
            }
            let v302 = cx.s.cap_version >= 302;
            let tls = cx.me().tls;
            let names: Vec<String> = Cap::ALL
                .iter()
                .filter(|c| c.offered(&cx.server.config()))
                .map(|c| match c.value(&cx.server.config(), tls) {
                    Some(v) if v302 => format!("{}={v}", c.name()),
                    _ => c.name().to_string(),
                })
                .collect();
            // Keep each line well inside 512 bytes; continuation needs 302.
            let mut chunks: Vec<String> = Vec::new();
            let mut cur = String::new();
            for n in names {
                if !cur.is_empty() && cur.len() + n.len() + 1 > 380 && v302 {
                    chunks.push(std::mem::take(&mut cur));
                }
                if !cur.is_empty() {
                    cur.push(' ');
                }
                cur.push_str(&n);
            }
            chunks.push(cur);
            let last = chunks.len() - 1;
            for (i, c) in chunks.iter().enumerate() {
                let more = if i < last { "* " } else { "" };
                cx.reply.line(format!(":{server} CAP {nick} LS {more}:{c}"));
            }
        }
        "LIST" => {
            let list: Vec<&str> = cx.s.caps.iter().map(|c| c.name()).collect();
            cx.reply
                .line(format!(":{server} CAP {nick} LIST :{}", list.join(" ")));
        }
        "REQ" => {
            if !cx.s.registered {
                cx.s.cap_negotiating = true;
            }
            let req = msg.param(1).unwrap_or("");
            let mut caps = cx.s.caps;
            let mut ok = !req.trim().is_empty();
            for item in req.split(' ').filter(|s| !s.is_empty()) {
                let (on, name) = match item.strip_prefix('-') {
                    Some(n) => (false, n),
                    None => (true, item),
                };
                match Cap::from_name(name) {
                    Some(c) if c.requestable() => caps.set(c, on),
                    _ => ok = false,
                }
            }
            if ok {
                cx.s.caps = caps;
                cx.me().set_caps(caps);
                cx.reply
                    .line(format!(":{server} CAP {nick} ACK :{}", req.trim()));
            } else {
                cx.reply
                    .line(format!(":{server} CAP {nick} NAK :{}", req.trim()));
            }
        }
        "END" => {
            if !cx.s.registered {
                cx.s.cap_negotiating = false;
                try_register(cx);
            }
        }
        _ => {
            return Err(Reject::Numeric(
                ERR_INVALIDCAPCMD,
                vec![sub, "Invalid CAP command".into()],
            ));
        }
    }
    Ok(())
}

pub(super) fn pass(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    if cx.s.registered {
        return Err(Reject::AlreadyRegistered);
    }
    cx.s.more.pass = msg.param(0).map(str::to_string);
    Ok(())
}

pub(super) fn nick(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
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
    if refolded {
        if cx.server.registry.claim_nick(&folded, &me).is_err() {
            cx.s.more.nick_attempt = Some(new.to_string());
            return Err(Reject::NicknameInUse(
                new.into(),
                "Nickname is already in use",
            ));
        }
        if let Some(old) = cx.s.folded_nick.replace(folded.clone()) {
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
    cx.server.add_whowas(WhowasEntry {
        folded: cx.server.fold_nick(&old_nick).unwrap_or_default(),
        nick: old_nick,
        user,
        host,
        realname,
        at: crate::unix_now(),
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

pub(super) fn user(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    if cx.s.registered {
        return Err(Reject::AlreadyRegistered);
    }
    let username = msg.param(0).unwrap_or("");
    let realname = msg.param(3).unwrap_or("");
    if username.is_empty() || realname.is_empty() {
        return Err(Reject::NeedMoreParams);
    }
    let clean: String = username
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(17)
        .collect();
    let clean = if clean.is_empty() {
        "user".to_string()
    } else {
        clean
    };
    let max = cx.server.config().limits.realname_length;
    let realname: String = realname.chars().take(max).collect();
    {
        // Known from now on (SASL's 900 before registration shows it).
        let mut info = cx.me().info();
        info.user = format!("~{clean}").into();
        info.realname = realname.as_str().into();
    }
    cx.s.user = Some(Box::new((format!("~{clean}"), realname)));
    try_register(cx);
    Ok(())
}

pub(super) fn ping(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    let token = msg.param(0).unwrap_or("");
    let server = cx.server_name().to_string();
    cx.reply.line(
        ferry_proto::Line::new()
            .source(&server)
            .verb("PONG")
            .param(&server)
            .trailing(token)
            .as_str()
            .into(),
    );
    Ok(())
}

pub(super) fn pong(_cx: &mut Ctx<'_>, _msg: &Message<'_>) -> Outcome {
    Ok(())
}

pub(super) fn quit(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    let text = match msg.param(0).filter(|t| !t.is_empty()) {
        Some(t) => format!("Quit: {t}"),
        None => "Client Quit".into(),
    };
    cx.s.quit = Some(text.into());
    Ok(())
}
