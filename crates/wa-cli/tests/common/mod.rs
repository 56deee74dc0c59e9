//! Set-up shared by the tests that run `wa serve` as a user would: the built binary on a free
//! loopback port with its in-process simulator and a temporary data directory, and requests that
//! carry the API key.

// Each test binary that includes this module uses a different part of it.
#![allow(dead_code)]

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;

/// The `wa` binary under test.
pub const WA: &str = env!("CARGO_BIN_EXE_wa");

/// A running `wa serve`, killed (and its data directory removed) on drop.
pub struct Serve {
    child: Child,
    /// The API's base URL, without a trailing slash.
    pub base: String,
    /// The in-process simulator's HTTP base (its control API is under `/_sim`); empty with
    /// `--server`.
    pub sim: String,
    /// What `wa serve` printed on stdout up to its last start-up line.
    pub banner: Vec<String>,
    /// The client requests go through (tests may replace it, e.g. to set a timeout).
    pub http: reqwest::Client,
    key: String,
    data_dir: std::path::PathBuf,
    /// The temporary data directory, when this `Serve` made it.
    _data: Option<tempfile::TempDir>,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serve {
    /// Starts `wa serve --api-key key` with `extra` arguments, the simulated phone scanning after
    /// 0.2 s unless `extra` sets `--scan-delay`, and returns once it printed its start-up lines.
    pub fn start(key: &str, extra: &[&str]) -> Serve {
        let data = tempfile::tempdir().unwrap();
        let mut serve = Serve::start_in(data.path(), key, extra);
        serve._data = Some(data);
        serve
    }

    /// [`Serve::start`] on the data directory `data_dir`, which outlives it (a restart of
    /// `wa serve` on the same data). With `--server` there is no built-in simulator.
    pub fn start_in(data_dir: &std::path::Path, key: &str, extra: &[&str]) -> Serve {
        let default_delay: &[&str] = if extra.contains(&"--scan-delay") {
            &[]
        } else {
            &["--scan-delay", "0.2"]
        };
        let mut child = Command::new(WA)
            .args(["serve", "--listen", "127.0.0.1:0", "--api-key", key])
            .args(default_delay)
            .args(extra)
            .env("NO_COLOR", "1")
            .env("WA_DATA_DIR", data_dir)
            .env_remove("WA_STORE_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("wa serve starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut banner = Vec::new();
        for line in lines.by_ref() {
            let line = line.unwrap();
            // The OpenAPI line is the last one `wa serve` prints when it is ready.
            let last = line.starts_with("OpenAPI: ");
            banner.push(line);
            if last {
                break;
            }
        }
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let base = banner
            .iter()
            .find_map(|l| l.strip_prefix("wa serve listening on "))
            .expect("the listening line")
            .trim_end_matches('/')
            .to_owned();
        let sim = banner
            .iter()
            .find_map(|l| l.strip_prefix("server: built-in simulator at "))
            .unwrap_or_default()
            .replace("ws://", "http://")
            .trim_end_matches("/ws")
            .to_owned();
        Serve {
            child,
            base,
            sim,
            banner,
            http: reqwest::Client::new(),
            key: key.to_owned(),
            data_dir: data_dir.to_owned(),
            _data: None,
        }
    }

    /// The data directory `wa serve` runs with (`WA_DATA_DIR`).
    pub fn data_dir(&self) -> &std::path::Path {
        &self.data_dir
    }

    /// The API URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a keyed request, with `body` as JSON unless it is a `GET`.
    pub async fn request(&self, method: Method, path: &str, body: &Value) -> reqwest::Response {
        let with_body = method != Method::GET;
        let mut request = self
            .http
            .request(method, self.url(path))
            .header("X-Api-Key", &self.key);
        if with_body {
            request = request.json(body);
        }
        request.send().await.unwrap()
    }

    /// A keyed request's status and JSON body (null when the body is not JSON).
    pub async fn send(&self, method: Method, path: &str, body: Value) -> (StatusCode, Value) {
        let response = self.request(method, path, &body).await;
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// `GET path` with the key.
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(Method::GET, path, Value::Null).await
    }

    /// `POST path` with the key and a JSON body.
    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(Method::POST, path, body).await
    }

    /// The status the API reports for a session.
    pub async fn status(&self, session: &str) -> String {
        let (_, answer) = self.get(&format!("/api/sessions/{session}")).await;
        answer["status"].as_str().unwrap_or_default().to_owned()
    }

    /// Waits until a session reports `wanted`, failing after `within`.
    pub async fn wait_status(&self, session: &str, wanted: &str, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let status = self.status(session).await;
            if status == wanted {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "session {session} stayed {status}, expected {wanted}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
