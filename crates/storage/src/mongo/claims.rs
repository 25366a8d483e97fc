//! Starting an operation and taking one over, each by one conditional update of the
//! organization's record, which exactly one of any number of processes wins: starting matches
//! the record at the epoch it was read at with no intent and raises the epoch; recovery matches
//! the expired intent's owner and lease and makes them its own, then runs it to the end.

use std::time::{Duration, Instant};

use bson::{doc, Document as BsonDocument};
use futures_util::TryStreamExt as _;
use orgsvc_domain::errors::StoreError;

use super::errors::{timed, DbError};
use super::executor::{is_lost, to_bson, Live};
use super::records::{Operation, OrganizationDoc};
use super::renamer::{GuardedUpdate, RenameFailure, Renamed};
use super::MongoStore;

/// Matches a record at `epoch` (records of earlier versions have none: epoch 0).
pub(super) fn at_epoch(id: &str, epoch: i64) -> BsonDocument {
    if epoch == 0 {
        doc! {"_id": id, "$or": [{"epoch": 0_i64}, {"epoch": {"$exists": false}}]}
    } else {
        doc! {"_id": id, "epoch": epoch}
    }
}

/// Why an operation could not be started.
pub(super) enum BeginError {
    /// Another operation holds the organization.
    Busy,
    /// The new slug is taken.
    SlugTaken,
    /// The renamer no longer holds a role that may rename the organization.
    NotAllowed,
    Store(StoreError),
}

impl From<StoreError> for BeginError {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

impl From<DbError> for BeginError {
    fn from(error: DbError) -> Self {
        Self::Store(error.into())
    }
}
impl MongoStore {
    /// Records `operation` on `record` (read at its current epoch, without an intent), raising
    /// the epoch, together with `set`: of concurrent starts on one record, exactly one matches.
    pub(super) async fn begin(
        &self,
        record: &OrganizationDoc,
        operation: Operation,
        mut set: BsonDocument,
        renamer: Option<&str>,
    ) -> Result<OrganizationDoc, BeginError> {
        let epoch = record.epoch + 1;
        let intent = self.new_intent(operation);
        set.insert("intent", to_bson(&intent)?);
        set.insert("epoch", epoch);
        let mut filter = at_epoch(&record.id, record.epoch);
        filter.insert("intent", doc! {"$exists": false});
        let update = doc! {"$set": set.clone()};
        let recorded = match renamer {
            None => timed(
                self.op_timeout(),
                self.inner.organizations.update_one(filter, update),
            )
            .await
            .map(|result| Renamed::Matched(result.matched_count))
            .map_err(RenameFailure::from),
            Some(renamer) => {
                self.update_record_guarded(GuardedUpdate {
                    organization: &record.id,
                    renamer: Some(renamer),
                    filter,
                    update,
                    admin: None,
                    events: Vec::new(),
                })
                .await
            }
        };
        let failed = match recorded {
            Ok(Renamed::Matched(1)) => None,
            Ok(Renamed::Matched(_)) => Some(BeginError::Busy),
            Ok(Renamed::NotAllowed) => Some(BeginError::NotAllowed),
            Err(RenameFailure::Duplicate) => Some(BeginError::SlugTaken),
            Err(RenameFailure::Store(e)) => Some(BeginError::Store(e)),
        };
        if let Some(error) = failed {
            // Not recorded (busy, taken), or perhaps recorded with the answer lost.
            if matches!(error, BeginError::Store(_)) {
                self.settle_failed_begin(record.id.clone(), epoch);
            }
            return Err(error);
        }
        let mut started = record.clone();
        if let Ok(slug) = set.get_str("slug") {
            slug.clone_into(&mut started.slug);
        }
        started.epoch = epoch;
        started.intent = Some(intent);
        Ok(started)
    }

    /// A begin that failed may have been recorded all the same (its answer lost in an outage).
    /// As soon as the database answers, an intent it did record is abandoned (the caller was
    /// told the operation failed, so nothing may change) instead of waiting a lease for
    /// recovery. Given up after a lease: by then any process's recovery takes over.
    fn settle_failed_begin(&self, id: String, epoch: i64) {
        let store = self.clone();
        let give_up =
            Instant::now() + Duration::from_secs(self.inner.settings.intent_lease_seconds);
        tokio::spawn(async move {
            let mut pause = Duration::from_millis(50);
            while let Err(e) = store.undo_begin(&id, epoch).await {
                if Instant::now() > give_up {
                    tracing::warn!(organization = %id, error = %e,
                        "could not undo a failed start; recovery will");
                    return;
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(1));
            }
        });
    }

    async fn undo_begin(&self, id: &str, epoch: i64) -> Result<(), StoreError> {
        let mut filter = at_epoch(id, epoch);
        filter.insert("intent.owner", &self.inner.owner);
        let recorded = timed(self.op_timeout(), self.inner.organizations.find_one(filter)).await?;
        if let Some(record) = &recorded {
            if let Some(intent) = &record.intent {
                tracing::info!(organization = %id, op = intent.operation.name(),
                    "undoing an operation whose start was recorded, although it failed");
                let live = Live { admin_before: None };
                self.abandon(record, intent, &live).await?;
            }
        }
        Ok(())
    }

    // ---- Recovery ----

    /// Finishes (or for a create, undoes) an operation whose owner stopped renewing its lease.
    /// Of all the processes that find it, exactly one takes that lease over and runs it.
    pub(super) async fn recover(&self, record: OrganizationDoc) -> Result<(), StoreError> {
        let Some(stale) = &record.intent else {
            return Ok(());
        };
        let mut filter = at_epoch(&record.id, record.epoch);
        filter.insert("intent.owner", &stale.owner);
        filter.insert("intent.lease_until", stale.lease_until);
        let taken = timed(
            self.op_timeout(),
            self.inner.organizations.update_one(
                filter,
                doc! {"$set": {"intent.owner": &self.inner.owner, "intent.lease_until": self.lease_until()}},
            ),
        )
        .await?;
        if taken.matched_count == 0 {
            // Renewed by its owner, or finished, since it was read.
            return Ok(());
        }
        tracing::warn!(organization = %record.id, op = stale.operation.name(), phase = ?stale.phase,
            "recovering an interrupted operation");
        let mut claimed = record.clone();
        if let Some(intent) = &mut claimed.intent {
            intent.owner.clone_from(&self.inner.owner);
        }
        match self.run_to_end(claimed, None).await {
            Ok(_) => Ok(()),
            Err(e) if is_lost(&e) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Recovers every operation whose owner stopped renewing it.
    pub(super) async fn recover_expired(&self) -> Result<(), StoreError> {
        let filter = doc! {"intent": {"$exists": true}, "intent.lease_until": {"$lt": bson::DateTime::now()}};
        let stale: Vec<OrganizationDoc> = timed(self.op_timeout(), async {
            self.inner
                .organizations
                .find(filter)
                .await?
                .try_collect()
                .await
        })
        .await?;
        let mut failed = None;
        for record in stale {
            let id = record.id.clone();
            if let Err(e) = self.recover(record).await {
                tracing::warn!(organization = %id, error = ?e, "recovery failed; will retry");
                failed = Some(e);
            }
        }
        failed.map_or(Ok(()), Err)
    }
}
