//! The tutorial's TCP server, in Rust — serving many clients at once.
//!
//! ```text
//! cargo run --example tcp_server                       # 0.0.0.0:45586, GBK
//! cargo run --example tcp_server -- --bind 127.0.0.1 --port 0 --encoding utf-8
//! ```
//!
//! Same steps as the tutorial (socket, bind, listen(128), accept, recv,
//! print, send `GoodBye MyLove!`, an empty recv means the client closed),
//! with one difference: each accepted client gets its own task, so a
//! second client is served while the first is still connected. The
//! tutorial's server would leave it waiting. docs/TUTORIAL.md walks from
//! here to ferry.

use std::net::{IpAddr, SocketAddr};

use anyhow::{Context, Result};
use clap::Parser;
use encoding_rs::Encoding;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

#[derive(Parser)]
#[command(about = "The tutorial's TCP server: prints what clients send, replies GoodBye MyLove!")]
struct Args {
    /// Address to bind (the tutorial binds every address: '').
    #[arg(long, default_value = "0.0.0.0")]
    bind: IpAddr,
    /// Port to bind; 0 picks a free one.
    #[arg(long, default_value_t = 45586)]
    port: u16,
    /// What clients speak (the tutorial: GBK).
    #[arg(long, default_value = "gbk")]
    encoding: String,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let enc = Encoding::for_label(args.encoding.as_bytes())
        .with_context(|| format!("unknown encoding {:?}", args.encoding))?;
    let addr = SocketAddr::new(args.bind, args.port);

    // 1. socket  2. bind  3. listen(128): the socket becomes passive.
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .context("socket")?;
    socket.set_reuseaddr(true).context("SO_REUSEADDR")?;
    socket.bind(addr).with_context(|| format!("bind {addr}"))?;
    let listener = socket.listen(128).context("listen")?;
    println!("listening on {}", listener.local_addr()?);

    loop {
        // 4. accept: wait for the next client...
        let (stream, peer) = listener.accept().await.context("accept")?;
        println!("new client: {peer}");
        // ...and, unlike the tutorial, serve it on its own task while
        // this loop goes straight back to accept().
        tokio::spawn(async move {
            match serve(stream, peer, enc).await {
                Ok(()) => println!("{peer} closed: served"),
                Err(e) => println!("{peer}: {e:#}"),
            }
        });
    }
}

/// The tutorial's inner loop: recv, print, reply, until an empty recv.
async fn serve(mut stream: TcpStream, peer: SocketAddr, enc: &'static Encoding) -> Result<()> {
    // A decoder keeps a character cut between two reads for the next one.
    let mut decoder = enc.new_decoder_without_bom_handling();
    let (reply, _, _) = enc.encode("GoodBye MyLove!");
    let mut buf = [0u8; 1024];
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(n) => n,
            Err(e) if gone(&e) => 0,
            Err(e) => return Err(e).context("recv"),
        };
        let mut text = String::with_capacity(n * 3 + 4);
        let (_, _, _) = decoder.decode_to_string(&buf[..n], &mut text, n == 0);
        if n == 0 {
            // An empty recv: the client closed its socket.
            return Ok(());
        }
        println!("[{peer}] {}", text.trim_end_matches(['\r', '\n']));
        match stream.write_all(&reply).await {
            Ok(()) => {}
            // The tutorial's client closes right after sending: fine.
            Err(e) if gone(&e) => return Ok(()),
            Err(e) => return Err(e).context("send"),
        }
    }
}

/// The client went away (reset, or closed before our reply arrived).
fn gone(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(e.kind(), ConnectionReset | BrokenPipe | ConnectionAborted)
}
