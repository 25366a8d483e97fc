//! The webhook outbox in the embedded store: each organization's events keyed by (organization,
//! seq), written in the write transaction of the change they tell of, and its bookkeeping
//! ([`OutboxState`]) beside them, indexed by when each falls due (`master.outbox_due`), so a
//! worker's poll reads the due outboxes only. One process owns the file, so a claim only keeps
//! this process's own workers apart; the rules are the domain's.

use chrono::{DateTime, Duration, Utc};
use orgsvc_domain::errors::StoreError;
use orgsvc_domain::ports::{Clock as _, Outbox, SystemClock};
use orgsvc_domain::webhooks::{
    NewEvent, OutboxClaim, OutboxProgress, OutboxState, Replay, WebhookEvent, EVENT_RETENTION_DAYS,
};
use orgsvc_domain::{DeletionReceiptId, OrganizationId};
use redb::{ReadableTable, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::{db_err, records, rosters, EmbeddedStore};
use crate::roster::WebhookRecord;

/// (organization id, seq) -> [`EventRecord`].
pub const OUTBOX_EVENTS: TableDefinition<'static, (u128, u64), &'static [u8]> =
    TableDefinition::new("master.outbox_events");
/// Organization id -> [`StateRecord`].
pub const OUTBOX_STATES: TableDefinition<'static, u128, &'static [u8]> =
    TableDefinition::new("master.outbox_states");
/// (due in Unix milliseconds, organization id) -> nothing: every outbox with a `due_at`, in the
/// order they fall due. Kept by [`write_state`] and [`remove_state`] alone.
pub const OUTBOX_DUE: TableDefinition<'static, (i64, u128), ()> =
    TableDefinition::new("master.outbox_due");

#[derive(Serialize, Deserialize)]
struct EventRecord {
    at: DateTime<Utc>,
    #[serde(rename = "type")]
    event_type: String,
    data: Map<String, Value>,
}

#[derive(Default, Serialize, Deserialize)]
struct StateRecord {
    #[serde(flatten)]
    state: OutboxState,
    /// The endpoints of a deleted organization, to tell of its deletion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    deleted: Option<Vec<WebhookRecord>>,
}

fn organization_id(id: u128) -> OrganizationId {
    OrganizationId::from_uuid(Uuid::from_u128(id))
}

fn read_state(txn: &WriteTransaction, organization: u128) -> Result<StateRecord, StoreError> {
    let table = txn.open_table(OUTBOX_STATES).map_err(db_err)?;
    let found = table.get(organization).map_err(db_err)?;
    found.map_or_else(
        || Ok(StateRecord::default()),
        |bytes| records::from_bytes("outbox state", bytes.value()),
    )
}

fn due_key(state: &OutboxState, organization: u128) -> Option<(i64, u128)> {
    state
        .due_at
        .map(|due| (due.timestamp_millis(), organization))
}

/// Moves the organization's entry in the due index from where `before` put it to where
/// `after` puts it.
fn reindex(
    txn: &WriteTransaction,
    organization: u128,
    before: Option<&OutboxState>,
    after: Option<&OutboxState>,
) -> Result<(), StoreError> {
    let old = before.and_then(|s| due_key(s, organization));
    let new = after.and_then(|s| due_key(s, organization));
    if old == new {
        return Ok(());
    }
    let mut due = txn.open_table(OUTBOX_DUE).map_err(db_err)?;
    if let Some(key) = old {
        due.remove(key).map_err(db_err)?;
    }
    if let Some(key) = new {
        due.insert(key, ()).map_err(db_err)?;
    }
    Ok(())
}

fn write_state(
    txn: &WriteTransaction,
    organization: u128,
    state: &StateRecord,
) -> Result<(), StoreError> {
    let before = txn
        .open_table(OUTBOX_STATES)
        .map_err(db_err)?
        .insert(organization, records::to_bytes(state).as_slice())
        .map_err(db_err)?
        .map(|bytes| records::from_bytes::<StateRecord>("outbox state", bytes.value()))
        .transpose()?;
    reindex(
        txn,
        organization,
        before.as_ref().map(|r| &r.state),
        Some(&state.state),
    )
}

fn remove_state(txn: &WriteTransaction, organization: u128) -> Result<(), StoreError> {
    let before = txn
        .open_table(OUTBOX_STATES)
        .map_err(db_err)?
        .remove(organization)
        .map_err(db_err)?
        .map(|bytes| records::from_bytes::<StateRecord>("outbox state", bytes.value()))
        .transpose()?;
    reindex(txn, organization, before.as_ref().map(|r| &r.state), None)
}

/// Schema version 2: indexes the outboxes of a file written before the due index existed.
pub fn index_due(txn: &WriteTransaction) -> Result<(), StoreError> {
    let states = txn.open_table(OUTBOX_STATES).map_err(db_err)?;
    let mut due = txn.open_table(OUTBOX_DUE).map_err(db_err)?;
    for entry in states.iter().map_err(db_err)? {
        let (id, bytes) = entry.map_err(db_err)?;
        let record: StateRecord = records::from_bytes("outbox state", bytes.value())?;
        if let Some(key) = due_key(&record.state, id.value()) {
            due.insert(key, ()).map_err(db_err)?;
        }
    }
    Ok(())
}

/// Appends `events` to the organization's outbox, in the caller's transaction.
pub fn append(
    txn: &WriteTransaction,
    organization: u128,
    events: Vec<NewEvent>,
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let mut state = read_state(txn, organization)?;
    let first = state.state.append(events.len() as u64);
    let at = SystemClock.now();
    let mut table = txn.open_table(OUTBOX_EVENTS).map_err(db_err)?;
    for (seq, event) in (first..).zip(events) {
        let record = EventRecord {
            at,
            event_type: event.event_type.as_str().to_owned(),
            data: event.data,
        };
        table
            .insert((organization, seq), records::to_bytes(&record).as_slice())
            .map_err(db_err)?;
    }
    drop(table);
    write_state(txn, organization, &state)
}

/// Appends `organization.deleted`, keeping the endpoints the organization had to tell them.
pub fn deleted(
    txn: &WriteTransaction,
    organization: u128,
    name: &str,
    receipt: &DeletionReceiptId,
    endpoints: Vec<WebhookRecord>,
) -> Result<(), StoreError> {
    append(
        txn,
        organization,
        vec![NewEvent::organization_deleted(name, Some(receipt))],
    )?;
    let mut state = read_state(txn, organization)?;
    state.deleted = Some(endpoints);
    write_state(txn, organization, &state)
}

fn event(organization: u128, seq: u64, bytes: &[u8]) -> Result<WebhookEvent, StoreError> {
    let record: EventRecord = records::from_bytes("outbox event", bytes)?;
    let event_type = orgsvc_domain::webhooks::EventType::parse(&record.event_type)
        .ok_or_else(|| super::corrupt("outbox event", &record.event_type))?;
    Ok(NewEvent {
        event_type,
        data: record.data,
    }
    .numbered(organization_id(organization), seq, record.at))
}

/// Drops the organization's events older than the retention.
fn prune(txn: &WriteTransaction, organization: u128, now: DateTime<Utc>) -> Result<(), StoreError> {
    let cutoff = now - Duration::days(EVENT_RETENTION_DAYS);
    let mut table = txn.open_table(OUTBOX_EVENTS).map_err(db_err)?;
    let mut old = Vec::new();
    for entry in table
        .range((organization, 0)..=(organization, u64::MAX))
        .map_err(db_err)?
    {
        let (key, bytes) = entry.map_err(db_err)?;
        let record: EventRecord = records::from_bytes("outbox event", bytes.value())?;
        if record.at >= cutoff {
            break;
        }
        old.push(key.value().1);
    }
    for seq in old {
        table.remove((organization, seq)).map_err(db_err)?;
    }
    Ok(())
}

impl Outbox for EmbeddedStore {
    async fn claim_outboxes(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OutboxClaim>, StoreError> {
        let owner = owner.to_owned();
        self.run(move |db| {
            let txn = db.begin_write().map_err(db_err)?;
            // Those due by now, earliest first; claimed ones among them are passed over.
            let candidates: Vec<u128> = txn
                .open_table(OUTBOX_DUE)
                .map_err(db_err)?
                .range(..=(now.timestamp_millis(), u128::MAX))
                .map_err(db_err)?
                .map(|entry| entry.map(|(key, _)| key.value().1))
                .collect::<Result<_, _>>()
                .map_err(db_err)?;
            let mut due = Vec::new();
            for id in candidates {
                if due.len() >= limit {
                    break;
                }
                let record = read_state(&txn, id)?;
                if record.state.claimable(now) {
                    due.push((id, record));
                }
            }
            let mut claims = Vec::with_capacity(due.len());
            for (id, mut record) in due {
                record.state.take(&owner, until);
                write_state(&txn, id, &record)?;
                prune(&txn, id, now)?;
                let endpoints = match &record.deleted {
                    Some(endpoints) => endpoints
                        .iter()
                        .cloned()
                        .map(WebhookRecord::into_domain)
                        .collect::<Result<_, _>>()?,
                    None => rosters::read_roster(&txn, id)?
                        .map(|r| r.webhooks)
                        .unwrap_or_default(),
                };
                claims.push(OutboxClaim {
                    organization_id: organization_id(id),
                    head: record.state.head,
                    progress: record.state.progress,
                    endpoints,
                    deleted: record.deleted.is_some(),
                });
            }
            txn.commit().map_err(db_err)?;
            Ok(claims)
        })
        .await
    }

    async fn outbox_events(
        &self,
        organization: &OrganizationId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<WebhookEvent>, StoreError> {
        let id = organization.as_uuid().as_u128();
        self.run(move |db| {
            let txn = db.begin_read().map_err(db_err)?;
            let table = txn.open_table(OUTBOX_EVENTS).map_err(db_err)?;
            let mut events = Vec::new();
            for entry in table
                .range((id, after.saturating_add(1))..=(id, u64::MAX))
                .map_err(db_err)?
                .take(limit)
            {
                let (key, bytes) = entry.map_err(db_err)?;
                events.push(event(id, key.value().1, bytes.value())?);
            }
            Ok(events)
        })
        .await
    }

    async fn outbox_seq_before(
        &self,
        organization: &OrganizationId,
        at: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let id = organization.as_uuid().as_u128();
        self.run(move |db| {
            let txn = db.begin_read().map_err(db_err)?;
            let table = txn.open_table(OUTBOX_EVENTS).map_err(db_err)?;
            for entry in table.range((id, 0)..=(id, u64::MAX)).map_err(db_err)?.rev() {
                let (key, bytes) = entry.map_err(db_err)?;
                let record: EventRecord = records::from_bytes("outbox event", bytes.value())?;
                if record.at < at {
                    return Ok(key.value().1);
                }
            }
            Ok(0)
        })
        .await
    }

    async fn release_outbox(
        &self,
        owner: &str,
        claim: &OutboxClaim,
        progress: &OutboxProgress,
        wake: Option<DateTime<Utc>>,
    ) -> Result<bool, StoreError> {
        let owner = owner.to_owned();
        let id = claim.organization_id.as_uuid().as_u128();
        let head = claim.head;
        let replays_read = claim.progress.replays.len();
        let progress = progress.clone();
        self.run(move |db| {
            let txn = db.begin_write().map_err(db_err)?;
            let mut record = read_state(&txn, id)?;
            if !record
                .state
                .release(&owner, head, replays_read, &progress, wake)
            {
                return Ok(false);
            }
            write_state(&txn, id, &record)?;
            txn.commit().map_err(db_err)?;
            Ok(true)
        })
        .await
    }

    async fn purge_outbox(
        &self,
        owner: &str,
        organization: &OrganizationId,
    ) -> Result<(), StoreError> {
        let owner = owner.to_owned();
        let id = organization.as_uuid().as_u128();
        self.run(move |db| {
            let txn = db.begin_write().map_err(db_err)?;
            let record = read_state(&txn, id)?;
            if !record.state.held_by(&owner) || record.deleted.is_none() {
                return Ok(());
            }
            remove_state(&txn, id)?;
            txn.open_table(OUTBOX_EVENTS)
                .map_err(db_err)?
                .retain_in((id, 0)..=(id, u64::MAX), |_, _| false)
                .map_err(db_err)?;
            txn.commit().map_err(db_err)?;
            Ok(())
        })
        .await
    }

    async fn outbox_progress(
        &self,
        organization: &OrganizationId,
    ) -> Result<OutboxProgress, StoreError> {
        let id = organization.as_uuid().as_u128();
        self.run(move |db| {
            let txn = db.begin_read().map_err(db_err)?;
            let table = txn.open_table(OUTBOX_STATES).map_err(db_err)?;
            let found = table.get(id).map_err(db_err)?;
            found.map_or_else(
                || Ok(OutboxProgress::default()),
                |bytes| {
                    records::from_bytes::<StateRecord>("outbox state", bytes.value())
                        .map(|r| r.state.progress)
                },
            )
        })
        .await
    }

    async fn request_replay(
        &self,
        organization: &OrganizationId,
        replay: &Replay,
    ) -> Result<bool, StoreError> {
        let id = organization.as_uuid().as_u128();
        let replay = replay.clone();
        self.run(move |db| {
            let txn = db.begin_write().map_err(db_err)?;
            let mut record = read_state(&txn, id)?;
            if !record.state.request_replay(&replay) {
                return Ok(false);
            }
            write_state(&txn, id, &record)?;
            txn.commit().map_err(db_err)?;
            Ok(true)
        })
        .await
    }
}
