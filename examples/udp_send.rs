//! The UDP column of the tutorial's table, sending side: socket,
//! sendto, close. No connection: every datagram names its target.
//!
//! ```text
//! cargo run --example udp_send -- 127.0.0.1 45587 你好
//! ```

use std::net::{SocketAddr, UdpSocket};

use anyhow::{Context, Result};
use clap::Parser;
use encoding_rs::Encoding;

#[derive(Parser)]
#[command(about = "Sends one UDP datagram (sendto)")]
struct Args {
    ip: std::net::IpAddr,
    port: u16,
    message: String,
    /// What to send it as.
    #[arg(long, default_value = "gbk")]
    encoding: String,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let enc = Encoding::for_label(args.encoding.as_bytes())
        .with_context(|| format!("unknown encoding {:?}", args.encoding))?;
    let to = SocketAddr::new(args.ip, args.port);
    // socket: no bind needed to send (the system picks a port).
    let any: SocketAddr = if to.is_ipv4() {
        "0.0.0.0:0".parse()?
    } else {
        "[::]:0".parse()?
    };
    let socket = UdpSocket::bind(any).context("socket")?;
    let (bytes, _, _) = enc.encode(&args.message);
    // sendto: the message and where it goes, together.
    let n = socket
        .send_to(&bytes, to)
        .with_context(|| format!("sendto {to}"))?;
    println!("sent {n} bytes to {to}");
    Ok(())
}
