//! `ChanServ SET <#channel> <setting> <value>` (Ergo's settings): whether
//! the channel's messages are kept (`HISTORY`), and how far back its
//! members may read them (`QUERY-CUTOFF`).

use std::sync::Arc;

use tracing::warn;

use super::{say, Registration};
use crate::channel::{ChanState, Channel};
use crate::client::ClientId;
use crate::ctx::{then, Ctx, Outcome};

/// How far back a member may read a registered channel's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QueryCutoff {
    /// All of it (the default).
    None,
    /// From when the member's account was registered.
    RegistrationTime,
    /// From when the member joined.
    JoinTime,
}

impl QueryCutoff {
    fn parse(s: &str) -> Option<QueryCutoff> {
        Some(match s.to_ascii_lowercase().as_str() {
            "none" => QueryCutoff::None,
            "registration-time" => QueryCutoff::RegistrationTime,
            "join-time" => QueryCutoff::JoinTime,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            QueryCutoff::None => "none",
            QueryCutoff::RegistrationTime => "registration-time",
            QueryCutoff::JoinTime => "join-time",
        }
    }
}

/// A registered channel's settings; None: the server's default.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Settings {
    pub history: Option<bool>,
    pub query_cutoff: Option<QueryCutoff>,
}

impl Settings {
    /// From the store's (key, value) pairs; unknown ones are skipped.
    pub(crate) fn from_stored(pairs: &[(String, String)]) -> Settings {
        let mut s = Settings::default();
        for (k, v) in pairs {
            match k.as_str() {
                "history" => s.history = parse_on_off(v),
                "query-cutoff" => s.query_cutoff = QueryCutoff::parse(v),
                _ => {}
            }
        }
        s
    }

    pub(crate) fn keeps_history(&self) -> bool {
        self.history.unwrap_or(true)
    }
}

fn parse_on_off(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "on" | "enabled" | "true" => Some(true),
        "off" | "disabled" | "false" => Some(false),
        _ => None,
    }
}

/// Where a member's view of the channel's history starts.
pub(crate) enum Cutoff {
    /// From this time (Unix ms).
    At(i64),
    /// From when this account (casefolded) was registered.
    Registered(String),
}

/// The cutoff `me` (logged in to `account`) reads the channel's history
/// with, if any.
pub(crate) fn cutoff_of(st: &ChanState, me: ClientId, account: Option<&str>) -> Option<Cutoff> {
    let cutoff = st.registered.as_ref()?.settings.query_cutoff?;
    match cutoff {
        QueryCutoff::None => None,
        QueryCutoff::JoinTime => st.members.get(&me).map(|m| Cutoff::At(m.joined_ms)),
        QueryCutoff::RegistrationTime => match account {
            Some(a) => Some(Cutoff::Registered(a.to_string())),
            // Not logged in: nothing of its past.
            None => st.members.get(&me).map(|m| Cutoff::At(m.joined_ms)),
        },
    }
}

/// Whether the registered channel `name` hides from its members what was
/// said before they joined (QUERY-CUTOFF JOIN-TIME).
pub(crate) fn hides_before_join(server: &crate::Server, name: &str) -> bool {
    server.find_channel(name).is_some_and(|ch| {
        let st = ch.lock();
        st.registered
            .as_ref()
            .is_some_and(|r| r.settings.query_cutoff == Some(QueryCutoff::JoinTime))
    })
}

fn show(cx: &mut Ctx<'_>, ch: &Channel, reg: &Registration) {
    let s = reg.settings;
    let history = match s.history {
        None => "default (on)".to_string(),
        Some(true) => "on".into(),
        Some(false) => "off".into(),
    };
    let cutoff = match s.query_cutoff {
        None => "default (none)".to_string(),
        Some(c) => c.name().into(),
    };
    say(cx, &format!("Settings of {}:", ch.name));
    say(cx, &format!("  HISTORY: {history}"));
    say(cx, &format!("  QUERY-CUTOFF: {cutoff}"));
}

const SYNTAX: &str = "Syntax: SET <#channel> HISTORY ON|OFF|DEFAULT, or SET <#channel> QUERY-CUTOFF NONE|REGISTRATION-TIME|JOIN-TIME|DEFAULT";

fn syntax(cx: &mut Ctx<'_>) -> Outcome {
    say(cx, SYNTAX);
    Ok(())
}

/// `SET <#channel> [<setting> <value>]` (founder, channel operators on the
/// access list, or IRC operators; checked by the caller).
pub(crate) fn set(
    cx: &mut Ctx<'_>,
    ch: &Arc<Channel>,
    reg: &Registration,
    args: &[String],
) -> Outcome {
    let (Some(key), Some(value)) = (args.first(), args.get(1)) else {
        if args.is_empty() {
            show(cx, ch, reg);
        } else {
            return syntax(cx);
        }
        return Ok(());
    };
    let key = key.to_ascii_lowercase();
    let default = value.eq_ignore_ascii_case("default");
    let stored = match key.as_str() {
        "history" => match parse_on_off(value) {
            _ if default => None,
            Some(on) => Some(if on { "on" } else { "off" }),
            None => return syntax(cx),
        },
        "query-cutoff" => match QueryCutoff::parse(value) {
            _ if default => None,
            Some(c) => Some(c.name()),
            None => return syntax(cx),
        },
        _ => return syntax(cx),
    };
    let (server, ch) = (cx.server_arc(), ch.clone());
    cx.defer(async move {
        let (name, k) = (ch.folded.clone(), key.clone());
        let r = server
            .store(move |s| s.set_channel_setting(&name, &k, stored))
            .await;
        then(move |cx: &mut Ctx<'_>| match r {
            Ok(true) => {
                let mut st = ch.lock();
                let Some(reg) = st.registered.as_mut() else {
                    return;
                };
                let s = &mut reg.settings;
                match key.as_str() {
                    "history" => s.history = stored.and_then(parse_on_off),
                    _ => s.query_cutoff = stored.and_then(QueryCutoff::parse),
                }
                ch.set_keeps_history(s.keeps_history());
                drop(st);
                let shown = stored.unwrap_or("default");
                say(
                    cx,
                    &format!(
                        "{} of {} is now {shown}.",
                        key.to_ascii_uppercase(),
                        ch.name
                    ),
                );
            }
            Ok(false) => say(cx, &format!("{} is not registered.", ch.name)),
            Err(e) => {
                warn!(error = %e, "could not save a channel setting");
                say(cx, "Could not change it now, try again.");
            }
        })
    });
    Ok(())
}
