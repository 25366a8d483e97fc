//! Progress of collection copies (renames across databases, moves between clusters): metrics
//! for dashboards, and the latest figures for whoever watches this store (`orgsvc move-org`
//! draws its progress bar from them).
//!
//! - `orgsvc_documents_copied_total{operation}`: documents copied, `rename` or `move`;
//! - `orgsvc_copies_in_progress{operation}`: copies running in this process.

use tokio::sync::watch;

/// Where the latest copy of this store stands.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CopyProgress {
    /// The organization's id.
    pub organization: String,
    /// Documents copied since the copy (re)started.
    pub copied: u64,
    /// Documents left to copy when it (re)started; a resumed copy skips what it had done.
    pub total: u64,
}

/// One running copy: reports its progress, and leaves the in-progress gauge when dropped
/// (whichever way the copy ends).
pub(super) struct RunningCopy<'a> {
    sink: &'a watch::Sender<CopyProgress>,
    operation: &'static str,
    progress: CopyProgress,
}

impl<'a> RunningCopy<'a> {
    pub(super) fn start(
        sink: &'a watch::Sender<CopyProgress>,
        operation: &'static str,
        organization: &str,
        total: u64,
    ) -> Self {
        metrics::gauge!("orgsvc_copies_in_progress", "operation" => operation).increment(1.0);
        let copy = Self {
            sink,
            operation,
            progress: CopyProgress {
                organization: organization.to_owned(),
                copied: 0,
                total,
            },
        };
        copy.publish();
        copy
    }

    pub(super) fn copied(&mut self, documents: u64) {
        self.progress.copied += documents;
        metrics::counter!("orgsvc_documents_copied_total", "operation" => self.operation)
            .increment(documents);
        self.publish();
    }

    fn publish(&self) {
        self.sink.send_replace(self.progress.clone());
    }
}

impl Drop for RunningCopy<'_> {
    fn drop(&mut self) {
        metrics::gauge!("orgsvc_copies_in_progress", "operation" => self.operation).decrement(1.0);
    }
}
