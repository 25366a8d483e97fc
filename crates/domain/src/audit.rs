//! The audit log: who did what to which organization, from where, and whether it worked.
//! Events are appended by the service and never changed; they outlive the organization they
//! are about for the store's retention period.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::ids::{AdminId, AuditEventId, OrganizationId};

/// Where a request came from, as far as the HTTP layer can tell.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Origin {
    pub ip: Option<IpAddr>,
}

/// What happened. The wire and stored form is the snake_case name, which is stable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditAction {
    OrganizationCreated,
    LoginSucceeded,
    LoginFailed,
    AccountLocked,
    OrganizationRenamed,
    CredentialsChanged,
    TokensRevoked,
    DocumentCreated,
    DocumentReplaced,
    DocumentDeleted,
    OrganizationDeleted,
    MemberJoined,
    MemberRoleChanged,
    MemberRemoved,
    MemberLeft,
    OwnershipTransferred,
    InvitationCreated,
    InvitationRevoked,
    InvitationResent,
    OrganizationSwitched,
}

impl AuditAction {
    pub const ALL: [Self; 20] = [
        Self::OrganizationCreated,
        Self::LoginSucceeded,
        Self::LoginFailed,
        Self::AccountLocked,
        Self::OrganizationRenamed,
        Self::CredentialsChanged,
        Self::TokensRevoked,
        Self::DocumentCreated,
        Self::DocumentReplaced,
        Self::DocumentDeleted,
        Self::OrganizationDeleted,
        Self::MemberJoined,
        Self::MemberRoleChanged,
        Self::MemberRemoved,
        Self::MemberLeft,
        Self::OwnershipTransferred,
        Self::InvitationCreated,
        Self::InvitationRevoked,
        Self::InvitationResent,
        Self::OrganizationSwitched,
    ];

    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::OrganizationCreated => "organization_created",
            Self::LoginSucceeded => "login_succeeded",
            Self::LoginFailed => "login_failed",
            Self::AccountLocked => "account_locked",
            Self::OrganizationRenamed => "organization_renamed",
            Self::CredentialsChanged => "credentials_changed",
            Self::TokensRevoked => "tokens_revoked",
            Self::DocumentCreated => "document_created",
            Self::DocumentReplaced => "document_replaced",
            Self::DocumentDeleted => "document_deleted",
            Self::OrganizationDeleted => "organization_deleted",
            Self::MemberJoined => "member_joined",
            Self::MemberRoleChanged => "member_role_changed",
            Self::MemberRemoved => "member_removed",
            Self::MemberLeft => "member_left",
            Self::OwnershipTransferred => "ownership_transferred",
            Self::InvitationCreated => "invitation_created",
            Self::InvitationRevoked => "invitation_revoked",
            Self::InvitationResent => "invitation_resent",
            Self::OrganizationSwitched => "organization_switched",
        }
    }

    /// The action with that name, for reading stored events back.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|action| action.as_str() == name)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
}

impl Outcome {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
        }
    }

    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Success, Self::Failure]
            .into_iter()
            .find(|outcome| outcome.as_str() == name)
    }
}

/// One entry of the audit log. `details` never holds a password, a hash or a token.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditEvent {
    pub id: AuditEventId,
    pub at: DateTime<Utc>,
    /// The organization it concerns; `None` for a failed login to an unknown account.
    pub organization_id: Option<OrganizationId>,
    pub action: AuditAction,
    pub outcome: Outcome,
    /// The admin who acted, when known.
    pub actor: Option<AdminId>,
    pub ip: Option<IpAddr>,
    pub details: Map<String, Value>,
}

/// One page of an organization's events, newest first.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditPage {
    pub events: Vec<AuditEvent>,
    /// Pass as `after` for the next (older) page; `None` on the last page.
    pub next: Option<AuditEventId>,
}
