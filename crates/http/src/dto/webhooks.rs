//! Webhook endpoints, their delivery logs and replays.

use chrono::{DateTime, Utc};
use orgsvc_domain::members::EndpointEdit;
use orgsvc_domain::webhooks::{
    AttemptOutcome, DeliveryRecord, EndpointProgress, EventFilter, EventType, TargetPolicy,
    WebhookEndpoint, WebhookUrl,
};
use orgsvc_domain::{IssuedWebhook, NewWebhook, ReplayRequest, WebhookId};
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{Array, ArrayBuilder, Object, Type};
use utoipa::ToSchema;
use uuid::Uuid;

use super::audit::names_schema;
use super::Fields;
use crate::problem::ApiError;

fn event_type_schema() -> Object {
    names_schema(
        "An event type; stable names (more may be added).",
        EventType::ALL.iter().map(|t| t.as_str()),
    )
}

fn event_types_schema() -> Array {
    ArrayBuilder::new()
        .items(event_type_schema())
        .description(Some(
            "The event types sent to the endpoint; empty or absent for every type, also those \
             added later.",
        ))
        .unique_items(true)
        .build()
}

/// As [`event_types_schema`]; `null`, like absence, keeps the endpoint's types as they are.
fn changed_event_types_schema() -> Array {
    let mut schema = event_types_schema();
    schema.schema_type = [Type::Array, Type::Null].into_iter().collect();
    schema
}

fn event_filter(fields: &mut Fields, names: &[String]) -> Option<EventFilter> {
    let mut types = Vec::with_capacity(names.len());
    for name in names {
        let parsed = match EventType::parse(name) {
            None => Err(format!("{name:?} is not an event type")),
            Some(t) if types.contains(&t) => Err(format!("{name:?} is named twice")),
            Some(t) => Ok(t),
        };
        types.push(fields.check("events", parsed)?);
    }
    Some(types.into_iter().collect())
}

/// Register a webhook endpoint.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"url": "https://hooks.example.com/orgsvc", "events": ["member.joined"]}))]
pub struct CreateWebhookBody {
    /// An `https` URL of a public host, at most 2048 bytes, without credentials or fragment.
    #[schema(
        example = "https://hooks.example.com/orgsvc",
        max_length = 2048,
        pattern = r"^https?://\S+$"
    )]
    pub url: String,
    #[serde(default)]
    #[schema(schema_with = event_types_schema)]
    pub events: Vec<String>,
    /// Whether deliveries are made; `true` when absent.
    #[serde(default)]
    pub enabled: Option<bool>,
}

impl CreateWebhookBody {
    /// # Errors
    /// A validation error for each bad field.
    pub fn try_into_domain(self, policy: TargetPolicy) -> Result<NewWebhook, ApiError> {
        let mut fields = Fields::default();
        let url = fields.check("url", WebhookUrl::new(&self.url, policy));
        let events = event_filter(&mut fields, &self.events);
        fields.finish(|| {
            Some(NewWebhook {
                url: url?,
                events: events?,
                enabled: self.enabled.unwrap_or(true),
            })
        })
    }
}

/// Change a webhook endpoint; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"enabled": true}))]
pub struct UpdateWebhookBody {
    /// As when registering.
    #[serde(default)]
    #[schema(max_length = 2048, pattern = r"^https?://\S+$")]
    pub url: Option<String>,
    #[serde(default)]
    #[schema(schema_with = changed_event_types_schema)]
    pub events: Option<Vec<String>>,
    /// Enabling an endpoint the service disabled clears `disabled_reason`; it gets what is
    /// committed from then on (a replay brings back what it missed).
    #[serde(default)]
    pub enabled: Option<bool>,
}

impl UpdateWebhookBody {
    /// # Errors
    /// A validation error for each bad field.
    pub fn try_into_domain(self, policy: TargetPolicy) -> Result<EndpointEdit, ApiError> {
        let mut fields = Fields::default();
        let url = self
            .url
            .map(|raw| fields.check("url", WebhookUrl::new(&raw, policy)));
        let events = self.events.map(|names| event_filter(&mut fields, &names));
        fields.finish(|| {
            Some(EndpointEdit {
                url: url.map_or(Some(None), |u| u.map(Some))?,
                events: events.map_or(Some(None), |e| e.map(Some))?,
                enabled: self.enabled,
            })
        })
    }
}

/// What to send again: exactly one of `seq` (one event) and `since` (everything committed
/// from then on).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"since": "2026-12-01T00:00:00Z"}))]
pub struct ReplayBody {
    /// The event's number (the last part of its `webhook-id`), sent once more.
    #[serde(default)]
    #[schema(minimum = 1)]
    pub seq: Option<u64>,
    /// Every event from then on, in order (events are kept for 7 days).
    #[serde(default)]
    pub since: Option<DateTime<Utc>>,
}

impl ReplayBody {
    /// # Errors
    /// A validation error unless exactly one of `seq` and `since` is given.
    pub fn try_into_domain(self) -> Result<ReplayRequest, ApiError> {
        match (self.seq, self.since) {
            (Some(seq), None) if seq > 0 => Ok(ReplayRequest::Event(seq)),
            (Some(_), None) => Err(ApiError::field("seq", "must be at least 1")),
            (None, Some(since)) => Ok(ReplayRequest::Since(since)),
            _ => Err(ApiError::field("seq", "give exactly one of seq and since")),
        }
    }
}

/// A webhook endpoint id in a path.
///
/// # Errors
/// A validation error naming `id`.
pub fn webhook_id(raw: &str) -> Result<WebhookId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::field("id", "must be a webhook endpoint id (a UUID)"))
}

/// A webhook endpoint (never its secret, except once in `secret`).
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookResponse {
    pub id: Uuid,
    #[schema(example = "https://hooks.example.com/orgsvc")]
    pub url: String,
    #[schema(schema_with = event_types_schema)]
    pub events: Vec<&'static str>,
    pub enabled: bool,
    /// Why the service disabled it (after a day of failed deliveries).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The signing secret (`whsec_...`), for a Standard Webhooks library: only in the answer
    /// that created the endpoint or rotated its secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl From<WebhookEndpoint> for WebhookResponse {
    fn from(endpoint: WebhookEndpoint) -> Self {
        Self {
            id: *endpoint.id.as_uuid(),
            url: endpoint.url.as_str().to_owned(),
            events: endpoint.events.iter().map(EventType::as_str).collect(),
            enabled: endpoint.enabled,
            disabled_reason: endpoint.disabled_reason,
            created_by: *endpoint.created_by.as_uuid(),
            created_at: endpoint.created_at,
            updated_at: endpoint.updated_at,
            secret: None,
        }
    }
}

impl From<IssuedWebhook> for WebhookResponse {
    fn from(issued: IssuedWebhook) -> Self {
        let mut response = Self::from(issued.endpoint);
        response.secret = Some(issued.secret.expose().to_owned());
        response
    }
}

/// The organization's webhook endpoints, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhooksResponse {
    pub webhooks: Vec<WebhookResponse>,
}

/// What an attempt came to.
#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcomeDto {
    /// The receiver answered 2xx.
    Delivered,
    /// It will be tried again.
    Failed,
    /// The last attempt failed; the endpoint moved on to the next event.
    GaveUp,
}

impl From<AttemptOutcome> for AttemptOutcomeDto {
    fn from(outcome: AttemptOutcome) -> Self {
        match outcome {
            AttemptOutcome::Delivered => Self::Delivered,
            AttemptOutcome::Failed => Self::Failed,
            AttemptOutcome::GaveUp => Self::GaveUp,
        }
    }
}

/// One attempt to deliver an event.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryResponse {
    /// The `webhook-id` sent.
    #[schema(example = "evt_0193a3c28f1e7c4e9b7a1f2e3d4c5b6a_12")]
    pub event_id: String,
    pub seq: u64,
    #[schema(schema_with = event_type_schema)]
    pub event_type: String,
    /// 1 for the first attempt of the event.
    pub attempt: u32,
    pub at: DateTime<Utc>,
    pub outcome: AttemptOutcomeDto,
    /// The receiver's status, when it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub duration_ms: u64,
    /// Sent on a replay request of this one event.
    pub replay: bool,
}

impl From<DeliveryRecord> for DeliveryResponse {
    fn from(record: DeliveryRecord) -> Self {
        Self {
            event_id: record.event_id,
            seq: record.seq,
            event_type: record.event_type,
            attempt: record.attempt,
            at: record.at,
            outcome: record.outcome.into(),
            status: record.status,
            error: record.error,
            duration_ms: record.duration_ms,
            replay: record.replay,
        }
    }
}

/// Where an endpoint's deliveries stand, with its last 100 attempts, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveriesResponse {
    /// Every event up to this `seq` is done with (delivered, not subscribed to, or given up).
    pub delivered_through: u64,
    /// When the next attempt is due, while one is failing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Since when deliveries have been failing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<DateTime<Utc>>,
    pub deliveries: Vec<DeliveryResponse>,
}

impl From<EndpointProgress> for DeliveriesResponse {
    fn from(progress: EndpointProgress) -> Self {
        Self {
            delivered_through: progress.cursor,
            next_attempt_at: progress.next_at,
            failing_since: progress.failing_since,
            deliveries: progress
                .deliveries
                .into_iter()
                .rev()
                .map(DeliveryResponse::from)
                .collect(),
        }
    }
}
