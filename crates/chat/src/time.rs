//! Times: Unix milliseconds inside, RFC 3339 on the wire (server-time),
//! the local clock on screen (chrono reads the time zone: TZ, else
//! /etc/localtime).

use chrono::{DateTime, Local, SecondsFormat, TimeZone, Utc};

pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn utc(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// `2026-12-03T09:30:00.000Z`, as server-time writes it.
pub fn rfc3339(ms: i64) -> String {
    utc(ms).to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A server-time tag's value as Unix ms.
pub fn parse(s: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// The time of a line on screen: `09:30`, with the date (`12-01 09:30`)
/// when it is not from the day `now` is in.
pub fn clock(ms: i64, now: i64) -> String {
    let t = utc(ms).with_timezone(&Local);
    if t.date_naive() == utc(now).with_timezone(&Local).date_naive() {
        t.format("%H:%M").to_string()
    } else {
        t.format("%m-%d %H:%M").to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_clock() {
        let ms = parse("2026-12-03T09:30:05.250Z").unwrap();
        assert_eq!(rfc3339(ms), "2026-12-03T09:30:05.250Z");
        let local = utc(ms).with_timezone(&Local);
        let hm = local.format("%H:%M").to_string();
        assert_eq!(clock(ms, ms + 1000), hm);
        assert_eq!(
            clock(ms, ms + 2 * 86_400_000),
            local.format("%m-%d %H:%M").to_string()
        );
        assert_eq!(parse("yesterday"), None);
    }
}
