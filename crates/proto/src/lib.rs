//! IRC protocol for ferry, without any I/O.
//!
//! Bytes in, borrowed values out: [`frame`] finds complete lines in a read
//! buffer, [`Message::parse`] splits one line into tags, source, verb and
//! parameters without copying, [`Line`] builds an outgoing line, and
//! [`Casemap`] / [`mask`] implement nickname and channel comparison.
//!
//! The parser is written by hand rather than taken from a crate because it
//! sits on the hot path of every message the server relays: it allocates
//! nothing, and tag values are only unescaped when someone asks for them.

pub mod casemap;
pub mod frame;
#[doc(hidden)]
pub mod fuzz;
pub mod line;
pub mod mask;
pub mod message;
pub mod numeric;
pub mod validate;

pub use casemap::Casemap;
pub use frame::{next_line, FrameError};
pub use line::Line;
pub use message::{Message, ParseError, Tag};

/// Longest line without tags, CRLF included (Modern IRC).
pub const MAX_LINE: usize = 512;
/// Most tag bytes a client may send (the `@` and trailing space excluded).
pub const MAX_CLIENT_TAGS: usize = 4094;
/// Longest tag section the server may send, `@` and space included.
pub const MAX_TAGS_SECTION: usize = 8191;
/// Most parameters a message may carry.
pub const MAX_PARAMS: usize = 15;
