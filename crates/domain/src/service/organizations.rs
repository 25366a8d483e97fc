//! Creating, renaming and deleting organizations.

use crate::admin::PasswordHash;
use crate::ids::AdminId;
use crate::organization::{Organization, OrganizationName};
use crate::ports::{
    Clock, OrganizationChange, OrganizationStore, PasswordHasher, Principal, TenantStore,
    TokenCodec,
};
use crate::service::{
    CreateOrganization, CreateOrganizationError, DeleteOrganizationError, Service,
    UpdateOrganization, UpdateOrganizationError,
};

impl<S, H, T, C> Service<S, H, T, C>
where
    S: OrganizationStore + TenantStore,
    H: PasswordHasher,
    T: TokenCodec,
    C: Clock,
{
    pub(super) async fn create(
        &self,
        command: CreateOrganization,
    ) -> Result<Organization, CreateOrganizationError> {
        // Cheap checks first, so a conflicting request does not pay for a password hash. The
        // store checks again atomically: these only make the common case fast.
        let slug = command.name.slug();
        if self.store.find_organization_by_slug(slug).await?.is_some() {
            return Err(CreateOrganizationError::NameTaken { slug: slug.clone() });
        }
        if self
            .store
            .find_admin_by_email(&command.email)
            .await?
            .is_some()
        {
            return Err(CreateOrganizationError::EmailTaken {
                email: command.email,
            });
        }
        let hash = self
            .hasher
            .hash(&command.password)
            .await
            .map_err(CreateOrganizationError::Unknown)?;
        let placement = self.store.place_new_organization().await?;
        let organization = self.new_organization(&command, AdminId::generate(), placement);
        let admin = self.new_admin(&organization, hash);
        self.store
            .create_organization(&organization, &admin)
            .await?;
        Ok(organization)
    }

    pub(super) async fn update(
        &self,
        caller: &Principal,
        command: UpdateOrganization,
    ) -> Result<Organization, UpdateOrganizationError> {
        let password_hash: Option<PasswordHash> = match &command.password {
            Some(password) => Some(
                self.hasher
                    .hash(password)
                    .await
                    .map_err(UpdateOrganizationError::Unknown)?,
            ),
            None => None,
        };
        let change = OrganizationChange {
            organization_id: caller.organization_id,
            admin_id: caller.admin_id,
            name: command.name,
            email: command.email,
            password_hash,
            updated_at: self.clock.now(),
        };
        self.store.update_organization(&change).await
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
        self.store.delete_organization(&organization.id).await?;
        Ok(organization)
    }
}
