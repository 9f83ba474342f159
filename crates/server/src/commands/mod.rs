//! Command dispatch: a table of verbs, each with how many parameters it
//! needs and whether it is allowed before registration. Handlers write
//! replies into [`Ctx`] and return a [`Reject`] for the standard errors;
//! one `match` turns a `Reject` into its numeric.

mod account;
mod channels;
mod charset;
mod chathistory;
mod login;
mod messaging;
mod mode;
mod oper;
mod presence;
mod queries;
mod registration;
mod stats;

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use ferry_proto::{numeric::*, Line, Message};
use tracing::debug;

use crate::caps::{Cap, Caps};
use crate::client::Client;
use crate::conn::Ending;
use crate::reply::Reply;
use crate::router::Event;
use crate::session::{Pending, Session};
use crate::Server;

pub(crate) use registration::{disconnect, force_guest_nick};

/// What a handler may fail with; the client stays connected.
#[derive(Debug)]
pub(crate) enum Reject {
    NeedMoreParams,
    NoSuchNick(String),
    NoSuchChannel(String),
    NotOnChannel(String),
    ChanOpPrivsNeeded(String),
    NoPrivileges,
    /// Any other numeric: code and the parameters after the client's nick.
    Numeric(&'static str, Vec<String>),
    /// A standard reply: `FAIL <command> <code> [context...] :<description>`.
    Fail(&'static str, Vec<String>, String),
}

pub(crate) type Outcome = Result<(), Reject>;

/// What runs after a deferred step (a store call, a password hash) with the
/// connection's context again.
pub(crate) type Then = Box<dyn FnOnce(&mut Ctx<'_>) + Send>;
type Deferred = Pin<Box<dyn Future<Output = Then> + Send>>;

/// Boxes the continuation of a deferred step.
pub(crate) fn then(f: impl FnOnce(&mut Ctx<'_>) + Send + 'static) -> Then {
    Box::new(f)
}

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

/// Everything a handler needs: the server, its own session, its replies.
pub(crate) struct Ctx<'a> {
    pub server: &'a Arc<Server>,
    pub s: &'a mut Session,
    pub reply: Reply,
    /// The verb being handled, upper case.
    pub verb: String,
    deferred: Option<Deferred>,
    /// The deferred step may be followed by later messages (a store of
    /// offline messages: nothing later depends on its outcome).
    chainable: bool,
}

impl<'a> Ctx<'a> {
    fn new(server: &'a Arc<Server>, s: &'a mut Session, reply: Reply, verb: String) -> Ctx<'a> {
        Ctx {
            server,
            s,
            reply,
            verb,
            deferred: None,
            chainable: false,
        }
    }

    /// Queues what the reply holds so far, unless it waits for a label's
    /// batch; later lines follow it.
    pub fn flush_unlabeled(&mut self) {
        if self.reply.has_label() || self.reply.is_empty() || self.s.in_chain {
            return;
        }
        let done = std::mem::replace(&mut self.reply, Reply::new(&self.server.name, None));
        let server = self.server;
        if let Some(bytes) = done.render(self.s.caps, || server.msgid()) {
            self.s
                .client
                .outbox
                .push(&[&bytes], server.config().limits.sendq_bytes);
        }
    }

    pub fn server_arc(&self) -> Arc<Server> {
        self.server.clone()
    }

    /// Finishes this command later: `fut` runs off the connection's task
    /// (store calls, hashing); its result runs with this context again.
    /// The connection handles no further line until then.
    pub fn defer(&mut self, fut: impl Future<Output = Then> + Send + 'static) {
        debug_assert!(self.deferred.is_none(), "one deferred step at a time");
        self.deferred = Some(Box::pin(fut));
    }

    /// [`Self::defer`] for a step later messages need not wait for: the
    /// connection may go on with its next PRIVMSG or NOTICE lines, whose
    /// replies then wait behind this one's.
    pub fn defer_chainable(&mut self, fut: impl Future<Output = Then> + Send + 'static) {
        self.defer(fut);
        self.chainable = true;
    }

    pub fn me(&self) -> &Arc<Client> {
        &self.s.client
    }

    pub fn caps(&self) -> Caps {
        self.s.caps
    }

    pub fn sendq(&self) -> usize {
        self.server.config().limits.sendq_bytes
    }

    pub fn server_name(&self) -> &str {
        &self.server.name
    }

    /// `:server CODE <nick> params...`; the last parameter gets a colon when needed.
    pub fn num(&mut self, code: &str, params: &[&str]) {
        let mut l = {
            let info = self.s.client.info();
            Line::new()
                .source(&self.server.name)
                .verb(code)
                .param(&info.nick)
        };
        if let Some((last, middle)) = params.split_last() {
            for p in middle {
                // An empty middle parameter cannot be written: `*` stands in.
                l = l.param(if p.is_empty() { "*" } else { p });
            }
            l = l.param(last);
        }
        self.reply.line(l.into_string());
    }

    /// Numerics rendered ahead (`isupport::Burst`), for this client's nick.
    pub fn nick_lines(&mut self, lines: &[crate::isupport::NickLine]) {
        let info = self.s.client.info();
        for l in lines {
            self.reply.line(l.render(&info.nick));
        }
    }

    /// An event this client sees about itself, rendered for its caps.
    pub fn push_event(&mut self, e: &Event) {
        if e.wanted_by(self.caps()) {
            self.reply
                .push(e.tags_for(self.caps()), e.body_str().to_string());
        }
    }

    pub fn prefix(&self) -> String {
        self.me().info().prefix()
    }

    /// An event from this client, stamped with a msgid and its account.
    pub fn event(&self, body: String) -> Event {
        let (account, bot) = {
            let i = self.me().info();
            (i.account.as_deref().map(str::to_string), i.modes.bot)
        };
        let mut e = Event::new(body)
            .with_msgid(self.server.msgid())
            .with_account(account);
        e.bot = bot;
        e
    }

    pub fn fail(&mut self, code: &'static str, context: &[&str], desc: &str) {
        let mut l = Line::new()
            .source(&self.server.name)
            .verb("FAIL")
            .param(&self.verb)
            .param(code);
        for c in context {
            l = l.param(c);
        }
        self.reply.line(l.trailing(desc).as_str().to_string());
    }
}

/// Every distinct registered client sharing a channel with `me` (not `me`).
pub(crate) fn channel_peers(me: &Client) -> Vec<Arc<Client>> {
    let channels = me.info().channels.clone();
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for ch in channels {
        let st = ch.lock();
        for (id, m) in &st.members {
            if *id != me.id && seen.insert(*id) {
                out.push(m.client.clone());
            }
        }
    }
    out
}

/// Delivers `e` to the channel peers that have `cap`, and to those who
/// MONITOR `me` with extended-monitor and `cap`.
pub(crate) fn notify_peers(
    server: &Server,
    me: &Client,
    folded_nick: Option<&str>,
    cap: Cap,
    e: &Event,
) {
    let sendq = server.config().limits.sendq_bytes;
    let mut seen = HashSet::new();
    for p in channel_peers(me) {
        seen.insert(p.id);
        if p.caps().has(cap) {
            e.deliver(&p, sendq);
        }
    }
    if let Some(f) = folded_nick {
        if let Some(w) = server.monitors.get(f) {
            for c in w.values() {
                let caps = c.caps();
                if c.id != me.id
                    && !seen.contains(&c.id)
                    && caps.has(cap)
                    && caps.extended_monitor()
                {
                    e.deliver(c, sendq);
                }
            }
        }
    }
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
                    .any(|t| t.eq_ignore_ascii_case(account::NICKSERV))
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
            reject(
                &mut cx,
                Reject::Numeric(ERR_UNKNOWNCOMMAND, vec![v, "Unknown command".into()]),
            );
        }
        Some(sp) if !sp.pre_reg && !cx.s.registered => {
            reject(
                &mut cx,
                Reject::Numeric(ERR_NOTREGISTERED, vec!["You have not registered".into()]),
            );
        }
        Some(sp)
            if msg.params().len() < sp.min_params
                || (sp.min_params > 0 && msg.params()[0].is_empty() && cx.verb != "PONG") =>
        {
            reject(&mut cx, Reject::NeedMoreParams);
        }
        Some(sp) => {
            if let Err(r) = (sp.run)(&mut cx, &msg) {
                reject(&mut cx, r);
            }
        }
    }
    finish(cx);
}

/// Queues the reply buffer for the client, or, when the command deferred a
/// step, keeps it (with its label) for when that step is done.
fn finish(mut cx: Ctx<'_>) {
    let caps = cx.s.caps;
    let client = cx.s.client.clone();
    let server = cx.server;
    let deferred = match cx.deferred.take() {
        Some(fut) => Some((fut, cx.chainable)),
        // Behind a chain: even a reply ready now waits its turn.
        None if cx.s.in_chain => {
            Some((Box::pin(std::future::ready(then(|_| {}))) as Deferred, true))
        }
        None => None,
    };
    if let Some((fut, chainable)) = deferred {
        let mut reply = cx.reply;
        if !reply.has_label() && !reply.is_empty() && !cx.s.in_chain {
            // Nothing ties these lines to what comes later: send them now.
            let done = std::mem::replace(&mut reply, Reply::new(&server.name, None));
            if let Some(bytes) = done.render(caps, || server.msgid()) {
                client
                    .outbox
                    .push(&[&bytes], server.config().limits.sendq_bytes);
            }
        }
        cx.s.pending = Some(Box::new(Pending {
            fut,
            reply,
            verb: cx.verb,
            chainable,
            next: None,
        }));
        return;
    }
    if let Some(bytes) = cx.reply.render(caps, || server.msgid()) {
        client
            .outbox
            .push(&[&bytes], server.config().limits.sendq_bytes);
    }
}

/// Runs what a deferred step left to do, then finishes the reply.
pub(crate) fn resume(
    server: &Arc<Server>,
    s: &mut Session,
    then: Then,
    reply: Reply,
    verb: String,
) {
    let mut cx = Ctx::new(server, s, reply, verb);
    then(&mut cx);
    finish(cx);
}

/// The one place a `Reject` becomes a numeric or a FAIL.
fn reject(cx: &mut Ctx<'_>, r: Reject) {
    let verb = cx.verb.clone();
    match r {
        Reject::NeedMoreParams => cx.num(ERR_NEEDMOREPARAMS, &[&verb, "Not enough parameters"]),
        Reject::NoSuchNick(n) => cx.num(ERR_NOSUCHNICK, &[&n, "No such nick/channel"]),
        Reject::NoSuchChannel(c) => cx.num(ERR_NOSUCHCHANNEL, &[&c, "No such channel"]),
        Reject::NotOnChannel(c) => cx.num(ERR_NOTONCHANNEL, &[&c, "You're not on that channel"]),
        Reject::ChanOpPrivsNeeded(c) => {
            cx.num(ERR_CHANOPRIVSNEEDED, &[&c, "You're not channel operator"])
        }
        Reject::NoPrivileges => cx.num(
            ERR_NOPRIVILEGES,
            &["Permission Denied- You're not an IRC operator"],
        ),
        Reject::Numeric(code, params) => {
            let p: Vec<&str> = params.iter().map(|s| s.as_str()).collect();
            cx.num(code, &p)
        }
        Reject::Fail(code, context, desc) => {
            let c: Vec<&str> = context.iter().map(|s| s.as_str()).collect();
            cx.fail(code, &c, &desc)
        }
    }
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
    finish(cx);
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
    finish(cx);
}

/// Messages were stored for this session's account while it was online
/// (see `Client::poke_offline`): deliver them.
pub(crate) fn offline_poked(server: &Arc<Server>, s: &mut Session) {
    let mut cx = Ctx::new(server, s, Reply::new(&server.name, None), "*".into());
    login::offline_poked(&mut cx);
    finish(cx);
}

/// 417 for a line over the limit; the line is dropped, the client stays.
pub(crate) fn input_too_long(server: &Arc<Server>, s: &mut Session) {
    let mut cx = Ctx::new(server, s, Reply::new(&server.name, None), "*".into());
    cx.num(ERR_INPUTTOOLONG, &["Input line was too long"]);
    finish(cx);
}

/// The ERROR line a closing client gets.
pub(crate) fn error_line(e: &Ending) -> Option<Bytes> {
    e.error
        .as_ref()
        .map(|t| Bytes::from(Line::new().verb("ERROR").trailing(t).finish()))
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
