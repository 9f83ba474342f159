//! The UDP column of the tutorial's table, receiving side: socket, bind
//! (needed to receive), recvfrom, close. Each datagram comes with the
//! sender's address, since there is no connection.
//!
//! ```text
//! cargo run --example udp_recv -- --port 45587
//! ```

use std::net::{IpAddr, SocketAddr, UdpSocket};

use anyhow::{Context, Result};
use clap::Parser;
use encoding_rs::Encoding;

#[derive(Parser)]
#[command(about = "Prints UDP datagrams (recvfrom)")]
struct Args {
    #[arg(long, default_value = "0.0.0.0")]
    bind: IpAddr,
    /// Port to bind; 0 picks a free one.
    #[arg(long, default_value_t = 45587)]
    port: u16,
    /// What senders speak.
    #[arg(long, default_value = "gbk")]
    encoding: String,
    /// Stop after this many datagrams (default: never).
    #[arg(long)]
    count: Option<u64>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let enc = Encoding::for_label(args.encoding.as_bytes())
        .with_context(|| format!("unknown encoding {:?}", args.encoding))?;
    // socket + bind: a receiver must be at a known port.
    let addr = SocketAddr::new(args.bind, args.port);
    let socket = UdpSocket::bind(addr).with_context(|| format!("bind {addr}"))?;
    println!("listening on {}", socket.local_addr()?);
    let mut buf = [0u8; 1024];
    let mut seen = 0;
    while args.count.is_none_or(|c| seen < c) {
        // recvfrom: the data and who sent it.
        let (n, from) = socket.recv_from(&mut buf).context("recvfrom")?;
        println!("[{from}] {}", enc.decode_without_bom_handling(&buf[..n]).0);
        seen += 1;
    }
    Ok(())
}
