//! Always-on users across restarts: when an always-on user's last device
//! leaves (or the server stops under it), what it is — its nick, user,
//! host, realname and channels — is kept with its account
//! (`AccountStore::set_always_on_state`), and at the next start it is
//! back, with no device, in its channels and holding its nick, as if the
//! server had never stopped. Its QUIT forgets it.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::channel::Member;
use crate::client::Client;
use crate::Server;

/// What is kept of a parked user.
#[derive(Serialize, Deserialize)]
struct Kept {
    nick: String,
    user: String,
    host: String,
    realname: String,
    /// Channel names, as shown.
    channels: Vec<String>,
    /// When it joined each (Unix ms), beside `channels`; older states
    /// have none (the restore time stands in).
    #[serde(default)]
    joined_ms: Vec<i64>,
}

/// The user's last device left and it stays (always-on): kept, now, so a
/// restart finds it. Blocking, but parking is rare and off the message
/// path.
pub(crate) fn park(server: &Server, user: &Client, account: &str) {
    let (mut kept, channels) = {
        let i = user.info();
        let kept = Kept {
            nick: i.nick.to_string(),
            user: i.user.to_string(),
            host: i.host.to_string(),
            realname: i.realname.to_string(),
            channels: i.channels.iter().map(|c| c.name.clone()).collect(),
            joined_ms: Vec::new(),
        };
        (kept, i.channels.clone())
    };
    // Each channel's lock apart from the user's (channel, then user, is
    // the order elsewhere).
    kept.joined_ms = channels
        .iter()
        .map(|c| c.lock().members.get(&user.id).map_or(0, |m| m.joined_ms))
        .collect();
    let Ok(state) = serde_json::to_string(&kept) else {
        return;
    };
    if let Err(e) = server.store.set_always_on_state(account, Some(&state)) {
        warn!(error = %e, %account, "could not keep an always-on user");
    }
}

/// The user quit for good: nothing to restore.
pub(crate) fn forget(server: &Server, account: String) {
    let store = server.store.clone();
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        rt.spawn_blocking(move || {
            if let Err(e) = store.set_always_on_state(&account, None) {
                warn!(error = %e, %account, "could not forget an always-on user");
            }
        });
    }
}

/// At start: every kept always-on user back, parked, in its channels.
pub(crate) fn restore(server: &Arc<Server>) {
    let kept = match server.store.always_on_states() {
        Ok(k) => k,
        Err(e) => return warn!(error = %e, "could not load always-on users"),
    };
    let mut n = 0;
    for (account, state) in kept {
        let Ok(k) = serde_json::from_str::<Kept>(&state) else {
            continue;
        };
        if restore_one(server, &account, k) {
            n += 1;
        }
    }
    if n > 0 {
        info!(users = n, "always-on users restored");
    }
}

fn restore_one(server: &Arc<Server>, account: &str, k: Kept) -> bool {
    let Some(folded) = server.fold_nick(&k.nick) else {
        return false;
    };
    let display = match server.store.account(account) {
        Ok(Some(a)) if a.suspended.is_none() => a.display,
        _ => return false,
    };
    let now = server.clock.unix_secs();
    let client = Client::new(
        server.next_client_id(),
        std::net::Ipv6Addr::UNSPECIFIED.into(),
        k.host,
        now,
        server.uptime_secs(),
        server.budget.clone(),
    );
    {
        let mut i = client.info();
        i.nick = k.nick.as_str().into();
        i.user = k.user.into();
        i.realname = k.realname.into();
        i.account = Some(display.into());
        i.signon = now;
    }
    client.outbox.close();
    client.set_registered();
    client.set_always_on(true);
    client.park_without_connection();
    let user = Arc::new(client);
    if server.registry.claim_nick(&folded, &user).is_err() {
        return false;
    }
    server.registered_names.insert(account.to_string());
    server
        .users
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    if let Ok(m) = server.store.metadata(account) {
        server.metadata.replace_user(user.id, m);
    }
    let casemap = server.config().casemap;
    let restored_ms = server.clock.unix_ms();
    for (n, name) in k.channels.into_iter().enumerate() {
        let joined_ms = k.joined_ms.get(n).copied().unwrap_or(restored_ms);
        let Some(chfolded) = casemap.fold(&name).map(|f| f.into_owned()) else {
            continue;
        };
        let ch = server.registry.channel_or_create(&chfolded, &name, now);
        let mut st = ch.lock();
        if st.dead {
            continue;
        }
        let fresh = st.members.is_empty() && st.registered.is_none();
        if fresh {
            st.modes.no_external = true;
            st.modes.topic_lock = true;
        }
        let status = crate::chanserv::status_on_join(&st, Some(account));
        st.members.insert(
            user.id,
            Member {
                client: user.clone(),
                prefix: crate::chanserv::join_prefix(fresh, status),
                joined_ms,
            },
        );
        drop(st);
        user.info().channels.push(ch);
    }
    true
}
