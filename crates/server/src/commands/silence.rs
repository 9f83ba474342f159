//! SILENCE [+|-]<mask>: senders whose messages and invites are dropped
//! without a word; SILENCE alone lists them.

use ferry_proto::{numeric::*, Message};
use ferry_store::{ListEntry, ListKind};

use crate::accounts::persist_list;
use crate::ctx::{Ctx, Outcome};

/// `SILENCE` / `SILENCE +mask` / `SILENCE -mask`: senders to drop without a word.
pub(super) fn run(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    let me = cx.me().clone();
    let nick = me.nick();
    let Some(arg) = msg.param(0).filter(|a| !a.is_empty()) else {
        let list = me.lists().silence.clone();
        for (mask, _) in list {
            cx.num(RPL_SILELIST, &[&nick, &mask]);
        }
        cx.num(RPL_ENDOFSILELIST, &["End of Silence List"]);
        return Ok(());
    };
    let casemap = cx.server.config().casemap;
    let limit = cx.server.config().limits.silence_entries;
    let (mut add, mut remove) = (Vec::new(), Vec::new());
    let prefix = cx.prefix();
    for item in arg.split(',').filter(|i| !i.is_empty()) {
        let (adding, raw) = match item.strip_prefix('-') {
            Some(m) => (false, m),
            None => (true, item.strip_prefix('+').unwrap_or(item)),
        };
        let mask = ferry_proto::mask::normalize(raw);
        let folded = casemap.fold_lossy(&mask);
        let mut l = me.lists();
        let exists = l.silence.iter().any(|(_, f)| *f == folded);
        if adding {
            if exists {
                continue;
            }
            if l.silence.len() >= limit {
                drop(l);
                cx.num(ERR_SILELISTFULL, &[&mask, "Your silence list is full"]);
                continue;
            }
            l.silence.push((mask.clone(), folded.clone()));
            add.push(ListEntry {
                key: folded,
                display: mask.clone(),
            });
        } else {
            if !exists {
                continue;
            }
            l.silence.retain(|(_, f)| *f != folded);
            remove.push(folded);
        }
        me.sync_silence_flag(&l);
        drop(l);
        let sign = if adding { '+' } else { '-' };
        cx.reply.line(format!(":{prefix} SILENCE {sign}{mask}"));
    }
    persist_list(cx, ListKind::Silence, add, remove);
    Ok(())
}
