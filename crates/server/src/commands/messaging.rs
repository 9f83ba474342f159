//! PRIVMSG, NOTICE and TAGMSG to nicks, channels and channel status
//! groups; to NickServ; and to registered accounts that are offline, whose
//! messages wait in the store (docs/DURABILITY.md, docs/FRIENDS.md). Who
//! gets a message is `route`'s business; this file parses, keeps history
//! and answers the sender.

use ferry_proto::{numeric::*, Message};

use crate::accounts::{self, Waiting, NICKSERV};
use crate::caps::Cap;
use crate::channel::Prefix;
use crate::ctx::{Ctx, Outcome, Reject};
use crate::history::{dm_key_to, history_row};
use crate::route::{self, Kind, ToNick};
use crate::stats::Relayed;
use crate::text::{concat, truncate_utf8};

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
    if let Some(reference) = msg.tag("batch") {
        // A line of a multiline message, kept until its batch ends.
        return crate::multiline::line(cx, msg, kind, &reference);
    }
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
    let max = cx.server.config().limits.max_targets;
    let prefix = cx.prefix();
    let casemap = cx.server.config().casemap;
    let mut seen: Vec<String> = Vec::new();
    let mut waiting = Vec::new();
    // To nicks no user here holds, on a cluster: for it to find.
    let cluster = cx.server.cluster().is_some();
    let mut afar: Vec<crate::cluster::Afar> = Vec::new();
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
        let folded = seen.last().expect("just pushed");
        let mut self_note = false;
        // What recipients get fits their 512-byte line (Modern IRC): the
        // text is cut, at a character boundary, where the sender's prefix
        // would push the relayed line past it.
        // ":" prefix " " verb " " target " :" text "\r\n": 7 bytes besides.
        let room = 512usize.saturating_sub(7 + prefix.len() + verb.len() + target.len());
        let text = truncate_utf8(text, room);
        let body = match kind {
            Kind::Tagmsg => concat(&[":", &prefix, " ", verb, " ", target, "\r\n"]),
            _ => concat(&[":", &prefix, " ", verb, " ", target, " :", text, "\r\n"]),
        };
        let mut event = cx.event(body);
        event.client_tags = tags.clone();
        event.tags_only = kind == Kind::Tagmsg;
        let r = if let Some((status, chan)) = status_target(target) {
            route::to_channel(cx, chan, Some(status), &event).map(|_| ())
        } else if target.starts_with('#') {
            route::to_channel(cx, target, None, &event).map(|ch| {
                if ch.keeps_history() {
                    let row = history_row(&event, &prefix, kind.verb(), &ch.name, text);
                    cx.server.history.record(ch.folded.clone(), row);
                }
            })
        } else if target.eq_ignore_ascii_case(crate::chanserv::CHANSERV) && kind == Kind::Privmsg {
            crate::chanserv::chanserv(cx, text)?;
            continue;
        } else if target.eq_ignore_ascii_case(NICKSERV) && kind == Kind::Privmsg {
            // No echo: what is said to NickServ holds passwords.
            accounts::nickserv(cx, text)?;
            continue;
        } else {
            match route::to_nick(cx, target, folded, &event, kind) {
                Ok(ToNick::Sent { to, away }) => {
                    self_note = to.id == cx.me().id;
                    let key = dm_key_to(cx.server, cx.s, cx.me(), &to, folded);
                    let row = history_row(&event, &prefix, kind.verb(), target, text);
                    cx.server.history.record(key, row);
                    if let Some(away) = away.filter(|_| kind == Kind::Privmsg) {
                        let tnick = to.nick();
                        cx.num(RPL_AWAY, &[&tnick, &away]);
                    }
                    Ok(())
                }
                Ok(ToNick::Dropped) => Ok(()),
                // Answered already (707, 716, 717).
                Ok(ToNick::Refused) => continue,
                r @ (Ok(ToNick::Offline(_)) | Err(Reject::NoSuchNick(_))) if cluster => {
                    let account = match r {
                        Ok(ToNick::Offline(a)) => Some(a),
                        _ => None,
                    };
                    let stored = history_row(&event, &prefix, kind.verb(), target, text);
                    afar.push(crate::cluster::Afar {
                        target: target.to_string(),
                        folded: folded.clone(),
                        event,
                        stored,
                        account,
                    });
                    continue;
                }
                Ok(ToNick::Offline(account)) => {
                    let stored = history_row(&event, &prefix, kind.verb(), target, text);
                    waiting.push(Waiting {
                        account,
                        target: target.to_string(),
                        event,
                        stored,
                    });
                    continue;
                }
                Err(e) => Err(e),
            }
        };
        match r {
            Ok(()) => {
                cx.server.stats.relayed(Relayed {
                    verb: kind as u8,
                    channel: target.contains('#'),
                });
                if cx.caps().has(Cap::EchoMessage) {
                    cx.push_own(&event);
                }
                // The user's other devices see what this one sent (a note
                // to oneself reached them already).
                if !self_note {
                    cx.to_my_devices(&event);
                }
            }
            // No automatic reply to a NOTICE (RFC 2812).
            Err(_) if kind == Kind::Notice => {}
            Err(e) => cx.reject(e),
        }
    }
    if kind != Kind::Tagmsg {
        cx.me().info().last_message = cx.server.clock.unix_secs();
    }
    if !afar.is_empty() {
        crate::cluster::deliver_afar(cx, afar, waiting, kind);
    } else if !waiting.is_empty() {
        accounts::store_for_later(cx, waiting, kind);
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
