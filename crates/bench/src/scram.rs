//! SCRAM-SHA-256 (RFC 5802, RFC 7677), client side, for logging bench
//! accounts in without the server hashing a password each time (SASL
//! PLAIN makes the server run argon2 for every login).
//!
//! The salted password is the expensive part (PBKDF2); a client may keep
//! it per account and salt (RFC 5802 §5.1), and so does the bench.

use anyhow::{anyhow, bail, Context as _, Result};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut m = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    m.update(data);
    m.finalize().into_bytes().into()
}

/// The keys derived from a password, salt and iteration count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Keys {
    pub salt: Vec<u8>,
    pub iterations: u32,
    client_key: [u8; 32],
    server_key: [u8; 32],
}

impl Keys {
    pub(crate) fn derive(password: &str, salt: &[u8], iterations: u32) -> Keys {
        let mut salted = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt, iterations, &mut salted);
        Keys {
            salt: salt.to_vec(),
            iterations,
            client_key: hmac(&salted, b"Client Key"),
            server_key: hmac(&salted, b"Server Key"),
        }
    }
}

/// One exchange in progress.
#[derive(Debug, Clone)]
pub(crate) struct Exchange {
    client_first_bare: String,
    nonce: String,
    /// The server signature expected in server-final, once computed.
    server_signature: Option<[u8; 32]>,
}

/// What the server's first message asks for.
pub(crate) struct ServerFirst {
    nonce: String,
    pub salt: Vec<u8>,
    pub iterations: u32,
    message: String,
}

impl Exchange {
    /// Starts an exchange; returns it and the client-first message.
    pub(crate) fn start(user: &str, nonce: &str) -> (Exchange, String) {
        let user = user.replace('=', "=3D").replace(',', "=2C");
        let bare = format!("n={user},r={nonce}");
        let first = format!("n,,{bare}");
        (
            Exchange {
                client_first_bare: bare,
                nonce: nonce.to_string(),
                server_signature: None,
            },
            first,
        )
    }

    /// Parses server-first (`r=…,s=…,i=…`).
    pub(crate) fn server_first(&self, msg: &str) -> Result<ServerFirst> {
        let attr = |k: &str| {
            msg.split(',')
                .find_map(|p| p.strip_prefix(k).and_then(|r| r.strip_prefix('=')))
        };
        let nonce = attr("r").context("server-first without r=")?;
        if !nonce.starts_with(&self.nonce) || nonce.len() == self.nonce.len() {
            bail!("server-first: the nonce does not extend ours");
        }
        let salt = B64
            .decode(attr("s").context("server-first without s=")?)
            .map_err(|_| anyhow!("server-first: salt is not base64"))?;
        let iterations = attr("i")
            .and_then(|i| i.parse::<u32>().ok())
            .filter(|&i| i > 0)
            .context("server-first: bad i=")?;
        Ok(ServerFirst {
            nonce: nonce.to_string(),
            salt,
            iterations,
            message: msg.to_string(),
        })
    }

    /// The client-final message for `sf`, with keys derived for its salt.
    pub(crate) fn client_final(&mut self, sf: &ServerFirst, keys: &Keys) -> String {
        let without_proof = format!("c=biws,r={}", sf.nonce);
        let auth_message = format!("{},{},{without_proof}", self.client_first_bare, sf.message);
        let stored_key = Sha256::digest(keys.client_key);
        let signature = hmac(&stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = keys
            .client_key
            .iter()
            .zip(signature.iter())
            .map(|(a, b)| a ^ b)
            .collect();
        self.server_signature = Some(hmac(&keys.server_key, auth_message.as_bytes()));
        format!("{without_proof},p={}", B64.encode(proof))
    }

    /// Checks server-final (`v=…`): the server knew our password too.
    pub(crate) fn server_final(&self, msg: &str) -> Result<()> {
        let v = msg
            .strip_prefix("v=")
            .with_context(|| format!("server-final: {msg}"))?;
        let got = B64
            .decode(v)
            .map_err(|_| anyhow!("server-final is not base64"))?;
        match self.server_signature {
            Some(want) if got == want => Ok(()),
            _ => bail!("server-final: wrong server signature"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677's example exchange, from the client's side.
    #[test]
    fn rfc7677_vector() {
        let (mut ex, first) = Exchange::start("user", "rOprNGfwEbeRWgbNEkqO");
        assert_eq!(first, "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let sf = ex
            .server_first(
                "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                 s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
            )
            .expect("server-first");
        assert_eq!(sf.iterations, 4096);
        let keys = Keys::derive("pencil", &sf.salt, sf.iterations);
        assert_eq!(
            ex.client_final(&sf, &keys),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
             p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        assert!(ex
            .server_final("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .is_ok());
        assert!(ex
            .server_final("v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .is_err());
    }

    #[test]
    fn refuses_a_nonce_the_server_did_not_extend() {
        let (ex, _) = Exchange::start("user", "abc");
        assert!(ex.server_first("r=xyz123,s=AAAA,i=4096").is_err());
        assert!(ex.server_first("r=abc,s=AAAA,i=4096").is_err());
        assert!(ex.server_first("r=abcdef,s=AAAA,i=0").is_err());
    }

    /// What these errors say ends up in the report: no cause is appended.
    #[test]
    fn errors_say_only_what_failed() {
        let (ex, _) = Exchange::start("user", "abc");
        let why = |msg: &str| match ex.server_first(msg) {
            Ok(_) => panic!("{msg}"),
            Err(e) => format!("{e:#}"),
        };
        assert_eq!(why("s=AAAA,i=1"), "server-first without r=");
        assert_eq!(why("r=abcdef,s=!!,i=1"), "server-first: salt is not base64");
        assert_eq!(why("r=abcdef,s=AAAA,i=x"), "server-first: bad i=");
        let fin = |msg: &str| format!("{:#}", ex.server_final(msg).expect_err(msg));
        assert_eq!(fin("e=invalid-proof"), "server-final: e=invalid-proof");
        assert_eq!(fin("v=!!"), "server-final is not base64");
        assert_eq!(fin("v=AAAA"), "server-final: wrong server signature");
    }
}
