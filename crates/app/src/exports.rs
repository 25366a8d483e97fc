//! The export worker's settings and its loop: claims export jobs and writes their bundles,
//! `concurrency` at a time, looking every `poll_ms` when none was due; and removes expired
//! ones once a minute.

use std::sync::Arc;
use std::time::Duration;

use orgsvc_domain::export::job::ExportJob;
use orgsvc_domain::service::Ports;
use orgsvc_domain::{ExportPolicy, Exporter, Service};
use serde::Deserialize;
use tokio::sync::Semaphore;

use crate::background::Worker;

/// How often expired exports are looked for.
const PURGE_EVERY: Duration = Duration::from_secs(60);
/// The stack of the thread each export runs on. A runtime worker's 2 MiB overflowed in a debug
/// build: the export's futures nest deeply, and a document may nest 50 levels, which reading
/// and writing it recurse through. Its own thread also keeps a long export off the threads
/// that serve requests.
const EXPORT_STACK: usize = 16 * 1024 * 1024;

#[derive(Clone, Debug, Deserialize)]
pub struct ExportSettings {
    /// Run the export worker in this instance (several may: claims keep them apart).
    pub enabled: bool,
    /// Exports written at once by this instance.
    pub concurrency: usize,
    /// Exports queued or running at once across all instances; more are refused (503).
    pub max_active: usize,
    /// Hours a finished export's bundle (or its failure) is kept.
    pub retention_hours: u64,
    /// How long a claim on a job holds without a chunk of its bundle written.
    pub lease_seconds: u64,
    /// How often to look for queued exports when there were none.
    pub poll_ms: u64,
}

impl ExportSettings {
    /// # Errors
    /// When a bound is 0.
    pub fn policy(&self) -> anyhow::Result<ExportPolicy> {
        anyhow::ensure!(
            self.concurrency > 0,
            "exports.concurrency must be at least 1"
        );
        anyhow::ensure!(self.max_active > 0, "exports.max_active must be at least 1");
        anyhow::ensure!(
            self.retention_hours > 0,
            "exports.retention_hours must be at least 1"
        );
        anyhow::ensure!(
            self.lease_seconds >= 10,
            "exports.lease_seconds must be at least 10"
        );
        anyhow::ensure!(self.poll_ms > 0, "exports.poll_ms must be at least 1");
        Ok(ExportPolicy {
            max_active: self.max_active,
            retention: Duration::from_secs(self.retention_hours * 3_600),
            lease: Duration::from_secs(self.lease_seconds),
        })
    }
}

/// Starts the export loop on the current runtime, for a service built with
/// [`ExportSettings::policy`].
///
/// # Errors
/// Invalid settings.
pub fn start<P: Ports>(
    service: Service<P>,
    settings: &ExportSettings,
) -> anyhow::Result<Option<Worker>> {
    settings.policy()?;
    if !settings.enabled {
        return Ok(None);
    }
    let owner = crate::background::owner();
    let exporter = Exporter::new(service, owner);
    let permits = Arc::new(Semaphore::new(settings.concurrency));
    let poll = Duration::from_millis(settings.poll_ms);
    Ok(Some(Worker::spawn(run(exporter, permits, poll))))
}

async fn run<P: Ports>(exporter: Exporter<P>, permits: Arc<Semaphore>, poll: Duration) {
    // Dropped with this loop, which tells every export it started to stop.
    let (_running, stopping) = tokio::sync::watch::channel(());
    let mut purged = tokio::time::Instant::now();
    loop {
        if purged.elapsed() >= PURGE_EVERY {
            purged = tokio::time::Instant::now();
            match exporter.purge().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(exports = n, "removed expired exports"),
                Err(e) => tracing::warn!(error = ?e, "could not remove expired exports"),
            }
        }
        // Claim only with a free slot, so a claimed job never waits on this process.
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
            return;
        };
        let job = match exporter.claim().await {
            Ok(Some(job)) => job,
            Ok(None) => {
                drop(permit);
                tokio::time::sleep(poll).await;
                continue;
            }
            Err(e) => {
                tracing::warn!(error = ?e, "could not claim an export");
                drop(permit);
                tokio::time::sleep(poll).await;
                continue;
            }
        };
        let work = export(exporter.clone(), job);
        let mut stopping = stopping.clone();
        let runtime = tokio::runtime::Handle::current();
        let spawned = std::thread::Builder::new()
            .name("orgsvc-export".to_owned())
            .stack_size(EXPORT_STACK)
            .spawn(move || {
                runtime.block_on(async move {
                    tokio::select! {
                        () = work => {}
                        // The loop was stopped (its worker dropped): so is this export.
                        _ = stopping.changed() => {}
                    }
                });
                drop(permit);
            });
        if let Err(e) = spawned {
            // The job's claim runs out, and it is claimed again.
            tracing::warn!(error = %e, "could not start a thread for an export");
        }
    }
}

/// Works one claimed job and logs how it went.
async fn export<P: Ports>(exporter: Exporter<P>, job: ExportJob) {
    let (export, organization) = (job.id, job.organization_id);
    tracing::info!(%export, %organization, attempt = job.attempt, "exporting");
    match exporter.work(&job).await {
        Ok(attempted) => {
            if let Some(trouble) = &attempted.trouble {
                tracing::warn!(%export, %organization, error = ?trouble,
                    "an export attempt met an error");
            }
            match &attempted.outcome {
                None => {
                    tracing::warn!(%export, "the claim on an export ran out; another worker has it");
                }
                Some(outcome) => tracing::info!(%export, ?outcome, "export attempt ended"),
            }
        }
        Err(e) => {
            tracing::warn!(%export, error = ?e,
                "could not finish an export; it is claimed again when its lease runs out");
        }
    }
}
