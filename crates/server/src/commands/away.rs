//! AWAY [:<message>]: mark yourself away, or back.

use ferry_proto::{numeric::*, Message};

use crate::caps::Cap;
use crate::ctx::{Ctx, Outcome};
use crate::event::Event;
use crate::route::notify_peers;

pub(super) fn run(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    let max = cx.server.config().limits.away_length;
    let text: Option<String> = msg
        .param(0)
        .filter(|t| !t.is_empty())
        .map(|t| t.chars().take(max).collect());
    let me = cx.me().clone();
    let prefix = {
        let mut i = me.info();
        i.away = text.as_deref().map(Into::into);
        i.prefix()
    };
    match &text {
        Some(_) => cx.num(RPL_NOWAWAY, &["You have been marked as being away"]),
        None => cx.num(RPL_UNAWAY, &["You are no longer marked as being away"]),
    }
    let e = match &text {
        Some(t) => Event::new(format!(":{prefix} AWAY :{t}\r\n"), cx.server.clock.wall()),
        None => Event::new(format!(":{prefix} AWAY\r\n"), cx.server.clock.wall()),
    };
    notify_peers(
        cx.server,
        &me,
        cx.s.folded_nick.as_deref(),
        Cap::AwayNotify,
        &e,
    );
    Ok(())
}
