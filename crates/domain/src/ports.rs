//! Everything orgsvc needs from the outside world. Each method states the contract adapters must
//! honour; the storage contract tests (`orgsvc-storage`) check every adapter against it.
//!
//! Organization lifecycle operations (create, update with rename, delete) touch both the master
//! records and the tenant collection. They are single port methods on purpose: only the adapter
//! knows how to make them crash-safe (one redb write transaction; MongoDB intents plus recovery),
//! so the domain never stitches together steps that could be interrupted half way.

use std::future::Future;
use std::net::{IpAddr, Ipv6Addr};

use chrono::{DateTime, SubsecRound as _, Utc};

use crate::api_keys::{KeyGrant, Scope};
use crate::audit::AuditEvent;
use crate::deletion::{DeletionRecord, DeletionRequest};
use crate::document::{Document, DocumentPage};
use crate::errors::{
    CreateOrganizationError, DeleteOrganizationError, DocumentError, HashError, SaveRosterError,
    SnapshotError, StoreError, UpdateOrganizationError,
};
use crate::export::job::{Enqueued, ExportJob, ExportOutcome, ExportProgress};
use crate::ids::{AuditEventId, DeletionReceiptId, DocumentId, ExportId, OrganizationId, UserId};
use crate::members::{Membership, Roster};
use crate::organization::{Organization, OrganizationName, Placement, Slug};
use crate::roles::Role;
use crate::user::{EmailAddress, Password, PasswordHash, User};
use crate::webhooks::{
    OutboxClaim, OutboxProgress, Replay, WebhookEvent, WebhookSecret, WebhookUrl,
};

/// What an admin asks to change about their organization, resolved by the service.
#[derive(Debug, Clone)]
pub struct OrganizationChange {
    pub organization_id: OrganizationId,
    /// The admin whose email and password change.
    pub user_id: UserId,
    /// The desired name; when its slug differs from the current one the tenant collection moves.
    pub name: OrganizationName,
    pub email: Option<EmailAddress>,
    pub password_hash: Option<PasswordHash>,
    pub updated_at: DateTime<Utc>,
}

/// Who founds a new organization and becomes its first owner.
#[derive(Clone, Copy, Debug)]
pub enum Founder<'a> {
    /// A new user, created with the organization.
    New(&'a User),
    /// A user who exists already (signed in, creating another organization).
    Existing(&'a UserId),
}

impl Founder<'_> {
    #[must_use]
    pub const fn id(&self) -> &UserId {
        match self {
            Self::New(admin) => &admin.id,
            Self::Existing(id) => id,
        }
    }
}

/// The master store: organizations, their users and their tenant collections' lifecycles.
pub trait OrganizationStore: Clone + Send + Sync + 'static {
    /// Where the new organization `organization`'s documents go (the adapter's placement
    /// policy and tenancy model; a database of its own is named after its id).
    ///
    /// # Errors
    /// [`StoreError`] when the policy needs data it cannot read.
    fn place_new_organization(
        &self,
        organization: &OrganizationId,
    ) -> impl Future<Output = Result<Placement, StoreError>> + Send;

    /// Records the organization, its roster ([`Roster::founded`]: the founder as its one owner)
    /// and a new founder's user, and creates its empty tenant collection
    /// (`organization.collection_name()`), all or nothing: after a crash at any point either all
    /// of it exists or none of it does. `organization.owner` names the founder.
    ///
    /// # Errors
    /// - MUST return [`CreateOrganizationError::NameTaken`] when an organization with the same
    ///   slug exists, also when another create of that slug races this one (exactly one wins).
    /// - MUST return [`CreateOrganizationError::EmailTaken`] when a new founder's email is any
    ///   user's.
    /// - MUST return [`CreateOrganizationError::FounderGone`] when an existing founder no
    ///   longer exists.
    /// - [`CreateOrganizationError::Store`] for storage failures; nothing is left behind.
    fn create_organization(
        &self,
        organization: &Organization,
        founder: Founder<'_>,
    ) -> impl Future<Output = Result<(), CreateOrganizationError>> + Send;

    /// # Errors
    /// [`StoreError`] only; a missing organization is `Ok(None)`.
    fn find_organization_by_slug(
        &self,
        slug: &Slug,
    ) -> impl Future<Output = Result<Option<Organization>, StoreError>> + Send;

    /// # Errors
    /// [`StoreError`] only; a missing organization is `Ok(None)`.
    fn find_organization_by_id(
        &self,
        id: &OrganizationId,
    ) -> impl Future<Output = Result<Option<Organization>, StoreError>> + Send;

    /// # Errors
    /// [`StoreError`] only; an unknown email is `Ok(None)`.
    fn find_user_by_email(
        &self,
        email: &EmailAddress,
    ) -> impl Future<Output = Result<Option<User>, StoreError>> + Send;

    /// # Errors
    /// [`StoreError`] only; an unknown id is `Ok(None)`.
    fn find_user_by_id(
        &self,
        id: &UserId,
    ) -> impl Future<Output = Result<Option<User>, StoreError>> + Send;

    /// Applies `change` all or nothing and returns the organization as it is afterwards. A new
    /// email or password hash also raises the admin's token version by one. When the
    /// slug changes, every document of the old tenant collection ends up in the new one, the old
    /// collection is gone and the organization id is unchanged; after a crash at any point the
    /// organization is either entirely renamed or entirely not.
    ///
    /// # Errors
    /// - MUST return [`UpdateOrganizationError::NotFound`] when the organization does not exist
    ///   or `change.admin_id` is not one of its members.
    /// - MUST return [`UpdateOrganizationError::NameTaken`] when another organization has the new
    ///   slug (keeping one's own slug with a different spelling is fine).
    /// - MUST return [`UpdateOrganizationError::EmailTaken`] when another admin has the new email.
    /// - MUST return [`UpdateOrganizationError::Forbidden`] when the name changes (in any
    ///   spelling) and the admin's role in the organization, as stored when the change is made,
    ///   does not allow renaming; decided in the same atomic step as the change, so a rename
    ///   never lands after a demotion or removal was acknowledged.
    fn update_organization(
        &self,
        change: &OrganizationChange,
    ) -> impl Future<Output = Result<Organization, UpdateOrganizationError>> + Send;

    /// Raises the admin's token version by one, revoking every token issued before.
    ///
    /// # Errors
    /// [`StoreError`] only; an unknown admin is not an error (its tokens are dead anyway).
    fn revoke_tokens(&self, admin: &UserId) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Removes the organization, its roster, its tenant collection and every member who
    /// belongs to no other organization, all or nothing, and keeps the record of what it
    /// removed (under `request.receipt_id`, until `request.retention` after completion) in the
    /// same write that completes it: a deletion a crash interrupts is completed by recovery,
    /// record included.
    ///
    /// # Errors
    /// MUST return [`DeleteOrganizationError::NotFound`] when no organization has `id`.
    fn delete_organization(
        &self,
        id: &OrganizationId,
        request: &DeletionRequest,
    ) -> impl Future<Output = Result<DeletionRecord, DeleteOrganizationError>> + Send;

    /// The record of a completed deletion, until it expires.
    ///
    /// # Errors
    /// [`StoreError`] only.
    fn deletion_record(
        &self,
        id: &DeletionReceiptId,
    ) -> impl Future<Output = Result<Option<DeletionRecord>, StoreError>> + Send;

    /// How many organizations exist (for the metrics gauge; an adapter may answer from an
    /// estimate that counts an organization being created or deleted right now).
    ///
    /// # Errors
    /// [`StoreError`] only.
    fn count_organizations(&self) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Whether the store can serve requests now, answered within a bounded time.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when it cannot.
    fn ping(&self) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Who belongs to which organization: each organization's [`Roster`], kept beside its record.
pub trait MemberStore: Clone + Send + Sync + 'static {
    /// # Errors
    /// [`StoreError`] only; an organization that does not exist (or not yet, or no longer)
    /// is `Ok(None)`.
    fn find_roster(
        &self,
        organization: &OrganizationId,
    ) -> impl Future<Output = Result<Option<Roster>, StoreError>> + Send;

    /// `user`'s role in `organization` (what every authenticated request checks): the role its
    /// roster gives them, `None` when it lists them not or the organization does not exist. By
    /// default read from [`Self::find_roster`]; a cache answers it without copying the roster.
    ///
    /// # Errors
    /// [`StoreError`] only.
    fn role_in(
        &self,
        organization: &OrganizationId,
        user: &UserId,
    ) -> impl Future<Output = Result<Option<Role>, StoreError>> + Send {
        async move {
            Ok(self
                .find_roster(organization)
                .await?
                .and_then(|roster| roster.role_of(user)))
        }
    }

    /// Every organization `user` belongs to, with the role held there.
    ///
    /// # Errors
    /// [`StoreError`] only.
    fn memberships_of(
        &self,
        user: &UserId,
    ) -> impl Future<Output = Result<Vec<Membership>, StoreError>> + Send;

    /// Writes `roster` in place of the stored one if that is still at `roster.version` (and
    /// stores it at the next version), creating `joining` first when given (a new user who
    /// joins by this change). Members the change removed are removed as users too when they
    /// belong to no organization any more. The roster, `joining` and those removals are one
    /// atomic change, also against concurrent changes of other rosters: no user any roster
    /// lists is ever missing, and after a crash either all of it happened or none.
    ///
    /// # Errors
    /// - MUST return [`SaveRosterError::Conflict`] when the stored roster is at another
    ///   version, the organization is gone, or a member it adds (other than `joining`) is no
    ///   user any more (nothing is written).
    /// - MUST return [`SaveRosterError::EmailTaken`] when `joining`'s email is a user's.
    fn save_roster(
        &self,
        roster: &Roster,
        joining: Option<&User>,
    ) -> impl Future<Output = Result<(), SaveRosterError>> + Send;

    /// The users with these ids that exist, in no particular order.
    ///
    /// # Errors
    /// [`StoreError`] only.
    fn find_users(
        &self,
        ids: &[UserId],
    ) -> impl Future<Output = Result<Vec<User>, StoreError>> + Send;
}

/// What the store says about a login attempt before the password is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// The attempt is counted; `attempt` is its number since the last success or lock (1 for
    /// the first), `locks` how many times the account was locked since its last success, and
    /// `previous_at` when the attempt before this one in the same count was made (`None` for
    /// the first).
    Admitted {
        attempt: u32,
        locks: u32,
        previous_at: Option<DateTime<Utc>>,
    },
    /// The account is locked until then; nothing was counted.
    Locked { until: DateTime<Utc> },
}

/// What the login throttle counts attempts against: an account (its email, whether or not a user
/// has it) from every address together, or an account as tried from one client address.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AttemptKey(String);

impl AttemptKey {
    /// The account alone. Its form is the bare email, which is what counters were keyed by
    /// before addresses were counted apart, so those stay meaningful.
    #[must_use]
    pub fn account(email: &EmailAddress) -> Self {
        Self(email.as_str().to_owned())
    }

    /// The account as tried from `ip` (`None`: an unknown address, all counted as one). IPv6
    /// clients are counted by their /64, the block one subscriber holds, so that walking through
    /// its addresses does not buy fresh attempts.
    #[must_use]
    pub fn from_address(email: &EmailAddress, ip: Option<IpAddr>) -> Self {
        // A space cannot occur in an email address, so the two forms never collide.
        let source = match ip.map(|ip| ip.to_canonical()) {
            Some(IpAddr::V4(v4)) => v4.to_string(),
            Some(IpAddr::V6(v6)) => {
                let block = Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX));
                format!("{block}/64")
            }
            None => "unknown".to_owned(),
        };
        Self(format!("{} from {source}", email.as_str()))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Login attempts per [`AttemptKey`], shared by every instance on the same store so that the
/// limits hold across them.
pub trait LoginAttempts: Clone + Send + Sync + 'static {
    /// Atomically: [`Admission::Locked`] when `key` is locked at `now`, otherwise counts one
    /// more attempt and answers its number. Concurrent calls get distinct numbers.
    ///
    /// # Errors
    /// [`StoreError`] only.
    fn begin_login_attempt(
        &self,
        key: &AttemptKey,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Admission, StoreError>> + Send;

    /// Locks `key` until `until`: the attempt count starts again at 0 and the lock count rises
    /// by one.
    ///
    /// # Errors
    /// [`StoreError`] only.
    fn lock_login(
        &self,
        key: &AttemptKey,
        until: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Takes back one attempt counted on each of these keys that was never checked (another
    /// count refused it, or the hasher was too busy), so that only checked guesses count.
    ///
    /// # Errors
    /// [`StoreError`] only.
    fn release_login_attempts(
        &self,
        keys: &[AttemptKey],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Forgets these keys' attempts and locks (after a successful login), in one step.
    ///
    /// # Errors
    /// [`StoreError`] only.
    fn clear_login_attempts(
        &self,
        keys: &[AttemptKey],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The documents inside tenant collections. Callers name the organization, never a collection:
/// the adapter resolves the organization's current collection itself, so a concurrent rename
/// cannot send a write to a collection that is about to disappear.
pub trait TenantStore: Clone + Send + Sync + 'static {
    /// # Errors
    /// MUST return [`DocumentError::OrganizationNotFound`] when the organization does not exist.
    fn insert_document(
        &self,
        organization: &OrganizationId,
        document: &Document,
    ) -> impl Future<Output = Result<(), DocumentError>> + Send;

    /// # Errors
    /// [`DocumentError::OrganizationNotFound`]; a missing document is `Ok(None)`.
    fn get_document(
        &self,
        organization: &OrganizationId,
        id: &DocumentId,
    ) -> impl Future<Output = Result<Option<Document>, DocumentError>> + Send;

    /// Up to `limit` documents with ids greater than `after` (from the start when `None`), in
    /// ascending id order.
    ///
    /// # Errors
    /// [`DocumentError::OrganizationNotFound`].
    fn list_documents(
        &self,
        organization: &OrganizationId,
        after: Option<&DocumentId>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Document>, DocumentError>> + Send;

    /// Replaces the body of an existing document.
    ///
    /// # Errors
    /// [`DocumentError::OrganizationNotFound`]; MUST return [`DocumentError::NotFound`] when the
    /// document does not exist (it is not created).
    fn replace_document(
        &self,
        organization: &OrganizationId,
        document: &Document,
    ) -> impl Future<Output = Result<(), DocumentError>> + Send;

    /// # Errors
    /// [`DocumentError::OrganizationNotFound`]; MUST return [`DocumentError::NotFound`] when the
    /// document does not exist.
    fn delete_document(
        &self,
        organization: &OrganizationId,
        id: &DocumentId,
    ) -> impl Future<Output = Result<(), DocumentError>> + Send;
}

/// How long a snapshot stays reserved for its export without a page being read. Past it,
/// another export of the organization may take the snapshot over (the first one's next page
/// answers [`SnapshotError::Lost`]); until then, that one is told [`SnapshotError::Busy`].
pub const SNAPSHOT_LEASE: std::time::Duration = std::time::Duration::from_secs(300);

/// Point-in-time reads of an organization's documents, for exports. A snapshot shows the
/// documents as they were at one moment between the call that opened it and its answer: every
/// write acknowledged before the call is in it, no write begun after the answer is, and each
/// document is one version that existed at that moment; while writes, renames and moves go on.
/// One snapshot per organization at a time.
pub trait DocumentSnapshots: Clone + Send + Sync + 'static {
    /// Opens the snapshot `export` of the organization's documents and answers how many it
    /// holds, for progress: exactly, or (MongoDB) counted right after the opening, so that
    /// writes racing it may make the count differ from the snapshot by their number.
    ///
    /// # Errors
    /// [`SnapshotError::OrganizationNotFound`]; [`SnapshotError::Busy`] while another export
    /// holds the organization's snapshot (the same `export` again is not an error: it is open).
    fn open_snapshot(
        &self,
        organization: &OrganizationId,
        export: &ExportId,
    ) -> impl Future<Output = Result<u64, SnapshotError>> + Send;

    /// The snapshot's documents with ids greater than `after`, in ascending id order: at most
    /// `limit`, and possibly none with `next` set (documents created after the snapshot are
    /// skipped). `next` is `None` once every document has been returned. Reading a page renews
    /// the snapshot's lease.
    ///
    /// # Errors
    /// [`SnapshotError::Lost`] when the snapshot is not open (the export starts again);
    /// [`SnapshotError::OrganizationNotFound`].
    fn snapshot_page(
        &self,
        organization: &OrganizationId,
        export: &ExportId,
        after: Option<&DocumentId>,
        limit: usize,
    ) -> impl Future<Output = Result<DocumentPage, SnapshotError>> + Send;

    /// Keeps `sha256` as the digest of the organization's last completed export (its bundle),
    /// for the receipt of its deletion.
    ///
    /// # Errors
    /// [`StoreError`] only; an organization that is gone is not an error.
    fn record_export(
        &self,
        organization: &OrganizationId,
        sha256: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Closes the snapshot and lets go of what it kept; closing one that is not open does
    /// nothing.
    ///
    /// # Errors
    /// [`StoreError`] only.
    fn close_snapshot(
        &self,
        organization: &OrganizationId,
        export: &ExportId,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Export jobs and their bundles (see [`crate::export::job`]).
pub trait ExportJobs: Clone + Send + Sync + 'static {
    /// Records `job` (queued), unless the organization has an export queued or running
    /// already ([`Enqueued::InProgress`] with its id: at most one, also when two requests
    /// race) or `max_active` exports are queued or running across all organizations
    /// ([`Enqueued::Full`]; concurrent requests may overshoot that bound by their number).
    /// Once queued, the organization's oldest finished jobs beyond
    /// [`crate::export::job::MAX_KEPT`] (the new one counted) are removed with their bundles.
    ///
    /// # Errors
    /// [`StoreError`] only.
    fn enqueue_export(
        &self,
        job: &ExportJob,
        max_active: usize,
    ) -> impl Future<Output = Result<Enqueued, StoreError>> + Send;

    /// The export `id` of `organization`; `None` when there is none, it is another
    /// organization's, or it expired before `now`.
    ///
    /// # Errors
    /// [`StoreError`] only.
    fn find_export(
        &self,
        organization: &OrganizationId,
        id: &ExportId,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<ExportJob>, StoreError>> + Send;

    /// Claims the longest-waiting job that is claimable at `now` ([`ExportJob::claimable`])
    /// for `owner` until `until` ([`ExportJob::claim`]) and answers it as claimed. Concurrent
    /// callers never get the same job while its claim holds.
    ///
    /// # Errors
    /// [`StoreError`] only.
    fn claim_export(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<ExportJob>, StoreError>> + Send;

    /// Stores chunk `seq` (from 0) of the bundle of `id`'s `attempt` and the attempt's
    /// `progress`, and renews the claim until `until`, in one atomic write, if `owner` holds
    /// the claim on that attempt ([`ExportJob::held_by`]). Answers whether it did; if not,
    /// nothing was written.
    ///
    /// # Errors
    /// [`StoreError`] only.
    #[allow(clippy::too_many_arguments)]
    fn append_export_chunk(
        &self,
        owner: &str,
        id: &ExportId,
        attempt: u32,
        seq: u32,
        chunk: &[u8],
        progress: ExportProgress,
        until: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Ends `owner`'s claim on `id`'s `attempt` as `outcome` says ([`ExportJob::finish`]), if
    /// it holds; answers whether it did. A done job's bundle is that attempt's chunks; every
    /// other chunk of the job is removed (all of them when it failed or is retried).
    ///
    /// # Errors
    /// [`StoreError`] only.
    fn finish_export(
        &self,
        owner: &str,
        id: &ExportId,
        attempt: u32,
        outcome: &ExportOutcome,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Chunk `seq` of the bundle of `id`'s `attempt`; `None` past its last chunk.
    ///
    /// # Errors
    /// [`StoreError`] only.
    fn export_chunk(
        &self,
        id: &ExportId,
        attempt: u32,
        seq: u32,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, StoreError>> + Send;

    /// Removes up to `limit` jobs that expired by `now`, each with its bundle (the chunks
    /// first, so a crash never leaves chunks without their job), and answers how many.
    ///
    /// # Errors
    /// [`StoreError`] only.
    fn purge_exports(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send;

    /// Removes every job of `organization` with its bundle (it was deleted: nothing of it may
    /// stay downloadable).
    ///
    /// # Errors
    /// [`StoreError`] only.
    fn discard_exports(
        &self,
        organization: &OrganizationId,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The append-only audit log.
pub trait AuditLog: Clone + Send + Sync + 'static {
    /// Appends `event`. Best-effort by contract: an adapter that cannot write it logs the
    /// failure itself and returns, so a change that happened is never answered as failed
    /// because its audit line was lost.
    fn record(&self, event: &AuditEvent) -> impl Future<Output = ()> + Send;

    /// Up to `limit` events of `organization` older than `after` (from the newest when
    /// `None`), newest first.
    ///
    /// # Errors
    /// [`StoreError`] only.
    fn list_audit_events(
        &self,
        organization: &OrganizationId,
        after: Option<&AuditEventId>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<AuditEvent>, StoreError>> + Send;
}

/// Each organization's webhook events, and where its endpoints' deliveries stand.
///
/// The events themselves are written by the changes they tell of, in the same atomic write
/// (an adapter's outbox): [`OrganizationStore::create_organization`] writes
/// `organization.created`; [`OrganizationStore::update_organization`] `organization.renamed`
/// when the name changes; a move of the tenant's data `organization.moved`;
/// [`OrganizationStore::delete_organization`] `organization.deleted` (keeping the endpoints
/// the organization had, to tell them); [`MemberStore::save_roster`] the
/// [`crate::webhooks::roster_events`] of the stored roster and the one written. Each event is
/// numbered one after the organization's previous one, in commit order; a change that fails
/// writes none.
pub trait Outbox: Clone + Send + Sync + 'static {
    /// Claims up to `limit` organizations whose deliveries are due at `now` (an event came
    /// after the last release, or a release asked to be woken by now) and not claimed by
    /// anyone else, for `owner` until `until`. Concurrent callers never get the same
    /// organization while its claim holds.
    ///
    /// # Errors
    /// [`StoreError`] only.
    fn claim_outboxes(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<OutboxClaim>, StoreError>> + Send;

    /// Up to `limit` of `organization`'s events after `after`, in order.
    ///
    /// # Errors
    /// [`StoreError`] only.
    fn outbox_events(
        &self,
        organization: &OrganizationId,
        after: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<WebhookEvent>, StoreError>> + Send;

    /// The `seq` of `organization`'s last event committed before `at` (0: none).
    ///
    /// # Errors
    /// [`StoreError`] only.
    fn outbox_seq_before(
        &self,
        organization: &OrganizationId,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Writes `progress` back if `claim` (by `owner`) still holds, removes the replay requests
    /// the claim had read, and ends the claim. The organization is due again at `wake`, or
    /// at once if an event or a replay request arrived since it was claimed; with neither,
    /// not before its next event. Answers whether the claim still held (if not, nothing was
    /// written).
    ///
    /// # Errors
    /// [`StoreError`] only.
    fn release_outbox(
        &self,
        owner: &str,
        claim: &OutboxClaim,
        progress: &OutboxProgress,
        wake: Option<DateTime<Utc>>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Removes a deleted organization's events and progress (every endpoint was told), if
    /// `owner`'s claim still holds.
    ///
    /// # Errors
    /// [`StoreError`] only.
    fn purge_outbox(
        &self,
        owner: &str,
        organization: &OrganizationId,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// `organization`'s delivery progress as last released (empty when none).
    ///
    /// # Errors
    /// [`StoreError`] only.
    fn outbox_progress(
        &self,
        organization: &OrganizationId,
    ) -> impl Future<Output = Result<OutboxProgress, StoreError>> + Send;

    /// Queues `replay` for the worker and makes the organization due at once; `false` when
    /// [`crate::webhooks::MAX_REPLAYS`] are waiting already.
    ///
    /// # Errors
    /// [`StoreError`] only.
    fn request_replay(
        &self,
        organization: &OrganizationId,
        replay: &Replay,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// Everything the service needs from storage, as one bound.
pub trait Store:
    OrganizationStore
    + MemberStore
    + TenantStore
    + DocumentSnapshots
    + ExportJobs
    + LoginAttempts
    + AuditLog
    + Outbox
{
}

impl<S> Store for S where
    S: OrganizationStore
        + MemberStore
        + TenantStore
        + DocumentSnapshots
        + ExportJobs
        + LoginAttempts
        + AuditLog
        + Outbox
{
}

/// One signed delivery to make.
#[derive(Clone, Copy, Debug)]
pub struct Delivery<'a> {
    pub url: &'a WebhookUrl,
    /// The `webhook-id`.
    pub id: &'a str,
    /// The `webhook-timestamp`: seconds since the epoch, when sent.
    pub timestamp: i64,
    pub body: &'a [u8],
    pub secrets: &'a [&'a WebhookSecret],
}

/// Why a delivery did not succeed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryFailure {
    /// The receiver's status when it answered other than 2xx.
    pub status: Option<u16>,
    pub reason: String,
}

/// Sends webhooks: signed per Standard Webhooks, to public addresses only unless the policy
/// allows others, within a bounded time.
pub trait WebhookTransport: Clone + Send + Sync + 'static {
    /// The receiver's 2xx status.
    ///
    /// # Errors
    /// [`DeliveryFailure`] for any other answer, a refused target, a timeout or a network
    /// failure.
    fn send(
        &self,
        delivery: Delivery<'_>,
    ) -> impl Future<Output = Result<u16, DeliveryFailure>> + Send;
}

/// Slow, salted password hashing. Implementations run the work off the async executor, on a
/// bounded number of workers behind a bounded queue.
pub trait PasswordHasher: Clone + Send + Sync + 'static {
    /// # Errors
    /// MUST return [`HashError::Overloaded`] at once, without hashing, when the queue is full;
    /// [`HashError::Failed`] on an internal failure of the hashing library.
    fn hash(
        &self,
        password: &Password,
    ) -> impl Future<Output = Result<PasswordHash, HashError>> + Send;

    /// Whether `password` matches `hash`. With `hash = None` (unknown account) it MUST do the same
    /// amount of work as a real verification and return `false`, so that response times do not
    /// reveal which accounts exist.
    ///
    /// # Errors
    /// [`HashError::Overloaded`] as for [`Self::hash`]; [`HashError::Failed`] on an internal
    /// failure (a stored hash that cannot be parsed is an error, not `false`).
    fn verify(
        &self,
        password: &Password,
        hash: Option<&PasswordHash>,
    ) -> impl Future<Output = Result<bool, HashError>> + Send;
}

/// Who a request acts for, as proven by a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Principal {
    pub user_id: UserId,
    pub organization_id: OrganizationId,
    /// The caller's role in that organization when the token was issued; a token whose role
    /// is no longer the caller's is refused.
    pub role: Role,
    /// The admin's token version when the token was issued; an older one is revoked.
    pub token_version: u64,
    /// Set when an organization's API key made the request: it may do only what its scopes
    /// allow, and `user_id` / `role` are its creator's (a key never does more than they may).
    pub key: Option<KeyGrant>,
}

impl Principal {
    /// Whether this caller may do what `scope` names: within the key's scopes for a key, and
    /// within the role either way.
    #[must_use]
    pub fn grants(&self, scope: Scope) -> bool {
        self.key.is_none_or(|key| key.scopes.contains(scope))
            && self.role.allows(scope.permission())
    }
}

/// A freshly issued bearer token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedToken {
    pub access_token: String,
    pub expires_in_seconds: u64,
}

/// Issues and checks signed bearer tokens.
pub trait TokenCodec: Clone + Send + Sync + 'static {
    /// # Errors
    /// Only on an internal failure of the signing library.
    fn issue(
        &self,
        principal: &Principal,
        now: DateTime<Utc>,
    ) -> Result<IssuedToken, anyhow::Error>;

    /// The principal a token was issued to, if its signature, algorithm, issuer, audience and
    /// expiry all check out. `None` for anything else.
    fn verify(&self, token: &str) -> Option<Principal>;

    /// `claims` with this issuer's `iss` added, and as a compact JWS of type `typ` signed with
    /// the current token key and naming it (`kid`): verifiable with the published JWKS.
    ///
    /// # Errors
    /// Only on an internal failure of the signing library.
    fn sign(
        &self,
        typ: &str,
        claims: serde_json::Value,
    ) -> Result<(String, serde_json::Value), anyhow::Error>;
}

/// The time, as a port so that tests control it.
pub trait Clock: Clone + Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The real clock, to the millisecond: the precision every storage backend keeps (BSON dates
/// are milliseconds), so a stored time reads back equal to the one written.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now().trunc_subsecs(3)
    }
}

/// The driven ports' traits, imported anonymously, for code that calls them through
/// [`crate::service::Ports`]' associated types (whose bounds do not bring methods into scope).
pub mod prelude {
    pub use super::{
        AuditLog as _, Clock as _, DocumentSnapshots as _, ExportJobs as _, LoginAttempts as _,
        MemberStore as _, OrganizationStore as _, Outbox as _, PasswordHasher as _,
        TenantStore as _, TokenCodec as _,
    };
}
