//! PING <token> and PONG: one family, the keep-alive exchange (the
//! server's own PINGs and their timeouts live in the connection driver).

use ferry_proto::Message;

use crate::ctx::{Ctx, Outcome};

pub(super) fn ping(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    let token = msg.param(0).unwrap_or("");
    let server = cx.server_name().to_string();
    cx.reply.line(
        ferry_proto::Line::new()
            .source(&server)
            .verb("PONG")
            .param(&server)
            .trailing(token)
            .as_str()
            .into(),
    );
    Ok(())
}

pub(super) fn pong(_cx: &mut Ctx<'_>, _msg: &Message<'_>) -> Outcome {
    Ok(())
}
