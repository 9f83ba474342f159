//! TOPIC <#channel> [:<topic>]: show or set a channel's topic.

use ferry_proto::{numeric::*, Message};

use crate::channel::Topic;
use crate::ctx::{Ctx, Outcome, Reject};
use crate::membership::send_topic;
use crate::route;

pub(super) fn run(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    let name = msg.param(0).unwrap_or("");
    let Some(ch) = cx.server.find_channel(name) else {
        return Err(Reject::NoSuchChannel(name.into()));
    };
    let me = cx.me().clone();
    let Some(text) = msg.param(1) else {
        let (topic, visible) = {
            let st = ch.lock();
            (
                st.topic.clone(),
                st.members.contains_key(&me.id) || !st.modes.secret,
            )
        };
        if !visible {
            return Err(Reject::NotOnChannel(ch.name.clone()));
        }
        match topic {
            Some(t) => send_topic(cx, &ch.name, &t),
            None => cx.num(RPL_NOTOPIC, &[&ch.name, "No topic is set"]),
        }
        return Ok(());
    };
    let text: String = text
        .chars()
        .take(cx.server.config().limits.topic_length)
        .collect();
    let prefix = cx.prefix();
    let e = cx.event(format!(":{prefix} TOPIC {} :{text}\r\n", ch.name));
    let sendq = cx.sendq();
    {
        let mut st = ch.lock();
        let Some(p) = st.prefix_of(me.id) else {
            return Err(Reject::NotOnChannel(ch.name.clone()));
        };
        if st.modes.topic_lock && !p.op {
            return Err(Reject::ChanOpPrivsNeeded(ch.name.clone()));
        }
        st.topic = (!text.is_empty()).then(|| Topic {
            text: text.clone(),
            set_by: prefix.clone(),
            set_at: cx.server.clock.unix_secs(),
        });
        route::to_members(&st, Some(me.id), &e, sendq);
    }
    cx.push_event(&e);
    crate::chanserv::save(cx, &ch);
    // A channel event, replayed to clients with draft/event-playback.
    if !ch.keeps_history() {
        return Ok(());
    }
    let account = me.info().account.as_deref().map(str::to_string);
    cx.server.history.record(
        ch.folded.clone(),
        ferry_store::StoredMessage {
            msgid: e.msgid.clone().unwrap_or_default(),
            time_ms: e.time_ms,
            source: prefix,
            account,
            command: "TOPIC".into(),
            target: ch.name.clone(),
            text,
            tags: String::new(),
        },
    );
    Ok(())
}
