//! SCRAM-SHA-256 (RFC 5802, RFC 7677), server side.
//!
//! The exchange is three messages; the server keeps only the salted
//! StoredKey and ServerKey, never the password. The primitives come from
//! the RustCrypto crates; only the message format is here.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use ferry_store::ScramCredentials;

type HmacSha256 = Hmac<Sha256>;

/// Iterations for new credentials (RFC 7677 asks for at least 4096).
pub const ITERATIONS: u32 = 4096;

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut m = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    m.update(data);
    m.finalize().into_bytes().into()
}

/// Derives the stored credentials for a password (slow on purpose).
pub fn credentials(password: &str) -> ScramCredentials {
    let salt: [u8; 16] = rand::random();
    credentials_with(password, &salt, ITERATIONS)
}

pub fn credentials_with(password: &str, salt: &[u8], iterations: u32) -> ScramCredentials {
    let mut salted = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt, iterations, &mut salted);
    let client_key = hmac(&salted, b"Client Key");
    let stored_key = Sha256::digest(client_key).to_vec();
    let server_key = hmac(&salted, b"Server Key").to_vec();
    ScramCredentials {
        salt: salt.to_vec(),
        iterations,
        stored_key,
        server_key,
    }
}

/// The parsed client-first message.
#[derive(Debug, Clone)]
pub struct ClientFirst {
    /// `n=` (SASLname-decoded).
    pub username: String,
    /// Everything after the GS2 header.
    pub bare: String,
    pub gs2_header: String,
    pub nonce: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScramError {
    Malformed,
    /// Channel binding requested: not offered.
    ChannelBinding,
    BadProof,
}

fn attr(s: &str, key: char) -> Option<&str> {
    s.split(',')
        .find_map(|p| p.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

fn decode_saslname(s: &str) -> Option<String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        let code = rest.get(i..i + 3)?;
        match code {
            "=2C" => out.push(','),
            "=3D" => out.push('='),
            _ => return None,
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Some(out)
}

pub fn parse_client_first(msg: &str) -> Result<ClientFirst, ScramError> {
    let mut parts = msg.splitn(3, ',');
    let cb = parts.next().ok_or(ScramError::Malformed)?;
    let authzid = parts.next().ok_or(ScramError::Malformed)?;
    let bare = parts.next().ok_or(ScramError::Malformed)?;
    match cb {
        "n" | "y" => {}
        c if c.starts_with("p=") => return Err(ScramError::ChannelBinding),
        _ => return Err(ScramError::Malformed),
    }
    if !authzid.is_empty() && !authzid.starts_with("a=") {
        return Err(ScramError::Malformed);
    }
    let username = decode_saslname(attr(bare, 'n').ok_or(ScramError::Malformed)?)
        .ok_or(ScramError::Malformed)?;
    let nonce = attr(bare, 'r').ok_or(ScramError::Malformed)?.to_string();
    if nonce.is_empty() || username.is_empty() {
        return Err(ScramError::Malformed);
    }
    Ok(ClientFirst {
        username,
        bare: bare.to_string(),
        gs2_header: format!("{cb},{authzid},"),
        nonce,
    })
}

/// Server state between server-first and client-final.
#[derive(Debug, Clone)]
pub struct ServerFirst {
    pub message: String,
    nonce: String,
    client_first_bare: String,
    gs2_header: String,
}

pub fn server_first(cf: &ClientFirst, creds: &ScramCredentials) -> ServerFirst {
    let snonce: [u8; 18] = rand::random();
    let nonce = format!("{}{}", cf.nonce, B64.encode(snonce));
    let message = format!(
        "r={nonce},s={},i={}",
        B64.encode(&creds.salt),
        creds.iterations
    );
    ServerFirst {
        message,
        nonce,
        client_first_bare: cf.bare.clone(),
        gs2_header: cf.gs2_header.clone(),
    }
}

/// Checks the client-final message; returns the server-final message.
pub fn verify_client_final(
    sf: &ServerFirst,
    creds: &ScramCredentials,
    msg: &str,
) -> Result<String, ScramError> {
    let (without_proof, proof) = msg.rsplit_once(",p=").ok_or(ScramError::Malformed)?;
    let cbind = attr(without_proof, 'c').ok_or(ScramError::Malformed)?;
    if B64.decode(cbind).map_err(|_| ScramError::Malformed)? != sf.gs2_header.as_bytes() {
        return Err(ScramError::Malformed);
    }
    if attr(without_proof, 'r') != Some(sf.nonce.as_str()) {
        return Err(ScramError::Malformed);
    }
    let proof = B64.decode(proof).map_err(|_| ScramError::Malformed)?;
    if proof.len() != 32 {
        return Err(ScramError::BadProof);
    }
    let auth_message = format!("{},{},{}", sf.client_first_bare, sf.message, without_proof);
    let client_signature = hmac(&creds.stored_key, auth_message.as_bytes());
    let client_key: Vec<u8> = proof
        .iter()
        .zip(client_signature.iter())
        .map(|(a, b)| a ^ b)
        .collect();
    let stored = Sha256::digest(&client_key);
    // Constant-time comparison of the derived key.
    let diff = stored
        .iter()
        .zip(creds.stored_key.iter())
        .fold(0u8, |d, (a, b)| d | (a ^ b));
    if diff != 0 || creds.stored_key.len() != 32 {
        return Err(ScramError::BadProof);
    }
    let server_signature = hmac(&creds.server_key, auth_message.as_bytes());
    Ok(format!("v={}", B64.encode(server_signature)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677's example exchange.
    #[test]
    fn rfc7677_vector() {
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let creds = credentials_with("pencil", &salt, 4096);
        let cf = parse_client_first("n,,n=user,r=rOprNGfwEbeRWgbNEkqO").unwrap();
        let sf = ServerFirst {
            message: "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096".into(),
            nonce: "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0".into(),
            client_first_bare: cf.bare.clone(),
            gs2_header: cf.gs2_header.clone(),
        };
        let final_msg = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                         p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
        assert_eq!(
            verify_client_final(&sf, &creds, final_msg).unwrap(),
            "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
        let bad = final_msg.replace("p=dH", "p=eH");
        assert_eq!(
            verify_client_final(&sf, &creds, &bad),
            Err(ScramError::BadProof)
        );
    }
}
