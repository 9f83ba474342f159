//! PASS <password>: the connection password, before registration.

use ferry_proto::Message;

use crate::ctx::{Ctx, Outcome, Reject};

pub(super) fn run(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    if cx.s.registered {
        return Err(Reject::AlreadyRegistered);
    }
    cx.s.more.pass = msg.param(0).map(str::to_string);
    Ok(())
}
