//! A webhook receiver as client apps write one (`tests/webhooks/receiver.py`): it verifies
//! every delivery with the Standard Webhooks reference library (installed by
//! `scripts/standardwebhooks.sh`) and logs what it got; the test tells it which secrets to
//! trust and when to be down.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::project_tool;

pub struct Receiver {
    child: Child,
    port: u16,
    state: tempfile::TempDir,
    secrets: std::sync::Mutex<BTreeMap<String, Vec<String>>>,
}

impl Receiver {
    /// `None` (the test skips, loudly, off CI) when the library cannot be installed here.
    pub fn start() -> Option<Self> {
        let python = project_tool("standardwebhooks.sh")?;
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/webhooks/receiver.py");
        let state = tempfile::tempdir().unwrap();
        let mut child = Command::new(python)
            .arg(script)
            .arg(state.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the receiver starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().parse().expect("the receiver prints its port");
        Some(Self {
            child,
            port,
            state,
            secrets: std::sync::Mutex::default(),
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Deliveries to `path` are accepted when they verify with one of `secrets`.
    pub fn trust(&self, path: &str, secrets: &[&str]) {
        let mut all = self.secrets.lock().unwrap();
        all.insert(
            path.to_owned(),
            secrets.iter().map(|s| (*s).to_owned()).collect(),
        );
        let text = serde_json::to_string(&*all).unwrap();
        let staged = self.state.path().join("secrets.json.new");
        std::fs::write(&staged, text).unwrap();
        std::fs::rename(staged, self.state.path().join("secrets.json")).unwrap();
    }

    /// While down, every delivery is answered 503.
    pub fn set_down(&self, down: bool) {
        self.mark("down", down);
    }

    /// While slow, every delivery takes 200 ms more to answer.
    pub fn set_slow(&self, slow: bool) {
        self.mark("slow", slow);
    }

    /// The marker files `receiver.py` looks at for each request.
    fn mark(&self, name: &str, on: bool) {
        let marker = self.state.path().join(name);
        if on {
            std::fs::write(marker, b"").unwrap();
        } else {
            let _ = std::fs::remove_file(marker);
        }
    }

    /// Every request to `path` so far, oldest first.
    pub fn requests(&self, path: &str) -> Vec<Value> {
        let Ok(text) = std::fs::read_to_string(self.state.path().join("deliveries.jsonl")) else {
            return Vec::new();
        };
        text.lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|r| r["path"] == path)
            .collect()
    }

    /// Waits (generously: the machine may be busy) until `done` holds for the requests to
    /// `path`, and answers them.
    pub async fn wait_for(
        &self,
        path: &str,
        what: &str,
        done: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let requests = self.requests(path);
            if done(&requests) {
                return requests;
            }
            assert!(
                Instant::now() < deadline,
                "the receiver never saw {what} at {path}; it got: {requests:#?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The event's `seq`: the last part of its `webhook-id`.
pub fn seq(request: &Value) -> u64 {
    request["id"]
        .as_str()
        .and_then(|id| id.rsplit('_').next())
        .and_then(|n| n.parse().ok())
        .expect("a webhook-id evt_<org>_<seq>")
}

/// Each event once, in the order first accepted (receivers drop what they saw by id).
pub fn distinct(requests: &[Value]) -> Vec<Value> {
    let mut seen = std::collections::BTreeSet::new();
    requests
        .iter()
        .filter(|r| r["status"] == 204 && seen.insert(r["id"].as_str().unwrap().to_owned()))
        .cloned()
        .collect()
}

pub fn types(requests: &[Value]) -> Vec<String> {
    requests
        .iter()
        .map(|r| r["body"]["type"].as_str().unwrap().to_owned())
        .collect()
}
