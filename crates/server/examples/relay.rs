//! A fixed number of direct messages through the relay path in process
//! (`ferry_server::relaybench`), for instruction counts that do not move
//! with the machine's load:
//!
//! ```sh
//! cargo build --release -p ferry-server --example relay
//! valgrind --tool=callgrind target/release/examples/relay 20000
//! ```
//! Instructions per DM = (count at N − count at 0) / N.

use ferry_server::relaybench::Relay;

#[cfg(all(unix, not(target_env = "musl")))]
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let mut r = Relay::new(1000);
    r.dm(n);
    let (rows, dropped) = r.history_counts();
    println!(
        "{n} DMs, {} bytes delivered, history rows {rows} dropped {dropped}",
        r.delivered_bytes
    );
}
