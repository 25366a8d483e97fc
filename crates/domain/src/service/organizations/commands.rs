//! What the organization operations are asked with and answer.

use crate::organization::{Organization, OrganizationName};
use crate::service::DeletionReceipt;
use crate::user::{EmailAddress, Password};

/// Create an organization with its first owner, a new user.
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

/// A deleted organization, as it was, with the receipt of what its deletion removed.
#[derive(Clone, Debug)]
pub struct Deleted {
    pub organization: Organization,
    pub receipt: DeletionReceipt,
}
