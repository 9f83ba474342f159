//! REDACT (IRCv3 `draft/message-redaction`): `REDACT <target> <msgid>
//! [:<reason>]` takes a message back. Its sender may within
//! `history.redact_window`; a channel operator (for the channel) and an
//! IRC operator at any time. The message leaves history (its text is
//! erased from the disk: `ferry_store::HistoryStore::redact_history`) and,
//! for a direct message not yet delivered, the recipient's offline queue,
//! so it never arrives; everyone with the cap who got it is sent the
//! REDACT. Errors are the spec's FAILs: INVALID_TARGET, UNKNOWN_MSGID,
//! REDACT_FORBIDDEN, REDACT_WINDOW_EXPIRED.

use ferry_proto::Message;
use ferry_store::StoredMessage;

use crate::caps::Cap;
use crate::ctx::{then, Ctx, Outcome, Reject};
use crate::history_read::{find, readable};
use crate::route;

/// What the store found, judged.
enum Verdict {
    Unknown,
    Forbidden,
    /// Past the window (its length in seconds).
    Expired(u64),
    Done,
}

/// Who is asking, as the judgement in the store needs it.
struct Asker {
    account: Option<String>,
    nick: Option<String>,
    casemap: ferry_proto::Casemap,
    /// May redact any message of this conversation (channel or IRC
    /// operator), at any time.
    moderator: bool,
    window_ms: i64,
    now_ms: i64,
}

impl Asker {
    fn judge(&self, m: &StoredMessage) -> Verdict {
        if self.moderator {
            return Verdict::Done;
        }
        let by_account = match (&m.account, &self.account) {
            (Some(theirs), Some(mine)) => self.casemap.fold_lossy(theirs) == *mine,
            _ => false,
        };
        // A message sent without an account: its nick is all there is.
        let by_nick = m.account.is_none()
            && self.nick.as_deref().is_some_and(|mine| {
                let nick = m.source.split('!').next().unwrap_or("");
                self.casemap.fold_lossy(nick) == mine
            });
        if !(by_account || by_nick) {
            Verdict::Forbidden
        } else if self.now_ms.saturating_sub(m.time_ms) > self.window_ms {
            Verdict::Expired((self.window_ms / 1000) as u64)
        } else {
            Verdict::Done
        }
    }
}

pub(super) fn run(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    let (Some(target), Some(msgid)) = (
        msg.param(0).filter(|t| !t.is_empty()),
        msg.param(1).filter(|m| !m.is_empty()),
    ) else {
        return Err(Reject::NeedMoreParams);
    };
    let reason = msg.param(2).filter(|r| !r.is_empty()).map(str::to_string);
    let (target, msgid) = (target.to_string(), msgid.to_string());
    let Some(readable) = readable(cx, &target) else {
        return Err(Reject::Fail(
            "INVALID_TARGET",
            vec![target],
            "You are not on that channel, or that is not a nickname".into(),
        ));
    };
    let me = cx.me().clone();
    let chanop = target.starts_with('#')
        && cx
            .server
            .find_channel(&target)
            .is_some_and(|ch| ch.lock().members.get(&me.id).is_some_and(|m| m.prefix.op));
    let cfg = cx.server.config();
    let asker = Asker {
        account: cx.s.account.clone(),
        nick: cx.s.folded_nick.clone(),
        casemap: cfg.casemap,
        moderator: chanop || me.info().modes.oper,
        window_ms: cfg.history.redact_window.as_millis() as i64,
        now_ms: cx.server.clock.unix_ms(),
    };
    // A direct message may still wait for its recipient.
    let waiting_for = (!target.starts_with('#'))
        .then(|| cx.server.fold_nick(&target))
        .flatten()
        .filter(|a| cx.server.registered_names.contains(a));
    drop(cfg);
    let server = cx.server_arc();
    cx.defer(async move {
        // What was relayed in the last second is still on its way to the log.
        server.history.flush().await;
        let id = msgid.clone();
        let r = server
            .store(move |s| {
                // Under the channel's name now, or a former one.
                let Some((k, m)) = find(s, &readable, &id)? else {
                    return Ok(Verdict::Unknown);
                };
                let v = asker.judge(&m);
                if matches!(v, Verdict::Done) {
                    s.redact_history(&k, &id)?;
                    if let Some(account) = waiting_for {
                        s.redact_offline(&account, &id)?;
                    }
                }
                Ok(v)
            })
            .await;
        then(move |cx: &mut Ctx<'_>| {
            let ctx = [target.as_str(), msgid.as_str()];
            match r {
                Err(_) => cx.fail(
                    "INTERNAL_ERROR",
                    &ctx,
                    "Could not redact the message now, try again",
                ),
                Ok(Verdict::Unknown) => cx.fail(
                    "UNKNOWN_MSGID",
                    &ctx,
                    "No such message in this conversation",
                ),
                Ok(Verdict::Forbidden) => cx.fail(
                    "REDACT_FORBIDDEN",
                    &ctx,
                    "You may only redact your own messages",
                ),
                Ok(Verdict::Expired(secs)) => cx.fail(
                    "REDACT_WINDOW_EXPIRED",
                    &[&target, &msgid, &secs.to_string()],
                    "It is too late to redact that message",
                ),
                Ok(Verdict::Done) => relay(cx, &target, &msgid, reason.as_deref()),
            }
        })
    });
    Ok(())
}

/// Tells everyone with the cap who may have the message: the channel's
/// members, or the other party of a direct conversation; and this user's
/// devices (this one included).
fn relay(cx: &mut Ctx<'_>, target: &str, msgid: &str, reason: Option<&str>) {
    let prefix = cx.prefix();
    let body = match reason {
        Some(r) => format!(":{prefix} REDACT {target} {msgid} :{r}\r\n"),
        None => format!(":{prefix} REDACT {target} {msgid}\r\n"),
    };
    let mut e = cx.event(body);
    e.needs = Some(Cap::MessageRedaction);
    if target.starts_with('#') {
        if let Some(ch) = cx.server.find_channel(target) {
            let me = cx.me().id;
            route::to_members(&ch.lock(), Some(me), &e, cx.sendq());
        }
    } else if let Some(to) = cx.server.find_nick(target) {
        if to.id != cx.me().id {
            route::to_user(cx.server, &to, &e);
        }
    }
    cx.push_event(&e);
}
