//! REGISTER <account|*> <email|*> <password> (IRCv3
//! draft/account-registration). What registering does lives in `accounts/`.

use ferry_proto::Message;

use crate::accounts::{self, start_registration, Via};
use crate::ctx::{Ctx, Outcome, Reject};

pub(super) fn run(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    let (Some(name), Some(_email), Some(password)) = (msg.param(0), msg.param(1), msg.param(2))
    else {
        return Err(Reject::NeedMoreParams);
    };
    let name = name.to_string();
    let password = password.to_string();
    if !cx.s.registered && !cx.server.config().accounts.register_before_connect {
        return Err(accounts::fail_register(
            "COMPLETE_CONNECTION_REQUIRED",
            &name,
            "Finish connecting before registering",
        ));
    }
    start_registration(cx, name, password, Via::Register)
}
