//! The tutorial's TCP client, in Rust.
//!
//! ```text
//! cargo run --example tcp_client                       # asks, as the tutorial does
//! cargo run --example tcp_client -- 127.0.0.1 45586 你好
//! cargo run --example tcp_client -- --encoding utf-8 127.0.0.1 6667 'PING :x'
//! ```
//!
//! socket, connect, send the line encoded as GBK, print whatever the
//! server answers, close. Blocking calls, one after another, exactly as
//! in the tutorial; `ferry send` is the same idea grown into a real IRC
//! client.

use std::io::{BufRead, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Parser;
use encoding_rs::Encoding;

#[derive(Parser)]
#[command(about = "The tutorial's TCP client: sends one line, prints the reply")]
struct Args {
    /// Server IP (asked for when missing).
    ip: Option<String>,
    /// Server port (asked for when missing).
    port: Option<u16>,
    /// The line to send (asked for when missing).
    message: Option<String>,
    /// What to send it as (the tutorial: GBK).
    #[arg(long, default_value = "gbk")]
    encoding: String,
    /// Seconds to wait for the server to answer and close.
    #[arg(long, default_value_t = 5)]
    wait: u64,
}

fn ask(prompt: &str) -> Result<String> {
    print!("{prompt}");
    std::io::stdout().flush()?;
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line)? == 0 {
        bail!("no input");
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

fn main() -> Result<()> {
    let args = Args::parse();
    let enc = Encoding::for_label(args.encoding.as_bytes())
        .with_context(|| format!("unknown encoding {:?}", args.encoding))?;

    // 2. connect: the tutorial asks for the server's ip and port.
    let ip = match args.ip {
        Some(ip) => ip,
        None => ask("server ip (请输入要链接的服务器 ip): ")?,
    };
    let port = match args.port {
        Some(p) => p,
        None => ask("server port (请输入要链接的服务器的 port): ")?
            .trim()
            .parse()
            .context("port")?,
    };
    // 1. socket + 2. connect
    let mut stream =
        TcpStream::connect((ip.as_str(), port)).with_context(|| format!("connect {ip}:{port}"))?;

    // 3. send: the line, encoded.
    let message = match args.message {
        Some(m) => m,
        None => ask("message (请输入要发送的数据): ")?,
    };
    let (bytes, _, unmappable) = enc.encode(&message);
    if unmappable {
        eprintln!("note: some characters are not in {}", enc.name());
    }
    stream.write_all(&bytes).context("send")?;
    // Nothing more to send: the server's recv() returns empty once it has
    // read the line, and it closes its side when done.
    stream.shutdown(Shutdown::Write).context("shutdown")?;

    // recv: print what comes back until the server closes (or goes quiet).
    stream.set_read_timeout(Some(Duration::from_secs(args.wait)))?;
    let mut reply = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => reply.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => return Err(e).context("recv"),
        }
    }
    if !reply.is_empty() {
        println!("{}", enc.decode_without_bom_handling(&reply).0);
    }
    // 4. close (when `stream` is dropped).
    Ok(())
}
