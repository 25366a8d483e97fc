//! Appending to and reading the audit log.

use serde_json::Value;

use crate::audit::{AuditAction, AuditEvent, AuditPage, Origin, Outcome};
use crate::document::PageLimit;
use crate::ids::{AuditEventId, OrganizationId, UserId};
use crate::ports::{Clock, PasswordHasher, Principal, Store, TokenCodec};
use crate::service::{Service, StoreError};

/// Who an event is about and who acted.
#[derive(Clone, Copy, Debug)]
pub(super) struct Subject {
    pub organization: Option<OrganizationId>,
    pub actor: Option<UserId>,
}

impl From<&Principal> for Subject {
    fn from(caller: &Principal) -> Self {
        Self {
            organization: Some(caller.organization_id),
            actor: Some(caller.user_id),
        }
    }
}

impl<S: Store, H: PasswordHasher, T: TokenCodec, C: Clock> Service<S, H, T, C> {
    /// Appends one event; `details` is a JSON object without secrets.
    pub(super) async fn audit(
        &self,
        origin: &Origin,
        subject: Subject,
        action: AuditAction,
        outcome: Outcome,
        details: Value,
    ) {
        let details = match details {
            Value::Object(details) => details,
            _ => serde_json::Map::new(),
        };
        let event = AuditEvent {
            id: AuditEventId::generate(),
            at: self.clock.now(),
            organization_id: subject.organization,
            action,
            outcome,
            actor: subject.actor,
            ip: origin.ip,
            details,
        };
        self.store.record(&event).await;
    }

    pub(super) async fn audit_page(
        &self,
        caller: &Principal,
        after: Option<AuditEventId>,
        limit: PageLimit,
    ) -> Result<AuditPage, StoreError> {
        let events = self
            .store
            .list_audit_events(&caller.organization_id, after.as_ref(), limit.fetch())
            .await?;
        let (events, next) = limit.page(events, |event| event.id);
        Ok(AuditPage { events, next })
    }
}
