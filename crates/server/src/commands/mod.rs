//! Command dispatch: a table of verbs, each with how many parameters it
//! needs and whether it is allowed before registration. Handlers write
//! replies into [`Ctx`] and return a [`Reject`] for the standard errors;
//! one `match` turns a `Reject` into its numeric.
//!
//! One file per verb, its handler `run`. A family of verbs that is one
//! handler, or one shape of answer, stays one file:
//! - `messaging`: PRIVMSG, NOTICE, TAGMSG (one relay);
//! - `ping`: PING, PONG;
//! - `info`: MOTD, LUSERS, VERSION, TIME, ADMIN, INFO, LINKS, HELP and
//!   HELPOP (the server-information replies);
//! - `kline`: KLINE, DLINE, UNKLINE, UNDLINE (server bans, added and
//!   removed one way);
//! - `mode`: MODE, for channels and for users.
//!
//! A handler file never imports a sibling: what two handlers share lives
//! a layer down (`membership`, `accounts/`, `lifecycle`, `welcome`, `ctx`,
//! `route`). The only `super::` items are this file's table plumbing.

mod accept;
mod authenticate;
mod away;
mod batch;
mod cap;
mod charset;
mod chathistory;
mod info;
mod invite;
mod ison;
mod join;
mod kick;
mod kill;
mod kline;
mod list;
mod markread;
mod messaging;
mod metadata;
mod mode;
mod monitor;
mod names;
mod nick;
mod oper;
mod part;
mod pass;
mod ping;
mod quit;
mod redact;
mod register;
mod rehash;
mod rename;
mod setname;
mod silence;
mod stats;
mod token;
mod topic;
mod trace;
mod user;
mod userhost;
mod wallops;
mod who;
mod whois;
mod whowas;

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
static COMMANDS: &[(&str, usize, bool, Handler)] = &[
    ("PRIVMSG", 0, false, messaging::privmsg),
    ("NOTICE", 0, false, messaging::notice),
    ("TAGMSG", 1, false, messaging::tagmsg),
    ("CAP", 1, true, cap::run),
    ("PASS", 1, true, pass::run),
    ("NICK", 0, true, nick::run),
    ("USER", 4, true, user::run),
    ("PING", 1, true, ping::ping),
    ("PONG", 0, true, ping::pong),
    ("QUIT", 0, true, quit::run),
    ("JOIN", 1, false, join::run),
    ("PART", 1, false, part::run),
    ("TOPIC", 1, false, topic::run),
    ("NAMES", 0, false, names::run),
    ("LIST", 0, false, list::run),
    ("INVITE", 0, false, invite::run),
    ("KICK", 2, false, kick::run),
    ("MODE", 1, false, mode::run),
    ("WHO", 0, false, who::run),
    ("WHOIS", 1, false, whois::run),
    ("WHOWAS", 1, false, whowas::run),
    ("ISON", 1, false, ison::run),
    ("USERHOST", 1, false, userhost::run),
    ("AWAY", 0, false, away::run),
    ("SETNAME", 1, false, setname::run),
    ("MONITOR", 1, false, monitor::run),
    ("MOTD", 0, false, info::motd),
    ("LUSERS", 0, false, info::lusers),
    ("VERSION", 0, false, info::version),
    ("TIME", 0, false, info::time),
    ("ADMIN", 0, false, info::admin),
    ("INFO", 0, false, info::info),
    ("HELP", 0, false, info::help),
    ("HELPOP", 0, false, info::help),
    ("LINKS", 0, false, info::links),
    ("OPER", 1, false, oper::run),
    ("KILL", 2, false, kill::run),
    ("WALLOPS", 1, false, wallops::run),
    ("KLINE", 1, false, kline::kline),
    ("UNKLINE", 1, false, kline::unkline),
    ("DLINE", 1, false, kline::dline),
    ("UNDLINE", 1, false, kline::undline),
    ("REHASH", 0, false, rehash::run),
    ("STATS", 1, false, stats::run),
    ("TRACE", 0, false, trace::run),
    ("REGISTER", 3, true, register::run),
    ("AUTHENTICATE", 1, true, authenticate::run),
    ("ACCEPT", 1, false, accept::run),
    ("SILENCE", 0, false, silence::run),
    ("CHATHISTORY", 1, false, chathistory::run),
    ("CHARSET", 0, true, charset::run),
    ("TOKEN", 1, false, token::run),
    ("MARKREAD", 0, false, markread::run),
    ("REDACT", 0, false, redact::run),
    ("METADATA", 0, true, metadata::run),
    ("BATCH", 1, false, batch::run),
    ("RENAME", 2, false, rename::run),
];

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
    crate::lifecycle::sync_device_nick(server, s);
    // Never log a password or what anyone says: PASS, AUTHENTICATE,
    // OPER and REGISTER are logged by verb only; messages (to NickServ
    // too) by verb and target.
    if matches!(verb.as_str(), "PASS" | "AUTHENTICATE" | "OPER" | "REGISTER") {
        debug!(verb = %verb, "command (parameters not logged)");
    } else if matches!(verb.as_str(), "PRIVMSG" | "NOTICE" | "TAGMSG") {
        debug!(verb = %verb, target = msg.param(0).unwrap_or(""), "command (text not logged)");
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
    let text = "Message rejected, your message contained invalid UTF-8";
    refuse_line(server, s, &lossy, "INVALID_UTF8", text);
}

/// A line with NUL or a stray CR: refused whole, with a FAIL.
fn invalid_bytes(server: &Arc<Server>, s: &mut Session, text: &str) {
    let why = "Message rejected, it contained a NUL or CR character";
    refuse_line(server, s, text, "INVALID_MESSAGE", why);
}

/// `FAIL <verb> <code> :<text>` for a line refused whole; the verb is the
/// line's own when it parses to a plain word, else `*`.
fn refuse_line(
    server: &Arc<Server>,
    s: &mut Session,
    line: &str,
    code: &'static str,
    text: &'static str,
) {
    let verb = Message::parse(line)
        .map(|m| m.command.to_ascii_uppercase())
        .ok()
        .filter(|v| v.bytes().all(|b| b.is_ascii_alphanumeric()))
        .unwrap_or_else(|| "*".into());
    let mut cx = Ctx::new(server, s, Reply::new(&server.name, None), verb);
    cx.fail(code, &[], text);
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
