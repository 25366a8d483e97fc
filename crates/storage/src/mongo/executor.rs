//! The executor: runs the step [`machine::next_step`] names, records the phase it reaches,
//! and asks again until the operation is over.
//!
//! The process that started an operation drives it in a task of its own: when the database
//! stops answering halfway, the task retries each step until it answers again (or another
//! process has taken the operation over), so an operation never waits out its own lease. The
//! request waits for the task a bounded time and then answers "accepted, finishing".

use std::time::Duration;

use bson::{doc, Document as BsonDocument};
use orgsvc_domain::errors::StoreError;
use orgsvc_domain::webhooks::NewEvent;
use orgsvc_domain::TenancyModel;

use super::collections::MoveError;
use super::errors::{timed, DbError};
use super::machine::{self, can_abandon, next_step, Step};
use super::records::{AdminChange, Intent, Operation, OrganizationDoc, Phase, UserDoc};
use super::transaction::Abort;
use super::MongoStore;

/// Returned when this process's claim on an operation is gone: another process recovered it.
#[derive(Debug, thiserror::Error)]
#[error("lost the claim on organization {0}'s operation to another process")]
pub(super) struct LostClaim(pub(super) String);

pub(super) fn is_lost(error: &StoreError) -> bool {
    matches!(error, StoreError::Unavailable(e) if e.downcast_ref::<LostClaim>().is_some())
}

pub(super) fn busy() -> StoreError {
    StoreError::Unavailable(anyhow::anyhow!(
        "another operation on this organization is in progress"
    ))
}

pub(super) fn to_bson<T: serde::Serialize>(value: &T) -> Result<bson::Bson, StoreError> {
    bson::to_bson(value).map_err(|e| StoreError::Unknown(e.into()))
}

/// How an operation that ran to its end came out.
#[derive(Debug)]
pub(super) enum Ended {
    Done,
    /// Given up before anything moved: the admin's new email belongs to someone else.
    EmailTaken,
    /// Given up before anything moved: the target collection is another organization's.
    TargetBusy,
}

/// What the process that started an operation knows and recovery does not: it may give the
/// operation up (and put the admin's credentials back as they were read) instead of finishing.
#[derive(Clone, Debug, Default)]
pub(super) struct Live {
    pub(super) admin_before: Option<UserDoc>,
}

impl MongoStore {
    fn in_place(&self, intent: &Intent) -> bool {
        intent
            .operation
            .relocation()
            .is_some_and(|(from, to)| machine::moves_in_place(from, to, self.inner.settings.rename))
    }

    /// Runs `record`'s operation to its end in a task of its own (so neither a dropped request
    /// nor a database outage leaves it half done while this process lives), and waits for it
    /// up to `wait`.
    pub(super) async fn drive(
        &self,
        record: OrganizationDoc,
        live: Live,
        wait: Option<Duration>,
    ) -> Result<Option<Ended>, StoreError> {
        let store = self.clone();
        let task = tokio::spawn(async move { store.run_to_end(record, Some(&live)).await });
        let joined = match wait {
            Some(limit) => match tokio::time::timeout(limit, task).await {
                Ok(joined) => joined,
                Err(_) => return Ok(None),
            },
            None => task.await,
        };
        match joined.map_err(|e| StoreError::Unknown(e.into()))? {
            Ok(ended) => Ok(Some(ended)),
            Err(e) if is_lost(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The executor: the machine's next step, run, recorded; again until the operation is
    /// over. With `live` (the process that started it) a step the database could not take is
    /// retried until it can; recovery leaves that to its next attempt.
    pub(super) async fn run_to_end(
        &self,
        mut record: OrganizationDoc,
        live: Option<&Live>,
    ) -> Result<Ended, StoreError> {
        let mut pause = Duration::from_millis(50);
        loop {
            let Some(intent) = record.intent.clone() else {
                return Ok(Ended::Done);
            };
            let step = next_step(&intent, self.in_place(&intent))
                .map_err(|e| StoreError::Unknown(e.into()))?;
            match self.run_step(&mut record, &intent, step, live).await {
                Ok(Some(ended)) => return Ok(ended),
                Ok(None) => pause = Duration::from_millis(50),
                Err(MoveError::Store(e @ StoreError::Unavailable(_)))
                    if live.is_some() && !is_lost(&e) =>
                {
                    tracing::warn!(organization = %record.id, ?step, error = %e,
                        "an operation step failed; retrying until the database answers");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(1));
                }
                Err(MoveError::TargetBusy) => match live {
                    Some(live) if can_abandon(intent.phase) => {
                        self.abandon(&record, &intent, live).await?;
                        return Ok(Ended::TargetBusy);
                    }
                    // Left for a later attempt: the other organization is still moving away.
                    _ => return Err(busy()),
                },
                Err(MoveError::Store(e)) => return Err(e),
            }
        }
    }

    /// Runs one step and records where the operation stands; `Some` when it ended.
    async fn run_step(
        &self,
        record: &mut OrganizationDoc,
        intent: &Intent,
        step: Step,
        live: Option<&Live>,
    ) -> Result<Option<Ended>, MoveError> {
        let mut set = BsonDocument::new();
        match step {
            Step::ApplyCredentials => {
                if let Operation::Rename {
                    admin: Some(change),
                    ..
                } = &intent.operation
                {
                    match self.apply_admin_change(change).await {
                        Ok(()) => {}
                        Err(DbError::Duplicate) => match live {
                            Some(live) => {
                                self.abandon(record, intent, live).await?;
                                return Ok(Some(Ended::EmailTaken));
                            }
                            None => tracing::warn!(organization = %record.id,
                                "email change skipped: taken meanwhile"),
                        },
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            Step::RenameCollection | Step::Copy => {
                let (from, to) = intent.operation.relocation().ok_or_else(|| {
                    StoreError::Unknown(anyhow::anyhow!("{step:?} without locations"))
                })?;
                if from == to {
                    // A rename that moves nothing: a database of its own, or the shared one.
                } else if step == Step::RenameCollection {
                    self.rename_collection(record, intent, from, to).await?;
                } else {
                    self.copy_collection(record, intent, from, to).await?;
                }
            }
            Step::Switch => {
                let (from, to) = intent.operation.relocation().ok_or_else(|| {
                    StoreError::Unknown(anyhow::anyhow!("switch without locations"))
                })?;
                set.insert("connection", to_bson(to)?);
                let event = if let Operation::Rename {
                    new_name,
                    updated_at,
                    ..
                } = &intent.operation
                {
                    set.insert("name", new_name);
                    if let Some(at) = updated_at {
                        set.insert("updated_at", at);
                    }
                    let event = NewEvent::organization_renamed(&record.name, new_name);
                    new_name.clone_into(&mut record.name);
                    event
                } else {
                    NewEvent::organization_moved(&from.placement(), &to.placement())
                };
                record.connection = to.clone();
                // The switch is the moment the change takes effect: its event commits with it.
                let phase = Phase::Switched;
                set.insert("intent.phase", to_bson(&phase)?);
                self.update_owned_telling(&record.id, set, vec![event])
                    .await?;
                if let Some(intent) = &mut record.intent {
                    intent.phase = phase;
                }
                return Ok(None);
            }
            Step::DropSource => {
                if let Some((from, to)) = intent.operation.relocation() {
                    if from != to {
                        self.clear_tenant(from, &record.id).await?;
                    }
                }
            }
            Step::Finish => {
                self.update_owned(&record.id, doc! {}, doc! {"intent": ""})
                    .await?;
                record.intent = None;
                return Ok(Some(Ended::Done));
            }
            Step::UndoCreate => {
                // Still ours? (If the create's last write landed after all, it is over.)
                self.update_owned(&record.id, doc! {}, doc! {}).await?;
                self.remove_organization(record).await?;
                return Ok(Some(Ended::Done));
            }
            Step::RemoveMembers => {
                let receipt = record.deletion.as_ref().map(|d| d.receipt_id.parse());
                let receipt = receipt.transpose().map_err(|e| {
                    StoreError::Unknown(anyhow::anyhow!("corrupt deletion receipt id: {e}"))
                })?;
                let deleted = (record.name.as_str(), receipt.as_ref());
                self.remove_members(&record.id, Some(deleted)).await?;
            }
            Step::DropCollection => {
                self.count_before_drop(record).await?;
                self.clear_tenant(&record.connection, &record.id).await?;
                // What an export kept of its documents goes with them.
                if let Some(mark) = &record.export {
                    self.forget_preimages(&mark.id).await?;
                }
            }
            Step::RemoveRecord => {
                self.finish_deletion(&record.id).await?;
                return Ok(Some(Ended::Done));
            }
        }
        let phase = step.reaches().ok_or_else(|| {
            StoreError::Unknown(anyhow::anyhow!("{step:?} does not end the operation"))
        })?;
        set.insert("intent.phase", to_bson(&phase)?);
        self.update_owned(&record.id, set, doc! {}).await?;
        if let Some(intent) = &mut record.intent {
            intent.phase = phase;
        }
        Ok(None)
    }

    /// `$set`s (renewing the lease) and `$unset`s fields of a record whose intent this process
    /// owns; losing the claim (another process recovered it meanwhile) stops the operation.
    pub(super) async fn update_owned(
        &self,
        id: &str,
        mut set: BsonDocument,
        unset: BsonDocument,
    ) -> Result<(), StoreError> {
        let mut update = BsonDocument::new();
        if unset.is_empty() {
            set.insert("intent.lease_until", self.lease_until());
        }
        if !set.is_empty() {
            update.insert("$set", set);
        }
        if !unset.is_empty() {
            update.insert("$unset", unset);
        }
        let result = timed(
            self.op_timeout(),
            self.inner
                .organizations
                .update_one(doc! {"_id": id, "intent.owner": &self.inner.owner}, update),
        )
        .await?;
        if result.matched_count == 0 {
            return Err(StoreError::Unavailable(LostClaim(id.to_owned()).into()));
        }
        Ok(())
    }

    /// [`Self::update_owned`] with webhook `events`, in one transaction.
    async fn update_owned_telling(
        &self,
        id: &str,
        mut set: BsonDocument,
        events: Vec<NewEvent>,
    ) -> Result<(), StoreError> {
        set.insert("intent.lease_until", self.lease_until());
        let set = &set;
        let events = &events;
        self.transaction(|mut session| async move {
            let outcome = async {
                let written = timed(
                    self.op_timeout(),
                    self.inner
                        .organizations
                        .update_one(
                            doc! {"_id": id, "intent.owner": &self.inner.owner},
                            doc! {"$set": set.clone()},
                        )
                        .session(&mut session),
                )
                .await?;
                if written.matched_count == 0 {
                    let lost = StoreError::Unavailable(LostClaim(id.to_owned()).into());
                    return Err(Abort::Failed(lost));
                }
                self.append_events_in(&mut session, id, events.clone())
                    .await?;
                Ok(())
            }
            .await;
            (session, outcome)
        })
        .await
    }

    /// Gives up a rename or move before anything moved: the admin's credentials as they were
    /// read, the old slug back, the intent removed.
    pub(super) async fn abandon(
        &self,
        record: &OrganizationDoc,
        intent: &Intent,
        live: &Live,
    ) -> Result<(), StoreError> {
        if let Some(before) = &live.admin_before {
            if intent.phase >= Phase::CredentialsApplied {
                self.restore_admin(before).await?;
            }
        }
        let mut set = doc! {};
        if let Operation::Rename {
            from_slug: Some(old),
            ..
        } = &intent.operation
        {
            set.insert("slug", old);
        }
        self.update_owned(&record.id, set, doc! {"intent": ""})
            .await
    }

    /// Puts an admin's credentials back as they were read before a change.
    async fn restore_admin(&self, before: &UserDoc) -> Result<(), StoreError> {
        timed(
            self.op_timeout(),
            self.inner.users.update_one(
                doc! {"_id": &before.id},
                doc! {"$set": {
                    "email": &before.email,
                    "password_hash": &before.password_hash,
                    "token_version": before.token_version,
                }},
            ),
        )
        .await?;
        Ok(())
    }

    pub(super) async fn apply_admin_change(&self, change: &AdminChange) -> Result<(), DbError> {
        let Some(update) = admin_update(change) else {
            return Ok(());
        };
        timed(
            self.op_timeout(),
            self.inner
                .users
                .update_one(doc! {"_id": &change.admin_id}, update),
        )
        .await
        .map(|_| ())
    }

    /// Admins, then its documents (a collection of its own unless another organization took it
    /// over; its documents in the shared one), then the record.
    async fn remove_organization(&self, record: &OrganizationDoc) -> Result<(), StoreError> {
        // A create undone was never told (its event commits with the create's end).
        self.remove_members(&record.id, None).await?;
        let shared = record.connection.model == TenancyModel::Shared;
        if shared || !self.used_by_another(&record.connection, &record.id).await? {
            self.clear_tenant(&record.connection, &record.id).await?;
        }
        self.remove_record(&record.id).await
    }

    async fn remove_record(&self, id: &str) -> Result<(), StoreError> {
        let result = timed(
            self.op_timeout(),
            self.inner
                .organizations
                .delete_one(doc! {"_id": id, "intent.owner": &self.inner.owner}),
        )
        .await?;
        if result.deleted_count == 0 {
            return Err(StoreError::Unavailable(LostClaim(id.to_owned()).into()));
        }
        Ok(())
    }
}

/// The update of the user's record that `change` makes; none when it changes nothing.
pub(super) fn admin_update(change: &AdminChange) -> Option<BsonDocument> {
    let mut set = BsonDocument::new();
    if let Some(email) = &change.email {
        set.insert("email", email);
    }
    if let Some(hash) = &change.password_hash {
        set.insert("password_hash", hash);
    }
    if set.is_empty() {
        return None;
    }
    let mut update = doc! {"$set": set};
    if let Some(version) = change.token_version {
        update.insert("$max", doc! {"token_version": version});
    }
    Some(update)
}
