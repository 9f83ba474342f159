//! Debian's ngircd as a stock IRC server for the client tests (`ferry
//! send`, `ferry chat`): a minimal config on a free port, TLS with a
//! self-signed certificate when asked, killed when dropped.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use super::proc::{free_port, local, Proc};

fn ngircd_binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
        .map(|d| d.join("ngircd"))
        .find(|p| p.is_file())
}

pub struct Ngircd {
    proc: Proc,
    pub addr: SocketAddr,
    dir: PathBuf,
}

impl Drop for Ngircd {
    fn drop(&mut self) {
        self.proc.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Makes a self-signed certificate, its key and DH parameters in `dir`
/// with openssl; false when openssl is missing.
fn make_tls_files(dir: &std::path::Path) -> bool {
    let run = |args: &[&str]| {
        Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let made = run(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        "key.pem",
        "-out",
        "cert.pem",
        "-days",
        "2",
        "-subj",
        "/CN=irc.ngircd.test",
    ]) && run(&[
        "genpkey",
        "-genparam",
        "-algorithm",
        "DH",
        "-pkeyopt",
        "group:ffdhe2048",
        "-out",
        "dh.pem",
    ]);
    if made {
        // ngircd may read it as `nobody`.
        use std::os::unix::fs::PermissionsExt;
        let _ =
            std::fs::set_permissions(dir.join("key.pem"), std::fs::Permissions::from_mode(0o644));
    }
    made
}

/// Starts ngircd on a free port with a minimal config (and a TLS port
/// with a self-signed certificate when `tls`), or None (with a message)
/// when ngircd, or for TLS openssl, is not installed.
pub async fn ngircd(test: &str, tls: bool) -> Option<(Ngircd, Option<SocketAddr>)> {
    let Some(bin) = ngircd_binary() else {
        eprintln!(
            "SKIPPED {test}: ngircd is not installed (scripts/install-test-deps.sh installs it)"
        );
        return None;
    };
    let port = free_port();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("ngircd-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let mut text = format!(
        "[Global]\n  Name = irc.ngircd.test\n  Info = ferry client tests\n  \
         Listen = 127.0.0.1\n  Ports = {port}\n  AdminInfo1 = ferry tests\n  \
         AdminEMail = admin@example.org\n  MotdPhrase = hello from ngircd\n  \
         PidFile = {}\n\
         [Limits]\n  MaxNickLength = 30\n\
         [Options]\n  PAM = no\n  DNS = no\n  Ident = no\n",
        dir.join("ngircd.pid").display()
    );
    let mut tls_addr = None;
    if tls {
        if !make_tls_files(&dir) {
            eprintln!("SKIPPED {test}: openssl is needed to make a test certificate");
            let _ = std::fs::remove_dir_all(&dir);
            return None;
        }
        let tls_port = free_port();
        text.push_str(&format!(
            "[SSL]\n  CertFile = {d}/cert.pem\n  KeyFile = {d}/key.pem\n  \
             DHFile = {d}/dh.pem\n  Ports = {tls_port}\n",
            d = dir.display()
        ));
        tls_addr = Some(local(tls_port));
    }
    let conf = dir.join("ngircd.conf");
    std::fs::write(&conf, text).expect("write ngircd.conf");
    let proc = Proc::spawn(
        Command::new(bin)
            .arg("--nodaemon")
            .arg("--config")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let mut n = Ngircd {
        proc,
        addr: local(port),
        dir,
    };
    for addr in std::iter::once(n.addr).chain(tls_addr) {
        n.proc.accepting(addr).await;
    }
    Some((n, tls_addr))
}
