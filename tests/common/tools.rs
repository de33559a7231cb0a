//! External tools of the gated tests: `scripts/tools.sh` installs them and
//! exports their paths. A gated test without its tool fails, loudly.

use std::path::PathBuf;

/// The path in environment variable `var`, which must name a file.
pub fn required(var: &str, what: &str) -> PathBuf {
    let path = std::env::var(var).unwrap_or_default();
    assert!(
        !path.is_empty() && PathBuf::from(&path).is_file(),
        "{var} must name {what} (got {path:?}); run `bash scripts/test.sh`, which installs it"
    );
    PathBuf::from(path)
}

/// A port that was free a moment ago, on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}
