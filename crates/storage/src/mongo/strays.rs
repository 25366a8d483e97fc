//! Strays: collections (and organizations' own databases) no organization points at, left by
//! a write that raced an operation and whose writer died before putting itself right. Found by
//! the recovery sweep, dropped when two consecutive sweeps find them.

use std::collections::BTreeSet;

use bson::{doc, Document as BsonDocument};
use futures_util::TryStreamExt as _;
use orgsvc_domain::errors::StoreError;
use orgsvc_domain::TenancyModel;

use super::errors::{timed, DbError};
use super::records::Location;
use super::tenancy::{own_database, OWN_DATABASE_COLLECTION};
use super::MongoStore;

/// Every place an organization record points at: its collection, and where an operation in
/// progress moves it from and to.
fn referenced_by(record: &BsonDocument) -> impl Iterator<Item = Location> + '_ {
    let location = |document: Option<&BsonDocument>| {
        document.and_then(|d| bson::from_document::<Location>(d.clone()).ok())
    };
    let intent = record.get_document("intent").ok();
    [
        location(record.get_document("connection").ok()),
        location(intent.and_then(|i| i.get_document("from").ok())),
        location(intent.and_then(|i| i.get_document("to").ok())),
    ]
    .into_iter()
    .flatten()
}

/// Which strays [`MongoStore::drop_if_stray`] drops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum StrayContents {
    /// Only an empty one: a write that recreated it took its document back out, but another
    /// such write may still have one there to take out.
    Empty,
    /// Whatever it holds: two sweeps found it unreferenced, so nothing in it was acknowledged.
    Any,
}

impl MongoStore {
    /// Drops `location` if no organization points at it and it holds what `contents` allows.
    /// Should an organization start using the name meanwhile, its collection is put back.
    /// Returns whether it dropped.
    pub(super) async fn drop_if_stray(
        &self,
        location: &Location,
        contents: StrayContents,
    ) -> Result<bool, StoreError> {
        // The shared collection is never a stray, whoever uses it.
        if location.model == TenancyModel::Shared || self.used_by_another(location, "").await? {
            return Ok(false);
        }
        let collection = self.collection(location)?;
        if contents == StrayContents::Empty {
            let held = timed(self.op_timeout(), collection.count_documents(doc! {})).await?;
            if held > 0 {
                return Ok(false);
            }
        }
        self.drop_collection(location).await?;
        if self.used_by_another(location, "").await? {
            // A create or rename took the name between the check and the drop.
            match self.create_tenant_collection(location).await {
                Ok(()) | Err(DbError::NamespaceExists) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(true)
    }

    /// Tenant collections and organizations' own databases that no organization points at
    /// (the shared collection is everybody's). Listed before the records are read: a
    /// collection is always created after the record that points at it.
    pub(super) async fn unreferenced_collections(&self) -> Result<BTreeSet<Location>, StoreError> {
        let limit = self.op_timeout();
        let database = &self.inner.settings.tenant_database;
        let mut found = BTreeSet::new();
        for (cluster, client) in &self.inner.clients {
            let names = timed(
                limit,
                client
                    .database(database)
                    .list_collection_names()
                    .filter(doc! {"name": {"$regex": "^org_"}}),
            )
            .await?;
            found.extend(names.into_iter().map(|collection| Location {
                cluster: cluster.clone(),
                database: database.clone(),
                collection,
                model: TenancyModel::Collection,
            }));
            let own = own_database(database, "");
            let databases = timed(limit, client.list_database_names()).await?;
            found.extend(
                databases
                    .into_iter()
                    .filter(|name| {
                        name.strip_prefix(&own).is_some_and(|id| {
                            id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
                        })
                    })
                    .map(|database| Location {
                        cluster: cluster.clone(),
                        database,
                        collection: OWN_DATABASE_COLLECTION.to_owned(),
                        model: TenancyModel::Database,
                    }),
            );
        }
        let records: Vec<BsonDocument> = timed(limit, async {
            self.inner
                .organizations
                .clone_with_type::<BsonDocument>()
                .find(doc! {})
                .projection(doc! {"connection": 1, "intent.from": 1, "intent.to": 1})
                .await?
                .try_collect()
                .await
        })
        .await?;
        for record in &records {
            for location in referenced_by(record) {
                found.remove(&location);
            }
        }
        Ok(found)
    }

    /// Drops collections found unreferenced by this sweep and by the one before it (so any
    /// write that raced an operation has long finished). What they hold was never acknowledged:
    /// an acknowledged write is always in a collection an organization points at.
    pub(super) async fn sweep_strays(&self) -> Result<(), StoreError> {
        let unreferenced = self.unreferenced_collections().await?;
        let before = std::mem::replace(
            &mut *self.inner.strays.lock().expect("not poisoned"),
            unreferenced.clone(),
        );
        for location in unreferenced.intersection(&before) {
            if self.drop_if_stray(location, StrayContents::Any).await? {
                tracing::warn!(
                    cluster = %location.cluster,
                    collection = %location.collection,
                    "dropped a collection no organization points at"
                );
            }
        }
        Ok(())
    }
}
