use chrono::{DateTime, Utc};
use orgsvc_domain::export::job::{ExportJob, ExportState};
use orgsvc_domain::ExportId;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::problem::ApiError;

/// Where an export stands.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExportStateDto {
    /// Waiting for a worker (again, after an attempt that is retried).
    Queued,
    /// Its bundle is being written.
    Running,
    /// The bundle can be downloaded at `bundle_url` until `expires_at`.
    Done,
    /// It could not be made; `error` says why. Ask for a new one.
    Failed,
}

impl From<ExportState> for ExportStateDto {
    fn from(state: ExportState) -> Self {
        match state {
            ExportState::Queued => Self::Queued,
            ExportState::Running => Self::Running,
            ExportState::Done => Self::Done,
            ExportState::Failed => Self::Failed,
        }
    }
}

/// An export of your organization: its state, progress and, once done, its bundle.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportResponse {
    pub id: Uuid,
    pub state: ExportStateDto,
    pub requested_at: DateTime<Utc>,
    /// Documents written so far (all of them once done).
    #[schema(example = 1200)]
    pub documents: u64,
    /// Documents in the export's snapshot, once it is open (on MongoDB counted right after
    /// it opened, so writes racing the opening may make it differ slightly from `documents`
    /// when done).
    pub documents_total: Option<u64>,
    /// Bytes of the bundle written so far (its size once done).
    pub bytes: u64,
    /// The attempt under way or finished: above 1 when an attempt was started again (its
    /// worker stopped, or its snapshot was lost).
    pub attempt: u32,
    /// The bundle's SHA-256 (hex), once done: what `orgsvc verify-bundle` prints, and what the
    /// receipt of the organization's deletion names.
    pub sha256: Option<String>,
    /// Why a failed export failed.
    pub error: Option<String>,
    pub finished_at: Option<DateTime<Utc>>,
    /// When a finished export and its bundle are deleted (`exports.retention_hours`).
    pub expires_at: Option<DateTime<Utc>>,
    /// Where to download the bundle, once done.
    #[schema(example = "/org/exports/01939a4c-7f00-7000-8000-000000000000/bundle")]
    pub bundle_url: Option<String>,
}

impl From<ExportJob> for ExportResponse {
    fn from(job: ExportJob) -> Self {
        Self {
            id: *job.id.as_uuid(),
            bundle_url: (job.state == ExportState::Done)
                .then(|| format!("/org/exports/{}/bundle", job.id)),
            state: job.state.into(),
            requested_at: job.requested_at,
            documents: job.documents,
            documents_total: job.documents_total,
            bytes: job.bytes,
            attempt: job.attempt,
            sha256: job.sha256,
            error: job.error,
            finished_at: job.finished_at,
            expires_at: job.expires_at,
        }
    }
}

/// A bundle as downloaded: the file's bytes.
#[derive(Debug, ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct BundleFile(pub Vec<u8>);

/// An export id in a path.
///
/// # Errors
/// A validation error naming `id`.
pub fn export_id(raw: &str) -> Result<ExportId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::field("id", "must be an export id (a UUID)"))
}
