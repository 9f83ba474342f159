//! Parser and serialiser throughput, with the `irc-proto` crate parsing
//! and writing the same lines in the same groups as a reference.
//!
//!     cargo bench -p ferry-proto --bench parse
//!
//! Figures and the machine they came from: docs/PERFORMANCE.md.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use ferry_proto::{Line, Message};

/// What a server reads and writes most: messages with and without tags,
/// numerics, joins.
const LINES: &[&str] = &[
    "PRIVMSG #rust :hello everyone, how is the build going today?",
    "@time=2026-11-25T20:00:00.000Z;msgid=4f1c2a9b0e;account=alice :alice!~alice@3fa2c1d0.9b1e22aa.ip PRIVMSG #rust :hello everyone, how is the build going today?",
    ":ferry.local 353 bob = #rust :@alice +bob carol dave erin frank grace heidi ivan judy",
    ":bob!~bob@cloak.ip JOIN #rust * :Bob Builder",
    "@label=abc123;+draft/reply=4f1c2a9b0e TAGMSG #rust",
    "PING :ferry.local",
    ":ferry.local 005 alice AWAYLEN=390 CASEMAPPING=rfc8265 CHANLIMIT=#:100 CHANTYPES=# ELIST=U :are supported by this server",
    "MODE #rust +bk-v *!*@spam.example key carol",
];

fn bytes() -> u64 {
    LINES.iter().map(|l| l.len() as u64).sum()
}

fn parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Bytes(bytes()));
    g.bench_function("ferry", |b| {
        b.iter(|| {
            for l in LINES {
                let m = Message::parse(black_box(l)).expect("parses");
                black_box(m.params().len());
            }
        })
    });
    g.bench_function("irc-proto", |b| {
        b.iter(|| {
            for l in LINES {
                let m: irc_proto::Message = black_box(l).parse().expect("parses");
                black_box(&m);
            }
        })
    });
    g.finish();
}

fn serialise(c: &mut Criterion) {
    let ferry_lines: Vec<Message<'_>> = LINES
        .iter()
        .map(|l| Message::parse(l).expect("parses"))
        .collect();
    let theirs: Vec<irc_proto::Message> =
        LINES.iter().map(|l| l.parse().expect("parses")).collect();
    let mut g = c.benchmark_group("serialise");
    g.throughput(Throughput::Bytes(bytes()));
    g.bench_function("ferry", |b| {
        b.iter(|| {
            for m in &ferry_lines {
                let mut line = Line::new();
                for t in m.tags() {
                    line = line.tag(t.key, &t.value());
                }
                if let Some(s) = m.source {
                    line = line.source(s);
                }
                line = line.verb(m.command);
                if let Some((last, middle)) = m.params().split_last() {
                    for p in middle {
                        line = line.param(p);
                    }
                    line = line.trailing(last);
                }
                black_box(line.finish());
            }
        })
    });
    g.bench_function("irc-proto", |b| {
        b.iter(|| {
            for m in &theirs {
                black_box(m.to_string());
            }
        })
    });
    g.finish();
}

criterion_group!(benches, parse, serialise);
criterion_main!(benches);
