//! The tutorial's programs: its Python client and server
//! (tests/fixtures/) against our Rust versions (examples/), with GBK text.
//! `cargo test` builds the examples before it runs the tests.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::Duration;

use ferry_testkit::WAIT;

/// An example's binary, next to the `ferry` binary cargo built for tests.
fn example(name: &str) -> PathBuf {
    let ferry = Path::new(env!("CARGO_BIN_EXE_ferry"));
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

/// A child process killed when the test ends, however it ends.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A child's standard output, line by line, with a hang guard.
struct Lines(Receiver<String>);

impl Lines {
    fn of(out: ChildStdout) -> Lines {
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Lines(rx)
    }

    /// Reads lines until one satisfies `pred`; returns it.
    fn until(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        loop {
            match self.0.recv_timeout(WAIT) {
                Ok(l) if pred(&l) => return l,
                Ok(_) => {}
                Err(e) => panic!("no line {what} ({e})"),
            }
        }
    }
}

fn python() -> Command {
    let mut c = Command::new("python3");
    // The tutorial prints Chinese; read it as UTF-8 whatever the locale.
    c.env("PYTHONIOENCODING", "utf-8").arg("-u");
    c
}

/// Starts our tcp_server on a free port: (process, its output, port).
fn our_server() -> (Proc, Lines, u16) {
    let mut child = Command::new(example("tcp_server"))
        .args(["--bind", "127.0.0.1", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start tcp_server");
    let lines = Lines::of(child.stdout.take().expect("stdout"));
    let first = lines.until("saying where it listens", |l| {
        l.starts_with("listening on ")
    });
    let port = first
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a port");
    (Proc(child), lines, port)
}

/// Runs the tutorial's client, typing its three answers.
fn run_python_client(port: u16, text: &str) {
    let mut child = python()
        .arg(fixture("tcp_client.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python3");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("127.0.0.1\n{port}\n{text}\n").as_bytes())
        .expect("type the answers");
    let out = child.wait_with_output().expect("python client");
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
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let mut child = python()
        .arg(fixture("tcp_server.py"))
        .arg(port.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run python3");
    let lines = Lines::of(child.stdout.take().expect("stdout"));
    let _server = Proc(child);
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
    let mut child = Command::new(example("tcp_client"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run tcp_client");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("127.0.0.1\n{port}\n问一下\n").as_bytes())
        .expect("type");
    let out = child.wait_with_output().expect("tcp_client");
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.ends_with("GoodBye MyLove!\n"), "{stdout}");
    lines.until("with the message", |l| l.ends_with("] 问一下"));
}

#[test]
fn udp_send_and_recv() {
    let mut child = Command::new(example("udp_recv"))
        .args(["--bind", "127.0.0.1", "--port", "0", "--count", "1"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("run udp_recv");
    let lines = Lines::of(child.stdout.take().expect("stdout"));
    let recv = Proc(child);
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
    let mut recv = recv;
    let deadline = std::time::Instant::now() + WAIT;
    while recv.0.try_wait().expect("try_wait").is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "udp_recv did not stop"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
