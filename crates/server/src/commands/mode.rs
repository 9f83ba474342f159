//! MODE for channels (b e I i k l m n s t o v) and users (i w o B).

use std::sync::atomic::Ordering;

use ferry_proto::{mask, numeric::*, Message};

use crate::channel::{ChanState, Channel, ListEntry};
use crate::client;
use crate::ctx::{Ctx, Outcome, Reject};
use crate::route;
use crate::unix_now;

pub(super) fn run(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    let target = msg.param(0).unwrap_or("");
    if target.starts_with('#') {
        let Some(ch) = cx.server.find_channel(target) else {
            return Err(Reject::NoSuchChannel(target.into()));
        };
        channel_mode(cx, &ch, &msg.params()[1..])
    } else {
        user_mode(cx, target, msg.param(1), msg.param(2))
    }
}

fn user_mode(
    cx: &mut Ctx<'_>,
    target: &str,
    modes: Option<&str>,
    snomask: Option<&str>,
) -> Outcome {
    let me = cx.me().clone();
    let my_nick = me.nick();
    if cx.server.fold_nick(target) != cx.s.folded_nick {
        return match cx.server.find_nick(target) {
            None => Err(Reject::NoSuchNick(target.into())),
            Some(_) => Err(Reject::Numeric(
                ERR_USERSDONTMATCH,
                vec!["Can't change mode for other users".into()],
            )),
        };
    }
    let Some(modes) = modes else {
        let m = me.info().modes.to_mode_string();
        cx.num(RPL_UMODEIS, &[&m]);
        return Ok(());
    };
    let mut adding = true;
    let mut applied = String::new();
    let mut last_sign = ' ';
    let mut unknown = false;
    {
        let mut info = me.info();
        for c in modes.chars() {
            let slot = match c {
                '+' => {
                    adding = true;
                    continue;
                }
                '-' => {
                    adding = false;
                    continue;
                }
                'i' => &mut info.modes.invisible,
                'w' => &mut info.modes.wallops,
                // Server notices: operators only; others are ignored.
                's' if adding && !info.modes.oper => continue,
                's' => &mut info.modes.snotices,
                'B' => &mut info.modes.bot,
                'g' => &mut info.modes.callerid,
                // +o only through OPER
                'o' if !adding => &mut info.modes.oper,
                'o' => continue,
                _ => {
                    unknown = true;
                    continue;
                }
            };
            if *slot != adding {
                *slot = adding;
                match (c, adding) {
                    ('o', _) => _ = cx.server.opers.fetch_sub(1, Ordering::Relaxed),
                    ('i', true) => _ = cx.server.invisible.fetch_add(1, Ordering::Relaxed),
                    ('i', false) => _ = cx.server.invisible.fetch_sub(1, Ordering::Relaxed),
                    _ => {}
                }
                push_mode_change(
                    &mut applied,
                    &mut last_sign,
                    if adding { '+' } else { '-' },
                    c,
                );
            }
        }
    }
    // Keep the watcher list in step with +s (and with losing +o); a mask
    // argument (`MODE me +s +ck-n`) changes what is watched.
    let m = me.info().modes;
    let before = cx.server.snotice_watchers.get(&me.id).map(|w| w.1);
    let mut after = None;
    if m.snotices && m.oper {
        let start = match (before, snomask) {
            (Some(b), _) => b,
            (None, Some(_)) => 0,
            (None, None) => client::apply_snomask(0, client::SNOMASK_DEFAULT),
        };
        let mask = match snomask {
            Some(spec) => client::apply_snomask(start, spec),
            None => start,
        };
        if mask == 0 {
            // Nothing left to watch: +s goes too.
            me.info().modes.snotices = false;
            if before.is_some() {
                push_mode_change(&mut applied, &mut last_sign, '-', 's');
            } else if let Some(i) = applied.find('s') {
                applied.remove(i);
                if applied.ends_with('+') || applied.ends_with('-') {
                    applied.pop();
                }
            }
            cx.server.snotice_watchers.remove(&me.id);
        } else {
            cx.server.snotice_watchers.insert(me.id, (me.clone(), mask));
            after = Some(mask);
        }
    } else {
        if m.snotices {
            me.info().modes.snotices = false;
        }
        cx.server.snotice_watchers.remove(&me.id);
    }
    if unknown {
        cx.num(ERR_UMODEUNKNOWNFLAG, &["Unknown MODE flag"]);
    }
    if !applied.is_empty() {
        cx.reply
            .line(format!(":{my_nick} MODE {my_nick} :{applied}"));
    }
    if let Some(mask) = after.filter(|&a| Some(a) != before) {
        let shown = client::snomask_string(mask);
        cx.num(RPL_SNOMASK, &[&shown, "Server notice mask"]);
    }
    // +g belongs to the account: keep it across logins.
    if applied.contains('g') {
        if let Some(account) = cx.s.account.clone() {
            let on = me.info().modes.callerid;
            let server = cx.server_arc();
            cx.defer(async move {
                let r = server.store(move |s| s.set_callerid(&account, on)).await;
                crate::ctx::then(move |cx: &mut Ctx<'_>| {
                    if r.is_err() {
                        cx.fail("TEMPORARILY_UNAVAILABLE", &[], "Mode +g could not be saved");
                    }
                })
            });
        }
    }
    Ok(())
}

/// Appends `c` to a mode change string such as `+iw-s`.
fn push_mode_change(applied: &mut String, last_sign: &mut char, sign: char, c: char) {
    if sign != *last_sign {
        applied.push(sign);
        *last_sign = sign;
    }
    applied.push(c);
}

/// A list mode's entries and its numerics.
fn list_of(st: &mut ChanState, c: char) -> &mut Vec<ListEntry> {
    match c {
        'b' => &mut st.bans,
        'e' => &mut st.excepts,
        _ => &mut st.invex,
    }
}

fn send_list(cx: &mut Ctx<'_>, ch: &Channel, c: char) {
    let entries = list_of(&mut ch.lock(), c).clone();
    let (item, end, text) = match c {
        'b' => (RPL_BANLIST, RPL_ENDOFBANLIST, "End of channel ban list"),
        'e' => (
            RPL_EXCEPTLIST,
            RPL_ENDOFEXCEPTLIST,
            "End of channel exception list",
        ),
        _ => (
            RPL_INVEXLIST,
            RPL_ENDOFINVEXLIST,
            "End of channel invite exception list",
        ),
    };
    for e in entries {
        cx.num(item, &[&ch.name, &e.mask, &e.set_by, &e.set_at.to_string()]);
    }
    cx.num(end, &[&ch.name, text]);
}

fn channel_mode(cx: &mut Ctx<'_>, ch: &Channel, args: &[&str]) -> Outcome {
    let me = cx.me().clone();
    let Some(modestr) = args.first() else {
        let (m, p, created) = {
            let st = ch.lock();
            let member = st.members.contains_key(&me.id);
            let (m, p) = st.modes.to_mode_string(member);
            (m, p, st.created)
        };
        let mut params: Vec<&str> = vec![&ch.name, &m];
        params.extend(p.iter().map(|s| s.as_str()));
        cx.num(RPL_CHANNELMODEIS, &params);
        cx.num(RPL_CREATIONTIME, &[&ch.name, &created.to_string()]);
        return Ok(());
    };
    let mut params = args[1..].iter().copied();
    let mut adding = true;
    let casemap = cx.server.config().casemap;
    let prefix = cx.prefix();
    let max_list = cx.server.config().limits.list_entries;
    // (sign, mode char, parameter)
    let mut changes: Vec<(bool, char, Option<String>)> = Vec::new();
    let mut param_modes = 0;
    let mut errors: Vec<Reject> = Vec::new();
    let mut lists_shown = String::new();
    {
        let mut st = ch.lock();
        let is_op = st.is_op(me.id);
        for c in modestr.chars() {
            match c {
                '+' => adding = true,
                '-' => adding = false,
                'b' | 'e' | 'I' => {
                    let Some(p) = params.next() else {
                        if !lists_shown.contains(c) {
                            lists_shown.push(c);
                        }
                        continue;
                    };
                    if !is_op {
                        errors.push(Reject::ChanOpPrivsNeeded(ch.name.clone()));
                        break;
                    }
                    param_modes += 1;
                    // `$a` / `$a:account` (account extban) stay as they are.
                    let m = if p.starts_with('$') {
                        p.to_string()
                    } else {
                        mask::normalize(p)
                    };
                    let folded = casemap.fold_lossy(&m);
                    let list = list_of(&mut st, c);
                    let pos = list.iter().position(|e| e.folded == folded);
                    match (adding, pos) {
                        (true, None) => {
                            if list.len() >= max_list {
                                errors.push(Reject::Numeric(
                                    ERR_BANLISTFULL,
                                    vec![ch.name.clone(), m, "Channel list is full".into()],
                                ));
                                continue;
                            }
                            list.push(ListEntry {
                                mask: m.clone(),
                                folded,
                                set_by: prefix.clone(),
                                set_at: unix_now(),
                            });
                            changes.push((true, c, Some(m)));
                        }
                        (false, Some(i)) => {
                            let e = list.remove(i);
                            changes.push((false, c, Some(e.mask)));
                        }
                        _ => {}
                    }
                }
                'o' | 'v' => {
                    let Some(p) = params.next() else { continue };
                    if !is_op {
                        errors.push(Reject::ChanOpPrivsNeeded(ch.name.clone()));
                        break;
                    }
                    param_modes += 1;
                    let Some(target) = cx.server.find_nick(p) else {
                        errors.push(Reject::NoSuchNick(p.into()));
                        continue;
                    };
                    let Some(m) = st.members.get_mut(&target.id) else {
                        errors.push(Reject::UserNotInChannel(target.nick(), ch.name.clone()));
                        continue;
                    };
                    let slot = if c == 'o' {
                        &mut m.prefix.op
                    } else {
                        &mut m.prefix.voice
                    };
                    if *slot != adding {
                        *slot = adding;
                        changes.push((adding, c, Some(target.nick())));
                    }
                }
                'k' => {
                    let p = params.next();
                    if adding && p.is_none() {
                        continue;
                    }
                    if !is_op {
                        errors.push(Reject::ChanOpPrivsNeeded(ch.name.clone()));
                        break;
                    }
                    param_modes += 1;
                    if adding {
                        let k = p.unwrap_or_default();
                        if k.is_empty() || k.contains([' ', ',']) || k.len() > 23 {
                            errors.push(Reject::Numeric(
                                ERR_INVALIDKEY,
                                vec![ch.name.clone(), "Key is not well-formed".into()],
                            ));
                            continue;
                        }
                        st.modes.key = Some(k.to_string());
                        changes.push((true, 'k', Some(k.to_string())));
                    } else if st.modes.key.take().is_some() {
                        changes.push((false, 'k', Some("*".into())));
                    }
                }
                'l' => {
                    if !is_op {
                        if adding {
                            params.next();
                        }
                        errors.push(Reject::ChanOpPrivsNeeded(ch.name.clone()));
                        break;
                    }
                    if adding {
                        let Some(p) = params.next() else { continue };
                        param_modes += 1;
                        match p.parse::<usize>() {
                            Ok(n) if n > 0 => {
                                st.modes.limit = Some(n);
                                changes.push((true, 'l', Some(n.to_string())));
                            }
                            _ => errors.push(Reject::Numeric(
                                ERR_INVALIDMODEPARAM,
                                vec![
                                    ch.name.clone(),
                                    "l".into(),
                                    p.into(),
                                    "Invalid limit".into(),
                                ],
                            )),
                        }
                    } else if st.modes.limit.take().is_some() {
                        changes.push((false, 'l', None));
                    }
                }
                'i' | 'm' | 'n' | 's' | 't' => {
                    if !is_op {
                        errors.push(Reject::ChanOpPrivsNeeded(ch.name.clone()));
                        break;
                    }
                    let m = &mut st.modes;
                    let slot = match c {
                        'i' => &mut m.invite_only,
                        'm' => &mut m.moderated,
                        'n' => &mut m.no_external,
                        's' => &mut m.secret,
                        _ => &mut m.topic_lock,
                    };
                    if *slot != adding {
                        *slot = adding;
                        changes.push((adding, c, None));
                    }
                }
                other => errors.push(Reject::Numeric(
                    ERR_UNKNOWNMODE,
                    vec![other.to_string(), "is an unknown mode char to me".into()],
                )),
            }
            if param_modes >= 4 {
                break;
            }
        }
        if !changes.is_empty() {
            let line = render_changes(&prefix, &ch.name, &changes);
            let e = cx.event(line);
            route::to_members(&st, Some(me.id), &e, cx.sendq());
            drop(st);
            cx.push_event(&e);
        }
    }
    for c in lists_shown.chars() {
        send_list(cx, ch, c);
    }
    for e in errors {
        cx.reject(e);
    }
    Ok(())
}

fn render_changes(prefix: &str, chan: &str, changes: &[(bool, char, Option<String>)]) -> String {
    let mut modes = String::new();
    let mut params = Vec::new();
    let mut last = None;
    for (adding, c, p) in changes {
        if last != Some(*adding) {
            modes.push(if *adding { '+' } else { '-' });
            last = Some(*adding);
        }
        modes.push(*c);
        if let Some(p) = p {
            params.push(p.as_str());
        }
    }
    let mut l = ferry_proto::Line::new()
        .source(prefix)
        .verb("MODE")
        .param(chan)
        .param(&modes);
    for p in params {
        l = l.param(p);
    }
    l.finish()
}
