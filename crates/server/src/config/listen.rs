//! `[[listen]]` and `[tls]`: the listening addresses, what their clients
//! speak, their certificates, and the STS policy that points at them; and
//! the command line's `--listen`.

use std::net::{AddrParseError, SocketAddr};
use std::path::PathBuf;

use serde::Deserialize;
use thiserror::Error;

use super::{Config, ConfigError, Source};
use crate::charset::{Charset, CharsetError};
use crate::tls::{TlsError, TlsFiles};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawListen {
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
    /// A web listener: the chat page and IRCv3 WebSocket, not raw IRC.
    #[serde(default)]
    web: bool,
    /// Web listeners: origins allowed to open a WebSocket besides the
    /// listener's own (`https://chat.example.org`; `*`: any).
    #[serde(default)]
    allowed_origins: Vec<String>,
}

/// `[tls]`: the default certificate and key of TLS listeners, and STS.
#[derive(Debug, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawTls {
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

/// One listening address, what its clients speak, and its TLS files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listen {
    pub address: SocketAddr,
    pub charset: Charset,
    /// TLS certificate and key (checked when the config was loaded).
    pub tls: Option<TlsFiles>,
    /// A web listener (HTTP: the page and the WebSocket transport).
    pub web: bool,
    /// Origins a web listener takes WebSockets from besides its own.
    pub allowed_origins: Vec<String>,
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

/// Why a `--listen` listener cannot be used.
#[derive(Debug, Error)]
pub enum ListenError {
    #[error("{addr:?} is not IP:PORT ({source})")]
    Address {
        addr: String,
        source: AddrParseError,
    },
    #[error(transparent)]
    Charset(#[from] CharsetError),
    #[error(
        "--listen {address}/tls needs a certificate: set cert and key in [tls], or run \
         `ferry cert --self-signed` (writes tls/cert.pem and tls/key.pem)"
    )]
    NoCertificate { address: SocketAddr },
    #[error("--listen {address}/tls: {source}")]
    Tls {
        address: SocketAddr,
        source: TlsError,
    },
}

impl Listen {
    /// A UTF-8 listener.
    pub fn utf8(address: SocketAddr) -> Listen {
        Listen {
            address,
            charset: Charset::UTF8,
            tls: None,
            web: false,
            allowed_origins: Vec::new(),
        }
    }

    /// `IP:PORT`, `IP:PORT/CHARSET`, `IP:PORT/tls` or `IP:PORT/CHARSET/tls`
    /// (the command line's `--listen`). A TLS listener gets its certificate
    /// from [`ListenSpec::resolve`].
    pub fn parse_spec(spec: &str) -> Result<ListenSpec, ListenError> {
        let mut parts = spec.split('/');
        let addr = parts.next().unwrap_or("");
        let address: SocketAddr = addr.parse().map_err(|source| ListenError::Address {
            addr: addr.to_string(),
            source,
        })?;
        let mut charset = Charset::UTF8;
        let mut tls = false;
        let mut web = false;
        for p in parts {
            if p.eq_ignore_ascii_case("tls") {
                tls = true;
            } else if p.eq_ignore_ascii_case("web") {
                web = true;
            } else {
                charset = Charset::new(Charset::lookup(p)?, None);
            }
        }
        Ok(ListenSpec {
            listen: Listen {
                address,
                charset,
                tls: None,
                web,
                allowed_origins: Vec::new(),
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
    pub fn resolve(&self, cfg: &Config) -> Result<Listen, ListenError> {
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
            return Err(ListenError::NoCertificate { address: l.address });
        };
        crate::tls::server_config(&files).map_err(|source| ListenError::Tls {
            address: l.address,
            source,
        })?;
        l.tls = Some(files);
        Ok(l)
    }
}

/// The checked `[[listen]]` blocks and `[tls]`.
pub(super) struct Listeners {
    pub(super) listen: Vec<Listen>,
    pub(super) sts: Option<Sts>,
    pub(super) tls_default: Option<TlsFiles>,
}

pub(super) fn validate(
    raw: &[RawListen],
    tls: &RawTls,
    src: &Source<'_>,
) -> Result<Listeners, ConfigError> {
    let mut listen = raw
        .iter()
        .map(|l| listener(l, tls, src))
        .collect::<Result<Vec<_>, _>>()?;
    if listen.is_empty() {
        // IRC, and the web chat page with its WebSocket beside it.
        listen.push(Listen::utf8("127.0.0.1:6667".parse().expect("literal")));
        let mut web = Listen::utf8("127.0.0.1:8080".parse().expect("literal"));
        web.web = true;
        listen.push(web);
    }
    let sts = match &tls.sts {
        None => None,
        Some(st) => Some(sts(st, &listen, src)?),
    };
    let tls_default = match (&tls.cert, &tls.key) {
        (Some(cert), Some(key)) => Some(TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
        }),
        _ => None,
    };
    Ok(Listeners {
        listen,
        sts,
        tls_default,
    })
}

/// One `[[listen]]` block. Errors point at the line holding the offending
/// value, since every block has the same keys.
fn listener(l: &RawListen, defaults: &RawTls, src: &Source<'_>) -> Result<Listen, ConfigError> {
    let addr: SocketAddr = l.address.parse().map_err(|e| {
        src.invalid(
            "listen.address",
            format!("{:?} is not IP:PORT ({e})", l.address),
        )
    })?;
    let lookup = |key: &str, value: &str| {
        Charset::lookup(value).map_err(|e| src.invalid_value(key, value, e.to_string()))
    };
    let wire = match &l.charset {
        Some(c) => lookup("listen.charset", c)?,
        None => encoding_rs::UTF_8,
    };
    let fallback = match &l.fallback_charset {
        Some(f) if wire != encoding_rs::UTF_8 => {
            return Err(src.invalid_value(
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
    let tls = listen_tls(l, defaults, addr, src)?;
    if l.web && wire != encoding_rs::UTF_8 {
        return Err(src.invalid_value(
            "listen.charset",
            l.charset.as_deref().unwrap_or(""),
            "a web listener speaks UTF-8 (WebSocket text is UTF-8)".into(),
        ));
    }
    if !l.web && !l.allowed_origins.is_empty() {
        return Err(src.invalid(
            "listen.allowed_origins",
            format!("listener {addr} is not a web listener: set `web = true`"),
        ));
    }
    Ok(Listen {
        address: addr,
        charset: Charset::new(wire, fallback),
        tls,
        web: l.web,
        allowed_origins: l.allowed_origins.clone(),
    })
}

/// A listener's TLS files: its own `tls_cert`/`tls_key`, else `[tls]`'s;
/// loaded once here so a bad file is reported with its key and line.
fn listen_tls(
    l: &RawListen,
    defaults: &RawTls,
    addr: SocketAddr,
    src: &Source<'_>,
) -> Result<Option<TlsFiles>, ConfigError> {
    if !l.tls {
        if let Some(p) = l.tls_cert.as_ref().or(l.tls_key.as_ref()) {
            let key = if l.tls_cert.is_some() {
                "listen.tls_cert"
            } else {
                "listen.tls_key"
            };
            return Err(src.invalid_value(
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
        return Err(src.invalid_value(
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
        src.invalid_value(k, &p.display().to_string(), e.to_string())
    })?;
    Ok(Some(files))
}

/// `[tls.sts]`: the port it names, else the first TLS listener's.
fn sts(st: &RawSts, listen: &[Listen], src: &Source<'_>) -> Result<Sts, ConfigError> {
    let tls_port = listen
        .iter()
        .find(|l| l.tls.is_some())
        .map(|l| l.address.port());
    let Some(port) = st.port.or(tls_port) else {
        return Err(src.error_on_line(
            "tls.sts",
            src.header_line("[tls.sts]"),
            "STS sends clients to a TLS port: add a listener with tls = true, or set port".into(),
        ));
    };
    Ok(Sts {
        port,
        duration_secs: st.duration_secs,
        preload: st.preload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn listen_spec_errors_read_as_before() {
        let e = Listen::parse_spec("localhost/tls").unwrap_err().to_string();
        assert_eq!(
            e,
            "\"localhost\" is not IP:PORT (invalid socket address syntax)"
        );
        let e = Listen::parse_spec("127.0.0.1:6668/utf-16")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("UTF-16LE cannot carry IRC"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let cfg = Config {
            data_dir: dir.path().to_owned(),
            ..Config::default()
        };
        let spec = Listen::parse_spec("127.0.0.1:6697/tls").unwrap();
        let e = spec.resolve(&cfg).unwrap_err().to_string();
        assert_eq!(
            e,
            "--listen 127.0.0.1:6697/tls needs a certificate: set cert and key in [tls], or run \
             `ferry cert --self-signed` (writes tls/cert.pem and tls/key.pem)"
        );
        let cfg = Config {
            tls_default: Some(TlsFiles {
                cert: dir.path().join("none.pem"),
                key: dir.path().join("none.pem"),
            }),
            ..cfg
        };
        let e = spec.resolve(&cfg).unwrap_err().to_string();
        assert!(
            e.starts_with("--listen 127.0.0.1:6697/tls: cannot read "),
            "{e}"
        );
    }
}
