//! MARKREAD (IRCv3 `draft/read-marker`): `MARKREAD <target>` asks where
//! the user has read `target` up to; `MARKREAD <target>
//! timestamp=<time>` moves that marker (only ever forward). The server's
//! answer is `MARKREAD <target> timestamp=<time>` or `MARKREAD <target>
//! *`; the markers themselves live in `accounts::markers`.

use ferry_proto::validate::{is_valid_channel, is_valid_nick};
use ferry_proto::Message;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::accounts::{send_marker, set_marker};
use crate::ctx::{Ctx, Outcome, Reject};

pub(super) fn run(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    let Some(target) = msg.param(0).filter(|t| !t.is_empty()) else {
        return Err(Reject::Fail(
            "NEED_MORE_PARAMS",
            vec![],
            "Missing parameters".into(),
        ));
    };
    if !valid_target(cx, target) {
        return Err(invalid(target, "Not a channel or a nickname"));
    }
    let Some(ts) = msg.param(1) else {
        send_marker(cx, target);
        return Ok(());
    };
    // `*` is the server's word for "nothing read"; a client only sets.
    let ms = ts
        .strip_prefix("timestamp=")
        .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
        .ok_or_else(|| {
            invalid(
                target,
                "The timestamp must be timestamp=YYYY-MM-DDThh:mm:ss.sssZ",
            )
        })?;
    set_marker(cx, target, ms);
    Ok(())
}

fn invalid(target: &str, why: &str) -> Reject {
    Reject::Fail("INVALID_PARAMS", vec![target.to_string()], why.into())
}

/// A channel name or a nick (a marker needs no such channel or user to
/// exist: the conversation may be gone, or its other party offline).
fn valid_target(cx: &Ctx<'_>, t: &str) -> bool {
    let config = cx.server.config();
    let l = &config.limits;
    if t.starts_with('#') {
        is_valid_channel(t, config.casemap, l.channel_length)
    } else {
        is_valid_nick(t, config.casemap, l.nick_length)
    }
}
