//! The three tenancy models, and the one place that knows how they differ:
//!
//! | model | where an organization's documents are | a rename | a delete |
//! |---|---|---|---|
//! | `collection` | `<tenant_database>.org_<slug>` | one `renameCollection` | drop |
//! | `database` | `<tenant_database>_<id>.documents` | metadata only | drop |
//! | `shared` | `<tenant_database>.tenant_documents`, each `{_id, org_id, doc}` | metadata only | batched `deleteMany` |
//!
//! Everything that touches tenant documents goes through a [`TenantView`]: its filters carry
//! the organization's id wherever the collection is shared, and what it stores is tagged with
//! it. Shared documents keep the fields under `doc` so that no field a client chooses can
//! collide with the tag.

use bson::{doc, Bson, Document as BsonDocument};
use futures_util::TryStreamExt as _;
use mongodb::options::IndexOptions;
use mongodb::{Collection, IndexModel};
use orgsvc_domain::errors::StoreError;
use orgsvc_domain::{OrganizationId, TenancyModel};

use super::errors::{timed, DbError};
use super::records::Location;
use super::MongoStore;

/// The collection all `shared` organizations of a cluster keep their documents in.
pub const SHARED_COLLECTION: &str = "tenant_documents";
/// The collection in a `database`-model organization's own database.
pub const OWN_DATABASE_COLLECTION: &str = "documents";
/// The tag on every shared document, and the first key of the shared collection's index.
const ORGANIZATION_FIELD: &str = "org_id";
const BODY_FIELD: &str = "doc";

/// The name of `organization`'s own database: the tenant database's name and its id (which,
/// unlike its name, never changes: a rename moves nothing).
pub fn own_database(tenant_database: &str, organization: &str) -> String {
    format!("{tenant_database}_{}", organization.replace('-', ""))
}

/// Where a rename puts the documents: a collection of its own is renamed with the slug; a
/// database of its own and the shared collection stay where they are.
pub fn renamed(from: &Location, new_collection: &str) -> Location {
    match from.model {
        TenancyModel::Collection => Location {
            collection: new_collection.to_owned(),
            ..from.clone()
        },
        TenancyModel::Database | TenancyModel::Shared => from.clone(),
    }
}

/// A tenant collection as one organization sees it.
#[derive(Clone, Debug)]
pub struct TenantView {
    pub collection: Collection<BsonDocument>,
    shared: bool,
    organization: String,
}

impl TenantView {
    /// `filter`, restricted to this organization's documents.
    pub fn filter(&self, mut filter: BsonDocument) -> BsonDocument {
        if self.shared {
            filter.insert(ORGANIZATION_FIELD, &self.organization);
        }
        filter
    }

    /// A document (`_id` and fields) as this collection stores it.
    pub fn store(&self, mut document: BsonDocument) -> BsonDocument {
        if !self.shared {
            return document;
        }
        let id = document.remove("_id").unwrap_or(Bson::Null);
        doc! {"_id": id, ORGANIZATION_FIELD: &self.organization, BODY_FIELD: document}
    }

    /// Whether another organization holds the document `id` here (only possible where the
    /// collection is shared; a document that is gone, or moving, counts as nobody's).
    pub async fn held_by_another(&self, id: &str) -> mongodb::error::Result<bool> {
        if !self.shared {
            return Ok(false);
        }
        let holder = self
            .collection
            .find_one(doc! {"_id": id})
            .projection(doc! {ORGANIZATION_FIELD: 1})
            .await?;
        Ok(holder.is_some_and(|h| h.get_str(ORGANIZATION_FIELD) != Ok(self.organization.as_str())))
    }

    /// What [`Self::store`] stored, as a document again.
    pub fn load(&self, mut stored: BsonDocument) -> BsonDocument {
        if !self.shared {
            return stored;
        }
        let mut document = match stored.remove(BODY_FIELD) {
            Some(Bson::Document(body)) => body,
            _ => BsonDocument::new(),
        };
        if let Some(id) = stored.remove("_id") {
            document.insert("_id", id);
        }
        document
    }
}

impl MongoStore {
    /// Where a new organization's documents go, on `cluster` under `model`.
    pub(super) fn new_location(
        &self,
        organization: &OrganizationId,
        collection: &str,
        cluster: &str,
        model: TenancyModel,
    ) -> Location {
        let tenants = &self.inner.settings.tenant_database;
        let (database, collection) = match model {
            TenancyModel::Collection => (tenants.clone(), collection.to_owned()),
            TenancyModel::Database => (
                own_database(tenants, &organization.to_string()),
                OWN_DATABASE_COLLECTION.to_owned(),
            ),
            TenancyModel::Shared => (tenants.clone(), SHARED_COLLECTION.to_owned()),
        };
        Location {
            cluster: cluster.to_owned(),
            database,
            collection,
            model,
        }
    }

    pub(super) fn view(
        &self,
        location: &Location,
        organization: &str,
    ) -> Result<TenantView, DbError> {
        Ok(TenantView {
            collection: self.collection(location)?,
            shared: location.model == TenancyModel::Shared,
            organization: organization.to_owned(),
        })
    }

    /// Makes `location` ready for `organization`'s documents. A collection of its own is
    /// created (`Ok(false)`: another organization holds it); the shared one is created once,
    /// with its `(org_id, _id)` index, and shared.
    pub(super) async fn prepare_tenant(
        &self,
        location: &Location,
        organization: &str,
    ) -> Result<bool, StoreError> {
        match location.model {
            TenancyModel::Shared => {
                self.ensure_shared(location).await?;
                Ok(true)
            }
            TenancyModel::Collection | TenancyModel::Database => {
                self.create_owned_collection(location, organization).await
            }
        }
    }

    /// Creates the shared collection and its index, once per process and place.
    pub(super) async fn ensure_shared(&self, location: &Location) -> Result<(), StoreError> {
        let key = (location.cluster.clone(), location.database.clone());
        if self
            .inner
            .shared_ready
            .lock()
            .expect("not poisoned")
            .contains(&key)
        {
            return Ok(());
        }
        // No createCollection first: createIndexes makes the collection with its index in one
        // step, which DocumentDB does at once (an index added to an existing collection is
        // built in the background, seconds later; see `indexes`).
        let index = IndexModel::builder()
            .keys(doc! {ORGANIZATION_FIELD: 1, "_id": 1})
            .options(IndexOptions::builder().name("org_id_id".to_owned()).build())
            .build();
        self.build(&self.collection(location)?, [index]).await?;
        self.inner
            .shared_ready
            .lock()
            .expect("not poisoned")
            .insert(key);
        Ok(())
    }

    /// Removes all of `organization`'s documents at `location`: its own collection is
    /// dropped; from the shared one its documents are deleted in batches (so no single
    /// command runs for long), which a retry after a crash simply continues.
    pub(super) async fn clear_tenant(
        &self,
        location: &Location,
        organization: &str,
    ) -> Result<(), StoreError> {
        if location.model != TenancyModel::Shared {
            return self.drop_collection(location).await;
        }
        let view = self.view(location, organization)?;
        let batch = i64::try_from(self.inner.settings.copy_batch_size.max(1)).unwrap_or(1_000);
        loop {
            let ids: Vec<BsonDocument> = timed(self.op_timeout(), async {
                view.collection
                    .find(view.filter(doc! {}))
                    .projection(doc! {"_id": 1})
                    .limit(batch)
                    .await?
                    .try_collect()
                    .await
            })
            .await?;
            if ids.is_empty() {
                return Ok(());
            }
            let ids: Vec<Bson> = ids
                .into_iter()
                .filter_map(|d| d.get("_id").cloned())
                .collect();
            timed(
                self.op_timeout(),
                view.collection
                    .delete_many(view.filter(doc! {"_id": {"$in": ids}})),
            )
            .await?;
        }
    }
}
