//! Rosters in MongoDB: one document per organization in `rosters` (`_id` = the organization's
//! id), written at the version it was read at.
//!
//! Who belongs where is the rosters' business alone: a user is found in the organizations
//! whose roster lists them (index `members.user_id`). A roster change and the users it adds,
//! inserts or removes (members who left and belong nowhere else) are one transaction, so no
//! change leaves a user no roster lists or a roster listing a missing user; a create writes its
//! roster and founder in one too (`founding`). Releases before those transactions could leave a
//! user no roster lists after a crash: logins treat one as absent, and a new user takes its
//! email over once it is older than [`UNLISTED_GRACE`].

use bson::{doc, Document as BsonDocument};
use futures_util::TryStreamExt as _;
use orgsvc_domain::deletion::RosterTally;
use orgsvc_domain::errors::{SaveRosterError, StoreError};
use orgsvc_domain::ports::MemberStore;
use orgsvc_domain::webhooks::roster_events;
use orgsvc_domain::{
    DeletionReceiptId, EmailAddress, Membership, OrganizationId, Roster, User, UserId,
};
use serde::{Deserialize, Serialize};

use mongodb::ClientSession;

use super::errors::{timed, DbError};
use super::executor::to_bson;
use super::records::{Operation, OrganizationDoc, UserDoc};
use super::transaction::Abort;
use super::MongoStore;
use crate::roster::RosterRecord;

/// A roster in `rosters`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RosterDoc {
    #[serde(rename = "_id")]
    pub id: String,
    #[serde(flatten)]
    pub record: RosterRecord,
}

impl RosterDoc {
    fn into_domain(self) -> Result<Roster, StoreError> {
        let id = self
            .id
            .parse::<OrganizationId>()
            .map_err(|e| StoreError::Unknown(anyhow::anyhow!("corrupt roster id: {e}")))?;
        self.record.into_domain(id)
    }
}

/// How long a user no roster lists is left alone before its email may be taken over: far longer
/// than any create or acceptance takes between writing a user and the roster that lists it, so
/// only what an interrupted change left behind is reclaimed.
const UNLISTED_GRACE: std::time::Duration = std::time::Duration::from_secs(10 * 60);

impl MongoStore {
    /// Runs `write` once more after taking `email` over from a leftover user (see
    /// [`Self::reclaim_email`]) when its first answer is that the email is taken.
    pub(super) async fn reclaiming<T, E, Fut>(
        &self,
        email: Option<&EmailAddress>,
        taken: impl Fn(&E) -> bool,
        mut write: impl FnMut() -> Fut,
    ) -> Result<T, E>
    where
        E: From<StoreError>,
        Fut: std::future::Future<Output = Result<T, E>>,
    {
        match (write().await, email) {
            (Err(e), Some(email)) if taken(&e) => {
                if self.reclaim_email(email.as_str()).await? {
                    write().await
                } else {
                    Err(e)
                }
            }
            (outcome, _) => outcome,
        }
    }

    /// Inserts `user` in `session`'s transaction; `false` when its email is taken.
    pub(super) async fn insert_user_in(
        &self,
        session: &mut ClientSession,
        user: &User,
    ) -> Result<bool, DbError> {
        let insert = self.inner.users.insert_one(UserDoc::from_domain(user));
        match timed(self.op_timeout(), insert.session(session)).await {
            Ok(_) => Ok(true),
            Err(DbError::Duplicate) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Writes `user`'s document in `session`'s transaction (`false`: there is no such user),
    /// so that transactions changing where the user belongs meet on it: under snapshot
    /// isolation (MongoDB) one of two conflicts, under read committed (DocumentDB) the second
    /// waits for the first and then reads what it wrote.
    pub(super) async fn touch_user_in(
        &self,
        session: &mut ClientSession,
        user: &str,
    ) -> Result<bool, DbError> {
        let touch = self.inner.users.update_one(
            doc! {"_id": user},
            doc! {"$set": {"listed_at": bson::DateTime::now()}},
        );
        let touched = timed(self.op_timeout(), touch.session(session)).await?;
        Ok(touched.matched_count == 1)
    }

    /// Removes the holder of `email` if it is a leftover (a user no roster lists, older than
    /// [`UNLISTED_GRACE`]); whether the email may be tried again.
    pub(super) async fn reclaim_email(&self, email: &str) -> Result<bool, StoreError> {
        let limit = self.op_timeout();
        let Some(holder) = timed(limit, self.inner.users.find_one(doc! {"email": email})).await?
        else {
            return Ok(true);
        };
        let grace = i64::try_from(UNLISTED_GRACE.as_millis()).unwrap_or(i64::MAX);
        let recent =
            holder.created_at.timestamp_millis() > bson::DateTime::now().timestamp_millis() - grace;
        if recent || self.listed(&holder.id).await? {
            return Ok(false);
        }
        tracing::warn!(user = %holder.id, "removing a user no organization lists, left by an interrupted change, to reuse its email");
        timed(
            limit,
            self.inner
                .users
                .delete_one(doc! {"_id": &holder.id, "email": email}),
        )
        .await?;
        Ok(true)
    }

    pub(super) async fn roster_doc(
        &self,
        organization: &str,
    ) -> Result<Option<RosterDoc>, StoreError> {
        Ok(timed(
            self.op_timeout(),
            self.inner.rosters.find_one(doc! {"_id": organization}),
        )
        .await?)
    }

    /// Writes a new organization's first roster (part of a create; see `lifecycle`).
    pub(super) async fn insert_roster(&self, roster: &Roster) -> Result<(), StoreError> {
        let document = RosterDoc {
            id: roster.organization_id.to_string(),
            record: RosterRecord::from_domain(roster, roster.version),
        };
        match timed(self.op_timeout(), self.inner.rosters.insert_one(&document)).await {
            // Written by an earlier attempt of the same create.
            Ok(_) | Err(DbError::Duplicate) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether any roster lists `user`.
    async fn listed(&self, user: &str) -> Result<bool, StoreError> {
        let filter = doc! {"members.user_id": user};
        let found = timed(self.op_timeout(), self.inner.rosters.find_one(filter)).await?;
        Ok(found.is_some())
    }

    /// Removes an organization's roster and the members who belong nowhere else, in one
    /// transaction: a delete's step, and the undoing of a create. With `deleted` (the
    /// organization's name, when it is being deleted rather than a create undone) the
    /// `organization.deleted` event goes in it too, keeping the webhook endpoints to be told.
    /// So a crash leaves all of it or none, and a repeat finds what is left.
    pub(super) async fn remove_members(
        &self,
        organization: &str,
        deleted: Option<(&str, Option<&DeletionReceiptId>)>,
    ) -> Result<(), StoreError> {
        self.transaction(|mut session| async move {
            let outcome = async {
                let find = self.inner.rosters.find_one(doc! {"_id": organization});
                let Some(roster) = timed(self.op_timeout(), find.session(&mut session)).await?
                else {
                    return Ok(());
                };
                let members: Vec<&str> = roster.record.user_ids().collect();
                let users = self
                    .remove_unlisted_in(&mut session, organization, &members)
                    .await?;
                if let Some((name, receipt)) = deleted {
                    self.append_deleted_in(&mut session, organization, name, receipt)
                        .await?;
                    let id = organization.parse().map_err(|e| {
                        DbError::Other(anyhow::anyhow!("corrupt organization id: {e}"))
                    })?;
                    let roster = roster
                        .record
                        .clone()
                        .into_domain(id)
                        .map_err(|e| DbError::Other(e.into()))?;
                    self.tally_roster_in(
                        &mut session,
                        organization,
                        RosterTally::of(&roster),
                        users,
                    )
                    .await?;
                }
                let remove = self.inner.rosters.delete_one(doc! {"_id": organization});
                timed(self.op_timeout(), remove.session(&mut session)).await?;
                Ok::<_, DbError>(())
            }
            .await;
            (session, outcome.map_err(Abort::<StoreError>::from))
        })
        .await
    }

    /// Removes those of `users` whom no roster but `organization`'s lists, in `session`'s
    /// transaction, and answers how many. They are touched before other rosters are looked at, so a concurrent
    /// change adding one of them elsewhere is either seen here or conflicts with this (see
    /// [`Self::touch_user_in`]).
    async fn remove_unlisted_in(
        &self,
        session: &mut ClientSession,
        organization: &str,
        users: &[&str],
    ) -> Result<u64, DbError> {
        if users.is_empty() {
            return Ok(0);
        }
        let limit = self.op_timeout();
        let touch = self.inner.users.update_many(
            doc! {"_id": {"$in": users}},
            doc! {"$set": {"listed_at": bson::DateTime::now()}},
        );
        timed(limit, touch.session(&mut *session)).await?;
        let mut unlisted = Vec::with_capacity(users.len());
        for user in users {
            let elsewhere = doc! {"members.user_id": *user, "_id": {"$ne": organization}};
            let find = self.inner.rosters.find_one(elsewhere);
            if timed(limit, find.session(&mut *session)).await?.is_none() {
                unlisted.push(*user);
            }
        }
        if !unlisted.is_empty() {
            let remove = self
                .inner
                .users
                .delete_many(doc! {"_id": {"$in": &unlisted}});
            timed(limit, remove.session(&mut *session)).await?;
        }
        Ok(unlisted.len() as u64)
    }

    /// Gives every organization written before rosters existed its roster: its admin as its
    /// owner. Those versions wrote the organization's id into its admin's document
    /// (`organization_id`), which nothing writes any more: each such admin gets its
    /// organization a roster and loses the field, so this is idempotent (a roster's `_id` is its
    /// organization's) and reads nothing once done. An organization being created or deleted is
    /// left for the next start. Schema version 1; answers whether it is finished.
    pub(super) async fn migrate_rosters(&self) -> Result<bool, StoreError> {
        let limit = self.op_timeout();
        let legacy: Vec<BsonDocument> = timed(limit, async {
            self.inner
                .users
                .clone_with_type::<BsonDocument>()
                .find(doc! {"organization_id": {"$exists": true}})
                .projection(doc! {"_id": 1, "organization_id": 1})
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await?;
        // An organization being created writes its roster itself; one being deleted may have
        // had it removed already, and it must not come back.
        let settled = |o: &OrganizationDoc| {
            !matches!(
                o.intent.as_ref().map(|i| &i.operation),
                Some(Operation::Create | Operation::Delete)
            )
        };
        let (mut migrated, mut finished) = (0, true);
        for admin in legacy {
            let (Ok(user), Ok(id)) = (admin.get_str("_id"), admin.get_str("organization_id"))
            else {
                continue;
            };
            let find = || timed(limit, self.inner.organizations.find_one(doc! {"_id": id}));
            match find().await? {
                Some(organization) if !settled(&organization) => {
                    finished = false;
                    continue;
                }
                Some(organization) if self.roster_doc(id).await?.is_none() => {
                    let parse =
                        |e: uuid::Error| StoreError::Unknown(anyhow::anyhow!("corrupt id: {e}"));
                    let roster = Roster::founded(
                        organization.id.parse().map_err(parse)?,
                        user.parse().map_err(parse)?,
                        organization.created_at.to_chrono(),
                    );
                    self.insert_roster(&roster).await?;
                    // A delete that began after the read above may have removed the roster
                    // before this insert: seen now, so the roster goes again (a delete
                    // beginning after this read removes it itself).
                    if find().await?.as_ref().is_some_and(settled) {
                        migrated += 1;
                    } else {
                        timed(
                            limit,
                            self.inner
                                .rosters
                                .delete_one(doc! {"_id": id, "version": 0_i64}),
                        )
                        .await?;
                        finished = false;
                        continue;
                    }
                }
                // Given a roster by an earlier run, or gone (its admin is then a user no roster
                // lists, like any other leftover).
                _ => {}
            }
            timed(
                limit,
                self.inner
                    .users
                    .update_one(doc! {"_id": user}, doc! {"$unset": {"organization_id": ""}}),
            )
            .await?;
        }
        if migrated > 0 {
            tracing::info!(
                organizations = migrated,
                "gave organizations written before rosters their roster"
            );
        }
        Ok(finished)
    }
}

impl MongoStore {
    /// One roster change, in `session`'s transaction: the roster at the version it was read
    /// at, the joining user inserted, users it adds touched (so a concurrent removal of one of
    /// them conflicts with this instead of both committing), and users it drops removed unless
    /// another roster lists them.
    async fn write_roster(
        &self,
        session: &mut ClientSession,
        roster: &Roster,
        joining: Option<&User>,
    ) -> Result<(), Abort<SaveRosterError>> {
        let limit = self.op_timeout();
        let id = roster.organization_id.to_string();
        let expected = i64::try_from(roster.version)
            .map_err(|e| Abort::Failed(StoreError::Unknown(e.into()).into()))?;
        let rosters = &self.inner.rosters;
        let before = timed(
            limit,
            rosters.find_one(doc! {"_id": &id}).session(&mut *session),
        )
        .await?
        .filter(|before| before.record.version == expected)
        .ok_or(Abort::Failed(SaveRosterError::Conflict))?;
        if let Some(user) = joining {
            if !self.insert_user_in(session, user).await? {
                let email = user.email.clone();
                return Err(Abort::Failed(SaveRosterError::EmailTaken { email }));
            }
        }
        let record = RosterRecord::from_domain(roster, roster.version + 1);
        let set = doc! {"$set": {
            "version": record.version,
            "members": to_bson(&record.members).map_err(|e| Abort::Failed(e.into()))?,
            "invitations": to_bson(&record.invitations).map_err(|e| Abort::Failed(e.into()))?,
            "api_keys": to_bson(&record.api_keys).map_err(|e| Abort::Failed(e.into()))?,
            "webhooks": to_bson(&record.webhooks).map_err(|e| Abort::Failed(e.into()))?,
        }};
        let filter = doc! {"_id": &id, "version": expected};
        let written = timed(
            limit,
            rosters.update_one(filter, set).session(&mut *session),
        )
        .await?;
        if written.matched_count != 1 {
            return Err(Abort::Failed(SaveRosterError::Conflict));
        }
        let stored = before
            .record
            .clone()
            .into_domain(roster.organization_id)
            .map_err(|e| Abort::Failed(e.into()))?;
        self.append_events_in(session, &id, roster_events(&stored, roster))
            .await?;
        let joined = joining.map(|user| user.id.to_string());
        let was: Vec<&str> = before.record.user_ids().collect();
        let now: Vec<&str> = record.user_ids().collect();
        for added in now
            .iter()
            .filter(|u| !was.contains(u) && Some(**u) != joined.as_deref())
        {
            if !self.touch_user_in(session, added).await? {
                // Removed meanwhile: the roster would list nobody.
                return Err(Abort::Failed(SaveRosterError::Conflict));
            }
        }
        let departed: Vec<&str> = was.iter().copied().filter(|u| !now.contains(u)).collect();
        self.remove_unlisted_in(session, &id, &departed).await?;
        Ok(())
    }
}

impl MemberStore for MongoStore {
    async fn find_roster(
        &self,
        organization: &OrganizationId,
    ) -> Result<Option<Roster>, StoreError> {
        self.ensure_ready().await?;
        self.roster_doc(&organization.to_string())
            .await?
            .map(RosterDoc::into_domain)
            .transpose()
    }

    async fn memberships_of(&self, user: &UserId) -> Result<Vec<Membership>, StoreError> {
        self.ensure_ready().await?;
        let rosters: Vec<RosterDoc> = timed(self.op_timeout(), async {
            self.inner
                .rosters
                .find(doc! {"members.user_id": user.to_string()})
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await?;
        let mut found = Vec::with_capacity(rosters.len());
        for roster in rosters {
            let roster = roster.into_domain()?;
            if let Some(role) = roster.role_of(user) {
                found.push(Membership {
                    organization_id: roster.organization_id,
                    role,
                });
            }
        }
        Ok(found)
    }

    async fn save_roster(
        &self,
        roster: &Roster,
        joining: Option<&User>,
    ) -> Result<(), SaveRosterError> {
        self.ensure_ready().await?;
        // The email's holder may be a user left by an interrupted change of an earlier release.
        let taken = |e: &SaveRosterError| matches!(e, SaveRosterError::EmailTaken { .. });
        self.reclaiming(joining.map(|user| &user.email), taken, || {
            self.transaction(|mut session| async move {
                let outcome = self.write_roster(&mut session, roster, joining).await;
                (session, outcome)
            })
        })
        .await
    }

    async fn find_users(&self, ids: &[UserId]) -> Result<Vec<User>, StoreError> {
        self.ensure_ready().await?;
        let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
        let found: Vec<UserDoc> = timed(self.op_timeout(), async {
            self.inner
                .users
                .find(doc! {"_id": {"$in": ids}})
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await?;
        found.into_iter().map(UserDoc::into_domain).collect()
    }
}
