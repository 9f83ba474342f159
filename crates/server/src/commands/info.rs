//! The server-information replies, one family of fixed answers about this
//! server: MOTD, LUSERS, VERSION, TIME, ADMIN, INFO, LINKS, HELP (and its
//! alias HELPOP).

use ferry_proto::{numeric::*, Message};

use crate::ctx::{Ctx, Outcome, Reject};
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
    let now = crate::event::format_time(cx.server.clock.wall());
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
