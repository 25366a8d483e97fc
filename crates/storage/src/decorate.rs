//! The [`Outbox`](orgsvc_domain::ports::Outbox) port for the decorators ([`crate::Cached`],
//! [`crate::Instrumented`]): every call goes to their `inner` store through one expression of
//! theirs, so the port's methods are listed once here rather than once per decorator.

/// `decorate_outbox!(Type, |this, operation, call| expr)` implements `Outbox` for `Type<S>`:
/// `call` is the inner store's future for the method named `operation`, and `expr` the
/// future the decorator answers with.
macro_rules! decorate_outbox {
    ($decorator:ident, |$this:ident, $operation:ident, $call:ident| $via:expr) => {
        impl<S: orgsvc_domain::ports::Outbox> orgsvc_domain::ports::Outbox for $decorator<S> {
            async fn claim_outboxes(
                &self,
                owner: &str,
                now: chrono::DateTime<chrono::Utc>,
                until: chrono::DateTime<chrono::Utc>,
                limit: usize,
            ) -> Result<Vec<orgsvc_domain::webhooks::OutboxClaim>, orgsvc_domain::errors::StoreError>
            {
                let ($this, $operation) = (self, "claim_outboxes");
                let $call = self.inner.claim_outboxes(owner, now, until, limit);
                $via.await
            }

            async fn outbox_events(
                &self,
                organization: &orgsvc_domain::OrganizationId,
                after: u64,
                limit: usize,
            ) -> Result<Vec<orgsvc_domain::webhooks::WebhookEvent>, orgsvc_domain::errors::StoreError>
            {
                let ($this, $operation) = (self, "outbox_events");
                let $call = self.inner.outbox_events(organization, after, limit);
                $via.await
            }

            async fn outbox_seq_before(
                &self,
                organization: &orgsvc_domain::OrganizationId,
                at: chrono::DateTime<chrono::Utc>,
            ) -> Result<u64, orgsvc_domain::errors::StoreError> {
                let ($this, $operation) = (self, "outbox_seq_before");
                let $call = self.inner.outbox_seq_before(organization, at);
                $via.await
            }

            async fn release_outbox(
                &self,
                owner: &str,
                claim: &orgsvc_domain::webhooks::OutboxClaim,
                progress: &orgsvc_domain::webhooks::OutboxProgress,
                wake: Option<chrono::DateTime<chrono::Utc>>,
            ) -> Result<bool, orgsvc_domain::errors::StoreError> {
                let ($this, $operation) = (self, "release_outbox");
                let $call = self.inner.release_outbox(owner, claim, progress, wake);
                $via.await
            }

            async fn purge_outbox(
                &self,
                owner: &str,
                organization: &orgsvc_domain::OrganizationId,
            ) -> Result<(), orgsvc_domain::errors::StoreError> {
                let ($this, $operation) = (self, "purge_outbox");
                let $call = self.inner.purge_outbox(owner, organization);
                $via.await
            }

            async fn outbox_progress(
                &self,
                organization: &orgsvc_domain::OrganizationId,
            ) -> Result<orgsvc_domain::webhooks::OutboxProgress, orgsvc_domain::errors::StoreError>
            {
                let ($this, $operation) = (self, "outbox_progress");
                let $call = self.inner.outbox_progress(organization);
                $via.await
            }

            async fn request_replay(
                &self,
                organization: &orgsvc_domain::OrganizationId,
                replay: &orgsvc_domain::webhooks::Replay,
            ) -> Result<bool, orgsvc_domain::errors::StoreError> {
                let ($this, $operation) = (self, "request_replay");
                let $call = self.inner.request_replay(organization, replay);
                $via.await
            }
        }
    };
}

pub(crate) use decorate_outbox;
