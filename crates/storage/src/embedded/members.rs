//! The member-store port on the embedded store: each call one redb transaction (see `rosters`).

use super::records::UserRecord;
use super::users;
use super::{db_err, rosters, EmbeddedStore};
use crate::roster::RosterRecord;
use orgsvc_domain::errors::{SaveRosterError, StoreError};
use orgsvc_domain::ports::MemberStore;
use orgsvc_domain::webhooks::roster_events;
use orgsvc_domain::{Membership, OrganizationId, Roster, User, UserId};

impl MemberStore for EmbeddedStore {
    async fn find_roster(
        &self,
        organization: &OrganizationId,
    ) -> Result<Option<Roster>, StoreError> {
        let id = organization.as_uuid().as_u128();
        self.run(move |db| {
            let txn = db.begin_read().map_err(db_err)?;
            rosters::read_roster(&txn, id)
        })
        .await
    }

    async fn memberships_of(&self, user: &UserId) -> Result<Vec<Membership>, StoreError> {
        let id = user.as_uuid().as_u128();
        self.run(move |db| {
            let txn = db.begin_read().map_err(db_err)?;
            rosters::memberships(&txn, id)
        })
        .await
    }

    async fn save_roster(
        &self,
        roster: &Roster,
        joining: Option<&User>,
    ) -> Result<(), SaveRosterError> {
        let organization = roster.organization_id.as_uuid().as_u128();
        let expected = roster.version;
        let record = RosterRecord::from_domain(roster, expected + 1);
        let joining = joining.map(UserRecord::from_domain);
        let after = roster.clone();
        self.run(move |db| {
            let txn = db.begin_write().map_err(db_err)?;
            let Some(before) = rosters::roster_record(&txn, organization)? else {
                return Err(SaveRosterError::Conflict);
            };
            if u64::try_from(before.version).ok() != Some(expected) {
                return Err(SaveRosterError::Conflict);
            }
            if let Some(user) = &joining {
                if !users::insert_user(&txn, user)? {
                    return Err(SaveRosterError::EmailTaken {
                        email: user.email()?,
                    });
                }
            }
            // A member it adds who is no user any more (removed since the caller read them)
            // would be listed as nobody.
            let joined = joining.as_ref().map(|user| user.id);
            for added in record.user_ids() {
                let id = rosters::uuid_of(added)?;
                if before.user_ids().any(|u| u == added) || Some(id) == joined {
                    continue;
                }
                if users::read_user(&txn, id)?.is_none() {
                    return Err(SaveRosterError::Conflict);
                }
            }
            let events = roster_events(&before.clone().into_domain(after.organization_id)?, &after);
            rosters::write_roster(&txn, organization, &record, Some(&before))?;
            super::outbox::append(&txn, organization, events)?;
            txn.commit().map_err(db_err)?;
            Ok(())
        })
        .await
    }

    async fn find_users(&self, ids: &[UserId]) -> Result<Vec<User>, StoreError> {
        let ids: Vec<u128> = ids.iter().map(|id| id.as_uuid().as_u128()).collect();
        self.run(move |db| {
            let txn = db.begin_read().map_err(db_err)?;
            let mut found = Vec::with_capacity(ids.len());
            for id in ids {
                found.extend(users::read_user(&txn, id)?);
            }
            Ok(found)
        })
        .await
    }
}
