//! Connection registration (CAP, PASS, NICK, USER), PING/PONG, QUIT, and
//! what happens when a connection ends.

use std::sync::atomic::Ordering;

use dashmap::mapref::entry::Entry;
use ferry_proto::validate::is_valid_nick;
use ferry_proto::{numeric::*, Message};
use tracing::info;

use super::{channel_peers, error_line, queries, Ctx, Outcome, Reject};
use crate::caps::Cap;
use crate::conn::Ending;
use crate::router::Event;
use crate::session::Session;
use crate::{Server, WhowasEntry};

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
        return Err(Reject::Numeric(
            ERR_ALREADYREGISTERED,
            vec!["You may not reregister".into()],
        ));
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
        return Err(Reject::Numeric(
            ERR_NICKNAMEINUSE,
            vec![
                new.into(),
                "Nickname is reserved by a different account; log in to use it".into(),
            ],
        ));
    }
    if refolded {
        match cx.server.nicks.entry(folded.clone()) {
            Entry::Occupied(o) if o.get().id != me.id => {
                cx.s.more.nick_attempt = Some(new.to_string());
                return Err(Reject::Numeric(
                    ERR_NICKNAMEINUSE,
                    vec![new.into(), "Nickname is already in use".into()],
                ));
            }
            Entry::Occupied(_) => {}
            Entry::Vacant(v) => {
                v.insert(me.clone());
            }
        }
        if let Some(old) = cx.s.folded_nick.replace(folded.clone()) {
            cx.server.nicks.remove_if(&old, |_, c| c.id == me.id);
            if cx.s.registered {
                monitor_offline(cx.server, &old, &old_nick);
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
    let sendq = cx.sendq();
    for p in channel_peers(&me) {
        e.deliver(&p, sendq);
    }
    if refolded {
        monitor_online(cx.server, &me, &folded);
        may_use_nick(cx, &folded, false);
    }
    Ok(())
}

pub(super) fn user(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    if cx.s.registered {
        return Err(Reject::Numeric(
            ERR_ALREADYREGISTERED,
            vec!["You may not reregister".into()],
        ));
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

/// Completes registration once NICK, USER (and CAP END) are in.
fn try_register(cx: &mut Ctx<'_>) {
    if cx.s.registered || cx.s.cap_negotiating || cx.s.folded_nick.is_none() {
        return;
    }
    let Some((user, realname)) = cx.s.user.as_deref().cloned() else {
        return;
    };
    if let Some(want) = &cx.server.config().password {
        if cx.s.more.pass.as_deref() != Some(want.as_str()) {
            cx.num(ERR_PASSWDMISMATCH, &["Password incorrect"]);
            cx.s.quit = Some("Bad password".into());
            return;
        }
    }
    let folded = cx.s.folded_nick.clone().expect("checked above");
    if !may_use_nick(cx, &folded, true) {
        return;
    }
    {
        let me = cx.me().clone();
        let host = me.info().host.clone();
        if let Some(reason) = crate::guard::kline_reason(cx.server, &user, &host, me.ip) {
            cx.num(
                ERR_YOUREBANNEDCREEP,
                &[&format!("You are banned from this server: {reason}")],
            );
            cx.s.quit = Some(format!("K-lined: {reason}").into());
            return;
        }
    }
    let me = cx.me().clone();
    let nick = {
        let mut info = me.info();
        info.user = user.into();
        info.realname = realname.into();
        info.signon = crate::unix_now();
        info.nick.clone()
    };
    cx.s.registered = true;
    // Kept in `info` from now on.
    cx.s.user = None;
    if let Some(m) = cx.s.more.if_made() {
        m.pass = None;
        m.nick_attempt = None;
    }
    cx.s.more.tidy();
    me.set_registered();
    let n = cx.server.users.fetch_add(1, Ordering::Relaxed) + 1;
    cx.server.max_users.fetch_max(n, Ordering::Relaxed);
    info!(conn = me.id, %nick, "registered");
    {
        let i = me.info();
        let text = format!(
            "Client connecting: {} ({}@{}) [{}]",
            i.nick,
            i.user,
            i.host,
            me.ip.to_canonical()
        );
        drop(i);
        cx.server.snote('c', &text);
    }
    welcome(cx);
    monitor_online(cx.server, &me, &folded);
    if me.info().modes.callerid {
        cx.reply.line(format!(":{nick} MODE {nick} :+g"));
    }
    if me.nick_deadline.load(Ordering::Relaxed) != 0 {
        let grace = cx.server.config().accounts.nick_grace.as_secs();
        super::account::nickserv_say(cx, &rename_warning(&nick, grace));
    }
    if cx.s.after_login_pending {
        super::login::after_login(cx);
    }
}

/// May this session go by the registered nick `folded`? Under "refuse",
/// no (433) unless logged in to it; under "rename", yes for a grace period,
/// after which the sweeper renames it.
fn may_use_nick(cx: &mut Ctx<'_>, folded: &str, registering: bool) -> bool {
    use crate::config::NickEnforcement;
    if !cx.server.registered_names.contains(folded) || cx.s.account.as_deref() == Some(folded) {
        cx.me().clear_nick_deadline();
        return true;
    }
    let nick = cx.me().nick();
    match cx.server.config().accounts.nick_enforcement {
        NickEnforcement::None => true,
        NickEnforcement::Refuse => {
            if registering {
                // Give the nick back: an unregistered connection must not
                // hold it against its owner while it picks another.
                let me = cx.me().clone();
                cx.server.nicks.remove_if(folded, |_, c| c.id == me.id);
                cx.s.folded_nick = None;
                me.info().nick = "*".into();
            }
            cx.num(
                ERR_NICKNAMEINUSE,
                &[
                    &nick,
                    "Nickname is reserved by a different account; log in to use it",
                ],
            );
            false
        }
        NickEnforcement::Rename => {
            let grace = cx.server.config().accounts.nick_grace;
            let deadline = cx.server.uptime_secs() + grace.as_secs().max(1);
            // Uptime seconds: a u32 lasts 136 years.
            let deadline = u32::try_from(deadline).unwrap_or(u32::MAX);
            cx.me().nick_deadline.store(deadline, Ordering::Relaxed);
            // NickServ speaks after the welcome burst when registering
            // (`try_register`).
            if !registering {
                super::account::nickserv_say(cx, &rename_warning(&nick, grace.as_secs()));
            }
            true
        }
    }
}

fn rename_warning(nick: &str, grace_secs: u64) -> String {
    format!(
        "{nick} is a registered account. Log in (SASL, or /msg NickServ IDENTIFY <password>) within {grace_secs} seconds, or your nick will be changed."
    )
}

/// The sweeper found this client past its nick deadline: rename it.
pub(crate) fn force_guest_nick(server: &std::sync::Arc<Server>, s: &mut Session) {
    let n: u32 = rand::random::<u32>() % 100_000;
    let line = format!("NICK Guest{n:05}");
    s.client.clear_nick_deadline();
    super::handle_line(server, s, line.as_bytes());
}

fn welcome(cx: &mut Ctx<'_>) {
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
    queries::send_lusers(cx);
    queries::send_motd(cx);
}

/// Tells everyone MONITORing `folded` that `me` is online.
pub(super) fn monitor_online(server: &Server, me: &crate::client::Client, folded: &str) {
    let Some(watchers) = server
        .monitors
        .get(folded)
        .map(|w| w.values().cloned().collect::<Vec<_>>())
    else {
        return;
    };
    let prefix = me.info().prefix();
    let sendq = server.config().limits.sendq_bytes;
    for w in watchers {
        let line = format!(
            ":{} {RPL_MONONLINE} {} :{prefix}\r\n",
            server.config().server_name,
            w.nick()
        );
        w.send_bytes(&line.into(), sendq);
    }
}

/// Tells everyone MONITORing `folded` that `nick` went offline.
pub(super) fn monitor_offline(server: &Server, folded: &str, nick: &str) {
    let Some(watchers) = server
        .monitors
        .get(folded)
        .map(|w| w.values().cloned().collect::<Vec<_>>())
    else {
        return;
    };
    let sendq = server.config().limits.sendq_bytes;
    for w in watchers {
        let line = format!(
            ":{} {RPL_MONOFFLINE} {} :{nick}\r\n",
            server.config().server_name,
            w.nick()
        );
        w.send_bytes(&line.into(), sendq);
    }
}

/// Everything that happens when a connection ends, for whatever reason:
/// peers see QUIT, channels and maps forget the client, the client gets ERROR.
pub(crate) fn disconnect(server: &Server, s: &mut Session, ending: &Ending) {
    let me = s.client.clone();
    s.client.outbox.close();
    // Cut off for SendQ: what it missed comes from history at next login.
    if me.outbox.overflowed().is_some() {
        if let Some(account) = &s.account {
            let since = me.backlog_since.load(Ordering::Relaxed);
            let since = if since == 0 {
                crate::unix_millis() - 1000
            } else {
                since - 1
            };
            server.missed_since.insert(account.clone(), since);
        }
    }
    server.snotice_watchers.remove(&me.id);
    if s.registered {
        let i = me.info();
        let text = format!(
            "Client exiting: {} ({}@{}) [{}]",
            i.nick,
            i.user,
            me.ip.to_canonical(),
            ending.quit
        );
        drop(i);
        server.snote('c', &text);
    }
    // Limits hit, for operators watching floods (b) and limits (f).
    let hit = if ending.quit == "Excess Flood" {
        Some('b')
    } else if ending.quit.starts_with("SendQ exceeded") {
        Some('f')
    } else {
        None
    };
    if let Some(letter) = hit {
        let text = format!(
            "{} from {} ({})",
            ending.quit,
            me.nick(),
            me.ip.to_canonical()
        );
        server.snote(letter, &text);
    }
    if s.registered {
        let info = me.info().clone();
        let e = Event::new(format!(":{} QUIT :{}\r\n", info.prefix(), ending.quit))
            .with_msgid(server.msgid())
            .with_account(info.account.as_deref().map(str::to_string));
        let sendq = server.config().limits.sendq_bytes;
        for p in channel_peers(&me) {
            e.deliver(&p, sendq);
        }
        for ch in &info.channels {
            let empty = {
                let mut st = ch.lock();
                st.members.remove(&me.id);
                st.invited.remove(&me.id);
                st.members.is_empty()
            };
            if empty {
                super::channels::remove_if_empty(server, ch);
            }
        }
        me.info().channels.clear();
        server.users.fetch_sub(1, Ordering::Relaxed);
        if info.modes.oper {
            server.opers.fetch_sub(1, Ordering::Relaxed);
        }
        if info.modes.invisible {
            server.invisible.fetch_sub(1, Ordering::Relaxed);
        }
        if let Some(f) = &s.folded_nick {
            server.add_whowas(WhowasEntry {
                folded: f.clone(),
                nick: info.nick.to_string(),
                user: info.user.into(),
                host: info.host.into(),
                realname: info.realname.into(),
                at: crate::unix_now(),
            });
        }
    }
    if let Some(f) = s.folded_nick.take() {
        server.nicks.remove_if(&f, |_, c| c.id == me.id);
        if s.registered {
            monitor_offline(server, &f, &me.nick());
        }
    }
    for (f, _) in s
        .more
        .if_made()
        .map(|m| std::mem::take(&mut m.monitoring))
        .unwrap_or_default()
    {
        if let Some(mut w) = server.monitors.get_mut(&f) {
            w.remove(&me.id);
        }
        server.monitors.remove_if(&f, |_, w| w.is_empty());
    }
    if let Some(line) = error_line(ending) {
        me.outbox.push_final(line);
    }
}
