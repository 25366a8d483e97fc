//! The webhook outbox on MongoDB: `webhook_events` (one document per event, `{org, seq}`
//! unique, expired by a TTL index after the retention) and `webhook_outboxes` (one per
//! organization: its head, when it is due, its claim and its endpoints' progress).
//!
//! Events are appended inside the transaction of the change they tell of: the outbox document's
//! `head` is raised with `$inc` there, so two changes of one organization conflict on it and
//! are numbered in the order they commit. A claim is one `findOneAndUpdate` that matches only an
//! unclaimed (or run out) due outbox, so concurrent workers, in this process or others, never
//! get the same organization. A release follows the domain's rules ([`OutboxState`]) on the
//! document it read and writes back only if no event or replay request came meanwhile.

use bson::{doc, Document as BsonDocument};
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt as _;
use mongodb::options::ReturnDocument;
use mongodb::ClientSession;
use orgsvc_domain::errors::StoreError;
use orgsvc_domain::ports::Outbox;
use orgsvc_domain::webhooks::{
    ClaimHold, EventType, NewEvent, OutboxClaim, OutboxProgress, OutboxState, Replay, WebhookEvent,
    MAX_REPLAYS,
};
use orgsvc_domain::{DeletionReceiptId, OrganizationId};
use serde::{Deserialize, Serialize};

use super::errors::{timed, DbError};
use super::MongoStore;
use crate::roster::WebhookRecord;

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct EventDoc {
    #[serde(rename = "_id")]
    id: String,
    org: String,
    seq: i64,
    at: bson::DateTime,
    #[serde(rename = "type")]
    event_type: String,
    data: BsonDocument,
}

impl EventDoc {
    fn into_domain(self) -> Result<WebhookEvent, StoreError> {
        let corrupt = |e: String| StoreError::Unknown(anyhow::anyhow!("corrupt outbox event: {e}"));
        let organization = self
            .org
            .parse::<OrganizationId>()
            .map_err(|e| corrupt(e.to_string()))?;
        let event_type =
            EventType::parse(&self.event_type).ok_or_else(|| corrupt(self.event_type.clone()))?;
        let data = bson::from_document(self.data).map_err(|e| corrupt(e.to_string()))?;
        let seq = u64::try_from(self.seq).map_err(|e| corrupt(e.to_string()))?;
        Ok(NewEvent { event_type, data }.numbered(organization, seq, self.at.to_chrono()))
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub(super) struct OutboxDoc {
    #[serde(rename = "_id")]
    id: String,
    #[serde(default)]
    head: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    due_at: Option<bson::DateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    claim_owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    claim_until: Option<bson::DateTime>,
    #[serde(default)]
    progress: OutboxProgress,
    /// The endpoints of a deleted organization, to tell of its deletion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    deleted: Option<Vec<WebhookRecord>>,
}

impl OutboxDoc {
    fn state(&self) -> OutboxState {
        OutboxState {
            head: u64::try_from(self.head).unwrap_or_default(),
            due_at: self.due_at.map(bson::DateTime::to_chrono),
            claim: self
                .claim_owner
                .clone()
                .zip(self.claim_until)
                .map(|(owner, until)| ClaimHold {
                    owner,
                    until: until.to_chrono(),
                }),
            progress: self.progress.clone(),
        }
    }
}

fn to_store(error: impl std::fmt::Display) -> StoreError {
    StoreError::Unknown(anyhow::anyhow!("outbox: {error}"))
}

/// Releases tried again after a change committed between their read and their write.
const RELEASE_RACES: usize = 16;

fn at_once() -> bson::DateTime {
    bson::DateTime::from_millis(0)
}

impl MongoStore {
    /// Appends `events` to `organization`'s outbox in `session`'s transaction. Two changes of
    /// one organization meet on its outbox document, so the later to commit conflicts (and is
    /// run again) rather than taking the same numbers.
    pub(super) async fn append_events_in(
        &self,
        session: &mut ClientSession,
        organization: &str,
        events: Vec<NewEvent>,
    ) -> Result<(), DbError> {
        if events.is_empty() {
            return Ok(());
        }
        let limit = self.op_timeout();
        let count = i64::try_from(events.len()).unwrap_or(i64::MAX);
        let raised = timed(
            limit,
            self.inner
                .outboxes
                .find_one_and_update(
                    doc! {"_id": organization},
                    doc! {"$inc": {"head": count}, "$set": {"due_at": at_once()}},
                )
                .upsert(true)
                .return_document(ReturnDocument::After)
                .session(&mut *session),
        )
        .await;
        let head = match raised {
            Ok(Some(outbox)) => outbox.head,
            Ok(None) => return Err(DbError::Other(anyhow::anyhow!("upsert returned nothing"))),
            // Two first events of one organization at once: the loser runs again.
            Err(DbError::Duplicate) => return Err(DbError::TransactionConflict),
            Err(e) => return Err(e),
        };
        let at = bson::DateTime::now();
        let documents = (head - count + 1..)
            .zip(events)
            .map(|(seq, event)| {
                Ok(EventDoc {
                    id: format!("{organization}/{seq}"),
                    org: organization.to_owned(),
                    seq,
                    at,
                    event_type: event.event_type.as_str().to_owned(),
                    data: bson::to_document(&event.data).map_err(|e| DbError::Other(e.into()))?,
                })
            })
            .collect::<Result<Vec<_>, DbError>>()?;
        timed(
            limit,
            self.inner
                .webhook_events
                .insert_many(documents)
                .session(&mut *session),
        )
        .await?;
        Ok(())
    }

    /// Appends `organization.deleted` in `session`'s transaction and keeps the endpoints the
    /// roster has now, so that they are told of it after the roster is gone.
    pub(super) async fn append_deleted_in(
        &self,
        session: &mut ClientSession,
        organization: &str,
        name: &str,
        receipt: Option<&DeletionReceiptId>,
    ) -> Result<(), DbError> {
        let limit = self.op_timeout();
        let roster = timed(
            limit,
            self.inner
                .rosters
                .find_one(doc! {"_id": organization})
                .session(&mut *session),
        )
        .await?;
        let endpoints = roster.map(|r| r.record.webhooks).unwrap_or_default();
        self.append_events_in(
            session,
            organization,
            vec![NewEvent::organization_deleted(name, receipt)],
        )
        .await?;
        let endpoints = bson::to_bson(&endpoints).map_err(|e| DbError::Other(e.into()))?;
        timed(
            limit,
            self.inner
                .outboxes
                .update_one(
                    doc! {"_id": organization},
                    doc! {"$set": {"deleted": endpoints}},
                )
                .session(&mut *session),
        )
        .await?;
        Ok(())
    }

    async fn claimed(&self, outbox: OutboxDoc) -> Result<OutboxClaim, StoreError> {
        let endpoints = match &outbox.deleted {
            Some(endpoints) => endpoints
                .iter()
                .cloned()
                .map(WebhookRecord::into_domain)
                .collect::<Result<_, _>>()?,
            None => {
                let roster = timed(
                    self.op_timeout(),
                    self.inner.rosters.find_one(doc! {"_id": &outbox.id}),
                )
                .await?;
                match roster {
                    Some(roster) => roster
                        .record
                        .webhooks
                        .into_iter()
                        .map(WebhookRecord::into_domain)
                        .collect::<Result<_, _>>()?,
                    None => Vec::new(),
                }
            }
        };
        Ok(OutboxClaim {
            organization_id: outbox.id.parse().map_err(to_store)?,
            head: u64::try_from(outbox.head).unwrap_or_default(),
            progress: outbox.progress,
            endpoints,
            deleted: outbox.deleted.is_some(),
        })
    }
}

impl Outbox for MongoStore {
    async fn claim_outboxes(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OutboxClaim>, StoreError> {
        self.ensure_ready().await?;
        let now = bson::DateTime::from_chrono(now);
        let until = bson::DateTime::from_chrono(until);
        let mut claims = Vec::new();
        while claims.len() < limit {
            let filter = doc! {
                "due_at": {"$lte": now},
                "$or": [{"claim_until": null}, {"claim_until": {"$lte": now}}],
            };
            let update = doc! {"$set": {"claim_owner": owner, "claim_until": until}};
            let taken = timed(
                self.op_timeout(),
                self.inner
                    .outboxes
                    .find_one_and_update(filter, update)
                    .sort(doc! {"due_at": 1})
                    .return_document(ReturnDocument::After),
            )
            .await?;
            let Some(outbox) = taken else { break };
            claims.push(self.claimed(outbox).await?);
        }
        Ok(claims)
    }

    async fn outbox_events(
        &self,
        organization: &OrganizationId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<WebhookEvent>, StoreError> {
        self.ensure_ready().await?;
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let found: Vec<EventDoc> = timed(self.op_timeout(), async {
            self.inner
                .webhook_events
                .find(doc! {"org": organization.to_string(), "seq": {"$gt": after}})
                .sort(doc! {"seq": 1})
                .limit(limit)
                .await?
                .try_collect()
                .await
        })
        .await?;
        found.into_iter().map(EventDoc::into_domain).collect()
    }

    async fn outbox_seq_before(
        &self,
        organization: &OrganizationId,
        at: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        self.ensure_ready().await?;
        let filter = doc! {
            "org": organization.to_string(),
            "at": {"$lt": bson::DateTime::from_chrono(at)},
        };
        let found = timed(
            self.op_timeout(),
            self.inner
                .webhook_events
                .find_one(filter)
                .sort(doc! {"seq": -1}),
        )
        .await?;
        Ok(found.map_or(0, |e| u64::try_from(e.seq).unwrap_or_default()))
    }

    async fn release_outbox(
        &self,
        owner: &str,
        claim: &OutboxClaim,
        progress: &OutboxProgress,
        wake: Option<DateTime<Utc>>,
    ) -> Result<bool, StoreError> {
        self.ensure_ready().await?;
        let id = claim.organization_id.to_string();
        let limit = self.op_timeout();
        // Compare and set on what appends and replay requests change (the head, the number of
        // waiting replays), never writing the head itself: a change committed meanwhile makes
        // the write miss, and it is worked out again from a fresh read.
        for _ in 0..RELEASE_RACES {
            let held = doc! {"_id": &id, "claim_owner": owner};
            let Some(outbox) = timed(limit, self.inner.outboxes.find_one(held)).await? else {
                return Ok(false);
            };
            let mut state = outbox.state();
            let waiting = state.progress.replays.len();
            let replays_read = claim.progress.replays.len();
            if !state.release(owner, claim.head, replays_read, progress, wake) {
                return Ok(false);
            }
            let mut set = doc! {"progress": bson::to_bson(&state.progress).map_err(to_store)?};
            let mut unset = doc! {"claim_owner": "", "claim_until": ""};
            match state.due_at {
                Some(due) => {
                    set.insert("due_at", bson::DateTime::from_chrono(due));
                }
                None => {
                    unset.insert("due_at", "");
                }
            }
            // Exactly `waiting` replays (also when the field was never written).
            let mut filter = doc! {"_id": &id, "claim_owner": owner, "head": outbox.head};
            filter.insert(
                format!("progress.replays.{waiting}"),
                doc! {"$exists": false},
            );
            if let Some(last) = waiting.checked_sub(1) {
                filter.insert(format!("progress.replays.{last}"), doc! {"$exists": true});
            }
            let written = timed(
                limit,
                self.inner
                    .outboxes
                    .update_one(filter, doc! {"$set": set, "$unset": unset}),
            )
            .await?;
            if written.matched_count == 1 {
                return Ok(true);
            }
        }
        Err(StoreError::Unavailable(anyhow::anyhow!(
            "the outbox of {id} kept changing during its release"
        )))
    }

    async fn purge_outbox(
        &self,
        owner: &str,
        organization: &OrganizationId,
    ) -> Result<(), StoreError> {
        self.ensure_ready().await?;
        let id = organization.to_string();
        let held = doc! {"_id": &id, "claim_owner": owner, "deleted": {"$exists": true}};
        let limit = self.op_timeout();
        if timed(limit, self.inner.outboxes.find_one(held.clone()))
            .await?
            .is_none()
        {
            return Ok(());
        }
        // Events first: a crash between the two leaves an outbox whose events are gone, which
        // the next claim purges again.
        timed(
            limit,
            self.inner.webhook_events.delete_many(doc! {"org": &id}),
        )
        .await?;
        timed(limit, self.inner.outboxes.delete_one(held)).await?;
        Ok(())
    }

    async fn outbox_progress(
        &self,
        organization: &OrganizationId,
    ) -> Result<OutboxProgress, StoreError> {
        self.ensure_ready().await?;
        let found = timed(
            self.op_timeout(),
            self.inner
                .outboxes
                .find_one(doc! {"_id": organization.to_string()}),
        )
        .await?;
        Ok(found.map(|o| o.progress).unwrap_or_default())
    }

    async fn request_replay(
        &self,
        organization: &OrganizationId,
        replay: &Replay,
    ) -> Result<bool, StoreError> {
        self.ensure_ready().await?;
        let full = format!("progress.replays.{}", MAX_REPLAYS - 1);
        let replay = bson::to_bson(replay).map_err(to_store)?;
        let queued = timed(
            self.op_timeout(),
            self.inner.outboxes.update_one(
                doc! {"_id": organization.to_string(), full: {"$exists": false}},
                doc! {"$push": {"progress.replays": replay}, "$set": {"due_at": at_once()}},
            ),
        )
        .await;
        match queued {
            Ok(result) => Ok(result.matched_count == 1),
            Err(e) => Err(e.into()),
        }
    }
}
