//! RPL_ISUPPORT tokens.

use crate::config::Config;

/// Every token ferry advertises, in order.
pub fn tokens(c: &Config) -> Vec<String> {
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
        "CHANMODES=beI,k,l,imnst".into(),
        format!("CHANNELLEN={}", l.channel_length),
        "CHANTYPES=#".into(),
        format!("CHATHISTORY={}", c.history.max_query),
        "ELIST=CMNTU".into(),
        "EXCEPTS=e".into(),
        "EXTBAN=$,a".into(),
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
