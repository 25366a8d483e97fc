//! A decorator over any store that records every port call's latency, and its storage
//! failures, as metrics labelled by backend and operation. The adapters stay free of metrics
//! code, and both backends are measured the same way.
//!
//! - `orgsvc_storage_operation_duration_seconds{backend, operation}`: a histogram;
//! - `orgsvc_storage_errors_total{backend, operation, kind}`: failures of the store itself
//!   (`unavailable`, `unknown`), not answers such as "not found" or "name taken".

use std::future::Future;
use std::time::Instant;

use chrono::{DateTime, Utc};
use orgsvc_domain::errors::{
    AsStoreError, CreateOrganizationError, DeleteOrganizationError, DocumentError, SaveRosterError,
    StoreError, UpdateOrganizationError,
};
use orgsvc_domain::ports::{
    Admission, AttemptKey, AuditLog, Founder, LoginAttempts, MemberStore, OrganizationChange,
    OrganizationStore, TenantStore,
};
use orgsvc_domain::{
    AuditEvent, AuditEventId, Document, DocumentId, EmailAddress, Membership, Organization,
    OrganizationId, Placement, Role, Roster, Slug, User, UserId,
};

/// `inner` with every call measured under the label `backend`.
#[derive(Clone, Debug)]
pub struct Instrumented<S> {
    inner: S,
    backend: &'static str,
}

impl<S> Instrumented<S> {
    pub const fn new(inner: S, backend: &'static str) -> Self {
        Self { inner, backend }
    }

    async fn measure<T, E: AsStoreError>(
        &self,
        operation: &'static str,
        call: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let started = Instant::now();
        let result = call.await;
        self.record(operation, started);
        if let Some(failure) = result.as_ref().err().and_then(AsStoreError::as_store_error) {
            metrics::counter!(
                "orgsvc_storage_errors_total",
                "backend" => self.backend,
                "operation" => operation,
                "kind" => failure.kind(),
            )
            .increment(1);
        }
        result
    }

    fn record(&self, operation: &'static str, started: Instant) {
        metrics::histogram!(
            "orgsvc_storage_operation_duration_seconds",
            "backend" => self.backend,
            "operation" => operation,
        )
        .record(started.elapsed().as_secs_f64());
    }
}

impl<S: OrganizationStore> OrganizationStore for Instrumented<S> {
    async fn place_new_organization(
        &self,
        organization: &OrganizationId,
    ) -> Result<Placement, StoreError> {
        self.measure(
            "place_new_organization",
            self.inner.place_new_organization(organization),
        )
        .await
    }

    async fn create_organization(
        &self,
        organization: &Organization,
        founder: Founder<'_>,
    ) -> Result<(), CreateOrganizationError> {
        self.measure(
            "create_organization",
            self.inner.create_organization(organization, founder),
        )
        .await
    }

    async fn find_organization_by_slug(
        &self,
        slug: &Slug,
    ) -> Result<Option<Organization>, StoreError> {
        self.measure(
            "find_organization_by_slug",
            self.inner.find_organization_by_slug(slug),
        )
        .await
    }

    async fn find_organization_by_id(
        &self,
        id: &OrganizationId,
    ) -> Result<Option<Organization>, StoreError> {
        self.measure(
            "find_organization_by_id",
            self.inner.find_organization_by_id(id),
        )
        .await
    }

    async fn find_user_by_email(&self, email: &EmailAddress) -> Result<Option<User>, StoreError> {
        self.measure("find_user_by_email", self.inner.find_user_by_email(email))
            .await
    }

    async fn find_user_by_id(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        self.measure("find_user_by_id", self.inner.find_user_by_id(id))
            .await
    }

    async fn update_organization(
        &self,
        change: &OrganizationChange,
    ) -> Result<Organization, UpdateOrganizationError> {
        self.measure(
            "update_organization",
            self.inner.update_organization(change),
        )
        .await
    }

    async fn revoke_tokens(&self, admin: &UserId) -> Result<(), StoreError> {
        self.measure("revoke_tokens", self.inner.revoke_tokens(admin))
            .await
    }

    async fn delete_organization(
        &self,
        id: &OrganizationId,
    ) -> Result<(), DeleteOrganizationError> {
        self.measure("delete_organization", self.inner.delete_organization(id))
            .await
    }

    async fn count_organizations(&self) -> Result<u64, StoreError> {
        self.measure("count_organizations", self.inner.count_organizations())
            .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.measure("ping", self.inner.ping()).await
    }
}

impl<S: MemberStore> MemberStore for Instrumented<S> {
    async fn find_roster(
        &self,
        organization: &OrganizationId,
    ) -> Result<Option<Roster>, StoreError> {
        self.measure("find_roster", self.inner.find_roster(organization))
            .await
    }

    async fn role_in(
        &self,
        organization: &OrganizationId,
        user: &UserId,
    ) -> Result<Option<Role>, StoreError> {
        self.measure("role_in", self.inner.role_in(organization, user))
            .await
    }

    async fn memberships_of(&self, user: &UserId) -> Result<Vec<Membership>, StoreError> {
        self.measure("memberships_of", self.inner.memberships_of(user))
            .await
    }

    async fn save_roster(
        &self,
        roster: &Roster,
        joining: Option<&User>,
    ) -> Result<(), SaveRosterError> {
        self.measure("save_roster", self.inner.save_roster(roster, joining))
            .await
    }

    async fn find_users(&self, ids: &[UserId]) -> Result<Vec<User>, StoreError> {
        self.measure("find_users", self.inner.find_users(ids)).await
    }
}

impl<S: LoginAttempts> LoginAttempts for Instrumented<S> {
    async fn begin_login_attempt(
        &self,
        key: &AttemptKey,
        now: DateTime<Utc>,
    ) -> Result<Admission, StoreError> {
        self.measure(
            "begin_login_attempt",
            self.inner.begin_login_attempt(key, now),
        )
        .await
    }

    async fn lock_login(&self, key: &AttemptKey, until: DateTime<Utc>) -> Result<(), StoreError> {
        self.measure("lock_login", self.inner.lock_login(key, until))
            .await
    }

    async fn release_login_attempts(&self, keys: &[AttemptKey]) -> Result<(), StoreError> {
        self.measure(
            "release_login_attempts",
            self.inner.release_login_attempts(keys),
        )
        .await
    }

    async fn clear_login_attempts(&self, keys: &[AttemptKey]) -> Result<(), StoreError> {
        self.measure(
            "clear_login_attempts",
            self.inner.clear_login_attempts(keys),
        )
        .await
    }
}

impl<S: TenantStore> TenantStore for Instrumented<S> {
    async fn insert_document(
        &self,
        organization: &OrganizationId,
        document: &Document,
    ) -> Result<(), DocumentError> {
        self.measure(
            "insert_document",
            self.inner.insert_document(organization, document),
        )
        .await
    }

    async fn get_document(
        &self,
        organization: &OrganizationId,
        id: &DocumentId,
    ) -> Result<Option<Document>, DocumentError> {
        self.measure("get_document", self.inner.get_document(organization, id))
            .await
    }

    async fn list_documents(
        &self,
        organization: &OrganizationId,
        after: Option<&DocumentId>,
        limit: usize,
    ) -> Result<Vec<Document>, DocumentError> {
        self.measure(
            "list_documents",
            self.inner.list_documents(organization, after, limit),
        )
        .await
    }

    async fn replace_document(
        &self,
        organization: &OrganizationId,
        document: &Document,
    ) -> Result<(), DocumentError> {
        self.measure(
            "replace_document",
            self.inner.replace_document(organization, document),
        )
        .await
    }

    async fn delete_document(
        &self,
        organization: &OrganizationId,
        id: &DocumentId,
    ) -> Result<(), DocumentError> {
        self.measure(
            "delete_document",
            self.inner.delete_document(organization, id),
        )
        .await
    }
}

impl<S: AuditLog> AuditLog for Instrumented<S> {
    async fn record(&self, event: &AuditEvent) {
        // Best-effort by contract: the adapter logs its own failures and returns nothing.
        let started = Instant::now();
        self.inner.record(event).await;
        self.record("record_audit_event", started);
    }

    async fn list_audit_events(
        &self,
        organization: &OrganizationId,
        after: Option<&AuditEventId>,
        limit: usize,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        self.measure(
            "list_audit_events",
            self.inner.list_audit_events(organization, after, limit),
        )
        .await
    }
}

crate::decorate::decorate_outbox!(Instrumented, |this, operation, call| this
    .measure(operation, call));
