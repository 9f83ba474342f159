//! The WebSocket frame codec (RFC 6455) under IRCv3's WebSocket transport
//! (ircv3.net/specs/extensions/websocket): one IRC line per message,
//! without CR/LF, text messages UTF-8 (`text.ircv3.net`) or binary ones
//! (`binary.ircv3.net`).
//!
//! Sans-I/O, like `lines.rs`: bytes from the socket in, IRC bytes (each
//! line CRLF-terminated, so the line processor frames them as it frames
//! TCP) out; IRC bytes from the writer in, frames out. Hand-written rather
//! than tungstenite's: its state is the connection's state, so it must be
//! plain data a parked connection keeps (`stream.rs` parks it beside the
//! socket, a few words when idle), with no reader or writer of its own
//! to drive; and frame parsing is every web client's read path.
//!
//! The handshake is HTTP's (hyper, `web.rs`); this starts after the 101.

/// How a WebSocket connection carries IRC lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `text.ircv3.net` (and no subprotocol): text messages, UTF-8 only.
    Text,
    /// `binary.ircv3.net`: binary messages.
    Binary,
}

/// The largest message taken: a full tagged line (8,191 bytes of tags and
/// 512 of the rest, RFC message-tags) and room to spare. A bigger one
/// closes the connection (1009).
pub(crate) const MAX_MESSAGE: usize = 16 * 1024;

const OP_CONT: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

/// Why the codec ends the connection: a close frame with this status is
/// queued (`1002` protocol error, `1007` invalid UTF-8 in a text message,
/// `1009` too big).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Violation(pub u16);

/// The state of one WebSocket connection.
#[derive(Debug)]
pub(crate) struct Codec {
    mode: Mode,
    /// Bytes of a frame not complete yet.
    partial: Vec<u8>,
    /// The data frames of a fragmented message so far, and its opcode.
    message: Vec<u8>,
    message_op: Option<u8>,
    /// Frames to write (replies to pings, a close) and framed lines.
    pub(crate) out: Vec<u8>,
    /// Outgoing IRC bytes after the last line end seen.
    line: Vec<u8>,
    /// A close frame was sent (nothing more is framed) or received.
    pub(crate) close_sent: bool,
    pub(crate) close_received: bool,
}

impl Codec {
    pub(crate) fn new(mode: Mode) -> Codec {
        Codec {
            mode,
            partial: Vec::new(),
            message: Vec::new(),
            message_op: None,
            out: Vec::new(),
            line: Vec::new(),
            close_sent: false,
            close_received: false,
        }
    }

    /// Holds nothing half-read, half-written or waiting to go out: what a
    /// parked connection's codec must be.
    pub(crate) fn is_idle(&self) -> bool {
        self.partial.is_empty()
            && self.message.is_empty()
            && self.out.is_empty()
            && self.line.is_empty()
    }

    /// Part of a frame is buffered, waiting for the rest.
    pub(crate) fn has_partial_input(&self) -> bool {
        !self.partial.is_empty() || !self.message.is_empty()
    }

    /// Takes bytes read from the socket: every complete message's line is
    /// appended to `lines` with CRLF; pings are answered, a close echoed
    /// (then `close_received`). The buffers are freed when empty, so an
    /// idle connection holds none.
    pub(crate) fn decode(&mut self, input: &[u8], lines: &mut Vec<u8>) -> Result<(), Violation> {
        if self.close_received {
            return Ok(());
        }
        let mut owned = std::mem::take(&mut self.partial);
        let data: &[u8] = if owned.is_empty() {
            input
        } else {
            owned.extend_from_slice(input);
            &owned
        };
        let mut at = 0;
        let r = loop {
            match parse_frame(&data[at..]) {
                Ok(None) => break Ok(()),
                Ok(Some(frame)) => {
                    at += frame.len;
                    if let Err(v) = self.frame(&frame, &data[at - frame.payload_len..at], lines) {
                        break Err(v);
                    }
                    if self.close_received {
                        break Ok(());
                    }
                }
                Err(v) => break Err(v),
            }
        };
        if r.is_ok() && !self.close_received && at < data.len() {
            self.partial = data[at..].to_vec();
        }
        if self.message.is_empty() {
            self.message = Vec::new();
        }
        if let Err(Violation(code)) = r {
            self.close(code);
        }
        r
    }

    fn frame(&mut self, f: &Frame, masked: &[u8], lines: &mut Vec<u8>) -> Result<(), Violation> {
        let mut payload = masked.to_vec();
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= f.mask[i % 4];
        }
        match f.opcode {
            OP_PING => {
                if !self.close_sent {
                    push_frame(&mut self.out, OP_PONG, &payload);
                }
                Ok(())
            }
            OP_PONG => Ok(()),
            OP_CLOSE => {
                self.close_received = true;
                if !self.close_sent {
                    // Echo the status, as RFC 6455 §5.5.1 asks.
                    let code = payload.get(..2).unwrap_or(&[0x03, 0xE8]).to_vec();
                    push_frame(&mut self.out, OP_CLOSE, &code);
                    self.close_sent = true;
                }
                Ok(())
            }
            OP_TEXT | OP_BINARY | OP_CONT => {
                match (f.opcode, self.message_op) {
                    (OP_CONT, None) => return Err(Violation(1002)),
                    (OP_TEXT | OP_BINARY, Some(_)) => return Err(Violation(1002)),
                    (OP_TEXT | OP_BINARY, None) => self.message_op = Some(f.opcode),
                    _ => {}
                }
                if self.message.len() + payload.len() > MAX_MESSAGE {
                    return Err(Violation(1009));
                }
                self.message.extend_from_slice(&payload);
                if f.fin {
                    let op = self.message_op.take();
                    let msg = std::mem::take(&mut self.message);
                    if op == Some(OP_TEXT) && std::str::from_utf8(&msg).is_err() {
                        return Err(Violation(1007));
                    }
                    // No CR/LF at the end (the spec); the line processor
                    // frames what it gets like any other line.
                    let end = msg
                        .iter()
                        .rposition(|&b| b != b'\r' && b != b'\n')
                        .map_or(0, |i| i + 1);
                    lines.extend_from_slice(&msg[..end]);
                    lines.extend_from_slice(b"\r\n");
                }
                Ok(())
            }
            _ => Err(Violation(1002)),
        }
    }

    /// Takes IRC bytes to send: each complete line (to its LF) becomes one
    /// message, without its CR/LF; a text message's invalid UTF-8 is
    /// replaced by U+FFFD, as the spec allows.
    pub(crate) fn encode(&mut self, bytes: &[u8]) {
        if self.close_sent {
            return;
        }
        let mut rest = bytes;
        while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
            let (head, tail) = rest.split_at(nl + 1);
            rest = tail;
            let line: std::borrow::Cow<'_, [u8]> = if self.line.is_empty() {
                head.into()
            } else {
                let mut l = std::mem::take(&mut self.line);
                l.extend_from_slice(head);
                l.into()
            };
            let end = line
                .iter()
                .rposition(|&b| b != b'\r' && b != b'\n')
                .map_or(0, |i| i + 1);
            self.message_out(&line[..end]);
        }
        self.line.extend_from_slice(rest);
        if self.line.is_empty() {
            self.line = Vec::new();
        }
    }

    fn message_out(&mut self, line: &[u8]) {
        match self.mode {
            Mode::Binary => push_frame(&mut self.out, OP_BINARY, line),
            Mode::Text => match String::from_utf8_lossy(line) {
                std::borrow::Cow::Borrowed(s) => push_frame(&mut self.out, OP_TEXT, s.as_bytes()),
                std::borrow::Cow::Owned(s) => push_frame(&mut self.out, OP_TEXT, s.as_bytes()),
            },
        }
    }

    /// Queues a close frame with `code` (once); nothing is framed after it.
    pub(crate) fn close(&mut self, code: u16) {
        if !self.close_sent {
            push_frame(&mut self.out, OP_CLOSE, &code.to_be_bytes());
            self.close_sent = true;
        }
    }

    /// `n` bytes of `out` were written.
    pub(crate) fn written(&mut self, n: usize) {
        self.out.drain(..n.min(self.out.len()));
        if self.out.is_empty() {
            self.out = Vec::new();
        }
    }
}

/// A frame's header as parsed: where its payload is and how it is masked.
#[derive(Debug)]
struct Frame {
    fin: bool,
    opcode: u8,
    mask: [u8; 4],
    payload_len: usize,
    /// Header and payload.
    len: usize,
}

/// The frame at the start of `b`: `None` until all of it is there.
fn parse_frame(b: &[u8]) -> Result<Option<Frame>, Violation> {
    if b.len() < 2 {
        return Ok(None);
    }
    let fin = b[0] & 0x80 != 0;
    if b[0] & 0x70 != 0 {
        // No extension was negotiated: reserved bits must be 0.
        return Err(Violation(1002));
    }
    let opcode = b[0] & 0x0F;
    if b[1] & 0x80 == 0 {
        // A client's frames are masked (RFC 6455 §5.1).
        return Err(Violation(1002));
    }
    let (len, mut at) = match b[1] & 0x7F {
        126 => {
            let Some(l) = b.get(2..4) else {
                return Ok(None);
            };
            (u64::from(u16::from_be_bytes([l[0], l[1]])), 4)
        }
        127 => {
            let Some(l) = b.get(2..10) else {
                return Ok(None);
            };
            let mut a = [0u8; 8];
            a.copy_from_slice(l);
            (u64::from_be_bytes(a), 10)
        }
        n => (u64::from(n), 2),
    };
    let control = opcode & 0x8 != 0;
    if control && (len > 125 || !fin) {
        return Err(Violation(1002));
    }
    if len > MAX_MESSAGE as u64 {
        return Err(Violation(1009));
    }
    let Some(m) = b.get(at..at + 4) else {
        return Ok(None);
    };
    let mask = [m[0], m[1], m[2], m[3]];
    at += 4;
    let payload_len = len as usize;
    if b.len() < at + payload_len {
        return Ok(None);
    }
    Ok(Some(Frame {
        fin,
        opcode,
        mask,
        payload_len,
        len: at + payload_len,
    }))
}

/// Appends a server frame (unmasked, final) to `out`.
fn push_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8]) {
    out.push(0x80 | opcode);
    match payload.len() {
        n if n < 126 => out.push(n as u8),
        n if n <= 0xFFFF => {
            out.push(126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client frame: masked with `key`.
    fn client_frame(fin: bool, opcode: u8, payload: &[u8], key: [u8; 4]) -> Vec<u8> {
        let mut f = vec![(if fin { 0x80 } else { 0 }) | opcode];
        match payload.len() {
            n if n < 126 => f.push(0x80 | n as u8),
            n if n <= 0xFFFF => {
                f.push(0x80 | 126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(0x80 | 127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        f.extend_from_slice(&key);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        f
    }

    #[test]
    fn messages_become_lines_whatever_the_read_boundaries() {
        let mut wire = client_frame(true, OP_TEXT, b"NICK alice", [1, 2, 3, 4]);
        wire.extend(client_frame(
            true,
            OP_TEXT,
            "PRIVMSG #中文 :你好\r\n".as_bytes(),
            [9, 8, 7, 6],
        ));
        wire.extend(client_frame(false, OP_TEXT, b"PRIVMSG bob ", [5, 5, 5, 5]));
        wire.extend(client_frame(true, OP_CONT, b":in two parts", [0, 1, 0, 1]));
        let want = "NICK alice\r\nPRIVMSG #中文 :你好\r\nPRIVMSG bob :in two parts\r\n";
        for step in [1, 2, 3, 7, wire.len()] {
            let mut c = Codec::new(Mode::Text);
            let mut lines = Vec::new();
            for chunk in wire.chunks(step) {
                c.decode(chunk, &mut lines).unwrap();
            }
            assert_eq!(
                String::from_utf8(lines).unwrap(),
                want,
                "read {step} at a time"
            );
            assert!(c.is_idle());
        }
    }

    #[test]
    fn lines_out_become_one_message_each() {
        let mut c = Codec::new(Mode::Text);
        c.encode(b":a PRIVMSG b :one\r\n:a PRIVMSG b :t");
        c.encode(b"wo\r\n");
        let mut want = Vec::new();
        push_frame(&mut want, OP_TEXT, b":a PRIVMSG b :one");
        push_frame(&mut want, OP_TEXT, b":a PRIVMSG b :two");
        assert_eq!(c.out, want);
        c.written(want.len());
        assert!(c.is_idle());
        // Text messages are UTF-8, always.
        c.encode(b"caf\xe9\r\n");
        assert_eq!(&c.out[2..], "caf\u{FFFD}".as_bytes());
        let mut b = Codec::new(Mode::Binary);
        b.encode(b"caf\xe9\r\n");
        assert_eq!(b.out, [0x82, 4, b'c', b'a', b'f', 0xe9]);
        // A long line takes the 16-bit length.
        let long = vec![b'x'; 600];
        let mut c = Codec::new(Mode::Binary);
        c.encode(&[&long[..], b"\r\n"].concat());
        assert_eq!(&c.out[..4], &[0x82, 126, 0x02, 0x58]);
    }

    #[test]
    fn pings_are_answered_and_closes_echoed() {
        let mut c = Codec::new(Mode::Text);
        let mut lines = Vec::new();
        c.decode(
            &client_frame(true, OP_PING, b"hi", [1, 1, 1, 1]),
            &mut lines,
        )
        .unwrap();
        assert_eq!(c.out, [0x8A, 2, b'h', b'i']);
        c.written(4);
        c.decode(
            &client_frame(true, OP_CLOSE, &1001u16.to_be_bytes(), [2, 2, 2, 2]),
            &mut lines,
        )
        .unwrap();
        assert!(c.close_received && c.close_sent);
        assert_eq!(c.out, [0x88, 2, 0x03, 0xE9]);
        assert!(lines.is_empty());
        // Nothing is framed after a close.
        c.written(4);
        c.encode(b"ERROR :late\r\n");
        assert!(c.out.is_empty());
    }

    #[test]
    fn violations_close_with_their_status() {
        let cases: [(Vec<u8>, u16); 6] = [
            // Unmasked.
            (vec![0x81, 0x02, b'h', b'i'], 1002),
            // A reserved bit.
            (vec![0xC1, 0x80, 0, 0, 0, 0], 1002),
            // A continuation with nothing to continue.
            (client_frame(true, OP_CONT, b"x", [0; 4]), 1002),
            // Invalid UTF-8 in a text message.
            (client_frame(true, OP_TEXT, b"caf\xe9", [3; 4]), 1007),
            // Too big.
            (
                client_frame(true, OP_BINARY, &vec![b'x'; MAX_MESSAGE + 1], [4; 4]),
                1009,
            ),
            // A control frame fragmented.
            (client_frame(false, OP_PING, b"x", [5; 4]), 1002),
        ];
        for (wire, code) in cases {
            let mut c = Codec::new(Mode::Text);
            let mut lines = Vec::new();
            assert_eq!(
                c.decode(&wire, &mut lines),
                Err(Violation(code)),
                "{wire:?}"
            );
            assert_eq!(&c.out[..2], &[0x88, 2]);
            assert_eq!(c.out[2..4], code.to_be_bytes());
            assert!(lines.is_empty());
        }
        // Binary mode takes any bytes (the line processor judges them).
        let mut c = Codec::new(Mode::Binary);
        let mut lines = Vec::new();
        c.decode(
            &client_frame(true, OP_BINARY, b"caf\xe9", [3; 4]),
            &mut lines,
        )
        .unwrap();
        assert_eq!(lines, b"caf\xe9\r\n");
    }
}
