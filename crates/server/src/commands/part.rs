//! PART <#channel>[,<#channel>] [:<reason>].

use ferry_proto::Message;

use crate::ctx::{Ctx, Outcome, Reject};
use crate::membership::part_one;

pub(super) fn run(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    let reason = msg.param(1).unwrap_or("");
    for name in msg
        .param(0)
        .unwrap_or("")
        .split(',')
        .filter(|n| !n.is_empty())
    {
        let Some(ch) = cx.server.find_channel(name) else {
            cx.reject(Reject::NoSuchChannel(name.into()));
            continue;
        };
        if !part_one(cx, &ch, reason) {
            cx.reject(Reject::NotOnChannel(ch.name.clone()));
        }
    }
    Ok(())
}
