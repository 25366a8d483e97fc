//! The export worker's steps: claim a job, write its bundle into the store chunk by chunk
//! (each chunk renewing the claim), finish it; and purge what expired. The loop that runs
//! them lives with the application's settings.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::audit::{AuditAction, Origin, Outcome};
use crate::bundle::BundleSink;
use crate::errors::{SnapshotError, StoreError};
use crate::export::job::{ExportJob, ExportOutcome, ExportProgress, BUNDLE_CHUNK, MAX_ATTEMPTS};
use crate::export::write_bundle;
use crate::ids::ExportId;
use crate::organization::Organization;
use crate::ports::prelude::*;
use crate::ports::{Store, SNAPSHOT_LEASE};
use crate::service::audit::Subject;
use crate::service::{Ports, Service};

/// How long a job waits when another export (`orgsvc export`) holds the organization's
/// snapshot: a tenth of the snapshot lease, so it is not starved and not spinning.
const BUSY_WAIT: std::time::Duration = SNAPSHOT_LEASE.checked_div(10).expect("not by zero");
/// How long a job waits after storage failed under it.
const STORE_WAIT: chrono::Duration = chrono::Duration::seconds(10);
/// Expired jobs removed per purge call.
const PURGE_BATCH: usize = 100;

/// What working a job came to.
#[derive(Debug, Default)]
pub struct Attempted {
    /// How the attempt ended; `None` when its claim was lost to another worker, which
    /// carries on.
    pub outcome: Option<ExportOutcome>,
    /// What went wrong on the way, for the log (its owner is told only in words).
    pub trouble: Option<StoreError>,
}

/// Works export jobs as `owner` (unique per process).
#[derive(Clone)]
pub struct Exporter<P: Ports> {
    service: Service<P>,
    owner: String,
}

impl<P: Ports> Exporter<P> {
    pub const fn new(service: Service<P>, owner: String) -> Self {
        Self { service, owner }
    }

    fn now(&self) -> DateTime<Utc> {
        self.service.clock.now()
    }

    fn lease_end(&self) -> DateTime<Utc> {
        let lease = chrono::Duration::from_std(self.service.export_policy.lease)
            .unwrap_or(chrono::Duration::seconds(60));
        self.now() + lease
    }

    fn expiry(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        at + chrono::Duration::from_std(self.service.export_policy.retention)
            .unwrap_or(chrono::Duration::days(1))
    }

    /// Claims the job that has waited longest, if any is claimable.
    ///
    /// # Errors
    /// [`StoreError`].
    pub async fn claim(&self) -> Result<Option<ExportJob>, StoreError> {
        let now = self.now();
        self.service
            .store
            .claim_export(&self.owner, now, self.lease_end())
            .await
    }

    /// Removes jobs that expired, with their bundles; answers how many.
    ///
    /// # Errors
    /// [`StoreError`].
    pub async fn purge(&self) -> Result<usize, StoreError> {
        self.service
            .store
            .purge_exports(self.now(), PURGE_BATCH)
            .await
    }

    /// Writes the claimed `job`'s bundle and finishes it.
    ///
    /// # Errors
    /// [`StoreError`] when even finishing the job failed (its claim then runs out, and it is
    /// claimed again).
    pub async fn work(&self, job: &ExportJob) -> Result<Attempted, StoreError> {
        let store = &self.service.store;
        let mut trouble = None;
        let outcome = if job.attempt > MAX_ATTEMPTS {
            self.failed(format!(
                "gave up after {MAX_ATTEMPTS} attempts; ask for a new export"
            ))
        } else {
            match store.find_organization_by_id(&job.organization_id).await? {
                None => self.failed("the organization was deleted".to_owned()),
                Some(organization) => match self.write(job, &organization, &mut trouble).await {
                    Some(outcome) => outcome,
                    None => return Ok(Attempted::default()),
                },
            }
        };
        if !store
            .finish_export(&self.owner, &job.id, job.attempt, &outcome)
            .await?
        {
            return Ok(Attempted {
                outcome: None,
                trouble,
            });
        }
        if let Err(e) = self.tell(job, &outcome).await {
            trouble.get_or_insert(e);
        }
        Ok(Attempted {
            outcome: Some(outcome),
            trouble,
        })
    }

    /// Writes `job`'s bundle into the store; answers how the attempt ends, `None` when its
    /// claim was lost on the way.
    async fn write(
        &self,
        job: &ExportJob,
        organization: &Organization,
        trouble: &mut Option<StoreError>,
    ) -> Option<ExportOutcome> {
        let store = &self.service.store;
        let sink = StoreSink::new(
            store,
            &self.owner,
            job,
            self.service.export_policy.lease,
            self.service.clock.clone(),
        );
        let (held, documents, total) = (
            Arc::clone(&sink.held),
            Arc::clone(&sink.documents),
            Arc::clone(&sink.total),
        );
        let written = write_bundle(store, organization, job.id, self.now(), sink, |n, of| {
            documents.store(n, Ordering::Relaxed);
            total.store(of, Ordering::Relaxed);
        })
        .await;
        let written = match written {
            Ok((sink, written)) => sink.flush().await.map(|()| written).map_err(Into::into),
            Err(e) => Err(e),
        };
        if !held.load(Ordering::Relaxed) {
            return None;
        }
        Some(match written {
            Ok(written) => ExportOutcome::Done {
                documents: written.parts.first().map_or(0, |p| p.lines),
                sha256: written.sha256,
                bytes: written.bytes,
                at: self.now(),
                expires_at: self.expiry(self.now()),
            },
            Err(SnapshotError::Busy) => ExportOutcome::Wait {
                at: self.now() + chrono::Duration::from_std(BUSY_WAIT).unwrap_or(STORE_WAIT),
            },
            Err(SnapshotError::Lost) => ExportOutcome::Retry { at: self.now() },
            Err(SnapshotError::OrganizationNotFound) => {
                self.failed("the organization was deleted".to_owned())
            }
            Err(SnapshotError::Store(e)) => self.after_store_error(e, trouble),
        })
    }

    fn failed(&self, reason: String) -> ExportOutcome {
        let at = self.now();
        ExportOutcome::Failed {
            reason,
            at,
            expires_at: self.expiry(at),
        }
    }

    /// Unavailable storage is waited out (within the job's attempts); anything else is a
    /// failure the job cannot get past.
    fn after_store_error(
        &self,
        error: StoreError,
        trouble: &mut Option<StoreError>,
    ) -> ExportOutcome {
        let outcome = match error {
            StoreError::Unavailable(_) | StoreError::Pending(_) => ExportOutcome::Retry {
                at: self.now() + STORE_WAIT,
            },
            StoreError::Unknown(_) => {
                self.failed("an internal error stopped the export; it has been logged".to_owned())
            }
        };
        *trouble = Some(error);
        outcome
    }

    /// The audit event of a finished job, and the digest its organization's deletion receipt
    /// names (a failure to keep which is answered, after the event is written).
    async fn tell(&self, job: &ExportJob, outcome: &ExportOutcome) -> Result<(), StoreError> {
        let mut kept = Ok(());
        let subject = Subject {
            organization: Some(job.organization_id),
            actor: Some(job.requested_by),
        };
        let (action, outcome_of, details) = match outcome {
            ExportOutcome::Done {
                sha256,
                documents,
                bytes,
                ..
            } => {
                kept = self
                    .service
                    .store
                    .record_export(&job.organization_id, sha256)
                    .await;
                (
                    AuditAction::ExportCompleted,
                    Outcome::Success,
                    json!({"export_id": job.id.to_string(), "documents": documents,
                        "bytes": bytes, "sha256": sha256}),
                )
            }
            ExportOutcome::Failed { reason, .. } => (
                AuditAction::ExportFailed,
                Outcome::Failure,
                json!({"export_id": job.id.to_string(), "reason": reason}),
            ),
            ExportOutcome::Wait { .. } | ExportOutcome::Retry { .. } => return Ok(()),
        };
        self.service
            .audit(&Origin::default(), subject, action, outcome_of, details)
            .await;
        kept
    }
}

/// A bundle into the store: gathered into [`BUNDLE_CHUNK`]s, each stored with the job's
/// progress and a renewed claim. Once the claim is found lost, every write fails and `held`
/// says why.
struct StoreSink<'a, S, C> {
    store: &'a S,
    owner: &'a str,
    job: ExportId,
    attempt: u32,
    seq: u32,
    buffer: Vec<u8>,
    bytes: u64,
    documents: Arc<AtomicU64>,
    total: Arc<AtomicU64>,
    held: Arc<AtomicBool>,
    lease: chrono::Duration,
    clock: C,
}

impl<'a, S: Store, C: crate::ports::Clock> StoreSink<'a, S, C> {
    fn new(
        store: &'a S,
        owner: &'a str,
        job: &ExportJob,
        lease: std::time::Duration,
        clock: C,
    ) -> Self {
        Self {
            store,
            owner,
            job: job.id,
            attempt: job.attempt,
            seq: 0,
            buffer: Vec::with_capacity(BUNDLE_CHUNK),
            bytes: 0,
            documents: Arc::new(AtomicU64::new(0)),
            total: Arc::new(AtomicU64::new(0)),
            held: Arc::new(AtomicBool::new(true)),
            lease: chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(60)),
            clock,
        }
    }

    async fn store_chunk(&mut self, chunk: &[u8]) -> Result<(), StoreError> {
        self.bytes += chunk.len() as u64;
        let progress = ExportProgress {
            documents: self.documents.load(Ordering::Relaxed),
            total: self.total.load(Ordering::Relaxed),
            bytes: self.bytes,
        };
        let until = self.clock.now() + self.lease;
        let held = self
            .store
            .append_export_chunk(
                self.owner,
                &self.job,
                self.attempt,
                self.seq,
                chunk,
                progress,
                until,
            )
            .await?;
        if !held {
            self.held.store(false, Ordering::Relaxed);
            return Err(StoreError::Unknown(anyhow::anyhow!(
                "the claim on export {} ran out",
                self.job
            )));
        }
        self.seq += 1;
        Ok(())
    }

    /// Stores what is left as the last chunk.
    async fn flush(mut self) -> Result<(), StoreError> {
        let rest = std::mem::take(&mut self.buffer);
        if rest.is_empty() {
            return Ok(());
        }
        self.store_chunk(&rest).await
    }
}

impl<S: Store, C: crate::ports::Clock> BundleSink for StoreSink<'_, S, C> {
    async fn write(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        self.buffer.extend_from_slice(bytes);
        while self.buffer.len() >= BUNDLE_CHUNK {
            let rest = self.buffer.split_off(BUNDLE_CHUNK);
            let chunk = std::mem::replace(&mut self.buffer, rest);
            self.store_chunk(&chunk).await?;
        }
        Ok(())
    }
}
