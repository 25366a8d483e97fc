//! The test's clients: which instances are alive, what each kind of client got back.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;

use super::INSTANCES;

pub fn soak() -> Duration {
    let seconds = std::env::var("ORGSVC_SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8);
    Duration::from_secs(seconds)
}

/// The instances' addresses and which of them are alive; clients skip dead ones.
#[derive(Clone)]
pub struct Pool {
    pub addresses: Arc<Vec<String>>,
    pub alive: Arc<Vec<AtomicBool>>,
    pub client: reqwest::Client,
}

impl Pool {
    /// Instance `n` (modulo their number), or the next live one after it.
    pub fn pick(&self, n: usize) -> &str {
        (0..INSTANCES)
            .map(|k| (n + k) % INSTANCES)
            .find(|&i| self.alive[i].load(Ordering::SeqCst))
            .map(|i| self.addresses[i].as_str())
            .expect("an instance is alive")
    }
}

pub struct Tenant {
    pub name: String,
    pub id: String,
    pub token: String,
}

/// Counts of answers by kind, per client role, the bodies of server errors, and how the first
/// answer of each other failing status looked (whether actix or orgsvc wrote a 408, say).
#[derive(Default)]
pub struct Tally(
    Mutex<BTreeMap<String, usize>>,
    Mutex<Vec<String>>,
    Mutex<BTreeMap<String, String>>,
);

impl Tally {
    pub fn add(&self, what: impl Into<String>) {
        *self.0.lock().unwrap().entry(what.into()).or_default() += 1;
    }

    /// Counts the answer; gives back the response unless it was a server error.
    pub async fn outcome(
        &self,
        answer: Result<reqwest::Response, reqwest::Error>,
    ) -> Option<reqwest::Response> {
        let Ok(response) = answer else {
            self.add("no answer");
            return None;
        };
        let status = response.status();
        self.add(status.as_u16().to_string());
        if !status.is_success() {
            let header = |name| {
                response.headers().get(name).map_or("none".into(), |v| {
                    String::from_utf8_lossy(v.as_bytes()).into_owned()
                })
            };
            let looks = format!(
                "content-type {}, content-length {}, x-request-id {}",
                header(reqwest::header::CONTENT_TYPE),
                header(reqwest::header::CONTENT_LENGTH),
                header(reqwest::header::HeaderName::from_static("x-request-id")),
            );
            self.2
                .lock()
                .unwrap()
                .entry(status.as_u16().to_string())
                .or_insert(looks);
        }
        if status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE {
            let body = response.text().await.unwrap_or_default();
            self.1.lock().unwrap().push(body);
            return None;
        }
        Some(response)
    }

    pub fn get(&self, what: &str) -> usize {
        self.0.lock().unwrap().get(what).copied().unwrap_or(0)
    }

    pub fn show(&self) -> String {
        format!("{:?}", self.0.lock().unwrap())
    }

    /// Panics on any answer outside `allowed` (a 500 most of all).
    pub fn only(&self, role: &str, allowed: &[&str]) {
        for (what, count) in self.0.lock().unwrap().iter() {
            assert!(
                allowed.contains(&what.as_str()),
                "{role}: {count} answers {what}: {:?}; the first looked like {:?}",
                self.1.lock().unwrap(),
                self.2.lock().unwrap().get(what),
            );
        }
    }
}
