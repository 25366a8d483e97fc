//! Documents in tenant collections, safe while other processes rename, move and delete.
//!
//! A request reads the organization's record (location and epoch), then works on the
//! collection. An operation may begin in between, on any process: a write could then land in a
//! collection that has just been renamed away, dropped or copied from, and even recreate it. So
//! every write checks afterwards that the epoch has not moved. If it has, the write waits until
//! the operation is over, does its work again where the documents now are, and removes
//! whatever it left behind in the old place. A write is acknowledged only once its document is
//! where the metadata says; reads that found nothing check the same way before answering.

use std::future::Future;
use std::time::{Duration, Instant};

use bson::{doc, Document as BsonDocument};
use futures_util::TryStreamExt as _;
use orgsvc_domain::errors::{DocumentError, StoreError};
use orgsvc_domain::ports::TenantStore;
use orgsvc_domain::{Document, DocumentId, OrganizationId};

use super::errors::{absent_as, timed, DbError};
use super::machine::{tenant_access, Access, Purpose};
use super::records::{document_from_bson, document_to_bson, Location};
use super::strays::StrayContents;
use super::tenancy::TenantView;
use super::MongoStore;

/// Where a tenant request goes, the epoch of the record that said so, and the export whose
/// snapshot a write must keep (see [`super::snapshots`]).
pub(super) struct Target {
    pub(super) location: Location,
    pub(super) view: TenantView,
    epoch: i64,
    export: Option<String>,
}

impl MongoStore {
    /// How long a request waits for an operation that makes the data unavailable (a
    /// `renameCollection` about to happen, a copy under way for writes) before answering 503.
    pub(super) fn access_wait(&self) -> Duration {
        self.op_timeout().min(Duration::from_secs(2))
    }

    /// How long a write that raced an operation waits for it to end: a lease (after which
    /// another process takes the operation over) and one more operation.
    fn settle_wait(&self) -> Duration {
        Duration::from_secs(self.inner.settings.intent_lease_seconds) + self.op_timeout()
    }

    /// The organization's collection for a read or a write, per [`tenant_access`].
    pub(super) async fn target(
        &self,
        organization: &OrganizationId,
        purpose: Purpose,
        wait: Duration,
    ) -> Result<Target, DocumentError> {
        self.ensure_ready().await?;
        let id = organization.to_string();
        let deadline = Instant::now() + wait;
        loop {
            let record = self
                .current(&id)
                .await?
                .ok_or(DocumentError::OrganizationNotFound)?;
            match tenant_access(&record, purpose, self.inner.settings.rename) {
                Access::At(location) => {
                    return Ok(Target {
                        view: self.view(location, &id).map_err(StoreError::from)?,
                        location: location.clone(),
                        epoch: record.epoch,
                        export: record.export.as_ref().map(|mark| mark.id.clone()),
                    })
                }
                Access::Absent => return Err(DocumentError::OrganizationNotFound),
                Access::Wait if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Access::Wait => {
                    return Err(StoreError::Unavailable(anyhow::anyhow!(
                        "the organization's documents are being moved; retry shortly"
                    ))
                    .into())
                }
            }
        }
    }

    /// Whether no operation began on the organization since `target` was read: its record's
    /// epoch, by `_id` with nothing else projected (this runs after every tenant write).
    pub(super) async fn unchanged(
        &self,
        organization: &OrganizationId,
        target: &Target,
    ) -> Result<bool, StoreError> {
        let record = timed(
            self.op_timeout(),
            self.inner
                .organizations
                .clone_with_type::<BsonDocument>()
                .find_one(doc! {"_id": organization.to_string()})
                .projection(doc! {"epoch": 1}),
        )
        .await?;
        // Records of earlier versions have no epoch: 0.
        let epoch = |r: &BsonDocument| {
            r.get_i64("epoch")
                .or_else(|_| r.get_i32("epoch").map(i64::from))
                .unwrap_or(0)
        };
        Ok(record.is_some_and(|r| epoch(&r) == target.epoch))
    }

    /// Runs `write` on the organization's collection until it has run where the documents are
    /// with no operation beginning meanwhile; returns each run's outcome, the last one from
    /// there. A copy of `document` left in a collection the documents have left is removed.
    async fn write_checked<T, F, Fut>(
        &self,
        organization: &OrganizationId,
        document: &DocumentId,
        write: F,
    ) -> Result<Vec<T>, DocumentError>
    where
        F: Fn(TenantView) -> Fut,
        Fut: Future<Output = Result<T, DbError>>,
    {
        let mut target = self
            .target(organization, Purpose::Write, self.access_wait())
            .await?;
        let mut outcomes = Vec::new();
        for _ in 0..4 {
            if let Some(export) = &target.export {
                self.keep_for_export(export, &target.view, document).await?;
            }
            match write(target.view.clone()).await {
                Ok(outcome) => {
                    outcomes.push(outcome);
                    if self.unchanged(organization, &target).await? {
                        return Ok(outcomes);
                    }
                }
                // The collection went away under the write (a rename or move): where is it now?
                Err(DbError::NamespaceNotFound) => {}
                Err(e) => return Err(StoreError::from(e).into()),
            }
            tracing::info!(organization = %organization, "a write raced an operation; redoing it where the documents are");
            let earlier = target.location;
            target = match self
                .target(organization, Purpose::Write, self.settle_wait())
                .await
            {
                Ok(next) => next,
                Err(DocumentError::OrganizationNotFound) => {
                    self.remove_left_behind(&earlier, organization, document)
                        .await?;
                    return Err(DocumentError::OrganizationNotFound);
                }
                Err(e) => return Err(e),
            };
            if target.location != earlier {
                self.remove_left_behind(&earlier, organization, document)
                    .await?;
            }
        }
        Err(StoreError::Unavailable(anyhow::anyhow!(
            "the organization keeps changing under this write; retry shortly"
        ))
        .into())
    }

    /// Removes `document` from a collection the organization's documents have left, and the
    /// collection too if that write recreated it and nobody else uses it.
    async fn remove_left_behind(
        &self,
        location: &Location,
        organization: &OrganizationId,
        document: &DocumentId,
    ) -> Result<(), StoreError> {
        let view = self.view(location, &organization.to_string())?;
        let removed = timed(
            self.op_timeout(),
            view.collection
                .delete_one(view.filter(doc! {"_id": document.to_string()})),
        )
        .await;
        match removed {
            Ok(_) | Err(DbError::NamespaceNotFound) => {}
            Err(e) => return Err(e.into()),
        }
        self.drop_if_stray(location, StrayContents::Empty).await?;
        Ok(())
    }
}

impl TenantStore for MongoStore {
    async fn insert_document(
        &self,
        organization: &OrganizationId,
        document: &Document,
    ) -> Result<(), DocumentError> {
        let stored = document_to_bson(document).map_err(StoreError::from)?;
        self.write_checked(organization, &document.id, |view| {
            let stored = view.store(stored.clone());
            async move {
                match timed(self.op_timeout(), view.collection.insert_one(stored)).await {
                    Ok(_) => Ok(()),
                    // Again after a race: already there is fine, unless another organization
                    // holds the id in the shared collection.
                    Err(DbError::Duplicate) => {
                        let id = document.id.to_string();
                        if timed(self.op_timeout(), view.held_by_another(&id)).await? {
                            return Err(DbError::Other(anyhow::anyhow!(
                                "document id {} is taken in the shared collection",
                                document.id
                            )));
                        }
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            }
        })
        .await?;
        Ok(())
    }

    async fn get_document(
        &self,
        organization: &OrganizationId,
        id: &DocumentId,
    ) -> Result<Option<Document>, DocumentError> {
        for _ in 0..2 {
            let target = self
                .target(organization, Purpose::Read, self.access_wait())
                .await?;
            let view = &target.view;
            let found = timed(
                self.op_timeout(),
                view.collection
                    .find_one(view.filter(doc! {"_id": id.to_string()})),
            )
            .await;
            let found = absent_as(found, None).map_err(StoreError::from)?;
            // Found: it exists. Not found: unless the documents moved meanwhile.
            if found.is_some() || self.unchanged(organization, &target).await? {
                return Ok(found
                    .map(|stored| document_from_bson(view.load(stored)))
                    .transpose()?);
            }
        }
        Err(StoreError::Unavailable(anyhow::anyhow!("the organization is changing; retry")).into())
    }

    async fn list_documents(
        &self,
        organization: &OrganizationId,
        after: Option<&DocumentId>,
        limit: usize,
    ) -> Result<Vec<Document>, DocumentError> {
        let filter = after.map_or_else(BsonDocument::new, |a| doc! {"_id": {"$gt": a.to_string()}});
        for _ in 0..2 {
            let target = self
                .target(organization, Purpose::Read, self.access_wait())
                .await?;
            let view = &target.view;
            let found = timed(self.op_timeout(), async {
                view.collection
                    .find(view.filter(filter.clone()))
                    .sort(doc! {"_id": 1})
                    .limit(i64::try_from(limit).unwrap_or(i64::MAX))
                    .await?
                    .try_collect()
                    .await
            })
            .await;
            let found: Vec<BsonDocument> =
                absent_as(found, Vec::new()).map_err(StoreError::from)?;
            // A full page comes from a collection holding the documents; a short one may come
            // from one they have just left.
            if found.len() >= limit || self.unchanged(organization, &target).await? {
                return Ok(found
                    .into_iter()
                    .map(|stored| document_from_bson(view.load(stored)))
                    .collect::<Result<_, _>>()?);
            }
        }
        Err(StoreError::Unavailable(anyhow::anyhow!("the organization is changing; retry")).into())
    }

    async fn replace_document(
        &self,
        organization: &OrganizationId,
        document: &Document,
    ) -> Result<(), DocumentError> {
        let stored = document_to_bson(document).map_err(StoreError::from)?;
        let matched = self
            .write_checked(organization, &document.id, |view| {
                let stored = view.store(stored.clone());
                async move {
                    let filter = view.filter(doc! {"_id": document.id.to_string()});
                    timed(
                        self.op_timeout(),
                        view.collection.replace_one(filter, stored),
                    )
                    .await
                    .map(|r| r.matched_count)
                }
            })
            .await?;
        // What counts is where the documents are: the last run.
        if matched.last().copied().unwrap_or(0) == 0 {
            return Err(DocumentError::NotFound);
        }
        Ok(())
    }

    async fn delete_document(
        &self,
        organization: &OrganizationId,
        id: &DocumentId,
    ) -> Result<(), DocumentError> {
        let deleted = self
            .write_checked(organization, id, |view| async move {
                timed(
                    self.op_timeout(),
                    view.collection
                        .delete_one(view.filter(doc! {"_id": id.to_string()})),
                )
                .await
                .map(|r| r.deleted_count)
            })
            .await?;
        // Deleted by any run: it existed when this request began.
        if deleted.iter().all(|&n| n == 0) {
            return Err(DocumentError::NotFound);
        }
        Ok(())
    }
}
