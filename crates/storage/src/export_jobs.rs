//! How both adapters keep an export job (a redb value; a MongoDB document with `_id`): ids as
//! strings, times as Unix milliseconds, so that MongoDB compares claim times as numbers
//! whatever the server.

use chrono::{DateTime, TimeZone as _, Utc};
use orgsvc_domain::errors::StoreError;
use orgsvc_domain::export::job::{ExportJob, ExportState};
use orgsvc_domain::{ExportId, OrganizationId, UserId};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ExportFields {
    pub organization_id: String,
    pub requested_by: String,
    pub requested_at_ms: i64,
    pub state: String,
    pub attempt: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    pub until_ms: i64,
    pub documents: u64,
    /// Absent until the attempt's snapshot is open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub documents_total: Option<u64>,
    pub bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<i64>,
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Unknown(anyhow::anyhow!("corrupt export job: {what}"))
}

fn time(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .ok_or_else(|| corrupt(format!("time {ms}")))
}

fn uuid(raw: &str) -> Result<uuid::Uuid, StoreError> {
    raw.parse().map_err(corrupt)
}

impl ExportFields {
    pub fn from_domain(job: &ExportJob) -> Self {
        Self {
            organization_id: job.organization_id.to_string(),
            requested_by: job.requested_by.to_string(),
            requested_at_ms: job.requested_at.timestamp_millis(),
            state: job.state.as_str().to_owned(),
            attempt: job.attempt,
            owner: job.owner.clone(),
            until_ms: job.until.timestamp_millis(),
            documents: job.documents,
            documents_total: job.documents_total,
            bytes: job.bytes,
            sha256: job.sha256.clone(),
            error: job.error.clone(),
            finished_at_ms: job.finished_at.map(|t| t.timestamp_millis()),
            expires_at_ms: job.expires_at.map(|t| t.timestamp_millis()),
        }
    }

    /// # Errors
    /// A field that does not parse.
    pub fn into_domain(self, id: &str) -> Result<ExportJob, StoreError> {
        Ok(ExportJob {
            id: ExportId::from_uuid(uuid(id)?),
            organization_id: OrganizationId::from_uuid(uuid(&self.organization_id)?),
            requested_by: UserId::from_uuid(uuid(&self.requested_by)?),
            requested_at: time(self.requested_at_ms)?,
            state: ExportState::parse(&self.state).ok_or_else(|| corrupt(&self.state))?,
            attempt: self.attempt,
            owner: self.owner,
            until: time(self.until_ms)?,
            documents: self.documents,
            documents_total: self.documents_total,
            bytes: self.bytes,
            sha256: self.sha256,
            error: self.error,
            finished_at: self.finished_at_ms.map(time).transpose()?,
            expires_at: self.expires_at_ms.map(time).transpose()?,
        })
    }
}
