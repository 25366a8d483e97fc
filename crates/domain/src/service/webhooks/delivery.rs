//! The delivery worker: takes on organizations whose deliveries are due (a claim, so that two
//! instances never work one organization at once), sends each endpoint the events after its
//! cursor in order, one at a time (which is what keeps them in order), and writes back where
//! each endpoint stands.
//!
//! Delivery is at least once: the cursor moves only after the receiver answered 2xx and is
//! written at release, so a crash in between sends the event again under the same
//! `webhook-id`, and receivers drop what they saw before.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::audit::{AuditAction, Origin};
use crate::errors::StoreError;
use crate::ids::OrganizationId;
use crate::ports::prelude::*;
use crate::ports::{Delivery, WebhookTransport};
use crate::service::audit::Subject;
use crate::service::{Ports, Service};
use crate::webhooks::{
    retry_delay, AttemptOutcome, DeliveryRecord, EndpointProgress, EventType, OutboxClaim, Replay,
    WebhookEndpoint, WebhookEvent, MAX_ATTEMPTS,
};

/// Events read from the outbox at a time.
const PAGE: usize = 50;

/// How the worker retries, gives up and holds its claims.
#[derive(Clone, Debug)]
pub struct DeliveryPolicy {
    /// The wait after an event's first failed attempt; each further failure triples it.
    pub retry_first: Duration,
    /// The longest wait between attempts.
    pub retry_max: Duration,
    /// An endpoint failing this long without one success is disabled.
    pub disable_after: Duration,
    /// How long a claim holds; the work of one claim stops after half of it.
    pub lease: Duration,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        Self {
            retry_first: Duration::from_secs(5),
            retry_max: Duration::from_secs(3_600),
            disable_after: Duration::from_secs(crate::webhooks::DISABLE_AFTER_HOURS as u64 * 3_600),
            lease: Duration::from_secs(60),
        }
    }
}

/// Sends an organization's events to its endpoints through transport `W`.
#[derive(Clone)]
pub struct Deliverer<P: Ports, W> {
    service: Service<P>,
    transport: W,
    policy: DeliveryPolicy,
    /// Who holds the claims this worker makes (unique per process).
    owner: String,
}

/// What working one claim came to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Worked {
    /// Attempts made (successful or not).
    pub attempts: usize,
    /// The claim had run out before the work was written back (another worker may redo it).
    pub lost: bool,
}

impl<P: Ports, W: WebhookTransport> Deliverer<P, W> {
    pub fn new(service: Service<P>, transport: W, policy: DeliveryPolicy, owner: String) -> Self {
        Self {
            service,
            transport,
            policy,
            owner,
        }
    }

    fn now(&self) -> DateTime<Utc> {
        self.service.clock.now()
    }

    fn lease(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.policy.lease).unwrap_or(chrono::Duration::seconds(60))
    }

    /// Claims up to `limit` organizations that have deliveries due.
    ///
    /// # Errors
    /// [`StoreError`].
    pub async fn claim(&self, limit: usize) -> Result<Vec<OutboxClaim>, StoreError> {
        let now = self.now();
        let until = now + self.lease();
        self.service
            .store
            .claim_outboxes(&self.owner, now, until, limit)
            .await
    }

    /// Works one claimed organization for at most half its lease, then releases it.
    ///
    /// # Errors
    /// [`StoreError`]; the claim then runs out and the organization is taken on again.
    pub async fn work(&self, claim: OutboxClaim) -> Result<Worked, StoreError> {
        let store = &self.service.store;
        let organization = claim.organization_id;
        let started = self.now();
        let budget_end = started + self.lease() / 2;
        let mut worked = Worked::default();
        let mut progress = claim.progress.clone();
        let mut wake: Option<DateTime<Utc>> = None;

        for replay in std::mem::take(&mut progress.replays) {
            let Some(endpoint) = claim.endpoints.iter().find(|e| e.id == *replay.endpoint()) else {
                continue;
            };
            let state = progress.endpoints.entry(endpoint.id).or_default();
            match replay {
                Replay::Since { since, .. } => {
                    let back_to = store.outbox_seq_before(&organization, since).await?;
                    if back_to < state.cursor {
                        state.replay_through = Some(state.cursor);
                        state.cursor = back_to;
                        state.attempts = 0;
                        state.next_at = None;
                    }
                }
                Replay::Event { seq, .. } => {
                    let events = store
                        .outbox_events(&organization, seq.saturating_sub(1), 1)
                        .await?;
                    if let Some(event) = events.into_iter().find(|e| e.seq == seq) {
                        let record = self.attempt(endpoint, &event, 1, true).await;
                        worked.attempts += 1;
                        state.log(record);
                    }
                }
            }
        }

        let mut to_disable = Vec::new();
        for endpoint in &claim.endpoints {
            let state = match progress.endpoints.entry(endpoint.id) {
                std::collections::btree_map::Entry::Occupied(entry) => entry.into_mut(),
                std::collections::btree_map::Entry::Vacant(entry) => {
                    let cursor = self.first_cursor(&organization, endpoint).await?;
                    entry.insert(EndpointProgress {
                        cursor,
                        ..EndpointProgress::default()
                    })
                }
            };
            if !endpoint.enabled {
                // A disabled endpoint is not owed what happens meanwhile (a replay from a time
                // brings it back): neither now nor once it is enabled again, which its own
                // `webhook_endpoint.updated` events in the outbox tell (see `toggled`).
                state.cursor = state.cursor.max(claim.head);
                state.paused = true;
                state.attempts = 0;
                state.next_at = None;
                continue;
            }
            let outcome = self
                .catch_up(&organization, endpoint, state, budget_end, &mut worked)
                .await?;
            match outcome {
                CatchUp::Done => {}
                CatchUp::Again(at) => wake = Some(wake.map_or(at, |w| w.min(at))),
                CatchUp::Disable => {
                    if claim.deleted {
                        state.cursor = state.cursor.max(claim.head);
                        state.attempts = 0;
                        state.next_at = None;
                    } else {
                        to_disable.push(endpoint.id);
                    }
                }
            }
        }
        progress
            .endpoints
            .retain(|id, _| claim.endpoints.iter().any(|e| e.id == *id));

        if claim.deleted
            && progress
                .endpoints
                .values()
                .all(|state| state.cursor >= claim.head)
        {
            store.purge_outbox(&self.owner, &organization).await?;
            return Ok(worked);
        }
        worked.lost = !store
            .release_outbox(&self.owner, &claim, &progress, wake)
            .await?;
        for id in to_disable {
            self.disable(&organization, &id).await?;
        }
        Ok(worked)
    }

    /// Where a new endpoint starts: just before the event of its own creation, so that it hears
    /// of exactly what was committed from then on. That event is found from the last one
    /// committed before the endpoint's creation time (the same process's clock stamped both);
    /// if it is gone (past retention), from there.
    async fn first_cursor(
        &self,
        organization: &OrganizationId,
        endpoint: &WebhookEndpoint,
    ) -> Result<u64, StoreError> {
        let store = &self.service.store;
        let before = store
            .outbox_seq_before(organization, endpoint.created_at)
            .await?;
        let id = endpoint.id.to_string();
        let mut after = before;
        loop {
            let events = store.outbox_events(organization, after, PAGE).await?;
            let Some(last) = events.last().map(|e| e.seq) else {
                return Ok(before);
            };
            let own = events.iter().find(|e| {
                e.event_type == EventType::EndpointCreated
                    && e.data.get("endpoint_id").and_then(|v| v.as_str()) == Some(id.as_str())
            });
            if let Some(own) = own {
                return Ok(own.seq - 1);
            }
            after = last;
        }
    }

    /// Sends `endpoint` its events after its cursor, in order, until they run out, one fails,
    /// or the claim's time is up.
    async fn catch_up(
        &self,
        organization: &OrganizationId,
        endpoint: &WebhookEndpoint,
        state: &mut EndpointProgress,
        budget_end: DateTime<Utc>,
        worked: &mut Worked,
    ) -> Result<CatchUp, StoreError> {
        if let Some(next_at) = state.next_at {
            if next_at > self.now() {
                return Ok(CatchUp::Again(next_at));
            }
        }
        loop {
            let events = self
                .service
                .store
                .outbox_events(organization, state.cursor, PAGE)
                .await?;
            if events.is_empty() {
                return Ok(CatchUp::Done);
            }
            for event in events {
                if let Some(enabled) = toggled(&event, endpoint) {
                    state.paused = !enabled;
                }
                let replaying = state.replay_through.is_some_and(|end| event.seq <= end);
                if !replaying {
                    state.replay_through = None;
                }
                if (state.paused && !replaying) || !endpoint.events.matches(event.event_type) {
                    state.cursor = event.seq;
                    continue;
                }
                if self.now() >= budget_end {
                    // Let other organizations have their turn; this one is due again at once.
                    return Ok(CatchUp::Again(self.now()));
                }
                let record = self
                    .attempt(endpoint, &event, state.attempts + 1, false)
                    .await;
                worked.attempts += 1;
                let outcome = record.outcome;
                let at = record.at;
                state.log(record);
                if outcome == AttemptOutcome::Delivered {
                    state.cursor = event.seq;
                    state.attempts = 0;
                    state.next_at = None;
                    state.failing_since = None;
                    continue;
                }
                let failing_since = *state.failing_since.get_or_insert(at);
                if outcome == AttemptOutcome::GaveUp {
                    state.cursor = event.seq;
                    state.attempts = 0;
                    state.next_at = None;
                } else {
                    state.attempts += 1;
                    let delay = retry_delay(
                        state.attempts,
                        self.policy.retry_first,
                        self.policy.retry_max,
                        jitter(&event, state.attempts),
                    );
                    let next = at + chrono::Duration::from_std(delay).unwrap_or_default();
                    state.next_at = Some(next);
                }
                let disable_after = chrono::Duration::from_std(self.policy.disable_after)
                    .unwrap_or(chrono::Duration::hours(24));
                if at - failing_since >= disable_after {
                    return Ok(CatchUp::Disable);
                }
                return Ok(state.next_at.map_or(CatchUp::Again(at), CatchUp::Again));
            }
        }
    }

    /// One attempt of `event` at `endpoint`, signed with every secret that signs now.
    async fn attempt(
        &self,
        endpoint: &WebhookEndpoint,
        event: &WebhookEvent,
        attempt: u32,
        replay: bool,
    ) -> DeliveryRecord {
        let at = self.now();
        let id = event.id();
        let body = event.payload();
        let secrets: Vec<_> = endpoint.signing_secrets(at).collect();
        let sent = std::time::Instant::now();
        let answer = self
            .transport
            .send(Delivery {
                url: &endpoint.url,
                id: &id,
                timestamp: at.timestamp(),
                body: &body,
                secrets: &secrets,
            })
            .await;
        let duration_ms = u64::try_from(sent.elapsed().as_millis()).unwrap_or(u64::MAX);
        let (outcome, status, error) = match answer {
            Ok(status) => (AttemptOutcome::Delivered, Some(status), None),
            Err(failure) if replay || attempt >= MAX_ATTEMPTS => {
                (AttemptOutcome::GaveUp, failure.status, Some(failure.reason))
            }
            Err(failure) => (AttemptOutcome::Failed, failure.status, Some(failure.reason)),
        };
        DeliveryRecord {
            event_id: id,
            seq: event.seq,
            event_type: event.event_type.as_str().to_owned(),
            attempt,
            at,
            outcome,
            status,
            error,
            duration_ms,
            replay,
        }
    }

    /// Turns a failing endpoint off in the roster and audits it.
    async fn disable(
        &self,
        organization: &OrganizationId,
        id: &crate::ids::WebhookId,
    ) -> Result<(), StoreError> {
        let hours = self.policy.disable_after.as_secs() / 3_600;
        let reason = format!("no successful delivery for {hours} hours");
        let at = self.now();
        let disabled = self
            .service
            .edit_roster(organization, None, |roster| {
                Ok(roster.disable_failing_webhook(id, reason.clone(), at))
            })
            .await;
        match disabled {
            Ok(true) => {
                let subject = Subject {
                    organization: Some(*organization),
                    actor: None,
                };
                let details = json!({"webhook_id": id.to_string(), "reason": reason});
                self.service
                    .record(
                        &Origin::default(),
                        subject,
                        AuditAction::WebhookDisabled,
                        details,
                    )
                    .await;
                Ok(())
            }
            Ok(false) | Err(crate::errors::MemberError::OrganizationNotFound) => Ok(()),
            Err(crate::errors::MemberError::Store(error)) => Err(error),
            Err(other) => Err(StoreError::Unknown(anyhow::anyhow!(
                "disabling webhook endpoint {id}: {other}"
            ))),
        }
    }
}

enum CatchUp {
    /// Every event is done with.
    Done,
    /// Due again then.
    Again(DateTime<Utc>),
    /// It failed for longer than the policy allows.
    Disable,
}

/// Whether `event` turned `endpoint` on or off: its own `webhook_endpoint.updated`.
fn toggled(event: &WebhookEvent, endpoint: &WebhookEndpoint) -> Option<bool> {
    let own = event.event_type == EventType::EndpointUpdated
        && event.data.get("endpoint_id").and_then(|v| v.as_str())
            == Some(endpoint.id.to_string().as_str());
    own.then(|| {
        event
            .data
            .get("enabled")
            .and_then(serde_json::Value::as_bool)
    })
    .flatten()
}

/// A number in 0..1 that differs between events and attempts, without a random generator (the
/// spread is what matters, not unpredictability).
fn jitter(event: &WebhookEvent, attempt: u32) -> f64 {
    let seed = event.organization_id.as_uuid().as_u128() as u64
        ^ event.seq.rotate_left(17)
        ^ u64::from(attempt).rotate_left(41);
    let mixed = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (mixed >> 11) as f64 / (1u64 << 53) as f64
}
