//! The web chat page's files (`crates/server/web/`), embedded in the
//! binary: served by web listeners at `/` with strong ETags (browsers
//! revalidate and get `304`), gzipped once at start for clients that take
//! it. Plain ES modules and CSS: nothing to build, no npm for the Rust
//! build.

use std::sync::LazyLock;

use bytes::Bytes;

/// One file: its path, type, bytes, gzipped bytes and ETag.
pub(crate) struct File {
    pub path: &'static str,
    pub content_type: &'static str,
    pub raw: Bytes,
    pub gzip: Bytes,
    pub etag: String,
}

macro_rules! file {
    ($path:literal, $name:literal, $type:literal) => {
        (
            $path,
            $type,
            include_bytes!(concat!("../../web/", $name)).as_slice(),
        )
    };
}

const FILES: &[(&str, &str, &[u8])] = &[
    file!("/", "index.html", "text/html; charset=utf-8"),
    file!("/app.js", "app.js", "text/javascript; charset=utf-8"),
    file!("/irc.js", "irc.js", "text/javascript; charset=utf-8"),
    file!("/conn.js", "conn.js", "text/javascript; charset=utf-8"),
    file!("/i18n.js", "i18n.js", "text/javascript; charset=utf-8"),
    file!("/dom.js", "dom.js", "text/javascript; charset=utf-8"),
    file!("/panels.js", "panels.js", "text/javascript; charset=utf-8"),
    file!("/style.css", "style.css", "text/css; charset=utf-8"),
    file!("/icon.svg", "icon.svg", "image/svg+xml"),
];

fn gzip(b: &[u8]) -> Bytes {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let _ = e.write_all(b);
    e.finish().map(Bytes::from).unwrap_or_default()
}

static ALL: LazyLock<Vec<File>> = LazyLock::new(|| {
    use sha2::Digest;
    FILES
        .iter()
        .map(|&(path, content_type, raw)| {
            let h = sha2::Sha256::digest(raw);
            let etag = format!(
                "\"{}\"",
                h[..12]
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
            );
            File {
                path,
                content_type,
                raw: Bytes::from_static(raw),
                gzip: gzip(raw),
                etag,
            }
        })
        .collect()
});

/// The file served at `path`.
pub(crate) fn find(path: &str) -> Option<&'static File> {
    let path = if path == "/index.html" { "/" } else { path };
    ALL.iter().find(|f| f.path == path)
}

/// Compresses every file now (at start, not at the first visitor).
pub(crate) fn prepare() {
    LazyLock::force(&ALL);
}
