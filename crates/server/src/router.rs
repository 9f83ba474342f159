//! Relaying: one message serialised once, delivered to many queues.
//!
//! Hand-written because it is the hot path: an [`Event`] keeps the line body
//! as `Bytes` and renders the tag prefix once per combination of the tag
//! capabilities (message-tags, server-time, account-tag) that a recipient
//! actually has, so a channel message to a thousand members costs a few
//! allocations, not a thousand.

use std::sync::OnceLock;
use std::time::SystemTime;

use bytes::Bytes;
use ferry_proto::message::escape_tag_value;
use time::format_description::well_known::Iso8601;
use time::OffsetDateTime;

use crate::caps::{Cap, Caps};
use crate::client::Client;

/// `2026-11-25T16:30:38.123Z`, the server-time format.
pub fn format_time(t: SystemTime) -> String {
    let dt = OffsetDateTime::from(t);
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    dt.format(&fmt)
        .unwrap_or_else(|_| dt.format(&Iso8601::DEFAULT).unwrap_or_default())
}

/// [`format_time`] of milliseconds since the Unix epoch.
pub fn format_millis(ms: i64) -> String {
    format_time(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64))
}

/// One line for many recipients.
#[derive(Debug, Clone)]
pub struct Event {
    pub time: String,
    /// The same instant, milliseconds since the Unix epoch (for the store).
    pub time_ms: i64,
    pub msgid: Option<String>,
    pub account: Option<String>,
    /// Client-only tags as received, already escaped (`+a=b;+c`).
    pub client_tags: Option<String>,
    /// From a user with mode +B (the `bot` tag).
    pub bot: bool,
    /// `:source VERB params\r\n`
    pub body: Bytes,
    /// Only deliver to clients with message-tags (TAGMSG).
    pub tags_only: bool,
    prefixes: [OnceLock<Bytes>; 8],
}

impl Event {
    pub fn new(body: String) -> Event {
        let now = SystemTime::now();
        Event {
            time: format_time(now),
            time_ms: now
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0),
            msgid: None,
            account: None,
            client_tags: None,
            bot: false,
            body: Bytes::from(body),
            tags_only: false,
            prefixes: Default::default(),
        }
    }

    pub fn with_msgid(mut self, id: String) -> Self {
        self.msgid = Some(id);
        self
    }

    pub fn with_account(mut self, account: Option<String>) -> Self {
        self.account = account;
        self
    }

    fn index(caps: Caps) -> usize {
        (caps.has(Cap::MessageTags) as usize)
            | (caps.has(Cap::ServerTime) as usize) << 1
            | (caps.has(Cap::AccountTag) as usize) << 2
    }

    /// The tags this recipient gets, escaped, without `@` (maybe empty).
    pub fn tags_for(&self, caps: Caps) -> String {
        let mut t = String::new();
        let mut add = |k: &str, v: &str| {
            if !t.is_empty() {
                t.push(';');
            }
            t.push_str(k);
            if !v.is_empty() {
                t.push('=');
                escape_tag_value(v, &mut t);
            }
        };
        if caps.has(Cap::ServerTime) {
            add("time", &self.time);
        }
        if caps.has(Cap::AccountTag) {
            if let Some(a) = &self.account {
                add("account", a);
            }
        }
        if caps.has(Cap::MessageTags) {
            if self.bot {
                add("bot", "");
            }
            if let Some(id) = &self.msgid {
                add("msgid", id);
            }
            if let Some(ct) = &self.client_tags {
                if !t.is_empty() {
                    t.push(';');
                }
                t.push_str(ct);
            }
        }
        t
    }

    /// Should this recipient get the event at all?
    pub fn wanted_by(&self, caps: Caps) -> bool {
        !self.tags_only || caps.has(Cap::MessageTags)
    }

    /// Queues the event for `to`. False when its queue refused it.
    pub fn deliver(&self, to: &Client, sendq: usize) -> bool {
        let caps = to.caps();
        if !self.wanted_by(caps) {
            return true;
        }
        let prefix = self.prefixes[Self::index(caps)].get_or_init(|| {
            let t = self.tags_for(caps);
            if t.is_empty() {
                Bytes::new()
            } else {
                Bytes::from(format!("@{t} "))
            }
        });
        if prefix.is_empty() {
            to.outbox.push(&[&self.body], sendq)
        } else {
            to.outbox.push(&[prefix, &self.body], sendq)
        }
    }

    /// The body without CRLF, for a reply buffer.
    pub fn body_str(&self) -> &str {
        let s = std::str::from_utf8(&self.body).unwrap_or("");
        s.trim_end_matches(['\r', '\n'])
    }
}
