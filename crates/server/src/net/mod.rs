//! The network side: sockets in, lines out. Nothing here knows a command;
//! everything above it knows no socket.
//!
//! - `listener.rs`: bound sockets ([`Listener`]) and the accept loop.
//! - `driver.rs`: one task per connection, the hand-written poll function
//!   that waits on the socket, the send queue, a deferred command and the
//!   fake-lag timer at once, and the end of a connection.
//! - `lines.rs`: the sans-I/O line processor — bytes in, handled lines out:
//!   framing and line limits (417), receive flood control, charset
//!   decoding, and chains of deferred commands. It does no I/O and reads
//!   no clock (the driver passes `now`), so the fuzzer drives the same code
//!   the connection does.
//! - `writer.rs`: the send side — takes what `route` queued for the client,
//!   encodes it for a non-UTF-8 wire, and writes it vectored, as far as the
//!   socket takes it.
//! - `stream.rs`: the socket itself, plain or TLS, either carrying
//!   WebSocket frames or not (or, parked, any of them off the runtime).
//! - `ws.rs`: the sans-I/O WebSocket frame codec; `web.rs`: web listeners
//!   (HTTP through hyper, the IRCv3 WebSocket upgrade).
//! - `park.rs`: idle connections off the runtime, their sockets watched by
//!   one epoll thread.
//!
//! # The connection model
//! A connection is a [`driver::Active`] — stream, line processor, writer,
//! session — in one box, owned by exactly one task at a time (or by the
//! parker, with no task). Its state machine is the poll function; nothing
//! of it lives in a future across an await, which is what makes parking
//! (moving the box between owners) and a small idle footprint possible.
//!
//! What may change plugs in at one place each:
//! - **Another transport** is a [`Stream`] variant, as the IRCv3
//!   WebSocket is: its frame codec is sans-I/O state beside the raw
//!   socket, unwrapping one IRC line per message (CRLF added, so `lines`
//!   frames it as any other) and wrapping what the writer hands it. Lines,
//!   limits, flood control, SendQ and parking hold for it unchanged.
//! - **Another event loop** (the relay-speed issue) replaces `driver.rs`
//!   alone: it owns the same `Active` boxes and calls the same
//!   `Lines::process` and `Writer::write_some`, whether one task per
//!   connection or one loop over many ready sockets.
//! - **A cluster** does not reach this layer: a message from another node
//!   arrives through `route` into the client's queue, as a local one does.

mod driver;
pub(crate) mod lines;
mod listener;
mod page;
mod park;
mod stream;
mod timers;
mod web;
mod writer;
pub(crate) mod ws;

pub(crate) use driver::Active;
pub(crate) use lines::Lines;
pub(crate) use listener::accept_loop;
pub use listener::Listener;
pub(crate) use park::Parker;
pub(crate) use stream::Stream;
pub(crate) use web::accept_loop as web_accept_loop;
pub(crate) use writer::Writer;
