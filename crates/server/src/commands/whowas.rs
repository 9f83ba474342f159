//! WHOWAS <nick> [<count>]: who used a nick recently.

use ferry_proto::{numeric::*, Message};

use crate::ctx::{Ctx, Outcome};

pub(super) fn run(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
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
