//! Queries: WHO (with WHOX), WHOIS, WHOWAS, ISON, USERHOST, and the
//! server information commands (MOTD, LUSERS, VERSION, TIME, ADMIN, INFO,
//! HELP, LINKS).

use std::sync::Arc;
use std::time::SystemTime;

use ferry_proto::{mask, numeric::*, Message};

use crate::caps::Cap;
use crate::channel::{Channel, Prefix};
use crate::client::{Client, Info};
use crate::ctx::{Ctx, Outcome, Reject};
use crate::unix_now;
use crate::welcome::{isupport_lines, send_lusers, send_motd};

pub(super) fn motd(cx: &mut Ctx<'_>, _msg: &Message<'_>) -> Outcome {
    send_motd(cx);
    Ok(())
}

pub(super) fn lusers(cx: &mut Ctx<'_>, _msg: &Message<'_>) -> Outcome {
    send_lusers(cx);
    Ok(())
}

pub(super) fn version(cx: &mut Ctx<'_>, _msg: &Message<'_>) -> Outcome {
    let server = cx.server_name().to_string();
    cx.num(RPL_VERSION, &[crate::VERSION, &server, "ferry chat relay"]);
    isupport_lines(cx);
    Ok(())
}

pub(super) fn time(cx: &mut Ctx<'_>, _msg: &Message<'_>) -> Outcome {
    let server = cx.server_name().to_string();
    let now = crate::event::format_time(SystemTime::now());
    cx.num(RPL_TIME, &[&server, &now]);
    Ok(())
}

pub(super) fn admin(cx: &mut Ctx<'_>, _msg: &Message<'_>) -> Outcome {
    let c = &cx.server.config();
    let (server, loc, desc, email) = (
        c.server_name.clone(),
        c.admin_location.clone(),
        c.description.clone(),
        c.admin_email.clone(),
    );
    cx.num(RPL_ADMINME, &[&server, "Administrative info"]);
    cx.num(RPL_ADMINLOC1, &[&loc]);
    cx.num(RPL_ADMINLOC2, &[&desc]);
    cx.num(RPL_ADMINEMAIL, &[&email]);
    Ok(())
}

pub(super) fn info(cx: &mut Ctx<'_>, _msg: &Message<'_>) -> Outcome {
    for l in [
        format!("{} — a chat relay on IRC", crate::VERSION),
        "https://modern.ircdocs.horse and https://ircv3.net describe what it speaks.".into(),
        format!("Up since {}", cx.server.created),
    ] {
        cx.num(RPL_INFO, &[&l]);
    }
    cx.num(RPL_ENDOFINFO, &["End of /INFO list"]);
    Ok(())
}

const HELP: &[(&str, &str)] = &[
    ("*", "ferry speaks IRC. Commands: PRIVMSG NOTICE TAGMSG JOIN PART TOPIC NAMES LIST INVITE KICK MODE WHO WHOIS WHOWAS ISON USERHOST AWAY SETNAME MONITOR ACCEPT SILENCE CHATHISTORY REGISTER CHARSET MOTD LUSERS VERSION TIME ADMIN INFO LINKS OPER KILL WALLOPS QUIT; accounts through NickServ (/msg NickServ HELP). HELP <command> tells more."),
    ("PRIVMSG", "PRIVMSG <target>[,<target>] :<text> — send a message to nicks or channels (@#chan: to its operators)."),
    ("NOTICE", "NOTICE <target> :<text> — like PRIVMSG, but no automatic replies."),
    ("TAGMSG", "TAGMSG <target> — a message of tags only (message-tags capability)."),
    ("JOIN", "JOIN <#channel>[,<#channel>] [<key>[,<key>]] — join channels; JOIN 0 leaves them all."),
    ("PART", "PART <#channel>[,<#channel>] [:<reason>] — leave channels."),
    ("TOPIC", "TOPIC <#channel> [:<topic>] — show or set a channel's topic."),
    ("NAMES", "NAMES <#channel> — who is on a channel."),
    ("LIST", "LIST [<#mask>|>n|<n|C<m|C>m|T<m|T>m] — list channels, with ELIST filters."),
    ("INVITE", "INVITE <nick> <#channel> — invite someone to a channel."),
    ("KICK", "KICK <#channel> <nick> [:<reason>] — remove someone from a channel (channel operators)."),
    ("MODE", "MODE <#channel> [modes [params]] — channel modes b e I i k l m n s t o v; MODE <nick> [modes] — user modes i w B."),
    ("WHO", "WHO <mask|#channel> [%<fields>[,<token>]] — list users (WHOX fields: t c u i h s n f d l a o r)."),
    ("WHOIS", "WHOIS <nick> — details about a user."),
    ("WHOWAS", "WHOWAS <nick> [<count>] — who used a nick recently."),
    ("ISON", "ISON <nick> [<nick>...] — which of these nicks are online."),
    ("USERHOST", "USERHOST <nick> [<nick>...] — user@host of up to 5 nicks."),
    ("AWAY", "AWAY [:<message>] — mark yourself away, or back without a message."),
    ("SETNAME", "SETNAME :<realname> — change your real name."),
    ("MONITOR", "MONITOR +<nicks> | -<nicks> | C | L | S — follow when nicks come online or go offline."),
    ("OPER", "OPER <name> <password> — become an IRC operator."),
    ("KILL", "KILL <nick> :<reason> — disconnect a user (operators)."),
    ("WALLOPS", "WALLOPS :<text> — message every user with mode +w (operators)."),
    ("QUIT", "QUIT [:<reason>] — leave the server."),
    ("ACCEPT", "ACCEPT <account>[,<account>] | -<account> | * — who may message you while you have mode +g (CALLERID)."),
    ("SILENCE", "SILENCE [+|-]<mask> — drop messages and invites from matching senders; SILENCE alone lists them."),
    ("CHATHISTORY", "CHATHISTORY LATEST|BEFORE|AFTER|AROUND|BETWEEN <target> ... | TARGETS — history (IRCv3 draft/chathistory)."),
    ("REGISTER", "REGISTER <account|*> <email|*> <password> — create an account (IRCv3 draft/account-registration)."),
    ("CHARSET", "CHARSET [<charset>] — show or change the character set of your connection (e.g. gbk, gb18030, utf-8)."),
];

pub(super) fn help(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    let subject = msg
        .param(0)
        .filter(|s| !s.is_empty())
        .unwrap_or("*")
        .to_ascii_uppercase();
    let Some((_, text)) = HELP.iter().find(|(k, _)| *k == subject) else {
        return Err(Reject::Numeric(
            ERR_HELPNOTFOUND,
            vec![subject, "No help available on this topic".into()],
        ));
    };
    let subj = subject.to_ascii_lowercase();
    let subj = if subj == "*" { "*".to_string() } else { subj };
    cx.num(RPL_HELPSTART, &[&subj, text]);
    cx.num(RPL_ENDOFHELP, &[&subj, "End of /HELP"]);
    Ok(())
}

pub(super) fn links(cx: &mut Ctx<'_>, _msg: &Message<'_>) -> Outcome {
    let server = cx.server_name().to_string();
    let desc = format!("0 {}", cx.server.config().description);
    cx.num(RPL_LINKS, &[&server, &server, &desc]);
    cx.num(RPL_ENDOFLINKS, &["*", "End of /LINKS list"]);
    Ok(())
}

pub(super) fn ison(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    let mut on = Vec::new();
    for n in msg
        .params()
        .iter()
        .flat_map(|p| p.split(' '))
        .filter(|n| !n.is_empty())
    {
        if let Some(c) = cx.server.find_nick(n) {
            on.push(c.nick());
        }
    }
    cx.num(RPL_ISON, &[&on.join(" ")]);
    Ok(())
}

pub(super) fn userhost(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    let mut out = Vec::new();
    for n in msg
        .params()
        .iter()
        .flat_map(|p| p.split(' '))
        .filter(|n| !n.is_empty())
        .take(5)
    {
        if let Some(c) = cx.server.find_nick(n) {
            let i = c.info();
            let oper = if i.modes.oper { "*" } else { "" };
            let away = if i.away.is_some() { '-' } else { '+' };
            out.push(format!("{}{oper}={away}{}@{}", i.nick, i.user, i.host));
        }
    }
    cx.num(RPL_USERHOST, &[&out.join(" ")]);
    Ok(())
}

/// Does `viewer` share a channel with `other`?
fn shares_channel(viewer: &Client, other: &Info) -> bool {
    other
        .channels
        .iter()
        .any(|ch| ch.lock().members.contains_key(&viewer.id))
}

/// The WHOX fields a request asks for, and its token.
struct Whox {
    fields: String,
    token: String,
}

fn who_flags(i: &Info, prefix: Option<Prefix>, multi: bool) -> String {
    let mut f = String::from(if i.away.is_some() { "G" } else { "H" });
    if i.modes.oper {
        f.push('*');
    }
    if let Some(p) = prefix {
        f.push_str(p.symbols(multi));
    }
    if i.modes.bot {
        f.push('B');
    }
    f
}

fn who_line(cx: &mut Ctx<'_>, c: &Client, chan: Option<(&Channel, Prefix)>, whox: Option<&Whox>) {
    let i = c.info().clone();
    let server = cx.server_name().to_string();
    let multi = cx.caps().has(Cap::MultiPrefix);
    let chan_name = chan
        .map(|(ch, _)| ch.name.clone())
        .unwrap_or_else(|| "*".into());
    let flags = who_flags(&i, chan.map(|(_, p)| p), multi);
    let Some(w) = whox else {
        cx.num(
            RPL_WHOREPLY,
            &[
                &chan_name,
                &i.user,
                &i.host,
                &server,
                &i.nick,
                &flags,
                &format!("0 {}", i.realname),
            ],
        );
        return;
    };
    let idle = unix_now()
        .saturating_sub(i.last_message.max(i.signon))
        .to_string();
    let oplevel = chan
        .map(|(_, p)| {
            if p.op {
                "@"
            } else if p.voice {
                "+"
            } else {
                "n/a"
            }
        })
        .unwrap_or("n/a");
    let mut out: Vec<String> = Vec::new();
    for f in "tcuihsnfdlaor".chars() {
        if !w.fields.contains(f) {
            continue;
        }
        out.push(match f {
            't' => w.token.clone(),
            'c' => chan_name.clone(),
            'u' => i.user.to_string(),
            // The address only to the user itself and to operators.
            'i' if c.id == cx.me().id
                || cx.s.more.oper_name.is_some()
                || !cx.server.config().privacy.cloak =>
            {
                c.ip.to_canonical().to_string()
            }
            'i' => "255.255.255.255".into(),
            'h' => i.host.to_string(),
            's' => server.clone(),
            'n' => i.nick.to_string(),
            'f' => flags.clone(),
            'd' => "0".into(),
            'l' => idle.clone(),
            'a' => i.account.as_deref().unwrap_or("0").to_string(),
            'o' => oplevel.into(),
            _ => i.realname.to_string(),
        });
    }
    let p: Vec<&str> = out.iter().map(|s| s.as_str()).collect();
    // The realname may hold spaces: only it (last) may be trailing.
    cx.num(RPL_WHOSPCRPL, &p);
}

pub(super) fn who(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    let raw_mask = msg.param(0).filter(|m| !m.is_empty()).unwrap_or("*");
    let whox = msg.param(1).and_then(|p| p.strip_prefix('%')).map(|spec| {
        let (fields, token) = spec.split_once(',').unwrap_or((spec, ""));
        Whox {
            fields: fields.to_string(),
            token: token.to_string(),
        }
    });
    let me = cx.me().clone();
    if raw_mask.starts_with('#') {
        if let Some(ch) = cx.server.find_channel(raw_mask) {
            let members: Vec<(Arc<Client>, Prefix, bool)> = {
                let st = ch.lock();
                let member = st.members.contains_key(&me.id);
                if st.modes.secret && !member {
                    Vec::new()
                } else {
                    st.members
                        .values()
                        .map(|m| (m.client.clone(), m.prefix, member))
                        .collect()
                }
            };
            for (c, p, member) in members {
                if !member && c.info().modes.invisible {
                    continue;
                }
                who_line(cx, &c, Some((&ch, p)), whox.as_ref());
            }
        }
    } else {
        let casemap = cx.server.config().casemap;
        let folded = casemap.fold_lossy(raw_mask);
        let all = folded == "*" || folded == "0";
        let exact = !folded.contains(['*', '?']);
        let clients: Vec<Arc<Client>> = if exact {
            cx.server.find_nick(raw_mask).into_iter().collect()
        } else {
            cx.server.registry.registered()
        };
        for c in clients {
            let show = {
                let i = c.info().clone();
                let matched = all
                    || exact
                    || mask::matches(&folded, &casemap.fold_lossy(&i.nick))
                    || mask::matches(&folded, &casemap.fold_lossy(&i.host))
                    || mask::matches(&folded, &casemap.fold_lossy(&i.realname))
                    || mask::matches(&folded, &casemap.fold_lossy(&i.prefix()));
                matched && (exact || c.id == me.id || !i.modes.invisible || shares_channel(&me, &i))
            };
            if show {
                who_line(cx, &c, None, whox.as_ref());
            }
        }
    }
    cx.num(RPL_ENDOFWHO, &[raw_mask, "End of WHO list"]);
    Ok(())
}

pub(super) fn whois(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    let target = msg.params().last().copied().unwrap_or("");
    let target = target.split(',').next().unwrap_or("");
    let Some(c) = cx.server.find_nick(target) else {
        cx.num(ERR_NOSUCHNICK, &[target, "No such nick/channel"]);
        cx.num(RPL_ENDOFWHOIS, &[target, "End of /WHOIS list"]);
        return Ok(());
    };
    let me = cx.me().clone();
    let i = c.info().clone();
    let server = cx.server_name().to_string();
    let desc = cx.server.config().description.clone();
    let multi = cx.caps().has(Cap::MultiPrefix);
    cx.num(
        RPL_WHOISUSER,
        &[&i.nick, &i.user, &i.host, "*", &i.realname],
    );
    let mut chans = Vec::new();
    for ch in &i.channels {
        let st = ch.lock();
        if st.modes.secret && !st.members.contains_key(&me.id) && me.id != c.id {
            continue;
        }
        if let Some(p) = st.prefix_of(c.id) {
            chans.push(format!("{}{}", p.symbols(multi), ch.name));
        }
    }
    if !chans.is_empty() {
        cx.num(RPL_WHOISCHANNELS, &[&i.nick, &chans.join(" ")]);
    }
    cx.num(RPL_WHOISSERVER, &[&i.nick, &server, &desc]);
    if i.modes.oper {
        cx.num(RPL_WHOISOPERATOR, &[&i.nick, "is an IRC operator"]);
    }
    if let Some(a) = &i.account {
        cx.num(RPL_WHOISACCOUNT, &[&i.nick, a, "is logged in as"]);
    }
    if c.tls {
        cx.num(RPL_WHOISSECURE, &[&i.nick, "is using a secure connection"]);
    }
    // The certificate fingerprint only to the user itself and to operators.
    if let Some(fp) = c
        .certfp
        .as_deref()
        .filter(|_| me.id == c.id || me.info().modes.oper)
    {
        let text = format!("has client certificate fingerprint {fp}");
        cx.num(RPL_WHOISCERTFP, &[&i.nick, &text]);
    }
    if i.modes.bot {
        let network = cx.server.config().network.clone();
        cx.num(RPL_WHOISBOT, &[&i.nick, &format!("is a Bot on {network}")]);
    }
    if me.id == c.id || me.info().modes.oper {
        cx.num(
            RPL_WHOISACTUALLY,
            &[&i.nick, &c.ip.to_canonical().to_string(), "actual IP"],
        );
    }
    if let Some(a) = &i.away {
        cx.num(RPL_AWAY, &[&i.nick, a]);
    }
    let idle = unix_now().saturating_sub(i.last_message.max(i.signon));
    cx.num(
        RPL_WHOISIDLE,
        &[
            &i.nick,
            &idle.to_string(),
            &i.signon.to_string(),
            "seconds idle, signon time",
        ],
    );
    cx.num(RPL_ENDOFWHOIS, &[&i.nick, "End of /WHOIS list"]);
    Ok(())
}

pub(super) fn whowas(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    let nick = msg.param(0).unwrap_or("");
    let count = msg
        .param(1)
        .and_then(|c| c.parse::<i64>().ok())
        .filter(|c| *c > 0)
        .unwrap_or(i64::MAX);
    let folded = cx.server.fold_nick(nick).unwrap_or_default();
    let entries: Vec<_> = {
        let w = cx.server.whowas.lock().expect("whowas lock");
        w.iter()
            .filter(|e| e.folded == folded)
            .take(count.min(1000) as usize)
            .cloned()
            .collect()
    };
    if entries.is_empty() {
        cx.num(ERR_WASNOSUCHNICK, &[nick, "There was no such nickname"]);
    }
    let server = cx.server_name().to_string();
    for e in entries {
        cx.num(
            RPL_WHOWASUSER,
            &[&e.nick, &e.user, &e.host, "*", &e.realname],
        );
        let when =
            crate::event::format_time(std::time::UNIX_EPOCH + std::time::Duration::from_secs(e.at));
        cx.num(RPL_WHOISSERVER, &[&e.nick, &server, &when]);
    }
    cx.num(RPL_ENDOFWHOWAS, &[nick, "End of WHOWAS"]);
    Ok(())
}
