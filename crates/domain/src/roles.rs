//! Who may do what in an organization: the roles and the one function that answers.
//!
//! | permission | owner | admin | member |
//! |---|---|---|---|
//! | documents (read, write, delete) | yes | yes | yes |
//! | own credentials, logout | yes | yes | yes |
//! | rename the organization | yes | yes | no |
//! | read the audit log | yes | yes | no |
//! | manage members and invitations below owner | yes | yes | no |
//! | delete the organization, change owners, export it | yes | no | no |
//!
//! Every check goes through [`Role::allows`]; handlers never decide.

use std::fmt;

/// A member's role in one organization, from most to least trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Everything, including deleting the organization and changing its owners.
    Owner,
    /// Runs the organization below its owners.
    Admin,
    /// Works with the organization's documents.
    Member,
}

/// Something a caller may or may not do in their organization.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    Documents,
    OwnCredentials,
    RenameOrganization,
    ReadAuditLog,
    ManageMembers,
    ManageApiKeys,
    ManageWebhooks,
    DeleteOrganization,
    ChangeOwners,
    /// Take the whole organization out (an export holds every document and the roster).
    ExportOrganization,
}

impl Permission {
    pub const ALL: [Self; 10] = [
        Self::Documents,
        Self::OwnCredentials,
        Self::RenameOrganization,
        Self::ReadAuditLog,
        Self::ManageMembers,
        Self::ManageApiKeys,
        Self::ManageWebhooks,
        Self::DeleteOrganization,
        Self::ChangeOwners,
        Self::ExportOrganization,
    ];
}

impl Role {
    pub const ALL: [Self; 3] = [Self::Owner, Self::Admin, Self::Member];

    /// Whether this role grants `permission`: the one place that says.
    #[must_use]
    pub const fn allows(self, permission: Permission) -> bool {
        match permission {
            Permission::Documents | Permission::OwnCredentials => true,
            Permission::RenameOrganization
            | Permission::ReadAuditLog
            | Permission::ManageMembers
            | Permission::ManageApiKeys
            | Permission::ManageWebhooks => matches!(self, Self::Owner | Self::Admin),
            Permission::DeleteOrganization
            | Permission::ChangeOwners
            | Permission::ExportOrganization => {
                matches!(self, Self::Owner)
            }
        }
    }

    /// Whether this role may give `role` to someone, or act on someone who has it: never above
    /// one's own, and owners only by owners.
    #[must_use]
    pub fn may_manage(self, role: Self) -> bool {
        match role {
            Self::Owner => self.allows(Permission::ChangeOwners),
            Self::Admin | Self::Member => self.allows(Permission::ManageMembers) && self <= role,
        }
    }

    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Member => "member",
        }
    }

    #[must_use]
    pub fn parse(role: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|candidate| candidate.as_str() == role)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::{Permission, Role};

    #[test]
    fn the_permission_table_is_the_documented_one() {
        use Permission::*;
        let granted = |role: Role| -> Vec<Permission> {
            Permission::ALL
                .into_iter()
                .filter(|permission| role.allows(*permission))
                .collect()
        };
        assert_eq!(granted(Role::Owner), Permission::ALL.to_vec());
        assert_eq!(
            granted(Role::Admin),
            vec![
                Documents,
                OwnCredentials,
                RenameOrganization,
                ReadAuditLog,
                ManageMembers,
                ManageApiKeys,
                ManageWebhooks
            ]
        );
        assert_eq!(granted(Role::Member), vec![Documents, OwnCredentials]);
    }

    #[test]
    fn nobody_manages_above_their_own_role_and_only_owners_manage_owners() {
        let managed = |actor: Role| -> Vec<Role> {
            Role::ALL
                .into_iter()
                .filter(|role| actor.may_manage(*role))
                .collect()
        };
        assert_eq!(managed(Role::Owner), Role::ALL.to_vec());
        assert_eq!(managed(Role::Admin), vec![Role::Admin, Role::Member]);
        assert_eq!(managed(Role::Member), Vec::<Role>::new());
    }

    #[test]
    fn roles_read_back_from_their_names_and_nothing_else_parses() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("Owner"), None);
        assert_eq!(Role::parse("root"), None);
    }
}
