//! The tutorial's programs: its Python client and server
//! (tests/fixtures/) against our Rust versions (examples/), with GBK text.
//! `cargo test` builds the examples before it runs the tests.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use ferry_testkit::WAIT;

use crate::util::proc::{Lines, FERRY};
use crate::util::{free_port, Proc};

/// An example's binary, next to the `ferry` binary cargo built for tests.
fn example(name: &str) -> PathBuf {
    let ferry = Path::new(FERRY);
    let path = ferry
        .parent()
        .expect("target dir")
        .join("examples")
        .join(name);
    assert!(
        path.exists(),
        "{} is missing: build the examples first (`cargo build --examples`; \
         `cargo test` builds them)",
        path.display()
    );
    path
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn python() -> Command {
    let mut c = Command::new("python3");
    // The tutorial prints Chinese; read it as UTF-8 whatever the locale.
    c.env("PYTHONIOENCODING", "utf-8").arg("-u");
    c
}

/// Starts our tcp_server on a free port: (process, its output, port).
fn our_server() -> (Proc, Lines, u16) {
    let mut server = Proc::spawn(
        Command::new(example("tcp_server"))
            .args(["--bind", "127.0.0.1", "--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit()),
    );
    let lines = server.lines();
    let first = lines.until("saying where it listens", |l| {
        l.starts_with("listening on ")
    });
    let port = first
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a port");
    (server, lines, port)
}

/// Runs the tutorial's client, typing its three answers.
fn run_python_client(port: u16, text: &str) {
    let mut client = Proc::spawn(
        python()
            .arg(fixture("tcp_client.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    client
        .child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("127.0.0.1\n{port}\n{text}\n").as_bytes())
        .expect("type the answers");
    let out = client.output();
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn tutorial_client_against_our_server() {
    let (_server, lines, port) = our_server();
    run_python_client(port, "你好，世界");
    let l = lines.until("with the message", |l| l.ends_with("你好，世界"));
    assert!(l.starts_with("[127.0.0.1:"), "{l}");
    lines.until("noticing the close", |l| l.ends_with("closed: served"));
}

#[test]
fn our_server_serves_many_at_once() {
    let (_server, lines, port) = our_server();
    // The first client stays connected and silent; the tutorial's server
    // would serve nobody else until it left.
    let mut first = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    lines.until("for the first client", |l| l.starts_with("new client: "));
    run_python_client(port, "第二个客户端");
    lines.until("from the second client", |l| l.ends_with("第二个客户端"));
    // And the first is still served: GBK in, GoodBye MyLove! out.
    first.write_all(b"\xc4\xe3\xba\xc3").expect("send");
    let mut reply = [0u8; 15];
    first.set_read_timeout(Some(WAIT)).expect("read timeout");
    std::io::Read::read_exact(&mut first, &mut reply).expect("reply");
    assert_eq!(&reply, b"GoodBye MyLove!");
    lines.until("from the first client", |l| l.ends_with("] 你好"));
}

#[test]
fn our_client_against_tutorial_server() {
    let port = free_port();
    let mut server = Proc::spawn(
        python()
            .arg(fixture("tcp_server.py"))
            .arg(port.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit()),
    );
    let lines = server.lines();
    lines.until("before accept()", |l| l == "等待一个新的客户端到来...");

    let out = Command::new(example("tcp_client"))
        .args(["127.0.0.1", &port.to_string(), "你好，服务器"])
        .stdin(Stdio::null())
        .output()
        .expect("run tcp_client");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "GoodBye MyLove!\n");
    lines.until("with the GBK text decoded", |l| {
        l == "客户端发过来的请求时:你好，服务器"
    });
    lines.until("closing", |l| l == "已经服务完毕!");
}

#[test]
fn our_client_asks_when_arguments_are_missing() {
    let (_server, lines, port) = our_server();
    let mut client = Proc::spawn(
        Command::new(example("tcp_client"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped()),
    );
    client
        .child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("127.0.0.1\n{port}\n问一下\n").as_bytes())
        .expect("type");
    let out = client.output();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.ends_with("GoodBye MyLove!\n"), "{stdout}");
    lines.until("with the message", |l| l.ends_with("] 问一下"));
}

#[test]
fn udp_send_and_recv() {
    let mut recv = Proc::spawn(
        Command::new(example("udp_recv"))
            .args(["--bind", "127.0.0.1", "--port", "0", "--count", "1"])
            .stdout(Stdio::piped()),
    );
    let lines = recv.lines();
    let first = lines.until("saying where it listens", |l| {
        l.starts_with("listening on ")
    });
    let port = first.rsplit(':').next().expect("port");
    let out = Command::new(example("udp_send"))
        .args(["127.0.0.1", port, "数据报"])
        .output()
        .expect("run udp_send");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("sent 6 bytes to 127.0.0.1:{port}\n")
    );
    let l = lines.until("with the datagram", |l| l.ends_with("] 数据报"));
    assert!(l.starts_with("[127.0.0.1:"), "{l}");
    recv.exit_blocking();
}
