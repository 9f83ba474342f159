//! INVITE <nick> <#channel>; INVITE alone ends an (empty) invite list.

use ferry_proto::{numeric::*, Message};

use crate::caps::Cap;
use crate::ctx::{Ctx, Outcome, Reject};
use crate::route;

pub(super) fn run(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    let (Some(nick), Some(name)) = (msg.param(0), msg.param(1)) else {
        if msg.params().is_empty() {
            cx.num(RPL_ENDOFINVITELIST, &["End of /INVITE list"]);
            return Ok(());
        }
        return Err(Reject::NeedMoreParams);
    };
    let Some(target) = cx.server.find_nick(nick) else {
        return Err(Reject::NoSuchNick(nick.into()));
    };
    let Some(ch) = cx.server.find_channel(name) else {
        return Err(Reject::NoSuchChannel(name.into()));
    };
    let me = cx.me().clone();
    let prefix = cx.prefix();
    let tnick = target.nick();
    let e = cx.event(format!(":{prefix} INVITE {tnick} {}\r\n", ch.name));
    let sendq = cx.sendq();
    {
        let mut st = ch.lock();
        let Some(p) = st.prefix_of(me.id) else {
            return Err(Reject::NotOnChannel(ch.name.clone()));
        };
        if st.modes.invite_only && !p.op {
            return Err(Reject::ChanOpPrivsNeeded(ch.name.clone()));
        }
        if st.members.contains_key(&target.id) {
            return Err(Reject::Numeric(
                ERR_USERONCHANNEL,
                vec![tnick, ch.name.clone(), "is already on channel".into()],
            ));
        }
        st.invited.insert(target.id);
        route::to_members_with(&st, me.id, Cap::InviteNotify, &e, sendq);
    }
    cx.num(RPL_INVITING, &[&tnick, &ch.name]);
    // SILENCE drops invites too, without a word to the inviter.
    route::invite(cx.server, &target, &prefix, &e);
    let away = target.info().away.clone();
    if let Some(a) = away {
        cx.num(RPL_AWAY, &[&tnick, &a]);
    }
    Ok(())
}
