//! Load with a verdict: clients mix every endpoint, then what is stored must equal what they
//! were acknowledged, also across a SIGKILL of the service and a restart of the database.
//!
//! Short by default (a few seconds each, in the test command). The long form is the same tests
//! with `ORGSVC_SOAK_SECONDS` and `ORGSVC_SOAK_CLIENTS` set (`bench/soak` does that); run them
//! with `--nocapture` to see request counts and p50/p99.

mod driver;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use driver::{Report, Target};

use crate::helpers::TestApp;

fn seconds() -> Duration {
    let seconds = std::env::var("ORGSVC_SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    Duration::from_secs_f64(seconds)
}

fn clients() -> usize {
    std::env::var("ORGSVC_SOAK_CLIENTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8)
}

fn assert_clean(report: &Report, label: &str) {
    println!("{}", report.summary(label));
    assert!(report.requests() > 0, "{label}: no request was made");
    assert!(
        report.violations.is_empty(),
        "{label}: {} broken promises, first: {:#?}",
        report.violations.len(),
        &report.violations[..report.violations.len().min(20)]
    );
}

async fn a_mixed_load_leaves_exactly_what_clients_were_told(app: TestApp) {
    let target = Target::new(app.address.clone(), Arc::new(AtomicBool::new(false)));
    let report = driver::run(target, clients(), seconds()).await;
    assert_clean(&report, "mixed load");
    // Nothing here should have been limited or refused for capacity.
    assert!(!report.statuses.contains_key(&503), "{:?}", report.statuses);
}

on_both_backends!(a_mixed_load_leaves_exactly_what_clients_were_told);

/// orgsvc as a child process on a fixed port, so a restart is found where the old one was.
struct Process {
    child: Child,
    port: u16,
    env: Vec<(String, String)>,
}

impl Process {
    async fn start(env: Vec<(String, String)>) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Self::spawn(port, &env);
        let process = Self { child, port, env };
        process.wait_until_up().await;
        process
    }

    fn spawn(port: u16, env: &[(String, String)]) -> Child {
        let mut command = Command::new(env!("CARGO_BIN_EXE_orgsvc"));
        command
            .env_remove("ORGSVC_CONFIG")
            .env("ORGSVC__HTTP__LISTEN", format!("127.0.0.1:{port}"))
            .env("ORGSVC__HTTP__WORKERS", "2")
            .env(
                "ORGSVC__AUTH__JWT_SECRET",
                "load-test-secret-load-test-secret-0123456789",
            )
            .env("ORGSVC__AUTH__LOGIN__PER_IP_BURST", "100000")
            .env(
                "ORGSVC__LOG__FILTER",
                std::env::var("ORGSVC_LOAD_LOG").unwrap_or_else(|_| "error".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit());
        for (key, value) in env {
            command.env(key, value);
        }
        command.spawn().expect("orgsvc starts")
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn wait_until_up(&self) {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while client
            .get(format!("{}/health", self.base()))
            .send()
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "orgsvc did not come up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL, then the same binary, port and storage again.
    async fn kill_and_restart(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            self.child = Self::spawn(self.port, &self.env);
            std::thread::sleep(Duration::from_millis(200));
            match self.child.try_wait() {
                // Still running: it bound the port and opened the store.
                Ok(None) => break,
                // The old process's file lock or port was not yet released: try again.
                _ if Instant::now() < deadline => continue,
                other => panic!("orgsvc did not restart: {other:?}"),
            }
        }
        self.wait_until_up().await;
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the load against `base` for at least `minimum`, and a third of the way in runs
/// `inject` with the fault window open: while it lasts, 503s and lost requests are expected.
async fn load_with_fault<F: std::future::Future<Output = ()>>(
    base: String,
    minimum: Duration,
    inject: impl FnOnce(Target) -> F,
) -> Report {
    let fault = Arc::new(AtomicBool::new(false));
    let target = Target::new(base, Arc::clone(&fault));
    let duration = seconds().max(minimum);
    let load = tokio::spawn(driver::run(target.clone(), clients(), duration));
    tokio::time::sleep(duration / 3).await;
    fault.store(true, Ordering::SeqCst);
    inject(target).await;
    fault.store(false, Ordering::SeqCst);
    load.await.unwrap()
}

/// SIGKILLs the service mid-load and starts it again. The fault window covers the restart and
/// `recovery` (the time interrupted operations may keep an organization busy); the kill also
/// opens the aftermath of the transactions it left open on the server.
async fn load_across_a_kill(mut process: Process, recovery: Duration, label: &str) {
    let base = process.base();
    // Borrowed, not moved: the restarted service must outlive the fault window.
    let process = &mut process;
    let report = load_with_fault(base, Duration::from_secs(4), |target| async move {
        target.open_aftermath();
        process.kill_and_restart().await;
        tokio::time::sleep(recovery).await;
    })
    .await;
    assert_clean(&report, label);
    assert!(
        report.transport_errors > 0 || report.statuses.contains_key(&503),
        "the kill went unnoticed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_a_kill_mid_load_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orgsvc.redb");
    let process = Process::start(vec![(
        "ORGSVC__STORAGE__EMBEDDED__PATH".into(),
        path.display().to_string(),
    )])
    .await;
    load_across_a_kill(
        process,
        Duration::from_millis(500),
        "embedded, SIGKILL mid-load",
    )
    .await;
}

fn mongodb_env(uri: &str) -> Vec<(String, String)> {
    vec![
        ("ORGSVC__STORAGE__BACKEND".into(), "mongodb".into()),
        ("ORGSVC__STORAGE__MONGODB__URI".into(), uri.into()),
        (
            "ORGSVC__STORAGE__MONGODB__MASTER_DATABASE".into(),
            orgsvc_testkit::unique_name("master"),
        ),
        (
            "ORGSVC__STORAGE__MONGODB__TENANT_DATABASE".into(),
            orgsvc_testkit::unique_name("tenants"),
        ),
        (
            "ORGSVC__STORAGE__MONGODB__INTENT_LEASE_SECONDS".into(),
            "2".into(),
        ),
        (
            "ORGSVC__STORAGE__MONGODB__OPERATION_TIMEOUT_MS".into(),
            "2000".into(),
        ),
        (
            "ORGSVC__STORAGE__MONGODB__SERVER_SELECTION_TIMEOUT_MS".into(),
            "500".into(),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mongodb_a_kill_mid_load_loses_nothing_acknowledged() {
    let Some(uri) = orgsvc_testkit::mongodb_or_skip("load_kill") else {
        return;
    };
    let process = Process::start(mongodb_env(uri)).await;
    // A rename interrupted by the kill keeps its organization busy until its lease (2 s) ends
    // and a request or the sweep recovers it; 2 s more for a loaded 2-core machine.
    load_across_a_kill(process, Duration::from_secs(4), "mongodb, SIGKILL mid-load").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mongodb_a_database_restart_mid_load_loses_nothing_acknowledged() {
    let mut server = match orgsvc_testkit::DocumentDb::start() {
        Ok(server) => server,
        Err(e) => {
            if orgsvc_testkit::mongodb_or_skip("load_db_restart").is_some() {
                panic!("DocumentDB is installed but did not start: {e:?}");
            }
            return;
        }
    };
    let process = Process::start(mongodb_env(&server.uri())).await;
    let report = load_with_fault(process.base(), Duration::from_secs(5), |_| async {
        server.stop();
        tokio::time::sleep(Duration::from_secs(1)).await;
        server.resume().unwrap();
        // Reconnecting, then interrupted renames finishing once their 2 s lease is over.
        tokio::time::sleep(Duration::from_secs(3)).await;
    })
    .await;
    assert_clean(&report, "mongodb, database restart mid-load");
    assert!(
        report.statuses.contains_key(&503),
        "the outage went unnoticed: {:?}",
        report.statuses
    );
    drop(process);
}
