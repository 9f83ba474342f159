//! ChanServ: groups that last (registered channels), with Ergo's
//! commands — REGISTER, UNREGISTER, INFO, OP, DEOP, AMODE, TRANSFER.
//!
//! A registered channel keeps its founder, access list, topic, modes and
//! ban, exception and invite lists in the store (`ChannelStore`): it is
//! restored at start ([`restore`]), stays when its last member leaves, and
//! each change of its topic, modes or lists is saved once it is live
//! ([`save`]). Its founder and the accounts its access list names get
//! their status (`@`, `+`) back when they join ([`status_on_join`]).

use std::sync::Arc;

use ferry_store::{AccessLevel, ChannelMask, ChannelRegistered, ChannelTopic, RegisteredChannel};
use tracing::{info, warn};

use crate::channel::{ChanState, Channel, ListEntry, Prefix, Topic};
use crate::ctx::{then, Ctx, Outcome};
use crate::event::Event;
use crate::route;
use crate::Server;

pub(crate) const CHANSERV: &str = "ChanServ";

/// What a registered channel's state knows of its registration.
#[derive(Debug, Clone)]
pub(crate) struct Registration {
    /// The founder's account, casefolded.
    pub founder: String,
    /// (account, level), casefolded accounts.
    pub access: Vec<(String, AccessLevel)>,
}

impl Registration {
    /// The level `account` has: the founder's is op.
    fn level_of(&self, account: &str) -> Option<AccessLevel> {
        if self.founder == account {
            return Some(AccessLevel::Op);
        }
        self.access
            .iter()
            .find(|(a, _)| a == account)
            .map(|(_, l)| *l)
    }
}

/// The status a joiner gets on a registered channel (none on others).
pub(crate) fn status_on_join(st: &ChanState, account: Option<&str>) -> Option<Prefix> {
    let level = st.registered.as_ref()?.level_of(account?)?;
    Some(match level {
        AccessLevel::Op => Prefix {
            op: true,
            voice: false,
        },
        AccessLevel::Voice => Prefix {
            op: false,
            voice: true,
        },
    })
}

/// The status a joiner gets: a new channel's first member is its
/// operator; a registered channel's access list decides.
pub(crate) fn join_prefix(fresh: bool, status: Option<Prefix>) -> Prefix {
    Prefix {
        op: fresh || status.is_some_and(|p| p.op),
        voice: status.is_some_and(|p| p.voice),
    }
}

/// Loads every registered channel into the registry (at start).
pub(crate) fn restore(server: &Arc<Server>) {
    let store = server.store.clone();
    let loaded = (|| -> ferry_store::Result<Vec<_>> {
        let mut out = Vec::new();
        for c in store.channels()? {
            let access = store.channel_access(&c.name)?;
            let lists =
                ['b', 'e', 'I'].map(|k| store.channel_masks(&c.name, k).unwrap_or_default());
            out.push((c, access, lists));
        }
        Ok(out)
    })();
    let loaded = match loaded {
        Ok(l) => l,
        Err(e) => return warn!(error = %e, "could not load registered channels"),
    };
    let casemap = server.config().casemap;
    let n = loaded.len();
    for (c, access, [bans, excepts, invex]) in loaded {
        let ch =
            server
                .registry
                .channel_or_create(&c.name, &c.display, (c.created_ms / 1000) as u64);
        let mut st = ch.lock();
        st.topic = c.topic.map(|t| Topic {
            text: t.text,
            set_by: t.set_by,
            set_at: (t.set_ms / 1000) as u64,
        });
        parse_modes(&c.modes, &mut st);
        let entries = |v: Vec<ChannelMask>| {
            v.into_iter()
                .map(|m| ListEntry {
                    folded: casemap.fold_lossy(&m.mask),
                    mask: m.mask,
                    set_by: m.set_by,
                    set_at: m.set_at,
                })
                .collect()
        };
        st.bans = entries(bans);
        st.excepts = entries(excepts);
        st.invex = entries(invex);
        st.registered = Some(Box::new(Registration {
            founder: c.founder,
            access,
        }));
    }
    if n > 0 {
        info!(channels = n, "registered channels restored");
    }
}

/// Applies a stored mode string (`+ntk key`) to a channel.
fn parse_modes(s: &str, st: &mut ChanState) {
    let mut words = s.split(' ');
    let letters = words.next().unwrap_or("");
    for c in letters.chars() {
        let m = &mut st.modes;
        match c {
            'C' => m.no_ctcp = true,
            'i' => m.invite_only = true,
            'm' => m.moderated = true,
            'n' => m.no_external = true,
            's' => m.secret = true,
            't' => m.topic_lock = true,
            'k' => m.key = words.next().map(str::to_string),
            'l' => m.limit = words.next().and_then(|l| l.parse().ok()),
            _ => {}
        }
    }
}

/// What the store keeps of a channel's state.
struct Snapshot {
    topic: Option<ChannelTopic>,
    modes: String,
    lists: [Vec<ChannelMask>; 3],
}

fn snapshot(st: &ChanState) -> Snapshot {
    let (m, p) = st.modes.to_mode_string(true);
    let modes = std::iter::once(m).chain(p).collect::<Vec<_>>().join(" ");
    let masks = |l: &[ListEntry]| {
        l.iter()
            .map(|e| ChannelMask {
                mask: e.mask.clone(),
                set_by: e.set_by.clone(),
                set_at: e.set_at,
            })
            .collect()
    };
    Snapshot {
        topic: st.topic.as_ref().map(|t| ChannelTopic {
            text: t.text.clone(),
            set_by: t.set_by.clone(),
            set_ms: t.set_at as i64 * 1000,
        }),
        modes,
        lists: [masks(&st.bans), masks(&st.excepts), masks(&st.invex)],
    }
}

/// A registered channel's topic, modes or lists changed (live already):
/// saved before the command that changed them completes (its reply waits
/// for the commit). Nothing for a channel not registered.
pub(crate) fn save(cx: &mut Ctx<'_>, ch: &Channel) {
    let snap = {
        let st = ch.lock();
        if st.registered.is_none() {
            return;
        }
        snapshot(&st)
    };
    let (server, name) = (cx.server_arc(), ch.folded.clone());
    cx.defer(async move {
        let r = server
            .store(move |s| {
                s.set_channel_topic(&name, snap.topic.as_ref())?;
                s.set_channel_modes(&name, &snap.modes)?;
                for (k, l) in ['b', 'e', 'I'].into_iter().zip(&snap.lists) {
                    s.set_channel_masks(&name, k, l)?;
                }
                Ok(())
            })
            .await;
        if let Err(e) = r {
            warn!(error = %e, "could not save a registered channel");
        }
        then(|_cx: &mut Ctx<'_>| {})
    });
}

/// An account was deleted: the channels it founded are no longer
/// registered (the store forgot them with it), and it leaves every access
/// list.
pub(crate) fn account_gone(server: &Server, account: &str) {
    for ch in server.registry.channels() {
        let empty = {
            let mut st = ch.lock();
            let Some(reg) = st.registered.as_mut() else {
                continue;
            };
            reg.access.retain(|(a, _)| a != account);
            if reg.founder == account {
                st.registered = None;
            }
            st.members.is_empty()
        };
        if empty {
            server.registry.remove_channel_if_empty(&ch);
        }
    }
}

/// A NOTICE from ChanServ to this client.
fn say(cx: &mut Ctx<'_>, text: &str) {
    let nick = cx.me().nick();
    let line = format!(
        ":{CHANSERV}!{CHANSERV}@{} NOTICE {nick} :{text}",
        cx.server_name()
    );
    cx.reply.line(line);
}

/// `PRIVMSG ChanServ :<command> ...`
pub(crate) fn chanserv(cx: &mut Ctx<'_>, text: &str) -> Outcome {
    let mut words = text.split_whitespace();
    let cmd = words.next().unwrap_or("").to_ascii_uppercase();
    let args: Vec<String> = words.map(str::to_string).collect();
    let Some(chname) = args.first().cloned() else {
        return help(cx);
    };
    let Some(ch) = cx.server.find_channel(&chname) else {
        say(
            cx,
            &format!("{chname} does not exist (it must have members to be registered)"),
        );
        return Ok(());
    };
    let account = cx.s.account.clone();
    let oper = cx.me().info().modes.oper;
    let reg = ch.lock().registered.as_deref().cloned();
    let level = match (&reg, &account) {
        (Some(r), Some(a)) => r.level_of(a),
        _ => None,
    };
    let founder = reg
        .as_ref()
        .zip(account.as_ref())
        .is_some_and(|(r, a)| r.founder == *a);
    match cmd.as_str() {
        "REGISTER" => register(cx, &ch, account),
        "INFO" => {
            match reg {
                None => say(cx, &format!("{} is not registered.", ch.name)),
                Some(r) => {
                    say(
                        cx,
                        &format!("{} is registered; its founder is {}.", ch.name, r.founder),
                    );
                    for (a, l) in &r.access {
                        say(cx, &format!("  {a}: +{}", l.letter()));
                    }
                }
            }
            Ok(())
        }
        _ if reg.is_none() => {
            say(cx, &format!("{} is not registered.", ch.name));
            Ok(())
        }
        "UNREGISTER" if founder || oper => unregister(cx, &ch),
        "TRANSFER" if founder || oper => match args.get(1) {
            Some(to) => transfer(cx, &ch, to),
            None => {
                say(cx, "Syntax: TRANSFER <#channel> <account>");
                Ok(())
            }
        },
        "OP" | "DEOP" | "VOICE" | "DEVOICE" if level == Some(AccessLevel::Op) || oper => {
            let nick = args.get(1).cloned().unwrap_or_else(|| cx.me().nick());
            set_status(cx, &ch, &cmd, &nick);
            Ok(())
        }
        "AMODE" if args.len() == 1 && (level.is_some() || oper) => {
            let r = reg.expect("registered");
            say(
                cx,
                &format!("Access list of {}: founder {}", ch.name, r.founder),
            );
            for (a, l) in &r.access {
                say(cx, &format!("  {a}: +{}", l.letter()));
            }
            Ok(())
        }
        "AMODE" if level == Some(AccessLevel::Op) || oper => amode(cx, &ch, &args[1..]),
        "UNREGISTER" | "TRANSFER" | "OP" | "DEOP" | "VOICE" | "DEVOICE" | "AMODE" => {
            say(
                cx,
                &format!("You do not have the access to do that on {}.", ch.name),
            );
            Ok(())
        }
        _ => help(cx),
    }
}

fn help(cx: &mut Ctx<'_>) -> Outcome {
    for l in [
        "ChanServ keeps registered channels: their founder, access list, topic, modes and lists last. Commands:",
        "REGISTER <#channel> - register a channel you are an operator of",
        "UNREGISTER <#channel> - forget it (the founder)",
        "INFO <#channel> - who founded it, who has access",
        "OP|DEOP|VOICE|DEVOICE <#channel> [nick] - change a member's status",
        "AMODE <#channel> [+o|-o|+v|-v <account>] - the access list",
        "TRANSFER <#channel> <account> - give the channel to another account",
    ] {
        say(cx, l);
    }
    Ok(())
}

fn register(cx: &mut Ctx<'_>, ch: &Arc<Channel>, account: Option<String>) -> Outcome {
    let Some(founder) = account else {
        say(cx, "Log in to an account first.");
        return Ok(());
    };
    let me = cx.me().id;
    let snap = {
        let st = ch.lock();
        if st.registered.is_some() {
            drop(st);
            say(cx, &format!("{} is registered already.", ch.name));
            return Ok(());
        }
        if !st.is_op(me) {
            drop(st);
            say(
                cx,
                &format!("You must be an operator of {} to register it.", ch.name),
            );
            return Ok(());
        }
        snapshot(&st)
    };
    let rc = RegisteredChannel {
        name: ch.folded.clone(),
        display: ch.name.clone(),
        founder: founder.clone(),
        created_ms: cx.server.clock.unix_ms(),
        topic: snap.topic.clone(),
        modes: snap.modes.clone(),
    };
    let (server, ch) = (cx.server_arc(), ch.clone());
    cx.defer(async move {
        let name = rc.name.clone();
        let r = server
            .store(move |s| {
                let done = s.register_channel(&rc)?;
                if done == ChannelRegistered::Registered {
                    for (k, l) in ['b', 'e', 'I'].into_iter().zip(&snap.lists) {
                        s.set_channel_masks(&name, k, l)?;
                    }
                }
                Ok(done)
            })
            .await;
        then(move |cx: &mut Ctx<'_>| match r {
            Ok(ChannelRegistered::Registered) => {
                ch.lock().registered = Some(Box::new(Registration {
                    founder,
                    access: Vec::new(),
                }));
                info!(channel = %ch.name, "channel registered");
                say(cx, &format!("{} is registered to you: it stays, with its topic, modes and lists, and your status comes back when you join.", ch.name));
            }
            Ok(ChannelRegistered::Taken) => say(cx, &format!("{} is registered already.", ch.name)),
            Ok(ChannelRegistered::NoFounder) => say(cx, "Your account is gone."),
            Err(e) => {
                warn!(error = %e, "could not register a channel");
                say(cx, "Could not register it now, try again.");
            }
        })
    });
    Ok(())
}

fn unregister(cx: &mut Ctx<'_>, ch: &Arc<Channel>) -> Outcome {
    let (server, ch) = (cx.server_arc(), ch.clone());
    cx.defer(async move {
        let name = ch.folded.clone();
        let r = server.store(move |s| s.unregister_channel(&name)).await;
        then(move |cx: &mut Ctx<'_>| {
            if r.is_err() {
                return say(cx, "Could not unregister it now, try again.");
            }
            let empty = {
                let mut st = ch.lock();
                st.registered = None;
                st.members.is_empty()
            };
            if empty {
                cx.server.registry.remove_channel_if_empty(&ch);
            }
            say(cx, &format!("{} is no longer registered.", ch.name));
        })
    });
    Ok(())
}

fn transfer(cx: &mut Ctx<'_>, ch: &Arc<Channel>, to: &str) -> Outcome {
    let Some(account) = cx.server.fold_nick(to) else {
        say(cx, &format!("{to} is not an account."));
        return Ok(());
    };
    let (server, ch) = (cx.server_arc(), ch.clone());
    cx.defer(async move {
        let (name, a) = (ch.folded.clone(), account.clone());
        let r = server.store(move |s| s.transfer_channel(&name, &a)).await;
        then(move |cx: &mut Ctx<'_>| match r {
            Ok(true) => {
                if let Some(reg) = ch.lock().registered.as_mut() {
                    reg.founder = account.clone();
                }
                say(cx, &format!("{} now belongs to {account}.", ch.name));
            }
            Ok(false) => say(cx, &format!("{account} is not an account.")),
            Err(_) => say(cx, "Could not transfer it now, try again."),
        })
    });
    Ok(())
}

/// `AMODE <#channel> +o|-o|+v|-v <account>`: the access list.
fn amode(cx: &mut Ctx<'_>, ch: &Arc<Channel>, args: &[String]) -> Outcome {
    let (Some(change), Some(who)) = (args.first(), args.get(1)) else {
        say(cx, "Syntax: AMODE <#channel> [+o|-o|+v|-v <account>]");
        return Ok(());
    };
    let mut c = change.chars();
    let (sign, letter) = (c.next(), c.next().and_then(AccessLevel::from_letter));
    let (Some(sign @ ('+' | '-')), Some(level)) = (sign, letter) else {
        say(cx, "Syntax: AMODE <#channel> [+o|-o|+v|-v <account>]");
        return Ok(());
    };
    let Some(account) = cx.server.fold_nick(who) else {
        say(cx, &format!("{who} is not an account."));
        return Ok(());
    };
    let set = (sign == '+').then_some(level);
    let (server, ch) = (cx.server_arc(), ch.clone());
    cx.defer(async move {
        let (name, a) = (ch.folded.clone(), account.clone());
        let r = server
            .store(move |s| s.set_channel_access(&name, &a, set))
            .await;
        then(move |cx: &mut Ctx<'_>| match r {
            Ok(true) => {
                if let Some(reg) = ch.lock().registered.as_mut() {
                    reg.access.retain(|(x, _)| *x != account);
                    if let Some(l) = set {
                        reg.access.push((account.clone(), l));
                    }
                }
                let what = match set {
                    Some(l) => format!("{account} now gets +{} on {}.", l.letter(), ch.name),
                    None => format!("{account} is off the access list of {}.", ch.name),
                };
                say(cx, &what);
            }
            Ok(false) => say(cx, &format!("{account} is not an account.")),
            Err(_) => say(cx, "Could not change it now, try again."),
        })
    });
    Ok(())
}

/// OP/DEOP/VOICE/DEVOICE: ChanServ sets the mode; every member sees it.
fn set_status(cx: &mut Ctx<'_>, ch: &Arc<Channel>, cmd: &str, nick: &str) {
    let Some(target) = cx.server.find_nick(nick) else {
        return say(cx, &format!("{nick} is not online."));
    };
    let (on, letter) = match cmd {
        "OP" => (true, 'o'),
        "DEOP" => (false, 'o'),
        "VOICE" => (true, 'v'),
        _ => (false, 'v'),
    };
    let tnick = target.nick();
    let line = format!(
        ":{CHANSERV}!{CHANSERV}@{} MODE {} {}{letter} {tnick}\r\n",
        cx.server_name(),
        ch.name,
        if on { '+' } else { '-' }
    );
    let e = Event::new(line, cx.server.clock.wall()).with_msgid(cx.server.msgid());
    let mut st = ch.lock();
    let Some(m) = st.members.get_mut(&target.id) else {
        drop(st);
        return say(cx, &format!("{tnick} is not on {}.", ch.name));
    };
    if letter == 'o' {
        m.prefix.op = on;
    } else {
        m.prefix.voice = on;
    }
    route::to_members(&st, None, &e, cx.sendq());
}

/// A joiner given its status by the channel's access list: the other
/// members see ChanServ set it now; the joiner, after its JOIN and names
/// (the event returned, for its reply).
pub(crate) fn announce_status(
    server: &Server,
    st: &ChanState,
    joiner: crate::client::ClientId,
    chname: &str,
    nick: &str,
    p: Prefix,
) -> Option<Event> {
    let modes = match (p.op, p.voice) {
        (true, _) => "+o",
        (false, true) => "+v",
        _ => return None,
    };
    let line = format!(
        ":{CHANSERV}!{CHANSERV}@{} MODE {chname} {modes} {nick}\r\n",
        server.name
    );
    let e = Event::new(line, server.clock.wall()).with_msgid(server.msgid());
    route::to_members(st, Some(joiner), &e, server.config().limits.sendq_bytes);
    Some(e)
}
