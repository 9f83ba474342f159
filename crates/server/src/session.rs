//! What a connection's own task owns: registration state, negotiated caps,
//! its MONITOR list. Nobody else reads it, so it needs no lock.

use std::sync::Arc;

use crate::caps::Caps;
use crate::client::Client;

#[derive(Debug)]
pub struct Session {
    pub client: Arc<Client>,
    pub caps: Caps,
    /// CAP LS/REQ seen before registration: wait for CAP END.
    pub cap_negotiating: bool,
    pub cap_version: u32,
    /// The casefolded nick this session holds in the nick map.
    pub folded_nick: Option<String>,
    pub user: Option<(String, String)>,
    pub pass: Option<String>,
    pub registered: bool,
    /// (casefolded, as given) nicks this session MONITORs.
    pub monitoring: Vec<(String, String)>,
    /// Set by a command that ends the connection: the text of the ERROR.
    pub quit: Option<String>,
    pub oper_name: Option<String>,
}

impl Session {
    pub fn new(client: Arc<Client>) -> Session {
        Session {
            client,
            caps: Caps::default(),
            cap_negotiating: false,
            cap_version: 0,
            folded_nick: None,
            user: None,
            pass: None,
            registered: false,
            monitoring: Vec::new(),
            quit: None,
            oper_name: None,
        }
    }
}
