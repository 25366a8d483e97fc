//! The one permission check every operation goes through (see [`crate::roles`]).

use crate::api_keys::Scope;
use crate::errors::{
    AuditLogError, DeleteOrganizationError, DocumentError, ExportError, UpdateOrganizationError,
};
use crate::ports::Principal;
use crate::roles::Permission;

/// The caller's role does not grant what they asked for.
#[derive(Clone, Copy, Debug)]
pub(super) struct Forbidden;

/// Whether `caller`'s role grants `permission`. Never for an API key: what a key may do is
/// named by scopes, and an operation keys may call checks one with [`authorize_scope`].
pub(super) const fn authorize(caller: &Principal, permission: Permission) -> Result<(), Forbidden> {
    if caller.key.is_none() && caller.role.allows(permission) {
        Ok(())
    } else {
        Err(Forbidden)
    }
}

/// Whether `caller` may do what `scope` names (see [`Principal::grants`]).
pub(super) fn authorize_scope(caller: &Principal, scope: Scope) -> Result<(), Forbidden> {
    if caller.grants(scope) {
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
    AuditLogError,
    DocumentError,
    ExportError
);
