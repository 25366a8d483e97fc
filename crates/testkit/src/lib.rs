//! Test support: a real MongoDB-wire server for the MongoDB suites.
//!
//! [`mongodb_uri`] answers `ORGSVC_TEST_MONGODB_URI` when set (a real mongod, a replica set,
//! Atlas), and otherwise a FerretDB that this crate installs (`scripts/ferretdb.sh`) and starts
//! on a free loopback port, once per test process. [`FerretDb::start`] gives a test a server of
//! its own, which it can stop and start again (outage tests) or pair with another (two clusters).
//!
//! Every FerretDB runs under a small shell watchdog that kills it when the test process exits,
//! however that happens, so no server outlives its tests.
//!
//! Only test code depends on this crate.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// Why the MongoDB suites cannot run here.
#[derive(Debug, Clone)]
pub struct Unavailable(pub String);

/// The MongoDB server the suites share, or why there is none.
///
/// # Errors
/// When `ORGSVC_TEST_MONGODB_URI` is unset and FerretDB cannot be installed or started.
pub fn mongodb_uri() -> Result<&'static str, Unavailable> {
    static SHARED: OnceLock<Result<(String, Option<FerretDb>), Unavailable>> = OnceLock::new();
    let shared = SHARED.get_or_init(|| match std::env::var("ORGSVC_TEST_MONGODB_URI") {
        Ok(uri) if !uri.is_empty() => Ok((uri, None)),
        _ => FerretDb::start().map(|server| (server.uri(), Some(server))),
    });
    match shared {
        Ok((uri, _)) => Ok(uri.as_str()),
        Err(e) => Err(e.clone()),
    }
}

/// The shared server's URI for a MongoDB test; `None` (after saying so loudly) when the suite
/// must be skipped. On CI (`CI` set) a missing server is a failure, never a skip.
#[must_use]
pub fn mongodb_or_skip(test: &str) -> Option<&'static str> {
    match mongodb_uri() {
        Ok(uri) => Some(uri),
        Err(Unavailable(why)) if std::env::var_os("CI").is_none() => {
            eprintln!(
                "\n!!! SKIPPED MongoDB test {test}: no MongoDB server ({why}).\n\
                 !!! Set ORGSVC_TEST_MONGODB_URI or install Go so scripts/ferretdb.sh can build FerretDB.\n"
            );
            None
        }
        Err(Unavailable(why)) => panic!("MongoDB suites must run on CI, but: {why}"),
    }
}

/// A database name no other test uses.
#[must_use]
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{prefix}_{}_{}_{nanos:x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A FerretDB server (SQLite handler) on a loopback port, with its own state directory.
pub struct FerretDb {
    port: u16,
    dir: TempDir,
    binary: PathBuf,
    process: Option<Child>,
}

impl FerretDb {
    /// Installs FerretDB if needed and starts it on a free port.
    ///
    /// # Errors
    /// When it cannot be installed or does not start listening within 60 seconds.
    pub fn start() -> Result<Self, Unavailable> {
        let binary = install()?;
        let dir = tempfile::tempdir().map_err(|e| Unavailable(e.to_string()))?;
        let port = free_port()?;
        let mut server = Self {
            port,
            dir,
            binary,
            process: None,
        };
        server.resume()?;
        Ok(server)
    }

    #[must_use]
    pub fn uri(&self) -> String {
        format!("mongodb://127.0.0.1:{}/", self.port)
    }

    /// Kills the server (its data stays), as an outage would.
    pub fn stop(&mut self) {
        if let Some(mut watchdog) = self.process.take() {
            // The watchdog's TERM trap kills FerretDB, then the watchdog exits.
            let _ = Command::new("kill").arg(watchdog.id().to_string()).status();
            let _ = watchdog.wait();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.accepts() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts a stopped server again on the same port and data.
    ///
    /// # Errors
    /// When it does not start listening within 60 seconds.
    pub fn resume(&mut self) -> Result<(), Unavailable> {
        let state = self.dir.path();
        let args = [
            "--handler=sqlite".to_owned(),
            format!("--sqlite-url=file:{}/", state.display()),
            format!("--listen-addr=127.0.0.1:{}", self.port),
            "--telemetry=disable".to_owned(),
            format!("--state-dir={}", state.display()),
            "--debug-addr=-".to_owned(),
            "--log-level=error".to_owned(),
        ];
        // sh runs FerretDB in the background and waits while both the test process ($PPID)
        // and FerretDB live; when the test process is gone, or on TERM, it kills FerretDB.
        let watchdog = r#"
            "$0" "$@" &
            child=$!
            trap 'kill $child 2>/dev/null; wait $child; exit 0' TERM INT
            while kill -0 "$PPID" 2>/dev/null && kill -0 "$child" 2>/dev/null; do sleep 0.5; done
            kill $child 2>/dev/null
            wait $child
        "#;
        let process = Command::new("sh")
            .arg("-c")
            .arg(watchdog)
            .arg(&self.binary)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| Unavailable(format!("cannot start FerretDB: {e}")))?;
        self.process = Some(process);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.accepts() {
            if Instant::now() > deadline {
                self.stop();
                return Err(Unavailable(format!(
                    "FerretDB did not listen on port {} within 60 s",
                    self.port
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    fn accepts(&self) -> bool {
        let address = SocketAddr::from(([127, 0, 0, 1], self.port));
        TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok()
    }
}

impl Drop for FerretDb {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> Result<u16, Unavailable> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| Unavailable(e.to_string()))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| Unavailable(e.to_string()))
}

/// Runs `scripts/ferretdb.sh install` (idempotent) and returns the binary's path.
fn install() -> Result<PathBuf, Unavailable> {
    static BINARY: OnceLock<Result<PathBuf, Unavailable>> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            let script =
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/ferretdb.sh");
            let output = Command::new("bash")
                .arg(&script)
                .arg("install")
                .stderr(Stdio::inherit())
                .output()
                .map_err(|e| Unavailable(format!("cannot run {}: {e}", script.display())))?;
            if !output.status.success() {
                return Err(Unavailable(format!("{} install failed", script.display())));
            }
            let path = String::from_utf8_lossy(&output.stdout).trim().to_owned();
            Ok(PathBuf::from(path))
        })
        .clone()
}
