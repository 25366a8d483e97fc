//! Creating, renaming and deleting organizations.

use crate::audit::{AuditAction, Origin, Outcome};
use crate::ids::{OrganizationId, UserId};
use crate::organization::{Organization, OrganizationName};
use crate::ports::{
    Clock, Founder, OrganizationChange, PasswordHasher, Principal, Store, TokenCodec,
};
use crate::roles::Permission;
use crate::service::access::authorize;
use crate::service::lockout::Refusal;
use crate::service::{
    CreateOrganization, CreateOrganizationError, DeleteOrganizationError, Service,
    UpdateOrganization, UpdateOrganizationError,
};
use crate::user::User;
use serde_json::json;

impl<S: Store, H: PasswordHasher, T: TokenCodec, C: Clock> Service<S, H, T, C> {
    pub(super) async fn create(
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
        Ok(organization)
    }

    /// A signed-in user founds another organization and becomes its owner.
    pub(super) async fn create_for(
        &self,
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
        Ok(organization)
    }

    pub(super) async fn update(
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

    pub(super) async fn delete(
        &self,
        caller: &Principal,
        name: &OrganizationName,
    ) -> Result<Organization, DeleteOrganizationError> {
        let organization = self
            .store
            .find_organization_by_slug(name.slug())
            .await?
            .ok_or(DeleteOrganizationError::NotFound)?;
        if organization.id != caller.organization_id {
            return Err(DeleteOrganizationError::Forbidden);
        }
        authorize(caller, Permission::DeleteOrganization)?;
        self.store.delete_organization(&organization.id).await?;
        Ok(organization)
    }
}
