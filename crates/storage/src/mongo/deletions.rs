//! The record of what a delete removed. A delete's intent carries what its receipt needs
//! (`deletion` on the organization's record, written with the intent): the roster's tally is
//! added in the transaction that removes the roster, the document count before the collection
//! is dropped, and the last step removes the organization's record and keeps the deletion's
//! (`deletions`, expired by a TTL index on `expires_at`) in one transaction. A delete that a
//! crash interrupts is finished by recovery, record included.

use bson::{doc, Document as BsonDocument};
use mongodb::ClientSession;
use orgsvc_domain::deletion::{DeletionRecord, DeletionRequest, Removed, RosterTally};
use orgsvc_domain::errors::StoreError;
use orgsvc_domain::{DeletionReceiptId, OrganizationId, UserId};
use serde::{Deserialize, Serialize};

use super::errors::{timed, DbError};
use super::executor::{to_bson, LostClaim};
use super::records::OrganizationDoc;
use super::transaction::Abort;
use super::MongoStore;
use crate::deletion::DeletionFields;

/// What a delete in progress has gathered for its receipt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeletionProgress {
    pub receipt_id: String,
    pub requested_by: String,
    pub requested_at: bson::DateTime,
    pub retention_seconds: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roster: Option<RosterCounts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub documents: Option<u64>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterCounts {
    pub members: u64,
    pub invitations: u64,
    pub api_keys: u64,
    pub webhooks: u64,
    /// Users who belonged nowhere else, removed with the roster.
    pub users: u64,
}

/// A kept deletion record.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DeletionDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub record: DeletionFields,
    /// The TTL index's field.
    pub expires_at: bson::DateTime,
}

impl DeletionProgress {
    pub fn new(request: &DeletionRequest) -> Self {
        Self {
            receipt_id: request.receipt_id.to_string(),
            requested_by: request.requested_by.to_string(),
            requested_at: bson::DateTime::from_chrono(request.requested_at),
            retention_seconds: request.retention.num_seconds(),
            roster: None,
            documents: None,
        }
    }

    /// The record, once the organization is gone at `now`.
    fn record(
        &self,
        organization: &OrganizationDoc,
        now: bson::DateTime,
    ) -> Result<DeletionRecord, StoreError> {
        let corrupt =
            |e: uuid::Error| StoreError::Unknown(anyhow::anyhow!("corrupt deletion: {e}"));
        let roster = self.roster.unwrap_or_default();
        let completed_at = now.to_chrono();
        Ok(DeletionRecord {
            id: self
                .receipt_id
                .parse::<DeletionReceiptId>()
                .map_err(corrupt)?,
            organization_id: organization.id.parse::<OrganizationId>().map_err(corrupt)?,
            organization_name: organization.name.clone(),
            requested_by: self.requested_by.parse::<UserId>().map_err(corrupt)?,
            requested_at: self.requested_at.to_chrono(),
            completed_at,
            removed: Removed {
                placement: organization.connection.placement(),
                collection: organization.connection.collection.clone(),
                documents: self.documents.unwrap_or(0),
                roster: RosterTally {
                    members: roster.members,
                    invitations: roster.invitations,
                    api_keys: roster.api_keys,
                    webhooks: roster.webhooks,
                },
                users: roster.users,
            },
            last_export_sha256: organization.last_export_sha256.clone(),
            expires_at: completed_at + chrono::Duration::seconds(self.retention_seconds),
        })
    }
}

impl MongoStore {
    /// Adds the roster's tally to the delete's progress, in `session`'s transaction (the one
    /// removing the roster), unless the organization is being deleted without a receipt (an
    /// intent an earlier version wrote).
    pub(super) async fn tally_roster_in(
        &self,
        session: &mut ClientSession,
        organization: &str,
        tally: RosterTally,
        users: u64,
    ) -> Result<(), DbError> {
        let counts = RosterCounts {
            members: tally.members,
            invitations: tally.invitations,
            api_keys: tally.api_keys,
            webhooks: tally.webhooks,
            users,
        };
        let update = self.inner.organizations.update_one(
            doc! {"_id": organization, "deletion": {"$exists": true}},
            doc! {"$set": {"deletion.roster": bson::to_bson(&counts).map_err(|e| DbError::Other(e.into()))?}},
        );
        timed(self.op_timeout(), update.session(session)).await?;
        Ok(())
    }

    /// Counts the documents a delete is about to drop, once: a repeat after a crash keeps the
    /// first count (the drop may have begun since).
    pub(super) async fn count_before_drop(
        &self,
        record: &OrganizationDoc,
    ) -> Result<(), StoreError> {
        let Some(progress) = &record.deletion else {
            return Ok(());
        };
        if progress.documents.is_some() {
            return Ok(());
        }
        let view = self.view(&record.connection, &record.id)?;
        let documents = timed(
            self.op_timeout(),
            view.collection.count_documents(view.filter(doc! {})),
        )
        .await
        .or_else(|e| match e {
            DbError::NamespaceNotFound => Ok(0),
            e => Err(e),
        })?;
        let set = doc! {"deletion.documents": to_bson(&documents)?};
        self.update_owned(&record.id, set, doc! {}).await
    }

    /// The delete's last step: the organization's record goes and the deletion's record is
    /// kept, in one transaction.
    pub(super) async fn finish_deletion(&self, id: &str) -> Result<(), StoreError> {
        let owner = self.inner.owner.clone();
        self.transaction(|mut session| {
            let owner = owner.clone();
            async move {
                let outcome = async {
                    let find = self
                        .inner
                        .organizations
                        .find_one(doc! {"_id": id, "intent.owner": &owner});
                    let Some(record) = timed(self.op_timeout(), find.session(&mut session)).await?
                    else {
                        return Err(Abort::Failed(StoreError::Unavailable(
                            LostClaim(id.to_owned()).into(),
                        )));
                    };
                    if let Some(progress) = &record.deletion {
                        let kept = progress
                            .record(&record, bson::DateTime::now())
                            .map_err(Abort::Failed)?;
                        let deletion = DeletionDoc {
                            id: kept.id.to_string(),
                            expires_at: bson::DateTime::from_chrono(kept.expires_at),
                            record: DeletionFields::from_domain(&kept),
                        };
                        let insert = self.inner.deletions.insert_one(&deletion);
                        timed(self.op_timeout(), insert.session(&mut session)).await?;
                    }
                    let remove = self
                        .inner
                        .organizations
                        .delete_one(doc! {"_id": id, "intent.owner": &owner});
                    timed(self.op_timeout(), remove.session(&mut session)).await?;
                    Ok(())
                }
                .await;
                (session, outcome)
            }
        })
        .await
    }

    pub(super) async fn read_deletion(
        &self,
        id: &DeletionReceiptId,
    ) -> Result<Option<DeletionRecord>, StoreError> {
        // The TTL monitor runs about once a minute: what it has not removed yet is expired too.
        let filter: BsonDocument =
            doc! {"_id": id.to_string(), "expires_at": {"$gt": bson::DateTime::now()}};
        let found = timed(self.op_timeout(), self.inner.deletions.find_one(filter)).await?;
        found.map(|d| d.record.into_domain()).transpose()
    }
}
