//! The audit log: who did what to which organization, from where, and whether it worked.
//! Events are appended by the service and never changed; they outlive the organization they
//! are about for the store's retention period.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::ids::{AuditEventId, OrganizationId, UserId};

/// Where a request came from, as far as the HTTP layer can tell.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Origin {
    pub ip: Option<IpAddr>,
}

/// Declares [`AuditAction`] from one list of variants and their names, so that
/// [`AuditAction::ALL`] (what the OpenAPI document lists) cannot miss one.
macro_rules! audit_actions {
    ($($variant:ident => $name:literal,)+) => {
        /// What happened. The wire and stored form is the snake_case name, which is stable.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum AuditAction {
            $($variant,)+
        }

        impl AuditAction {
            /// Every action, in declaration order.
            pub const ALL: &[Self] = &[$(Self::$variant,)+];

            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)+
                }
            }
        }
    };
}

audit_actions! {
    OrganizationCreated => "organization_created",
    LoginSucceeded => "login_succeeded",
    LoginFailed => "login_failed",
    AccountLocked => "account_locked",
    OrganizationRenamed => "organization_renamed",
    CredentialsChanged => "credentials_changed",
    TokensRevoked => "tokens_revoked",
    DocumentCreated => "document_created",
    DocumentReplaced => "document_replaced",
    DocumentDeleted => "document_deleted",
    OrganizationDeleted => "organization_deleted",
    MemberJoined => "member_joined",
    MemberRoleChanged => "member_role_changed",
    MemberRemoved => "member_removed",
    MemberLeft => "member_left",
    OwnershipTransferred => "ownership_transferred",
    InvitationCreated => "invitation_created",
    InvitationRevoked => "invitation_revoked",
    InvitationResent => "invitation_resent",
    OrganizationSwitched => "organization_switched",
    ApiKeyCreated => "api_key_created",
    ApiKeyRotated => "api_key_rotated",
    ApiKeyRevoked => "api_key_revoked",
    WebhookCreated => "webhook_created",
    WebhookUpdated => "webhook_updated",
    WebhookSecretRotated => "webhook_secret_rotated",
    WebhookDeleted => "webhook_deleted",
    WebhookDisabled => "webhook_disabled",
    WebhookReplayRequested => "webhook_replay_requested",
    ExportRequested => "export_requested",
    ExportCompleted => "export_completed",
    ExportFailed => "export_failed",
    ExportDownloaded => "export_downloaded",
}

impl AuditAction {
    /// The action with that name, for reading stored events back.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|action| action.as_str() == name)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
}

impl Outcome {
    pub const ALL: &[Self] = &[Self::Success, Self::Failure];

    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
        }
    }

    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
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
    pub actor: Option<UserId>,
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
