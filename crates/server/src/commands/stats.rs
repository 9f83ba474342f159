//! STATS <letter>: what operators see of the running server (TRACE and
//! REHASH are their own files).
//!
//! `STATS u` and `STATS m` are open to everyone (as on solanum); the rest
//! need an operator. Letters:
//! - `u` uptime (242);
//! - `m` commands: count and bytes per verb since start (212);
//! - `o` operator blocks (243); `k` K-lines (216); `d` D-lines (225);
//! - `P` listeners: address, charset, TLS, open and accepted connections;
//! - `t` traffic: connections, lines and bytes, clients disconnected by
//!   each limit;
//! - `z` accounting: clients, channels, read buffers, send queues against
//!   the memory budget, the largest queue;
//! - `l <nick>` one client's connection: its queue, idle time, transport.
//!
//! The `P`, `t`, `z` and `l` lines are RPL_STATSDEBUG (249) text, as
//! solanum shows its memory and traffic views; `t` and `z` lines are
//! `key value` pairs, for people and scripts alike.

use std::sync::atomic::Ordering;

use ferry_proto::{numeric::*, Message};

use crate::ctx::{Ctx, Outcome, Reject};
use crate::server::Server;

fn debug(cx: &mut Ctx<'_>, letter: &str, text: String) {
    cx.num(RPL_STATSDEBUG, &[letter, &text]);
}

pub(super) fn run(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    let query = msg.param(0).unwrap_or("");
    let letter = query.chars().next().unwrap_or('*');
    if !matches!(letter, 'u' | 'm') {
        cx.require_oper()?;
    }
    let server = cx.server.clone();
    match letter {
        'u' => uptime(cx, &server),
        'm' => commands(cx, &server),
        'o' | 'O' => opers(cx, &server),
        'k' | 'K' | 'd' | 'D' => bans(cx, &server, letter),
        'P' | 'p' => listeners(cx, &server),
        't' | 'T' => traffic(cx, &server),
        'z' | 'Z' => memory(cx, &server),
        'l' | 'L' => client(cx, &server, msg)?,
        _ => {}
    }
    let shown = letter.to_string();
    cx.num(RPL_ENDOFSTATS, &[&shown, "End of /STATS report"]);
    Ok(())
}

/// `u`: uptime (242).
fn uptime(cx: &mut Ctx<'_>, server: &Server) {
    let up = server.uptime_secs();
    let text = format!(
        "Server Up {} days {}:{:02}:{:02}",
        up / 86_400,
        up % 86_400 / 3600,
        up % 3600 / 60,
        up % 60
    );
    cx.num(RPL_STATSUPTIME, &[&text]);
}

/// `m`: count and bytes per verb since start (212).
fn commands(cx: &mut Ctx<'_>, server: &Server) {
    for (i, name) in super::command_names().enumerate() {
        let (count, bytes) = server.stats.command_counts(i);
        if count > 0 {
            cx.num(
                RPL_STATSCOMMANDS,
                &[name, &count.to_string(), &bytes.to_string(), "0"],
            );
        }
    }
}

/// `o`: operator blocks (243).
fn opers(cx: &mut Ctx<'_>, server: &Server) {
    let cfg = server.config();
    for o in &cfg.opers {
        let how = match (&o.password_hash, &o.certfp) {
            (Some(_), Some(_)) => "password+certfp",
            (None, Some(_)) => "certfp",
            _ => "password",
        };
        cx.num(RPL_STATSOLINE, &["O", "*", "*", &o.name, how, "opers"]);
    }
}

/// `k` K-lines (216), `d` D-lines (225), with the time left.
fn bans(cx: &mut Ctx<'_>, server: &Server, letter: char) {
    let kline = matches!(letter, 'k' | 'K');
    let now = server.clock.unix_ms();
    let bans: Vec<_> = server
        .bans
        .read()
        .expect("bans lock")
        .iter()
        .filter(|b| {
            (b.kind == ferry_store::BanKind::Kline) == kline && b.expires_ms.is_none_or(|e| e > now)
        })
        .cloned()
        .collect();
    for b in bans {
        let left = b
            .expires_ms
            // Whole minutes, rounded up: a 5-minute ban is "5 min left"
            // in its first millisecond too.
            .map(|e| format!("{} min left", ((e - now).max(0) + 59_999) / 60_000))
            .unwrap_or_else(|| "permanent".into());
        let reason = format!("{} ({left}, set by {})", b.reason, b.set_by);
        if kline {
            let (user, host) = b.mask.split_once('@').unwrap_or(("*", &b.mask));
            cx.num(RPL_STATSKLINE, &["K", host, "*", user, &reason]);
        } else {
            cx.num(RPL_STATSDLINE, &["D", &b.mask, &reason]);
        }
    }
}

/// `P`: listeners, their charset, TLS, open and accepted connections.
fn listeners(cx: &mut Ctx<'_>, server: &Server) {
    let listeners = server.listeners.lock().expect("listeners lock").clone();
    for l in listeners {
        debug(
            cx,
            "P",
            format!(
                "listener {} charset {} {}{} open {} accepted {}",
                l.address,
                l.charset,
                if l.tls { "tls" } else { "plain" },
                if l.web { " web" } else { "" },
                l.open.load(Ordering::Relaxed),
                l.accepted.load(Ordering::Relaxed)
            ),
        );
    }
}

/// `t`: connections, lines and bytes, clients disconnected by each limit.
fn traffic(cx: &mut Ctx<'_>, server: &Server) {
    let s = &server.stats;
    let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let lines = [
        format!("accepted {} refused {}", get(&s.accepted), get(&s.refused)),
        format!(
            "lines_in {} bytes_in {} bytes_out {}",
            get(&s.lines_in),
            get(&s.bytes_in),
            get(&s.bytes_out)
        ),
        format!(
            "shed_sendq {} shed_memory_budget {} shed_excess_flood {}",
            get(&s.sendq_exceeded),
            get(&s.budget_shed),
            get(&s.excess_flood)
        ),
        format!("target_change_refused {}", get(&s.target_change_refused)),
        {
            let (rows, dropped) = server.history.counts();
            format!("history_rows {rows} history_dropped {dropped}")
        },
    ];
    for l in lines {
        debug(cx, "t", l);
    }
}

/// `z`: clients, channels, read buffers, send queues against the budget.
fn memory(cx: &mut Ctx<'_>, server: &Server) {
    let cfg = server.config();
    let clients = server.registry.client_count();
    let users = server.users.load(Ordering::Relaxed);
    let (largest, queues) = server
        .registry
        .clients()
        .iter()
        .map(|c| c.outbox.pending())
        .fold((0, 0), |(m, n), p| (m.max(p), n + usize::from(p > 0)));
    let b = &server.budget;
    let lines = [
        format!(
            "clients {clients} registered {users} unregistered {} parked {} admitted {} max_clients {}",
            clients.saturating_sub(users),
            server.stats.parked.load(Ordering::Relaxed),
            server.admission.total(),
            cfg.limits.max_clients
        ),
        format!(
            "channels {} monitored_nicks {} whowas {}",
            server.registry.channel_count(),
            server.registry.watched_count(),
            server.whowas.lock().expect("whowas lock").len()
        ),
        format!(
            "read_buffers {} recvq_limit {}",
            server.stats.read_buffers.load(Ordering::Relaxed),
            cfg.flood.recvq_bytes
        ),
        format!(
            "sendq {} sendq_soft {} sendq_hard {} queues {queues} largest_queue {largest} sendq_per_client {}",
            b.queued(),
            b.soft(),
            b.hard(),
            cfg.limits.sendq_bytes
        ),
    ];
    for l in lines {
        debug(cx, "z", l);
    }
}

/// `l <nick>`: one client's connection.
fn client(cx: &mut Ctx<'_>, server: &Server, msg: &Message<'_>) -> Outcome {
    let Some(nick) = msg.param(1) else {
        return Err(Reject::NeedMoreParams);
    };
    let Some(c) = server.find_nick(nick) else {
        return Err(Reject::NoSuchNick(nick.into()));
    };
    let idle = server
        .uptime_secs()
        .saturating_sub(c.last_active.load(Ordering::Relaxed));
    let text = format!(
        "client {} ip {} sendq {} connected {}s idle {idle}s {}",
        c.nick(),
        c.ip.to_canonical(),
        c.outbox.pending(),
        server.clock.unix_secs().saturating_sub(c.connected_at),
        if c.tls { "tls" } else { "plain" },
    );
    debug(cx, "l", text);
    Ok(())
}
