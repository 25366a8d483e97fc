//! The roster's rules for webhook endpoints: owners and admins keep them.

use chrono::{DateTime, Duration, Utc};

use super::{Roster, RosterRule};
use crate::ids::{UserId, WebhookId};
use crate::roles::Permission;
use crate::webhooks::{
    EndpointSecret, EventFilter, WebhookEndpoint, WebhookSecret, WebhookUrl, MAX_ENDPOINTS,
    SECRET_OVERLAP_HOURS,
};

/// What an edit of an endpoint changes; `None` keeps a field as it is.
#[derive(Clone, Debug, Default)]
pub struct EndpointEdit {
    pub url: Option<WebhookUrl>,
    pub events: Option<EventFilter>,
    pub enabled: Option<bool>,
}

impl Roster {
    #[must_use]
    pub fn webhook(&self, id: &WebhookId) -> Option<&WebhookEndpoint> {
        self.webhooks.iter().find(|w| w.id == *id)
    }

    fn managed_webhook(
        &mut self,
        caller: &UserId,
        id: &WebhookId,
    ) -> Result<&mut WebhookEndpoint, RosterRule> {
        self.caller_role(caller, Permission::ManageWebhooks)?;
        self.webhooks
            .iter_mut()
            .find(|w| w.id == *id)
            .ok_or(RosterRule::NoSuchWebhook)
    }

    /// The endpoints, for those who manage them.
    ///
    /// # Errors
    /// `Forbidden`.
    pub fn webhooks_for(&self, caller: &UserId) -> Result<&[WebhookEndpoint], RosterRule> {
        self.caller_role(caller, Permission::ManageWebhooks)?;
        Ok(&self.webhooks)
    }

    /// # Errors
    /// `Forbidden`, `NoSuchWebhook`.
    pub fn webhook_for(
        &self,
        caller: &UserId,
        id: &WebhookId,
    ) -> Result<&WebhookEndpoint, RosterRule> {
        self.caller_role(caller, Permission::ManageWebhooks)?;
        self.webhook(id).ok_or(RosterRule::NoSuchWebhook)
    }

    /// `caller` registers `endpoint`.
    ///
    /// # Errors
    /// `Forbidden`, `TooManyWebhooks`.
    pub fn add_webhook(
        &mut self,
        caller: &UserId,
        endpoint: WebhookEndpoint,
    ) -> Result<(), RosterRule> {
        self.caller_role(caller, Permission::ManageWebhooks)?;
        if self.webhooks.len() >= MAX_ENDPOINTS {
            return Err(RosterRule::TooManyWebhooks);
        }
        self.webhooks.push(endpoint);
        Ok(())
    }

    /// `caller` changes endpoint `id`. Enabling it clears why the worker disabled it.
    ///
    /// # Errors
    /// `Forbidden`, `NoSuchWebhook`.
    pub fn edit_webhook(
        &mut self,
        caller: &UserId,
        id: &WebhookId,
        edit: EndpointEdit,
        at: DateTime<Utc>,
    ) -> Result<WebhookEndpoint, RosterRule> {
        let endpoint = self.managed_webhook(caller, id)?;
        if let Some(url) = edit.url {
            endpoint.url = url;
        }
        if let Some(events) = edit.events {
            endpoint.events = events;
        }
        if let Some(enabled) = edit.enabled {
            endpoint.enabled = enabled;
            endpoint.disabled_reason = None;
        }
        endpoint.updated_at = at;
        Ok(endpoint.clone())
    }

    /// `caller` gives endpoint `id` a new current secret; the one it replaces keeps signing
    /// for [`SECRET_OVERLAP_HOURS`], and any older ones stop.
    ///
    /// # Errors
    /// `Forbidden`, `NoSuchWebhook`.
    pub fn rotate_webhook_secret(
        &mut self,
        caller: &UserId,
        id: &WebhookId,
        secret: WebhookSecret,
        at: DateTime<Utc>,
    ) -> Result<WebhookEndpoint, RosterRule> {
        let endpoint = self.managed_webhook(caller, id)?;
        endpoint.secrets.truncate(1);
        if let Some(previous) = endpoint.secrets.first_mut() {
            previous.expires_at = Some(at + Duration::hours(SECRET_OVERLAP_HOURS));
        }
        endpoint.secrets.insert(
            0,
            EndpointSecret {
                secret,
                created_at: at,
                expires_at: None,
            },
        );
        endpoint.updated_at = at;
        Ok(endpoint.clone())
    }

    /// `caller` removes endpoint `id`: nothing more is sent to it.
    ///
    /// # Errors
    /// `Forbidden`, `NoSuchWebhook`.
    pub fn remove_webhook(
        &mut self,
        caller: &UserId,
        id: &WebhookId,
    ) -> Result<WebhookEndpoint, RosterRule> {
        self.caller_role(caller, Permission::ManageWebhooks)?;
        let index = self
            .webhooks
            .iter()
            .position(|w| w.id == *id)
            .ok_or(RosterRule::NoSuchWebhook)?;
        Ok(self.webhooks.remove(index))
    }

    /// The delivery worker turns endpoint `id` off after failing too long; whether it was on.
    pub fn disable_failing_webhook(
        &mut self,
        id: &WebhookId,
        reason: String,
        at: DateTime<Utc>,
    ) -> bool {
        match self.webhooks.iter_mut().find(|w| w.id == *id) {
            Some(endpoint) if endpoint.enabled => {
                endpoint.enabled = false;
                endpoint.disabled_reason = Some(reason);
                endpoint.updated_at = at;
                true
            }
            _ => false,
        }
    }
}
