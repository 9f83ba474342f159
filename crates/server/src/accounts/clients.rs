//! `NickServ CLIENTS LIST | LOGOUT <number>|ALL` (as Ergo): the devices
//! connected to this user, and ending one of them from another — a phone
//! left logged in somewhere.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::nickserv_say;
use crate::client::Client;
use crate::ctx::{Ctx, Outcome};

/// This user's connections, in the order they came.
fn connections(user: &Client) -> Vec<(u64, std::net::IpAddr, bool, u64, u64)> {
    let mut out = Vec::new();
    user.each_conn(|c| {
        out.push((
            c.id,
            c.ip,
            c.tls,
            c.connected_at,
            c.last_active.load(Ordering::Relaxed),
        ))
    });
    out
}

pub(super) fn clients(cx: &mut Ctx<'_>, args: &[String]) -> Outcome {
    if cx.s.account.is_none() {
        nickserv_say(cx, "Log in first.");
        return Ok(());
    }
    let user = cx.me().clone();
    let conns = connections(&user);
    let sub = args.first().map(|s| s.to_ascii_uppercase());
    match sub.as_deref() {
        None | Some("LIST") => {
            let nick = user.nick();
            nickserv_say(cx, &format!("{nick} is connected {} time(s):", conns.len()));
            let (me, uptime) = (cx.conn().id, cx.server.uptime_secs());
            for (n, (id, ip, tls, at, active)) in conns.iter().enumerate() {
                let at = crate::event::format_time(
                    std::time::UNIX_EPOCH + std::time::Duration::from_secs(*at),
                );
                let idle = uptime.saturating_sub(*active);
                let line = format!(
                    "{}: {ip}{}, connected {at}, idle {idle}s{}",
                    n + 1,
                    if *tls { ", TLS" } else { "" },
                    if *id == me { " (this one)" } else { "" }
                );
                nickserv_say(cx, &line);
            }
        }
        Some("LOGOUT") => {
            let which = args.get(1).map(|s| s.to_ascii_uppercase());
            let others: Vec<u64> = conns
                .iter()
                .map(|c| c.0)
                .filter(|id| *id != cx.conn().id)
                .collect();
            let ended: Vec<u64> = match which.as_deref() {
                Some("ALL") => others,
                Some(n) => match n
                    .parse::<usize>()
                    .ok()
                    .and_then(|n| conns.get(n.wrapping_sub(1)))
                {
                    Some((id, ..)) if *id != cx.conn().id => vec![*id],
                    Some(_) => {
                        nickserv_say(cx, "That is this connection: use QUIT.");
                        return Ok(());
                    }
                    None => {
                        nickserv_say(
                            cx,
                            &format!("There is no connection {n} (see CLIENTS LIST)."),
                        );
                        return Ok(());
                    }
                },
                None => {
                    nickserv_say(cx, "Syntax: CLIENTS LOGOUT <number>|ALL");
                    return Ok(());
                }
            };
            let mut targets: Vec<Arc<Client>> = user.devices();
            targets.push(user.clone());
            let mut n = 0;
            for c in targets.iter().filter(|c| ended.contains(&c.id)) {
                c.kill_conn("Logged out from another device".into());
                n += 1;
            }
            nickserv_say(cx, &format!("{n} connection(s) logged out."));
        }
        _ => nickserv_say(cx, "Syntax: CLIENTS LIST | CLIENTS LOGOUT <number>|ALL"),
    }
    Ok(())
}
