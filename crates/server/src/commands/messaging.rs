//! PRIVMSG, NOTICE and TAGMSG to nicks, channels and channel status groups.

use ferry_proto::{numeric::*, Message};

use super::{Ctx, Outcome, Reject};
use crate::caps::Cap;
use crate::channel::Prefix;
use crate::router::Event;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Privmsg,
    Notice,
    Tagmsg,
}

impl Kind {
    fn verb(self) -> &'static str {
        match self {
            Kind::Privmsg => "PRIVMSG",
            Kind::Notice => "NOTICE",
            Kind::Tagmsg => "TAGMSG",
        }
    }
}

pub(super) fn privmsg(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    relay(cx, msg, Kind::Privmsg)
}

pub(super) fn notice(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    relay(cx, msg, Kind::Notice)
}

pub(super) fn tagmsg(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    relay(cx, msg, Kind::Tagmsg)
}

/// Client-only tags worth relaying, escaped as received.
fn client_tags(msg: &Message<'_>) -> Option<String> {
    let mut out = String::new();
    for t in msg.tags().filter(|t| t.is_client_only()) {
        if !out.is_empty() {
            out.push(';');
        }
        out.push_str(t.key);
        if let Some(v) = t.raw_value.filter(|v| !v.is_empty()) {
            out.push('=');
            out.push_str(v);
        }
    }
    (!out.is_empty()).then_some(out)
}

fn relay(cx: &mut Ctx<'_>, msg: &Message<'_>, kind: Kind) -> Outcome {
    let verb = kind.verb();
    let Some(targets) = msg.param(0).filter(|t| !t.is_empty()) else {
        return Err(Reject::Numeric(
            ERR_NORECIPIENT,
            vec![format!("No recipient given ({verb})")],
        ));
    };
    let text = msg.param(1).unwrap_or("");
    if kind != Kind::Tagmsg && text.is_empty() {
        return Err(Reject::Numeric(
            ERR_NOTEXTTOSEND,
            vec!["No text to send".into()],
        ));
    }
    let tags = if cx.caps().has(Cap::MessageTags) {
        client_tags(msg)
    } else {
        None
    };
    if kind == Kind::Tagmsg && tags.is_none() && msg.tags_raw.is_none() {
        return Ok(());
    }
    let max = cx.server.config.limits.max_targets;
    let prefix = cx.prefix();
    let casemap = cx.server.config.casemap;
    let mut seen: Vec<String> = Vec::new();
    for (i, target) in targets.split(',').filter(|t| !t.is_empty()).enumerate() {
        if i >= max {
            cx.num(
                ERR_TOOMANYTARGETS,
                &[target, "Too many targets. Message not delivered"],
            );
            continue;
        }
        let folded = casemap.fold_lossy(target);
        if seen.contains(&folded) {
            continue;
        }
        seen.push(folded);
        let body = match kind {
            Kind::Tagmsg => format!(":{prefix} {verb} {target}\r\n"),
            _ => format!(":{prefix} {verb} {target} :{text}\r\n"),
        };
        let mut event = cx.event(body);
        event.client_tags = tags.clone();
        event.tags_only = kind == Kind::Tagmsg;
        let r = if let Some((status, chan)) = status_target(target) {
            to_channel(cx, chan, Some(status), &event, kind)
        } else if target.starts_with('#') {
            to_channel(cx, target, None, &event, kind)
        } else {
            to_nick(cx, target, &event, kind)
        };
        match r {
            Ok(()) => {
                if cx.caps().has(Cap::EchoMessage) {
                    cx.push_event(&event);
                }
            }
            Err(e) if kind == Kind::Notice => drop(e),
            Err(e) => super::reject(cx, e),
        }
    }
    if kind != Kind::Tagmsg {
        cx.me().info().last_message = crate::unix_now();
    }
    Ok(())
}

/// `@#chan` / `+#chan`: the lowest prefix a recipient must have.
fn status_target(t: &str) -> Option<(Prefix, &str)> {
    let mut chars = t.chars();
    let p = match chars.next()? {
        '@' => Prefix {
            op: true,
            voice: false,
        },
        '+' => Prefix {
            op: false,
            voice: true,
        },
        _ => return None,
    };
    let rest = chars.as_str();
    rest.starts_with('#').then_some((p, rest))
}

fn to_channel(
    cx: &mut Ctx<'_>,
    name: &str,
    status: Option<Prefix>,
    e: &Event,
    kind: Kind,
) -> Outcome {
    let Some(ch) = cx.server.find_channel(name) else {
        return Err(Reject::NoSuchChannel(name.into()));
    };
    let me = cx.me().clone();
    let mask = cx.server.config.casemap.fold_lossy(&me.info().prefix());
    let sendq = cx.sendq();
    let st = ch.lock();
    if !st.can_send(me.id, &mask) {
        let reason = if !st.members.contains_key(&me.id) && st.modes.no_external {
            "Cannot send to channel (no external messages)"
        } else if st.modes.moderated {
            "Cannot send to channel (+m)"
        } else {
            "Cannot send to channel (you're banned)"
        };
        drop(st);
        let _ = kind;
        return Err(Reject::Numeric(
            ERR_CANNOTSENDTOCHAN,
            vec![ch.name.clone(), reason.into()],
        ));
    }
    for (id, m) in &st.members {
        if *id == me.id {
            continue;
        }
        if let Some(need) = status {
            let ok = if need.op {
                m.prefix.op
            } else {
                m.prefix.op || m.prefix.voice
            };
            if !ok {
                continue;
            }
        }
        e.deliver(&m.client, sendq);
    }
    Ok(())
}

fn to_nick(cx: &mut Ctx<'_>, nick: &str, e: &Event, kind: Kind) -> Outcome {
    let Some(target) = cx.server.find_nick(nick) else {
        return Err(Reject::NoSuchNick(nick.into()));
    };
    // With echo-message, a note to oneself arrives once, as the echo.
    if target.id != cx.me().id || !cx.caps().has(Cap::EchoMessage) {
        e.deliver(&target, cx.sendq());
    }
    if kind == Kind::Privmsg {
        let (tnick, away) = {
            let i = target.info();
            (i.nick.clone(), i.away.clone())
        };
        if let Some(away) = away {
            cx.num(RPL_AWAY, &[&tnick, &away]);
        }
    }
    Ok(())
}
