//! Webhook endpoints as the roster record keeps them. Their signing secrets are stored as they
//! are: an HMAC key has to be known to sign, so it cannot be a digest like an API key's.

use chrono::{DateTime, Utc};
use orgsvc_domain::errors::StoreError;
use orgsvc_domain::webhooks::{
    EndpointSecret, EventFilter, EventType, WebhookEndpoint, WebhookSecret, WebhookUrl,
};
use serde::{Deserialize, Serialize};

use super::{corrupt, id};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WebhookRecord {
    pub id: String,
    pub url: String,
    /// Event type names; empty for every type.
    #[serde(default)]
    pub events: Vec<String>,
    pub enabled: bool,
    pub secrets: Vec<SecretRecord>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SecretRecord {
    pub secret: String,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

impl WebhookRecord {
    pub fn from_domain(endpoint: &WebhookEndpoint) -> Self {
        Self {
            id: endpoint.id.to_string(),
            url: endpoint.url.as_str().to_owned(),
            events: endpoint
                .events
                .iter()
                .map(|t| t.as_str().to_owned())
                .collect(),
            enabled: endpoint.enabled,
            secrets: endpoint
                .secrets
                .iter()
                .map(|s| SecretRecord {
                    secret: s.secret.expose().to_owned(),
                    created_at: s.created_at,
                    expires_at: s.expires_at,
                })
                .collect(),
            created_by: endpoint.created_by.to_string(),
            created_at: endpoint.created_at,
            updated_at: endpoint.updated_at,
            disabled_reason: endpoint.disabled_reason.clone(),
        }
    }

    pub fn into_domain(self) -> Result<WebhookEndpoint, StoreError> {
        let events = self
            .events
            .iter()
            .map(|raw| {
                EventType::parse(raw).ok_or_else(|| corrupt(format!("unknown event type {raw:?}")))
            })
            .collect::<Result<EventFilter, _>>()?;
        Ok(WebhookEndpoint {
            id: id(&self.id)?,
            url: WebhookUrl::stored(self.url),
            events,
            enabled: self.enabled,
            secrets: self
                .secrets
                .into_iter()
                .map(|s| EndpointSecret {
                    secret: WebhookSecret::stored(s.secret),
                    created_at: s.created_at,
                    expires_at: s.expires_at,
                })
                .collect(),
            created_by: id(&self.created_by)?,
            created_at: self.created_at,
            updated_at: self.updated_at,
            disabled_reason: self.disabled_reason,
        })
    }
}
