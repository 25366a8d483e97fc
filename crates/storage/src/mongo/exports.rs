//! Export jobs in the master database: one document per job in `exports`, and its bundle in
//! `export_chunks`, one document per chunk (`<job>/<attempt>/<seq>`; a chunk is well under
//! the 16 MiB document limit).
//!
//! - An organization's one active job: `active_org` (its id) is set while a job is queued or
//!   running, under a unique sparse index, so of two racing requests one inserts and the
//!   other meets a duplicate key.
//! - Claims are one conditional `findOneAndUpdate`, as the outbox's are.
//! - A chunk and the job's progress are written in one transaction that first checks the
//!   claim: a worker that lost its claim cannot add a chunk after the new owner began.
//! - Finished jobs are removed by the worker's purge, chunks first, not by a TTL index: a
//!   job's chunks must go with it, and a TTL index would remove the two apart.

use bson::{doc, spec::BinarySubtype, Binary, Document as BsonDocument};
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt as _;
use mongodb::options::ReturnDocument;
use orgsvc_domain::errors::StoreError;
use orgsvc_domain::export::job::{
    Enqueued, ExportJob, ExportOutcome, ExportProgress, ExportState, MAX_KEPT,
};
use orgsvc_domain::ports::ExportJobs;
use orgsvc_domain::{ExportId, OrganizationId};
use serde::{Deserialize, Serialize};

use super::errors::{timed, DbError};
use super::transaction::Abort;
use super::MongoStore;
use crate::export_jobs::ExportFields;

#[derive(Debug, Serialize, Deserialize)]
pub struct ExportDoc {
    #[serde(rename = "_id")]
    id: String,
    #[serde(flatten)]
    fields: ExportFields,
    /// The organization's id while the job is queued or running (unique sparse index).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    active_org: Option<String>,
}

impl ExportDoc {
    fn of(job: &ExportJob) -> Self {
        Self {
            id: job.id.to_string(),
            fields: ExportFields::from_domain(job),
            active_org: job
                .state
                .is_active()
                .then(|| job.organization_id.to_string()),
        }
    }

    fn into_domain(self) -> Result<ExportJob, StoreError> {
        self.fields.into_domain(&self.id)
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ChunkDoc {
    #[serde(rename = "_id")]
    id: String,
    export: String,
    attempt: i64,
    data: Binary,
}

fn chunk_id(id: &ExportId, attempt: u32, seq: u32) -> String {
    format!("{id}/{attempt:010}/{seq:010}")
}

/// The filter of a job that `owner` holds on `attempt` ([`ExportJob::held_by`]).
fn held(id: &ExportId, owner: &str, attempt: u32) -> BsonDocument {
    doc! {
        "_id": id.to_string(),
        "state": ExportState::Running.as_str(),
        "attempt": i64::from(attempt),
        "owner": owner,
    }
}

fn bson_err(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Unknown(e.into())
}

impl MongoStore {
    /// Removes the chunks of job `id`, but those of attempt `keep`.
    async fn remove_chunks(&self, id: &str, keep: Option<u32>) -> Result<(), StoreError> {
        let mut filter = doc! {"export": id};
        if let Some(attempt) = keep {
            filter.insert("attempt", doc! {"$ne": i64::from(attempt)});
        }
        timed(
            self.op_timeout(),
            self.inner.export_chunks.delete_many(filter),
        )
        .await?;
        Ok(())
    }

    /// Removes `job` with its bundle: the chunks first, so a crash in between leaves a job
    /// whose removal is simply done again.
    async fn remove_job(&self, id: &str) -> Result<(), StoreError> {
        self.remove_chunks(id, None).await?;
        timed(
            self.op_timeout(),
            self.inner.exports.delete_one(doc! {"_id": id}),
        )
        .await?;
        Ok(())
    }

    /// Removes the organization's oldest jobs beyond [`MAX_KEPT`] (the active one is the
    /// newest: ids are UUIDv7).
    async fn remove_beyond_kept(&self, organization: &str) -> Result<(), StoreError> {
        let found: Vec<BsonDocument> = timed(self.op_timeout(), async {
            self.inner
                .exports
                .clone_with_type::<BsonDocument>()
                .find(doc! {"organization_id": organization})
                .projection(doc! {"_id": 1})
                .sort(doc! {"_id": -1})
                .skip(MAX_KEPT as u64)
                .await?
                .try_collect()
                .await
        })
        .await?;
        for old in found.iter().filter_map(|d| d.get_str("_id").ok()) {
            self.remove_job(old).await?;
        }
        Ok(())
    }

    async fn jobs(&self, filter: BsonDocument, limit: i64) -> Result<Vec<String>, StoreError> {
        let found: Vec<BsonDocument> = timed(self.op_timeout(), async {
            self.inner
                .exports
                .clone_with_type::<BsonDocument>()
                .find(filter)
                .projection(doc! {"_id": 1})
                .limit(limit)
                .await?
                .try_collect()
                .await
        })
        .await?;
        Ok(found
            .iter()
            .filter_map(|d| d.get_str("_id").ok().map(str::to_owned))
            .collect())
    }
}

impl ExportJobs for MongoStore {
    async fn enqueue_export(
        &self,
        job: &ExportJob,
        max_active: usize,
    ) -> Result<Enqueued, StoreError> {
        self.ensure_ready().await?;
        let organization = job.organization_id.to_string();
        // Twice at most: the active job found by the duplicate key may finish meanwhile.
        for _ in 0..2 {
            let active = timed(
                self.op_timeout(),
                self.inner
                    .exports
                    .count_documents(doc! {"active_org": {"$exists": true}}),
            )
            .await?;
            if active >= max_active as u64 {
                return Ok(Enqueued::Full);
            }
            match timed(
                self.op_timeout(),
                self.inner.exports.insert_one(ExportDoc::of(job)),
            )
            .await
            {
                Ok(_) => {
                    self.remove_beyond_kept(&organization).await?;
                    return Ok(Enqueued::Queued);
                }
                Err(DbError::Duplicate) => {}
                Err(e) => return Err(e.into()),
            }
            let found = timed(
                self.op_timeout(),
                self.inner
                    .exports
                    .find_one(doc! {"active_org": &organization}),
            )
            .await?;
            if let Some(other) = found {
                return Ok(Enqueued::InProgress(other.into_domain()?.id));
            }
        }
        Err(StoreError::Unavailable(anyhow::anyhow!(
            "the organization's exports keep changing; retry"
        )))
    }

    async fn find_export(
        &self,
        organization: &OrganizationId,
        id: &ExportId,
        now: DateTime<Utc>,
    ) -> Result<Option<ExportJob>, StoreError> {
        self.ensure_ready().await?;
        let filter = doc! {"_id": id.to_string(), "organization_id": organization.to_string()};
        let found = timed(self.op_timeout(), self.inner.exports.find_one(filter)).await?;
        let job = found.map(ExportDoc::into_domain).transpose()?;
        Ok(job.filter(|j| !j.expired(now)))
    }

    async fn claim_export(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Option<ExportJob>, StoreError> {
        self.ensure_ready().await?;
        let filter = doc! {
            "active_org": {"$exists": true},
            "until_ms": {"$lte": now.timestamp_millis()},
        };
        let update = doc! {
            "$set": {
                "state": ExportState::Running.as_str(),
                "owner": owner,
                "until_ms": until.timestamp_millis(),
                "documents": 0_i64,
                "bytes": 0_i64,
            },
            "$unset": {"documents_total": ""},
            "$inc": {"attempt": 1_i64},
        };
        let claimed = timed(
            self.op_timeout(),
            self.inner
                .exports
                .find_one_and_update(filter, update)
                .sort(doc! {"until_ms": 1, "_id": 1})
                .return_document(ReturnDocument::After),
        )
        .await?;
        claimed.map(ExportDoc::into_domain).transpose()
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
        self.ensure_ready().await?;
        let set = doc! {"$set": {
            "documents": i64::try_from(progress.documents).unwrap_or(i64::MAX),
            "documents_total": i64::try_from(progress.total).unwrap_or(i64::MAX),
            "bytes": i64::try_from(progress.bytes).unwrap_or(i64::MAX),
            "until_ms": until.timestamp_millis(),
        }};
        let chunk = ChunkDoc {
            id: chunk_id(id, attempt, seq),
            export: id.to_string(),
            attempt: i64::from(attempt),
            data: Binary {
                subtype: BinarySubtype::Generic,
                bytes: chunk.to_vec(),
            },
        };
        let (filter, set, chunk) = (&held(id, owner, attempt), &set, &chunk);
        self.transaction(|mut session| async move {
            let outcome = async {
                let update = self.inner.exports.update_one(filter.clone(), set.clone());
                let renewed = timed(self.op_timeout(), update.session(&mut session)).await?;
                if renewed.matched_count == 0 {
                    return Ok(false);
                }
                // A replace, so that running the transaction again writes the same.
                let write = self
                    .inner
                    .export_chunks
                    .replace_one(doc! {"_id": &chunk.id}, chunk)
                    .upsert(true);
                timed(self.op_timeout(), write.session(&mut session)).await?;
                Ok::<_, DbError>(true)
            }
            .await;
            (session, outcome.map_err(Abort::<StoreError>::from))
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
        self.ensure_ready().await?;
        let found = timed(
            self.op_timeout(),
            self.inner.exports.find_one(held(id, owner, attempt)),
        )
        .await?;
        let Some(found) = found else {
            return Ok(false);
        };
        let mut job = found.into_domain()?;
        job.finish(outcome);
        let finished = ExportDoc::of(&job);
        let mut replacement = bson::to_document(&finished).map_err(bson_err)?;
        replacement.remove("_id");
        let replaced = timed(
            self.op_timeout(),
            self.inner
                .exports
                .clone_with_type::<BsonDocument>()
                .replace_one(held(id, owner, attempt), replacement),
        )
        .await?;
        if replaced.matched_count == 0 {
            return Ok(false);
        }
        let keep = matches!(outcome, ExportOutcome::Done { .. }).then_some(attempt);
        self.remove_chunks(&id.to_string(), keep).await?;
        Ok(true)
    }

    async fn export_chunk(
        &self,
        id: &ExportId,
        attempt: u32,
        seq: u32,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.ensure_ready().await?;
        let found = timed(
            self.op_timeout(),
            self.inner
                .export_chunks
                .find_one(doc! {"_id": chunk_id(id, attempt, seq)}),
        )
        .await?;
        Ok(found.map(|chunk| chunk.data.bytes))
    }

    async fn purge_exports(&self, now: DateTime<Utc>, limit: usize) -> Result<usize, StoreError> {
        self.ensure_ready().await?;
        let filter = doc! {"expires_at_ms": {"$lte": now.timestamp_millis()}};
        let expired = self
            .jobs(filter, i64::try_from(limit).unwrap_or(i64::MAX))
            .await?;
        for id in &expired {
            self.remove_job(id).await?;
        }
        Ok(expired.len())
    }

    async fn discard_exports(&self, organization: &OrganizationId) -> Result<(), StoreError> {
        self.ensure_ready().await?;
        let filter = doc! {"organization_id": organization.to_string()};
        for id in self.jobs(filter, i64::MAX).await? {
            self.remove_job(&id).await?;
        }
        Ok(())
    }
}
