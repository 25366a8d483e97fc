//! The outbox fake: each organization's events and bookkeeping in the fake's state, appended
//! under the same lock as the change they tell of.

use chrono::{DateTime, Utc};

use super::{FakeStore, State};
use crate::errors::StoreError;
use crate::ids::{DeletionReceiptId, OrganizationId};
use crate::ports::Outbox;
use crate::webhooks::{
    NewEvent, OutboxClaim, OutboxProgress, OutboxState, Replay, WebhookEndpoint, WebhookEvent,
};

#[derive(Default)]
pub(super) struct FakeOutbox {
    state: OutboxState,
    events: Vec<WebhookEvent>,
    /// The endpoints a deleted organization had.
    deleted: Option<Vec<WebhookEndpoint>>,
}

/// Appends `events` to `organization`'s outbox (in the caller's critical section).
pub(super) fn append(state: &mut State, organization: OrganizationId, events: Vec<NewEvent>) {
    if events.is_empty() {
        return;
    }
    let at = Utc::now();
    let outbox = state.outboxes.entry(organization).or_default();
    let first = outbox.state.append(events.len() as u64);
    for (seq, event) in (first..).zip(events) {
        outbox.events.push(event.numbered(organization, seq, at));
    }
}

/// Appends `organization.deleted`, keeping the endpoints to tell.
pub(super) fn deleted(
    state: &mut State,
    organization: OrganizationId,
    name: &str,
    receipt: &DeletionReceiptId,
    endpoints: Vec<WebhookEndpoint>,
) {
    append(
        state,
        organization,
        vec![NewEvent::organization_deleted(name, Some(receipt))],
    );
    if let Some(outbox) = state.outboxes.get_mut(&organization) {
        outbox.deleted = Some(endpoints);
    }
}

impl Outbox for FakeStore {
    async fn claim_outboxes(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OutboxClaim>, StoreError> {
        let mut state = self.state()?;
        let state = &mut *state;
        let mut claims = Vec::new();
        for (id, outbox) in &mut state.outboxes {
            if claims.len() >= limit {
                break;
            }
            if !outbox.state.claimable(now) {
                continue;
            }
            outbox.state.take(owner, until);
            let endpoints = match &outbox.deleted {
                Some(endpoints) => endpoints.clone(),
                None => state
                    .rosters
                    .get(id)
                    .map(|r| r.webhooks.clone())
                    .unwrap_or_default(),
            };
            claims.push(OutboxClaim {
                organization_id: *id,
                head: outbox.state.head,
                progress: outbox.state.progress.clone(),
                endpoints,
                deleted: outbox.deleted.is_some(),
            });
        }
        Ok(claims)
    }

    async fn outbox_events(
        &self,
        organization: &OrganizationId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<WebhookEvent>, StoreError> {
        let state = self.state()?;
        Ok(state
            .outboxes
            .get(organization)
            .map(|o| {
                o.events
                    .iter()
                    .filter(|e| e.seq > after)
                    .take(limit)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn outbox_seq_before(
        &self,
        organization: &OrganizationId,
        at: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let state = self.state()?;
        Ok(state
            .outboxes
            .get(organization)
            .and_then(|o| o.events.iter().rev().find(|e| e.at < at))
            .map_or(0, |e| e.seq))
    }

    async fn release_outbox(
        &self,
        owner: &str,
        claim: &OutboxClaim,
        progress: &OutboxProgress,
        wake: Option<DateTime<Utc>>,
    ) -> Result<bool, StoreError> {
        let mut state = self.state()?;
        Ok(state
            .outboxes
            .get_mut(&claim.organization_id)
            .is_some_and(|o| {
                o.state.release(
                    owner,
                    claim.head,
                    claim.progress.replays.len(),
                    progress,
                    wake,
                )
            }))
    }

    async fn purge_outbox(
        &self,
        owner: &str,
        organization: &OrganizationId,
    ) -> Result<(), StoreError> {
        let mut state = self.state()?;
        if state
            .outboxes
            .get(organization)
            .is_some_and(|o| o.state.held_by(owner) && o.deleted.is_some())
        {
            state.outboxes.remove(organization);
        }
        Ok(())
    }

    async fn outbox_progress(
        &self,
        organization: &OrganizationId,
    ) -> Result<OutboxProgress, StoreError> {
        let state = self.state()?;
        Ok(state
            .outboxes
            .get(organization)
            .map(|o| o.state.progress.clone())
            .unwrap_or_default())
    }

    async fn request_replay(
        &self,
        organization: &OrganizationId,
        replay: &Replay,
    ) -> Result<bool, StoreError> {
        let mut state = self.state()?;
        Ok(state
            .outboxes
            .entry(*organization)
            .or_default()
            .state
            .request_replay(replay))
    }
}
