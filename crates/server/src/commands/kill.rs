//! KILL <nick> :<reason>: disconnect a user (operators).

use ferry_proto::Message;
use tracing::info;

use crate::ctx::{Ctx, Outcome, Reject};

pub(super) fn run(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    cx.require_oper()?;
    let me = cx.me().clone();
    let nick = msg.param(0).unwrap_or("");
    let reason = msg.param(1).unwrap_or("");
    let Some(target) = cx.server.find_nick(nick) else {
        return Err(Reject::NoSuchNick(nick.into()));
    };
    let by = me.nick();
    info!(target = %target.nick(), by = %by, reason, "kill");
    // The notice first: the target's own task may report its exit at once.
    cx.server.snote(
        'k',
        &format!(
            "Received KILL message for {} from {by} ({reason})",
            target.nick()
        ),
    );
    crate::lifecycle::kill_user(cx.server, &target, format!("Killed ({by} ({reason}))"));
    Ok(())
}
