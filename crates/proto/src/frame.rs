//! Line framing: find the next complete line in a read buffer.
//!
//! Lines end in LF, optionally preceded by CR. The length limit is applied
//! while reading: a caller keeps at most `limit` bytes of an unfinished line,
//! so a peer sending a megabyte without a newline costs one line of buffer.

use thiserror::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum FrameError {
    /// The line (or the unfinished part of it) is longer than the limit.
    /// `consumed` bytes may be dropped; if `complete` is false the rest of
    /// the line is still to come and must be discarded up to its newline.
    #[error("line too long")]
    TooLong { consumed: usize, complete: bool },
}

/// A complete line found in a buffer: the line without its terminator and
/// how many bytes of the buffer it used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    pub len: usize,
    pub consumed: usize,
}

/// Finds the first line in `buf`.
///
/// `Ok(None)` means "need more bytes". `limit` bounds the line without its
/// terminator; a line over it is an error that tells how much to skip.
/// The limit is counted separately for the tag section: `tag_limit` bytes
/// (including `@` and the space) may precede `limit` bytes of the rest.
pub fn next_line(buf: &[u8], limit: usize, tag_limit: usize) -> Result<Option<Frame>, FrameError> {
    let max = limit + tag_limit;
    // Look at the whole buffer: a newline past the limit still ends the
    // line, and what follows it is the next line, not part of this one.
    match buf.iter().position(|&b| b == b'\n') {
        Some(nl) => {
            let mut len = nl;
            if len > 0 && buf[len - 1] == b'\r' {
                len -= 1;
            }
            if too_long(&buf[..len], limit, tag_limit) {
                return Err(FrameError::TooLong {
                    consumed: nl + 1,
                    complete: true,
                });
            }
            Ok(Some(Frame {
                len,
                consumed: nl + 1,
            }))
        }
        None if buf.len() > max + 1 || too_long_partial(buf, limit, tag_limit) => {
            Err(FrameError::TooLong {
                consumed: buf.len(),
                complete: false,
            })
        }
        None => Ok(None),
    }
}

fn split_tags(line: &[u8]) -> (usize, &[u8]) {
    if line.first() == Some(&b'@') {
        match line.iter().position(|&b| b == b' ') {
            Some(sp) => (sp + 1, &line[sp + 1..]),
            None => (line.len(), &[][..]),
        }
    } else {
        (0, line)
    }
}

fn too_long(line: &[u8], limit: usize, tag_limit: usize) -> bool {
    let (tags, rest) = split_tags(line);
    tags > tag_limit || rest.len() > limit
}

fn too_long_partial(buf: &[u8], limit: usize, tag_limit: usize) -> bool {
    if buf.first() == Some(&b'@') {
        match buf.iter().position(|&b| b == b' ') {
            Some(sp) => sp + 1 > tag_limit || buf.len() - sp - 1 > limit + 1,
            None => buf.len() > tag_limit,
        }
    } else {
        // one spare byte for a CR whose LF has not arrived yet
        buf.len() > limit + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lf_and_crlf() {
        assert_eq!(
            next_line(b"PING x\r\nrest", 510, 100),
            Ok(Some(Frame {
                len: 6,
                consumed: 8
            }))
        );
        assert_eq!(
            next_line(b"PING x\nrest", 510, 100),
            Ok(Some(Frame {
                len: 6,
                consumed: 7
            }))
        );
        assert_eq!(next_line(b"PING x", 510, 100), Ok(None));
        assert_eq!(next_line(b"PING x\r", 510, 100), Ok(None));
    }

    #[test]
    fn long_lines() {
        let long = vec![b'a'; 600];
        assert_eq!(
            next_line(&long, 510, 100),
            Err(FrameError::TooLong {
                consumed: 600,
                complete: false
            })
        );
        let mut l = vec![b'a'; 511];
        l.push(b'\n');
        assert_eq!(
            next_line(&l, 510, 100),
            Err(FrameError::TooLong {
                consumed: 512,
                complete: true
            })
        );
        let mut ok = vec![b'a'; 510];
        ok.extend_from_slice(b"\r\n");
        assert_eq!(
            next_line(&ok, 510, 100),
            Ok(Some(Frame {
                len: 510,
                consumed: 512
            }))
        );
        let mut tagged = b"@".to_vec();
        tagged.extend(vec![b'a'; 50]);
        tagged.push(b' ');
        tagged.extend(vec![b'b'; 510]);
        tagged.push(b'\n');
        assert!(next_line(&tagged, 510, 100).unwrap().is_some());
        assert!(next_line(&tagged, 510, 20).is_err());
        let mut two = vec![b'a'; 600];
        two.extend_from_slice(b"\nPING x\n");
        assert_eq!(
            next_line(&two, 510, 0),
            Err(FrameError::TooLong {
                consumed: 601,
                complete: true
            })
        );
    }
}
