//! Configuration: a raw struct that mirrors the TOML file, checked once and
//! turned into [`Config`]. Every error names the key, and its line when the
//! key is in the file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ferry_proto::Casemap;
use serde::Deserialize;
use thiserror::Error;

use crate::charset::Charset;
pub use crate::tls::TlsFiles;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{path}:{line}: `{key}`: {message}", line = line.map(|l| l.to_string()).unwrap_or_else(|| "?".into()))]
    Invalid {
        path: String,
        key: String,
        line: Option<usize>,
        message: String,
    },
}

#[derive(Debug, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct RawConfig {
    server: RawServer,
    listen: Vec<RawListen>,
    limits: RawLimits,
    accounts: RawAccounts,
    history: RawHistory,
    flood: RawFlood,
    privacy: RawPrivacy,
    tls: RawTls,
    oper: Vec<RawOper>,
}

/// `[tls]`: the default certificate and key of TLS listeners, and STS.
#[derive(Debug, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct RawTls {
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    sts: Option<RawSts>,
}

/// `[tls.sts]`: present means advertised.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawSts {
    port: Option<u16>,
    duration_secs: u64,
    preload: bool,
}

impl Default for RawSts {
    fn default() -> Self {
        RawSts {
            port: None,
            duration_secs: 30 * 86_400,
            preload: false,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawFlood {
    lines_per_second: f64,
    burst: u32,
    recvq_bytes: usize,
    target_changes: u32,
    target_change_secs: u64,
}

impl Default for RawFlood {
    fn default() -> Self {
        RawFlood {
            lines_per_second: 2.0,
            burst: 20,
            recvq_bytes: 8192,
            target_changes: 20,
            target_change_secs: 30,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawPrivacy {
    cloak: bool,
    cloak_secret: Option<String>,
    cloak_suffix: String,
}

impl Default for RawPrivacy {
    fn default() -> Self {
        RawPrivacy {
            cloak: true,
            cloak_secret: None,
            cloak_suffix: "ip".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawAccounts {
    register_before_connect: bool,
    min_password_length: usize,
    callerid_default: bool,
    nick_enforcement: String,
    nick_grace_secs: u64,
    offline_max_messages: usize,
    login_failures: u32,
    login_window_secs: u64,
    hash_concurrency: usize,
    require_tls_for_plain: bool,
}

impl Default for RawAccounts {
    fn default() -> Self {
        RawAccounts {
            register_before_connect: true,
            min_password_length: 8,
            callerid_default: false,
            nick_enforcement: "rename".into(),
            nick_grace_secs: 60,
            offline_max_messages: 200,
            login_failures: 10,
            login_window_secs: 60,
            hash_concurrency: 2,
            require_tls_for_plain: false,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawHistory {
    retention_days: u64,
    max_query: usize,
}

impl Default for RawHistory {
    fn default() -> Self {
        RawHistory {
            retention_days: 30,
            max_query: 1000,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawServer {
    name: String,
    description: String,
    network: String,
    data_dir: PathBuf,
    password: String,
    casemapping: String,
    motd: Option<String>,
    motd_file: Option<PathBuf>,
    admin_location: String,
    admin_email: String,
}

impl Default for RawServer {
    fn default() -> Self {
        RawServer {
            name: "ferry.local".into(),
            description: "ferry chat relay".into(),
            network: "ferry".into(),
            data_dir: "./ferry-data".into(),
            password: String::new(),
            casemapping: "rfc8265".into(),
            motd: None,
            motd_file: None,
            admin_location: "ferry".into(),
            admin_email: "root@localhost".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawListen {
    address: String,
    /// What the listener's clients speak (`utf-8`, `gbk`, `gb18030`, ...).
    #[serde(default)]
    charset: Option<String>,
    /// UTF-8 listeners: how to read a line that is not UTF-8.
    #[serde(default)]
    fallback_charset: Option<String>,
    /// TLS on this port (certificate from `tls_cert`/`tls_key` or `[tls]`).
    #[serde(default)]
    tls: bool,
    #[serde(default)]
    tls_cert: Option<PathBuf>,
    #[serde(default)]
    tls_key: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawLimits {
    nick_length: usize,
    channel_length: usize,
    topic_length: usize,
    away_length: usize,
    kick_length: usize,
    realname_length: usize,
    sendq_bytes: usize,
    sendq_total_bytes: usize,
    registration_timeout_secs: u64,
    ping_interval_secs: u64,
    ping_timeout_secs: u64,
    park_after_secs: u64,
    max_targets: usize,
    channels_per_user: usize,
    channel_members: usize,
    list_entries: usize,
    monitor_entries: usize,
    accept_entries: usize,
    silence_entries: usize,
    whowas_entries: usize,
    max_clients: usize,
    clients_per_ip: usize,
    clients_per_cidr: usize,
    connections_per_second: u32,
    exempt: Vec<String>,
}

impl Default for RawLimits {
    fn default() -> Self {
        RawLimits {
            nick_length: 32,
            channel_length: 64,
            topic_length: 390,
            away_length: 390,
            kick_length: 390,
            realname_length: 150,
            sendq_bytes: 256 * 1024,
            sendq_total_bytes: 1 << 30,
            registration_timeout_secs: 30,
            ping_interval_secs: 120,
            ping_timeout_secs: 240,
            park_after_secs: 2,
            max_targets: 4,
            channels_per_user: 100,
            channel_members: 100_000,
            list_entries: 100,
            monitor_entries: 100,
            accept_entries: 200,
            silence_entries: 100,
            whowas_entries: 1000,
            max_clients: 1_000_000,
            clients_per_ip: 10,
            clients_per_cidr: 50,
            connections_per_second: 5,
            exempt: Vec::new(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOper {
    name: String,
    #[serde(default)]
    password_hash: Option<String>,
    #[serde(default)]
    certfp: Option<String>,
}

/// The checked configuration the server runs on.
#[derive(Debug, Clone)]
pub struct Config {
    pub server_name: String,
    pub description: String,
    pub network: String,
    pub data_dir: PathBuf,
    /// The connection password (PASS); `None` when the server is open.
    pub password: Option<String>,
    pub casemap: Casemap,
    pub motd: Vec<String>,
    pub admin_location: String,
    pub admin_email: String,
    pub listen: Vec<Listen>,
    pub limits: Limits,
    pub accounts: Accounts,
    pub history: HistoryConfig,
    pub flood: Flood,
    pub privacy: Privacy,
    pub opers: Vec<Oper>,
    /// STS policy advertised to clients, if any.
    pub sts: Option<Sts>,
    /// `[tls]` cert and key: what TLS listeners use unless they name their own.
    pub tls_default: Option<TlsFiles>,
}

/// Receive flood control: a token bucket per client.
#[derive(Debug, Clone)]
pub struct Flood {
    /// Lines per second once the burst is spent (0: no flood control).
    pub lines_per_second: f64,
    pub burst: u32,
    /// Bytes a throttled client may have waiting before `Excess Flood`.
    pub recvq_bytes: usize,
    /// New private-message targets a client may start at once (0: no
    /// limit), and how often it gets one more (target-change limit).
    pub target_changes: u32,
    pub target_change_every: Duration,
}

#[derive(Debug, Clone)]
pub struct Privacy {
    /// Show keyed cloaks instead of addresses.
    pub cloak: bool,
    /// The cloak key: from `cloak_secret`, else `cloak.key` in the data
    /// directory (made at first start). `None`: show addresses.
    pub cloak_key: Option<Vec<u8>>,
    pub cloak_suffix: String,
}

/// What happens when someone takes a nick that is a registered account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NickEnforcement {
    /// Told to identify; renamed to a guest nick after the grace period.
    Rename,
    /// The nick cannot be used without logging in to its account.
    Refuse,
    None,
}

#[derive(Debug, Clone)]
pub struct Accounts {
    /// REGISTER allowed before the connection is registered.
    pub register_before_connect: bool,
    pub min_password_length: usize,
    /// New accounts start with user mode +g (QQ: only friends may write).
    pub callerid_default: bool,
    pub nick_enforcement: NickEnforcement,
    pub nick_grace: Duration,
    /// Messages that may wait for one offline account.
    pub offline_max_messages: usize,
    /// Failed logins per IP and per account allowed in `login_window`.
    pub login_failures: u32,
    pub login_window_secs: u64,
    /// Password hashes computed at once.
    pub hash_concurrency: usize,
    /// SASL PLAIN and NickServ IDENTIFY only over TLS.
    pub require_tls_for_plain: bool,
}

#[derive(Debug, Clone)]
pub struct HistoryConfig {
    pub retention_days: u64,
    /// Most messages one CHATHISTORY reply carries.
    pub max_query: usize,
}

#[derive(Debug, Clone)]
pub struct Limits {
    pub nick_length: usize,
    pub channel_length: usize,
    pub topic_length: usize,
    pub away_length: usize,
    pub kick_length: usize,
    pub realname_length: usize,
    pub sendq_bytes: usize,
    /// Memory budget for all send queues together (0: none): over it the
    /// clients with the largest queues are disconnected first.
    pub sendq_total_bytes: usize,
    pub registration_timeout: Duration,
    pub ping_interval: Duration,
    pub ping_timeout: Duration,
    /// A registered client idle this long leaves the runtime until its
    /// next line or message (`park.rs`); zero: never.
    pub park_after: Duration,
    pub max_targets: usize,
    pub channels_per_user: usize,
    /// Members one channel may have (the server's cap beside +l).
    pub channel_members: usize,
    pub list_entries: usize,
    pub monitor_entries: usize,
    pub accept_entries: usize,
    pub silence_entries: usize,
    pub whowas_entries: usize,
    /// Connections the server takes in all.
    pub max_clients: usize,
    pub clients_per_ip: usize,
    /// Per /24 (IPv4) or /64 (IPv6).
    pub clients_per_cidr: usize,
    /// New connections per IP per second.
    pub connections_per_second: u32,
    /// Networks exempt from the per-IP limits and from flood control.
    pub exempt: Vec<ipnet::IpNet>,
}

/// One listening address, what its clients speak, and its TLS files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listen {
    pub address: SocketAddr,
    pub charset: Charset,
    /// TLS certificate and key (checked when the config was loaded).
    pub tls: Option<TlsFiles>,
}

/// Strict Transport Security (IRCv3 `sts`), advertised when configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sts {
    /// The TLS port plain-text clients are sent to.
    pub port: u16,
    /// How long clients keep the policy (0 removes it).
    pub duration_secs: u64,
    pub preload: bool,
}

impl Sts {
    /// The `sts` capability's value on a plain or a TLS connection.
    pub fn value(&self, tls: bool) -> String {
        match (tls, self.preload) {
            (false, _) => format!("port={},duration={}", self.port, self.duration_secs),
            (true, false) => format!("duration={}", self.duration_secs),
            (true, true) => format!("duration={},preload", self.duration_secs),
        }
    }
}

impl Listen {
    /// A UTF-8 listener.
    pub fn utf8(address: SocketAddr) -> Listen {
        Listen {
            address,
            charset: Charset::UTF8,
            tls: None,
        }
    }

    /// `IP:PORT`, `IP:PORT/CHARSET`, `IP:PORT/tls` or `IP:PORT/CHARSET/tls`
    /// (the command line's `--listen`). A TLS listener gets its certificate
    /// from [`ListenSpec::resolve`].
    pub fn parse_spec(spec: &str) -> Result<ListenSpec, String> {
        let mut parts = spec.split('/');
        let addr = parts.next().unwrap_or("");
        let address: SocketAddr = addr
            .parse()
            .map_err(|e| format!("{addr:?} is not IP:PORT ({e})"))?;
        let mut charset = Charset::UTF8;
        let mut tls = false;
        for p in parts {
            if p.eq_ignore_ascii_case("tls") {
                tls = true;
            } else {
                charset = Charset::new(Charset::lookup(p).map_err(|e| e.to_string())?, None);
            }
        }
        Ok(ListenSpec {
            listen: Listen {
                address,
                charset,
                tls: None,
            },
            tls,
        })
    }
}

/// A listener given on the command line: TLS is asked for by `/tls`, its
/// certificate comes from the configuration.
#[derive(Debug, Clone)]
pub struct ListenSpec {
    pub listen: Listen,
    pub tls: bool,
}

impl ListenSpec {
    /// The listener, with the certificate and key a TLS one uses: `[tls]`
    /// cert and key of the configuration, else `tls/cert.pem` and
    /// `tls/key.pem` in the data directory or the current directory (where
    /// `ferry cert --self-signed` writes them).
    pub fn resolve(&self, cfg: &Config) -> Result<Listen, String> {
        let mut l = self.listen.clone();
        if !self.tls {
            return Ok(l);
        }
        let found = cfg.tls_default.clone().or_else(|| {
            [cfg.data_dir.join("tls"), PathBuf::from("tls")]
                .into_iter()
                .map(|d| TlsFiles {
                    cert: d.join("cert.pem"),
                    key: d.join("key.pem"),
                })
                .find(|f| f.cert.exists() && f.key.exists())
        });
        let Some(files) = found else {
            return Err(format!(
                "--listen {}/tls needs a certificate: set cert and key in [tls], or run \
                 `ferry cert --self-signed` (writes tls/cert.pem and tls/key.pem)",
                l.address
            ));
        };
        crate::tls::server_config(&files)
            .map_err(|e| format!("--listen {}/tls: {e}", l.address))?;
        l.tls = Some(files);
        Ok(l)
    }
}

#[derive(Debug, Clone)]
pub struct Oper {
    pub name: String,
    /// A PHC string (`$argon2id$...`), as `ferry config hash-password` prints.
    pub password_hash: Option<String>,
    /// SHA-256 of the TLS client certificate the operator must present
    /// (lowercase hex). With a password too, both must match; alone, the
    /// certificate is enough (`OPER name`).
    pub certfp: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config::from_raw(RawConfig::default(), "<defaults>", "").expect("defaults are valid")
    }
}

/// The commented example configuration (`ferry config example`).
pub const EXAMPLE: &str = include_str!("../ferry.example.toml");

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let cfg = Config::parse(&text, &path.display().to_string())?;
        Ok(cfg)
    }

    /// Parses TOML text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_string(),
            message: e.to_string(),
        })?;
        Config::from_raw(raw, origin, text)
    }

    fn from_raw(raw: RawConfig, origin: &str, text: &str) -> Result<Config, ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            path: origin.to_string(),
            key: key.to_string(),
            line: find_line(text, key),
            message,
        };
        let s = raw.server;
        if s.name.is_empty() || s.name.contains(' ') || !s.name.contains('.') {
            return Err(invalid(
                "server.name",
                "must be a host name with a dot and no spaces".into(),
            ));
        }
        if s.network.is_empty() || s.network.contains(' ') {
            return Err(invalid("server.network", "must be one word".into()));
        }
        let casemap = Casemap::from_name(&s.casemapping).ok_or_else(|| {
            invalid(
                "server.casemapping",
                "must be \"rfc8265\" or \"ascii\"".into(),
            )
        })?;
        let motd_text = match (&s.motd, &s.motd_file) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "server.motd_file",
                    "set either motd or motd_file, not both".into(),
                ))
            }
            (Some(t), None) => t.clone(),
            (None, Some(p)) => std::fs::read_to_string(p).map_err(|e| {
                invalid(
                    "server.motd_file",
                    format!("cannot read {}: {e}", p.display()),
                )
            })?,
            (None, None) => "Welcome to ferry, a chat relay on IRC.".into(),
        };
        let motd = motd_text
            .lines()
            .map(|l| l.trim_end_matches('\r').to_string())
            .collect();
        let mut listen = Vec::new();
        for l in &raw.listen {
            let addr: SocketAddr = l.address.parse().map_err(|e| {
                invalid(
                    "listen.address",
                    format!("{:?} is not IP:PORT ({e})", l.address),
                )
            })?;
            // Errors point at the line holding the offending value.
            let bad = |key: &str, value: &str, message: String| ConfigError::Invalid {
                path: origin.to_string(),
                key: key.to_string(),
                line: find_line_with(text, key, value),
                message,
            };
            let lookup = |key: &str, value: &str| {
                Charset::lookup(value).map_err(|e| bad(key, value, e.to_string()))
            };
            let wire = match &l.charset {
                Some(c) => lookup("listen.charset", c)?,
                None => encoding_rs::UTF_8,
            };
            let fallback = match &l.fallback_charset {
                Some(f) if wire != encoding_rs::UTF_8 => {
                    return Err(bad(
                        "listen.fallback_charset",
                        f,
                        format!(
                            "only UTF-8 listeners have a fallback (this one speaks {})",
                            wire.name()
                        ),
                    ))
                }
                Some(f) => Some(lookup("listen.fallback_charset", f)?),
                None => None,
            };
            let tls = listen_tls(l, &raw.tls, addr, &bad)?;
            listen.push(Listen {
                address: addr,
                charset: Charset::new(wire, fallback),
                tls,
            });
        }
        if raw.listen.is_empty() {
            listen.push(Listen::utf8("127.0.0.1:6667".parse().expect("literal")));
        }
        let sts = match &raw.tls.sts {
            None => None,
            Some(st) => {
                let tls_port = listen
                    .iter()
                    .find(|l| l.tls.is_some())
                    .map(|l| l.address.port());
                let Some(port) = st.port.or(tls_port) else {
                    return Err(ConfigError::Invalid {
                        path: origin.to_string(),
                        key: "tls.sts".into(),
                        line: text
                            .lines()
                            .position(|l| l.trim() == "[tls.sts]")
                            .map(|i| i + 1),
                        message: "STS sends clients to a TLS port: add a listener with \
                                  tls = true, or set port"
                            .into(),
                    });
                };
                Some(Sts {
                    port,
                    duration_secs: st.duration_secs,
                    preload: st.preload,
                })
            }
        };
        let l = raw.limits;
        if l.nick_length < 9 || l.nick_length > 200 {
            return Err(invalid(
                "limits.nick_length",
                "must be between 9 and 200".into(),
            ));
        }
        if l.channel_length < 2 || l.channel_length > 200 {
            return Err(invalid(
                "limits.channel_length",
                "must be between 2 and 200".into(),
            ));
        }
        if l.sendq_bytes < 4096 {
            return Err(invalid(
                "limits.sendq_bytes",
                "must be at least 4096".into(),
            ));
        }
        if l.max_targets == 0 {
            return Err(invalid("limits.max_targets", "must be at least 1".into()));
        }
        if l.ping_interval_secs == 0 || l.ping_timeout_secs <= l.ping_interval_secs {
            return Err(invalid(
                "limits.ping_timeout_secs",
                "must be longer than limits.ping_interval_secs (and both above 0)".into(),
            ));
        }
        let a = raw.accounts;
        let nick_enforcement = match a.nick_enforcement.as_str() {
            "rename" => NickEnforcement::Rename,
            "refuse" => NickEnforcement::Refuse,
            "none" => NickEnforcement::None,
            _ => {
                return Err(invalid(
                    "accounts.nick_enforcement",
                    "must be \"rename\", \"refuse\" or \"none\"".into(),
                ))
            }
        };
        if a.min_password_length == 0 {
            return Err(invalid(
                "accounts.min_password_length",
                "must be at least 1".into(),
            ));
        }
        if raw.history.max_query == 0 {
            return Err(invalid("history.max_query", "must be at least 1".into()));
        }
        let accounts = Accounts {
            register_before_connect: a.register_before_connect,
            min_password_length: a.min_password_length,
            callerid_default: a.callerid_default,
            nick_enforcement,
            nick_grace: Duration::from_secs(a.nick_grace_secs),
            offline_max_messages: a.offline_max_messages,
            login_failures: a.login_failures.max(1),
            login_window_secs: a.login_window_secs.max(1),
            hash_concurrency: a.hash_concurrency.max(1),
            require_tls_for_plain: a.require_tls_for_plain,
        };
        let history = HistoryConfig {
            retention_days: raw.history.retention_days,
            max_query: raw.history.max_query,
        };
        let mut exempt = Vec::new();
        for e in &l.exempt {
            let net = e
                .parse::<ipnet::IpNet>()
                .or_else(|_| e.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    invalid(
                        "limits.exempt",
                        format!("{e:?} is not an address or CIDR network"),
                    )
                })?;
            exempt.push(net);
        }
        let f = raw.flood;
        if f.lines_per_second < 0.0 || f.burst == 0 || f.recvq_bytes < 1024 {
            return Err(invalid(
                "flood.recvq_bytes",
                "flood needs lines_per_second >= 0, burst >= 1 and recvq_bytes >= 1024".into(),
            ));
        }
        let flood = Flood {
            lines_per_second: f.lines_per_second,
            burst: f.burst,
            recvq_bytes: f.recvq_bytes,
            target_changes: f.target_changes,
            target_change_every: Duration::from_secs(f.target_change_secs.max(1)),
        };
        let p = raw.privacy;
        if p.cloak_suffix.is_empty() || p.cloak_suffix.contains([' ', '@', '!']) {
            return Err(invalid(
                "privacy.cloak_suffix",
                "must be a host name part".into(),
            ));
        }
        let privacy = Privacy {
            cloak: p.cloak,
            cloak_key: p.cloak_secret.filter(|_| p.cloak).map(String::into_bytes),
            cloak_suffix: p.cloak_suffix,
        };
        let mut opers = Vec::new();
        for o in raw.oper {
            if let Some(h) = &o.password_hash {
                if argon2::PasswordHash::new(h).is_err() {
                    return Err(invalid(
                        "oper.password_hash",
                        format!("oper {:?}: not a PHC hash string (make one with `ferry config hash-password`)", o.name),
                    ));
                }
            }
            let certfp = match o.certfp {
                None => None,
                Some(fp) => {
                    let hex: String = fp
                        .chars()
                        .filter(|c| *c != ':')
                        .collect::<String>()
                        .to_ascii_lowercase();
                    if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                        return Err(invalid(
                            "oper.certfp",
                            format!("oper {:?}: a certificate fingerprint is 64 hex digits (SHA-256, as WHOIS 276 shows it)", o.name),
                        ));
                    }
                    Some(hex)
                }
            };
            if o.password_hash.is_none() && certfp.is_none() {
                return Err(invalid(
                    "oper",
                    format!("oper {:?}: needs password_hash, certfp or both", o.name),
                ));
            }
            opers.push(Oper {
                name: o.name,
                password_hash: o.password_hash,
                certfp,
            });
        }
        Ok(Config {
            server_name: s.name,
            description: s.description,
            network: s.network,
            data_dir: s.data_dir,
            password: (!s.password.is_empty()).then_some(s.password),
            casemap,
            motd,
            admin_location: s.admin_location,
            admin_email: s.admin_email,
            listen,
            limits: Limits {
                nick_length: l.nick_length,
                channel_length: l.channel_length,
                topic_length: l.topic_length,
                away_length: l.away_length,
                kick_length: l.kick_length,
                realname_length: l.realname_length,
                sendq_bytes: l.sendq_bytes,
                sendq_total_bytes: l.sendq_total_bytes,
                registration_timeout: Duration::from_secs(l.registration_timeout_secs.max(1)),
                ping_interval: Duration::from_secs(l.ping_interval_secs),
                ping_timeout: Duration::from_secs(l.ping_timeout_secs),
                park_after: Duration::from_secs(l.park_after_secs),
                max_targets: l.max_targets,
                channels_per_user: l.channels_per_user,
                channel_members: l.channel_members.max(1),
                list_entries: l.list_entries,
                monitor_entries: l.monitor_entries,
                accept_entries: l.accept_entries,
                silence_entries: l.silence_entries,
                max_clients: l.max_clients,
                clients_per_ip: l.clients_per_ip,
                clients_per_cidr: l.clients_per_cidr,
                connections_per_second: l.connections_per_second,
                exempt,
                whowas_entries: l.whowas_entries,
            },
            accounts,
            history,
            flood,
            privacy,
            opers,
            sts,
            tls_default: match (&raw.tls.cert, &raw.tls.key) {
                (Some(cert), Some(key)) => Some(TlsFiles {
                    cert: cert.clone(),
                    key: key.clone(),
                }),
                _ => None,
            },
        })
    }
}

/// A listener's TLS files: its own `tls_cert`/`tls_key`, else `[tls]`'s;
/// loaded once here so a bad file is reported with its key and line.
fn listen_tls(
    l: &RawListen,
    defaults: &RawTls,
    addr: SocketAddr,
    bad: &dyn Fn(&str, &str, String) -> ConfigError,
) -> Result<Option<TlsFiles>, ConfigError> {
    if !l.tls {
        if let Some(p) = l.tls_cert.as_ref().or(l.tls_key.as_ref()) {
            let key = if l.tls_cert.is_some() {
                "listen.tls_cert"
            } else {
                "listen.tls_key"
            };
            return Err(bad(
                key,
                &p.display().to_string(),
                format!("listener {addr} is not TLS: set `tls = true` to use a certificate"),
            ));
        }
        return Ok(None);
    }
    let pick = |own: &Option<PathBuf>,
                own_key: &'static str,
                def: &Option<PathBuf>,
                def_key: &'static str| {
        own.clone()
            .map(|p| (p, own_key))
            .or_else(|| def.clone().map(|p| (p, def_key)))
    };
    let (Some((cert, cert_key)), Some((key, key_key))) = (
        pick(&l.tls_cert, "listen.tls_cert", &defaults.cert, "tls.cert"),
        pick(&l.tls_key, "listen.tls_key", &defaults.key, "tls.key"),
    ) else {
        return Err(bad(
            "listen.tls",
            "true",
            format!(
                "TLS listener {addr} needs a certificate and key: set tls_cert and tls_key \
                 here, or cert and key in [tls] (`ferry cert --self-signed` makes a \
                 development pair)"
            ),
        ));
    };
    let files = TlsFiles { cert, key };
    crate::tls::server_config(&files).map_err(|e| {
        use crate::tls::TlsError;
        let on_key = match &e {
            TlsError::Read { path, .. } | TlsError::BadPem { path, .. } => *path == files.key,
            TlsError::NoKey { .. } | TlsError::Mismatch { .. } => true,
            TlsError::NoCertificate { .. } => false,
        };
        let (k, p) = if on_key {
            (key_key, &files.key)
        } else {
            (cert_key, &files.cert)
        };
        bad(k, &p.display().to_string(), e.to_string())
    })?;
    Ok(Some(files))
}

/// The line of `key` (`section.name`, last part searched) in the file.
fn find_line(text: &str, key: &str) -> Option<usize> {
    let name = key.rsplit('.').next()?;
    text.lines()
        .position(|l| {
            let l = l.trim_start();
            l.strip_prefix(name)
                .is_some_and(|r| r.trim_start().starts_with('='))
        })
        .map(|i| i + 1)
}

/// The line where `key`'s last part is set to a value containing `value`
/// (several `[[listen]]` blocks have the same keys), else where it is set.
fn find_line_with(text: &str, key: &str, value: &str) -> Option<usize> {
    let name = key.rsplit('.').next()?;
    text.lines()
        .position(|l| {
            let l = l.trim_start();
            l.strip_prefix(name)
                .map(|r| r.trim_start())
                .is_some_and(|r| r.starts_with('=') && r.contains(value))
        })
        .map(|i| i + 1)
        .or_else(|| find_line(text, key))
}

/// Hashes a password as argon2id, in the PHC string format.
pub fn hash_password(password: &str) -> String {
    use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
    let salt = SaltString::generate(&mut OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters")
        .to_string()
}

thread_local! {
    /// Argon2's working memory (19 MiB with the default parameters), kept
    /// by each thread that verifies passwords: allocated per check, it was
    /// given back and faulted in again each time, a third of a login's CPU
    /// in the kernel (docs/PERFORMANCE.md, presence).
    static ARGON2_MEMORY: std::cell::RefCell<Vec<argon2::Block>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Checks a password against a PHC hash string (argon2id, argon2i or
/// argon2d with the parameters it names), in memory kept by the thread.
pub fn verify_password(password: &str, hash: &str) -> bool {
    use argon2::password_hash::{Output, PasswordHash};
    let Ok(h) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(expected), Some(salt)) = (h.hash, h.salt) else {
        return false;
    };
    let Ok(algorithm) = argon2::Algorithm::try_from(h.algorithm) else {
        return false;
    };
    let version = match h.version.map(argon2::Version::try_from) {
        None => argon2::Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let Ok(params) = argon2::Params::try_from(&h) else {
        return false;
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let blocks = params.block_count();
    let argon = argon2::Argon2::new(algorithm, version, params);
    let mut out = [0u8; Output::MAX_LENGTH];
    let out = &mut out[..expected.len()];
    let done = ARGON2_MEMORY.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() < blocks {
            m.resize(blocks, argon2::Block::default());
        }
        argon.hash_password_into_with_memory(password.as_bytes(), salt, out, &mut m[..blocks])
    });
    // `Output`'s comparison takes the same time wherever they differ.
    done.is_ok() && Output::new(out).is_ok_and(|o| o == expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_loads() {
        let c = Config::parse(EXAMPLE, "example").unwrap();
        assert_eq!(c.server_name, "ferry.local");
        assert!(!c.opers.is_empty());
    }

    #[test]
    fn errors_name_key_and_line() {
        let e = Config::parse("[server]\nname = \"x y\"\n", "f.toml")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "f.toml:2: `server.name`: must be a host name with a dot and no spaces"
        );
        let e = Config::parse("[server]\nnmae = 1\n", "f.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("nmae") && e.contains("line 2"), "{e}");
        let e = Config::parse("[limits]\nnick_length = 3\n", "f.toml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("f.toml:2: `limits.nick_length`"), "{e}");
    }

    #[test]
    fn tls_listeners_and_sts() {
        let dir = tempfile::tempdir().unwrap();
        let pair = crate::tls::self_signed(&["localhost".into()]).unwrap();
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        std::fs::write(&cert, &pair.cert_pem).unwrap();
        std::fs::write(&key, &pair.key_pem).unwrap();
        let (c, k) = (cert.display(), key.display());
        // [tls] gives the default pair; a listener may name its own.
        let text = format!(
            "[tls]\ncert = \"{c}\"\nkey = \"{k}\"\n[tls.sts]\nduration_secs = 600\n\
             [[listen]]\naddress = \"127.0.0.1:6667\"\n\
             [[listen]]\naddress = \"127.0.0.1:6697\"\ntls = true\n\
             [[listen]]\naddress = \"127.0.0.1:6698\"\ntls = true\ntls_cert = \"{c}\"\ntls_key = \"{k}\"\n"
        );
        let cfg = Config::parse(&text, "f.toml").unwrap();
        assert_eq!(cfg.listen[0].tls, None);
        let files = TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
        };
        assert_eq!(cfg.listen[1].tls.as_ref(), Some(&files));
        assert_eq!(cfg.listen[2].tls.as_ref(), Some(&files));
        let sts = cfg.sts.as_ref().unwrap();
        assert_eq!(sts.value(false), "port=6697,duration=600");
        assert_eq!(sts.value(true), "duration=600");

        let e = Config::parse(
            "[[listen]]\naddress = \"127.0.0.1:6697\"\ntls = true\n",
            "f.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with(
                "f.toml:3: `listen.tls`: TLS listener 127.0.0.1:6697 needs a certificate and key"
            ),
            "{e}"
        );
        let e = Config::parse(
            &format!("[[listen]]\naddress = \"127.0.0.1:6697\"\ntls = true\ntls_cert = \"{c}\"\ntls_key = \"{c}\"\n"),
            "f.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("f.toml:5: `listen.tls_key`: ") && e.contains("no PEM private key"),
            "{e}"
        );
        let e = Config::parse(
            &format!("[tls]\ncert = \"{c}.missing\"\nkey = \"{k}\"\n[[listen]]\naddress = \"127.0.0.1:6697\"\ntls = true\n"),
            "f.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("f.toml:2: `tls.cert`: cannot read ") && e.contains("cert.pem.missing"),
            "{e}"
        );
        let e = Config::parse(
            &format!("[[listen]]\naddress = \"127.0.0.1:6667\"\ntls_cert = \"{c}\"\n"),
            "f.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("f.toml:3: `listen.tls_cert`: listener 127.0.0.1:6667 is not TLS"),
            "{e}"
        );
        let e = Config::parse("[tls.sts]\nduration_secs = 60\n", "f.toml")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("f.toml:1: `tls.sts`: STS sends clients to a TLS port"),
            "{e}"
        );
    }

    #[test]
    fn listener_charsets() {
        let c = Config::parse(
            "[[listen]]\naddress = \"127.0.0.1:6667\"\nfallback_charset = \"gb18030\"\n\
             [[listen]]\naddress = \"127.0.0.1:6668\"\ncharset = \"GBK\"\n",
            "f.toml",
        )
        .unwrap();
        assert_eq!(c.listen[0].charset.wire, None);
        assert_eq!(c.listen[0].charset.fallback, Some(encoding_rs::GB18030));
        assert_eq!(c.listen[1].charset.wire, Some(encoding_rs::GBK));
        let two = "[[listen]]\naddress = \"127.0.0.1:6667\"\ncharset = \"gbk\"\n\
                   [[listen]]\naddress = \"127.0.0.1:6668\"\ncharset = \"utf-16le\"\n";
        let e = Config::parse(two, "f.toml").unwrap_err().to_string();
        assert_eq!(
            e,
            "f.toml:6: `listen.charset`: UTF-16LE cannot carry IRC: only ASCII-compatible \
             charsets can (not UTF-16, ISO-2022-JP or \"replacement\")"
        );
        let e = Config::parse(
            "[[listen]]\naddress = \"127.0.0.1:6667\"\ncharset = \"replacement\"\n",
            "f.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("f.toml:3: `listen.charset`: "), "{e}");
        let e = Config::parse(
            "[[listen]]\naddress = \"127.0.0.1:6667\"\ncharset = \"gbk\"\nfallback_charset = \"big5\"\n",
            "f.toml",
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "f.toml:4: `listen.fallback_charset`: only UTF-8 listeners have a fallback (this one speaks GBK)"
        );
        assert_eq!(
            Listen::parse_spec("[::1]:6668/gbk")
                .unwrap()
                .listen
                .charset
                .wire,
            Some(encoding_rs::GBK)
        );
        assert!(Listen::parse_spec("127.0.0.1:6668/utf-16").is_err());
    }
}

#[cfg(test)]
mod password_tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher, SaltString};

    #[test]
    fn passwords_verify_with_the_parameters_their_hash_names() {
        let h = hash_password("s3cret");
        assert!(verify_password("s3cret", &h));
        assert!(!verify_password("s3creT", &h));
        assert!(!verify_password("s3cret", "not a hash"));
        // Other variants and costs than the default, and a shorter
        // memory after a longer one on the same thread.
        let salt = SaltString::from_b64("c2FsdHNhbHRzYWx0").unwrap();
        for alg in [argon2::Algorithm::Argon2i, argon2::Algorithm::Argon2d] {
            let params = argon2::Params::new(1024, 2, 1, Some(24)).unwrap();
            let a = argon2::Argon2::new(alg, argon2::Version::V0x13, params);
            let h = a.hash_password(b"pw", &salt).unwrap().to_string();
            assert!(verify_password("pw", &h), "{h}");
            assert!(!verify_password("pW", &h), "{h}");
        }
    }
}
