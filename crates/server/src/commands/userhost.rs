//! USERHOST <nick> [<nick>...]: user@host of up to five nicks.

use ferry_proto::{numeric::*, Message};

use crate::ctx::{Ctx, Outcome};

pub(super) fn run(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
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
