//! An account's data, for its owner to take away (`GET /export` on a web
//! listener, with a login token; the web page's "Export my data"): one
//! JSON document with the account, its profile, its lists, the messages
//! waiting for it, its direct conversations' history, its read markers,
//! the channels it founded or has access to, and its tokens and
//! certificates (never their secrets). docs/SECURITY.md says what
//! deleting the account (NickServ DROP) removes.

use ferry_store::{Bound, HistoryQuery, ListKind, Store, StoredMessage};
use serde_json::{json, Value};

/// Messages of one direct conversation the export carries at most (the
/// newest).
const PER_CONVERSATION: usize = 1000;
/// Direct conversations the export carries at most (the most recent).
const CONVERSATIONS: usize = 1000;

fn message(m: &StoredMessage) -> Value {
    json!({
        "msgid": m.msgid,
        "time_ms": m.time_ms,
        "from": m.source,
        "from_account": m.account,
        "command": m.command,
        "to": m.target,
        "text": m.text,
        "tags": m.tags,
    })
}

/// Everything kept for `account` (casefolded), as JSON; None if there is
/// no such account. Runs on the blocking pool.
pub(crate) fn export(store: &dyn Store, account: &str) -> ferry_store::Result<Option<Value>> {
    let Some(a) = store.account(account)? else {
        return Ok(None);
    };
    let list = |k| -> ferry_store::Result<Vec<String>> {
        Ok(store
            .list(account, k)?
            .into_iter()
            .map(|e| e.display)
            .collect())
    };
    let party = format!("a:{account}");
    let mut conversations = Vec::new();
    for (key, _) in store.history_targets(&[], &party, 0, i64::MAX, CONVERSATIONS)? {
        let rows = store.history(
            &key,
            &HistoryQuery::Before(Bound::Time(i64::MAX)),
            PER_CONVERSATION,
        )?;
        let with = ferry_store::dm_parties(&key)
            .map(|(x, y)| if x == party { y } else { x })
            .map(|p| p.get(2..).unwrap_or(p).to_string());
        conversations.push(json!({
            "with": with,
            "messages": rows.iter().map(message).collect::<Vec<_>>(),
        }));
    }
    let offline: Vec<Value> = store
        .offline(account)?
        .iter()
        .map(|(_, m)| message(m))
        .collect();
    let markers: Vec<Value> = store
        .markers(account)?
        .into_iter()
        .map(|m| json!({ "target": m.target, "time_ms": m.time_ms }))
        .collect();
    let profile: serde_json::Map<String, Value> = store
        .metadata(account)?
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    let channels: Vec<Value> = store
        .channels_of(account)?
        .into_iter()
        .map(|(name, display)| {
            let founder = store
                .channel(&name)
                .ok()
                .flatten()
                .is_some_and(|c| c.founder == account);
            json!({ "channel": display, "founder": founder })
        })
        .collect();
    let tokens: Vec<Value> = store
        .tokens(account)?
        .into_iter()
        .map(|t| json!({ "id": t.id, "label": t.label, "created_ms": t.created_ms, "last_used_ms": t.last_used_ms }))
        .collect();
    Ok(Some(json!({
        "format": "ferry-export-1",
        "account": {
            "name": a.display,
            "email": a.email,
            "created_ms": a.created_ms,
            "only_friends_may_write": a.callerid,
            "always_on": a.always_on,
        },
        "profile": profile,
        "friends": list(ListKind::Accept)?,
        "blocked": list(ListKind::Silence)?,
        "watched": list(ListKind::Monitor)?,
        "waiting_messages": offline,
        "direct_conversations": conversations,
        "read_markers": markers,
        "channels": channels,
        "login_tokens": tokens,
        "certificates": store.certs(account)?,
    })))
}
