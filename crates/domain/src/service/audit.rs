//! Appending to and reading the audit log.

use std::future::Future;

use serde_json::Value;

use crate::api_keys::Scope;
use crate::audit::{AuditAction, AuditEvent, AuditPage, Origin, Outcome};
use crate::document::PageLimit;
use crate::ids::{AuditEventId, OrganizationId, UserId};
use crate::ports::prelude::*;
use crate::ports::Principal;
use crate::service::{access, AuditLogError, Ports, Service};

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

impl<P: Ports> Service<P> {
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
}

/// The audit log of the caller's organization.
pub trait AuditApi: Clone + Send + Sync + 'static {
    /// The caller's organization's audit events, newest first, a page at a time.
    ///
    /// # Errors
    /// `Forbidden` for a role that may not read it (members).
    fn list_audit_events(
        &self,
        caller: &Principal,
        after: Option<AuditEventId>,
        limit: PageLimit,
    ) -> impl Future<Output = Result<AuditPage, AuditLogError>> + Send;
}

impl<P: Ports> AuditApi for Service<P> {
    async fn list_audit_events(
        &self,
        caller: &Principal,
        after: Option<AuditEventId>,
        limit: PageLimit,
    ) -> Result<AuditPage, AuditLogError> {
        access::authorize_scope(caller, Scope::AuditRead)?;
        let events = self
            .store
            .list_audit_events(&caller.organization_id, after.as_ref(), limit.fetch())
            .await?;
        let (events, next) = limit.page(events, |event| event.id);
        Ok(AuditPage { events, next })
    }
}
