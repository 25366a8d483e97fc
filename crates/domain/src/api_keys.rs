//! Organization API keys: what a client app holds instead of a person's password. A key acts for
//! its organization within its scopes, and never beyond what the member who created it may do
//! at the time of each use (demoting or removing that member narrows or ends their keys).
//! Keys live in the organization's [`crate::Roster`], so they follow it through renames, moves
//! and tenancy changes, are changed under its version like any member change, and go with it.

use std::fmt;

use chrono::{DateTime, Utc};

use crate::ids::{ApiKeyId, UserId};
use crate::roles::{Permission, Role};

/// Most keys an organization can hold at once.
pub const MAX_API_KEYS: usize = 50;
/// Longest key name, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// Something a key may be allowed to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    DocumentsRead,
    DocumentsWrite,
    OrganizationRead,
    MembersRead,
    AuditRead,
}

impl Scope {
    pub const ALL: [Self; 5] = [
        Self::DocumentsRead,
        Self::DocumentsWrite,
        Self::OrganizationRead,
        Self::MembersRead,
        Self::AuditRead,
    ];

    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::DocumentsRead => "documents:read",
            Self::DocumentsWrite => "documents:write",
            Self::OrganizationRead => "organization:read",
            Self::MembersRead => "members:read",
            Self::AuditRead => "audit:read",
        }
    }

    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// What the same request made with a person's token needs of their role.
    #[must_use]
    pub const fn permission(self) -> Permission {
        match self {
            Self::DocumentsRead | Self::DocumentsWrite | Self::OrganizationRead => {
                Permission::Documents
            }
            Self::MembersRead => Permission::ManageMembers,
            Self::AuditRead => Permission::ReadAuditLog,
        }
    }

    const fn bit(self) -> u8 {
        1 << self as u8
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of scopes (small and `Copy`, so that it rides in every [`crate::Principal`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Scopes(u8);

impl Scopes {
    #[must_use]
    pub const fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    #[must_use]
    pub const fn with(self, scope: Scope) -> Self {
        Self(self.0 | scope.bit())
    }

    #[must_use]
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// In [`Scope::ALL`]'s order.
    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.into_iter().filter(move |s| self.contains(*s))
    }

    /// Whether a member in `role` may do everything these scopes allow.
    #[must_use]
    pub fn within(self, role: Role) -> bool {
        self.iter().all(|scope| role.allows(scope.permission()))
    }
}

impl FromIterator<Scope> for Scopes {
    fn from_iter<I: IntoIterator<Item = Scope>>(scopes: I) -> Self {
        scopes.into_iter().fold(Self::default(), Self::with)
    }
}

/// A key's name: 1 to [`MAX_NAME_CHARS`] characters after trimming, no control characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKeyName(String);

impl ApiKeyName {
    /// # Errors
    /// A message saying what is wrong with it.
    pub fn new(raw: &str) -> Result<Self, &'static str> {
        let name = raw.trim();
        if name.is_empty() {
            return Err("must not be empty");
        }
        if name.chars().count() > MAX_NAME_CHARS {
            return Err("must be at most 64 characters");
        }
        if name.chars().any(char::is_control) {
            return Err("must not contain control characters");
        }
        Ok(Self(name.to_owned()))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One key, as the roster keeps it: only the digest of its secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub name: ApiKeyName,
    pub scopes: Scopes,
    pub secret_digest: String,
    pub created_by: UserId,
    pub created_at: DateTime<Utc>,
    /// When the secret was last replaced (`None`: never rotated).
    pub rotated_at: Option<DateTime<Utc>>,
    /// `None`: does not expire.
    pub expires_at: Option<DateTime<Utc>>,
    /// Recorded at most once a minute ([`LAST_USED_PRECISION_SECONDS`]).
    pub last_used_at: Option<DateTime<Utc>>,
}

/// How stale a key's `last_used_at` may be: a use writes it only when it is older than this,
/// so a busy key costs a roster write a minute, not one a request.
pub const LAST_USED_PRECISION_SECONDS: i64 = 60;

impl ApiKey {
    #[must_use]
    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

/// What a request made with a key may do: carried in its [`crate::Principal`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyGrant {
    pub id: ApiKeyId,
    pub scopes: Scopes,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_name_themselves_and_stay_within_their_creators_role() {
        for scope in Scope::ALL {
            assert_eq!(Scope::parse(scope.as_str()), Some(scope));
        }
        assert_eq!(Scope::parse("documents:delete"), None);
        let all: Scopes = Scope::ALL.into_iter().collect();
        assert_eq!(all.iter().collect::<Vec<_>>(), Scope::ALL);
        assert!(all.within(Role::Admin) && all.within(Role::Owner));
        assert!(!all.within(Role::Member));
        let documents: Scopes = [Scope::DocumentsRead, Scope::DocumentsWrite]
            .into_iter()
            .collect();
        assert!(documents.within(Role::Member));
        assert!(!documents.contains(Scope::AuditRead));
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(
            ApiKeyName::new("  ci deploy ").unwrap().as_str(),
            "ci deploy"
        );
        assert!(ApiKeyName::new("  ").is_err());
        assert!(ApiKeyName::new(&"x".repeat(65)).is_err());
        assert!(ApiKeyName::new("a\nb").is_err());
    }
}
