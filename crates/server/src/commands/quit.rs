//! QUIT [:<reason>]: what happens next is `lifecycle`'s business.

use ferry_proto::Message;

use crate::ctx::{Ctx, Outcome};

pub(super) fn run(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    let text = match msg.param(0).filter(|t| !t.is_empty()) {
        Some(t) => format!("Quit: {t}"),
        None => "Client Quit".into(),
    };
    cx.s.quit = Some(text.into());
    Ok(())
}
