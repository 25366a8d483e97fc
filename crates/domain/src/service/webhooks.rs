//! Webhook endpoints: registered, listed, changed, given new secrets and removed by owners and
//! admins, each a roster edit (see [`crate::members`]); their delivery logs and replays. The
//! sending itself is the [`Deliverer`]'s.

use std::future::Future;

use serde_json::json;

use crate::audit::{AuditAction, Origin};
use crate::errors::MemberError;
use crate::ids::WebhookId;
use crate::members::EndpointEdit;
use crate::ports::prelude::*;
use crate::ports::Principal;
use crate::service::access::authorize;
use crate::service::{Ports, Service};
use crate::webhooks::{
    EndpointProgress, EndpointSecret, EventFilter, Replay, WebhookEndpoint, WebhookSecret,
    WebhookUrl,
};
use crate::{Permission, RosterRule};

mod delivery;

pub use delivery::{Deliverer, DeliveryPolicy, Worked};

/// What a new endpoint is to be.
#[derive(Clone, Debug)]
pub struct NewWebhook {
    pub url: WebhookUrl,
    pub events: EventFilter,
    pub enabled: bool,
}

/// An endpoint with its current secret, which is shown when it is made or rotated.
#[derive(Clone, Debug)]
pub struct IssuedWebhook {
    pub endpoint: WebhookEndpoint,
    pub secret: WebhookSecret,
}

/// What to send again.
#[derive(Clone, Copy, Debug)]
pub enum ReplayRequest {
    /// The event with this `seq`.
    Event(u64),
    /// Everything from then on.
    Since(chrono::DateTime<chrono::Utc>),
}

/// The webhook operations, for owners and admins (never for an API key).
pub trait WebhookApi: Clone + Send + Sync + 'static {
    /// # Errors
    /// `Rule(Forbidden)` below admin, `Rule(TooManyWebhooks)`.
    fn create_webhook(
        &self,
        origin: &Origin,
        caller: &Principal,
        webhook: NewWebhook,
    ) -> impl Future<Output = Result<IssuedWebhook, MemberError>> + Send;

    /// # Errors
    /// `Rule(Forbidden)`.
    fn list_webhooks(
        &self,
        caller: &Principal,
    ) -> impl Future<Output = Result<Vec<WebhookEndpoint>, MemberError>> + Send;

    /// # Errors
    /// `Rule(Forbidden | NoSuchWebhook)`.
    fn update_webhook(
        &self,
        origin: &Origin,
        caller: &Principal,
        id: &WebhookId,
        edit: EndpointEdit,
    ) -> impl Future<Output = Result<WebhookEndpoint, MemberError>> + Send;

    /// A new current secret; the previous one keeps signing for a day.
    ///
    /// # Errors
    /// `Rule(Forbidden | NoSuchWebhook)`.
    fn rotate_webhook_secret(
        &self,
        origin: &Origin,
        caller: &Principal,
        id: &WebhookId,
    ) -> impl Future<Output = Result<IssuedWebhook, MemberError>> + Send;

    /// # Errors
    /// `Rule(Forbidden | NoSuchWebhook)`.
    fn delete_webhook(
        &self,
        origin: &Origin,
        caller: &Principal,
        id: &WebhookId,
    ) -> impl Future<Output = Result<(), MemberError>> + Send;

    /// The endpoint's progress with its delivery log, oldest attempt first.
    ///
    /// # Errors
    /// `Rule(Forbidden | NoSuchWebhook)`.
    fn webhook_deliveries(
        &self,
        caller: &Principal,
        id: &WebhookId,
    ) -> impl Future<Output = Result<EndpointProgress, MemberError>> + Send;

    /// Queues a replay to the endpoint.
    ///
    /// # Errors
    /// `Rule(Forbidden | NoSuchWebhook | WebhookDisabled)`, `ReplaysQueued`.
    fn replay_webhook(
        &self,
        origin: &Origin,
        caller: &Principal,
        id: &WebhookId,
        request: ReplayRequest,
    ) -> impl Future<Output = Result<(), MemberError>> + Send;
}

fn details(endpoint: &WebhookEndpoint) -> serde_json::Value {
    json!({
        "webhook_id": endpoint.id.to_string(),
        "url": endpoint.url.as_str(),
        "enabled": endpoint.enabled,
    })
}

impl<P: Ports> WebhookApi for Service<P> {
    async fn create_webhook(
        &self,
        origin: &Origin,
        caller: &Principal,
        new: NewWebhook,
    ) -> Result<IssuedWebhook, MemberError> {
        authorize(caller, Permission::ManageWebhooks)?;
        let now = self.clock.now();
        let secret = WebhookSecret::generate();
        let endpoint = WebhookEndpoint {
            id: WebhookId::generate(),
            url: new.url,
            events: new.events,
            enabled: new.enabled,
            secrets: vec![EndpointSecret {
                secret: secret.clone(),
                created_at: now,
                expires_at: None,
            }],
            created_by: caller.user_id,
            created_at: now,
            updated_at: now,
            disabled_reason: None,
        };
        self.edit_roster(&caller.organization_id, None, |roster| {
            Ok(roster.add_webhook(&caller.user_id, endpoint.clone())?)
        })
        .await?;
        let action = AuditAction::WebhookCreated;
        self.record(origin, caller.into(), action, details(&endpoint))
            .await;
        Ok(IssuedWebhook { endpoint, secret })
    }

    async fn list_webhooks(&self, caller: &Principal) -> Result<Vec<WebhookEndpoint>, MemberError> {
        authorize(caller, Permission::ManageWebhooks)?;
        let roster = self.roster(&caller.organization_id).await?;
        Ok(roster.webhooks_for(&caller.user_id)?.to_vec())
    }

    async fn update_webhook(
        &self,
        origin: &Origin,
        caller: &Principal,
        id: &WebhookId,
        edit: EndpointEdit,
    ) -> Result<WebhookEndpoint, MemberError> {
        authorize(caller, Permission::ManageWebhooks)?;
        let now = self.clock.now();
        let endpoint = self
            .edit_roster(&caller.organization_id, None, |roster| {
                Ok(roster.edit_webhook(&caller.user_id, id, edit.clone(), now)?)
            })
            .await?;
        let action = AuditAction::WebhookUpdated;
        self.record(origin, caller.into(), action, details(&endpoint))
            .await;
        Ok(endpoint)
    }

    async fn rotate_webhook_secret(
        &self,
        origin: &Origin,
        caller: &Principal,
        id: &WebhookId,
    ) -> Result<IssuedWebhook, MemberError> {
        authorize(caller, Permission::ManageWebhooks)?;
        let now = self.clock.now();
        let secret = WebhookSecret::generate();
        let endpoint = self
            .edit_roster(&caller.organization_id, None, |roster| {
                Ok(roster.rotate_webhook_secret(&caller.user_id, id, secret.clone(), now)?)
            })
            .await?;
        let action = AuditAction::WebhookSecretRotated;
        self.record(origin, caller.into(), action, details(&endpoint))
            .await;
        Ok(IssuedWebhook { endpoint, secret })
    }

    async fn delete_webhook(
        &self,
        origin: &Origin,
        caller: &Principal,
        id: &WebhookId,
    ) -> Result<(), MemberError> {
        authorize(caller, Permission::ManageWebhooks)?;
        let endpoint = self
            .edit_roster(&caller.organization_id, None, |roster| {
                Ok(roster.remove_webhook(&caller.user_id, id)?)
            })
            .await?;
        let action = AuditAction::WebhookDeleted;
        self.record(origin, caller.into(), action, details(&endpoint))
            .await;
        Ok(())
    }

    async fn webhook_deliveries(
        &self,
        caller: &Principal,
        id: &WebhookId,
    ) -> Result<EndpointProgress, MemberError> {
        authorize(caller, Permission::ManageWebhooks)?;
        let roster = self.roster(&caller.organization_id).await?;
        roster.webhook_for(&caller.user_id, id)?;
        let mut progress = self.store.outbox_progress(&caller.organization_id).await?;
        Ok(progress.endpoints.remove(id).unwrap_or_default())
    }

    async fn replay_webhook(
        &self,
        origin: &Origin,
        caller: &Principal,
        id: &WebhookId,
        request: ReplayRequest,
    ) -> Result<(), MemberError> {
        authorize(caller, Permission::ManageWebhooks)?;
        let roster = self.roster(&caller.organization_id).await?;
        let endpoint = roster.webhook_for(&caller.user_id, id)?;
        let (replay, what) = match request {
            ReplayRequest::Event(seq) => (
                Replay::Event { endpoint: *id, seq },
                json!({"webhook_id": id.to_string(), "seq": seq}),
            ),
            ReplayRequest::Since(since) => (
                Replay::Since {
                    endpoint: *id,
                    since,
                },
                json!({"webhook_id": id.to_string(), "since": since}),
            ),
        };
        if !endpoint.enabled {
            return Err(RosterRule::WebhookDisabled.into());
        }
        if !self
            .store
            .request_replay(&caller.organization_id, &replay)
            .await?
        {
            return Err(MemberError::ReplaysQueued);
        }
        let action = AuditAction::WebhookReplayRequested;
        self.record(origin, caller.into(), action, what).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
