//! Command dispatch: a table of verbs, each with how many parameters it
//! needs and whether it is allowed before registration. Handlers write
//! replies into [`Ctx`] and return a [`Reject`] for the standard errors;
//! one `match` turns a `Reject` into its numeric.

mod account;
mod channels;
mod charset;
mod chathistory;
mod messaging;
mod mode;
mod oper;
mod presence;
mod queries;
mod registration;
mod stats;

use std::sync::Arc;

use ferry_proto::{numeric::*, Message};
use tracing::debug;

use crate::caps::Cap;
use crate::ctx::{Ctx, Outcome, Reject};
use crate::reply::Reply;
use crate::session::Session;
use crate::Server;

/// How one verb is handled.
struct Spec {
    min_params: usize,
    pre_reg: bool,
    run: fn(&mut Ctx<'_>, &Message<'_>) -> Outcome,
}

/// Handler of one verb.
type Handler = fn(&mut Ctx<'_>, &Message<'_>) -> Outcome;

/// Every verb: name, least parameters, allowed before registration,
/// handler. The position is the verb's index for `STATS m`; the most used
/// come first, as `spec` looks them up in order.
static COMMANDS: &[(&str, usize, bool, Handler)] = {
    use channels::*;
    use messaging::*;
    use oper::*;
    use presence::*;
    use queries::*;
    use registration::*;
    &[
        ("PRIVMSG", 0, false, privmsg),
        ("NOTICE", 0, false, notice),
        ("TAGMSG", 1, false, tagmsg),
        ("CAP", 1, true, cap),
        ("PASS", 1, true, pass),
        ("NICK", 0, true, nick),
        ("USER", 4, true, user),
        ("PING", 1, true, ping),
        ("PONG", 0, true, pong),
        ("QUIT", 0, true, quit),
        ("JOIN", 1, false, join),
        ("PART", 1, false, part),
        ("TOPIC", 1, false, topic),
        ("NAMES", 0, false, names),
        ("LIST", 0, false, list),
        ("INVITE", 0, false, invite),
        ("KICK", 2, false, kick),
        ("MODE", 1, false, mode::mode),
        ("WHO", 0, false, who),
        ("WHOIS", 1, false, whois),
        ("WHOWAS", 1, false, whowas),
        ("ISON", 1, false, ison),
        ("USERHOST", 1, false, userhost),
        ("AWAY", 0, false, away),
        ("SETNAME", 1, false, setname),
        ("MONITOR", 1, false, monitor),
        ("MOTD", 0, false, motd),
        ("LUSERS", 0, false, lusers),
        ("VERSION", 0, false, version),
        ("TIME", 0, false, time),
        ("ADMIN", 0, false, admin),
        ("INFO", 0, false, info),
        ("HELP", 0, false, help),
        ("HELPOP", 0, false, help),
        ("LINKS", 0, false, links),
        ("OPER", 1, false, oper),
        ("KILL", 2, false, kill),
        ("WALLOPS", 1, false, wallops),
        ("KLINE", 1, false, kline),
        ("UNKLINE", 1, false, unkline),
        ("DLINE", 1, false, dline),
        ("UNDLINE", 1, false, undline),
        ("REHASH", 0, false, stats::rehash),
        ("STATS", 1, false, stats::stats),
        ("TRACE", 0, false, stats::trace),
        ("REGISTER", 3, true, account::register),
        ("AUTHENTICATE", 1, true, account::authenticate),
        ("ACCEPT", 1, false, accept),
        ("SILENCE", 0, false, silence),
        ("CHATHISTORY", 1, false, chathistory::chathistory),
        ("CHARSET", 0, true, charset::charset),
    ]
};

/// The verbs `STATS m` counts, in `COMMANDS` order.
pub(crate) fn command_names() -> impl Iterator<Item = &'static str> {
    COMMANDS.iter().map(|c| c.0)
}

/// Room in `stats::Stats` for every verb of `COMMANDS`.
pub(crate) const COMMAND_COUNT: usize = 64;

fn spec(verb: &str) -> Option<(usize, Spec)> {
    COMMANDS.iter().position(|c| c.0 == verb).map(|i| {
        let (_, min_params, pre_reg, run) = COMMANDS[i];
        (
            i,
            Spec {
                min_params,
                pre_reg,
                run,
            },
        )
    })
}

/// Handles one line from a client (without its line terminator).
pub(crate) fn handle_line(server: &Arc<Server>, s: &mut Session, raw: &[u8]) {
    let Ok(text) = std::str::from_utf8(raw) else {
        return invalid_utf8(server, s, raw);
    };
    // NUL and CR may not appear inside a line (RFC 1459): relayed, a CR
    // would end the line early for some clients and start another.
    if raw.iter().any(|&b| b == 0 || b == b'\r') {
        return invalid_bytes(server, s, text);
    }
    let Ok(msg) = Message::parse(text) else {
        return;
    };
    let verb = msg.command.to_ascii_uppercase();
    // Never log a password: PASS, AUTHENTICATE, OPER, REGISTER, and
    // anything said to NickServ are logged by verb only.
    let secret = matches!(verb.as_str(), "PASS" | "AUTHENTICATE" | "OPER" | "REGISTER")
        || (matches!(verb.as_str(), "PRIVMSG" | "NOTICE")
            && msg.param(0).is_some_and(|t| {
                t.split(',')
                    .any(|t| t.eq_ignore_ascii_case(crate::accounts::NICKSERV))
            }));
    if secret {
        debug!(verb = %verb, "command (parameters not logged)");
    } else {
        debug!(line = text, "command");
    }
    let label = msg
        .tag("label")
        .filter(|_| s.caps.has(Cap::LabeledResponse))
        .map(|l| l.into_owned());
    let mut cx = Ctx::new(server, s, Reply::new(&server.name, label), verb);
    let found = spec(&cx.verb);
    if let Some((i, _)) = &found {
        server.stats.command(*i, raw.len());
    }
    match found.map(|f| f.1) {
        None if !cx.s.registered => {}
        None => {
            let v = msg.command.to_string();
            cx.reject(Reject::UnknownCommand(v, "Unknown command"));
        }
        Some(sp) if !sp.pre_reg && !cx.s.registered => {
            cx.reject(Reject::Numeric(
                ERR_NOTREGISTERED,
                vec!["You have not registered".into()],
            ));
        }
        Some(sp)
            if msg.params().len() < sp.min_params
                || (sp.min_params > 0 && msg.params()[0].is_empty() && cx.verb != "PONG") =>
        {
            cx.reject(Reject::NeedMoreParams);
        }
        Some(sp) => {
            if let Err(r) = (sp.run)(&mut cx, &msg) {
                cx.reject(r);
            }
        }
    }
    cx.finish();
}

/// Runs what a deferred step left to do, then finishes the reply.
pub(crate) fn resume(
    server: &Arc<Server>,
    s: &mut Session,
    then: crate::ctx::Then,
    reply: Reply,
    verb: String,
) {
    Ctx::resume(server, s, then, reply, verb)
}

/// A line that is not UTF-8 on a UTF-8 listener: a standard FAIL reply.
fn invalid_utf8(server: &Arc<Server>, s: &mut Session, raw: &[u8]) {
    let lossy = String::from_utf8_lossy(raw);
    let verb = Message::parse(&lossy)
        .map(|m| m.command.to_ascii_uppercase())
        .ok()
        .filter(|v| v.bytes().all(|b| b.is_ascii_alphanumeric()))
        .unwrap_or_else(|| "*".into());
    let mut cx = Ctx::new(server, s, Reply::new(&server.name, None), verb);
    cx.fail(
        "INVALID_UTF8",
        &[],
        "Message rejected, your message contained invalid UTF-8",
    );
    cx.finish();
}

/// A line with NUL or a stray CR: refused whole, with a FAIL.
fn invalid_bytes(server: &Arc<Server>, s: &mut Session, text: &str) {
    let verb = Message::parse(text)
        .map(|m| m.command.to_ascii_uppercase())
        .ok()
        .filter(|v| v.bytes().all(|b| b.is_ascii_alphanumeric()))
        .unwrap_or_else(|| "*".into());
    let mut cx = Ctx::new(server, s, Reply::new(&server.name, None), verb);
    cx.fail(
        "INVALID_MESSAGE",
        &[],
        "Message rejected, it contained a NUL or CR character",
    );
    cx.finish();
}

/// Messages were stored for this session's account while it was online
/// (see `Client::poke_offline`): deliver them.
pub(crate) fn offline_poked(server: &Arc<Server>, s: &mut Session) {
    let mut cx = Ctx::unlabeled(server, s, "*");
    crate::accounts::offline_poked(&mut cx);
    cx.finish();
}

/// 417 for a line over the limit; the line is dropped, the client stays.
pub(crate) fn input_too_long(server: &Arc<Server>, s: &mut Session) {
    let mut cx = Ctx::unlabeled(server, s, "*");
    cx.num(ERR_INPUTTOOLONG, &["Input line was too long"]);
    cx.finish();
}

#[cfg(test)]
mod table_tests {
    use super::*;

    #[test]
    fn every_verb_has_a_stats_slot_and_one_entry() {
        assert!(COMMANDS.len() <= COMMAND_COUNT);
        let mut names: Vec<&str> = command_names().collect();
        names.sort_unstable();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n, "a verb listed twice");
    }
}
