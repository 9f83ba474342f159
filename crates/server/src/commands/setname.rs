//! SETNAME :<realname>: change your real name (IRCv3 setname).

use ferry_proto::Message;

use crate::caps::Cap;
use crate::ctx::{Ctx, Outcome, Reject};
use crate::route::notify_peers;

pub(super) fn run(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    let name = msg.param(0).unwrap_or("");
    if name.is_empty() || name.chars().count() > cx.server.config().limits.realname_length {
        return Err(Reject::Fail(
            "INVALID_REALNAME",
            vec![],
            "Realname is not valid".into(),
        ));
    }
    let me = cx.me().clone();
    let prefix = {
        let mut i = me.info();
        i.realname = name.into();
        i.prefix()
    };
    let e = cx.event(format!(":{prefix} SETNAME :{name}\r\n"));
    if cx.caps().has(Cap::Setname) {
        cx.push_event(&e);
    }
    notify_peers(
        cx.server,
        &me,
        cx.s.folded_nick.as_deref(),
        Cap::Setname,
        &e,
    );
    Ok(())
}
