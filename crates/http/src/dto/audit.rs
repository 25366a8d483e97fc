//! The audit log.

use chrono::{DateTime, Utc};
use orgsvc_domain::{AuditAction, AuditEvent, AuditEventId, AuditPage, Outcome};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};
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
    #[schema(schema_with = action_schema)]
    pub action: &'static str,
    #[schema(schema_with = outcome_schema)]
    pub outcome: &'static str,
    /// The admin who acted, when known.
    pub actor: Option<Uuid>,
    /// The client address.
    pub ip: Option<String>,
    /// What the event is about; never a password, hash or token.
    #[schema(value_type = Object)]
    pub details: Map<String, Value>,
}

/// A string schema listing every name in `names`: generated clients get a complete enum.
pub(super) fn names_schema(description: &str, names: impl Iterator<Item = &'static str>) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .enum_values(Some(names))
        .build()
}

fn action_schema() -> Object {
    names_schema(
        "What happened; stable snake_case names (more may be added).",
        AuditAction::ALL.iter().map(|action| action.as_str()),
    )
}

fn outcome_schema() -> Object {
    names_schema(
        "Whether it worked.",
        Outcome::ALL.iter().map(|outcome| outcome.as_str()),
    )
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
