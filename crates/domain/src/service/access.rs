//! The one permission check every operation goes through (see [`crate::roles`]).

use crate::errors::{AuditLogError, DeleteOrganizationError, UpdateOrganizationError};
use crate::ports::Principal;
use crate::roles::Permission;

/// The caller's role does not grant what they asked for.
#[derive(Clone, Copy, Debug)]
pub(super) struct Forbidden;

/// Whether `caller`'s role grants `permission`.
pub(super) const fn authorize(caller: &Principal, permission: Permission) -> Result<(), Forbidden> {
    if caller.role.allows(permission) {
        Ok(())
    } else {
        Err(Forbidden)
    }
}

macro_rules! forbidden_as {
    ($($error:ident),+) => {$(
        impl From<Forbidden> for $error {
            fn from(_: Forbidden) -> Self {
                Self::Forbidden
            }
        }
    )+};
}

forbidden_as!(
    UpdateOrganizationError,
    DeleteOrganizationError,
    AuditLogError
);
