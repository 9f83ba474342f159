//! NAMES [<#channel>[,<#channel>]]: who is on a channel.

use ferry_proto::{numeric::*, Message};

use crate::ctx::{Ctx, Outcome};
use crate::membership::send_names_lines;

pub(super) fn run(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    let Some(list) = msg.param(0).filter(|p| !p.is_empty()) else {
        cx.num(RPL_ENDOFNAMES, &["*", "End of /NAMES list"]);
        return Ok(());
    };
    // One 366 at the end, naming what was asked for (RFC 2812, Modern IRC).
    for name in list.split(',').filter(|n| !n.is_empty()) {
        if let Some(ch) = cx.server.find_channel(name) {
            send_names_lines(cx, &ch);
        }
    }
    cx.num(RPL_ENDOFNAMES, &[list, "End of /NAMES list"]);
    Ok(())
}
