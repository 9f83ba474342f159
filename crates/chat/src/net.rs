//! The connection: TCP or TLS through ferry-client, lines in the wire's
//! charset, and reconnecting with backoff after a drop until the user
//! quits.

use std::time::Duration;

use ferry_client::Options;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

/// Longest line taken from the server (tags included); longer ones are
/// cut at this length (IRCv3 allows 8191 bytes of tags plus 512).
const MAX_LINE: usize = 8_704;

/// Waits before the next attempt: 1 s, 2 s, 4 s, ... at most 30 s.
fn backoff(attempt: u32) -> Duration {
    Duration::from_secs((1u64 << attempt.min(5)).min(30))
}

#[derive(Debug)]
pub enum Event {
    Connecting,
    Connected,
    Line(String),
    /// Lost, refused or failed; `retry_in` until the next attempt.
    Closed {
        reason: String,
        retry_in: Duration,
        attempt: u32,
    },
}

#[derive(Debug)]
pub enum Command {
    Line(String),
    /// Send what is queued, close, and stop.
    Close,
}

/// Runs the connection until [`Command::Close`] or the app goes away.
pub async fn run(opts: Options, events: mpsc::Sender<Event>, mut cmds: mpsc::Receiver<Command>) {
    let mut attempt = 0u32;
    loop {
        if events.send(Event::Connecting).await.is_err() {
            return;
        }
        let reason = match tokio::time::timeout(opts.timeout, ferry_client::open(&opts)).await {
            Err(_) => format!("no answer from {} within {:?}", opts.server, opts.timeout),
            Ok(Err(e)) => e.to_string(),
            Ok(Ok(stream)) => {
                attempt = 0;
                if events.send(Event::Connected).await.is_err() {
                    return;
                }
                match session(stream, &opts, &events, &mut cmds).await {
                    Ended::Closed => return,
                    Ended::Lost(why) => why,
                }
            }
        };
        let wait = backoff(attempt);
        attempt += 1;
        let closed = Event::Closed {
            reason,
            retry_in: wait,
            attempt,
        };
        if events.send(closed).await.is_err() {
            return;
        }
        // Wait, but a quit meanwhile ends it; lines typed while down are
        // dropped (the state told the user).
        let sleep = tokio::time::sleep(wait);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                _ = &mut sleep => break,
                c = cmds.recv() => match c {
                    None | Some(Command::Close) => return,
                    Some(Command::Line(_)) => {}
                },
            }
        }
    }
}

enum Ended {
    Closed,
    Lost(String),
}

async fn session(
    stream: Box<dyn ferry_client::Io>,
    opts: &Options,
    events: &mpsc::Sender<Event>,
    cmds: &mut mpsc::Receiver<Command>,
) -> Ended {
    let (r, mut w) = tokio::io::split(stream);
    let mut reader = BufReader::with_capacity(16 * 1024, r);
    let mut buf = Vec::with_capacity(1024);
    loop {
        tokio::select! {
            read = read_line(&mut reader, &mut buf) => match read {
                Ok(true) => {
                    let line = ferry_client::decode_line(opts.encoding, &buf);
                    if events.send(Event::Line(line)).await.is_err() {
                        return Ended::Closed;
                    }
                }
                Ok(false) => return Ended::Lost("the server closed the connection".into()),
                Err(e) => return Ended::Lost(format!("connection lost: {e}")),
            },
            c = cmds.recv() => match c {
                Some(Command::Line(l)) => {
                    let bytes = ferry_client::encode_line(opts.encoding, &l);
                    if let Err(e) = w.write_all(&bytes).await {
                        return Ended::Lost(format!("connection lost: {e}"));
                    }
                }
                None | Some(Command::Close) => {
                    let _ = w.flush().await;
                    // Give the server a moment to take the QUIT.
                    let _ = tokio::time::timeout(Duration::from_secs(1), async {
                        while let Ok(true) = read_line(&mut reader, &mut buf).await {}
                    })
                    .await;
                    let _ = w.shutdown().await;
                    return Ended::Closed;
                }
            },
        }
    }
}

/// Reads one line into `buf` (cut at [`MAX_LINE`]; the rest of an
/// overlong line is skipped). False at the end of the stream.
async fn read_line<R: tokio::io::AsyncBufRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
) -> std::io::Result<bool> {
    buf.clear();
    loop {
        let chunk = r.fill_buf().await?;
        if chunk.is_empty() {
            return Ok(!buf.is_empty());
        }
        let (take, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        let room = MAX_LINE.saturating_sub(buf.len());
        buf.extend_from_slice(&chunk[..take.min(room)]);
        r.consume(take);
        if done {
            return Ok(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_thirty_seconds() {
        let secs: Vec<u64> = (0..8).map(|a| backoff(a).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 30, 30, 30]);
    }

    #[tokio::test]
    async fn overlong_lines_are_cut_not_buffered() {
        let mut data = vec![b'a'; MAX_LINE * 3];
        data.extend_from_slice(b"\r\nPING :x\r\n");
        let mut r = BufReader::new(&data[..]);
        let mut buf = Vec::new();
        assert!(read_line(&mut r, &mut buf).await.unwrap());
        assert_eq!(buf.len(), MAX_LINE);
        assert!(read_line(&mut r, &mut buf).await.unwrap());
        assert_eq!(buf, b"PING :x\r\n");
        assert!(!read_line(&mut r, &mut buf).await.unwrap());
    }
}
