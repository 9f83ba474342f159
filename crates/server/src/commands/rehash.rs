//! REHASH: read the configuration file again (operators).

use ferry_proto::{numeric::*, Message};

use crate::ctx::{Ctx, Outcome};

pub(super) fn run(cx: &mut Ctx<'_>, _msg: &Message<'_>) -> Outcome {
    cx.require_oper()?;
    let nick = cx.me().nick();
    match cx.server.rehash() {
        Ok(what) => {
            tracing::info!(by = %nick, %what, "rehashed");
            let file = what.split(' ').next().unwrap_or("").to_string();
            cx.num(RPL_REHASHING, &[&file, "Rehashing"]);
            if what.len() > file.len() {
                cx.server_notice(&format!("Rehashed {what}"));
            }
            cx.server.snote(
                's',
                &format!("{nick} is rehashing the server config file ({what})"),
            );
        }
        Err(e) => {
            tracing::warn!(by = %nick, error = %e, "rehash failed");
            // One line: TOML errors come over several.
            let e = e.to_string();
            let e: Vec<&str> = e.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
            cx.server_notice(&format!("REHASH failed: {}", e.join(" ")));
        }
    }
    Ok(())
}
