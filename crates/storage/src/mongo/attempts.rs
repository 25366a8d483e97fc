//! The login throttle's counts in the master database's `login_attempts` collection.
//!
//! Built on inserts of unique `_id`s only, because that is the one atomic primitive every
//! server we run on honours: FerretDB 1.x applies `findAndModify`/`$inc` as read-then-write,
//! and 20 concurrent increments of one counter came back numbered 1, 2, 2, 2, ... (lost
//! updates). So each attempt is its own document, `<key>|<epoch>|<n>`: a number taken by a
//! concurrent attempt fails the insert and the next one is tried, and every attempt gets its
//! own number. A lock or a success ends the epoch with `<key>|<epoch>|end`, which carries the
//! lock; the next attempt starts epoch + 1 at 1. Works unchanged on MongoDB, across instances.
//!
//! Every read is by `_id` too, because FerretDB 1.x (SQLite) scans the whole collection for any
//! other filter, and this collection holds documents of every login for a day: reading by `key`
//! made logins slower with every login (41/s at 4 clients against a 178/s hashing floor). Where
//! to start looking is `<key>|head`, an epoch at or behind the current one: whoever ends an
//! epoch moves it on after the end is stored. A reader walks the ends forward from it (every
//! epoch has one, so nothing can hide behind a gap), so a head set back by a lost rewrite only
//! costs finds, and a reader that finds it [`HEAD_LAG`] epochs behind rewrites it. The last
//! attempt of an epoch is found by galloping over the numbers, which are contiguous from 1
//! (each is taken only after the one before it). (Moving the head without an end on a success
//! saves a write per login, but then a head set back lands before the gap and a lock stored
//! after it goes unseen: tried and dropped.)

use bson::doc;
use chrono::{DateTime, Utc};
use orgsvc_domain::errors::StoreError;
use orgsvc_domain::ports::{Admission, LoginAttempts};
use orgsvc_domain::EmailAddress;
use serde::{Deserialize, Serialize};

use super::errors::{timed, DbError};
use super::MongoStore;

/// Documents older than this are deleted (TTL index where the server has one, the periodic
/// sweep everywhere): longer than the longest lock, so a lock is never forgotten early.
pub const ATTEMPTS_RETENTION_SECONDS: u64 = 24 * 3600;

/// Attempts tried past a taken number before giving up (only many concurrent attempts on one
/// account get anywhere near it).
const MAX_NUMBER_RACES: usize = 64;

/// How many epochs behind a reader finds the head before it rewrites it itself (a lost rewrite,
/// or attempts stored before heads existed).
const HEAD_LAG: i64 = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Attempt,
    /// Ends an epoch with a lock.
    Lock,
    /// Ends an epoch after a success: counts and locks start again.
    Clear,
    /// `<key>|head`: an epoch at or before the current one, where readers start.
    Head,
}

/// One attempt, or the end of an epoch.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AttemptDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub key: String,
    pub epoch: i64,
    pub kind: Kind,
    /// The attempt's number in its epoch (0 for an end).
    pub n: i64,
    /// When it was written; what retention is measured from.
    pub at: bson::DateTime,
    /// For an end: how many locks since the last success, this one included.
    pub locks: i64,
    /// For a lock: until when.
    pub locked_until: bson::DateTime,
}

/// Where an account stands: its current epoch and what the last end left.
struct State {
    epoch: i64,
    locks: i64,
    locked_until: bson::DateTime,
}

fn small(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl MongoStore {
    async fn attempt_doc(&self, id: &str) -> Result<Option<AttemptDoc>, StoreError> {
        Ok(timed(
            self.op_timeout(),
            self.inner.login_attempts.find_one(doc! {"_id": id}),
        )
        .await?)
    }

    /// The account's current epoch and what its last end left: from the head, then forward over
    /// the ends written since.
    async fn attempts_state(&self, key: &str) -> Result<State, StoreError> {
        let head = self.attempt_doc(&format!("{key}|head")).await?;
        let mut state = head.map_or(
            State {
                epoch: 0,
                locks: 0,
                locked_until: bson::DateTime::MIN,
            },
            |head| State {
                epoch: head.epoch,
                locks: head.locks,
                locked_until: head.locked_until,
            },
        );
        let known = state.epoch;
        while let Some(end) = self
            .attempt_doc(&format!("{key}|{}|end", state.epoch))
            .await?
        {
            state = State {
                epoch: end.epoch + 1,
                locks: end.locks,
                locked_until: end.locked_until,
            };
        }
        if state.epoch - known >= HEAD_LAG {
            self.write_head(key, &state).await?;
        }
        Ok(state)
    }

    /// Rewrites `<key>|head` to point at `state` (last writer wins; any epoch at or before the
    /// current one is a correct head).
    async fn write_head(&self, key: &str, state: &State) -> Result<(), StoreError> {
        let head = AttemptDoc {
            id: format!("{key}|head"),
            key: key.to_owned(),
            epoch: state.epoch,
            kind: Kind::Head,
            n: 0,
            at: bson::DateTime::now(),
            locks: state.locks,
            locked_until: state.locked_until,
        };
        let write = self
            .inner
            .login_attempts
            .replace_one(doc! {"_id": &head.id}, &head)
            .upsert(true);
        // Two upserts of a missing head may collide; either one is as good.
        match timed(self.op_timeout(), write).await {
            Ok(_) | Err(DbError::Duplicate) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The highest-numbered attempt of `epoch`: numbers run from 1 without gaps, so doubling
    /// finds a missing one and halving finds the last present one.
    async fn latest_attempt(
        &self,
        key: &str,
        epoch: i64,
    ) -> Result<Option<AttemptDoc>, StoreError> {
        let attempt = |n: i64| {
            let id = format!("{key}|{epoch}|{n}");
            async move { self.attempt_doc(&id).await }
        };
        let Some(mut present) = attempt(1).await? else {
            return Ok(None);
        };
        let mut missing = 2;
        while let Some(found) = attempt(missing).await? {
            present = found;
            missing *= 2;
        }
        while missing - present.n > 1 {
            let middle = present.n + (missing - present.n) / 2;
            match attempt(middle).await? {
                Some(found) => present = found,
                None => missing = middle,
            }
        }
        Ok(Some(present))
    }

    /// Ends the account's current epoch: with a lock until `locked_until`, or after a success
    /// (`Kind::Clear`). A concurrent end of the same epoch wins, harmlessly.
    async fn end_epoch(
        &self,
        key: &str,
        kind: Kind,
        locked_until: bson::DateTime,
    ) -> Result<(), StoreError> {
        let state = self.attempts_state(key).await?;
        let end = AttemptDoc {
            id: format!("{key}|{}|end", state.epoch),
            key: key.to_owned(),
            epoch: state.epoch,
            kind,
            n: 0,
            at: bson::DateTime::now(),
            locks: if kind == Kind::Lock {
                state.locks + 1
            } else {
                0
            },
            locked_until,
        };
        match timed(
            self.op_timeout(),
            self.inner.login_attempts.insert_one(&end),
        )
        .await
        {
            // The next reader starts at the new epoch rather than walking to it.
            Ok(_) => {
                let next = State {
                    epoch: end.epoch + 1,
                    locks: end.locks,
                    locked_until: end.locked_until,
                };
                self.write_head(key, &next).await
            }
            // Ended concurrently: whoever did moves the head.
            Err(DbError::Duplicate) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes documents older than the retention period: what the TTL index does on servers
    /// that have one, done by the periodic sweep on those that do not.
    pub(super) async fn forget_old_login_attempts(&self) -> Result<(), StoreError> {
        let retention = i64::try_from(ATTEMPTS_RETENTION_SECONDS).unwrap_or(i64::MAX) * 1000;
        let cutoff =
            bson::DateTime::from_millis(bson::DateTime::now().timestamp_millis() - retention);
        timed(
            self.op_timeout(),
            self.inner
                .login_attempts
                .delete_many(doc! {"at": {"$lt": cutoff}}),
        )
        .await?;
        Ok(())
    }
}

impl LoginAttempts for MongoStore {
    async fn begin_login_attempt(
        &self,
        key: &EmailAddress,
        now: DateTime<Utc>,
    ) -> Result<Admission, StoreError> {
        self.ensure_ready().await?;
        let key = key.as_str();
        let state = self.attempts_state(key).await?;
        if state.locked_until.to_chrono() > now {
            return Ok(Admission::Locked {
                until: state.locked_until.to_chrono(),
            });
        }
        let latest = self.latest_attempt(key, state.epoch).await?;
        let (mut n, mut previous_at) = latest.map_or((1, None), |latest| {
            (latest.n + 1, Some(latest.at.to_chrono()))
        });
        for _ in 0..MAX_NUMBER_RACES {
            let attempt = AttemptDoc {
                id: format!("{key}|{}|{n}", state.epoch),
                key: key.to_owned(),
                epoch: state.epoch,
                kind: Kind::Attempt,
                n,
                at: bson::DateTime::from_chrono(now),
                locks: state.locks,
                locked_until: bson::DateTime::MIN,
            };
            match timed(
                self.op_timeout(),
                self.inner.login_attempts.insert_one(&attempt),
            )
            .await
            {
                Ok(_) => {
                    return Ok(Admission::Admitted {
                        attempt: small(n),
                        locks: small(state.locks),
                        previous_at,
                    })
                }
                // A concurrent attempt took this number: it is the previous one now.
                Err(DbError::Duplicate) => {
                    n += 1;
                    previous_at = Some(now);
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Unavailable(anyhow::anyhow!(
            "too many concurrent login attempts for one account; retry"
        )))
    }

    async fn lock_login(&self, key: &EmailAddress, until: DateTime<Utc>) -> Result<(), StoreError> {
        self.end_epoch(key.as_str(), Kind::Lock, bson::DateTime::from_chrono(until))
            .await
    }

    async fn clear_login_attempts(&self, key: &EmailAddress) -> Result<(), StoreError> {
        self.end_epoch(key.as_str(), Kind::Clear, bson::DateTime::MIN)
            .await
    }
}
