//! MODE for channels (b e I i k l m n s t o v) and users (i w o B).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use ferry_proto::{mask, numeric::*, Message};

use crate::channel::{ChanState, Channel, ListEntry};
use crate::client::{self, Client};
use crate::ctx::{Ctx, Outcome, Reject};
use crate::route;
use crate::server::Server;

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
    let mut applied = String::new();
    let mut last_sign = ' ';
    let unknown = apply_user_modes(cx.server, &me, modes, &mut applied, &mut last_sign);
    let (before, after) = sync_snomask(cx.server, &me, snomask, &mut applied, &mut last_sign);
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
        save_callerid(cx, &me);
    }
    Ok(())
}

/// Sets and clears this client's own modes as `modes` says, noting each
/// change in `applied`; true if a mode character was unknown.
fn apply_user_modes(
    server: &Server,
    me: &Client,
    modes: &str,
    applied: &mut String,
    last_sign: &mut char,
) -> bool {
    let mut adding = true;
    let mut unknown = false;
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
                ('o', _) => _ = server.opers.fetch_sub(1, Ordering::Relaxed),
                ('i', true) => _ = server.invisible.fetch_add(1, Ordering::Relaxed),
                ('i', false) => _ = server.invisible.fetch_sub(1, Ordering::Relaxed),
                _ => {}
            }
            push_mode_change(applied, last_sign, if adding { '+' } else { '-' }, c);
        }
    }
    unknown
}

/// Keeps the server-notice watcher list in step with +s (and with losing
/// +o); a mask argument (`MODE me +s +ck-n`) changes what is watched.
/// Returns the mask watched before and after.
fn sync_snomask(
    server: &Server,
    me: &Arc<Client>,
    snomask: Option<&str>,
    applied: &mut String,
    last_sign: &mut char,
) -> (Option<u32>, Option<u32>) {
    let m = me.info().modes;
    let before = server.snotice_watchers.get(&me.id).map(|w| w.1);
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
                push_mode_change(applied, last_sign, '-', 's');
            } else if let Some(i) = applied.find('s') {
                applied.remove(i);
                if applied.ends_with('+') || applied.ends_with('-') {
                    applied.pop();
                }
            }
            server.snotice_watchers.remove(&me.id);
        } else {
            server.snotice_watchers.insert(me.id, (me.clone(), mask));
            after = Some(mask);
        }
    } else {
        if m.snotices {
            me.info().modes.snotices = false;
        }
        server.snotice_watchers.remove(&me.id);
    }
    (before, after)
}

/// Stores +g for the logged-in account.
fn save_callerid(cx: &mut Ctx<'_>, me: &Client) {
    let Some(account) = cx.s.account.clone() else {
        return;
    };
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
    let Some(modestr) = args.first() else {
        show_channel_modes(cx, ch);
        return Ok(());
    };
    let me = cx.me().clone();
    let server = cx.server;
    let prefix = cx.prefix();
    let mut params = args[1..].iter().copied();
    let mut edit = ChannelEdit {
        chan: &ch.name,
        prefix: &prefix,
        casemap: server.config().casemap,
        max_list: server.config().limits.list_entries,
        now: server.clock.unix_secs(),
        is_op: false,
        adding: true,
        changes: Vec::new(),
        param_modes: 0,
        errors: Vec::new(),
        lists_shown: String::new(),
    };
    {
        let mut st = ch.lock();
        edit.is_op = st.is_op(me.id);
        for c in modestr.chars() {
            let flow = match c {
                '+' | '-' => {
                    edit.adding = c == '+';
                    Flow::Counted
                }
                'b' | 'e' | 'I' => edit.list_mode(&mut st, c, params.next()),
                'o' | 'v' => edit.member_mode(&mut st, server, c, params.next()),
                'k' => edit.key_mode(&mut st, params.next()),
                'l' => edit.limit_mode(&mut st, &mut params),
                'C' | 'i' | 'm' | 'n' | 's' | 't' | 'u' => edit.flag_mode(&mut st, c),
                other => {
                    edit.errors.push(Reject::Numeric(
                        ERR_UNKNOWNMODE,
                        vec![other.to_string(), "is an unknown mode char to me".into()],
                    ));
                    Flow::Counted
                }
            };
            match flow {
                Flow::Stop => break,
                Flow::Counted if edit.param_modes >= 4 => break,
                _ => {}
            }
        }
        if !edit.changes.is_empty() {
            let line = render_changes(&prefix, &ch.name, &edit.changes);
            let e = cx.event(line);
            route::to_members(&st, Some(me.id), &e, cx.sendq());
            drop(st);
            cx.push_event(&e);
            crate::chanserv::save(cx, ch);
        }
    }
    for c in edit.lists_shown.chars() {
        send_list(cx, ch, c);
    }
    for e in edit.errors {
        cx.reject(e);
    }
    Ok(())
}

/// MODE <#channel> alone: its modes (parameters to members) and creation time.
fn show_channel_modes(cx: &mut Ctx<'_>, ch: &Channel) {
    let me = cx.me().id;
    let (m, p, created) = {
        let st = ch.lock();
        let member = st.members.contains_key(&me);
        let (m, p) = st.modes.to_mode_string(member);
        (m, p, st.created)
    };
    let mut params: Vec<&str> = vec![&ch.name, &m];
    params.extend(p.iter().map(|s| s.as_str()));
    cx.num(RPL_CHANNELMODEIS, &params);
    cx.num(RPL_CREATIONTIME, &[&ch.name, &created.to_string()]);
}

/// What comes after one mode character of a channel MODE.
enum Flow {
    /// The next character, whatever was counted.
    Next,
    /// The next character, unless four parameter modes were taken.
    Counted,
    /// No more characters: the sender is not a channel operator.
    Stop,
}

/// One channel MODE line as it is applied, under the channel's lock: the
/// changes made, the errors to report, the lists asked for.
struct ChannelEdit<'a> {
    chan: &'a str,
    prefix: &'a str,
    casemap: ferry_proto::Casemap,
    max_list: usize,
    /// When the change is made (list entries' set-at time), unix seconds.
    now: u64,
    is_op: bool,
    adding: bool,
    /// (sign, mode char, parameter)
    changes: Vec<(bool, char, Option<String>)>,
    param_modes: usize,
    errors: Vec<Reject>,
    lists_shown: String,
}

impl ChannelEdit<'_> {
    fn not_op(&mut self) -> Flow {
        self.errors
            .push(Reject::ChanOpPrivsNeeded(self.chan.to_string()));
        Flow::Stop
    }

    /// b, e, I: without a parameter, show the list; else add or remove a mask.
    fn list_mode(&mut self, st: &mut ChanState, c: char, p: Option<&str>) -> Flow {
        let Some(p) = p else {
            if !self.lists_shown.contains(c) {
                self.lists_shown.push(c);
            }
            return Flow::Next;
        };
        if !self.is_op {
            return self.not_op();
        }
        self.param_modes += 1;
        // `$a` / `$a:account` (account extban) stay as they are; a mute's
        // mask (`$m:mask`) is normalized as a ban's is.
        let m = if let Some(mute) = p.strip_prefix("$m:") {
            format!("$m:{}", mask::normalize(mute))
        } else if p.starts_with('$') {
            p.to_string()
        } else {
            mask::normalize(p)
        };
        let folded = self.casemap.fold_lossy(&m);
        let list = list_of(st, c);
        let pos = list.iter().position(|e| e.folded == folded);
        match (self.adding, pos) {
            (true, None) => {
                if list.len() >= self.max_list {
                    self.errors.push(Reject::Numeric(
                        ERR_BANLISTFULL,
                        vec![self.chan.to_string(), m, "Channel list is full".into()],
                    ));
                    return Flow::Next;
                }
                list.push(ListEntry {
                    mask: m.clone(),
                    folded,
                    set_by: self.prefix.to_string(),
                    set_at: self.now,
                });
                self.changes.push((true, c, Some(m)));
            }
            (false, Some(i)) => {
                let e = list.remove(i);
                self.changes.push((false, c, Some(e.mask)));
            }
            _ => {}
        }
        Flow::Counted
    }

    /// o, v: a member's status.
    fn member_mode(
        &mut self,
        st: &mut ChanState,
        server: &Server,
        c: char,
        p: Option<&str>,
    ) -> Flow {
        let Some(p) = p else { return Flow::Next };
        if !self.is_op {
            return self.not_op();
        }
        self.param_modes += 1;
        let Some(target) = server.find_nick(p) else {
            self.errors.push(Reject::NoSuchNick(p.into()));
            return Flow::Next;
        };
        let Some(m) = st.members.get_mut(&target.id) else {
            self.errors.push(Reject::UserNotInChannel(
                target.nick(),
                self.chan.to_string(),
            ));
            return Flow::Next;
        };
        let slot = if c == 'o' {
            &mut m.prefix.op
        } else {
            &mut m.prefix.voice
        };
        if *slot != self.adding {
            *slot = self.adding;
            self.changes.push((self.adding, c, Some(target.nick())));
        }
        Flow::Counted
    }

    /// k: the channel key.
    fn key_mode(&mut self, st: &mut ChanState, p: Option<&str>) -> Flow {
        if self.adding && p.is_none() {
            return Flow::Next;
        }
        if !self.is_op {
            return self.not_op();
        }
        self.param_modes += 1;
        if self.adding {
            let k = p.unwrap_or_default();
            if k.is_empty() || k.contains([' ', ',']) || k.len() > 23 {
                self.errors.push(Reject::Numeric(
                    ERR_INVALIDKEY,
                    vec![self.chan.to_string(), "Key is not well-formed".into()],
                ));
                return Flow::Next;
            }
            st.modes.key = Some(k.to_string());
            self.changes.push((true, 'k', Some(k.to_string())));
        } else if st.modes.key.take().is_some() {
            self.changes.push((false, 'k', Some("*".into())));
        }
        Flow::Counted
    }

    /// l: the member limit (its parameter only when adding).
    fn limit_mode<'p>(
        &mut self,
        st: &mut ChanState,
        params: &mut impl Iterator<Item = &'p str>,
    ) -> Flow {
        if !self.is_op {
            if self.adding {
                params.next();
            }
            return self.not_op();
        }
        if !self.adding {
            if st.modes.limit.take().is_some() {
                self.changes.push((false, 'l', None));
            }
            return Flow::Counted;
        }
        let Some(p) = params.next() else {
            return Flow::Next;
        };
        self.param_modes += 1;
        match p.parse::<usize>() {
            Ok(n) if n > 0 => {
                st.modes.limit = Some(n);
                self.changes.push((true, 'l', Some(n.to_string())));
            }
            _ => self.errors.push(Reject::Numeric(
                ERR_INVALIDMODEPARAM,
                vec![
                    self.chan.to_string(),
                    "l".into(),
                    p.into(),
                    "Invalid limit".into(),
                ],
            )),
        }
        Flow::Counted
    }

    /// C, i, m, n, s, t: the flags without a parameter.
    fn flag_mode(&mut self, st: &mut ChanState, c: char) -> Flow {
        if !self.is_op {
            return self.not_op();
        }
        let m = &mut st.modes;
        let slot = match c {
            'C' => &mut m.no_ctcp,
            'i' => &mut m.invite_only,
            'm' => &mut m.moderated,
            'n' => &mut m.no_external,
            's' => &mut m.secret,
            'u' => &mut m.auditorium,
            _ => &mut m.topic_lock,
        };
        if *slot != self.adding {
            *slot = self.adding;
            self.changes.push((self.adding, c, None));
        }
        Flow::Counted
    }
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
