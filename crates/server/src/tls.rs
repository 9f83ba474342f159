//! TLS: listeners' certificates (checked when the config is loaded,
//! reloaded on SIGHUP), the handshake, client-certificate fingerprints
//! (SASL EXTERNAL), development certificates, and [`Stream`], the socket a
//! connection task reads and writes, plain or TLS.
//!
//! rustls with the ring provider only. A client certificate is asked for
//! but never required, and any certificate is taken: what matters is its
//! SHA-256 fingerprint, which an account lists (NickServ `CERT ADD`). The
//! handshake still proves the client holds the certificate's key.
//!
//! [`Stream`] keeps the connection task's readiness style (`readable`,
//! `try_read_buf`, `try_write_vectored`) for both kinds, so plain TCP stays
//! on tokio's fast path with no buffer of its own. A TLS stream is driven
//! through rustls's own buffers on the same readiness events: decrypted
//! bytes it still holds make `readable` ready at once.

use std::io::{self, IoSlice, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use sha2::{Digest, Sha256};
use thiserror::Error;
use tokio::net::TcpStream;
use tokio_rustls::rustls::client::danger::HandshakeSignatureValid;
use tokio_rustls::rustls::crypto::{self, CryptoProvider};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use tokio_rustls::rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use tokio_rustls::rustls::sign::{CertifiedKey, SingleCertAndKey};
use tokio_rustls::rustls::{
    DigitallySignedStruct, DistinguishedName, InconsistentKeys, ServerConfig, ServerConnection,
    SignatureScheme,
};
use tokio_rustls::TlsAcceptor;
use tracing::{error, info};

/// Why a certificate and key cannot be used.
#[derive(Debug, Error)]
pub enum TlsError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)", path.display())]
    NoCertificate { path: PathBuf },
    #[error("{} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)", path.display())]
    NoKey { path: PathBuf },
    #[error("{}: {message}", path.display())]
    BadPem { path: PathBuf, message: String },
    #[error("the key in {} does not fit the certificate in {}: {message}", key.display(), cert.display())]
    Mismatch {
        cert: PathBuf,
        key: PathBuf,
        message: String,
    },
}

/// The certificate chain and private key files of a TLS listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(crypto::ring::default_provider())
}

fn pem_error(path: &Path, e: tokio_rustls::rustls::pki_types::pem::Error) -> TlsError {
    match e {
        tokio_rustls::rustls::pki_types::pem::Error::Io(source) => TlsError::Read {
            path: path.to_owned(),
            source,
        },
        other => TlsError::BadPem {
            path: path.to_owned(),
            message: other.to_string(),
        },
    }
}

/// Reads a certificate chain (leaf first) and its key; checks they fit.
pub fn server_config(files: &TlsFiles) -> Result<ServerConfig, TlsError> {
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| pem_error(&files.cert, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(&files.cert, e))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: files.cert.clone(),
        });
    }
    let key = match PrivateKeyDer::from_pem_file(&files.key) {
        Ok(k) => k,
        Err(tokio_rustls::rustls::pki_types::pem::Error::NoItemsFound) => {
            return Err(TlsError::NoKey {
                path: files.key.clone(),
            })
        }
        Err(e) => return Err(pem_error(&files.key, e)),
    };
    let provider = provider();
    let mismatch = |message: String| TlsError::Mismatch {
        cert: files.cert.clone(),
        key: files.key.clone(),
        message,
    };
    let signing_key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| mismatch(e.to_string()))?;
    let certified = CertifiedKey::new(certs, signing_key);
    match certified.keys_match() {
        Ok(()) => {}
        Err(tokio_rustls::rustls::Error::InconsistentKeys(InconsistentKeys::KeyMismatch)) => {
            return Err(mismatch("they are not a pair".into()))
        }
        // Cannot tell (webpki does not read X.509 v1 certificates, which
        // `openssl x509 -req` still makes): served as it is; the client
        // decides.
        Err(_) => {}
    }
    Ok(ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_client_cert_verifier(Arc::new(AnyClientCert(provider)))
        .with_cert_resolver(Arc::new(SingleCertAndKey::from(certified))))
}

/// A TLS listener's current configuration: new handshakes use what
/// [`Tls::reload`] last loaded; connections keep the one they started with.
#[derive(Debug)]
pub struct Tls {
    files: TlsFiles,
    current: RwLock<Arc<ServerConfig>>,
}

impl Tls {
    pub fn load(files: &TlsFiles) -> Result<Tls, TlsError> {
        Ok(Tls {
            current: RwLock::new(Arc::new(server_config(files)?)),
            files: files.clone(),
        })
    }

    pub fn files(&self) -> &TlsFiles {
        &self.files
    }

    /// Reads the certificate and key files again. On error the old ones
    /// stay in use.
    pub fn reload(&self) -> Result<(), TlsError> {
        let fresh = Arc::new(server_config(&self.files)?);
        *self.current.write().expect("tls config lock") = fresh;
        Ok(())
    }

    fn config(&self) -> Arc<ServerConfig> {
        self.current.read().expect("tls config lock").clone()
    }

    /// The TLS handshake on an accepted socket, within `limit`.
    pub(crate) async fn accept(&self, tcp: TcpStream, limit: Duration) -> io::Result<Stream> {
        let acceptor = TlsAcceptor::from(self.config());
        let tls = tokio::time::timeout(limit, acceptor.accept(tcp))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out"))??;
        let (tcp, mut conn) = tls.into_inner();
        let certfp = conn
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| fingerprint(c));
        // Lines the client sent right behind its handshake may already be
        // decrypted and waiting inside rustls.
        let state = conn
            .process_new_packets()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        Ok(Stream::Tls(Box::new(TlsStream {
            tcp,
            plain_pending: state.plaintext_bytes_to_read(),
            conn,
            certfp,
        })))
    }
}

/// Reloads every listener's certificate and key (SIGHUP); logs each
/// outcome. A listener whose new files are bad keeps its old ones.
pub fn reload_all(listeners: &[Arc<Tls>]) {
    for t in listeners {
        let cert = t.files.cert.display();
        match t.reload() {
            Ok(()) => info!(%cert, "TLS certificate reloaded"),
            Err(e) => {
                error!(%cert, error = %e, "TLS certificate not reloaded; keeping the old one")
            }
        }
    }
}

/// The SHA-256 fingerprint of a DER certificate, lowercase hex.
pub fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A fingerprint as users write it (`AB:CD:...` or hex) in the stored form,
/// if it is one.
pub fn normalize_fingerprint(text: &str) -> Option<String> {
    let hex: String = text
        .chars()
        .filter(|c| *c != ':')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hex)
}

/// A development certificate and its key, in PEM.
#[derive(Debug)]
pub struct SelfSigned {
    pub cert_pem: String,
    pub key_pem: String,
    pub fingerprint: String,
}

/// A self-signed certificate for `names` (host names or IP addresses;
/// the first is also the common name), with a fresh ECDSA P-256 key.
pub fn self_signed(names: &[String]) -> Result<SelfSigned, rcgen::Error> {
    let mut params = rcgen::CertificateParams::new(names.to_vec())?;
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(
        rcgen::DnType::CommonName,
        names.first().map(String::as_str).unwrap_or("ferry"),
    );
    params.distinguished_name = dn;
    let key = rcgen::KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    Ok(SelfSigned {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        fingerprint: fingerprint(cert.der()),
    })
}

/// Asks for a client certificate, takes any, and checks only that the
/// client holds its key (the handshake signature).
#[derive(Debug)]
struct AnyClientCert(Arc<CryptoProvider>);

impl ClientCertVerifier for AnyClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, tokio_rustls::rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, tokio_rustls::rustls::Error> {
        crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, tokio_rustls::rustls::Error> {
        crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A connection's socket: plain TCP, or TLS over it; or, while the
/// connection is parked (`park.rs`), either of them off the runtime.
#[derive(Debug)]
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
    Parked(std::net::TcpStream, Option<Box<ParkedTls>>),
    /// Only for the moment of a move between the others.
    Moving,
}

/// A TLS session off the runtime (its socket beside it in
/// `Stream::Parked`): not usable through `Stream` until [`Stream::unpark`].
#[derive(Debug)]
pub(crate) struct ParkedTls {
    conn: ServerConnection,
    certfp: Option<String>,
}

fn parked() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the connection is parked")
}

#[derive(Debug)]
pub(crate) struct TlsStream {
    tcp: TcpStream,
    conn: ServerConnection,
    /// Decrypted bytes rustls holds that were not read yet.
    plain_pending: usize,
    certfp: Option<String>,
}

/// `std::io` over tokio's non-blocking `try_*` calls, for rustls.
struct Nonblocking<'a>(&'a TcpStream);

impl Read for Nonblocking<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.try_read(buf)
    }
}

impl Write for Nonblocking<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.try_write(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.0.try_write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl TlsStream {
    /// Writes what rustls has encrypted, until it is all out or the
    /// socket would block (`WouldBlock`).
    fn flush_tls(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            match self.conn.write_tls(&mut Nonblocking(&self.tcp)) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn try_read_buf(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        loop {
            if self.plain_pending > 0 {
                let start = buf.len();
                let room = (buf.capacity() - start).max(512).min(self.plain_pending);
                buf.resize(start + room, 0);
                let r = self.conn.reader().read(&mut buf[start..]);
                buf.truncate(start + *r.as_ref().unwrap_or(&0));
                match r {
                    Ok(0) => return Ok(0),
                    Ok(n) => {
                        self.plain_pending = self.plain_pending.saturating_sub(n);
                        return Ok(n);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.plain_pending = 0,
                    Err(e) => return Err(e),
                }
            }
            match self.conn.read_tls(&mut Nonblocking(&self.tcp)) {
                Ok(0) => return Ok(0),
                Ok(_) => {}
                Err(e) => return Err(e),
            }
            match self.conn.process_new_packets() {
                Ok(state) => {
                    self.plain_pending = state.plaintext_bytes_to_read();
                    if self.plain_pending == 0 && state.peer_has_closed() {
                        return Ok(0);
                    }
                }
                Err(e) => {
                    // Send the alert rustls queued, if the socket takes it.
                    let _ = self.flush_tls();
                    return Err(io::Error::new(io::ErrorKind::InvalidData, e));
                }
            }
        }
    }

    fn try_write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        // What rustls holds goes first; only then does it take more.
        self.flush_tls()?;
        let n = self.conn.writer().write_vectored(bufs)?;
        match self.flush_tls() {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => return Err(e),
            _ => {}
        }
        if n == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    }
}

impl Stream {
    /// Takes the socket off the runtime (its tokio registration freed);
    /// returns its descriptor, for the parker to watch. Only with nothing
    /// buffered: no decrypted bytes or records waiting in TLS.
    pub(crate) fn park(&mut self) -> io::Result<std::os::fd::RawFd> {
        use std::os::fd::AsRawFd;
        let (tcp, tls) = match std::mem::replace(self, Stream::Moving) {
            Stream::Plain(t) => (t.into_std()?, None),
            Stream::Tls(s) => {
                let TlsStream {
                    tcp,
                    conn,
                    plain_pending,
                    certfp,
                } = *s;
                debug_assert_eq!(plain_pending, 0, "parked with decrypted bytes");
                (tcp.into_std()?, Some(Box::new(ParkedTls { conn, certfp })))
            }
            other => {
                *self = other;
                return Err(parked());
            }
        };
        let fd = tcp.as_raw_fd();
        *self = Stream::Parked(tcp, tls);
        Ok(fd)
    }

    /// The parked socket's descriptor.
    pub(crate) fn parked_fd(&self) -> Option<std::os::fd::RawFd> {
        use std::os::fd::AsRawFd;
        match self {
            Stream::Parked(tcp, _) => Some(tcp.as_raw_fd()),
            _ => None,
        }
    }

    /// Back on the runtime (call from within it).
    pub(crate) fn unpark(&mut self) -> io::Result<()> {
        let Stream::Parked(tcp, tls) = std::mem::replace(self, Stream::Moving) else {
            return Err(parked());
        };
        let tcp = TcpStream::from_std(tcp)?;
        *self = match tls.map(|t| *t) {
            None => Stream::Plain(tcp),
            Some(ParkedTls { conn, certfp }) => Stream::Tls(Box::new(TlsStream {
                tcp,
                conn,
                plain_pending: 0,
                certfp,
            })),
        };
        Ok(())
    }

    /// Ready when the socket is, or at once when TLS holds decrypted bytes.
    pub(crate) fn poll_read_ready(
        &self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        match self {
            Stream::Plain(t) => t.poll_read_ready(cx),
            Stream::Tls(s) if s.plain_pending > 0 => std::task::Poll::Ready(Ok(())),
            Stream::Tls(s) => s.tcp.poll_read_ready(cx),
            Stream::Parked(..) | Stream::Moving => std::task::Poll::Ready(Err(parked())),
        }
    }

    pub(crate) fn poll_write_ready(
        &self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        match self {
            Stream::Plain(t) => t.poll_write_ready(cx),
            Stream::Tls(s) => s.tcp.poll_write_ready(cx),
            Stream::Parked(..) | Stream::Moving => std::task::Poll::Ready(Err(parked())),
        }
    }

    pub(crate) async fn writable(&self) -> io::Result<()> {
        match self {
            Stream::Plain(t) => t.writable().await,
            Stream::Tls(s) => s.tcp.writable().await,
            Stream::Parked(..) | Stream::Moving => Err(parked()),
        }
    }

    /// Appends what can be read without blocking; `Ok(0)` at the end.
    ///
    /// On plain TCP a read that fills less than the room it had drained
    /// the socket: the readiness is cleared then and there (what tokio's
    /// own `poll_read` does), so the next call answers `WouldBlock` without
    /// a system call. Otherwise every message read would cost a second
    /// `recv` that only says EAGAIN.
    pub(crate) fn try_read_buf(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        match self {
            Stream::Plain(t) => {
                let room = buf.capacity() - buf.len();
                let mut got = 0;
                let r = t.try_io(tokio::io::Interest::READABLE, || {
                    got = t.try_read_buf(buf)?;
                    if got > 0 && got < room {
                        return Err(io::ErrorKind::WouldBlock.into());
                    }
                    Ok(got)
                });
                match r {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock && got > 0 => Ok(got),
                    r => r,
                }
            }
            Stream::Tls(s) => s.try_read_buf(buf),
            Stream::Parked(..) | Stream::Moving => Err(parked()),
        }
    }

    /// How many bytes of `bufs` were taken (TLS: encrypted and queued in
    /// rustls, which writes them before it takes more).
    pub(crate) fn try_write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Stream::Plain(t) => t.try_write_vectored(bufs),
            Stream::Tls(s) => s.try_write_vectored(bufs),
            Stream::Parked(..) | Stream::Moving => Err(parked()),
        }
    }

    /// Writes bytes the TLS layer still holds (`WouldBlock` if the socket
    /// is full). Nothing to do for plain TCP.
    pub(crate) fn flush_pending(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(_) | Stream::Parked(..) | Stream::Moving => Ok(()),
            Stream::Tls(s) => s.flush_tls(),
        }
    }

    /// Does the TLS layer hold bytes not written yet?
    pub(crate) fn has_pending_write(&self) -> bool {
        match self {
            Stream::Plain(_) | Stream::Parked(..) | Stream::Moving => false,
            Stream::Tls(s) => s.conn.wants_write(),
        }
    }

    pub(crate) fn is_tls(&self) -> bool {
        match self {
            Stream::Tls(_) => true,
            Stream::Parked(_, tls) => tls.is_some(),
            Stream::Plain(_) | Stream::Moving => false,
        }
    }

    /// Decrypted bytes TLS holds that were not read yet.
    pub(crate) fn has_pending_read(&self) -> bool {
        matches!(self, Stream::Tls(s) if s.plain_pending > 0)
    }

    /// The client certificate's SHA-256 fingerprint, if it sent one.
    pub(crate) fn certfp(&self) -> Option<String> {
        match self {
            Stream::Plain(_) | Stream::Moving => None,
            Stream::Tls(s) => s.certfp.clone(),
            Stream::Parked(_, tls) => tls.as_ref().and_then(|t| t.certfp.clone()),
        }
    }

    /// Ends the connection: TLS says close_notify first (briefly).
    pub(crate) async fn shutdown(&mut self) {
        use tokio::io::AsyncWriteExt;
        match self {
            Stream::Plain(t) => {
                let _ = t.shutdown().await;
            }
            Stream::Tls(s) => {
                s.conn.send_close_notify();
                let _ = tokio::time::timeout(Duration::from_secs(1), async {
                    loop {
                        match s.flush_tls() {
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                                if s.tcp.writable().await.is_err() {
                                    return;
                                }
                            }
                            _ => return,
                        }
                    }
                })
                .await;
                let _ = s.tcp.shutdown().await;
            }
            Stream::Parked(tcp, _) => {
                let _ = tcp.shutdown(std::net::Shutdown::Both);
            }
            Stream::Moving => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_normalise() {
        let fp = "ab".repeat(32);
        assert_eq!(normalize_fingerprint(&fp), Some(fp.clone()));
        let colons: Vec<String> = (0..32).map(|_| "AB".to_string()).collect();
        assert_eq!(normalize_fingerprint(&colons.join(":")), Some(fp));
        assert_eq!(normalize_fingerprint("abcd"), None);
        assert_eq!(normalize_fingerprint(&"zz".repeat(32)), None);
    }

    #[test]
    fn self_signed_loads_and_mismatch_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let a = self_signed(&["localhost".into(), "127.0.0.1".into()]).unwrap();
        let b = self_signed(&["localhost".into()]).unwrap();
        let write = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        let files = TlsFiles {
            cert: write("a.pem", &a.cert_pem),
            key: write("a.key", &a.key_pem),
        };
        server_config(&files).unwrap();
        let mixed = TlsFiles {
            cert: files.cert.clone(),
            key: write("b.key", &b.key_pem),
        };
        let e = server_config(&mixed).unwrap_err().to_string();
        assert!(e.starts_with("the key in "), "{e}");
        let swapped = TlsFiles {
            cert: files.key.clone(),
            key: files.cert.clone(),
        };
        let e = server_config(&swapped).unwrap_err().to_string();
        assert!(e.contains("holds no PEM certificate"), "{e}");
        let missing = TlsFiles {
            cert: dir.path().join("nope.pem"),
            key: files.key.clone(),
        };
        let e = server_config(&missing).unwrap_err().to_string();
        assert!(
            e.starts_with("cannot read ") && e.contains("nope.pem"),
            "{e}"
        );
    }
}
