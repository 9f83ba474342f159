//! ISON <nick> [<nick>...]: which of these nicks are online.

use ferry_proto::{numeric::*, Message};

use crate::ctx::{Ctx, Outcome};

pub(super) fn run(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
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
