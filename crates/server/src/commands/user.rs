//! USER <username> <mode> <unused> :<realname>, before registration.

use ferry_proto::Message;

use crate::ctx::{Ctx, Outcome, Reject};
use crate::lifecycle::try_register;

pub(super) fn run(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    if cx.s.registered {
        return Err(Reject::AlreadyRegistered);
    }
    let username = msg.param(0).unwrap_or("");
    let realname = msg.param(3).unwrap_or("");
    if username.is_empty() || realname.is_empty() {
        return Err(Reject::NeedMoreParams);
    }
    let clean: String = username
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(17)
        .collect();
    let clean = if clean.is_empty() {
        "user".to_string()
    } else {
        clean
    };
    let max = cx.server.config().limits.realname_length;
    let realname: String = realname.chars().take(max).collect();
    {
        // Known from now on (SASL's 900 before registration shows it).
        let mut info = cx.me().info();
        info.user = format!("~{clean}").into();
        info.realname = realname.as_str().into();
    }
    cx.s.user = Some(Box::new((format!("~{clean}"), realname)));
    try_register(cx);
    Ok(())
}
