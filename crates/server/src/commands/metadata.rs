//! METADATA (IRCv3 `draft/metadata-3`): `METADATA <target> GET|LIST|SET|
//! CLEAR|SYNC ...` on a user (`*`: oneself) or a channel, and `METADATA *
//! SUB|UNSUB|SUBS` for this connection's subscriptions. A user may edit its
//! own keys, a channel operator its channel's, an IRC operator anyone's;
//! anyone may read a user's, a channel's members its channel's. Before
//! registration, SET, GET, LIST and CLEAR work on `*` and are kept for the
//! user it becomes. What is kept where, and who hears of a change:
//! `crate::metadata`.

use std::sync::Arc;

use ferry_proto::Message;
use tracing::warn;

use crate::channel::Channel;
use crate::client::Client;
use crate::config::valid_key;
use crate::ctx::{then, Ctx, Outcome, Reject};
use crate::metadata::{
    self, keynotset, keyvalue, set_in, Set, RPL_METADATASUBOK, RPL_METADATASUBS,
    RPL_METADATASYNCLATER, RPL_METADATAUNSUBOK,
};

/// What a METADATA command is about.
enum Target {
    User(Arc<Client>),
    Channel(Arc<Channel>),
}

pub(super) fn run(cx: &mut Ctx<'_>, msg: &Message<'_>) -> Outcome {
    let (Some(target), Some(sub)) = (msg.param(0), msg.param(1)) else {
        return Err(Reject::NeedMoreParams);
    };
    let sub = sub.to_ascii_lowercase();
    let args: Vec<&str> = msg.params().iter().skip(2).copied().collect();
    if matches!(sub.as_str(), "set" | "get" | "sub" | "unsub") && args.is_empty() {
        return Err(Reject::NeedMoreParams);
    }
    match sub.as_str() {
        "sub" => subscribe(cx, &args),
        "unsub" => {
            let keys = keys_or_fail(cx, &args);
            cx.server.metadata.unsubscribe(cx.conn().id, &keys);
            numeric_lists(cx, RPL_METADATAUNSUBOK, &keys);
        }
        "subs" => {
            let keys = cx.server.metadata.subs(cx.conn().id);
            numeric_lists(cx, RPL_METADATASUBS, &keys);
        }
        "set" | "get" | "list" | "clear" | "sync" if !cx.s.registered => {
            before_registration(cx, target, &sub, &args)
        }
        "set" | "get" | "list" | "clear" | "sync" => {
            let Some(t) = resolve(cx, target) else {
                return Err(fail("INVALID_TARGET", &[target], "Invalid metadata target"));
            };
            let name = match &t {
                Target::User(u) => u.nick(),
                Target::Channel(c) => c.name.clone(),
            };
            match sub.as_str() {
                "set" => set(cx, t, &name, args[0], args.get(1).copied())?,
                "clear" => clear(cx, t, &name)?,
                _ if !may_see(cx, &t) => {
                    return Err(no_permission(&name, "*"));
                }
                "get" => get(cx, &t, &name, &args),
                "list" => {
                    let lines = pairs(cx, &t)
                        .iter()
                        .map(|(k, v)| keyvalue(cx.server_name(), &my_nick(cx), &name, k, v))
                        .collect();
                    metadata::batch(cx, &name, lines);
                }
                _ => {
                    let lines = match &t {
                        Target::User(u) => metadata::user_lines(cx, u),
                        Target::Channel(c) => metadata::channel_lines(cx, c),
                    };
                    metadata::batch(cx, &name, lines);
                }
            }
        }
        _ => return Err(fail("INVALID_PARAMS", &[&sub], "Invalid subcommand")),
    }
    Ok(())
}

fn fail(code: &'static str, context: &[&str], why: &str) -> Reject {
    let context = context.iter().map(|c| c.to_string()).collect();
    Reject::Fail(code, context, why.into())
}

fn no_permission(target: &str, key: &str) -> Reject {
    fail(
        "KEY_NO_PERMISSION",
        &[target, key],
        "You do not have permission to do that",
    )
}

fn my_nick(cx: &Ctx<'_>) -> String {
    cx.me().nick()
}

fn resolve(cx: &Ctx<'_>, target: &str) -> Option<Target> {
    if target == "*" {
        return Some(Target::User(cx.me().clone()));
    }
    if target.starts_with('#') {
        return cx.server.find_channel(target).map(Target::Channel);
    }
    cx.server.find_nick(target).map(Target::User)
}

fn is_oper(cx: &Ctx<'_>) -> bool {
    cx.me().info().modes.oper
}

fn may_edit(cx: &Ctx<'_>, t: &Target) -> bool {
    let me = cx.me().id;
    is_oper(cx)
        || match t {
            Target::User(u) => u.id == me,
            Target::Channel(c) => c.lock().members.get(&me).is_some_and(|m| m.prefix.op),
        }
}

fn may_see(cx: &Ctx<'_>, t: &Target) -> bool {
    match t {
        Target::User(_) => true,
        Target::Channel(c) => is_oper(cx) || c.lock().members.contains_key(&cx.me().id),
    }
}

fn pairs(cx: &Ctx<'_>, t: &Target) -> metadata::Pairs {
    match t {
        Target::User(u) => cx.server.metadata.of_user(u.id),
        Target::Channel(c) => c.lock().metadata.clone(),
    }
}

/// A key as given, lower-cased; None (and a FAIL) when it is not one.
fn key_or_fail(cx: &mut Ctx<'_>, key: &str) -> Option<String> {
    let k = key.to_ascii_lowercase();
    if valid_key(&k) {
        Some(k)
    } else {
        cx.fail("INVALID_KEY", &[key], "Invalid key name");
        None
    }
}

fn keys_or_fail(cx: &mut Ctx<'_>, keys: &[&str]) -> Vec<String> {
    keys.iter().filter_map(|k| key_or_fail(cx, k)).collect()
}

/// May this key be set here (`metadata.keys`), and is the value fit?
fn check_set(cx: &Ctx<'_>, target: &str, key: &str, value: Option<&str>) -> Result<(), Reject> {
    let cfg = cx.server.config();
    if !cfg.metadata.keys.is_empty() && !cfg.metadata.keys.iter().any(|k| k == key) {
        return Err(no_permission(target, key));
    }
    if value.is_some_and(|v| v.len() > cfg.metadata.max_value_bytes) {
        return Err(fail("INVALID_VALUE", &[key], "Value is too long"));
    }
    Ok(())
}

/// `761 <me> <target> <key> * :<value>`, or `766 ... :Key deleted`.
fn answer(cx: &mut Ctx<'_>, to: &str, target: &str, key: &str, value: Option<&str>) {
    let l = match value {
        Some(v) => keyvalue(cx.server_name(), to, target, key, v),
        None => keynotset(cx.server_name(), to, target, key, "Key deleted"),
    };
    cx.reply.line(l);
}

fn set(cx: &mut Ctx<'_>, t: Target, name: &str, key: &str, value: Option<&str>) -> Outcome {
    let Some(key) = key_or_fail(cx, key) else {
        return Ok(());
    };
    let value = value.filter(|v| !v.is_empty()).map(str::to_string);
    if !may_edit(cx, &t) {
        return Err(no_permission(name, &key));
    }
    check_set(cx, name, &key, value.as_deref())?;
    let max = cx.server.config().metadata.max_keys;
    let full = || {
        fail(
            "LIMIT_REACHED",
            &[name, &max.to_string()],
            "Too many metadata keys",
        )
    };
    let conn = cx.conn().id;
    match t {
        Target::Channel(ch) => {
            let r = set_in(&mut ch.lock().metadata, &key, value.as_deref(), max);
            if matches!(r, Set::Full) {
                return Err(full());
            }
            answer(cx, &my_nick(cx), name, &key, value.as_deref());
            if matches!(r, Set::Changed) {
                metadata::channel_changed(cx.server, &ch, conn, &key, value.as_deref());
            }
        }
        Target::User(u) => {
            // A new key that would not fit is refused before the store.
            let held = cx.server.metadata.of_user(u.id);
            if value.is_some() && !held.iter().any(|(k, _)| *k == key) && held.len() >= max {
                return Err(full());
            }
            let Some(account) = account_of(cx, &u) else {
                apply_user(cx, &u, name, &key, value.as_deref());
                return Ok(());
            };
            // An account's profile: stored before it is answered.
            let server = cx.server_arc();
            let name = name.to_string();
            cx.defer(async move {
                let (k, v) = (key.clone(), value.clone());
                let r = server
                    .store(move |s| s.set_metadata(&account, &k, v.as_deref()))
                    .await;
                then(move |cx: &mut Ctx<'_>| match r {
                    Ok(_) => apply_user(cx, &u, &name, &key, value.as_deref()),
                    Err(e) => {
                        warn!(error = %e, "could not store metadata");
                        cx.fail(
                            "INTERNAL_ERROR",
                            &[&name, &key],
                            "Could not keep that now, try again",
                        );
                    }
                })
            });
        }
    }
    Ok(())
}

/// The casefolded account whose profile a user's metadata is.
fn account_of(cx: &Ctx<'_>, u: &Client) -> Option<String> {
    let a = u.info().account.clone()?;
    cx.server.fold_nick(&a)
}

fn apply_user(cx: &mut Ctx<'_>, u: &Arc<Client>, name: &str, key: &str, value: Option<&str>) {
    let max = cx.server.config().metadata.max_keys;
    let r = cx.server.metadata.set_user(u.id, key, value, max);
    answer(cx, &my_nick(cx), name, key, value);
    if matches!(r, Set::Changed) {
        metadata::user_changed(cx.server, u, cx.conn().id, key, value);
    }
}

fn clear(cx: &mut Ctx<'_>, t: Target, name: &str) -> Outcome {
    if !may_edit(cx, &t) {
        return Err(no_permission(name, "*"));
    }
    let conn = cx.conn().id;
    let name = name.to_string();
    match t {
        Target::Channel(ch) => {
            let gone = std::mem::take(&mut ch.lock().metadata);
            cleared(cx, &name, &gone);
            for (k, _) in &gone {
                metadata::channel_changed(cx.server, &ch, conn, k, None);
            }
        }
        Target::User(u) => {
            let account = account_of(cx, &u);
            let server = cx.server_arc();
            cx.defer(async move {
                let r = match account {
                    Some(a) => server.store(move |s| s.clear_metadata(&a)).await,
                    None => Ok(()),
                };
                then(move |cx: &mut Ctx<'_>| {
                    if let Err(e) = r {
                        warn!(error = %e, "could not clear metadata");
                        return cx.fail(
                            "INTERNAL_ERROR",
                            &[&name, "*"],
                            "Could not clear now, try again",
                        );
                    }
                    let gone = cx.server.metadata.replace_user(u.id, Vec::new());
                    cleared(cx, &name, &gone);
                    for (k, _) in &gone {
                        metadata::user_changed(cx.server, &u, conn, k, None);
                    }
                })
            });
        }
    }
    Ok(())
}

/// One RPL_KEYNOTSET per key cleared, in a `metadata` batch.
fn cleared(cx: &mut Ctx<'_>, name: &str, gone: &metadata::Pairs) {
    let me = my_nick(cx);
    let lines = gone
        .iter()
        .map(|(k, _)| keynotset(cx.server_name(), &me, name, k, "Metadata value cleared"))
        .collect();
    metadata::batch(cx, name, lines);
}

fn get(cx: &mut Ctx<'_>, t: &Target, name: &str, keys: &[&str]) {
    let have = pairs(cx, t);
    let me = my_nick(cx);
    let server = cx.server_name().to_string();
    let mut lines = Vec::new();
    for key in keys {
        let k = key.to_ascii_lowercase();
        if !valid_key(&k) {
            lines.push(format!(
                ":{server} FAIL METADATA INVALID_KEY {key} :Invalid key name"
            ));
            continue;
        }
        lines.push(match have.iter().find(|(hk, _)| *hk == k) {
            Some((_, v)) => keyvalue(&server, &me, name, &k, v),
            None => keynotset(&server, &me, name, &k, "Key is not set"),
        });
    }
    metadata::batch(cx, name, lines);
}

/// `METADATA * SUB <keys>`: in order, up to `metadata.max_subs`.
fn subscribe(cx: &mut Ctx<'_>, keys: &[&str]) {
    let keys = keys_or_fail(cx, keys);
    let max = cx.server.config().metadata.max_subs;
    let (ok, refused) = cx.server.metadata.subscribe(cx.conn().id, &keys, max);
    if let Some(k) = refused {
        cx.fail(
            "LIMIT_REACHED",
            &[&k, &max.to_string()],
            "Too many subscriptions",
        );
    }
    numeric_lists(cx, RPL_METADATASUBOK, &ok);
    if cx.s.registered && !ok.is_empty() {
        // The values of what it now follows: METADATA <target> SYNC.
        cx.num(
            RPL_METADATASYNCLATER,
            &["*", "0", "Use METADATA <target> SYNC"],
        );
    }
}

/// `<code> <me> key key ...`, in lines that fit.
fn numeric_lists(cx: &mut Ctx<'_>, code: &'static str, keys: &[String]) {
    for chunk in keys.chunks(20) {
        let p: Vec<&str> = chunk.iter().map(String::as_str).collect();
        let mut line = format!(":{} {code} {}", cx.server_name(), my_nick(cx));
        for k in p {
            line.push(' ');
            line.push_str(k);
        }
        cx.reply.line(line);
    }
}

/// Before registration: `*` only, kept in the session for the user it
/// becomes (`metadata::registered`).
fn before_registration(cx: &mut Ctx<'_>, target: &str, sub: &str, args: &[&str]) {
    if target != "*" {
        cx.fail(
            "KEY_NO_PERMISSION",
            &[target, "*"],
            "Only your own metadata may be set before registering",
        );
        return;
    }
    let me = my_nick(cx);
    let server = cx.server_name().to_string();
    match sub {
        "set" => {
            let Some(key) = key_or_fail(cx, args[0]) else {
                return;
            };
            let value = args.get(1).copied().filter(|v| !v.is_empty());
            if let Err(r) = check_set(cx, "*", &key, value) {
                return cx.reject(r);
            }
            let max = cx.server.config().metadata.max_keys;
            if let Set::Full = set_in(&mut cx.s.more.prereg_metadata, &key, value, max) {
                return cx.fail(
                    "LIMIT_REACHED",
                    &["*", &max.to_string()],
                    "Too many metadata keys",
                );
            }
            cx.s.more.tidy();
            answer(cx, &me, "*", &key, value);
        }
        "get" => {
            let have = cx.s.more.prereg_metadata.clone();
            let lines = args
                .iter()
                .map(|k| k.to_ascii_lowercase())
                .map(|k| match have.iter().find(|(hk, _)| *hk == k) {
                    Some((_, v)) => keyvalue(&server, &me, "*", &k, v),
                    None => keynotset(&server, &me, "*", &k, "Key is not set"),
                })
                .collect();
            metadata::batch(cx, "*", lines);
        }
        "list" => {
            let lines =
                cx.s.more
                    .prereg_metadata
                    .iter()
                    .map(|(k, v)| keyvalue(&server, &me, "*", k, v))
                    .collect();
            metadata::batch(cx, "*", lines);
        }
        "clear" => {
            let gone =
                cx.s.more
                    .if_made()
                    .map(|m| std::mem::take(&mut m.prereg_metadata))
                    .unwrap_or_default();
            cx.s.more.tidy();
            cleared(cx, "*", &gone);
        }
        _ => cx.num(RPL_METADATASYNCLATER, &["*", "60", "Register first"]),
    }
}
