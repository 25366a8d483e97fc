//! Strays: collections (and organizations' own databases) no organization points at, left by
//! a write that raced an operation and whose writer died before putting itself right. Dropped
//! when two consecutive stray sweeps find them.
//!
//! Finding them reads every organization's location, so one instance at a time does it, every
//! `stray_sweep_seconds`: the turn and what the last sweep found are one document in the
//! master's `sweeps` (`_id: "strays"`), taken by a conditional update when it is due.

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

    /// When it is this sweep's turn: drops collections found unreferenced by it and by the
    /// sweep before it (whichever instance ran that one, at least `stray_sweep_seconds` ago, so
    /// any write that raced an operation has long finished). What they hold was never
    /// acknowledged: an acknowledged write is always in a collection an organization points at.
    /// Returns whether it was this sweep's turn.
    pub(super) async fn sweep_strays(&self) -> Result<bool, StoreError> {
        let Some(before) = self.take_stray_turn().await? else {
            return Ok(false);
        };
        let unreferenced = self.unreferenced_collections().await?;
        for location in unreferenced.intersection(&before) {
            if self.drop_if_stray(location, StrayContents::Any).await? {
                tracing::warn!(
                    cluster = %location.cluster,
                    collection = %location.collection,
                    "dropped a collection no organization points at"
                );
            }
        }
        // Kept for the next sweep; strays are rare, a bound keeps the document small anyway.
        let found: Vec<bson::Bson> = unreferenced
            .iter()
            .take(MAX_CANDIDATES)
            .filter_map(|l| bson::to_bson(l).ok())
            .collect();
        timed(
            self.op_timeout(),
            self.inner
                .sweeps
                .update_one(doc! {"_id": STRAYS}, doc! {"$set": {"found": found}}),
        )
        .await?;
        Ok(true)
    }

    /// Takes the stray sweep's turn if it is due, pushing the next one an interval ahead; the
    /// collections the previous sweep found, if so.
    async fn take_stray_turn(&self) -> Result<Option<BTreeSet<Location>>, StoreError> {
        let now = bson::DateTime::now();
        let interval =
            i64::try_from(self.inner.settings.stray_sweep_seconds).unwrap_or(i64::MAX / 2000);
        let next =
            bson::DateTime::from_millis(now.timestamp_millis().saturating_add(interval * 1000));
        let taken = timed(
            self.op_timeout(),
            self.inner
                .sweeps
                .find_one_and_update(
                    doc! {"_id": STRAYS, "due_at": {"$lte": now}},
                    doc! {"$set": {"due_at": next, "by": &self.inner.owner}},
                )
                .upsert(true)
                .return_document(mongodb::options::ReturnDocument::Before),
        )
        .await;
        let previous = match taken {
            Ok(previous) => previous,
            // Not due: the upsert met the existing document's `_id`.
            Err(DbError::Duplicate) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let found = previous
            .as_ref()
            .and_then(|p| p.get_array("found").ok())
            .map(|found| {
                found
                    .iter()
                    .filter_map(|l| bson::from_bson::<Location>(l.clone()).ok())
                    .collect()
            })
            .unwrap_or_default();
        Ok(Some(found))
    }
}

/// The `_id` of the stray sweep's document in `sweeps`.
const STRAYS: &str = "strays";

/// Unreferenced collections remembered from one sweep to the next, at most.
const MAX_CANDIDATES: usize = 1_000;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MongoSettings;

    /// Two instances on one master: one sweeps per turn, the second sweep (by the other one)
    /// drops what the first found, and a collection an organization points at stays.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn strays_go_at_the_second_sweep_whichever_instance_runs_it() {
        let Some(uri) = orgsvc_testkit::mongodb_or_skip("stray sweep") else {
            return;
        };
        let mut settings = MongoSettings::for_uri(uri);
        settings.master_database = orgsvc_testkit::unique_name("master");
        settings.tenant_database = orgsvc_testkit::unique_name("tenants");
        settings.recovery_interval_seconds = 0;
        settings.stray_sweep_seconds = 3_600;
        let (one, two) = (
            MongoStore::connect(settings.clone()).await.unwrap(),
            MongoStore::connect(settings.clone()).await.unwrap(),
        );
        let tenants =
            one.inner.clients[crate::mongo::DEFAULT_CLUSTER].database(&settings.tenant_database);
        for name in ["org_stray", "org_kept"] {
            tenants
                .collection::<BsonDocument>(name)
                .insert_one(doc! {"_id": "x"})
                .await
                .unwrap();
        }
        let kept = Location {
            cluster: "default".into(),
            database: settings.tenant_database.clone(),
            collection: "org_kept".into(),
            model: TenancyModel::Collection,
        };
        one.inner
            .organizations
            .clone_with_type::<BsonDocument>()
            .insert_one(
                doc! {"_id": "k", "slug": "kept", "connection": bson::to_bson(&kept).unwrap()},
            )
            .await
            .unwrap();
        let names = || async { tenants.list_collection_names().await.unwrap() };

        assert!(one.sweep_strays().await.unwrap(), "the first turn is due");
        assert!(
            !two.sweep_strays().await.unwrap(),
            "not due again for an interval"
        );
        assert!(!one.sweep_strays().await.unwrap());
        assert!(
            names().await.contains(&"org_stray".to_owned()),
            "one sweep drops nothing"
        );

        // The interval is over (rather than waiting an hour).
        one.inner
            .sweeps
            .update_one(
                doc! {"_id": STRAYS},
                doc! {"$set": {"due_at": bson::DateTime::MIN}},
            )
            .await
            .unwrap();
        assert!(two.sweep_strays().await.unwrap());
        let left = names().await;
        assert!(!left.contains(&"org_stray".to_owned()), "{left:?}");
        assert!(left.contains(&"org_kept".to_owned()), "{left:?}");
        for database in [&settings.master_database, &settings.tenant_database] {
            let _ = one.inner.clients[crate::mongo::DEFAULT_CLUSTER]
                .database(database)
                .drop()
                .await;
        }
    }
}
