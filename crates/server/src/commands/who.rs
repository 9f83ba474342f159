//! WHO <mask|#channel> [%<fields>[,<token>]]: WHO, with WHOX fields.

use std::sync::Arc;

use ferry_proto::{mask, numeric::*, Message};

use crate::caps::Cap;
use crate::channel::{Channel, Prefix};
use crate::client::{Client, Info};
use crate::ctx::{Ctx, Outcome};

/// Does `viewer` share a channel with `other`?
fn shares_channel(viewer: &Client, other: &Info) -> bool {
    other
        .channels
        .iter()
        .any(|ch| ch.lock().members.contains_key(&viewer.id))
}

/// The WHOX fields a request asks for, and its token.
struct Whox {
    fields: String,
    token: String,
}

fn who_flags(i: &Info, prefix: Option<Prefix>, multi: bool) -> String {
    let mut f = String::from(if i.away.is_some() { "G" } else { "H" });
    if i.modes.oper {
        f.push('*');
    }
    if let Some(p) = prefix {
        f.push_str(p.symbols(multi));
    }
    if i.modes.bot {
        f.push('B');
    }
    f
}

fn who_line(cx: &mut Ctx<'_>, c: &Client, chan: Option<(&Channel, Prefix)>, whox: Option<&Whox>) {
    let i = c.info().clone();
    let server = cx.server_name().to_string();
    let multi = cx.caps().has(Cap::MultiPrefix);
    let chan_name = chan
        .map(|(ch, _)| ch.name.clone())
        .unwrap_or_else(|| "*".into());
    let flags = who_flags(&i, chan.map(|(_, p)| p), multi);
    let Some(w) = whox else {
        cx.num(
            RPL_WHOREPLY,
            &[
                &chan_name,
                &i.user,
                &i.host,
                &server,
                &i.nick,
                &flags,
                &format!("0 {}", i.realname),
            ],
        );
        return;
    };
    let idle = cx
        .server
        .clock
        .unix_secs()
        .saturating_sub(i.last_message.max(i.signon))
        .to_string();
    let oplevel = chan
        .map(|(_, p)| {
            if p.op {
                "@"
            } else if p.voice {
                "+"
            } else {
                "n/a"
            }
        })
        .unwrap_or("n/a");
    let mut out: Vec<String> = Vec::new();
    for f in "tcuihsnfdlaor".chars() {
        if !w.fields.contains(f) {
            continue;
        }
        out.push(match f {
            't' => w.token.clone(),
            'c' => chan_name.clone(),
            'u' => i.user.to_string(),
            // The address only to the user itself and to operators.
            'i' if c.id == cx.me().id
                || cx.s.more.oper_name.is_some()
                || !cx.server.config().privacy.cloak =>
            {
                c.ip.to_canonical().to_string()
            }
            'i' => "255.255.255.255".into(),
            'h' => i.host.to_string(),
            's' => server.clone(),
            'n' => i.nick.to_string(),
            'f' => flags.clone(),
            'd' => "0".into(),
            'l' => idle.clone(),
            'a' => i.account.as_deref().unwrap_or("0").to_string(),
            'o' => oplevel.into(),
            _ => i.realname.to_string(),
        });
    }
    let p: Vec<&str> = out.iter().map(|s| s.as_str()).collect();
    // The realname may hold spaces: only it (last) may be trailing.
    cx.num(RPL_WHOSPCRPL, &p);
}

pub(super) fn run(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    let raw_mask = msg.param(0).filter(|m| !m.is_empty()).unwrap_or("*");
    let whox = msg.param(1).and_then(|p| p.strip_prefix('%')).map(|spec| {
        let (fields, token) = spec.split_once(',').unwrap_or((spec, ""));
        Whox {
            fields: fields.to_string(),
            token: token.to_string(),
        }
    });
    let me = cx.me().clone();
    if raw_mask.starts_with('#') {
        if let Some(ch) = cx.server.find_channel(raw_mask) {
            let members: Vec<(Arc<Client>, Prefix, bool)> = {
                let st = ch.lock();
                let member = st.members.contains_key(&me.id);
                if st.modes.secret && !member {
                    Vec::new()
                } else {
                    st.members
                        .iter()
                        .filter(|(id, _)| st.sees(me.id, **id))
                        .map(|(_, m)| (m.client.clone(), m.prefix, member))
                        .collect()
                }
            };
            for (c, p, member) in members {
                if !member && c.info().modes.invisible {
                    continue;
                }
                who_line(cx, &c, Some((&ch, p)), whox.as_ref());
            }
        }
    } else {
        let casemap = cx.server.config().casemap;
        let folded = casemap.fold_lossy(raw_mask);
        let all = folded == "*" || folded == "0";
        let exact = !folded.contains(['*', '?']);
        let clients: Vec<Arc<Client>> = if exact {
            cx.server.find_nick(raw_mask).into_iter().collect()
        } else {
            cx.server.registry.registered()
        };
        for c in clients {
            let show = {
                let i = c.info().clone();
                let matched = all
                    || exact
                    || mask::matches(&folded, &casemap.fold_lossy(&i.nick))
                    || mask::matches(&folded, &casemap.fold_lossy(&i.host))
                    || mask::matches(&folded, &casemap.fold_lossy(&i.realname))
                    || mask::matches(&folded, &casemap.fold_lossy(&i.prefix()));
                matched && (exact || c.id == me.id || !i.modes.invisible || shares_channel(&me, &i))
            };
            if show {
                who_line(cx, &c, None, whox.as_ref());
            }
        }
    }
    cx.num(RPL_ENDOFWHO, &[raw_mask, "End of WHO list"]);
    Ok(())
}
