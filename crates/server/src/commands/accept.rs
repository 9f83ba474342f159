//! ACCEPT <name>[,<name>] | -<name> | *: who may message a +g user (CALLERID).

use ferry_proto::{numeric::*, Message};
use ferry_store::{ListEntry, ListKind};

use crate::accounts::persist_list;
use crate::ctx::{Ctx, Outcome, Reject};

/// `ACCEPT name[,name]` / `ACCEPT -name` / `ACCEPT *`: who may message a +g user.
pub(super) fn run(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    let arg = msg.param(0).unwrap_or("");
    let me = cx.me().clone();
    let limit = cx.server.config().limits.accept_entries;
    let (mut add, mut remove) = (Vec::new(), Vec::new());
    for item in arg.split(',').filter(|i| !i.is_empty()) {
        if item == "*" {
            let names = me.lists().accept_display.clone();
            for n in names {
                cx.num(RPL_ACCEPTLIST, &[&n]);
            }
            cx.num(RPL_ENDOFACCEPT, &["End of /ACCEPT list."]);
            continue;
        }
        let (adding, name) = match item.strip_prefix('-') {
            Some(n) => (false, n),
            None => (true, item.strip_prefix('+').unwrap_or(item)),
        };
        let Some(key) = cx.server.fold_nick(name) else {
            cx.reject(Reject::NoSuchNick(name.to_string()));
            continue;
        };
        // An online nick (its account if it has one) or a registered account.
        let (key, display) = match cx.server.find_nick(name) {
            Some(c) => {
                let i = c.info();
                match &i.account {
                    Some(a) => (cx.server.fold_nick(a).unwrap_or(key), a.to_string()),
                    None => (key, i.nick.to_string()),
                }
            }
            None if cx.server.registered_names.contains(&key) || !adding => (key, name.to_string()),
            None => {
                cx.reject(Reject::NoSuchNick(name.to_string()));
                continue;
            }
        };
        let mut l = me.lists();
        if adding {
            if l.accept.contains(&key) {
                drop(l);
                cx.num(
                    ERR_ACCEPTEXIST,
                    &[&display, "is already on your accept list"],
                );
                continue;
            }
            if l.accept.len() >= limit {
                drop(l);
                cx.num(ERR_ACCEPTFULL, &["Accept list is full"]);
                continue;
            }
            l.accept.insert(key.clone());
            l.accept_display.push(display.clone());
            add.push(ListEntry { key, display });
        } else {
            if !l.accept.remove(&key) {
                drop(l);
                cx.num(ERR_ACCEPTNOT, &[name, "is not on your accept list"]);
                continue;
            }
            let casemap = cx.server.config().casemap;
            l.accept_display
                .retain(|d| casemap.fold(d).as_deref() != Some(key.as_str()));
            remove.push(key);
        }
    }
    persist_list(cx, ListKind::Accept, add, remove);
    Ok(())
}
