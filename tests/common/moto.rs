//! moto's server (`SAGA_MOTO_SERVER`, installed by `scripts/test.sh`) on a
//! free port of 127.0.0.1, stopped by PID when dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::tools;

/// A running moto server.
pub struct Moto {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    /// Starts moto with `env` and waits until it serves. With `config`, it
    /// is posted to `/moto-api/config` (and must be accepted) before the
    /// server counts as up.
    pub async fn start(env: &[(&str, String)], config: Option<serde_json::Value>) -> Moto {
        let bin = tools::required("SAGA_MOTO_SERVER", "moto's moto_server");
        let port = tools::free_port();
        let log_path: PathBuf = std::env::temp_dir().join(format!("saga-moto-{port}.log"));
        let log = std::fs::File::create(&log_path).expect("moto's log file");
        let child = Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("moto_server starts");
        let mut moto = Moto { child, port };
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}/moto-api");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let up = match &config {
                Some(body) => http
                    .post(format!("{base}/config"))
                    .json(body)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success()),
                None => http.get(format!("{base}/")).send().await.is_ok(),
            };
            if up {
                return moto;
            }
            let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!("moto_server exited ({status}) before it served:\n{}", log());
            }
            assert!(
                Instant::now() < deadline,
                "moto did not start on port {port}:\n{}",
                log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Its endpoint URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}
