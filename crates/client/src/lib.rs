//! The client core behind `ferry send`: the tutorial's client (connect,
//! send, close) as a real IRC client.
//!
//! [`Session::connect`] opens TCP (or TLS), negotiates capabilities,
//! logs in with SASL PLAIN when an account is given, registers and reads
//! through the welcome burst. [`Session::send`] delivers one message to a
//! nick or a channel (joining the channel when the server says it must,
//! or that it does not exist yet) and returns only once the server
//! confirmed it: by `labeled-response` when offered, else by
//! `echo-message`, else by a PING round trip (the server answers in
//! order, so an error for the message comes before the PONG). Works with
//! ferry and with stock servers such as ngircd.
//!
//! The wire may speak another charset ([`Options::encoding`]); tags are
//! UTF-8 whatever it is, as in ferry itself.

use std::time::Duration;

use base64::Engine;
use encoding_rs::{Encoding, UTF_8};
use ferry_proto::Message;
use tokio::io::{
    AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, ReadHalf, WriteHalf,
};
use tokio::net::TcpStream;

mod codec;
mod error;
mod tls;

pub use codec::{decode_line, encode_line};
pub use encoding_rs;
pub use error::Error;
pub use tls::{any_server_cert, insecure_tls_config};

/// How to connect and who to be.
#[derive(Clone)]
pub struct Options {
    /// `HOST:PORT` (`[::1]:6667` for IPv6).
    pub server: String,
    pub tls: bool,
    /// With `tls`: accept any certificate (self-signed test servers).
    pub insecure: bool,
    pub nick: String,
    pub user: String,
    pub realname: String,
    /// Log in to this account with SASL PLAIN (needs `password`).
    pub account: Option<String>,
    pub password: Option<String>,
    /// What the wire speaks.
    pub encoding: &'static Encoding,
    /// How long any one step may wait for the server.
    pub timeout: Duration,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("server", &self.server)
            .field("tls", &self.tls)
            .field("nick", &self.nick)
            .field("account", &self.account)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("encoding", &self.encoding.name())
            .finish()
    }
}

impl Options {
    pub fn new(server: impl Into<String>, nick: impl Into<String>) -> Options {
        let nick = nick.into();
        Options {
            server: server.into(),
            tls: false,
            insecure: false,
            user: "ferry".into(),
            realname: "ferry send".into(),
            nick,
            account: None,
            password: None,
            encoding: UTF_8,
            timeout: Duration::from_secs(30),
        }
    }
}

/// A charset for the wire by label (`gbk`, `utf-8`, ...): only those that
/// can carry IRC (ASCII-compatible).
pub fn lookup_encoding(label: &str) -> Option<&'static Encoding> {
    Encoding::for_label(label.trim().as_bytes()).filter(|e| e.is_ascii_compatible())
}

/// A byte stream to a server: TCP or TLS.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A registered connection.
pub struct Session {
    reader: BufReader<ReadHalf<Box<dyn Io>>>,
    writer: WriteHalf<Box<dyn Io>>,
    enc: &'static Encoding,
    timeout: Duration,
    /// The nick the server gave us (001).
    pub nick: String,
    /// Capabilities the server acknowledged.
    pub caps: Vec<String>,
    chantypes: String,
    joined: Vec<String>,
    counter: u64,
}

/// One line read: its text (tags UTF-8, the rest decoded) for parsing.
struct Line(String);

impl Line {
    fn msg(&self) -> Option<Message<'_>> {
        Message::parse(&self.0).ok()
    }
}

fn is_error(m: &Message<'_>) -> bool {
    let c = m.command.as_bytes();
    let numeric_error =
        c.len() == 3 && c.iter().all(u8::is_ascii_digit) && matches!(c[0], b'4' | b'5');
    // 716: the target only accepts messages from its friends (+g).
    numeric_error || m.command.eq_ignore_ascii_case("FAIL") || m.command == "716"
}

/// The error a rejecting line describes.
fn rejected(m: &Message<'_>, default_target: &str) -> Error {
    let p = m.params();
    let text = p.last().copied().unwrap_or("").to_string();
    let target = if m.command.eq_ignore_ascii_case("FAIL") {
        p.first().copied().unwrap_or(default_target)
    } else {
        p.get(1)
            .copied()
            .filter(|_| p.len() > 2)
            .unwrap_or(default_target)
    };
    Error::Rejected {
        code: m.command.to_string(),
        target: target.to_string(),
        text,
    }
}

fn nick_of(source: Option<&str>) -> &str {
    let s = source.unwrap_or("");
    s.split(['!', '@']).next().unwrap_or(s)
}

fn same_name(a: &str, b: &str) -> bool {
    a == b || a.to_lowercase() == b.to_lowercase()
}

/// `host:port` → (host, port); `[v6]:port` too.
fn split_addr(addr: &str) -> Option<(String, u16)> {
    let (host, port) = addr.rsplit_once(':')?;
    let port = port.parse().ok()?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (!host.is_empty()).then(|| (host.to_string(), port))
}

/// Opens the connection `opts` describe: TCP, then TLS when asked (no
/// IRC spoken yet).
pub async fn open(opts: &Options) -> Result<Box<dyn Io>, Error> {
    let (host, port) =
        split_addr(&opts.server).ok_or_else(|| Error::Address(opts.server.clone()))?;
    let tcp = TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|source| Error::Connect {
            addr: opts.server.clone(),
            source,
        })?;
    let _ = tcp.set_nodelay(true);
    if !opts.tls {
        return Ok(Box::new(tcp));
    }
    tls::connect(tcp, &host, opts).await
}

/// Caps `ferry send` uses when the server offers them.
const WANTED: [&str; 4] = ["batch", "echo-message", "labeled-response", "message-tags"];

impl Session {
    /// Connects, logs in (SASL PLAIN with `account`), registers, and reads
    /// through the welcome burst.
    pub async fn connect(opts: &Options) -> Result<Session, Error> {
        let stream = tokio::time::timeout(opts.timeout, open(opts))
            .await
            .map_err(|_| Error::Timeout(opts.timeout, "connecting"))??;
        let (r, w) = tokio::io::split(stream);
        let mut s = Session {
            reader: BufReader::new(r),
            writer: w,
            enc: opts.encoding,
            timeout: opts.timeout,
            nick: opts.nick.clone(),
            caps: Vec::new(),
            chantypes: "#&".into(),
            joined: Vec::new(),
            counter: 0,
        };
        match tokio::time::timeout(opts.timeout, s.register(opts)).await {
            Ok(Ok(())) => Ok(s),
            Ok(Err(e)) => {
                let _ = s.write("QUIT").await;
                Err(e)
            }
            Err(_) => Err(Error::Timeout(opts.timeout, "registering")),
        }
    }

    async fn register(&mut self, opts: &Options) -> Result<(), Error> {
        self.write("CAP LS 302").await?;
        self.write(&format!("NICK {}", opts.nick)).await?;
        self.write(&format!("USER {} 0 * :{}", opts.user, opts.realname))
            .await?;
        let mut offered: Vec<String> = Vec::new();
        let mut cap_done = false;
        let mut welcomed = false;
        loop {
            let line = self.read().await?;
            let Some(m) = line.msg() else { continue };
            let p = m.params();
            match m.command {
                "CAP" if !cap_done => {
                    let sub = p.get(1).copied().unwrap_or("");
                    let list = p.last().copied().unwrap_or("");
                    match sub {
                        "LS" => {
                            offered.extend(
                                list.split(' ')
                                    .filter(|c| !c.is_empty())
                                    .map(|c| c.split('=').next().unwrap_or(c).to_string()),
                            );
                            if p.get(2) == Some(&"*") {
                                continue;
                            }
                            let mut want: Vec<&str> = WANTED
                                .iter()
                                .copied()
                                .filter(|c| offered.iter().any(|o| o == c))
                                .collect();
                            if opts.account.is_some() {
                                if !offered.iter().any(|o| o == "sasl") {
                                    return Err(Error::NoSasl);
                                }
                                want.push("sasl");
                            }
                            if want.is_empty() {
                                cap_done = true;
                                self.write("CAP END").await?;
                            } else {
                                self.write(&format!("CAP REQ :{}", want.join(" "))).await?;
                            }
                        }
                        "ACK" => {
                            self.caps.extend(
                                list.split(' ').filter(|c| !c.is_empty()).map(String::from),
                            );
                            if self.has("sasl") && opts.account.is_some() {
                                self.write("AUTHENTICATE PLAIN").await?;
                            } else {
                                cap_done = true;
                                self.write("CAP END").await?;
                            }
                        }
                        "NAK" => {
                            if opts.account.is_some() {
                                return Err(Error::NoSasl);
                            }
                            cap_done = true;
                            self.write("CAP END").await?;
                        }
                        _ => {}
                    }
                }
                "AUTHENTICATE" if p.first() == Some(&"+") => {
                    let account = opts.account.as_deref().unwrap_or("");
                    let password = opts.password.as_deref().unwrap_or("");
                    let blob = base64::engine::general_purpose::STANDARD
                        .encode(format!("\0{account}\0{password}"));
                    for chunk in blob.as_bytes().chunks(400) {
                        let chunk = std::str::from_utf8(chunk).expect("base64 is ASCII");
                        self.write(&format!("AUTHENTICATE {chunk}")).await?;
                    }
                    if blob.len() % 400 == 0 {
                        self.write("AUTHENTICATE +").await?;
                    }
                }
                "903" => {
                    cap_done = true;
                    self.write("CAP END").await?;
                }
                "902" | "904" | "905" | "906" | "908" => {
                    return Err(Error::Login {
                        account: opts.account.clone().unwrap_or_default(),
                        text: p.last().copied().unwrap_or("").to_string(),
                    })
                }
                "001" => {
                    if let Some(n) = p.first() {
                        self.nick = n.to_string();
                    }
                    welcomed = true;
                    // Everything the server sends on registration comes
                    // before the answer to this.
                    self.write("PING :ferry-send-ready").await?;
                }
                "005" => {
                    for t in p.iter().skip(1) {
                        if let Some(v) = t.strip_prefix("CHANTYPES=") {
                            self.chantypes = v.to_string();
                        }
                    }
                }
                "PONG" if welcomed && p.last() == Some(&"ferry-send-ready") => return Ok(()),
                "432" | "433" | "436" | "437" => {
                    let text = match m.command {
                        "433" => "already in use".to_string(),
                        _ => p.last().copied().unwrap_or("").to_string(),
                    };
                    return Err(Error::Nick {
                        nick: opts.nick.clone(),
                        text,
                    });
                }
                "464" | "465" | "466" | "484" => {
                    return Err(Error::Refused(p.last().copied().unwrap_or("").to_string()))
                }
                "ERROR" => return Err(Error::Closed(p.last().copied().unwrap_or("").to_string())),
                _ => {}
            }
        }
    }

    pub fn has(&self, cap: &str) -> bool {
        self.caps.iter().any(|c| c == cap)
    }

    fn is_channel(&self, target: &str) -> bool {
        target
            .chars()
            .next()
            .is_some_and(|c| self.chantypes.contains(c))
    }

    /// Sends `text` to `target` (each line of it; long lines in pieces)
    /// and waits until the server confirmed every piece.
    pub async fn send(&mut self, target: &str, text: &str) -> Result<(), Error> {
        for piece in self.pieces(target, text) {
            let first = tokio::time::timeout(self.timeout, self.deliver(target, &piece)).await;
            let r = match first {
                Err(_) => return Err(Error::Timeout(self.timeout, "waiting for confirmation")),
                Ok(r) => r,
            };
            match r {
                // +n (only members may speak), or no such channel yet:
                // join it, then try once more.
                Err(e)
                    if matches!(e.code(), Some("401" | "403" | "404"))
                        && self.is_channel(target)
                        && !self.joined.iter().any(|j| same_name(j, target)) =>
                {
                    tokio::time::timeout(self.timeout, self.join(target))
                        .await
                        .map_err(|_| Error::Timeout(self.timeout, "joining"))??;
                    tokio::time::timeout(self.timeout, self.deliver(target, &piece))
                        .await
                        .map_err(|_| Error::Timeout(self.timeout, "waiting for confirmation"))??;
                }
                r => r?,
            }
        }
        Ok(())
    }

    /// Lines to send: one per line of `text`, cut at character boundaries
    /// so each fits an IRC line once the server adds its prefix.
    fn pieces(&self, target: &str, text: &str) -> Vec<String> {
        // 512, less CRLF, "PRIVMSG <target> :", and room for the source
        // the server adds (`:nick!user@host `, host up to 63 bytes).
        let budget = 512usize
            .saturating_sub(2 + 11 + target.len() + self.nick.len() + 12 + 64)
            .max(32);
        let mut out = Vec::new();
        for line in text.split('\n') {
            let line = line.trim_end_matches('\r');
            if line.is_empty() {
                continue;
            }
            let mut piece = String::new();
            let mut len = 0;
            let mut buf = [0u8; 4];
            for c in line.chars() {
                let n = if self.enc == UTF_8 {
                    c.len_utf8()
                } else {
                    self.enc.encode(c.encode_utf8(&mut buf)).0.len()
                };
                if len + n > budget && !piece.is_empty() {
                    out.push(std::mem::take(&mut piece));
                    len = 0;
                }
                piece.push(c);
                len += n;
            }
            out.push(piece);
        }
        out
    }

    /// One PRIVMSG and its confirmation.
    async fn deliver(&mut self, target: &str, text: &str) -> Result<(), Error> {
        let privmsg = format!("PRIVMSG {target} :{text}");
        if self.has("labeled-response") {
            self.counter += 1;
            let label = format!("fs{}", self.counter);
            self.write(&format!("@label={label} {privmsg}")).await?;
            let mut batch: Option<String> = None;
            let mut failure = None;
            loop {
                let line = self.read().await?;
                let Some(m) = line.msg() else { continue };
                if m.command == "ERROR" {
                    return Err(closed(&m));
                }
                if m.tag("label").as_deref() == Some(label.as_str()) {
                    if m.command == "BATCH" {
                        batch = m
                            .param(0)
                            .and_then(|b| b.strip_prefix('+'))
                            .map(String::from);
                        continue;
                    }
                    return if is_error(&m) {
                        Err(rejected(&m, target))
                    } else {
                        Ok(())
                    };
                }
                let Some(id) = batch.as_deref() else { continue };
                if m.command == "BATCH" && m.param(0).and_then(|b| b.strip_prefix('-')) == Some(id)
                {
                    return failure.map_or(Ok(()), Err);
                }
                if m.tag("batch").as_deref() == Some(id) && is_error(&m) && failure.is_none() {
                    failure = Some(rejected(&m, target));
                }
            }
        } else if self.has("echo-message") {
            self.write(&privmsg).await?;
            loop {
                let line = self.read().await?;
                let Some(m) = line.msg() else { continue };
                if m.command == "ERROR" {
                    return Err(closed(&m));
                }
                if is_error(&m) {
                    return Err(rejected(&m, target));
                }
                if m.command.eq_ignore_ascii_case("PRIVMSG")
                    && same_name(nick_of(m.source), &self.nick)
                    && m.param(0).is_some_and(|t| same_name(t, target))
                {
                    return Ok(());
                }
            }
        } else {
            self.counter += 1;
            let token = format!("ferry-send-{}", self.counter);
            self.write(&privmsg).await?;
            self.write(&format!("PING :{token}")).await?;
            let mut failure = None;
            loop {
                let line = self.read().await?;
                let Some(m) = line.msg() else { continue };
                if m.command == "ERROR" {
                    return Err(closed(&m));
                }
                if m.command == "PONG" && m.params().last() == Some(&token.as_str()) {
                    return failure.map_or(Ok(()), Err);
                }
                if is_error(&m) && failure.is_none() {
                    failure = Some(rejected(&m, target));
                }
            }
        }
    }

    /// JOINs `channel`, waiting for the server's JOIN (or its refusal).
    pub async fn join(&mut self, channel: &str) -> Result<(), Error> {
        self.write(&format!("JOIN {channel}")).await?;
        loop {
            let line = self.read().await?;
            let Some(m) = line.msg() else { continue };
            if m.command == "ERROR" {
                return Err(closed(&m));
            }
            if m.command.eq_ignore_ascii_case("JOIN")
                && same_name(nick_of(m.source), &self.nick)
                && m.param(0).is_some_and(|c| same_name(c, channel))
            {
                self.joined.push(channel.to_string());
                return Ok(());
            }
            if is_error(&m) && m.param(1).is_some_and(|c| same_name(c, channel)) {
                return Err(rejected(&m, channel));
            }
        }
    }

    /// Says goodbye and waits (briefly) for the server to close.
    pub async fn quit(mut self, message: &str) -> Result<(), Error> {
        self.write(&format!("QUIT :{message}")).await?;
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while self.read().await.is_ok() {}
        })
        .await;
        Ok(())
    }

    /// Writes one line: tags as UTF-8, the rest in the wire's charset.
    async fn write(&mut self, line: &str) -> Result<(), Error> {
        self.writer.write_all(&encode_line(self.enc, line)).await?;
        self.writer.flush().await?;
        Ok(())
    }

    /// Reads one line, answering PING on the way. End of stream is an error.
    async fn read(&mut self) -> Result<Line, Error> {
        loop {
            let mut buf = Vec::new();
            if self.reader.read_until(b'\n', &mut buf).await? == 0 {
                return Err(Error::Closed("end of stream".into()));
            }
            let text = decode_line(self.enc, &buf);
            let line = Line(text);
            if let Some(m) = line.msg() {
                if m.command == "PING" {
                    let token = m.params().last().copied().unwrap_or("").to_string();
                    self.write(&format!("PONG :{token}")).await?;
                    continue;
                }
            }
            return Ok(line);
        }
    }
}

fn closed(m: &Message<'_>) -> Error {
    Error::Closed(m.params().last().copied().unwrap_or("").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            split_addr("127.0.0.1:6667"),
            Some(("127.0.0.1".into(), 6667))
        );
        assert_eq!(split_addr("[::1]:6697"), Some(("::1".into(), 6697)));
        assert_eq!(
            split_addr("irc.example.org:6697"),
            Some(("irc.example.org".into(), 6697))
        );
        assert_eq!(split_addr("nohost"), None);
        assert_eq!(split_addr(":6667"), None);
    }

    #[test]
    fn errors_read_plainly() {
        let m = Message::parse(":srv 401 me bob :No such nick/channel").unwrap();
        assert!(is_error(&m));
        assert_eq!(rejected(&m, "x").to_string(), "bob: No such nick/channel");
        let m = Message::parse(":srv 412 me :No text to send").unwrap();
        assert_eq!(rejected(&m, "bob").to_string(), "bob: No text to send");
        let m = Message::parse(":srv 001 me :Welcome").unwrap();
        assert!(!is_error(&m));
    }

    #[test]
    fn lookup_refuses_utf16() {
        assert!(lookup_encoding("gbk").is_some());
        assert!(lookup_encoding("utf-16le").is_none());
        assert!(lookup_encoding("nope").is_none());
    }
}
