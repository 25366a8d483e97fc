//! The audit log.

use chrono::{DateTime, Utc};
use orgsvc_domain::{AuditEvent, AuditEventId, AuditPage};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

/// Parses an audit event id from a query.
///
/// # Errors
/// When `raw` is not a UUID.
pub fn audit_event_id(raw: &str) -> Result<AuditEventId, &'static str> {
    raw.parse()
        .map_err(|_| "must be an audit event id (a UUID)")
}

/// One entry of the audit log.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "0193a3c2-8f1e-7c4e-9b7a-1f2e3d4c5b6a", "at": "2026-11-24T13:31:09.123Z",
    "action": "login_failed", "outcome": "failure", "actor": null, "ip": "203.0.113.9",
    "details": {"email": "admin@acme.example", "reason": "wrong_password"}}))]
pub struct AuditEventResponse {
    /// Time-ordered (UUIDv7).
    pub id: Uuid,
    pub at: DateTime<Utc>,
    /// Stable snake_case: organization_created, login_succeeded, login_failed, account_locked,
    /// organization_renamed, credentials_changed, tokens_revoked, document_created,
    /// document_replaced, document_deleted, organization_deleted.
    pub action: &'static str,
    /// `success` or `failure`.
    pub outcome: &'static str,
    /// The admin who acted, when known.
    pub actor: Option<Uuid>,
    /// The client address.
    pub ip: Option<String>,
    /// What the event is about; never a password, hash or token.
    #[schema(value_type = Object)]
    pub details: Map<String, Value>,
}

impl From<AuditEvent> for AuditEventResponse {
    fn from(event: AuditEvent) -> Self {
        Self {
            id: *event.id.as_uuid(),
            at: event.at,
            action: event.action.as_str(),
            outcome: event.outcome.as_str(),
            actor: event.actor.map(|actor| *actor.as_uuid()),
            ip: event.ip.map(|ip| ip.to_string()),
            details: event.details,
        }
    }
}

/// One page of the audit log, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPageResponse {
    pub events: Vec<AuditEventResponse>,
    /// Pass as `after` for the next (older) page; `null` on the last page.
    pub next: Option<Uuid>,
}

impl From<AuditPage> for AuditPageResponse {
    fn from(page: AuditPage) -> Self {
        Self {
            events: page.events.into_iter().map(Into::into).collect(),
            next: page.next.map(|id| *id.as_uuid()),
        }
    }
}
