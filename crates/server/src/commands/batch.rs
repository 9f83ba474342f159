//! BATCH from a client: `BATCH +<ref> draft/multiline <target>` opens a
//! multiline message, `BATCH -<ref>` sends it (`crate::multiline`). No
//! other client batch type is known.

use ferry_proto::Message;

use crate::ctx::{Ctx, Outcome, Reject};
use crate::multiline;

pub(super) fn run(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    let Some(r) = msg.param(0) else {
        return Err(Reject::NeedMoreParams);
    };
    if let Some(reference) = r.strip_prefix('-') {
        return multiline::end(cx, reference);
    }
    let Some(reference) = r.strip_prefix('+').filter(|r| !r.is_empty()) else {
        return Err(Reject::Fail(
            "INVALID_PARAMS",
            vec![r.to_string()],
            "A batch reference starts with + or -".into(),
        ));
    };
    match (msg.param(1), msg.param(2)) {
        (Some("draft/multiline"), Some(target)) if !target.is_empty() => {
            multiline::start(cx, reference, target, client_tags(msg))
        }
        (Some("draft/multiline"), _) => Err(Reject::NeedMoreParams),
        (Some(other), _) => Err(Reject::Fail(
            "UNKNOWN_TYPE",
            vec![other.to_string()],
            "Unknown batch type".into(),
        )),
        (None, _) => Err(Reject::NeedMoreParams),
    }
}

/// Client-only tags of the `BATCH +` line, escaped as received.
fn client_tags(msg: &Message<'_>) -> Option<String> {
    let tags: Vec<String> = msg
        .tags()
        .filter(|t| t.is_client_only())
        .map(|t| match t.raw_value.filter(|v| !v.is_empty()) {
            Some(v) => format!("{}={v}", t.key),
            None => t.key.to_string(),
        })
        .collect();
    (!tags.is_empty()).then(|| tags.join(";"))
}
