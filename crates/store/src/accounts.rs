//! Accounts (REGISTER, `ferry account`) and the client certificates that
//! log in to them (SASL EXTERNAL).

use crate::Result;

/// SCRAM-SHA-256 credentials (RFC 5802 / 7677): the server keeps only these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramCredentials {
    pub salt: Vec<u8>,
    pub iterations: u32,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Casefolded; the key.
    pub name: String,
    /// As registered.
    pub display: String,
    /// argon2id, PHC string format.
    pub password_hash: String,
    pub scram: ScramCredentials,
    pub email: Option<String>,
    /// User mode +g (only ACCEPTed accounts may write) for this account.
    pub callerid: bool,
    pub created_ms: i64,
    /// Set by an administrator: logins are refused while it is.
    pub suspended: Option<Suspension>,
    /// The owner's always-on choice (NickServ SET ALWAYS-ON); None: the
    /// server's default (`accounts.always_on`).
    pub always_on: Option<bool>,
    /// When a connection logged in to it last ended (ms): what a registered
    /// channel it is on saw since is replayed at its next login.
    pub last_seen_ms: Option<i64>,
    /// The owner's multiclient choice (NickServ SET MULTICLIENT): may
    /// another connection share its nick? None: the server's setting.
    pub multiclient: Option<bool>,
}

/// Why and by whom an account was suspended (the admin API).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suspension {
    pub reason: String,
    /// The admin API token's name.
    pub by: String,
    pub at_ms: i64,
}

/// A login token (the web page's "stay logged in"): only its hash is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginToken {
    /// Short and public: how its owner names it to revoke it.
    pub id: String,
    /// Where it was made (the browser, as the page names it).
    pub label: String,
    pub created_ms: i64,
    /// The last login with it (0: never).
    pub last_used_ms: i64,
}

/// Login tokens one account may hold; making one more drops the least
/// recently used.
pub const MAX_TOKENS: usize = 32;

/// Certificates one account may list.
pub const MAX_CERTS: usize = 16;

/// What [`AccountStore::add_cert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertAdded {
    Added,
    /// The account already lists it.
    Already,
    /// Another account lists it (a certificate logs in to one account).
    OtherAccount,
    /// The account lists [`MAX_CERTS`] already.
    Full,
}

/// Accounts and their certificates. Every other domain's rows for an
/// account (lists, requests, offline messages, certificates, channels it
/// founded) go when the account is deleted.
///
/// Every method blocks until it is done (a write: committed), and is
/// called on the blocking pool (`Server::store`); none is on the message
/// path. A PostgreSQL backend implements them the same way, blocking on
/// its runtime handle (see the crate docs).
pub trait AccountStore: Send + Sync {
    /// Creates an account; `AccountExists` if the name is taken.
    fn create_account(&self, account: &Account) -> Result<()>;
    fn account(&self, name: &str) -> Result<Option<Account>>;
    /// All accounts, by name.
    fn accounts(&self) -> Result<Vec<Account>>;
    /// Replaces both password forms. False if there is no such account.
    fn set_credentials(
        &self,
        name: &str,
        password_hash: &str,
        scram: &ScramCredentials,
    ) -> Result<bool>;
    fn set_callerid(&self, name: &str, on: bool) -> Result<bool>;
    /// The owner's always-on choice (None: the server's default). False if
    /// there is no such account.
    fn set_always_on(&self, name: &str, on: Option<bool>) -> Result<bool>;
    /// The owner's multiclient choice (None: the server's setting). False
    /// if there is no such account.
    fn set_multiclient(&self, name: &str, on: Option<bool>) -> Result<bool>;
    /// Records when a connection logged in to `name` ended.
    fn set_last_seen(&self, name: &str, ms: i64) -> Result<bool>;
    /// Keeps (None: forgets) what the server restores of an always-on
    /// user with no device at its next start (its nick, channels, ...: the
    /// server's own encoding; the store never reads it).
    fn set_always_on_state(&self, name: &str, state: Option<&str>) -> Result<bool>;
    /// Every (account, state) kept by [`Self::set_always_on_state`].
    fn always_on_states(&self) -> Result<Vec<(String, String)>>;
    /// Suspends the account (`Some`) or lifts it (`None`). False if there
    /// is no such account.
    fn set_suspended(&self, name: &str, suspension: Option<&Suspension>) -> Result<bool>;
    /// Answers only if the store can be read and written now (`/readyz`).
    fn ping(&self) -> Result<()>;

    // --- login tokens -------------------------------------------------
    /// Keeps a new token for `account` (its SHA-256 `hash`), dropping the
    /// least recently used past [`MAX_TOKENS`]. False if no such account.
    fn add_token(&self, account: &str, token: &LoginToken, hash: &[u8]) -> Result<bool>;
    /// The account's tokens, newest first.
    fn tokens(&self, account: &str) -> Result<Vec<LoginToken>>;
    /// False if the account has no token `id`.
    fn revoke_token(&self, account: &str, id: &str) -> Result<bool>;
    /// The account a token hash logs in to, noting the use at `now_ms`.
    fn login_with_token(&self, hash: &[u8], now_ms: i64) -> Result<Option<Account>>;
    /// Deletes the account and everything stored for it. False if absent.
    fn delete_account(&self, name: &str) -> Result<bool>;

    // --- client certificates (SASL EXTERNAL) ---------------------------
    /// Lets the certificate with this SHA-256 fingerprint (lowercase hex)
    /// log in to `account`; at most [`MAX_CERTS`] per account.
    fn add_cert(&self, account: &str, fingerprint: &str, time_ms: i64) -> Result<CertAdded>;
    /// False if `account` did not list it.
    fn del_cert(&self, account: &str, fingerprint: &str) -> Result<bool>;
    /// The account's fingerprints, oldest first.
    fn certs(&self, account: &str) -> Result<Vec<String>>;
    /// The account a certificate logs in to.
    fn account_by_cert(&self, fingerprint: &str) -> Result<Option<Account>>;
}
