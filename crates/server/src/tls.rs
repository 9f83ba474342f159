//! TLS: listeners' certificates (checked when the config is loaded,
//! reloaded on SIGHUP), the handshake, client-certificate fingerprints
//! (SASL EXTERNAL) and development certificates. The TLS session of a
//! connection, once shaken, lives in `net::Stream`.
//!
//! rustls with the ring provider only. A client certificate is asked for
//! but never required, and any certificate is taken: what matters is its
//! SHA-256 fingerprint, which an account lists (NickServ `CERT ADD`). The
//! handshake still proves the client holds the certificate's key.

use std::io;
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
    DigitallySignedStruct, DistinguishedName, InconsistentKeys, ServerConfig, SignatureScheme,
};
use tokio_rustls::TlsAcceptor;
use tracing::{error, info};

use crate::net::Stream;

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

    pub(crate) fn config(&self) -> Arc<ServerConfig> {
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
        Ok(Stream::tls(
            tcp,
            conn,
            state.plaintext_bytes_to_read(),
            certfp,
        ))
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
