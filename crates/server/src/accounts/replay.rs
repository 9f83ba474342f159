//! One renderer for stored messages, shared by history (CHATHISTORY, the
//! replay after a SendQ cut-off) and offline delivery, and built on the same
//! tag writer as live delivery (`event::write_tags`): a replayed line is
//! the live line, but for the `batch` tag (and `bot`, which is not stored).

use ferry_store::StoredMessage;

use crate::caps::{Cap, Caps};
use crate::ctx::Ctx;
use crate::event::{format_millis, write_tags, Tags};
use crate::reply::Reply;

/// Where the rendered lines are going.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// CHATHISTORY and the SendQ replay: channel events (JOIN, TOPIC, ...)
    /// only with event-playback.
    History,
    /// Messages that waited for an offline account, addressed to its
    /// current nick; without server-time or a batch, the time goes in the
    /// text.
    Offline,
}

/// The tags (escaped, no `@`) and the line (no CRLF) of one stored message
/// for a client with `caps`, or `None` when it should not see it.
/// `target` replaces the stored target (offline: the recipient's nick).
pub(crate) fn render(
    m: &StoredMessage,
    caps: Caps,
    batch: Option<&str>,
    target: Option<&str>,
    purpose: Purpose,
) -> Option<(String, String)> {
    // TAGMSG and channel events are "events": only with event-playback.
    let is_message = matches!(m.command.as_str(), "PRIVMSG" | "NOTICE");
    if purpose == Purpose::History && !is_message && !caps.has(Cap::EventPlayback) {
        return None;
    }
    if m.command == "TAGMSG" && !caps.has(Cap::MessageTags) {
        return None;
    }
    let mut tags = String::new();
    let mut caps = caps;
    if let Some(id) = batch {
        tags.push_str("batch=");
        tags.push_str(id);
        // A batched replay always says when each message was sent.
        caps.set(Cap::ServerTime, true);
    }
    let time = format_millis(m.time_ms);
    write_tags(
        &mut tags,
        caps,
        &Tags {
            time: &time,
            account: m.account.as_deref(),
            bot: false,
            msgid: Some(&m.msgid),
            client_tags: Some(&m.tags),
        },
    );
    let target = target.unwrap_or(&m.target);
    let timed;
    let text = if purpose == Purpose::Offline && !caps.has(Cap::ServerTime) {
        // No way to carry the time: say it in the text.
        timed = format!("[{time}] {}", m.text);
        &timed
    } else {
        &m.text
    };
    let line = match m.command.as_str() {
        "TAGMSG" => format!(":{} TAGMSG {target}", m.source),
        _ if text.is_empty() => format!(":{} {} {target}", m.source, m.command),
        _ => format!(":{} {} {target} :{text}", m.source, m.command),
    };
    Some((tags, line))
}

/// Renders `rows` into `out` for a client with `caps`, in a `chathistory`
/// batch named for `batch_target` when the client has batch.
pub(crate) fn render_batch(
    out: &mut Reply,
    cx: &Ctx<'_>,
    batch_target: &str,
    rows: impl IntoIterator<Item = impl std::borrow::Borrow<StoredMessage>>,
    target: Option<&str>,
    purpose: Purpose,
) {
    let caps = cx.caps();
    let batch = caps.has(Cap::Batch).then(|| cx.server.msgid());
    let server = cx.server_name();
    if let Some(id) = &batch {
        out.line(format!(":{server} BATCH +{id} chathistory {batch_target}"));
    }
    for m in rows {
        if let Some((tags, line)) = render(m.borrow(), caps, batch.as_deref(), target, purpose) {
            out.push(tags, line);
        }
    }
    if let Some(id) = &batch {
        out.line(format!(":{server} BATCH -{id}"));
    }
}

/// Messages a registered channel saw while this account was away, for a
/// client without chathistory: in a batch if it has `batch`, else with
/// their time in the text.
pub(crate) fn send_missed(cx: &mut Ctx<'_>, chname: &str, rows: &[StoredMessage]) {
    let mut reply = std::mem::take(&mut cx.reply);
    render_batch(&mut reply, cx, chname, rows, None, Purpose::Offline);
    cx.reply = reply;
}

/// Stored messages of one conversation for this client, in its reply.
pub(crate) fn send_batch(cx: &mut Ctx<'_>, target: &str, rows: &[StoredMessage]) {
    let mut reply = std::mem::take(&mut cx.reply);
    render_batch(&mut reply, cx, target, rows, None, Purpose::History);
    cx.reply = reply;
}
