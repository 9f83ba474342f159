//! What a command handler works with: [`Ctx`] (the server, its own
//! session, its reply buffer), [`Reject`] (the standard errors, turned into
//! numerics in one `match`), and deferred steps.
//!
//! A handler writes replies for its own client into `cx.reply` (which adds
//! `label` and `batch`), never to a socket; what goes to anyone else goes
//! through `route`. A handler that needs the store or the password hasher
//! *defers*: [`Ctx::defer`] takes a future that runs off the connection's
//! task and returns a [`Then`], which runs later with a `Ctx` again. The
//! connection handles no further line until then, so replies keep their
//! order — except behind a message being stored for an offline account
//! ([`Ctx::defer_chainable`]): later PRIVMSG/NOTICE lines may be handled
//! meanwhile, and their replies wait in a chain behind it
//! (`session::Pending`, `net::lines`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use ferry_proto::{numeric::*, Line};

use crate::caps::Caps;
use crate::client::Client;
use crate::event::Event;
use crate::reply::Reply;
use crate::session::{Pending, Session};
use crate::Server;

/// What a handler may fail with; the client stays connected. Each variant
/// is one numeric (or FAIL), spelled out only in [`Ctx::reject`].
#[derive(Debug)]
pub(crate) enum Reject {
    NeedMoreParams,
    NoSuchNick(String),
    NoSuchChannel(String),
    NotOnChannel(String),
    ChanOpPrivsNeeded(String),
    NoPrivileges,
    /// 462: PASS or USER after registration.
    AlreadyRegistered,
    /// 433 with the reason given (in use, or reserved by an account).
    NicknameInUse(String, &'static str),
    /// 441: `(nick, channel)`.
    UserNotInChannel(String, String),
    /// 464 (PASS, OPER).
    PasswdMismatch,
    /// 421 for a subcommand or command ferry does not know.
    UnknownCommand(String, &'static str),
    /// Any other numeric: code and the parameters after the client's nick.
    Numeric(&'static str, Vec<String>),
    /// A standard reply: `FAIL <command> <code> [context...] :<description>`.
    Fail(&'static str, Vec<String>, String),
}

pub(crate) type Outcome = Result<(), Reject>;

/// What runs after a deferred step (a store call, a password hash) with the
/// connection's context again.
pub(crate) type Then = Box<dyn FnOnce(&mut Ctx<'_>) + Send>;
pub(crate) type Deferred = Pin<Box<dyn Future<Output = Then> + Send>>;

/// Boxes the continuation of a deferred step.
pub(crate) fn then(f: impl FnOnce(&mut Ctx<'_>) + Send + 'static) -> Then {
    Box::new(f)
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
    pub(crate) fn new(
        server: &'a Arc<Server>,
        s: &'a mut Session,
        reply: Reply,
        verb: String,
    ) -> Ctx<'a> {
        Ctx {
            server,
            s,
            reply,
            verb,
            deferred: None,
            chainable: false,
        }
    }

    /// A context with no label, for lines the server sends on its own
    /// (after a timer, a poke, a line too long).
    pub(crate) fn unlabeled(server: &'a Arc<Server>, s: &'a mut Session, verb: &str) -> Ctx<'a> {
        Ctx::new(server, s, Reply::new(&server.name, None), verb.into())
    }

    /// Queues what the reply holds so far, unless it waits for a label's
    /// batch; later lines follow it.
    pub(crate) fn flush_unlabeled(&mut self) {
        if self.reply.has_label() || self.reply.is_empty() || self.s.in_chain {
            return;
        }
        let done = std::mem::replace(&mut self.reply, Reply::new(&self.server.name, None));
        self.send_own(done);
    }

    /// Renders `reply` for this client and queues it on its own queue.
    fn send_own(&self, reply: Reply) {
        let server = self.server;
        if let Some(bytes) = reply.render(self.s.caps, || server.msgid()) {
            self.s
                .client
                .send(&bytes, server.config().limits.sendq_bytes);
        }
    }

    pub(crate) fn server_arc(&self) -> Arc<Server> {
        self.server.clone()
    }

    /// Finishes this command later: `fut` runs off the connection's task
    /// (store calls, hashing); its result runs with this context again.
    /// The connection handles no further line until then.
    pub(crate) fn defer(&mut self, fut: impl Future<Output = Then> + Send + 'static) {
        debug_assert!(self.deferred.is_none(), "one deferred step at a time");
        self.deferred = Some(Box::pin(fut));
    }

    /// [`Self::defer`] for a step later messages need not wait for: the
    /// connection may go on with its next PRIVMSG or NOTICE lines, whose
    /// replies then wait behind this one's.
    pub(crate) fn defer_chainable(&mut self, fut: impl Future<Output = Then> + Send + 'static) {
        self.defer(fut);
        self.chainable = true;
    }

    /// The user this connection is (what others see: its nick, modes,
    /// channels). With several devices, the first connection's client.
    pub(crate) fn me(&self) -> &Arc<Client> {
        self.s.user()
    }

    /// This connection itself: its transport (TLS, certificate, address),
    /// its caps, its queue.
    pub(crate) fn conn(&self) -> &Arc<Client> {
        &self.s.client
    }

    pub(crate) fn caps(&self) -> Caps {
        self.s.caps
    }

    pub(crate) fn sendq(&self) -> usize {
        self.server.config().limits.sendq_bytes
    }

    pub(crate) fn server_name(&self) -> &str {
        &self.server.name
    }

    /// `:server CODE <nick> params...`; the last parameter gets a colon when needed.
    pub(crate) fn num(&mut self, code: &str, params: &[&str]) {
        let mut l = {
            let info = self.s.user().info();
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
    pub(crate) fn nick_lines(&mut self, lines: &[crate::isupport::NickLine]) {
        let info = self.s.user().info();
        for l in lines {
            self.reply.line(l.render(&info.nick));
        }
    }

    /// An event this user sees about itself: in this connection's reply,
    /// and to the user's other devices.
    pub(crate) fn push_event(&mut self, e: &Event) {
        self.push_own(e);
        self.to_my_devices(e);
    }

    /// An event for this connection alone, rendered for its caps.
    pub(crate) fn push_own(&mut self, e: &Event) {
        if e.wanted_by(self.caps()) {
            self.reply
                .push(e.tags_for(self.caps()), e.body_str().to_string());
        }
    }

    /// `e` to this user's connections other than this one (what one
    /// device sent or did, the others see).
    pub(crate) fn to_my_devices(&self, e: &Event) {
        if self.s.more.identity.is_some() || self.s.client.has_devices() {
            crate::route::to_own_devices(self.server, self.me(), self.s.client.id, e);
        }
    }

    pub(crate) fn prefix(&self) -> String {
        self.me().info().prefix()
    }

    /// An event from this client, stamped with a msgid and its account.
    pub(crate) fn event(&self, body: String) -> Event {
        let (account, bot) = {
            let i = self.me().info();
            (i.account.as_deref().map(str::to_string), i.modes.bot)
        };
        let e = Event::new(body, self.server.clock.wall());
        let id = self.server.msgid_at(e.time_ms);
        let mut e = e.with_msgid(id).with_account(account);
        e.bot = bot;
        e
    }

    pub(crate) fn fail(&mut self, code: &'static str, context: &[&str], desc: &str) {
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

    /// `Ok` for an IRC operator (user mode +o), else [`Reject::NoPrivileges`].
    pub(crate) fn require_oper(&self) -> Result<(), Reject> {
        if self.me().info().modes.oper {
            Ok(())
        } else {
            Err(Reject::NoPrivileges)
        }
    }

    /// `:server NOTICE <nick> :<text>`, from the server to this client.
    pub(crate) fn server_notice(&mut self, text: &str) {
        let nick = self.me().nick();
        let l = Line::new()
            .source(&self.server.name)
            .verb("NOTICE")
            .param(&nick)
            .trailing(text);
        self.reply.line(l.as_str().to_string());
    }

    /// The one place a `Reject` becomes a numeric or a FAIL.
    pub(crate) fn reject(&mut self, r: Reject) {
        let verb = self.verb.clone();
        match r {
            Reject::NeedMoreParams => {
                self.num(ERR_NEEDMOREPARAMS, &[&verb, "Not enough parameters"])
            }
            Reject::NoSuchNick(n) => self.num(ERR_NOSUCHNICK, &[&n, "No such nick/channel"]),
            Reject::NoSuchChannel(c) => self.num(ERR_NOSUCHCHANNEL, &[&c, "No such channel"]),
            Reject::NotOnChannel(c) => {
                self.num(ERR_NOTONCHANNEL, &[&c, "You're not on that channel"])
            }
            Reject::ChanOpPrivsNeeded(c) => {
                self.num(ERR_CHANOPRIVSNEEDED, &[&c, "You're not channel operator"])
            }
            Reject::NoPrivileges => self.num(
                ERR_NOPRIVILEGES,
                &["Permission Denied- You're not an IRC operator"],
            ),
            Reject::AlreadyRegistered => {
                self.num(ERR_ALREADYREGISTERED, &["You may not reregister"])
            }
            Reject::NicknameInUse(n, why) => self.num(ERR_NICKNAMEINUSE, &[&n, why]),
            Reject::UserNotInChannel(n, c) => self.num(
                ERR_USERNOTINCHANNEL,
                &[&n, &c, "They aren't on that channel"],
            ),
            Reject::PasswdMismatch => self.num(ERR_PASSWDMISMATCH, &["Password incorrect"]),
            Reject::UnknownCommand(c, why) => self.num(ERR_UNKNOWNCOMMAND, &[&c, why]),
            Reject::Numeric(code, params) => {
                let p: Vec<&str> = params.iter().map(|s| s.as_str()).collect();
                self.num(code, &p)
            }
            Reject::Fail(code, context, desc) => {
                let c: Vec<&str> = context.iter().map(|s| s.as_str()).collect();
                self.fail(code, &c, &desc)
            }
        }
    }

    /// Queues the reply buffer for the client, or, when the command
    /// deferred a step, keeps it (with its label) for when that step is
    /// done.
    pub(crate) fn finish(mut self) {
        let deferred = match self.deferred.take() {
            Some(fut) => Some((fut, self.chainable)),
            // Behind a chain: even a reply ready now waits its turn.
            None if self.s.in_chain => {
                Some((Box::pin(std::future::ready(then(|_| {}))) as Deferred, true))
            }
            None => None,
        };
        let Some((fut, chainable)) = deferred else {
            let reply = std::mem::take(&mut self.reply);
            return self.send_own(reply);
        };
        let mut reply = std::mem::take(&mut self.reply);
        if !reply.has_label() && !reply.is_empty() && !self.s.in_chain {
            // Nothing ties these lines to what comes later: send them now.
            let done = std::mem::replace(&mut reply, Reply::new(&self.server.name, None));
            self.send_own(done);
        }
        self.s.pending = Some(Box::new(Pending {
            fut,
            reply,
            verb: std::mem::take(&mut self.verb),
            chainable,
            next: None,
        }));
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
        cx.finish();
    }
}
