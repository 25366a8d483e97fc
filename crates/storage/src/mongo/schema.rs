//! Numbered versions of what the MongoDB store keeps, recorded in the master database's
//! `schema` collection (`{_id: "orgsvc", version}`; none at all is version 0, what releases
//! before versions wrote). At start a newer binary brings an older database up version by
//! version, each step idempotent, so a crash in the middle is finished by the next start; an
//! older binary refuses a database newer than it knows.
//!
//! | version | what it changed |
//! |---|---|
//! | 1 | every organization has a roster (before: its one admin named it, `organization_id`) |
//! | 2 | the login throttle is one counter per account (`login_counters`); `login_attempts`, one document per attempt, is gone, its live locks carried over; `operation_claims` is gone (operations are claimed on the organization's record) |
//! | 3 | nested arrays in tenant documents are stored as they are, no longer wrapped (in the background, see [`super::nested_arrays`]) |

use bson::doc;
use futures_util::TryStreamExt as _;
use orgsvc_domain::errors::StoreError;
use serde::Deserialize;

use super::errors::{timed, DbError};
use super::MongoStore;

/// The version this binary writes.
pub const CURRENT: i64 = 3;

pub(super) const VERSION_ID: &str = "orgsvc";

impl MongoStore {
    /// The stored version, 0 when none is recorded.
    pub(super) async fn schema_version(&self) -> Result<i64, StoreError> {
        let found = timed(
            self.op_timeout(),
            self.inner.schema.find_one(doc! {"_id": VERSION_ID}),
        )
        .await?;
        Ok(found.and_then(|d| d.get_i64("version").ok()).unwrap_or(0))
    }

    /// Brings the database to [`CURRENT`], or refuses one newer than that.
    pub(super) async fn migrate(&self) -> Result<(), StoreError> {
        let mut version = self.schema_version().await?;
        if version > CURRENT {
            return Err(StoreError::Unknown(anyhow::anyhow!(
                "the master database {:?} is at schema version {version}, and this orgsvc knows \
                 versions up to {CURRENT}: run the newer orgsvc that wrote it",
                self.inner.settings.master_database
            )));
        }
        while version < CURRENT {
            let next = version + 1;
            let finished = match next {
                1 => self.migrate_rosters().await?,
                2 => self.move_login_counts().await?,
                _ => {
                    // Records itself when it is done.
                    self.spawn_unwrapping();
                    return Ok(());
                }
            };
            if !finished {
                tracing::info!(
                    version = next,
                    "schema migration waits for operations in progress; the next start finishes it"
                );
                return Ok(());
            }
            self.record_version(version, next).await?;
            tracing::info!(version = next, "master database migrated");
            version = next;
        }
        Ok(())
    }

    /// Moves the version from `from` to `to`, unless another instance already did, and forgets
    /// where the migration to it got to.
    pub(super) async fn record_version(&self, from: i64, to: i64) -> Result<(), StoreError> {
        let schema = &self.inner.schema;
        let written = if from == 0 {
            timed(
                self.op_timeout(),
                schema.insert_one(doc! {"_id": VERSION_ID, "version": to}),
            )
            .await
            .map(|_| ())
        } else {
            timed(
                self.op_timeout(),
                schema.update_one(
                    doc! {"_id": VERSION_ID, "version": from},
                    doc! {"$set": {"version": to}, "$unset": {"unwrapping": "", "pending": ""}},
                ),
            )
            .await
            .map(|_| ())
        };
        match written {
            Ok(()) | Err(DbError::Duplicate) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Version 2: the locks still running in `login_attempts` (kind `lock`, written as the end
    /// of an epoch) become counters holding them; the attempt counts themselves start again.
    /// That collection and `operation_claims` are dropped.
    async fn move_login_counts(&self) -> Result<bool, StoreError> {
        #[derive(Deserialize)]
        struct OldLock {
            key: String,
            locks: i64,
            locked_until: bson::DateTime,
        }
        let old = self.inner.master.collection::<OldLock>("login_attempts");
        let now = bson::DateTime::now();
        let live: Vec<OldLock> = timed(self.op_timeout(), async {
            old.find(doc! {"kind": "lock", "locked_until": {"$gt": now}})
                .await?
                .try_collect()
                .await
        })
        .await?;
        for lock in live {
            let update = doc! {
                "$max": {"locked_until": lock.locked_until, "locks": lock.locks},
                "$setOnInsert": {"count": 0_i64, "last_at": bson::Bson::Null},
                "$set": {"at": now},
            };
            self.upsert_counter(&lock.key, update).await?;
        }
        for gone in [old.name(), "operation_claims"] {
            let collection = self.inner.master.collection::<bson::Document>(gone);
            match timed(self.op_timeout(), collection.drop()).await {
                Ok(()) | Err(DbError::NamespaceNotFound) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(true)
    }
}
