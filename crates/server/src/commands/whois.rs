//! WHOIS [<server>] <nick>: details about a user.

use ferry_proto::{numeric::*, Message};

use crate::caps::Cap;
use crate::ctx::{Ctx, Outcome, Reject};

pub(super) fn run(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    let target = msg.params().last().copied().unwrap_or("");
    let target = target.split(',').next().unwrap_or("");
    let Some(c) = cx.server.find_nick(target) else {
        cx.reject(Reject::NoSuchNick(target.to_string()));
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
    let idle = cx
        .server
        .clock
        .unix_secs()
        .saturating_sub(i.last_message.max(i.signon));
    cx.num(
        RPL_WHOISIDLE,
        &[
            &i.nick,
            &idle.to_string(),
            &i.signon.to_string(),
            "seconds idle, signon time",
        ],
    );
    crate::metadata::whois(cx, &c);
    cx.num(RPL_ENDOFWHOIS, &[&i.nick, "End of /WHOIS list"]);
    Ok(())
}
