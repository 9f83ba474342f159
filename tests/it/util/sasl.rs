//! SASL for the tests: the AUTHENTICATE exchanges (PLAIN, EXTERNAL, the
//! client side of SCRAM-SHA-256) and whole logins before registration.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ferry_testkit::{TestClient, TestServer};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::{finish_burst, src};

/// `AUTHENTICATE` payload for SASL PLAIN (no authzid).
pub fn plain_payload(account: &str, password: &str) -> String {
    B64.encode(format!("\0{account}\0{password}"))
}

/// `:ferry.test 900 nick nick!~nick@127.0.0.1 account :You are now logged in as account`
pub fn logged_in_line(nick: &str, account: &str) -> String {
    format!(
        ":ferry.test 900 {nick} {} {account} :You are now logged in as {account}",
        src(nick)
    )
}

/// Requests `sasl` (and `caps`, space separated), then sends NICK `nick`
/// and USER `user`: registration waits for the login and CAP END.
pub async fn sasl_hello(c: &mut TestClient, nick: &str, user: &str, caps: &str) {
    c.nick = nick.to_string();
    let caps = if caps.is_empty() {
        "sasl".to_string()
    } else {
        format!("sasl {caps}")
    };
    c.send(&format!("CAP REQ :{caps}")).await;
    c.expect(&format!(":ferry.test CAP * ACK :{caps}")).await;
    c.send(&format!("NICK {nick}")).await;
    c.send(&format!("USER {user} 0 * :{user} real")).await;
}

/// `AUTHENTICATE PLAIN`, the server's `+`, then the credentials; the
/// caller reads the outcome (900/903 or 904).
pub async fn authenticate_plain(c: &mut TestClient, account: &str, password: &str) {
    c.send("AUTHENTICATE PLAIN").await;
    c.expect("AUTHENTICATE +").await;
    c.send(&format!(
        "AUTHENTICATE {}",
        plain_payload(account, password)
    ))
    .await;
}

/// `AUTHENTICATE EXTERNAL`, the server's `+`, then `authzid` (base64, `+`
/// for none); the caller reads the outcome.
pub async fn authenticate_external(c: &mut TestClient, authzid: &str) {
    c.send("AUTHENTICATE EXTERNAL").await;
    c.expect("AUTHENTICATE +").await;
    c.send(&format!("AUTHENTICATE {authzid}")).await;
}

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = HmacSha256::new_from_slice(key).expect("any key length");
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

/// The client side of SCRAM-SHA-256 (RFC 5802): the AUTHENTICATE lines
/// through the final `AUTHENTICATE +`, checking the server's signature.
pub async fn authenticate_scram(c: &mut TestClient, account: &str, password: &str) {
    let cnonce = "fyko+d2lbbFgONRv9qkxdawL";
    let first_bare = format!("n={account},r={cnonce}");
    c.send("AUTHENTICATE SCRAM-SHA-256").await;
    c.expect("AUTHENTICATE +").await;
    c.send(&format!(
        "AUTHENTICATE {}",
        B64.encode(format!("n,,{first_bare}"))
    ))
    .await;
    let l = c.line().await;
    let server_first = l
        .strip_prefix("AUTHENTICATE ")
        .map(|p| String::from_utf8(B64.decode(p).expect("base64")).expect("utf-8"))
        .unwrap_or_else(|| panic!("not server-first: {l}"));
    let attr = |k: &str| {
        server_first
            .split(',')
            .find_map(|p| p.strip_prefix(k))
            .unwrap_or_else(|| panic!("no {k} in {server_first}"))
            .to_string()
    };
    let nonce = attr("r=");
    assert!(nonce.starts_with(cnonce) && nonce.len() > cnonce.len());
    let salt = B64.decode(attr("s=")).expect("salt");
    let iterations: u32 = attr("i=").parse().expect("iterations");
    assert!(iterations >= 4096, "{server_first}");

    let mut salted = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), &salt, iterations, &mut salted);
    let client_key = hmac(&salted, b"Client Key");
    let stored_key = Sha256::digest(&client_key);
    let without_proof = format!("c=biws,r={nonce}");
    let auth_message = format!("{first_bare},{server_first},{without_proof}");
    let signature = hmac(&stored_key, auth_message.as_bytes());
    let proof: Vec<u8> = client_key
        .iter()
        .zip(&signature)
        .map(|(a, b)| a ^ b)
        .collect();
    c.send(&format!(
        "AUTHENTICATE {}",
        B64.encode(format!("{without_proof},p={}", B64.encode(proof)))
    ))
    .await;
    let server_key = hmac(&salted, b"Server Key");
    let want = format!(
        "v={}",
        B64.encode(hmac(&server_key, auth_message.as_bytes()))
    );
    c.expect(&format!("AUTHENTICATE {}", B64.encode(want)))
        .await;
    c.send("AUTHENTICATE +").await;
}

/// On a fresh connection: requests `sasl` and `caps`, logs in to `nick`'s
/// account with SASL PLAIN before registering, then registers, reading
/// through the MOTD (server `ferry.test`, network `FerryTest`, no cloak).
pub async fn sasl_login(c: &mut TestClient, nick: &str, password: &str, caps: &str) {
    sasl_hello(c, nick, nick, caps).await;
    authenticate_plain(c, nick, password).await;
    c.expect(&logged_in_line(nick, nick)).await;
    c.expect(&format!(
        ":ferry.test 903 {nick} :SASL authentication successful"
    ))
    .await;
    c.send("CAP END").await;
    c.expect(&format!(
        ":ferry.test 001 {nick} :Welcome to the FerryTest IRC Network {}",
        src(nick)
    ))
    .await;
    finish_burst(c).await;
}

/// Connects and logs in with [`sasl_login`].
pub async fn sasl_client(
    server: &TestServer,
    nick: &str,
    password: &str,
    caps: &str,
) -> TestClient {
    let mut c = server.connect().await;
    sasl_login(&mut c, nick, password, caps).await;
    c
}
