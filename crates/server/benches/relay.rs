//! What one direct message costs ferry's own code, without sockets:
//! parse, dispatch, route, history, the receiver's writer
//! (`ferry_server::relaybench`). The kernel's part (a `recv` and a
//! `write` per message on loopback) is what `ferry bench` adds.
//!
//! `cargo bench -p ferry-server --bench relay`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ferry_server::relaybench::Relay;

/// As in `ferry serve` (src/main.rs).
#[cfg(all(unix, not(target_env = "musl")))]
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn relay(c: &mut Criterion) {
    let mut g = c.benchmark_group("relay");
    g.throughput(Throughput::Elements(1000));
    let mut r = Relay::new(1000);
    g.bench_function("dm_1000_pairs_x1000", |b| b.iter(|| r.dm(1000)));
    g.finish();
    let (rows, dropped) = r.history_counts();
    eprintln!("history rows {rows}, dropped {dropped}");
}

criterion_group!(benches, relay);
criterion_main!(benches);
