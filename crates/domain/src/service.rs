//! The use cases of orgsvc, behind one driving port ([`OrgsvcApi`]) that the HTTP layer calls and
//! fakes in its own tests, implemented by [`Service`], which is generic over the driven ports.

use std::future::Future;

use crate::api_keys::Scope;
use crate::audit::{AuditAction, AuditPage, Origin, Outcome};
use crate::document::{Document, DocumentBody, DocumentPage, PageLimit};
use crate::ids::{AuditEventId, DocumentId, OrganizationId};
use crate::organization::{AdminSummary, Organization, OrganizationName, Placement};
use crate::ports::{Clock, PasswordHasher, Store, TokenCodec};
use crate::user::{EmailAddress, Password, User};
use audit::Subject;
use serde_json::json;

pub use crate::errors::{
    AuditLogError, AuthenticateError, CreateOrganizationError, DeleteOrganizationError,
    DocumentError, GetOrganizationError, LoginError, MemberError, StoreError,
    UpdateOrganizationError,
};
pub use crate::ports::{IssuedToken, Principal};
pub use api_keys::{ApiKeyApi, IssuedApiKey, NewApiKey};
pub use lockout::{LockPolicy, LoginPolicy};
pub use teams::{InvitationPolicy, InvitationView, IssuedInvitation, Joined, MemberView, TeamApi};
pub use webhooks::{
    Deliverer, DeliveryPolicy, IssuedWebhook, NewWebhook, ReplayRequest, WebhookApi, Worked,
};

mod access;
mod api_keys;
mod audit;
mod auth;
mod documents;
mod lockout;
mod organizations;
mod teams;
#[cfg(test)]
mod tests;
mod webhooks;

/// Create an organization with its first admin.
#[derive(Debug, Clone)]
pub struct CreateOrganization {
    pub name: OrganizationName,
    pub email: EmailAddress,
    pub password: Password,
}

/// Rename the caller's organization and optionally change the caller's email and password.
/// A change of email or password needs `current_password`; resending the current email or
/// password is no change and needs nothing.
#[derive(Debug, Clone)]
pub struct UpdateOrganization {
    pub name: OrganizationName,
    /// The organization the caller means to change, when the client names it (clients of the
    /// original assignment send `organization_name` beside `new_organization_name`): it must be
    /// the caller's own, or nothing changes.
    pub current_name: Option<OrganizationName>,
    pub email: Option<EmailAddress>,
    pub password: Option<Password>,
    pub current_password: Option<Password>,
}

/// Everything orgsvc can be asked to do.
pub trait OrgsvcApi: Clone + Send + Sync + 'static {
    /// # Errors
    /// `NameTaken` when the slug is in use, `EmailTaken` when the email is.
    fn create_organization(
        &self,
        origin: &Origin,
        command: CreateOrganization,
    ) -> impl Future<Output = Result<Organization, CreateOrganizationError>> + Send;

    /// A signed-in user founds another organization, of which they become the owner.
    ///
    /// # Errors
    /// `NameTaken` when the slug is in use, `FounderGone` when the caller's user is gone.
    fn create_organization_for(
        &self,
        origin: &Origin,
        caller: &Principal,
        name: OrganizationName,
    ) -> impl Future<Output = Result<Organization, CreateOrganizationError>> + Send;

    /// Finds an organization by its name's slug, so any spelling with the same slug finds it.
    ///
    /// # Errors
    /// `NotFound` when no organization has that slug.
    fn get_organization(
        &self,
        name: &OrganizationName,
    ) -> impl Future<Output = Result<Organization, GetOrganizationError>> + Send;

    /// # Errors
    /// `NotFound` when the caller's organization is gone, `NameTaken`, `EmailTaken`,
    /// `Forbidden` when it names another organization or renames and the caller's role may not.
    fn update_organization(
        &self,
        origin: &Origin,
        caller: &Principal,
        command: UpdateOrganization,
    ) -> impl Future<Output = Result<Organization, UpdateOrganizationError>> + Send;

    /// Deletes the named organization, which must be the caller's own; returns what was deleted.
    ///
    /// # Errors
    /// `NotFound` when it does not exist, `Forbidden` when it is another organization or the
    /// caller is not its owner.
    fn delete_organization(
        &self,
        origin: &Origin,
        caller: &Principal,
        name: &OrganizationName,
    ) -> impl Future<Output = Result<Organization, DeleteOrganizationError>> + Send;

    /// A token for the user's organization: their only one, or the one `organization` names.
    ///
    /// # Errors
    /// `InvalidCredentials` for an unknown email or a wrong password alike; `Locked` after too
    /// many failures (unknown emails lock the same way); `Overloaded` when hashing is at
    /// capacity; after the password checked out, `OrganizationRequired` when the user belongs
    /// to several and none is named, `NotAMember` when the one named is not theirs.
    fn login(
        &self,
        origin: &Origin,
        email: &EmailAddress,
        password: &Password,
        organization: Option<&OrganizationName>,
    ) -> impl Future<Output = Result<IssuedToken, LoginError>> + Send;

    /// Revokes every token of the caller (the one in use included).
    ///
    /// # Errors
    /// Storage failures only.
    fn logout(
        &self,
        origin: &Origin,
        caller: &Principal,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The caller's organization's audit events, newest first, a page at a time.
    ///
    /// # Errors
    /// `Forbidden` for a role that may not read it (members).
    fn list_audit_events(
        &self,
        caller: &Principal,
        after: Option<AuditEventId>,
        limit: PageLimit,
    ) -> impl Future<Output = Result<AuditPage, AuditLogError>> + Send;

    /// Checks a bearer token, that its admin and organization still exist and that it was not
    /// revoked.
    ///
    /// # Errors
    /// `InvalidToken` when either check fails.
    fn authenticate(
        &self,
        token: &str,
    ) -> impl Future<Output = Result<Principal, AuthenticateError>> + Send;

    /// # Errors
    /// `OrganizationNotFound` when the caller's organization is gone.
    fn insert_document(
        &self,
        origin: &Origin,
        caller: &Principal,
        body: DocumentBody,
    ) -> impl Future<Output = Result<Document, DocumentError>> + Send;

    /// # Errors
    /// `NotFound`, `OrganizationNotFound`.
    fn get_document(
        &self,
        caller: &Principal,
        id: &DocumentId,
    ) -> impl Future<Output = Result<Document, DocumentError>> + Send;

    /// # Errors
    /// `OrganizationNotFound`.
    fn list_documents(
        &self,
        caller: &Principal,
        after: Option<DocumentId>,
        limit: PageLimit,
    ) -> impl Future<Output = Result<DocumentPage, DocumentError>> + Send;

    /// # Errors
    /// `NotFound`, `OrganizationNotFound`.
    fn replace_document(
        &self,
        origin: &Origin,
        caller: &Principal,
        id: DocumentId,
        body: DocumentBody,
    ) -> impl Future<Output = Result<Document, DocumentError>> + Send;

    /// # Errors
    /// `NotFound`, `OrganizationNotFound`.
    fn delete_document(
        &self,
        origin: &Origin,
        caller: &Principal,
        id: &DocumentId,
    ) -> impl Future<Output = Result<(), DocumentError>> + Send;

    /// Whether storage can serve requests now.
    ///
    /// # Errors
    /// `Unavailable` when it cannot.
    fn ready(&self) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// How many organizations exist (possibly an estimate; see the store port).
    ///
    /// # Errors
    /// Storage failures only.
    fn organization_count(&self) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// The implementation of [`OrgsvcApi`] over the driven ports.
#[derive(Debug, Clone)]
pub struct Service<S, H, T, C> {
    store: S,
    hasher: H,
    tokens: T,
    clock: C,
    login_policy: LoginPolicy,
    invitation_policy: InvitationPolicy,
}

impl<S: Store, H: PasswordHasher, T: TokenCodec, C: Clock> Service<S, H, T, C> {
    pub fn new(store: S, hasher: H, tokens: T, clock: C) -> Self {
        Self {
            store,
            hasher,
            tokens,
            clock,
            login_policy: LoginPolicy::default(),
            invitation_policy: InvitationPolicy::default(),
        }
    }

    #[must_use]
    pub const fn with_login_policy(mut self, policy: LoginPolicy) -> Self {
        self.login_policy = policy;
        self
    }

    fn new_organization(
        &self,
        name: OrganizationName,
        id: OrganizationId,
        founder: &User,
        placement: Placement,
    ) -> Organization {
        let now = self.clock.now();
        Organization {
            id,
            name,
            placement,
            admin: AdminSummary {
                id: founder.id,
                email: founder.email.clone(),
            },
            created_at: now,
            updated_at: now,
        }
    }

    async fn audit_created(&self, origin: &Origin, organization: &Organization) {
        let subject = Subject {
            organization: Some(organization.id),
            actor: Some(organization.admin.id),
        };
        let details = json!({"organization_name": organization.name.as_str()});
        self.audit(
            origin,
            subject,
            AuditAction::OrganizationCreated,
            Outcome::Success,
            details,
        )
        .await;
    }
}

impl<S: Store, H: PasswordHasher, T: TokenCodec, C: Clock> OrgsvcApi for Service<S, H, T, C> {
    async fn create_organization(
        &self,
        origin: &Origin,
        command: CreateOrganization,
    ) -> Result<Organization, CreateOrganizationError> {
        let organization = self.create(origin, command).await?;
        self.audit_created(origin, &organization).await;
        Ok(organization)
    }

    async fn create_organization_for(
        &self,
        origin: &Origin,
        caller: &Principal,
        name: OrganizationName,
    ) -> Result<Organization, CreateOrganizationError> {
        let organization = self.create_for(caller, name).await?;
        self.audit_created(origin, &organization).await;
        Ok(organization)
    }

    async fn get_organization(
        &self,
        name: &OrganizationName,
    ) -> Result<Organization, GetOrganizationError> {
        self.store
            .find_organization_by_slug(name.slug())
            .await?
            .ok_or(GetOrganizationError::NotFound)
    }

    async fn update_organization(
        &self,
        origin: &Origin,
        caller: &Principal,
        command: UpdateOrganization,
    ) -> Result<Organization, UpdateOrganizationError> {
        self.update(origin, caller, command).await
    }

    async fn delete_organization(
        &self,
        origin: &Origin,
        caller: &Principal,
        name: &OrganizationName,
    ) -> Result<Organization, DeleteOrganizationError> {
        let organization = self.delete(caller, name).await?;
        let details = json!({"organization_name": organization.name.as_str()});
        self.audit(
            origin,
            caller.into(),
            AuditAction::OrganizationDeleted,
            Outcome::Success,
            details,
        )
        .await;
        Ok(organization)
    }

    async fn login(
        &self,
        origin: &Origin,
        email: &EmailAddress,
        password: &Password,
        organization: Option<&OrganizationName>,
    ) -> Result<IssuedToken, LoginError> {
        self.log_in(origin, email, password, organization).await
    }

    async fn logout(&self, origin: &Origin, caller: &Principal) -> Result<(), StoreError> {
        self.store.revoke_tokens(&caller.user_id).await?;
        self.audit(
            origin,
            caller.into(),
            AuditAction::TokensRevoked,
            Outcome::Success,
            json!({}),
        )
        .await;
        Ok(())
    }

    async fn list_audit_events(
        &self,
        caller: &Principal,
        after: Option<AuditEventId>,
        limit: PageLimit,
    ) -> Result<AuditPage, AuditLogError> {
        access::authorize_scope(caller, Scope::AuditRead)?;
        Ok(self.audit_page(caller, after, limit).await?)
    }

    async fn authenticate(&self, token: &str) -> Result<Principal, AuthenticateError> {
        self.check_token(token).await
    }

    async fn insert_document(
        &self,
        origin: &Origin,
        caller: &Principal,
        body: DocumentBody,
    ) -> Result<Document, DocumentError> {
        access::authorize_scope(caller, Scope::DocumentsWrite)?;
        let document = self.insert(caller, body).await?;
        let details = json!({"document_id": document.id.to_string()});
        self.audit(
            origin,
            caller.into(),
            AuditAction::DocumentCreated,
            Outcome::Success,
            details,
        )
        .await;
        Ok(document)
    }

    async fn get_document(
        &self,
        caller: &Principal,
        id: &DocumentId,
    ) -> Result<Document, DocumentError> {
        access::authorize_scope(caller, Scope::DocumentsRead)?;
        self.store
            .get_document(&caller.organization_id, id)
            .await?
            .ok_or(DocumentError::NotFound)
    }

    async fn list_documents(
        &self,
        caller: &Principal,
        after: Option<DocumentId>,
        limit: PageLimit,
    ) -> Result<DocumentPage, DocumentError> {
        access::authorize_scope(caller, Scope::DocumentsRead)?;
        self.list(caller, after, limit).await
    }

    async fn replace_document(
        &self,
        origin: &Origin,
        caller: &Principal,
        id: DocumentId,
        body: DocumentBody,
    ) -> Result<Document, DocumentError> {
        access::authorize_scope(caller, Scope::DocumentsWrite)?;
        let document = Document { id, body };
        self.store
            .replace_document(&caller.organization_id, &document)
            .await?;
        let details = json!({"document_id": id.to_string()});
        self.audit(
            origin,
            caller.into(),
            AuditAction::DocumentReplaced,
            Outcome::Success,
            details,
        )
        .await;
        Ok(document)
    }

    async fn delete_document(
        &self,
        origin: &Origin,
        caller: &Principal,
        id: &DocumentId,
    ) -> Result<(), DocumentError> {
        access::authorize_scope(caller, Scope::DocumentsWrite)?;
        self.store
            .delete_document(&caller.organization_id, id)
            .await?;
        let details = json!({"document_id": id.to_string()});
        self.audit(
            origin,
            caller.into(),
            AuditAction::DocumentDeleted,
            Outcome::Success,
            details,
        )
        .await;
        Ok(())
    }

    async fn ready(&self) -> Result<(), StoreError> {
        self.store.ping().await
    }

    async fn organization_count(&self) -> Result<u64, StoreError> {
        self.store.count_organizations().await
    }
}
