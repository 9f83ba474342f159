//! One line for many recipients, serialised once.
//!
//! Hand-written because it is the hot path: an [`Event`] keeps the line body
//! as `Bytes` and renders the tag prefix once per combination of the tag
//! capabilities (message-tags, server-time, account-tag) that a recipient
//! actually has, so a channel message to a thousand members costs a few
//! allocations, not a thousand. Who gets it is `route`'s business; this
//! module only says what each recipient's copy looks like.
//!
//! Stored messages (history, offline) are rendered by the same tag writer
//! ([`write_tags`]), so a replayed line carries the same tags, escaped the
//! same way, as the live one did.

use std::sync::OnceLock;
use std::time::SystemTime;

use bytes::Bytes;
use ferry_proto::message::escape_tag_value;

use crate::caps::{Cap, Caps};

/// `2026-11-25T16:30:38.123Z`, the server-time format.
pub(crate) fn format_time(t: SystemTime) -> String {
    let ms = match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    };
    format_millis(ms)
}

/// [`format_time`] of milliseconds since the Unix epoch.
///
/// Hand-written (Hinnant's civil-from-days) rather than through the
/// `time` crate's format description: every relayed message carries its
/// time, and the general formatter cost 3 % of the server's CPU at
/// 200,000 DMs/s. The `time` crate checks it in a test.
pub(crate) fn format_millis(ms: i64) -> String {
    let ms = ms.clamp(0, 253_402_300_799_999); // 9999-12-31T23:59:59.999Z
    let (secs, milli) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let mut b = *b"0000-00-00T00:00:00.000Z";
    let mut put = |at: usize, width: usize, mut v: i64| {
        for i in (at..at + width).rev() {
            b[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, year);
    put(5, 2, month);
    put(8, 2, day);
    put(11, 2, sod / 3600);
    put(14, 2, sod / 60 % 60);
    put(17, 2, sod % 60);
    put(20, 3, milli);
    String::from_utf8(b.to_vec()).expect("ASCII digits")
}

/// One line for many recipients.
#[derive(Debug, Clone)]
pub(crate) struct Event {
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
    /// Only deliver to clients with this cap (REDACT).
    pub needs: Option<Cap>,
    prefixes: [OnceLock<Bytes>; 8],
}

impl Event {
    /// An event that happened at `now` (the server clock's wall time).
    pub(crate) fn new(body: String, now: SystemTime) -> Event {
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
            needs: None,
            prefixes: Default::default(),
        }
    }

    pub(crate) fn with_msgid(mut self, id: String) -> Self {
        self.msgid = Some(id);
        self
    }

    pub(crate) fn with_account(mut self, account: Option<String>) -> Self {
        self.account = account;
        self
    }

    fn index(caps: Caps) -> usize {
        (caps.has(Cap::MessageTags) as usize)
            | (caps.has(Cap::ServerTime) as usize) << 1
            | (caps.has(Cap::AccountTag) as usize) << 2
    }

    /// The tags this recipient gets, escaped, without `@` (maybe empty).
    pub(crate) fn tags_for(&self, caps: Caps) -> String {
        let mut t = String::new();
        write_tags(
            &mut t,
            caps,
            &Tags {
                time: &self.time,
                account: self.account.as_deref(),
                bot: self.bot,
                msgid: self.msgid.as_deref(),
                client_tags: self.client_tags.as_deref(),
            },
        );
        t
    }

    /// Should this recipient get the event at all?
    pub(crate) fn wanted_by(&self, caps: Caps) -> bool {
        (!self.tags_only || caps.has(Cap::MessageTags)) && self.needs.is_none_or(|c| caps.has(c))
    }

    /// `@tags ` for a recipient with `caps`, rendered once per combination
    /// of tag capabilities and shared by every recipient with it (empty:
    /// no tags).
    pub(crate) fn prefix_for(&self, caps: Caps) -> &Bytes {
        self.prefixes[Self::index(caps)].get_or_init(|| {
            let t = self.tags_for(caps);
            if t.is_empty() {
                Bytes::new()
            } else {
                Bytes::from(format!("@{t} "))
            }
        })
    }

    /// The body without CRLF, for a reply buffer.
    pub(crate) fn body_str(&self) -> &str {
        let s = std::str::from_utf8(&self.body).unwrap_or("");
        s.trim_end_matches(['\r', '\n'])
    }
}

/// What a line's server tags are made of, live or stored.
pub(crate) struct Tags<'a> {
    /// server-time, already formatted ([`format_time`]).
    pub time: &'a str,
    pub account: Option<&'a str>,
    pub bot: bool,
    pub msgid: Option<&'a str>,
    /// Client-only tags as received, already escaped.
    pub client_tags: Option<&'a str>,
}

/// Appends the tags a recipient with `caps` gets, escaped, `;`-separated,
/// after whatever `out` holds (a `batch` tag, say). The one writer of
/// server tags: live delivery ([`Event`]) and replay (`accounts::replay`)
/// both use it, so both escape values the same way.
pub(crate) fn write_tags(out: &mut String, caps: Caps, t: &Tags<'_>) {
    let add = |out: &mut String, k: &str, v: &str| {
        if !out.is_empty() {
            out.push(';');
        }
        out.push_str(k);
        if !v.is_empty() {
            out.push('=');
            escape_tag_value(v, out);
        }
    };
    if caps.has(Cap::ServerTime) {
        add(out, "time", t.time);
    }
    if caps.has(Cap::AccountTag) {
        if let Some(a) = t.account {
            add(out, "account", a);
        }
    }
    if caps.has(Cap::MessageTags) {
        if t.bot {
            add(out, "bot", "");
        }
        if let Some(id) = t.msgid {
            add(out, "msgid", id);
        }
        if let Some(ct) = t.client_tags.filter(|c| !c.is_empty()) {
            if !out.is_empty() {
                out.push(';');
            }
            out.push_str(ct);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::format_millis;

    /// The hand-written formatter agrees with the `time` crate.
    #[test]
    fn server_time_matches_the_time_crate() {
        let fmt = time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        );
        let mut ms: i64 = 0;
        let mut step: i64 = 1;
        while ms < 253_402_300_799_999 {
            let dt = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
                .expect("in range");
            assert_eq!(format_millis(ms), dt.format(&fmt).expect("formats"), "{ms}");
            ms += step;
            step = step * 3 / 2 + 7_919;
        }
        for ms in [
            951_782_400_000,
            1_709_164_800_123,
            4_107_542_399_999,
            1_764_720_000_000,
        ] {
            let dt = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
                .expect("in range");
            assert_eq!(format_millis(ms), dt.format(&fmt).expect("formats"), "{ms}");
        }
        assert_eq!(format_millis(-5), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            format_millis(253_402_300_799_999),
            "9999-12-31T23:59:59.999Z"
        );
    }
}
