//! Loops that run beside the HTTP server in each instance: webhook deliveries and exports.

use std::future::Future;

use tokio::task::JoinHandle;

/// A running loop; stops when dropped (what it had claimed is claimed again by another
/// instance once the claim runs out).
pub struct Worker(JoinHandle<()>);

impl Worker {
    /// Runs `work` on the current runtime.
    pub(crate) fn spawn(work: impl Future<Output = ()> + Send + 'static) -> Self {
        Self(tokio::spawn(work))
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Who this process is in the claims its workers take: unique per process.
pub(crate) fn owner() -> String {
    format!("{}/{:016x}", std::process::id(), rand::random::<u64>())
}
