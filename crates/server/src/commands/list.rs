//! LIST [<filters>]: channels, with the ELIST filters (masks, user counts,
//! creation and topic times).

use std::sync::Arc;

use ferry_proto::{numeric::*, Message};

use crate::channel::Channel;
use crate::ctx::{Ctx, Outcome};

/// One ELIST condition of LIST.
enum Filter {
    Mask(String, bool),
    UsersAbove(usize),
    UsersBelow(usize),
    CreatedBefore(u64),
    CreatedAfter(u64),
    TopicBefore(u64),
    TopicAfter(u64),
}

fn parse_filter(f: &str, now: u64, casemap: ferry_proto::Casemap) -> Option<Filter> {
    let minutes = |s: &str| s.parse::<u64>().ok().map(|m| now.saturating_sub(m * 60));
    if let Some(n) = f.strip_prefix('>') {
        return n.parse().ok().map(Filter::UsersAbove);
    }
    if let Some(n) = f.strip_prefix('<') {
        return n.parse().ok().map(Filter::UsersBelow);
    }
    // C<n: created less than n minutes ago; C>n: more than n minutes ago.
    if let Some(n) = f.strip_prefix("C<") {
        return minutes(n).map(Filter::CreatedAfter);
    }
    if let Some(n) = f.strip_prefix("C>") {
        return minutes(n).map(Filter::CreatedBefore);
    }
    if let Some(n) = f.strip_prefix("T<") {
        return minutes(n).map(Filter::TopicAfter);
    }
    if let Some(n) = f.strip_prefix("T>") {
        return minutes(n).map(Filter::TopicBefore);
    }
    if let Some(m) = f.strip_prefix('!') {
        return Some(Filter::Mask(casemap.fold_lossy(m), false));
    }
    Some(Filter::Mask(casemap.fold_lossy(f), true))
}

pub(super) fn run(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    let now = cx.server.clock.unix_secs();
    let casemap = cx.server.config().casemap;
    let filters: Vec<Filter> = msg
        .param(0)
        .unwrap_or("")
        .split(',')
        .filter(|f| !f.is_empty())
        .filter_map(|f| parse_filter(f, now, casemap))
        .collect();
    let me = cx.me().id;
    let chans: Vec<Arc<Channel>> = cx.server.registry.channels();
    cx.num(RPL_LISTSTART, &["Channel", "Users  Name"]);
    let masks: Vec<&Filter> = filters
        .iter()
        .filter(|f| matches!(f, Filter::Mask(_, true)))
        .collect();
    for ch in chans {
        let (visible, count, topic, created, topic_at, modes) = {
            let st = ch.lock();
            let member = st.members.contains_key(&me);
            (
                !st.modes.secret || member,
                st.members.len(),
                st.topic
                    .as_ref()
                    .map(|t| t.text.clone())
                    .unwrap_or_default(),
                st.created,
                st.topic.as_ref().map(|t| t.set_at).unwrap_or(0),
                st.modes.to_mode_string(member).0,
            )
        };
        if !visible {
            continue;
        }
        let name_ok = masks.is_empty()
            || masks.iter().any(
                |f| matches!(f, Filter::Mask(m, _) if ferry_proto::mask::matches(m, &ch.folded)),
            );
        let ok = name_ok
            && filters.iter().all(|f| match f {
                Filter::Mask(_, true) => true,
                Filter::Mask(m, false) => !ferry_proto::mask::matches(m, &ch.folded),
                Filter::UsersAbove(n) => count > *n,
                Filter::UsersBelow(n) => count < *n,
                Filter::CreatedBefore(t) => created < *t,
                Filter::CreatedAfter(t) => created > *t,
                Filter::TopicBefore(t) => topic_at < *t,
                Filter::TopicAfter(t) => topic_at > *t,
            });
        if ok {
            cx.num(
                RPL_LIST,
                &[&ch.name, &count.to_string(), &format!("[{modes}] {topic}")],
            );
        }
    }
    cx.num(RPL_LISTEND, &["End of /LIST"]);
    Ok(())
}
