//! Registered channels: what a channel keeps across restarts once an
//! account registers it (Ergo-style ChanServ REGISTER).
//!
//! The server's ChanServ registers channels, restores them at start and
//! saves their topic, modes, ban/exception/invite lists and access list
//! as they change.

use crate::Result;

/// A channel's topic as it was set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelTopic {
    pub text: String,
    /// Who set it, as RPL_TOPICWHOTIME shows it (`nick!user@host`).
    pub set_by: String,
    pub set_ms: i64,
}

/// A registered channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredChannel {
    /// Casefolded; the key.
    pub name: String,
    /// As registered.
    pub display: String,
    /// The founder's account, casefolded. Deleting that account
    /// unregisters the channel.
    pub founder: String,
    pub created_ms: i64,
    pub topic: Option<ChannelTopic>,
    /// The channel's modes as the server renders them for RPL_CHANNELMODEIS:
    /// letters, then their parameters (`+ntk key`); empty for none. The
    /// store keeps them as text and never parses them.
    pub modes: String,
}

/// A level on a registered channel's access list (Ergo's AMODE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessLevel {
    /// Given +o on join; may OP, DEOP and change the access list.
    Op,
    /// Given +v on join.
    Voice,
}

impl AccessLevel {
    pub fn letter(self) -> char {
        match self {
            AccessLevel::Op => 'o',
            AccessLevel::Voice => 'v',
        }
    }

    pub fn from_letter(c: char) -> Option<AccessLevel> {
        match c {
            'o' => Some(AccessLevel::Op),
            'v' => Some(AccessLevel::Voice),
            _ => None,
        }
    }
}

/// One entry of a registered channel's ban (`b`), exception (`e`) or
/// invite (`I`) list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelMask {
    pub mask: String,
    pub set_by: String,
    pub set_at: u64,
}

/// A channel the server operators closed (ChanServ PURGE, as Ergo): it is
/// unregistered, emptied, and nobody may join or create it until it is
/// reopened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgedChannel {
    /// Casefolded; the key.
    pub name: String,
    pub display: String,
    /// The operator who closed it (nick or account, as they were).
    pub by: String,
    pub reason: String,
    pub at_ms: i64,
}

/// What [`ChannelStore::register_channel`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelRegistered {
    Registered,
    /// The channel is registered already.
    Taken,
    /// The founder is not an account.
    NoFounder,
}

/// Registered channels. Registering and the changes a ChanServ command
/// makes are acknowledged to the user only after their commit, and the
/// list is read once at start, so every method blocks until done and is
/// called on the blocking pool, on any backend (see the crate docs). A
/// topic or mode change on a registered channel is saved the same way, after
/// the change is already live in memory: it is not on the message path.
pub trait ChannelStore: Send + Sync {
    /// Registers a channel with its founder, time, and its topic and
    /// modes at that moment.
    fn register_channel(&self, channel: &RegisteredChannel) -> Result<ChannelRegistered>;
    /// Forgets a registered channel. False if it was not registered.
    fn unregister_channel(&self, name: &str) -> Result<bool>;
    fn channel(&self, name: &str) -> Result<Option<RegisteredChannel>>;
    /// Every registered channel, by name.
    fn channels(&self) -> Result<Vec<RegisteredChannel>>;
    /// Replaces (None: clears) the topic. False if not registered.
    fn set_channel_topic(&self, name: &str, topic: Option<&ChannelTopic>) -> Result<bool>;
    /// Replaces the modes (see [`RegisteredChannel::modes`]). False if not
    /// registered.
    fn set_channel_modes(&self, name: &str, modes: &str) -> Result<bool>;
    /// The access list: (account, level), by account.
    fn channel_access(&self, name: &str) -> Result<Vec<(String, AccessLevel)>>;
    /// Gives `account` a level on the channel, or (None) takes it away.
    /// False if the channel is not registered or the account does not
    /// exist.
    fn set_channel_access(
        &self,
        name: &str,
        account: &str,
        level: Option<AccessLevel>,
    ) -> Result<bool>;
    /// The channel's `kind` list (`b`, `e` or `I`).
    fn channel_masks(&self, name: &str, kind: char) -> Result<Vec<ChannelMask>>;
    /// Replaces the channel's `kind` list.
    fn set_channel_masks(&self, name: &str, kind: char, masks: &[ChannelMask]) -> Result<()>;
    /// The registered channels `account` founded or is on the access list
    /// of: (name, display name).
    fn channels_of(&self, account: &str) -> Result<Vec<(String, String)>>;
    /// Makes `founder` (an account) the founder. False if the channel is
    /// not registered or there is no such account.
    fn transfer_channel(&self, name: &str, founder: &str) -> Result<bool>;
    /// A registered channel's settings (ChanServ SET): (key, value), by
    /// key. Keys and values are the server's; the store keeps text.
    fn channel_settings(&self, name: &str) -> Result<Vec<(String, String)>>;
    /// Sets (None: clears, back to the server's default) one setting.
    /// False if the channel is not registered.
    fn set_channel_setting(&self, name: &str, key: &str, value: Option<&str>) -> Result<bool>;
    /// Closes a channel: unregisters it (if it was) and records the purge,
    /// in one transaction. A channel purged already keeps its first record.
    fn purge_channel(&self, purge: &PurgedChannel) -> Result<()>;
    /// Reopens a purged channel. False if it was not purged.
    fn unpurge_channel(&self, name: &str) -> Result<bool>;
    /// Every purged channel, by name.
    fn purged_channels(&self) -> Result<Vec<PurgedChannel>>;
}
