//! OPER <name> <password>: become an IRC operator.

use std::sync::atomic::Ordering;

use ferry_proto::{numeric::*, Message};
use tracing::{info, warn};

use crate::auth::verify_password;
use crate::ctx::{Ctx, Outcome, Reject};

pub(super) fn run(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    let (name, password) = (msg.param(0).unwrap_or(""), msg.param(1));
    let block = cx
        .server
        .config()
        .opers
        .iter()
        .find(|o| o.name == name)
        .cloned();
    let me = cx.me().clone();
    let nick = me.nick();
    if block.as_ref().is_some_and(|b| b.password_hash.is_some()) && password.is_none() {
        return Err(Reject::NeedMoreParams);
    }
    let ok = block.is_some_and(|b| {
        // A configured fingerprint must be the certificate this client
        // presented; a configured password must match too.
        let cert_ok = match &b.certfp {
            None => true,
            Some(want) => me.certfp.as_deref() == Some(want.as_str()),
        };
        cert_ok
            && b.password_hash.as_ref().is_none_or(|hash| {
                // argon2 takes tens of milliseconds on purpose: keep it off
                // the runtime's scheduling path where the runtime allows it.
                let check = || verify_password(password.unwrap_or(""), hash);
                match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
                    Ok(tokio::runtime::RuntimeFlavor::MultiThread) => {
                        tokio::task::block_in_place(check)
                    }
                    _ => check(),
                }
            })
    });
    if !ok {
        warn!(%nick, oper = name, "failed OPER attempt");
        cx.server.snote(
            's',
            &format!(
                "Failed OPER attempt by {nick} ({}) as {name:?}",
                me.ip.to_canonical()
            ),
        );
        return Err(Reject::PasswdMismatch);
    }
    let was = std::mem::replace(&mut me.info().modes.oper, true);
    if !was {
        cx.server.opers.fetch_add(1, Ordering::Relaxed);
    }
    cx.s.more.oper_name = Some(name.to_string());
    info!(%nick, oper = name, "oper up");
    cx.server.snote(
        's',
        &format!(
            "{nick} ({}) is now an operator ({name})",
            me.ip.to_canonical()
        ),
    );
    cx.num(RPL_YOUREOPER, &["You are now an IRC operator"]);
    if !was {
        cx.reply.line(format!(":{nick} MODE {nick} :+o"));
    }
    Ok(())
}
