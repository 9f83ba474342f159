//! Registered channels: what a channel keeps across restarts once an
//! account registers it (Ergo-style ChanServ REGISTER).
//!
//! Nothing in the server calls this yet: today every channel lives in
//! memory only and is gone when its last member leaves. Persistent groups
//! (the next issue) register channels, restore them at start and save
//! their topic and modes as they change; the channel's ban, exception and
//! invite lists and its access list come with that issue, as tables of
//! their own beside this one.

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
}
