//! CHARSET [<charset>]: what this connection's wire speaks, for clients
//! that cannot choose a GBK port (as ngircd's CHARCONV). See
//! docs/CHARSETS.md.
//!
//! `CHARSET` alone reports it; `CHARSET gbk` switches both directions from
//! the next line on (the NOTE that confirms it is already encoded in the
//! new charset); `CHARSET utf-8` returns to UTF-8 (with the listener's
//! fallback, if it has one). Allowed before registration.

use ferry_proto::{numeric::RPL_ISUPPORT, Line, Message};

use crate::charset::Charset;
use crate::ctx::{Ctx, Outcome, Reject};

pub(super) fn run(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    let Some(name) = msg.param(0).filter(|p| !p.is_empty()) else {
        let cs = cx.s.charset;
        let desc = describe(cs);
        note(
            cx,
            "CURRENT",
            cs.name(),
            &format!("This connection speaks {desc}"),
        );
        return Ok(());
    };
    let enc = Charset::lookup(name).map_err(|e| {
        use crate::charset::CharsetError;
        // Echo a short, printable form of what was asked for, so the reply
        // stays one sane line whatever was sent (found by fuzzing).
        let shown: String = name
            .chars()
            .take(40)
            .map(|c| if c.is_control() { '?' } else { c })
            .collect();
        let (code, e) = match e {
            CharsetError::Unknown(_) => ("UNKNOWN_CHARSET", CharsetError::Unknown(shown.clone())),
            e @ CharsetError::NotAsciiCompatible(_) => ("UNSUPPORTED_CHARSET", e),
        };
        Reject::Fail(code, vec![shown], capitalise(&e.to_string()))
    })?;
    let before = cx.s.charset;
    let listener = cx.s.more.listener_charset.unwrap_or(Charset::UTF8);
    let after = Charset::new(enc, listener.fallback);
    cx.s.charset = after;
    note(
        cx,
        "CHANGED",
        after.name(),
        &format!("This connection now speaks {}", describe(after)),
    );
    if cx.s.registered && before.is_utf8_only() != after.is_utf8_only() {
        let token = if after.is_utf8_only() {
            "UTF8ONLY"
        } else {
            "-UTF8ONLY"
        };
        cx.num(RPL_ISUPPORT, &[token, "are supported by this server"]);
    }
    Ok(())
}

fn describe(cs: Charset) -> String {
    match cs.fallback {
        Some(f) => format!("UTF-8; lines that are not UTF-8 are read as {}", f.name()),
        None => cs.name().to_string(),
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// `:server NOTE CHARSET <code> <charset> :<description>`
fn note(cx: &mut Ctx<'_>, code: &str, charset: &str, desc: &str) {
    let l = Line::new()
        .source(cx.server_name())
        .verb("NOTE")
        .param("CHARSET")
        .param(code)
        .param(charset)
        .trailing(desc);
    cx.reply.line(l.as_str().to_string());
}
