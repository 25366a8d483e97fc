//! Test support: a real MongoDB-wire server for the MongoDB suites.
//!
//! [`mongodb_uri`] answers `ORGSVC_TEST_MONGODB_URI` when set (a MongoDB replica set, a sharded
//! cluster, Atlas), and otherwise a DocumentDB that this crate installs and starts through
//! `scripts/documentdb.sh`, once per test process. [`DocumentDb::start`] gives a test a server of
//! its own, which it can stop and start again (outage and restart tests) or pair with another
//! (two clusters).
//!
//! Every server is watched by a small shell that stops it when the test process exits, however
//! that happens, so no server outlives its tests.
//!
//! Only test code depends on this crate.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use tempfile::TempDir;

/// Why the MongoDB suites cannot run here.
#[derive(Debug, Clone)]
pub struct Unavailable(pub String);

/// The MongoDB server the suites share, or why there is none.
///
/// # Errors
/// When `ORGSVC_TEST_MONGODB_URI` is unset and DocumentDB cannot be installed or started.
pub fn mongodb_uri() -> Result<&'static str, Unavailable> {
    static SHARED: OnceLock<Result<(String, Option<DocumentDb>), Unavailable>> = OnceLock::new();
    let shared = SHARED.get_or_init(|| match std::env::var("ORGSVC_TEST_MONGODB_URI") {
        Ok(uri) if !uri.is_empty() => Ok((uri, None)),
        _ => DocumentDb::start().map(|server| (server.uri(), Some(server))),
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
                 !!! Set ORGSVC_TEST_MONGODB_URI, or let scripts/documentdb.sh install DocumentDB (as root).\n"
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

/// A DocumentDB server (PostgreSQL + the gateway) of its own, started by
/// `scripts/documentdb.sh` with its data in a temporary directory.
pub struct DocumentDb {
    dir: TempDir,
    uri: String,
    watchdog: Option<Child>,
}

impl DocumentDb {
    /// Installs DocumentDB if needed and starts a new server.
    ///
    /// # Errors
    /// When it cannot be installed or does not start.
    pub fn start() -> Result<Self, Unavailable> {
        install()?;
        let dir = tempfile::Builder::new()
            .prefix("orgsvc-documentdb-")
            .tempdir()
            .map_err(|e| Unavailable(e.to_string()))?;
        let uri = script(&["start", &dir.path().display().to_string()])?;
        let mut server = Self {
            dir,
            uri,
            watchdog: None,
        };
        server.watch();
        Ok(server)
    }

    #[must_use]
    pub fn uri(&self) -> String {
        self.uri.clone()
    }

    /// Stops the gateway and PostgreSQL (the data stays), as a database restart or an outage
    /// would. Returns once neither runs.
    pub fn stop(&mut self) {
        if let Err(Unavailable(why)) = script(&["stop", &self.dir.path().display().to_string()]) {
            eprintln!("documentdb stop: {why}");
        }
    }

    /// Starts a stopped server again: same data, same port, same URI.
    ///
    /// # Errors
    /// When it does not start.
    pub fn resume(&mut self) -> Result<(), Unavailable> {
        let uri = script(&["start", &self.dir.path().display().to_string()])?;
        debug_assert_eq!(uri, self.uri, "a restart keeps the URI");
        Ok(())
    }

    /// A shell that waits while the test process lives and then stops this server and removes
    /// its directory, so no server outlives its tests however the process ends.
    fn watch(&mut self) {
        let watchdog = r#"
            trap 'exit 0' TERM
            while kill -0 "$PPID" 2>/dev/null; do sleep 1; done
            bash "$0" stop "$1" >/dev/null 2>&1
            rm -rf "$1"
        "#;
        self.watchdog = Command::new("sh")
            .arg("-c")
            .arg(watchdog)
            .arg(script_path())
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok();
    }
}

impl Drop for DocumentDb {
    fn drop(&mut self) {
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
        self.stop();
    }
}

fn script_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/documentdb.sh")
}

/// Runs `scripts/documentdb.sh ARGS` and returns the last line it printed.
fn script(args: &[&str]) -> Result<String, Unavailable> {
    let script = script_path();
    let output = Command::new("bash")
        .arg(&script)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| Unavailable(format!("cannot run {}: {e}", script.display())))?;
    if !output.status.success() {
        return Err(Unavailable(format!(
            "{} {} failed",
            script.display(),
            args.join(" ")
        )));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    Ok(stdout.lines().last().unwrap_or_default().trim().to_owned())
}

/// Runs `scripts/documentdb.sh install` (idempotent) once per process.
fn install() -> Result<(), Unavailable> {
    static INSTALLED: OnceLock<Result<(), Unavailable>> = OnceLock::new();
    INSTALLED
        .get_or_init(|| script(&["install"]).map(drop))
        .clone()
}
