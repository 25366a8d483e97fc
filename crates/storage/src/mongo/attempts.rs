//! The login throttle's counts: one counter document per attempt key (an email alone, or an email and a client address) in the master database's
//! `login_counters` collection (`_id` is the key), changed by one atomic `findOneAndUpdate`
//! per attempt, so concurrent attempts on any number of instances get distinct numbers.
//!
//! A lock is kept in the same document (`locked_until`), and the attempt's filter only matches
//! an unlocked counter: a locked account is never counted, in the same atomic step that reads
//! the lock. Each write sets `at`, from which the TTL index forgets an account a day after its
//! last attempt (longer than the longest lock).

use bson::{doc, Document as BsonDocument};
use chrono::{DateTime, Utc};
use mongodb::options::ReturnDocument;
use orgsvc_domain::errors::StoreError;
use orgsvc_domain::ports::{Admission, AttemptKey, LoginAttempts};
use serde::{Deserialize, Serialize};

use super::errors::{timed, DbError};
use super::MongoStore;

/// Counters untouched for this long are deleted by the TTL index on `at`: longer than the
/// longest lock, so a lock is never forgotten early.
pub const COUNTER_RETENTION_SECONDS: u64 = 24 * 3600;

/// Concurrent first attempts on one account race to insert its counter; the losers (11000,
/// which MongoDB's upsert retries itself but DocumentDB answers) try again.
const UPSERT_RACES: usize = 8;

/// One account's attempts since its last success or lock, and its locks since its last success.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CounterDoc {
    #[serde(rename = "_id")]
    pub key: String,
    pub count: i64,
    pub locks: i64,
    /// When the latest counted attempt was made (`None` right after a lock).
    pub last_at: Option<bson::DateTime>,
    /// Until when the account is locked (`None`: never locked since its last success).
    pub locked_until: Option<bson::DateTime>,
    /// The last write: what the TTL index measures from.
    pub at: bson::DateTime,
}

fn too_many_races() -> StoreError {
    StoreError::Unavailable(anyhow::anyhow!(
        "too many concurrent login attempts for one account; retry"
    ))
}

fn small(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl MongoStore {
    /// Applies `update` to `key`'s counter, creating it if there is none: again when a
    /// concurrent write inserted it first.
    pub(super) async fn upsert_counter(
        &self,
        key: &str,
        update: BsonDocument,
    ) -> Result<(), StoreError> {
        for _ in 0..UPSERT_RACES {
            let write = self
                .inner
                .login_counters
                .update_one(doc! {"_id": key}, update.clone())
                .upsert(true);
            match timed(self.op_timeout(), write).await {
                Err(DbError::Duplicate) => {}
                other => return other.map(|_| ()).map_err(StoreError::from),
            }
        }
        Err(too_many_races())
    }
}

impl LoginAttempts for MongoStore {
    async fn begin_login_attempt(
        &self,
        key: &AttemptKey,
        now: DateTime<Utc>,
    ) -> Result<Admission, StoreError> {
        self.ensure_ready().await?;
        let counters = &self.inner.login_counters;
        let now = bson::DateTime::from_chrono(now);
        // Matches only an unlocked counter (or none: the upsert makes one). A locked one is not
        // matched, so the upsert tries to insert a second counter for the key and fails with
        // 11000: then the lock is read, and if it ran out meanwhile the attempt is tried again.
        let filter = doc! {"_id": key.as_str(), "locked_until": {"$not": {"$gt": now}}};
        let update = doc! {
            "$inc": {"count": 1_i64},
            "$set": {"last_at": now, "at": now},
            "$setOnInsert": {"locks": 0_i64, "locked_until": bson::Bson::Null},
        };
        for _ in 0..UPSERT_RACES {
            let counted = timed(
                self.op_timeout(),
                counters
                    .find_one_and_update(filter.clone(), update.clone())
                    .upsert(true)
                    .return_document(ReturnDocument::Before),
            )
            .await;
            match counted {
                Ok(before) => {
                    return Ok(before.map_or(
                        Admission::Admitted {
                            attempt: 1,
                            locks: 0,
                            previous_at: None,
                        },
                        |before| Admission::Admitted {
                            attempt: small(before.count + 1),
                            locks: small(before.locks),
                            previous_at: before.last_at.map(bson::DateTime::to_chrono),
                        },
                    ))
                }
                Err(DbError::Duplicate) => {
                    let current = timed(
                        self.op_timeout(),
                        counters.find_one(doc! {"_id": key.as_str()}),
                    )
                    .await?;
                    if let Some(until) = current
                        .and_then(|c| c.locked_until)
                        .filter(|until| *until > now)
                    {
                        return Ok(Admission::Locked {
                            until: until.to_chrono(),
                        });
                    }
                    // Unlocked meanwhile, or a concurrent first attempt made the counter.
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(too_many_races())
    }

    async fn lock_login(&self, key: &AttemptKey, until: DateTime<Utc>) -> Result<(), StoreError> {
        self.ensure_ready().await?;
        let update: BsonDocument = doc! {
            "$set": {
                "count": 0_i64,
                "last_at": bson::Bson::Null,
                "locked_until": bson::DateTime::from_chrono(until),
                "at": bson::DateTime::now(),
            },
            "$inc": {"locks": 1_i64},
        };
        self.upsert_counter(key.as_str(), update).await
    }

    async fn release_login_attempts(&self, keys: &[AttemptKey]) -> Result<(), StoreError> {
        self.ensure_ready().await?;
        let keys: Vec<&str> = keys.iter().map(AttemptKey::as_str).collect();
        // Only a count above 0 is taken back: a lock set meanwhile started it again at 0.
        let release = self.inner.login_counters.update_many(
            doc! {"_id": {"$in": keys}, "count": {"$gt": 0_i64}},
            doc! {"$inc": {"count": -1_i64}, "$set": {"at": bson::DateTime::now()}},
        );
        timed(self.op_timeout(), release).await?;
        Ok(())
    }

    async fn clear_login_attempts(&self, keys: &[AttemptKey]) -> Result<(), StoreError> {
        self.ensure_ready().await?;
        let keys: Vec<&str> = keys.iter().map(AttemptKey::as_str).collect();
        timed(
            self.op_timeout(),
            self.inner
                .login_counters
                .delete_many(doc! {"_id": {"$in": keys}}),
        )
        .await?;
        Ok(())
    }
}
