//! A decorator over any store that records every port call's latency, and its storage
//! failures, as metrics labelled by backend and operation. The adapters stay free of metrics
//! code, and both backends are measured the same way.
//!
//! - `orgsvc_storage_operation_duration_seconds{backend, operation}`: a histogram;
//! - `orgsvc_storage_errors_total{backend, operation, kind}`: failures of the store itself
//!   (`unavailable`, `unknown`), not answers such as "not found" or "name taken".

use std::future::Future;
use std::time::Instant;

use orgsvc_domain::errors::{AsStoreError, StoreError};
use orgsvc_domain::ports::AuditLog;
use orgsvc_domain::{AuditEvent, AuditEventId, OrganizationId};

/// `inner` with every call measured under the label `backend`.
#[derive(Clone, Debug)]
pub struct Instrumented<S> {
    inner: S,
    backend: &'static str,
}

impl<S> Instrumented<S> {
    pub const fn new(inner: S, backend: &'static str) -> Self {
        Self { inner, backend }
    }

    async fn measure<T, E: AsStoreError>(
        &self,
        operation: &'static str,
        call: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let started = Instant::now();
        let result = call.await;
        self.record(operation, started);
        if let Some(failure) = result.as_ref().err().and_then(AsStoreError::as_store_error) {
            metrics::counter!(
                "orgsvc_storage_errors_total",
                "backend" => self.backend,
                "operation" => operation,
                "kind" => failure.kind(),
            )
            .increment(1);
        }
        result
    }

    fn record(&self, operation: &'static str, started: Instant) {
        metrics::histogram!(
            "orgsvc_storage_operation_duration_seconds",
            "backend" => self.backend,
            "operation" => operation,
        )
        .record(started.elapsed().as_secs_f64());
    }
}

crate::decorate::decorate_organizations!(Instrumented, |this, operation, call| this
    .measure(operation, call));
crate::decorate::decorate_members!(Instrumented, |this, operation, call| this
    .measure(operation, call));
crate::decorate::decorate_login_attempts!(Instrumented, |this, operation, call| this
    .measure(operation, call));
crate::decorate::decorate_documents!(Instrumented, |this, operation, call| this
    .measure(operation, call));
crate::decorate::decorate_snapshots!(Instrumented, |this, operation, call| this
    .measure(operation, call));
crate::decorate::decorate_outbox!(Instrumented, |this, operation, call| this
    .measure(operation, call));
crate::decorate::decorate_exports!(Instrumented, |this, operation, call| this
    .measure(operation, call));

impl<S: AuditLog> AuditLog for Instrumented<S> {
    async fn record(&self, event: &AuditEvent) {
        // Best-effort by contract: the adapter logs its own failures and returns nothing.
        let started = Instant::now();
        self.inner.record(event).await;
        self.record("record_audit_event", started);
    }

    async fn list_audit_events(
        &self,
        organization: &OrganizationId,
        after: Option<&AuditEventId>,
        limit: usize,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        self.measure(
            "list_audit_events",
            self.inner.list_audit_events(organization, after, limit),
        )
        .await
    }
}
