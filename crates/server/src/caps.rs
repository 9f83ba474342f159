//! IRCv3 capabilities: the list we offer and a bit set per client.

/// One capability ferry offers, named as IRCv3 spells it (hence `CapNotify`).
#[allow(clippy::enum_variant_names)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Cap {
    AccountNotify,
    AccountTag,
    AwayNotify,
    Batch,
    CapNotify,
    Chghost,
    EchoMessage,
    ExtendedJoin,
    ExtendedMonitor,
    DraftExtendedMonitor,
    InviteNotify,
    LabeledResponse,
    MessageTags,
    MultiPrefix,
    ServerTime,
    Setname,
    StandardReplies,
    UserhostInNames,
    NoImplicitNames,
    Sasl,
    AccountRegistration,
    Chathistory,
    EventPlayback,
    ReadMarker,
    MessageRedaction,
    Metadata,
    /// The same, by the name of the spec's previous draft (as Ergo).
    MetadataDraft2,
    Multiline,
    ChannelRename,
    /// Strict Transport Security: advertised only when configured, never
    /// requested.
    Sts,
}

impl Cap {
    pub(crate) const ALL: [Cap; 30] = [
        Cap::AccountNotify,
        Cap::AccountTag,
        Cap::AwayNotify,
        Cap::Batch,
        Cap::CapNotify,
        Cap::Chghost,
        Cap::EchoMessage,
        Cap::ExtendedJoin,
        Cap::ExtendedMonitor,
        Cap::DraftExtendedMonitor,
        Cap::InviteNotify,
        Cap::LabeledResponse,
        Cap::MessageTags,
        Cap::MultiPrefix,
        Cap::ServerTime,
        Cap::Setname,
        Cap::StandardReplies,
        Cap::UserhostInNames,
        Cap::NoImplicitNames,
        Cap::Sasl,
        Cap::AccountRegistration,
        Cap::Chathistory,
        Cap::EventPlayback,
        Cap::ReadMarker,
        Cap::MessageRedaction,
        Cap::Metadata,
        Cap::MetadataDraft2,
        Cap::Multiline,
        Cap::ChannelRename,
        Cap::Sts,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Cap::AccountNotify => "account-notify",
            Cap::AccountTag => "account-tag",
            Cap::AwayNotify => "away-notify",
            Cap::Batch => "batch",
            Cap::CapNotify => "cap-notify",
            Cap::Chghost => "chghost",
            Cap::EchoMessage => "echo-message",
            Cap::ExtendedJoin => "extended-join",
            Cap::ExtendedMonitor => "extended-monitor",
            Cap::DraftExtendedMonitor => "draft/extended-monitor",
            Cap::InviteNotify => "invite-notify",
            Cap::LabeledResponse => "labeled-response",
            Cap::MessageTags => "message-tags",
            Cap::MultiPrefix => "multi-prefix",
            Cap::ServerTime => "server-time",
            Cap::Setname => "setname",
            Cap::StandardReplies => "standard-replies",
            Cap::UserhostInNames => "userhost-in-names",
            Cap::NoImplicitNames => "draft/no-implicit-names",
            Cap::Sasl => "sasl",
            Cap::AccountRegistration => "draft/account-registration",
            Cap::Chathistory => "draft/chathistory",
            Cap::EventPlayback => "draft/event-playback",
            Cap::ReadMarker => "draft/read-marker",
            Cap::MessageRedaction => "draft/message-redaction",
            Cap::Metadata => "draft/metadata-3",
            Cap::MetadataDraft2 => "draft/metadata-2",
            Cap::Multiline => "draft/multiline",
            Cap::ChannelRename => "draft/channel-rename",
            Cap::Sts => "sts",
        }
    }

    /// The value shown in `CAP LS 302` on a plain or TLS connection.
    pub(crate) fn value(self, config: &crate::Config, tls: bool) -> Option<String> {
        match self {
            Cap::Sasl => Some(sasl_mechanisms(config, tls).into()),
            Cap::AccountRegistration if config.accounts.register_before_connect => {
                Some("before-connect".into())
            }
            Cap::Sts => config.sts.as_ref().map(|s| s.value(tls)),
            Cap::Metadata | Cap::MetadataDraft2 => {
                let m = &config.metadata;
                Some(format!(
                    "before-connect,max-subs={},max-keys={},max-value-bytes={}",
                    m.max_subs, m.max_keys, m.max_value_bytes
                ))
            }
            Cap::Multiline => Some(format!(
                "max-bytes={},max-lines={}",
                crate::multiline::MAX_BYTES,
                crate::multiline::MAX_LINES
            )),
            _ => None,
        }
    }

    /// Listed in `CAP LS` (`sts` only when configured).
    pub(crate) fn offered(self, config: &crate::Config) -> bool {
        match self {
            Cap::Sts => config.sts.is_some(),
            Cap::Metadata | Cap::MetadataDraft2 => config.metadata.enabled,
            _ => true,
        }
    }

    /// May be turned on with `CAP REQ` (not `sts`: it is a policy).
    pub(crate) fn requestable(self) -> bool {
        self != Cap::Sts
    }

    pub(crate) fn from_name(name: &str) -> Option<Cap> {
        Cap::ALL.iter().copied().find(|c| c.name() == name)
    }

    pub(crate) const fn bit(self) -> u32 {
        1 << self as u8
    }
}

/// The SASL mechanisms a connection may use: EXTERNAL needs TLS (a client
/// certificate), PLAIN may be refused without it
/// (`accounts.require_tls_for_plain`).
pub(crate) fn sasl_mechanisms(config: &crate::Config, tls: bool) -> &'static str {
    match (tls, config.accounts.require_tls_for_plain) {
        (true, _) => "EXTERNAL,PLAIN,SCRAM-SHA-256",
        (false, false) => "PLAIN,SCRAM-SHA-256",
        (false, true) => "SCRAM-SHA-256",
    }
}

/// A set of capabilities.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Caps(pub u32);

impl Caps {
    pub(crate) fn has(self, c: Cap) -> bool {
        self.0 & c.bit() != 0
    }
    pub(crate) fn set(&mut self, c: Cap, on: bool) {
        if on {
            self.0 |= c.bit()
        } else {
            self.0 &= !c.bit()
        }
    }
    pub(crate) fn iter(self) -> impl Iterator<Item = Cap> {
        Cap::ALL.into_iter().filter(move |c| self.has(*c))
    }
    /// Either name of metadata.
    pub(crate) fn metadata(self) -> bool {
        self.has(Cap::Metadata) || self.has(Cap::MetadataDraft2)
    }
    /// Either spelling of extended-monitor.
    pub(crate) fn extended_monitor(self) -> bool {
        self.has(Cap::ExtendedMonitor) || self.has(Cap::DraftExtendedMonitor)
    }
}
