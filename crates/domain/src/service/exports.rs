//! Exports over the API: an owner asks for one, follows it, and downloads its bundle. The
//! bundle is written by a worker ([`Exporter`]) on whichever instance claims the job.

use std::future::Future;
use std::time::Duration;

use serde_json::json;

use crate::audit::{AuditAction, Origin, Outcome};
use crate::errors::ExportError;
use crate::export::job::{Enqueued, ExportJob, ExportState};
use crate::ids::ExportId;
use crate::ports::prelude::*;
use crate::ports::Principal;
use crate::roles::Permission;
use crate::service::access::authorize;
use crate::service::{Ports, Service};

mod worker;

pub use worker::{Attempted, Exporter};

/// Bounds and times of export jobs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExportPolicy {
    /// Exports queued or running at once, across all organizations; more are refused (503).
    pub max_active: usize,
    /// How long a finished export (its bundle, or its failure) is kept.
    pub retention: Duration,
    /// How long a worker's claim on a job holds without a chunk written.
    pub lease: Duration,
}

impl Default for ExportPolicy {
    fn default() -> Self {
        Self {
            max_active: 64,
            retention: Duration::from_secs(24 * 3_600),
            lease: Duration::from_secs(60),
        }
    }
}

/// Exports of the caller's organization: owners only, never an API key.
pub trait ExportApi: Clone + Send + Sync + 'static {
    /// Queues an export of the caller's organization.
    ///
    /// # Errors
    /// `Forbidden` below owner; `InProgress` while one is queued or running; `QueueFull`.
    fn request_export(
        &self,
        origin: &Origin,
        caller: &Principal,
    ) -> impl Future<Output = Result<ExportJob, ExportError>> + Send;

    /// Where the export `id` stands.
    ///
    /// # Errors
    /// `Forbidden` below owner; `NotFound`.
    fn export_job(
        &self,
        caller: &Principal,
        id: &ExportId,
    ) -> impl Future<Output = Result<ExportJob, ExportError>> + Send;

    /// The finished export `id`, to download with [`Self::bundle_chunk`]; the download is
    /// audited.
    ///
    /// # Errors
    /// `Forbidden`; `NotFound`; `NotReady` unless it is done.
    fn open_bundle(
        &self,
        origin: &Origin,
        caller: &Principal,
        id: &ExportId,
    ) -> impl Future<Output = Result<ExportJob, ExportError>> + Send;

    /// Chunk `seq` of the bundle of `job` (from [`Self::open_bundle`]); `None` after the last.
    ///
    /// # Errors
    /// A failing store.
    fn bundle_chunk(
        &self,
        job: &ExportJob,
        seq: u32,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, ExportError>> + Send;
}

impl<P: Ports> Service<P> {
    #[must_use]
    pub const fn with_export_policy(mut self, policy: ExportPolicy) -> Self {
        self.export_policy = policy;
        self
    }
}

impl<P: Ports> ExportApi for Service<P> {
    async fn request_export(
        &self,
        origin: &Origin,
        caller: &Principal,
    ) -> Result<ExportJob, ExportError> {
        authorize(caller, Permission::ExportOrganization)?;
        let job = ExportJob::queued(
            ExportId::generate(),
            caller.organization_id,
            caller.user_id,
            self.clock.now(),
        );
        match self
            .store
            .enqueue_export(&job, self.export_policy.max_active)
            .await?
        {
            Enqueued::Queued => {}
            Enqueued::InProgress(id) => return Err(ExportError::InProgress(id)),
            Enqueued::Full => return Err(ExportError::QueueFull),
        }
        self.audit(
            origin,
            caller.into(),
            AuditAction::ExportRequested,
            Outcome::Success,
            json!({"export_id": job.id.to_string()}),
        )
        .await;
        Ok(job)
    }

    async fn export_job(
        &self,
        caller: &Principal,
        id: &ExportId,
    ) -> Result<ExportJob, ExportError> {
        authorize(caller, Permission::ExportOrganization)?;
        self.store
            .find_export(&caller.organization_id, id, self.clock.now())
            .await?
            .ok_or(ExportError::NotFound)
    }

    async fn open_bundle(
        &self,
        origin: &Origin,
        caller: &Principal,
        id: &ExportId,
    ) -> Result<ExportJob, ExportError> {
        let job = self.export_job(caller, id).await?;
        if job.state != ExportState::Done {
            return Err(ExportError::NotReady(job.state));
        }
        self.audit(
            origin,
            caller.into(),
            AuditAction::ExportDownloaded,
            Outcome::Success,
            json!({"export_id": job.id.to_string(), "bytes": job.bytes}),
        )
        .await;
        Ok(job)
    }

    async fn bundle_chunk(
        &self,
        job: &ExportJob,
        seq: u32,
    ) -> Result<Option<Vec<u8>>, ExportError> {
        Ok(self.store.export_chunk(&job.id, job.attempt, seq).await?)
    }
}

#[cfg(test)]
mod tests;
