//! The metadata of a create as one transaction: the new organization's roster, its founder
//! (inserted, or an existing user checked and touched) and the end of the create's intent. So
//! a create has all of them or none: a crash or a failure before the commit leaves only the
//! record with its intent and the collection, which undoing the create removes; no roster or
//! user outlives it.

use bson::doc;
use mongodb::ClientSession;
use orgsvc_domain::errors::{CreateOrganizationError, StoreError};
use orgsvc_domain::ports::Founder;
use orgsvc_domain::webhooks::NewEvent;
use orgsvc_domain::{Organization, Roster};

use super::errors::timed;
use super::executor::LostClaim;
use super::members::RosterDoc;
use super::transaction::Abort;
use super::MongoStore;
use crate::roster::RosterRecord;

impl MongoStore {
    /// Writes the founding metadata of `organization` (recorded as `record_id` with this
    /// process's create intent), reclaiming the founder's email once from a user no roster
    /// lists (see `members`).
    pub(super) async fn found(
        &self,
        organization: &Organization,
        founder: Founder<'_>,
        record_id: &str,
    ) -> Result<(), CreateOrganizationError> {
        let email = match founder {
            Founder::New(admin) => Some(&admin.email),
            Founder::Existing(_) => None,
        };
        let taken =
            |e: &CreateOrganizationError| matches!(e, CreateOrganizationError::EmailTaken { .. });
        self.reclaiming(email, taken, || {
            self.transaction(|mut session| async move {
                let outcome = self
                    .write_founding(&mut session, organization, founder, record_id)
                    .await;
                (session, outcome)
            })
        })
        .await
    }

    async fn write_founding(
        &self,
        session: &mut ClientSession,
        organization: &Organization,
        founder: Founder<'_>,
        record_id: &str,
    ) -> Result<(), Abort<CreateOrganizationError>> {
        let limit = self.op_timeout();
        let roster = Roster::founded(organization.id, *founder.id(), organization.created_at);
        let roster = RosterDoc {
            id: organization.id.to_string(),
            record: RosterRecord::from_domain(&roster, roster.version),
        };
        let insert = self.inner.rosters.insert_one(&roster);
        timed(limit, insert.session(&mut *session)).await?;
        match founder {
            Founder::New(admin) => {
                if !self.insert_user_in(session, admin).await? {
                    let email = admin.email.clone();
                    return Err(Abort::Failed(CreateOrganizationError::EmailTaken { email }));
                }
            }
            // Touched, so the removal of this user's last membership meanwhile conflicts with
            // the create instead of leaving its roster listing nobody.
            Founder::Existing(id) => {
                if !self.touch_user_in(session, &id.to_string()).await? {
                    return Err(Abort::Failed(CreateOrganizationError::FounderGone));
                }
            }
        }
        let created = NewEvent::organization_created(organization);
        self.append_events_in(session, &organization.id.to_string(), vec![created])
            .await?;
        let end = self.inner.organizations.update_one(
            doc! {"_id": record_id, "intent.owner": &self.inner.owner},
            doc! {"$unset": {"intent": ""}},
        );
        if timed(limit, end.session(&mut *session))
            .await?
            .matched_count
            != 1
        {
            // Recovery took the create over (and undoes it): nothing of this may stay.
            let lost = StoreError::Unavailable(LostClaim(record_id.to_owned()).into());
            return Err(Abort::Failed(lost.into()));
        }
        Ok(())
    }
}
