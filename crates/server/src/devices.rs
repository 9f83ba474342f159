//! Several devices per account (Ergo's "multiclient"): a connection logged
//! in to an account that asks, before registering, for the nick a
//! connection of the same account holds becomes another device of that
//! user instead of being told 433.
//!
//! The user is the first connection's [`Client`](crate::client::Client):
//! channels, the nick map and everyone else see only it. Its devices are
//! listed on it, and `route` delivers what is meant for the user to each
//! of them, rendered for each one's caps. What one device sends or does
//! (a message, a JOIN, a NICK) its other devices get as an echo
//! (`Ctx::push_event`, `route::to_own_devices`). A device that leaves is
//! seen by nobody; the last one to leave is the user's QUIT
//! (`lifecycle::disconnect`). Offline messages are fetched by one
//! connection (`Client::poke_offline`); the others find them in history.

use ferry_proto::numeric::*;
use tracing::{info, warn};

use crate::caps::Cap;
use crate::ctx::{then, Ctx};
use crate::event::Event;
use crate::membership::{send_names, send_topic};
use crate::{accounts, welcome};

/// What became of a connection that asked for a logged-in user's nick.
pub(crate) enum Attach {
    /// It is another device of that user, registered and welcomed.
    Attached,
    /// It is not logged in to that user's account (or is banned): 433.
    Refused,
    /// Nobody holds the nick any more.
    Gone,
}

/// Completes the registration of this connection as another device of
/// whoever holds `folded`, if it is logged in to the same account.
pub(crate) fn attach(cx: &mut Ctx<'_>, folded: &str, user: &str, realname: &str) -> Attach {
    let Some(holder) = cx.server.registry.find_nick(folded) else {
        return Attach::Gone;
    };
    let account = holder.info().account.clone();
    let account = account.and_then(|a| cx.server.fold_nick(&a));
    if account.is_none()
        || account != cx.s.account
        || !cx.server.config().accounts.multiclient
        || !holder.allows_devices()
    {
        return Attach::Refused;
    }
    let conn = cx.conn().clone();
    let host = conn.info().host.clone();
    if let Some(reason) = crate::guard::kline_reason(cx.server, user, &host, conn.ip) {
        cx.num(
            ERR_YOUREBANNEDCREEP,
            &[&format!("You are banned from this server: {reason}")],
        );
        cx.s.quit = Some(format!("K-lined: {reason}").into());
        return Attach::Attached;
    }
    if !holder.attach(conn.clone()) {
        return Attach::Gone;
    }
    let nick = {
        let h = holder.info();
        let mut i = conn.info();
        i.nick = h.nick.clone();
        i.user = user.into();
        i.realname = realname.into();
        i.account = h.account.clone();
        i.signon = cx.server.clock.unix_secs();
        h.nick.clone()
    };
    cx.s.more.identity = Some(holder.clone());
    cx.s.folded_nick = Some(folded.to_string());
    crate::lifecycle::mark_registered(cx);
    info!(conn = conn.id, %nick, user = holder.id, "registered: another device");
    cx.server.snote(
        'c',
        &format!(
            "Client connecting: {nick} ({user}@{host}) [{}] (another device)",
            conn.ip.to_canonical()
        ),
    );
    welcome::welcome(cx);
    crate::metadata::registered(cx);
    let modes = holder.info().modes.to_mode_string();
    if modes != "+" {
        cx.reply.line(format!(":{nick} MODE {nick} :{modes}"));
    }
    // The replayed JOINs carry the account's read markers: loaded first
    // (an always-on user with no device has none in memory).
    let account = cx.s.account.clone().unwrap_or_default();
    let server = cx.server_arc();
    cx.defer(async move {
        let a = account.clone();
        let loaded = server.store(move |s| s.markers(&a)).await;
        then(move |cx: &mut Ctx<'_>| {
            match loaded {
                Ok(m) => accounts::attach_markers(cx, &account, m),
                Err(e) => warn!(error = %e, %account, "could not load read markers"),
            }
            replay_channels(cx);
            if cx.s.after_login_pending {
                // Lists, MONITOR, what waited: the account's, as on any login.
                accounts::after_login(cx);
            }
        })
    });
    Attach::Attached
}

/// The user's channels, as a new device sees them: each one's JOIN, topic
/// and names, as if it had just joined.
fn replay_channels(cx: &mut Ctx<'_>) {
    let me = cx.me().clone();
    let (channels, prefix, account, realname) = {
        let i = me.info();
        (
            i.channels.clone(),
            i.prefix(),
            i.account.clone(),
            i.realname.clone(),
        )
    };
    for ch in channels {
        let body = if cx.caps().has(Cap::ExtendedJoin) {
            format!(
                ":{prefix} JOIN {} {} :{realname}\r\n",
                ch.name,
                account.as_deref().unwrap_or("*")
            )
        } else {
            format!(":{prefix} JOIN {}\r\n", ch.name)
        };
        let e = Event::new(body, cx.server.clock.wall());
        cx.push_own(&e);
        let topic = ch.lock().topic.clone();
        if let Some(t) = topic {
            send_topic(cx, &ch.name, &t);
        }
        accounts::send_marker_if_wanted(cx, &ch.name);
        if !cx.caps().has(Cap::NoImplicitNames) {
            send_names(cx, &ch);
        }
        crate::metadata::learn_channel(cx, &ch);
    }
}
