//! The export jobs fake: jobs and their bundles' chunks in the fake's state.

use chrono::{DateTime, Utc};

use super::{FakeStore, State};
use crate::errors::StoreError;
use crate::export::job::{
    Enqueued, ExportJob, ExportOutcome, ExportProgress, ExportState, MAX_KEPT,
};
use crate::ids::{ExportId, OrganizationId};
use crate::ports::ExportJobs;

/// Removes job `id` with its bundle.
fn remove(state: &mut State, id: &ExportId) {
    state.export_chunks.retain(|(job, _, _), _| job != id);
    state.exports.remove(id);
}

impl ExportJobs for FakeStore {
    async fn enqueue_export(
        &self,
        job: &ExportJob,
        max_active: usize,
    ) -> Result<Enqueued, StoreError> {
        let mut state = self.state()?;
        let active = state.exports.values().filter(|j| j.state.is_active());
        let mut count = 0;
        for other in active {
            if other.organization_id == job.organization_id {
                return Ok(Enqueued::InProgress(other.id));
            }
            count += 1;
        }
        if count >= max_active {
            return Ok(Enqueued::Full);
        }
        state.exports.insert(job.id, job.clone());
        let mut kept: Vec<ExportId> = state
            .exports
            .values()
            .filter(|j| j.organization_id == job.organization_id)
            .map(|j| j.id)
            .collect();
        kept.sort_unstable();
        let beyond = kept.len().saturating_sub(MAX_KEPT);
        // Ids are UUIDv7: the oldest first; the active one is the newest.
        for id in &kept[..beyond] {
            remove(&mut state, id);
        }
        Ok(Enqueued::Queued)
    }

    async fn find_export(
        &self,
        organization: &OrganizationId,
        id: &ExportId,
        now: DateTime<Utc>,
    ) -> Result<Option<ExportJob>, StoreError> {
        Ok(self
            .state()?
            .exports
            .get(id)
            .filter(|j| j.organization_id == *organization && !j.expired(now))
            .cloned())
    }

    async fn claim_export(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Option<ExportJob>, StoreError> {
        let mut state = self.state()?;
        let Some(job) = state
            .exports
            .values_mut()
            .filter(|j| j.claimable(now))
            .min_by_key(|j| (j.until, j.id))
        else {
            return Ok(None);
        };
        job.claim(owner, until);
        Ok(Some(job.clone()))
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
        let mut state = self.state()?;
        let Some(job) = state
            .exports
            .get_mut(id)
            .filter(|j| j.held_by(owner, attempt))
        else {
            return Ok(false);
        };
        job.advance(progress, until);
        state
            .export_chunks
            .insert((*id, attempt, seq), chunk.to_vec());
        Ok(true)
    }

    async fn finish_export(
        &self,
        owner: &str,
        id: &ExportId,
        attempt: u32,
        outcome: &ExportOutcome,
    ) -> Result<bool, StoreError> {
        let mut state = self.state()?;
        let Some(job) = state
            .exports
            .get_mut(id)
            .filter(|j| j.held_by(owner, attempt))
        else {
            return Ok(false);
        };
        job.finish(outcome);
        let keep = (job.state == ExportState::Done).then_some(attempt);
        state
            .export_chunks
            .retain(|(job, chunk_attempt, _), _| job != id || Some(*chunk_attempt) == keep);
        Ok(true)
    }

    async fn export_chunk(
        &self,
        id: &ExportId,
        attempt: u32,
        seq: u32,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .state()?
            .export_chunks
            .get(&(*id, attempt, seq))
            .cloned())
    }

    async fn purge_exports(&self, now: DateTime<Utc>, limit: usize) -> Result<usize, StoreError> {
        let mut state = self.state()?;
        let expired: Vec<ExportId> = state
            .exports
            .values()
            .filter(|j| j.expired(now))
            .map(|j| j.id)
            .take(limit)
            .collect();
        for id in &expired {
            remove(&mut state, id);
        }
        Ok(expired.len())
    }

    async fn discard_exports(&self, organization: &OrganizationId) -> Result<(), StoreError> {
        let mut state = self.state()?;
        let gone: Vec<ExportId> = state
            .exports
            .values()
            .filter(|j| j.organization_id == *organization)
            .map(|j| j.id)
            .collect();
        for id in &gone {
            remove(&mut state, id);
        }
        Ok(())
    }
}
