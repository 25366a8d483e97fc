//! The storage ports for the decorators ([`crate::Cached`], [`crate::Instrumented`]): each
//! port's methods are listed once here, and a decorator implements a port by naming one
//! expression that every call of it goes through, instead of one hand-written method per port
//! method. A new port method is added to the port, each adapter, and its list here.
//!
//! `AuditLog` is written by hand in each decorator: its `record` answers nothing (audit is
//! best effort by contract), so it does not fit an expression over a `Result`.

/// `decorate!(Port for Type, |this, operation, call| expr; fn method(arg: Ty, ..) -> Ret; ..)`
/// implements `Port` for `Type<S>`: in `expr`, `call` is the inner store's future for the
/// method, `operation` the method's name, and `this` the decorator.
macro_rules! decorate {
    (
        $port:ident for $decorator:ident, |$this:ident, $operation:ident, $call:ident| $via:expr;
        $(fn $method:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)+
    ) => {
        impl<S: orgsvc_domain::ports::$port> orgsvc_domain::ports::$port for $decorator<S> {
            $(
                async fn $method(&self, $($arg: $ty),*) -> $ret {
                    let ($this, $operation) = (self, stringify!($method));
                    let $call = self.inner.$method($($arg),*);
                    $via.await
                }
            )+
        }
    };
}

/// `decorate_organizations!(Type, |this, operation, call| expr)`: `OrganizationStore`.
macro_rules! decorate_organizations {
    ($($decorator:tt)+) => {
        crate::decorate::decorate!(OrganizationStore for $($decorator)+;
            fn place_new_organization(organization: &orgsvc_domain::OrganizationId)
                -> Result<orgsvc_domain::Placement, orgsvc_domain::errors::StoreError>;
            fn create_organization(
                organization: &orgsvc_domain::Organization,
                founder: orgsvc_domain::ports::Founder<'_>
            ) -> Result<(), orgsvc_domain::errors::CreateOrganizationError>;
            fn find_organization_by_slug(slug: &orgsvc_domain::Slug)
                -> Result<Option<orgsvc_domain::Organization>, orgsvc_domain::errors::StoreError>;
            fn find_organization_by_id(id: &orgsvc_domain::OrganizationId)
                -> Result<Option<orgsvc_domain::Organization>, orgsvc_domain::errors::StoreError>;
            fn find_user_by_email(email: &orgsvc_domain::EmailAddress)
                -> Result<Option<orgsvc_domain::User>, orgsvc_domain::errors::StoreError>;
            fn find_user_by_id(id: &orgsvc_domain::UserId)
                -> Result<Option<orgsvc_domain::User>, orgsvc_domain::errors::StoreError>;
            fn update_organization(change: &orgsvc_domain::ports::OrganizationChange)
                -> Result<orgsvc_domain::Organization, orgsvc_domain::errors::UpdateOrganizationError>;
            fn revoke_tokens(admin: &orgsvc_domain::UserId)
                -> Result<(), orgsvc_domain::errors::StoreError>;
            fn delete_organization(
                id: &orgsvc_domain::OrganizationId,
                request: &orgsvc_domain::deletion::DeletionRequest
            ) -> Result<orgsvc_domain::deletion::DeletionRecord, orgsvc_domain::errors::DeleteOrganizationError>;
            fn deletion_record(id: &orgsvc_domain::DeletionReceiptId)
                -> Result<Option<orgsvc_domain::deletion::DeletionRecord>, orgsvc_domain::errors::StoreError>;
            fn count_organizations() -> Result<u64, orgsvc_domain::errors::StoreError>;
            fn ping() -> Result<(), orgsvc_domain::errors::StoreError>;
        );
    };
}

/// `decorate_members!(Type, |this, operation, call| expr)`: `MemberStore`, `role_in` included
/// (the inner store's, which may answer without copying a roster).
macro_rules! decorate_members {
    ($($decorator:tt)+) => {
        crate::decorate::decorate!(MemberStore for $($decorator)+;
            fn find_roster(organization: &orgsvc_domain::OrganizationId)
                -> Result<Option<orgsvc_domain::Roster>, orgsvc_domain::errors::StoreError>;
            fn role_in(organization: &orgsvc_domain::OrganizationId, user: &orgsvc_domain::UserId)
                -> Result<Option<orgsvc_domain::Role>, orgsvc_domain::errors::StoreError>;
            fn memberships_of(user: &orgsvc_domain::UserId)
                -> Result<Vec<orgsvc_domain::Membership>, orgsvc_domain::errors::StoreError>;
            fn save_roster(roster: &orgsvc_domain::Roster, joining: Option<&orgsvc_domain::User>)
                -> Result<(), orgsvc_domain::errors::SaveRosterError>;
            fn find_users(ids: &[orgsvc_domain::UserId])
                -> Result<Vec<orgsvc_domain::User>, orgsvc_domain::errors::StoreError>;
        );
    };
}

/// `decorate_login_attempts!(Type, |this, operation, call| expr)`: `LoginAttempts`.
macro_rules! decorate_login_attempts {
    ($($decorator:tt)+) => {
        crate::decorate::decorate!(LoginAttempts for $($decorator)+;
            fn begin_login_attempt(
                key: &orgsvc_domain::ports::AttemptKey,
                now: chrono::DateTime<chrono::Utc>
            ) -> Result<orgsvc_domain::ports::Admission, orgsvc_domain::errors::StoreError>;
            fn lock_login(
                key: &orgsvc_domain::ports::AttemptKey,
                until: chrono::DateTime<chrono::Utc>
            ) -> Result<(), orgsvc_domain::errors::StoreError>;
            fn release_login_attempts(keys: &[orgsvc_domain::ports::AttemptKey])
                -> Result<(), orgsvc_domain::errors::StoreError>;
            fn clear_login_attempts(keys: &[orgsvc_domain::ports::AttemptKey])
                -> Result<(), orgsvc_domain::errors::StoreError>;
        );
    };
}

/// `decorate_documents!(Type, |this, operation, call| expr)`: `TenantStore`.
macro_rules! decorate_documents {
    ($($decorator:tt)+) => {
        crate::decorate::decorate!(TenantStore for $($decorator)+;
            fn insert_document(
                organization: &orgsvc_domain::OrganizationId,
                document: &orgsvc_domain::Document
            ) -> Result<(), orgsvc_domain::errors::DocumentError>;
            fn get_document(
                organization: &orgsvc_domain::OrganizationId,
                id: &orgsvc_domain::DocumentId
            ) -> Result<Option<orgsvc_domain::Document>, orgsvc_domain::errors::DocumentError>;
            fn list_documents(
                organization: &orgsvc_domain::OrganizationId,
                after: Option<&orgsvc_domain::DocumentId>,
                limit: usize
            ) -> Result<Vec<orgsvc_domain::Document>, orgsvc_domain::errors::DocumentError>;
            fn replace_document(
                organization: &orgsvc_domain::OrganizationId,
                document: &orgsvc_domain::Document
            ) -> Result<(), orgsvc_domain::errors::DocumentError>;
            fn delete_document(
                organization: &orgsvc_domain::OrganizationId,
                id: &orgsvc_domain::DocumentId
            ) -> Result<(), orgsvc_domain::errors::DocumentError>;
        );
    };
}

/// `decorate_snapshots!(Type, |this, operation, call| expr)`: `DocumentSnapshots`.
macro_rules! decorate_snapshots {
    ($($decorator:tt)+) => {
        crate::decorate::decorate!(DocumentSnapshots for $($decorator)+;
            fn open_snapshot(
                organization: &orgsvc_domain::OrganizationId,
                export: &orgsvc_domain::ExportId
            ) -> Result<u64, orgsvc_domain::errors::SnapshotError>;
            fn snapshot_page(
                organization: &orgsvc_domain::OrganizationId,
                export: &orgsvc_domain::ExportId,
                after: Option<&orgsvc_domain::DocumentId>,
                limit: usize
            ) -> Result<orgsvc_domain::DocumentPage, orgsvc_domain::errors::SnapshotError>;
            fn record_export(organization: &orgsvc_domain::OrganizationId, sha256: &str)
                -> Result<(), orgsvc_domain::errors::StoreError>;
            fn close_snapshot(
                organization: &orgsvc_domain::OrganizationId,
                export: &orgsvc_domain::ExportId
            ) -> Result<(), orgsvc_domain::errors::StoreError>;
        );
    };
}

/// `decorate_exports!(Type, |this, operation, call| expr)`: `ExportJobs`.
macro_rules! decorate_exports {
    ($($decorator:tt)+) => {
        crate::decorate::decorate!(ExportJobs for $($decorator)+;
            fn enqueue_export(job: &orgsvc_domain::export::job::ExportJob, max_active: usize)
                -> Result<orgsvc_domain::export::job::Enqueued, orgsvc_domain::errors::StoreError>;
            fn find_export(
                organization: &orgsvc_domain::OrganizationId,
                id: &orgsvc_domain::ExportId,
                now: chrono::DateTime<chrono::Utc>
            ) -> Result<Option<orgsvc_domain::export::job::ExportJob>, orgsvc_domain::errors::StoreError>;
            fn claim_export(
                owner: &str,
                now: chrono::DateTime<chrono::Utc>,
                until: chrono::DateTime<chrono::Utc>
            ) -> Result<Option<orgsvc_domain::export::job::ExportJob>, orgsvc_domain::errors::StoreError>;
            fn append_export_chunk(
                owner: &str,
                id: &orgsvc_domain::ExportId,
                attempt: u32,
                seq: u32,
                chunk: &[u8],
                progress: orgsvc_domain::export::job::ExportProgress,
                until: chrono::DateTime<chrono::Utc>
            ) -> Result<bool, orgsvc_domain::errors::StoreError>;
            fn finish_export(
                owner: &str,
                id: &orgsvc_domain::ExportId,
                attempt: u32,
                outcome: &orgsvc_domain::export::job::ExportOutcome
            ) -> Result<bool, orgsvc_domain::errors::StoreError>;
            fn export_chunk(id: &orgsvc_domain::ExportId, attempt: u32, seq: u32)
                -> Result<Option<Vec<u8>>, orgsvc_domain::errors::StoreError>;
            fn purge_exports(now: chrono::DateTime<chrono::Utc>, limit: usize)
                -> Result<usize, orgsvc_domain::errors::StoreError>;
            fn discard_exports(organization: &orgsvc_domain::OrganizationId)
                -> Result<(), orgsvc_domain::errors::StoreError>;
        );
    };
}

/// `decorate_outbox!(Type, |this, operation, call| expr)`: `Outbox`.
macro_rules! decorate_outbox {
    ($($decorator:tt)+) => {
        crate::decorate::decorate!(Outbox for $($decorator)+;
            fn claim_outboxes(
                owner: &str,
                now: chrono::DateTime<chrono::Utc>,
                until: chrono::DateTime<chrono::Utc>,
                limit: usize
            ) -> Result<Vec<orgsvc_domain::webhooks::OutboxClaim>, orgsvc_domain::errors::StoreError>;
            fn outbox_events(organization: &orgsvc_domain::OrganizationId, after: u64, limit: usize)
                -> Result<Vec<orgsvc_domain::webhooks::WebhookEvent>, orgsvc_domain::errors::StoreError>;
            fn outbox_seq_before(
                organization: &orgsvc_domain::OrganizationId,
                at: chrono::DateTime<chrono::Utc>
            ) -> Result<u64, orgsvc_domain::errors::StoreError>;
            fn release_outbox(
                owner: &str,
                claim: &orgsvc_domain::webhooks::OutboxClaim,
                progress: &orgsvc_domain::webhooks::OutboxProgress,
                wake: Option<chrono::DateTime<chrono::Utc>>
            ) -> Result<bool, orgsvc_domain::errors::StoreError>;
            fn purge_outbox(owner: &str, organization: &orgsvc_domain::OrganizationId)
                -> Result<(), orgsvc_domain::errors::StoreError>;
            fn outbox_progress(organization: &orgsvc_domain::OrganizationId)
                -> Result<orgsvc_domain::webhooks::OutboxProgress, orgsvc_domain::errors::StoreError>;
            fn request_replay(
                organization: &orgsvc_domain::OrganizationId,
                replay: &orgsvc_domain::webhooks::Replay
            ) -> Result<bool, orgsvc_domain::errors::StoreError>;
        );
    };
}

pub(crate) use {
    decorate, decorate_documents, decorate_exports, decorate_login_attempts, decorate_members,
    decorate_organizations, decorate_outbox, decorate_snapshots,
};
