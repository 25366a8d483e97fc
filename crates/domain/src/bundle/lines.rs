//! The lines of a bundle, one type per kind, each naming the fields it carries.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::Part;
use crate::api_keys::ApiKey;
use crate::audit::AuditEvent;
use crate::document::Document;
use crate::ids::{DocumentId, ExportId, OrganizationId, UserId};
use crate::members::{Invitation, InvitationState, Member};
use crate::organization::{Organization, TenancyModel};
use crate::user::EmailAddress;
use crate::webhooks::WebhookEndpoint;

/// The organization as it was exported.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrganizationLine {
    pub id: OrganizationId,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub cluster: String,
    pub database: String,
    pub collection: String,
    pub model: TenancyModel,
}

impl From<&Organization> for OrganizationLine {
    fn from(organization: &Organization) -> Self {
        Self {
            id: organization.id,
            name: organization.name.as_str().to_owned(),
            created_at: organization.created_at,
            updated_at: organization.updated_at,
            cluster: organization.placement.cluster.clone(),
            database: organization.placement.database.clone(),
            collection: organization.collection_name().as_str().to_owned(),
            model: organization.placement.model,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub format: String,
    pub version: u32,
    pub export_id: ExportId,
    /// When the documents' snapshot was taken.
    pub exported_at: DateTime<Utc>,
    pub organization: OrganizationLine,
    pub parts: Vec<Part>,
}

/// A member: who, with which email and role (never a password or its hash).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemberLine {
    pub user_id: UserId,
    pub email: String,
    /// `owner`, `admin` or `member`.
    pub role: String,
    pub joined_at: DateTime<Utc>,
}

impl MemberLine {
    #[must_use]
    pub fn new(member: &Member, email: &EmailAddress) -> Self {
        Self {
            user_id: member.user_id,
            email: email.as_str().to_owned(),
            role: member.role.as_str().to_owned(),
            joined_at: member.joined_at,
        }
    }
}

/// An invitation without its secret (nor the secret's digest).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InvitationLine {
    pub id: String,
    pub email: String,
    /// `owner`, `admin` or `member`.
    pub role: String,
    pub invited_by: UserId,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// `pending`, `accepted` or `revoked`.
    pub state: String,
    /// When it was accepted or revoked.
    pub settled_at: Option<DateTime<Utc>>,
}

impl From<&Invitation> for InvitationLine {
    fn from(invitation: &Invitation) -> Self {
        let (state, settled_at) = match &invitation.state {
            InvitationState::Pending => ("pending", None),
            InvitationState::Accepted { at, .. } => ("accepted", Some(*at)),
            InvitationState::Revoked { at } => ("revoked", Some(*at)),
        };
        Self {
            id: invitation.id.to_string(),
            email: invitation.email.as_str().to_owned(),
            role: invitation.role.as_str().to_owned(),
            invited_by: invitation.invited_by,
            created_at: invitation.created_at,
            expires_at: invitation.expires_at,
            state: state.to_owned(),
            settled_at,
        }
    }
}

/// An API key's metadata: never its secret nor the secret's digest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiKeyLine {
    pub id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub created_by: UserId,
    pub created_at: DateTime<Utc>,
    pub rotated_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<&ApiKey> for ApiKeyLine {
    fn from(key: &ApiKey) -> Self {
        Self {
            id: key.id.to_string(),
            name: key.name.as_str().to_owned(),
            scopes: key.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
            created_by: key.created_by,
            created_at: key.created_at,
            rotated_at: key.rotated_at,
            expires_at: key.expires_at,
            last_used_at: key.last_used_at,
        }
    }
}

/// A webhook endpoint's metadata: never its signing secrets.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebhookLine {
    pub id: String,
    pub url: String,
    /// Empty: every event type.
    pub events: Vec<String>,
    pub enabled: bool,
    pub created_by: UserId,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub disabled_reason: Option<String>,
}

impl From<&WebhookEndpoint> for WebhookLine {
    fn from(endpoint: &WebhookEndpoint) -> Self {
        Self {
            id: endpoint.id.to_string(),
            url: endpoint.url.as_str().to_owned(),
            events: endpoint
                .events
                .iter()
                .map(|t| t.as_str().to_owned())
                .collect(),
            enabled: endpoint.enabled,
            created_by: endpoint.created_by,
            created_at: endpoint.created_at,
            updated_at: endpoint.updated_at,
            disabled_reason: endpoint.disabled_reason.clone(),
        }
    }
}

/// An audit event, as the audit API shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditLine {
    pub id: String,
    pub at: DateTime<Utc>,
    pub action: String,
    pub outcome: String,
    pub actor: Option<UserId>,
    pub ip: Option<String>,
    pub details: Map<String, Value>,
}

impl From<&AuditEvent> for AuditLine {
    fn from(event: &AuditEvent) -> Self {
        Self {
            id: event.id.to_string(),
            at: event.at,
            action: event.action.as_str().to_owned(),
            outcome: event.outcome.as_str().to_owned(),
            actor: event.actor,
            ip: event.ip.map(|ip| ip.to_string()),
            details: event.details.clone(),
        }
    }
}

/// One part's line count and digest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartSummary {
    pub name: Part,
    pub lines: u64,
    pub sha256: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trailer {
    pub parts: Vec<PartSummary>,
}

/// One line of a bundle.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Line {
    Header(Header),
    Document {
        id: DocumentId,
        body: Map<String, Value>,
    },
    Member(MemberLine),
    Invitation(InvitationLine),
    ApiKey(ApiKeyLine),
    Webhook(WebhookLine),
    AuditEvent(AuditLine),
    Trailer(Trailer),
}

impl Line {
    #[must_use]
    pub fn document(document: &Document) -> Self {
        Self::Document {
            id: document.id,
            body: document.body.fields().clone(),
        }
    }

    /// The part a line belongs to; `None` for the header and the trailer.
    #[must_use]
    pub const fn part(&self) -> Option<Part> {
        match self {
            Self::Document { .. } => Some(Part::Documents),
            Self::Member(_) => Some(Part::Members),
            Self::Invitation(_) => Some(Part::Invitations),
            Self::ApiKey(_) => Some(Part::ApiKeys),
            Self::Webhook(_) => Some(Part::Webhooks),
            Self::AuditEvent(_) => Some(Part::AuditEvents),
            Self::Header(_) | Self::Trailer(_) => None,
        }
    }
}
