//! The audit log in the master database's `audit` collection: `_id` is the event id (UUIDv7,
//! time-ordered), indexed with the organization so one organization's events page in `_id`
//! order. Old events go after `audit_retention_days`, by TTL index.

use bson::{doc, Document as BsonDocument};
use futures_util::TryStreamExt as _;
use orgsvc_domain::errors::StoreError;
use orgsvc_domain::ports::AuditLog;
use orgsvc_domain::{AuditAction, AuditEvent, AuditEventId, OrganizationId, Outcome};
use serde::{Deserialize, Serialize};

use super::errors::timed;
use super::MongoStore;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EventDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub organization_id: Option<String>,
    pub at: bson::DateTime,
    pub action: String,
    pub outcome: String,
    pub actor: Option<String>,
    pub ip: Option<String>,
    pub details: BsonDocument,
}

fn corrupt(error: impl std::fmt::Display) -> StoreError {
    StoreError::Unknown(anyhow::anyhow!("corrupt audit event: {error}"))
}

impl EventDoc {
    fn from_domain(event: &AuditEvent) -> Result<Self, StoreError> {
        Ok(Self {
            id: event.id.to_string(),
            organization_id: event.organization_id.map(|id| id.to_string()),
            at: bson::DateTime::from_chrono(event.at),
            action: event.action.as_str().to_owned(),
            outcome: event.outcome.as_str().to_owned(),
            actor: event.actor.map(|id| id.to_string()),
            ip: event.ip.map(|ip| ip.to_string()),
            details: bson::to_document(&event.details)
                .map_err(|e| StoreError::Unknown(e.into()))?,
        })
    }

    fn into_domain(self) -> Result<AuditEvent, StoreError> {
        Ok(AuditEvent {
            id: AuditEventId::from_uuid(self.id.parse().map_err(corrupt)?),
            at: self.at.to_chrono(),
            organization_id: self
                .organization_id
                .map(|id| id.parse())
                .transpose()
                .map_err(corrupt)?,
            action: AuditAction::parse(&self.action).ok_or_else(|| corrupt(&self.action))?,
            outcome: Outcome::parse(&self.outcome).ok_or_else(|| corrupt(&self.outcome))?,
            actor: self
                .actor
                .map(|id| id.parse())
                .transpose()
                .map_err(corrupt)?,
            ip: self.ip.map(|ip| ip.parse()).transpose().map_err(corrupt)?,
            details: bson::from_document(self.details).map_err(corrupt)?,
        })
    }
}

impl AuditLog for MongoStore {
    async fn record(&self, event: &AuditEvent) {
        let written = async {
            self.ensure_ready().await?;
            let document = EventDoc::from_domain(event)?;
            timed(self.op_timeout(), self.inner.audit.insert_one(&document)).await?;
            Ok::<_, StoreError>(())
        }
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
        self.ensure_ready().await?;
        let mut filter = doc! {"organization_id": organization.to_string()};
        if let Some(after) = after {
            filter.insert("_id", doc! {"$lt": after.to_string()});
        }
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let found: Vec<EventDoc> = timed(self.op_timeout(), async {
            self.inner
                .audit
                .find(filter)
                .sort(doc! {"_id": -1})
                .limit(limit)
                .await?
                .try_collect()
                .await
        })
        .await?;
        found.into_iter().map(EventDoc::into_domain).collect()
    }
}
