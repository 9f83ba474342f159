//! RPL_ISUPPORT tokens, and the parts of the welcome burst that change
//! only with the configuration, rendered once per configuration.

use ferry_proto::numeric::*;
use ferry_proto::Line;

use crate::config::Config;

/// A numeric to one client, rendered but for the client's nick, which goes
/// between `head` and `tail`.
#[derive(Debug)]
pub(crate) struct NickLine {
    head: Box<str>,
    tail: Box<str>,
}

impl NickLine {
    /// `:server CODE <nick> params...`, written as `Ctx::num` writes it.
    fn new(server: &str, code: &str, params: &[&str]) -> NickLine {
        // The nick's place, marked with a byte no nick or parameter holds.
        let mut l = Line::new().source(server).verb(code).param("\0");
        if let Some((last, middle)) = params.split_last() {
            for p in middle {
                l = l.param(if p.is_empty() { "*" } else { p });
            }
            l = l.param(last);
        }
        let (head, tail) = l.as_str().split_once('\0').expect("the nick's place");
        NickLine {
            head: head.into(),
            tail: tail.into(),
        }
    }

    /// The line for `nick`, without CRLF.
    pub(crate) fn render(&self, nick: &str) -> String {
        let mut s = String::with_capacity(self.head.len() + nick.len() + self.tail.len());
        s.push_str(&self.head);
        s.push_str(nick);
        s.push_str(&self.tail);
        s
    }
}

/// The welcome burst's lines that do not depend on the client or the
/// moment (002–004, ISUPPORT, MOTD): 20-odd numerics that each cost a
/// line builder, parameter checks and a few allocations per client when
/// formatted at registration (docs/PERFORMANCE.md, "Registration").
#[derive(Debug)]
pub(crate) struct Burst {
    /// 002, 003, 004.
    pub intro: Vec<NickLine>,
    /// 005 lines for a UTF-8-only wire, and for any other.
    isupport_utf8_only: Vec<NickLine>,
    isupport: Vec<NickLine>,
    /// 375, 372..., 376; or 422.
    pub motd: Vec<NickLine>,
}

impl Burst {
    pub(crate) fn new(c: &Config, created: &str) -> Burst {
        let server = c.server_name.as_str();
        let version = crate::VERSION;
        let intro = vec![
            NickLine::new(
                server,
                RPL_YOURHOST,
                &[&format!("Your host is {server}, running version {version}")],
            ),
            NickLine::new(
                server,
                RPL_CREATED,
                &[&format!("This server was created {created}")],
            ),
            NickLine::new(
                server,
                RPL_MYINFO,
                &[server, version, "Bgiosw", "CbeIiklmnostuv", "beIklov"],
            ),
        ];
        let tokens = tokens(c);
        let isupport_lines = |utf8_only: bool| {
            let shown: Vec<&str> = tokens
                .iter()
                .map(String::as_str)
                .filter(|t| utf8_only || *t != "UTF8ONLY")
                .collect();
            shown
                .chunks(13)
                .map(|chunk| {
                    let mut p = chunk.to_vec();
                    p.push("are supported by this server");
                    NickLine::new(server, RPL_ISUPPORT, &p)
                })
                .collect::<Vec<_>>()
        };
        let motd = if c.motd.is_empty() {
            vec![NickLine::new(server, ERR_NOMOTD, &["MOTD File is missing"])]
        } else {
            let mut v = vec![NickLine::new(
                server,
                RPL_MOTDSTART,
                &[&format!("- {server} Message of the day - ")],
            )];
            for l in &c.motd {
                v.push(NickLine::new(server, RPL_MOTD, &[&format!("- {l}")]));
            }
            v.push(NickLine::new(
                server,
                RPL_ENDOFMOTD,
                &["End of /MOTD command."],
            ));
            v
        };
        Burst {
            isupport_utf8_only: isupport_lines(true),
            isupport: isupport_lines(false),
            intro,
            motd,
        }
    }

    /// The 005 lines, with UTF8ONLY only for a wire that is UTF-8 without
    /// a fallback.
    pub(crate) fn isupport(&self, utf8_only: bool) -> &[NickLine] {
        if utf8_only {
            &self.isupport_utf8_only
        } else {
            &self.isupport
        }
    }
}

/// Every token ferry advertises, in order.
pub(crate) fn tokens(c: &Config) -> Vec<String> {
    let l = &c.limits;
    let t = l.max_targets;
    vec![
        format!("AWAYLEN={}", l.away_length),
        format!("ACCEPT={}", l.accept_entries),
        "ACCOUNTEXTBAN=a".into(),
        "BOT=B".into(),
        "CALLERID=g".into(),
        format!("CASEMAPPING={}", c.casemap.name()),
        format!("CHANLIMIT=#:{}", l.channels_per_user),
        "CHANMODES=beI,k,l,Cimnstu".into(),
        format!("CHANNELLEN={}", l.channel_length),
        "CHANTYPES=#".into(),
        format!("CHATHISTORY={}", c.history.max_query),
        "ELIST=CMNTU".into(),
        "EXCEPTS=e".into(),
        "EXTBAN=$,am".into(),
        "INVEX=I".into(),
        format!("KICKLEN={}", l.kick_length),
        format!("MAXLIST=beI:{}", l.list_entries),
        format!("MAXTARGETS={t}"),
        "MODES=4".into(),
        "MSGREFTYPES=msgid,timestamp".into(),
        format!("MONITOR={}", l.monitor_entries),
        format!("NETWORK={}", c.network),
        format!("NICKLEN={}", l.nick_length),
        "PREFIX=(ov)@+".into(),
        "SAFELIST".into(),
        format!("SILENCE={}", l.silence_entries),
        "STATUSMSG=@+".into(),
        format!(
            "TARGMAX=NAMES:,LIST:1,KICK:,WHOIS:1,USERHOST:5,ISON:,JOIN:,PART:,PRIVMSG:{t},NOTICE:{t},TAGMSG:{t},MONITOR:"
        ),
        format!("TOPICLEN={}", l.topic_length),
        "USERLEN=18".into(),
        "UTF8ONLY".into(),
        "WHOX".into(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nick_lines_read_as_numerics_do() {
        let l = NickLine::new("srv", RPL_ISUPPORT, &["A=1", "B", "are supported"]);
        assert_eq!(l.render("Alice"), ":srv 005 Alice A=1 B :are supported");
        let l = NickLine::new("srv", RPL_MYINFO, &["srv", "", "x"]);
        assert_eq!(l.render("张三"), ":srv 004 张三 srv * x");
        let l = NickLine::new("srv", RPL_MOTD, &[":-) hi"]);
        assert_eq!(l.render("b"), ":srv 372 b ::-) hi");
    }
}
