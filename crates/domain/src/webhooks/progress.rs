//! Where each endpoint's deliveries stand: the delivery worker's own state, kept per
//! organization beside its outbox and written only by the worker holding the organization's
//! claim (and by replay requests, which it consumes).

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::WebhookEndpoint;
use crate::ids::{OrganizationId, WebhookId};

/// Attempts of one event at one endpoint before it is given up (it stays replayable).
pub const MAX_ATTEMPTS: u32 = 10;
/// Attempts kept per endpoint for its delivery log; older ones are forgotten.
pub const KEPT_DELIVERIES: usize = 100;
/// Replay requests waiting per organization at most.
pub const MAX_REPLAYS: usize = 20;

/// The wait after `failed` failed attempts of one event: `first`, tripled per further failure,
/// at most `max`, stretched by `jitter` (0 to 1: up to a fifth longer) so that endpoints that
/// failed together do not all come back at once.
#[must_use]
pub fn retry_delay(failed: u32, first: Duration, max: Duration, jitter: f64) -> Duration {
    let exponent = i32::try_from(failed.saturating_sub(1).min(20)).unwrap_or(20);
    let base = first.as_secs_f64() * 3f64.powi(exponent);
    let capped = base.min(max.as_secs_f64());
    Duration::from_secs_f64(capped * (1.0 + 0.2 * jitter.clamp(0.0, 1.0)))
}

/// What one attempt came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    Delivered,
    /// Failed; it will be tried again.
    Failed,
    /// Failed for the last time: the endpoint moved on to the next event.
    GaveUp,
}

/// One attempt, as the delivery log shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    pub event_id: String,
    pub seq: u64,
    pub event_type: String,
    /// 1 for the first attempt of this event at this endpoint.
    pub attempt: u32,
    pub at: DateTime<Utc>,
    pub outcome: AttemptOutcome,
    /// The receiver's HTTP status, when it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub duration_ms: u64,
    /// Sent again on request, outside the endpoint's order.
    #[serde(default)]
    pub replay: bool,
}

/// One endpoint's place in its organization's outbox.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointProgress {
    /// Every event up to this `seq` is done with (delivered, not subscribed to, or given up).
    pub cursor: u64,
    /// Failed attempts of the event after the cursor.
    #[serde(default)]
    pub attempts: u32,
    /// Not to be tried before then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_at: Option<DateTime<Utc>>,
    /// The first failure since the last success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<DateTime<Utc>>,
    /// Oldest first, at most [`KEPT_DELIVERIES`].
    #[serde(default)]
    pub deliveries: Vec<DeliveryRecord>,
    /// The outbox, read up to the cursor, says the endpoint was disabled then: what comes
    /// until it was enabled again is not sent.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub paused: bool,
    /// A replay from a time sends every event up to this `seq` again, those of times the
    /// endpoint was disabled too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_through: Option<u64>,
}

impl EndpointProgress {
    pub fn log(&mut self, record: DeliveryRecord) {
        self.deliveries.push(record);
        let excess = self.deliveries.len().saturating_sub(KEPT_DELIVERIES);
        self.deliveries.drain(..excess);
    }
}

/// A request to send events again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Replay {
    /// One event once more, whatever came of it before.
    Event { endpoint: WebhookId, seq: u64 },
    /// Every event from `since` on again, in order (the endpoint's cursor goes back).
    Since {
        endpoint: WebhookId,
        since: DateTime<Utc>,
    },
}

impl Replay {
    #[must_use]
    pub const fn endpoint(&self) -> &WebhookId {
        match self {
            Self::Event { endpoint, .. } | Self::Since { endpoint, .. } => endpoint,
        }
    }
}

/// The worker's state for one organization.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxProgress {
    #[serde(default)]
    pub endpoints: BTreeMap<WebhookId, EndpointProgress>,
    /// Waiting replay requests, oldest first, at most [`MAX_REPLAYS`].
    #[serde(default)]
    pub replays: Vec<Replay>,
}

/// An organization whose deliveries one worker took on, until its claim runs out.
#[derive(Clone, Debug, PartialEq)]
pub struct OutboxClaim {
    pub organization_id: OrganizationId,
    /// The organization's last event when claimed.
    pub head: u64,
    pub progress: OutboxProgress,
    /// Its endpoints: from the roster, or for a deleted organization those it had when its
    /// deletion was committed (so that they are told of it).
    pub endpoints: Vec<WebhookEndpoint>,
    /// The organization is deleted; once every endpoint is past `head` its outbox goes too.
    pub deleted: bool,
}
