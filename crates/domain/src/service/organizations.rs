//! Creating, renaming and deleting organizations.

use std::future::Future;

use serde_json::json;

use crate::audit::{AuditAction, Origin, Outcome};
use crate::deletion::DeletionRequest;
use crate::errors::StoreError;
use crate::ids::{DeletionReceiptId, OrganizationId, UserId};
use crate::organization::{Organization, OrganizationName, OwnerSummary, Placement};
use crate::ports::prelude::*;
use crate::ports::{Founder, OrganizationChange, Principal};
use crate::roles::Permission;
use crate::service::access::authorize;
use crate::service::audit::Subject;
use crate::service::lockout::Refusal;
use crate::service::{
    CreateOrganizationError, DeleteOrganizationError, GetOrganizationError, Ports, Service,
    UpdateOrganizationError,
};
use crate::user::User;

mod commands;

pub use commands::{CreateOrganization, Deleted, UpdateOrganization};

/// Organizations: founding, finding, renaming and deleting them.
pub trait OrganizationApi: Clone + Send + Sync + 'static {
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
    ) -> impl Future<Output = Result<Deleted, DeleteOrganizationError>> + Send;
}

impl<P: Ports> OrganizationApi for Service<P> {
    async fn create_organization(
        &self,
        origin: &Origin,
        command: CreateOrganization,
    ) -> Result<Organization, CreateOrganizationError> {
        // A taken name is refused before hashing (names are public anyway: GET /org/get). A
        // taken email is not: answered before the hash, it came back ten times faster than a
        // create, telling anyone which emails have accounts. The store checks both again
        // atomically; these only make the common case fast.
        let slug = command.name.slug();
        if self.store.find_organization_by_slug(slug).await?.is_some() {
            return Err(CreateOrganizationError::NameTaken { slug: slug.clone() });
        }
        let hash = self.hasher.hash(&command.password).await?;
        if self
            .store
            .find_user_by_email(&command.email)
            .await?
            .is_some()
        {
            return Err(CreateOrganizationError::EmailTaken {
                email: command.email,
            });
        }
        let id = OrganizationId::generate();
        let placement = self.store.place_new_organization(&id).await?;
        let founder = User {
            id: UserId::generate(),
            email: command.email,
            password_hash: hash,
            created_at: self.clock.now(),
            token_version: 0,
        };
        let organization = self.new_organization(command.name, id, &founder, placement);
        self.store
            .create_organization(&organization, Founder::New(&founder))
            .await?;
        self.forget_attempts_before_signup(origin, &founder.email)
            .await;
        self.audit_created(origin, &organization).await;
        Ok(organization)
    }

    async fn create_organization_for(
        &self,
        origin: &Origin,
        caller: &Principal,
        name: OrganizationName,
    ) -> Result<Organization, CreateOrganizationError> {
        let slug = name.slug();
        if self.store.find_organization_by_slug(slug).await?.is_some() {
            return Err(CreateOrganizationError::NameTaken { slug: slug.clone() });
        }
        let founder = self
            .store
            .find_user_by_id(&caller.user_id)
            .await?
            .ok_or(CreateOrganizationError::FounderGone)?;
        let id = OrganizationId::generate();
        let placement = self.store.place_new_organization(&id).await?;
        let organization = self.new_organization(name, id, &founder, placement);
        self.store
            .create_organization(&organization, Founder::Existing(&founder.id))
            .await?;
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
        // Every member may change their own credentials; an API key may not act as a person.
        authorize(caller, Permission::OwnCredentials)?;
        let admin = self
            .store
            .find_user_by_id(&caller.user_id)
            .await?
            .ok_or(UpdateOrganizationError::NotFound)?;
        let before = self
            .store
            .find_organization_by_id(&caller.organization_id)
            .await?
            .ok_or(UpdateOrganizationError::NotFound)?;
        if let Some(named) = &command.current_name {
            if named.slug() != before.slug() {
                return Err(UpdateOrganizationError::Forbidden);
            }
        }
        if command.name != before.name {
            authorize(caller, Permission::RenameOrganization)?;
        }
        let email = command.email.filter(|email| *email != admin.email);
        let mut password = command.password;
        // Clients of the original assignment send their current password with every rename:
        // that is no change, and proves nothing is being taken over. The comparison is a guess
        // like a login's, counted and audited behind the same lockout: answered freely, it
        // would let a stolen token find the password at hashing speed.
        if let (Some(new), None) = (&password, &command.current_password) {
            match self
                .check_password(origin, &admin.email, Some(&admin), new, caller.into())
                .await
            {
                Ok(()) => password = None,
                Err(Refusal::Wrong { .. }) => {}
                Err(refused) => return Err(refused.into()),
            }
        }
        if email.is_some() || password.is_some() {
            let current = command
                .current_password
                .as_ref()
                .ok_or(UpdateOrganizationError::CurrentPasswordRequired)?;
            self.check_password(origin, &admin.email, Some(&admin), current, caller.into())
                .await?;
        }
        let password_hash = match &password {
            Some(password) => Some(self.hasher.hash(password).await?),
            None => None,
        };
        let change = OrganizationChange {
            organization_id: caller.organization_id,
            user_id: caller.user_id,
            name: command.name,
            email,
            password_hash,
            updated_at: self.clock.now(),
        };
        let updated = self.store.update_organization(&change).await?;
        if updated.name != before.name {
            let details = json!({"from": before.name.as_str(), "to": updated.name.as_str()});
            self.audit(
                origin,
                caller.into(),
                AuditAction::OrganizationRenamed,
                Outcome::Success,
                details,
            )
            .await;
        }
        if change.email.is_some() || change.password_hash.is_some() {
            let details = json!({
                "email_changed": change.email.is_some(),
                "password_changed": change.password_hash.is_some(),
            });
            self.audit(
                origin,
                caller.into(),
                AuditAction::CredentialsChanged,
                Outcome::Success,
                details,
            )
            .await;
        }
        Ok(updated)
    }

    async fn delete_organization(
        &self,
        origin: &Origin,
        caller: &Principal,
        name: &OrganizationName,
    ) -> Result<Deleted, DeleteOrganizationError> {
        let organization = self
            .store
            .find_organization_by_slug(name.slug())
            .await?
            .ok_or(DeleteOrganizationError::NotFound)?;
        if organization.id != caller.organization_id {
            return Err(DeleteOrganizationError::Forbidden);
        }
        authorize(caller, Permission::DeleteOrganization)?;
        let request = DeletionRequest {
            receipt_id: DeletionReceiptId::generate(),
            requested_by: caller.user_id,
            requested_at: self.clock.now(),
            retention: chrono::Duration::days(i64::from(
                self.deletion_policy.receipt_retention_days,
            )),
        };
        let record = match self
            .store
            .delete_organization(&organization.id, &request)
            .await
        {
            Err(DeleteOrganizationError::Store(StoreError::Pending(cause))) => {
                return Err(DeleteOrganizationError::Pending {
                    receipt: request.receipt_id,
                    cause,
                })
            }
            deleted => deleted?,
        };
        // Its exports' bundles go with it. Best effort: should this fail, they still expire
        // after `exports.retention_hours`, and nobody can reach them meanwhile (the
        // organization, and so every token for it, is gone).
        let _ = self.store.discard_exports(&organization.id).await;
        let details = json!({
            "organization_name": organization.name.as_str(),
            "receipt_id": record.id.to_string(),
        });
        self.audit(
            origin,
            caller.into(),
            AuditAction::OrganizationDeleted,
            Outcome::Success,
            details,
        )
        .await;
        let receipt = self.receipt_of(&record)?;
        Ok(Deleted {
            organization,
            receipt,
        })
    }
}

impl<P: Ports> Service<P> {
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
            owner: OwnerSummary {
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
            actor: Some(organization.owner.id),
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
