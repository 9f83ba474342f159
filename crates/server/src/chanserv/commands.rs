//! ChanServ's commands, sent as `PRIVMSG ChanServ :<command> ...`.

use std::sync::Arc;

use ferry_store::{AccessLevel, ChannelRegistered, RegisteredChannel};
use tracing::{info, warn};

use super::{say, snapshot, Registration, CHANSERV};
use crate::channel::Channel;
use crate::ctx::{then, Ctx, Outcome};
use crate::event::Event;
use crate::route;

/// `PRIVMSG ChanServ :<command> ...`
pub(crate) fn chanserv(cx: &mut Ctx<'_>, text: &str) -> Outcome {
    let mut words = text.split_whitespace();
    let cmd = words.next().unwrap_or("").to_ascii_uppercase();
    let args: Vec<String> = words.map(str::to_string).collect();
    if cmd == "PURGE" {
        return super::purge::purge(cx, &args);
    }
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
        "SET" if level == Some(AccessLevel::Op) || oper => {
            super::settings::set(cx, &ch, reg.as_ref().expect("registered"), &args[1..])
        }
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
        "UNREGISTER" | "TRANSFER" | "OP" | "DEOP" | "VOICE" | "DEVOICE" | "AMODE" | "SET" => {
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
        "SET <#channel> [HISTORY ON|OFF|DEFAULT | QUERY-CUTOFF NONE|REGISTRATION-TIME|JOIN-TIME|DEFAULT] - its settings",
        "PURGE ADD <#channel> [reason] | PURGE DEL <#channel> | PURGE LIST - close a channel (IRC operators)",
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
                    settings: Default::default(),
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
                ch.set_keeps_history(true);
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
