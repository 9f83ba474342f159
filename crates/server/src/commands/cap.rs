//! CAP LS | LIST | REQ | END: capability negotiation.

use ferry_proto::{numeric::*, Message};

use crate::caps::Cap;
use crate::ctx::{Ctx, Outcome, Reject};
use crate::lifecycle::try_register;

pub(super) fn run(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    let sub = msg.param(0).unwrap_or("").to_ascii_uppercase();
    let nick = cx.me().nick();
    let server = cx.server_name().to_string();
    match sub.as_str() {
        "LS" => {
            if !cx.s.registered {
                cx.s.cap_negotiating = true;
            }
            let version = msg
                .param(1)
                .and_then(|v| v.parse::<u32>().ok())
                .unwrap_or(0);
            if version >= 302 {
                cx.s.cap_version = cx.s.cap_version.max(302);
                cx.s.caps.set(Cap::CapNotify, true);
                cx.conn().set_caps(cx.s.caps);
            }
            let v302 = cx.s.cap_version >= 302;
            let tls = cx.conn().tls;
            let names: Vec<String> = Cap::ALL
                .iter()
                .filter(|c| c.offered(&cx.server.config()))
                .map(|c| match c.value(&cx.server.config(), tls) {
                    Some(v) if v302 => format!("{}={v}", c.name()),
                    _ => c.name().to_string(),
                })
                .collect();
            // Keep each line well inside 512 bytes; continuation needs 302.
            let mut chunks: Vec<String> = Vec::new();
            let mut cur = String::new();
            for n in names {
                if !cur.is_empty() && cur.len() + n.len() + 1 > 380 && v302 {
                    chunks.push(std::mem::take(&mut cur));
                }
                if !cur.is_empty() {
                    cur.push(' ');
                }
                cur.push_str(&n);
            }
            chunks.push(cur);
            let last = chunks.len() - 1;
            for (i, c) in chunks.iter().enumerate() {
                let more = if i < last { "* " } else { "" };
                cx.reply.line(format!(":{server} CAP {nick} LS {more}:{c}"));
            }
        }
        "LIST" => {
            let list: Vec<&str> = cx.s.caps.iter().map(|c| c.name()).collect();
            cx.reply
                .line(format!(":{server} CAP {nick} LIST :{}", list.join(" ")));
        }
        "REQ" => {
            if !cx.s.registered {
                cx.s.cap_negotiating = true;
            }
            let req = msg.param(1).unwrap_or("");
            let mut caps = cx.s.caps;
            let mut ok = !req.trim().is_empty();
            let config = cx.server.config();
            for item in req.split(' ').filter(|s| !s.is_empty()) {
                let (on, name) = match item.strip_prefix('-') {
                    Some(n) => (false, n),
                    None => (true, item),
                };
                match Cap::from_name(name) {
                    Some(c) if c.requestable() && c.offered(&config) => caps.set(c, on),
                    _ => ok = false,
                }
            }
            if ok {
                cx.s.caps = caps;
                cx.conn().set_caps(caps);
                cx.reply
                    .line(format!(":{server} CAP {nick} ACK :{}", req.trim()));
            } else {
                cx.reply
                    .line(format!(":{server} CAP {nick} NAK :{}", req.trim()));
            }
        }
        "END" => {
            if !cx.s.registered {
                cx.s.cap_negotiating = false;
                try_register(cx);
            }
        }
        _ => {
            return Err(Reject::Numeric(
                ERR_INVALIDCAPCMD,
                vec![sub, "Invalid CAP command".into()],
            ));
        }
    }
    Ok(())
}
