//! Export jobs in the embedded store: each job (`master.exports`), the one active job of each
//! organization (`master.export_active`, which is also what bounds the queue), finished jobs
//! in expiry order (`master.export_expiry`), and the bundles' chunks keyed by (job, attempt,
//! seq) (`master.export_chunks`). Every change of a job and its chunks is one write
//! transaction; one process owns the file, so a claim only keeps this process's workers apart.

use chrono::{DateTime, Utc};
use orgsvc_domain::errors::StoreError;
use orgsvc_domain::export::job::{Enqueued, ExportJob, ExportOutcome, ExportProgress, MAX_KEPT};
use orgsvc_domain::ports::ExportJobs;
use orgsvc_domain::{ExportId, OrganizationId};
use redb::{ReadableTable, ReadableTableMetadata, TableDefinition, WriteTransaction};

use super::{db_err, records, EmbeddedStore};
use crate::export_jobs::ExportFields;

/// Job id -> [`ExportFields`].
pub const EXPORTS: TableDefinition<'static, u128, &'static [u8]> =
    TableDefinition::new("master.exports");
/// Organization id -> the id of its queued or running job.
pub const EXPORT_ACTIVE: TableDefinition<'static, u128, u128> =
    TableDefinition::new("master.export_active");
/// (expiry in Unix milliseconds, job id) -> nothing: finished jobs in the order they expire.
pub const EXPORT_EXPIRY: TableDefinition<'static, (i64, u128), ()> =
    TableDefinition::new("master.export_expiry");
/// (job id, attempt, seq) -> a chunk of that attempt's bundle.
pub const EXPORT_CHUNKS: TableDefinition<'static, (u128, u32, u32), &'static [u8]> =
    TableDefinition::new("master.export_chunks");

fn key(id: &ExportId) -> u128 {
    id.as_uuid().as_u128()
}

fn read_job(txn: &WriteTransaction, id: u128) -> Result<Option<ExportJob>, StoreError> {
    let table = txn.open_table(EXPORTS).map_err(db_err)?;
    let found = table.get(id).map_err(db_err)?;
    found
        .map(|bytes| {
            let fields: ExportFields = records::from_bytes("export job", bytes.value())?;
            fields.into_domain(&uuid::Uuid::from_u128(id).to_string())
        })
        .transpose()
}

/// Writes `job`, keeping the active and expiry tables in step with its state.
fn write_job(txn: &WriteTransaction, job: &ExportJob) -> Result<(), StoreError> {
    let id = key(&job.id);
    let fields = ExportFields::from_domain(job);
    txn.open_table(EXPORTS)
        .map_err(db_err)?
        .insert(id, records::to_bytes(&fields).as_slice())
        .map_err(db_err)?;
    let organization = job.organization_id.as_uuid().as_u128();
    let mut active = txn.open_table(EXPORT_ACTIVE).map_err(db_err)?;
    if job.state.is_active() {
        active.insert(organization, id).map_err(db_err)?;
    } else if active.get(organization).map_err(db_err)?.map(|v| v.value()) == Some(id) {
        active.remove(organization).map_err(db_err)?;
    }
    if let Some(at) = job.expires_at {
        txn.open_table(EXPORT_EXPIRY)
            .map_err(db_err)?
            .insert((at.timestamp_millis(), id), ())
            .map_err(db_err)?;
    }
    Ok(())
}

/// Removes the chunks of job `id`, but those of attempt `keep`.
fn remove_chunks(txn: &WriteTransaction, id: u128, keep: Option<u32>) -> Result<(), StoreError> {
    let mut chunks = txn.open_table(EXPORT_CHUNKS).map_err(db_err)?;
    let keys: Vec<(u128, u32, u32)> = chunks
        .range((id, 0, 0)..=(id, u32::MAX, u32::MAX))
        .map_err(db_err)?
        .map(|entry| entry.map(|(key, _)| key.value()))
        .collect::<Result<_, _>>()
        .map_err(db_err)?;
    for chunk in keys.into_iter().filter(|k| Some(k.1) != keep) {
        chunks.remove(chunk).map_err(db_err)?;
    }
    Ok(())
}

/// Removes job `id` with its chunks and its place in the other tables.
fn remove_job(txn: &WriteTransaction, job: &ExportJob) -> Result<(), StoreError> {
    let id = key(&job.id);
    remove_chunks(txn, id, None)?;
    if let Some(at) = job.expires_at {
        txn.open_table(EXPORT_EXPIRY)
            .map_err(db_err)?
            .remove((at.timestamp_millis(), id))
            .map_err(db_err)?;
    }
    let organization = job.organization_id.as_uuid().as_u128();
    let mut active = txn.open_table(EXPORT_ACTIVE).map_err(db_err)?;
    if active.get(organization).map_err(db_err)?.map(|v| v.value()) == Some(id) {
        active.remove(organization).map_err(db_err)?;
    }
    txn.open_table(EXPORTS)
        .map_err(db_err)?
        .remove(id)
        .map_err(db_err)?;
    Ok(())
}

/// The jobs of `organization`, oldest first. Jobs are kept for their retention only, at most
/// [`MAX_KEPT`] per organization: few enough to read them all.
fn jobs_of(
    txn: &WriteTransaction,
    organization: OrganizationId,
) -> Result<Vec<ExportJob>, StoreError> {
    let mut jobs: Vec<ExportJob> = txn
        .open_table(EXPORTS)
        .map_err(db_err)?
        .iter()
        .map_err(db_err)?
        .map(|entry| {
            let (id, bytes) = entry.map_err(db_err)?;
            let fields: ExportFields = records::from_bytes("export job", bytes.value())?;
            fields.into_domain(&uuid::Uuid::from_u128(id.value()).to_string())
        })
        .filter(|job| {
            job.as_ref()
                .map_or(true, |j| j.organization_id == organization)
        })
        .collect::<Result<_, _>>()?;
    // Ids are UUIDv7: in the order the jobs were asked for.
    jobs.sort_unstable_by_key(|j| j.id);
    Ok(jobs)
}

impl ExportJobs for EmbeddedStore {
    async fn enqueue_export(
        &self,
        job: &ExportJob,
        max_active: usize,
    ) -> Result<Enqueued, StoreError> {
        let job = job.clone();
        self.write(move |txn| {
            let active = txn.open_table(EXPORT_ACTIVE).map_err(db_err)?;
            let organization = job.organization_id.as_uuid().as_u128();
            if let Some(other) = active.get(organization).map_err(db_err)? {
                let other = ExportId::from_uuid(uuid::Uuid::from_u128(other.value()));
                return Ok(Enqueued::InProgress(other));
            }
            if active.len().map_err(db_err)? >= max_active as u64 {
                return Ok(Enqueued::Full);
            }
            drop(active);
            write_job(txn, &job)?;
            // The new job is the newest, and the only active one.
            let jobs = jobs_of(txn, job.organization_id)?;
            for old in &jobs[..jobs.len().saturating_sub(MAX_KEPT)] {
                remove_job(txn, old)?;
            }
            Ok(Enqueued::Queued)
        })
        .await
    }

    async fn find_export(
        &self,
        organization: &OrganizationId,
        id: &ExportId,
        now: DateTime<Utc>,
    ) -> Result<Option<ExportJob>, StoreError> {
        let (organization, id) = (*organization, *id);
        self.run(move |db| {
            let txn = db.begin_read().map_err(db_err)?;
            let table = txn.open_table(EXPORTS).map_err(db_err)?;
            let Some(bytes) = table.get(key(&id)).map_err(db_err)? else {
                return Ok(None);
            };
            let fields: ExportFields = records::from_bytes("export job", bytes.value())?;
            let job = fields.into_domain(&id.to_string())?;
            Ok((job.organization_id == organization && !job.expired(now)).then_some(job))
        })
        .await
    }

    async fn claim_export(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Option<ExportJob>, StoreError> {
        let owner = owner.to_owned();
        self.write(move |txn| {
            // The active jobs are few (the queue's bound): read them all.
            let ids: Vec<u128> = txn
                .open_table(EXPORT_ACTIVE)
                .map_err(db_err)?
                .iter()
                .map_err(db_err)?
                .map(|entry| entry.map(|(_, id)| id.value()))
                .collect::<Result<_, _>>()
                .map_err(db_err)?;
            let mut best: Option<ExportJob> = None;
            for id in ids {
                if let Some(job) = read_job(txn, id)?.filter(|j| j.claimable(now)) {
                    if best
                        .as_ref()
                        .is_none_or(|b| (job.until, job.id) < (b.until, b.id))
                    {
                        best = Some(job);
                    }
                }
            }
            let Some(mut job) = best else {
                return Ok(None);
            };
            job.claim(&owner, until);
            write_job(txn, &job)?;
            Ok(Some(job))
        })
        .await
    }

    async fn append_export_chunk(
        &self,
        owner: &str,
        id: &ExportId,
        attempt: u32,
        seq: u32,
        chunk: &[u8],
        progress: ExportProgress,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let (owner, id, chunk) = (owner.to_owned(), key(id), chunk.to_vec());
        self.write(move |txn| {
            let Some(mut job) = read_job(txn, id)?.filter(|j| j.held_by(&owner, attempt)) else {
                return Ok(false);
            };
            job.advance(progress, until);
            write_job(txn, &job)?;
            txn.open_table(EXPORT_CHUNKS)
                .map_err(db_err)?
                .insert((id, attempt, seq), chunk.as_slice())
                .map_err(db_err)?;
            Ok(true)
        })
        .await
    }

    async fn finish_export(
        &self,
        owner: &str,
        id: &ExportId,
        attempt: u32,
        outcome: &ExportOutcome,
    ) -> Result<bool, StoreError> {
        let (owner, id, outcome) = (owner.to_owned(), key(id), outcome.clone());
        self.write(move |txn| {
            let Some(mut job) = read_job(txn, id)?.filter(|j| j.held_by(&owner, attempt)) else {
                return Ok(false);
            };
            job.finish(&outcome);
            write_job(txn, &job)?;
            let keep = matches!(outcome, ExportOutcome::Done { .. }).then_some(attempt);
            remove_chunks(txn, id, keep)?;
            Ok(true)
        })
        .await
    }

    async fn export_chunk(
        &self,
        id: &ExportId,
        attempt: u32,
        seq: u32,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let id = key(id);
        self.run(move |db| {
            let txn = db.begin_read().map_err(db_err)?;
            let chunks = txn.open_table(EXPORT_CHUNKS).map_err(db_err)?;
            let found = chunks.get((id, attempt, seq)).map_err(db_err)?;
            Ok(found.map(|bytes| bytes.value().to_vec()))
        })
        .await
    }

    async fn purge_exports(&self, now: DateTime<Utc>, limit: usize) -> Result<usize, StoreError> {
        self.write(move |txn| {
            let expired: Vec<u128> = txn
                .open_table(EXPORT_EXPIRY)
                .map_err(db_err)?
                .range(..=(now.timestamp_millis(), u128::MAX))
                .map_err(db_err)?
                .take(limit)
                .map(|entry| entry.map(|(key, _)| key.value().1))
                .collect::<Result<_, _>>()
                .map_err(db_err)?;
            for id in &expired {
                if let Some(job) = read_job(txn, *id)? {
                    remove_job(txn, &job)?;
                }
            }
            Ok(expired.len())
        })
        .await
    }

    async fn discard_exports(&self, organization: &OrganizationId) -> Result<(), StoreError> {
        let organization = *organization;
        self.write(move |txn| {
            for job in &jobs_of(txn, organization)? {
                remove_job(txn, job)?;
            }
            Ok(())
        })
        .await
    }
}
