//! The audit log in its own redb table, keyed by (organization, event id) so one
//! organization's events are one contiguous range, newest last.

use chrono::{DateTime, Utc};
use orgsvc_domain::errors::StoreError;
use orgsvc_domain::ports::AuditLog;
use orgsvc_domain::{AuditAction, AuditEvent, AuditEventId, OrganizationId, Outcome, UserId};
use redb::TableDefinition;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::{corrupt, db_err, records, EmbeddedStore};

/// (organization id, or 0 for events about no organization; event id) -> [`EventRecord`].
pub const AUDIT: TableDefinition<(u128, u128), &[u8]> = TableDefinition::new("master.audit");

#[derive(Serialize, Deserialize)]
struct EventRecord {
    at: DateTime<Utc>,
    action: String,
    outcome: String,
    actor: Option<u128>,
    ip: Option<std::net::IpAddr>,
    details: Map<String, Value>,
}

fn key(organization: Option<&OrganizationId>) -> u128 {
    organization.map_or(0, |id| id.as_uuid().as_u128())
}

fn event_from(organization: u128, id: u128, bytes: &[u8]) -> Result<AuditEvent, StoreError> {
    let record: EventRecord = records::from_bytes("audit event", bytes)?;
    Ok(AuditEvent {
        id: AuditEventId::from_uuid(Uuid::from_u128(id)),
        at: record.at,
        organization_id: (organization != 0)
            .then(|| OrganizationId::from_uuid(Uuid::from_u128(organization))),
        action: AuditAction::parse(&record.action)
            .ok_or_else(|| corrupt("audit event", &record.action))?,
        outcome: Outcome::parse(&record.outcome)
            .ok_or_else(|| corrupt("audit event", &record.outcome))?,
        actor: record
            .actor
            .map(|actor| UserId::from_uuid(Uuid::from_u128(actor))),
        ip: record.ip,
        details: record.details,
    })
}

impl AuditLog for EmbeddedStore {
    async fn record(&self, event: &AuditEvent) {
        let key = (
            key(event.organization_id.as_ref()),
            event.id.as_uuid().as_u128(),
        );
        let record = EventRecord {
            at: event.at,
            action: event.action.as_str().to_owned(),
            outcome: event.outcome.as_str().to_owned(),
            actor: event.actor.map(|actor| actor.as_uuid().as_u128()),
            ip: event.ip,
            details: event.details.clone(),
        };
        let bytes = records::to_bytes(&record);
        let written = self
            .writer
            .submit("audit event lost", move |txn| {
                txn.open_table(AUDIT)
                    .map_err(db_err)?
                    .insert(key, bytes.as_slice())
                    .map_err(db_err)?;
                Ok(())
            })
            .await;
        if let Err(e) = written {
            tracing::error!(error = ?e, action = event.action.as_str(), "audit event lost");
        }
    }

    async fn list_audit_events(
        &self,
        organization: &OrganizationId,
        after: Option<&AuditEventId>,
        limit: usize,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        // Events are committed after their calls answered (see `writer`): wait for those.
        self.writer.flush().await?;
        let organization = key(Some(organization));
        let before = after.map_or(u128::MAX, |id| id.as_uuid().as_u128());
        self.run(move |db| {
            let txn = db.begin_read().map_err(db_err)?;
            let table = txn.open_table(AUDIT).map_err(db_err)?;
            let range = table
                .range((organization, 0)..(organization, before))
                .map_err(db_err)?;
            let mut events = Vec::with_capacity(limit.min(1024));
            for entry in range.rev().take(limit) {
                let (key, value) = entry.map_err(db_err)?;
                let (organization, id) = key.value();
                events.push(event_from(organization, id, value.value())?);
            }
            Ok(events)
        })
        .await
    }
}
