//! CHATHISTORY (IRCv3 draft/chathistory): channel and direct-message
//! history from the store, and TARGETS.

use ferry_proto::Message;
use ferry_store::{Bound, HistoryQuery};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::accounts::send_batch;
use crate::caps::Cap;
use crate::chanserv::Cutoff;
use crate::ctx::{then, Ctx, Outcome, Reject};
use crate::event::format_millis;
use crate::history::my_identity;
use crate::history_read::readable;

fn invalid_params(sub: &str, text: &str) -> Reject {
    Reject::Fail("INVALID_PARAMS", vec![sub.to_string()], text.to_string())
}

/// `timestamp=...` or `msgid=...`.
fn parse_ref(s: &str) -> Option<Bound> {
    if let Some(ts) = s.strip_prefix("timestamp=") {
        let t = OffsetDateTime::parse(ts, &Rfc3339).ok()?;
        return Some(Bound::Time((t.unix_timestamp_nanos() / 1_000_000) as i64));
    }
    s.strip_prefix("msgid=")
        .filter(|m| !m.is_empty())
        .map(|m| Bound::Msgid(m.to_string()))
}

fn parse_limit(cx: &Ctx<'_>, s: Option<&str>) -> Option<usize> {
    let n: usize = s?.parse().ok()?;
    Some(n.min(cx.server.config().history.max_query))
}

pub(super) fn run(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    let sub = msg.param(0).unwrap_or("").to_ascii_uppercase();
    if sub == "TARGETS" {
        return targets(cx, msg);
    }
    let Some(target) = msg.param(1).filter(|t| !t.is_empty()) else {
        return Err(Reject::NeedMoreParams);
    };
    let query = match sub.as_str() {
        "LATEST" => match msg.param(2) {
            Some("*") => HistoryQuery::Latest(None),
            Some(r) => HistoryQuery::Latest(Some(
                parse_ref(r).ok_or_else(|| invalid_params(&sub, "Bad reference"))?,
            )),
            None => return Err(Reject::NeedMoreParams),
        },
        "BEFORE" | "AFTER" | "AROUND" => {
            let r = msg
                .param(2)
                .and_then(parse_ref)
                .ok_or_else(|| invalid_params(&sub, "Bad reference"))?;
            match sub.as_str() {
                "BEFORE" => HistoryQuery::Before(r),
                "AFTER" => HistoryQuery::After(r),
                _ => HistoryQuery::Around(r),
            }
        }
        "BETWEEN" => {
            let a = msg
                .param(2)
                .and_then(parse_ref)
                .ok_or_else(|| invalid_params(&sub, "Bad reference"))?;
            let b = msg
                .param(3)
                .and_then(parse_ref)
                .ok_or_else(|| invalid_params(&sub, "Bad reference"))?;
            HistoryQuery::Between(a, b)
        }
        _ => return Err(invalid_params(&sub, "Unknown subcommand")),
    };
    let limit_param = if sub == "BETWEEN" {
        msg.param(4)
    } else {
        msg.param(3)
    };
    let limit = parse_limit(cx, limit_param).ok_or_else(|| invalid_params(&sub, "Bad limit"))?;
    let Some(readable) = readable(cx, target) else {
        return Err(Reject::Fail(
            "INVALID_TARGET",
            vec![sub.clone(), target.to_string()],
            "You cannot see the history of that target".into(),
        ));
    };
    let cutoff = channel_cutoff(cx, target);
    let server = cx.server_arc();
    let target = target.to_string();
    cx.defer(async move {
        server.history.flush().await;
        let rows = server
            .store(move |s| {
                // A registered channel's QUERY-CUTOFF: nothing before it.
                let from = match cutoff {
                    None => 0,
                    Some(Cutoff::At(ms)) => ms,
                    Some(Cutoff::Registered(a)) => s.account(&a)?.map_or(0, |a| a.created_ms),
                };
                crate::history_read::read(s, &readable, query, limit, from)
            })
            .await;
        then(move |cx: &mut Ctx<'_>| match rows {
            Ok(rows) => send_batch(cx, &target, &rows),
            Err(_) => cx.fail(
                "MESSAGE_ERROR",
                &[&sub, &target],
                "History is not available now",
            ),
        })
    });
    Ok(())
}

/// Where this client's view of a registered channel's history starts
/// (ChanServ SET QUERY-CUTOFF), if it does.
fn channel_cutoff(cx: &Ctx<'_>, target: &str) -> Option<Cutoff> {
    if !target.starts_with('#') {
        return None;
    }
    let ch = cx.server.find_channel(target)?;
    let st = ch.lock();
    crate::chanserv::cutoff_of(&st, cx.me().id, cx.s.account.as_deref())
}

/// `CHATHISTORY TARGETS <timestamp> <timestamp> <limit>`
fn targets(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    let sub = "TARGETS";
    let a = msg.param(1).and_then(parse_ref);
    let b = msg.param(2).and_then(parse_ref);
    let (Some(Bound::Time(from)), Some(Bound::Time(to))) = (a, b) else {
        return Err(invalid_params(sub, "TARGETS takes two timestamps"));
    };
    let limit = parse_limit(cx, msg.param(3)).ok_or_else(|| invalid_params(sub, "Bad limit"))?;
    let Some(me) = my_identity(cx.s) else {
        return Ok(());
    };
    let channels: Vec<(String, String)> = cx
        .me()
        .info()
        .channels
        .iter()
        .map(|c| (c.folded.clone(), c.name.clone()))
        .collect();
    let keys: Vec<String> = channels.iter().map(|(k, _)| k.clone()).collect();
    let server = cx.server_arc();
    cx.defer(async move {
        server.history.flush().await;
        let party = me.clone();
        let found = server
            .store(move |s| s.history_targets(&keys, &party, from, to, limit))
            .await;
        then(move |cx: &mut Ctx<'_>| {
            let Ok(found) = found else {
                cx.fail("MESSAGE_ERROR", &[sub], "History is not available now");
                return;
            };
            let batch = cx.caps().has(Cap::Batch).then(|| cx.server.msgid());
            if let Some(id) = &batch {
                cx.reply.line(format!(
                    ":{} BATCH +{id} draft/chathistory-targets",
                    cx.server_name()
                ));
            }
            for (key, t) in found {
                let name = match ferry_store::dm_parties(&key) {
                    Some((x, y)) => {
                        let other = if x == me { y } else { x };
                        let other = other.get(2..).unwrap_or(other);
                        cx.server
                            .find_nick(other)
                            .map(|c| c.nick())
                            .unwrap_or_else(|| other.to_string())
                    }
                    None => channels
                        .iter()
                        .find(|(k, _)| *k == key)
                        .map(|(_, n)| n.clone())
                        .unwrap_or(key),
                };
                let tags = batch
                    .as_ref()
                    .map(|id| format!("batch={id}"))
                    .unwrap_or_default();
                let line = format!(
                    ":{} CHATHISTORY TARGETS {name} {}",
                    cx.server_name(),
                    format_millis(t)
                );
                cx.reply.push(tags, line);
            }
            if let Some(id) = &batch {
                cx.reply.line(format!(":{} BATCH -{id}", cx.server_name()));
            }
        })
    });
    Ok(())
}
