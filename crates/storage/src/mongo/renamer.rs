//! Renames decided by the renamer's current role, not the one their token was issued with.
//!
//! The role is on the roster, the name on the organization's record: two documents. The change
//! of the record and a write of the roster that matches only while the user holds a role that
//! may rename go in one transaction, so a concurrent demotion or removal (a versioned write of
//! the same roster) either commits first, and the rename is refused, or conflicts with it and
//! runs after the rename, which then came first.

use bson::{doc, Document as BsonDocument};
use mongodb::ClientSession;
use orgsvc_domain::errors::StoreError;
use orgsvc_domain::webhooks::NewEvent;
use orgsvc_domain::{Permission, Role};

use super::errors::{timed, DbError};
use super::transaction::Abort;
use super::MongoStore;

/// How a record update on a renamer's behalf ended.
pub(super) enum Renamed {
    /// The update ran; how many records it matched.
    Matched(u64),
    /// The renamer no longer holds a role that may rename the organization.
    NotAllowed,
}

/// Why a guarded update failed.
pub(super) enum RenameFailure {
    Duplicate,
    Store(StoreError),
}

impl From<StoreError> for RenameFailure {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

/// A duplicate key is a taken slug or email; anything else a store failure.
impl From<DbError> for RenameFailure {
    fn from(error: DbError) -> Self {
        match error {
            DbError::Duplicate => Self::Duplicate,
            other => Self::Store(other.into()),
        }
    }
}

/// What [`MongoStore::update_record_guarded`] writes, all or nothing.
pub(super) struct GuardedUpdate<'a> {
    /// The organization, whose record and roster these are.
    pub organization: &'a str,
    /// With it, the update happens only while this user may rename the organization.
    pub renamer: Option<&'a str>,
    /// The organization's record: which one (a filter) and its update.
    pub filter: BsonDocument,
    pub update: BsonDocument,
    /// A user's own record changed with it (their credentials): `_id` and update.
    pub admin: Option<(&'a str, BsonDocument)>,
    /// Webhook events the change yields, appended when the record was matched.
    pub events: Vec<NewEvent>,
}

impl MongoStore {
    /// Applies `change` in one transaction (see the module documentation).
    pub(super) async fn update_record_guarded(
        &self,
        change: GuardedUpdate<'_>,
    ) -> Result<Renamed, RenameFailure> {
        let roles: Vec<&str> = Role::ALL
            .iter()
            .filter(|role| role.allows(Permission::RenameOrganization))
            .map(|role| role.as_str())
            .collect();
        let guard = change.renamer.map(|renamer| {
            doc! {
                "_id": change.organization,
                "members": {"$elemMatch": {"user_id": renamer, "role": {"$in": roles}}},
            }
        });
        let change = &change;
        self.transaction(|mut session| {
            let guard = guard.clone();
            async move {
                let outcome = self.guarded_writes(&mut session, guard, change).await;
                (session, outcome)
            }
        })
        .await
    }

    async fn guarded_writes(
        &self,
        session: &mut ClientSession,
        guard: Option<BsonDocument>,
        change: &GuardedUpdate<'_>,
    ) -> Result<Renamed, Abort<RenameFailure>> {
        let limit = self.op_timeout();
        if let Some(guard) = guard {
            // A real change of the roster (its version raised, which a concurrent edit
            // rereads and retries on), so that the two transactions conflict.
            let held = timed(
                limit,
                self.inner
                    .rosters
                    .clone_with_type::<BsonDocument>()
                    .update_one(guard, doc! {"$inc": {"version": 1_i64}})
                    .session(&mut *session),
            )
            .await?;
            if held.matched_count == 0 {
                return Ok(Renamed::NotAllowed);
            }
        }
        if let Some((admin, update)) = &change.admin {
            let written = timed(
                limit,
                self.inner
                    .users
                    .update_one(doc! {"_id": *admin}, update.clone())
                    .session(&mut *session),
            )
            .await;
            duplicate_aborts(written)?;
        }
        let written = timed(
            limit,
            self.inner
                .organizations
                .update_one(change.filter.clone(), change.update.clone())
                .session(&mut *session),
        )
        .await;
        let matched = duplicate_aborts(written)?.matched_count;
        if matched == 1 {
            let appended = self
                .append_events_in(session, change.organization, change.events.clone())
                .await;
            duplicate_aborts(appended)?;
        }
        Ok(Renamed::Matched(matched))
    }
}

/// A duplicate key (a taken slug or email) aborts the transaction as that; a conflict runs it
/// again.
fn duplicate_aborts<T>(written: Result<T, DbError>) -> Result<T, Abort<RenameFailure>> {
    match written {
        Ok(result) => Ok(result),
        Err(DbError::TransactionConflict) => Err(Abort::Conflict),
        Err(e) => Err(Abort::Failed(e.into())),
    }
}
