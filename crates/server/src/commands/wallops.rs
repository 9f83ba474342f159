//! WALLOPS :<text>: a message to every user with mode +w (operators).

use ferry_proto::Message;

use crate::ctx::{Ctx, Outcome};
use crate::event::Event;
use crate::route;

pub(super) fn run(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    cx.require_oper()?;
    let me = cx.me().clone();
    let text = msg.param(0).unwrap_or("");
    let e = Event::new(
        format!(":{} WALLOPS :{text}\r\n", cx.prefix()),
        cx.server.clock.wall(),
    );
    if route::wallops(cx.server, &me, &e) {
        cx.push_event(&e);
    }
    Ok(())
}
