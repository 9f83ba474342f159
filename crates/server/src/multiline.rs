//! Multiline messages (IRCv3 `draft/multiline`): a client sends `BATCH
//! +ref draft/multiline <target>`, lines of PRIVMSG (or NOTICE) tagged
//! `batch=ref` (`draft/multiline-concat` joins a line to the one before),
//! and `BATCH -ref`; the server relays the whole as one message.
//!
//! A recipient with the cap gets the batch (one msgid and time, on its
//! start); one without gets each non-blank line as a message of its own,
//! the first with the batch's msgid. History keeps those lines; an
//! offline account gets them like any messages. Limits (`max-bytes`,
//! `max-lines` in the cap's value) and malformed batches are answered
//! `FAIL BATCH MULTILINE_*`, and the batch is dropped.

use ferry_proto::{numeric::RPL_AWAY, Message};
use ferry_store::StoredMessage;

use crate::accounts::{self, Waiting};
use crate::caps::Cap;
use crate::ctx::{Ctx, Outcome, Reject};
use crate::event::Event;
use crate::history::{dm_key_to, history_row};
use crate::reply::Reply;
use crate::route::{self, Kind, Multi, ToNick};

/// Most bytes of text one batch carries (its lines' text, summed).
pub(crate) const MAX_BYTES: usize = 4096;
/// Most lines in one batch.
pub(crate) const MAX_LINES: usize = 32;
const CONCAT: &str = "draft/multiline-concat";

/// A batch being received.
#[derive(Debug)]
pub(crate) struct Open {
    reference: String,
    target: String,
    kind: Option<Kind>,
    /// (text, joined to the line before)
    lines: Vec<(String, bool)>,
    bytes: usize,
    /// The label on `BATCH +`: the answer comes at `BATCH -`.
    label: Option<String>,
    /// Client-only tags on `BATCH +`, for the whole message.
    client_tags: Option<String>,
    /// Refused already (FAIL sent): the rest is dropped.
    failed: bool,
}

fn fail(code: &'static str, context: Vec<String>, why: &str) -> Reject {
    Reject::Fail(code, context, why.into())
}

fn invalid(why: &str) -> Reject {
    fail("MULTILINE_INVALID", vec![], why)
}

/// `BATCH +<reference> draft/multiline <target>`.
pub(crate) fn start(
    cx: &mut Ctx<'_>,
    reference: &str,
    target: &str,
    client_tags: Option<String>,
) -> Outcome {
    if !cx.caps().has(Cap::Multiline) {
        return Err(fail(
            "MULTILINE_INVALID",
            vec![],
            "Request draft/multiline before sending a multiline batch",
        ));
    }
    let label = cx.reply.take_label();
    let nested = cx.s.more.multiline.replace(Box::new(Open {
        reference: reference.to_string(),
        target: target.to_string(),
        kind: None,
        lines: Vec::new(),
        bytes: 0,
        label,
        client_tags,
        failed: false,
    }));
    if nested.is_some() {
        cx.s.more.multiline = None;
        cx.s.more.tidy();
        return Err(invalid("A multiline batch was already open"));
    }
    Ok(())
}

/// A PRIVMSG or NOTICE tagged `batch=<reference>`.
pub(crate) fn line(cx: &mut Ctx<'_>, msg: &Message<'_>, kind: Kind, reference: &str) -> Outcome {
    // Its errors are the batch's: `FAIL BATCH ...`.
    let Some(open) = cx.s.more.if_made().and_then(|m| m.multiline.as_mut()) else {
        cx.verb = "BATCH".into();
        return Err(invalid("No multiline batch is open"));
    };
    if open.failed {
        return Ok(());
    }
    let text = msg.param(1).unwrap_or("");
    let concat = msg.tag(CONCAT).is_some();
    let refused = if open.reference != reference {
        Some(invalid("That is not the open batch"))
    } else if kind == Kind::Tagmsg || open.kind.is_some_and(|k| k != kind) {
        Some(invalid(
            "A multiline batch holds PRIVMSG or NOTICE lines, one kind",
        ))
    } else if msg.param(0) != Some(open.target.as_str()) {
        Some(fail(
            "MULTILINE_INVALID_TARGET",
            vec![open.target.clone(), msg.param(0).unwrap_or("*").into()],
            "Every line goes to the batch's target",
        ))
    } else if concat && text.is_empty() {
        Some(invalid("A blank line cannot be joined to the one before"))
    } else if open.lines.len() >= MAX_LINES {
        Some(fail(
            "MULTILINE_MAX_LINES",
            vec![MAX_LINES.to_string()],
            "Too many lines in the batch",
        ))
    } else if open.bytes + text.len() > MAX_BYTES {
        Some(fail(
            "MULTILINE_MAX_BYTES",
            vec![MAX_BYTES.to_string()],
            "Too many bytes in the batch",
        ))
    } else {
        None
    };
    if let Some(r) = refused {
        open.failed = true;
        cx.verb = "BATCH".into();
        return Err(r);
    }
    open.kind = Some(kind);
    open.bytes += text.len();
    open.lines.push((text.to_string(), concat));
    Ok(())
}

/// `BATCH -<reference>`: relays what the batch holds.
pub(crate) fn end(cx: &mut Ctx<'_>, reference: &str) -> Outcome {
    let Some(open) = cx.s.more.if_made().and_then(|m| m.multiline.take()) else {
        return Err(invalid("No multiline batch is open"));
    };
    cx.s.more.tidy();
    if open.failed {
        return Ok(());
    }
    if open.reference != reference {
        return Err(invalid("That is not the open batch"));
    }
    if open.lines.iter().all(|(t, _)| t.is_empty()) {
        return Err(invalid("The batch holds no text"));
    }
    relay(cx, *open)
}

/// What each kind of recipient gets: the batch, and its lines alone.
struct Forms {
    batched: Vec<Event>,
    fallback: Vec<Event>,
}

fn forms(cx: &Ctx<'_>, open: &Open, verb: &str) -> Forms {
    let prefix = cx.prefix();
    let target = &open.target;
    let id = cx.server.msgid();
    let mut head = cx.event(format!(
        ":{prefix} BATCH +{id} draft/multiline {target}\r\n"
    ));
    head.client_tags = open.client_tags.clone();
    let like = |body: String, tags: Option<String>, msgid: Option<String>| {
        let mut e = Event::new(body, cx.server.clock.wall());
        e.time = head.time.clone();
        e.time_ms = head.time_ms;
        e.account = head.account.clone();
        e.bot = head.bot;
        e.client_tags = tags;
        e.msgid = msgid;
        e
    };
    let mut batched = Vec::with_capacity(open.lines.len() + 2);
    let mut fallback = Vec::with_capacity(open.lines.len());
    for (text, concat) in &open.lines {
        let body = format!(":{prefix} {verb} {target} :{text}\r\n");
        let tag = if *concat {
            format!("batch={id};{CONCAT}")
        } else {
            format!("batch={id}")
        };
        batched.push(like(body.clone(), Some(tag), None));
        if !text.is_empty() {
            // The first line alone carries the message's msgid.
            let msgid = fallback.is_empty().then(|| head.msgid.clone()).flatten();
            fallback.push(like(body, open.client_tags.clone(), msgid));
        }
    }
    batched.push(like(format!(":{prefix} BATCH -{id}\r\n"), None, None));
    batched.insert(0, head);
    Forms { batched, fallback }
}

fn relay(cx: &mut Ctx<'_>, open: Open) -> Outcome {
    let kind = open.kind.unwrap_or(Kind::Privmsg);
    let f = forms(cx, &open, kind.verb());
    let folded = cx.server.config().casemap.fold_lossy(&open.target);
    let prefix = cx.prefix();
    // The answer carries the label given on `BATCH +`.
    cx.reply = Reply::new(&cx.server.name, open.label.clone());
    let sent = route::multiline(cx, &open.target, &folded, kind, &f.batched, &f.fallback);
    let rows = || stored_rows(cx, &f.fallback, &prefix, kind, &open.target);
    match sent {
        Ok(Multi::Channel(ch)) => {
            for row in rows().into_iter().filter(|_| ch.keeps_history()) {
                cx.server.history.record(ch.folded.clone(), row);
            }
        }
        Ok(Multi::Nick(ToNick::Sent { to, away })) => {
            let key = dm_key_to(cx.server, cx.s, cx.me(), &to, &folded);
            for row in rows() {
                cx.server.history.record(key.clone(), row);
            }
            if let Some(away) = away.filter(|_| kind == Kind::Privmsg) {
                let tnick = to.nick();
                cx.num(RPL_AWAY, &[&tnick, &away]);
            }
        }
        Ok(Multi::Nick(ToNick::Dropped)) => {}
        Ok(Multi::Nick(ToNick::Refused)) => return Ok(()),
        Ok(Multi::Nick(ToNick::Offline(account))) => {
            // Stored line by line, and echoed as such once stored.
            let waiting = f
                .fallback
                .iter()
                .cloned()
                .zip(rows())
                .map(|(event, stored)| Waiting {
                    account: account.clone(),
                    target: open.target.clone(),
                    event,
                    stored,
                })
                .collect();
            accounts::store_for_later(cx, waiting, kind);
            return Ok(());
        }
        Err(r) => return Err(r),
    }
    let multi = cx.caps().has(Cap::Multiline);
    if cx.caps().has(Cap::EchoMessage) {
        let forms = if multi { &f.batched } else { &f.fallback };
        for e in forms {
            cx.push_own(e);
        }
        if multi {
            cx.reply.as_one_batch();
        }
    }
    let (server, me, conn) = (cx.server, cx.me().clone(), cx.conn().id);
    for e in &f.batched {
        route::to_own_devices_if(server, &me, conn, e, |c| c.has(Cap::Multiline));
    }
    for e in &f.fallback {
        route::to_own_devices_if(server, &me, conn, e, |c| !c.has(Cap::Multiline));
    }
    Ok(())
}

/// The lines as history keeps them: the first under the batch's msgid,
/// the others under msgids of their own.
fn stored_rows(
    cx: &Ctx<'_>,
    lines: &[Event],
    source: &str,
    kind: Kind,
    target: &str,
) -> Vec<StoredMessage> {
    lines
        .iter()
        .map(|e| {
            let body = e.body_str();
            let text = body.split_once(" :").map(|(_, t)| t).unwrap_or("");
            let mut row = history_row(e, source, kind.verb(), target, text);
            if e.msgid.is_none() {
                row.msgid = cx.server.msgid_at(e.time_ms);
            }
            row
        })
        .collect()
}
