//! Documents in tenant collections.

use bson::{doc, Document as BsonDocument};
use futures_util::TryStreamExt as _;
use mongodb::Collection;
use orgsvc_domain::errors::{DocumentError, StoreError};
use orgsvc_domain::ports::TenantStore;
use orgsvc_domain::{Document, DocumentId, OrganizationId};
use tokio::sync::RwLockReadGuard;

use super::errors::timed;
use super::records::{document_from_bson, document_to_bson, IntentOp};
use super::MongoStore;

impl MongoStore {
    /// The organization's collection, with its lock held for reading so no lifecycle operation
    /// of this process moves it meanwhile. Writes are refused while another process moves it.
    async fn tenant(
        &self,
        organization: &OrganizationId,
        write: bool,
    ) -> Result<(RwLockReadGuard<'_, ()>, Collection<BsonDocument>), DocumentError> {
        self.ensure_ready().await?;
        let id = organization.to_string();
        for _ in 0..2 {
            let guard = self.lock(&id).read().await;
            let record = timed(
                self.op_timeout(),
                self.inner.organizations.find_one(doc! {"_id": &id}),
            )
            .await
            .map_err(StoreError::from)?
            .ok_or(DocumentError::OrganizationNotFound)?;
            match &record.intent {
                None => {}
                Some(intent) if intent.lease_until < bson::DateTime::now() => {
                    drop(guard);
                    self.recover(record).await?;
                    continue;
                }
                Some(intent) if matches!(intent.op, IntentOp::Create | IntentOp::Delete) => {
                    return Err(DocumentError::OrganizationNotFound)
                }
                Some(_) if write => {
                    return Err(StoreError::Unavailable(anyhow::anyhow!(
                        "the organization's collection is being moved; retry shortly"
                    ))
                    .into())
                }
                // A rename in place moves the data with one renameCollection, at an instant
                // the intent does not record: the recorded location may already be empty, and
                // reading it would answer "not found" for documents that exist. (Copies keep
                // the source complete until the switch, so reads go on during those.)
                Some(intent) if self.renames_in_place(intent) => {
                    return Err(StoreError::Unavailable(anyhow::anyhow!(
                        "the organization is being renamed; retry shortly"
                    ))
                    .into())
                }
                Some(_) => {}
            }
            let collection = self
                .collection(&record.connection)
                .map_err(StoreError::from)?;
            return Ok((guard, collection));
        }
        Err(
            StoreError::Unavailable(anyhow::anyhow!("the organization is busy; retry shortly"))
                .into(),
        )
    }
}

impl TenantStore for MongoStore {
    async fn insert_document(
        &self,
        organization: &OrganizationId,
        document: &Document,
    ) -> Result<(), DocumentError> {
        let (_guard, collection) = self.tenant(organization, true).await?;
        let stored = document_to_bson(document).map_err(StoreError::from)?;
        timed(self.op_timeout(), collection.insert_one(stored))
            .await
            .map_err(StoreError::from)?;
        Ok(())
    }

    async fn get_document(
        &self,
        organization: &OrganizationId,
        id: &DocumentId,
    ) -> Result<Option<Document>, DocumentError> {
        let (_guard, collection) = self.tenant(organization, false).await?;
        let found = timed(
            self.op_timeout(),
            collection.find_one(doc! {"_id": id.to_string()}),
        )
        .await
        .map_err(StoreError::from)?;
        Ok(found.map(document_from_bson).transpose()?)
    }

    async fn list_documents(
        &self,
        organization: &OrganizationId,
        after: Option<&DocumentId>,
        limit: usize,
    ) -> Result<Vec<Document>, DocumentError> {
        let (_guard, collection) = self.tenant(organization, false).await?;
        let filter = after.map_or_else(BsonDocument::new, |a| doc! {"_id": {"$gt": a.to_string()}});
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let found: Vec<BsonDocument> = timed(self.op_timeout(), async {
            collection
                .find(filter)
                .sort(doc! {"_id": 1})
                .limit(limit)
                .await?
                .try_collect()
                .await
        })
        .await
        .map_err(StoreError::from)?;
        Ok(found
            .into_iter()
            .map(document_from_bson)
            .collect::<Result<_, _>>()?)
    }

    async fn replace_document(
        &self,
        organization: &OrganizationId,
        document: &Document,
    ) -> Result<(), DocumentError> {
        let (_guard, collection) = self.tenant(organization, true).await?;
        let stored = document_to_bson(document).map_err(StoreError::from)?;
        let result = timed(
            self.op_timeout(),
            collection.replace_one(doc! {"_id": document.id.to_string()}, stored),
        )
        .await
        .map_err(StoreError::from)?;
        if result.matched_count == 0 {
            return Err(DocumentError::NotFound);
        }
        Ok(())
    }

    async fn delete_document(
        &self,
        organization: &OrganizationId,
        id: &DocumentId,
    ) -> Result<(), DocumentError> {
        let (_guard, collection) = self.tenant(organization, true).await?;
        let result = timed(
            self.op_timeout(),
            collection.delete_one(doc! {"_id": id.to_string()}),
        )
        .await
        .map_err(StoreError::from)?;
        if result.deleted_count == 0 {
            return Err(DocumentError::NotFound);
        }
        Ok(())
    }
}
