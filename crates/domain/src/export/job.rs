//! Export jobs: exports an owner asks for over the API. Any instance may work one (it claims
//! the job for a lease, renewed as the bundle is written); the bundle is kept in the store in
//! chunks, so every instance can serve its download, until the job expires.

use chrono::{DateTime, Utc};

use crate::ids::{ExportId, OrganizationId, UserId};

/// The size of a stored bundle's chunks (the last one is shorter): well under MongoDB's
/// 16 MiB document limit, and few enough writes that each one may also renew the claim.
pub const BUNDLE_CHUNK: usize = 1024 * 1024;

/// Export jobs kept per organization, the one being queued included: queuing a new one removes
/// the oldest finished ones beyond this, bundles and all, so that an owner exporting again and
/// again keeps a bounded number of bundles.
pub const MAX_KEPT: usize = 10;

/// Attempts a job gets: each claim starts one, so a job whose worker keeps dying (or whose
/// snapshot keeps being lost) fails instead of going round for ever.
pub const MAX_ATTEMPTS: u32 = 5;

/// Where an export job stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportState {
    /// Waiting for a worker (again, after a failed attempt that may be retried).
    Queued,
    /// A worker is writing the bundle.
    Running,
    /// The bundle is complete and can be downloaded until the job expires.
    Done,
    /// It could not be made; `error` says why.
    Failed,
}

impl ExportState {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Done => "done",
            Self::Failed => "failed",
        }
    }

    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        [Self::Queued, Self::Running, Self::Done, Self::Failed]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }

    /// Queued or running: the organization's one export in progress.
    #[must_use]
    pub const fn is_active(self) -> bool {
        matches!(self, Self::Queued | Self::Running)
    }
}

/// One export asked for over the API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportJob {
    /// Also the id of its snapshot and of the bundle's header.
    pub id: ExportId,
    pub organization_id: OrganizationId,
    pub requested_by: UserId,
    pub requested_at: DateTime<Utc>,
    pub state: ExportState,
    /// The attempt under way or finished (0 before the first claim). Each attempt writes a
    /// bundle of its own; the finished job's bundle is its last attempt's.
    pub attempt: u32,
    /// The worker holding a running job; `None` otherwise.
    pub owner: Option<String>,
    /// A running job's claim ends then; a queued one may be claimed from then on.
    pub until: DateTime<Utc>,
    /// Documents written so far (all of them, once done).
    pub documents: u64,
    /// Documents in the running attempt's snapshot, once it is open.
    pub documents_total: Option<u64>,
    /// Bytes of the bundle written so far (its size, once done).
    pub bytes: u64,
    /// The finished bundle's SHA-256, in hex.
    pub sha256: Option<String>,
    /// Why a failed job failed, in words for its owner.
    pub error: Option<String>,
    pub finished_at: Option<DateTime<Utc>>,
    /// A finished job (and its bundle) is deleted then.
    pub expires_at: Option<DateTime<Utc>>,
}

impl ExportJob {
    /// A new job, claimable at once.
    #[must_use]
    pub const fn queued(
        id: ExportId,
        organization_id: OrganizationId,
        requested_by: UserId,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id,
            organization_id,
            requested_by,
            requested_at: now,
            state: ExportState::Queued,
            attempt: 0,
            owner: None,
            until: now,
            documents: 0,
            documents_total: None,
            bytes: 0,
            sha256: None,
            error: None,
            finished_at: None,
            expires_at: None,
        }
    }

    /// Whether a worker may claim it at `now`: queued and due, or running with its claim over.
    #[must_use]
    pub fn claimable(&self, now: DateTime<Utc>) -> bool {
        self.state.is_active() && self.until <= now
    }

    /// Whether it is gone for its owner at `now` (a store may delete it a little later).
    #[must_use]
    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }

    /// The job as claimed by `owner` until `until`: running, its next attempt, from scratch.
    pub fn claim(&mut self, owner: &str, until: DateTime<Utc>) {
        self.state = ExportState::Running;
        self.attempt += 1;
        self.owner = Some(owner.to_owned());
        self.until = until;
        self.documents = 0;
        self.documents_total = None;
        self.bytes = 0;
    }

    /// The job as a chunk written with `progress` leaves it, its claim renewed until `until`.
    pub fn advance(&mut self, progress: ExportProgress, until: DateTime<Utc>) {
        self.documents = progress.documents;
        self.documents_total = Some(progress.total);
        self.bytes = progress.bytes;
        self.until = until;
    }

    /// Whether `owner` holds the claim on `attempt` (the store checks this at each write).
    #[must_use]
    pub fn held_by(&self, owner: &str, attempt: u32) -> bool {
        self.state == ExportState::Running
            && self.attempt == attempt
            && self.owner.as_deref() == Some(owner)
    }

    /// The job as `outcome` leaves it.
    pub fn finish(&mut self, outcome: &ExportOutcome) {
        self.owner = None;
        match outcome {
            ExportOutcome::Done {
                sha256,
                documents,
                bytes,
                at,
                expires_at,
            } => {
                self.state = ExportState::Done;
                self.sha256 = Some(sha256.clone());
                self.documents = *documents;
                self.documents_total = Some(*documents);
                self.bytes = *bytes;
                self.finished_at = Some(*at);
                self.expires_at = Some(*expires_at);
            }
            ExportOutcome::Failed {
                reason,
                at,
                expires_at,
            } => {
                self.state = ExportState::Failed;
                self.error = Some(reason.clone());
                self.finished_at = Some(*at);
                self.expires_at = Some(*expires_at);
            }
            ExportOutcome::Retry { at } | ExportOutcome::Wait { at } => {
                self.state = ExportState::Queued;
                self.until = *at;
                self.documents = 0;
                self.documents_total = None;
                self.bytes = 0;
                if matches!(outcome, ExportOutcome::Wait { .. }) {
                    self.attempt -= 1;
                }
            }
        }
    }
}

/// How far a running attempt got, written with each chunk of its bundle.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExportProgress {
    pub documents: u64,
    /// Documents in the attempt's snapshot (see [`crate::ports::DocumentSnapshots`]).
    pub total: u64,
    pub bytes: u64,
}

/// How an attempt ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExportOutcome {
    /// The bundle is complete: these are its figures.
    Done {
        sha256: String,
        documents: u64,
        bytes: u64,
        at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    },
    /// It cannot be made.
    Failed {
        reason: String,
        at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    },
    /// Queued again, claimable from `at` (the snapshot was lost, or storage failed); the
    /// attempt's chunks are dropped, and it counts towards [`MAX_ATTEMPTS`].
    Retry { at: DateTime<Utc> },
    /// Queued again, claimable from `at`, without counting as an attempt: another export
    /// holds the organization's snapshot, so nothing was written.
    Wait { at: DateTime<Utc> },
}

/// What asking for an export came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Enqueued {
    Queued,
    /// The organization has this export queued or running already.
    InProgress(ExportId),
    /// As many exports as allowed are queued or running, across all organizations.
    Full,
}
