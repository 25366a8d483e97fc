//! Tenant collections: create, drop, rename, copy, and finding and removing strays (collections
//! no organization points at, left by a write that raced an operation and whose writer died).

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

use bson::{doc, Document as BsonDocument};
use futures_util::TryStreamExt as _;
use orgsvc_domain::errors::StoreError;
use orgsvc_domain::TenancyModel;

use super::errors::{timed, DbError};
use super::progress::RunningCopy;
use super::records::{Intent, Location, OrganizationDoc};
use super::tenancy::{own_database, OWN_DATABASE_COLLECTION};
use super::MongoStore;

/// Why moving a collection could not proceed.
#[derive(Debug)]
pub(super) enum MoveError {
    /// The target collection holds another organization's data (it is still moving away).
    TargetBusy,
    Store(StoreError),
}

impl<E: Into<StoreError>> From<E> for MoveError {
    fn from(error: E) -> Self {
        Self::Store(error.into())
    }
}

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

impl MongoStore {
    pub(super) async fn create_tenant_collection(
        &self,
        location: &Location,
    ) -> Result<(), DbError> {
        let database = self.database(location)?;
        let limit = self.op_timeout();
        if self.inner.validators.load(Ordering::Relaxed) {
            let schema = doc! {"$jsonSchema": {
                "bsonType": "object",
                "required": ["_id"],
                "properties": {"_id": {"bsonType": "string", "description": "a UUID assigned by orgsvc"}},
            }};
            match timed(
                limit,
                database
                    .create_collection(&location.collection)
                    .validator(schema),
            )
            .await
            {
                Ok(()) => return Ok(()),
                Err(DbError::Other(e) | DbError::NotImplemented(e)) => {
                    // FerretDB (and some hosted servers) have no schema validation.
                    tracing::info!(error = %e, "creating collections without a JSON schema validator");
                    self.inner.validators.store(false, Ordering::Relaxed);
                }
                Err(e) => return Err(e),
            }
        }
        timed(limit, database.create_collection(&location.collection)).await
    }

    /// Creates `location` for `owner`; a stray collection of that name (nobody else's) is
    /// replaced. `Ok(false)`: another organization has it.
    pub(super) async fn create_owned_collection(
        &self,
        location: &Location,
        owner: &str,
    ) -> Result<bool, StoreError> {
        match self.create_tenant_collection(location).await {
            Ok(()) => Ok(true),
            Err(DbError::NamespaceExists) => {
                if self.used_by_another(location, owner).await? {
                    return Ok(false);
                }
                tracing::warn!(collection = %location.collection, "replacing a stray collection");
                self.drop_collection(location).await?;
                match self.create_tenant_collection(location).await {
                    Ok(()) | Err(DbError::NamespaceExists) => Ok(true),
                    Err(e) => Err(e.into()),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Drops the collection; a database of its own goes with it (whole: an empty database
    /// lingers on some servers).
    pub(super) async fn drop_collection(&self, location: &Location) -> Result<(), StoreError> {
        let dropped = if location.model == TenancyModel::Database {
            timed(self.op_timeout(), self.database(location)?.drop()).await
        } else {
            timed(self.op_timeout(), self.collection(location)?.drop()).await
        };
        match dropped {
            Ok(()) | Err(DbError::NamespaceNotFound) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether an organization other than `except` keeps data at `location`, or is moving
    /// data from or to there.
    pub(super) async fn used_by_another(
        &self,
        location: &Location,
        except: &str,
    ) -> Result<bool, StoreError> {
        let at = |prefix: &str| {
            doc! {
                format!("{prefix}.cluster"): &location.cluster,
                format!("{prefix}.database"): &location.database,
                format!("{prefix}.collection"): &location.collection,
            }
        };
        let filter = doc! {
            "_id": {"$ne": except},
            "$or": [at("connection"), at("intent.to"), at("intent.from")],
        };
        let count = timed(
            self.op_timeout(),
            self.inner.organizations.count_documents(filter),
        )
        .await?;
        Ok(count > 0)
    }

    /// Drops `location` if no organization points at it and (unless `even_with_data`) it is
    /// empty. Should an organization start using the name meanwhile, its collection is put
    /// back. Returns whether it dropped.
    pub(super) async fn drop_if_stray(
        &self,
        location: &Location,
        even_with_data: bool,
    ) -> Result<bool, StoreError> {
        // The shared collection is never a stray, whoever uses it.
        if location.model == TenancyModel::Shared || self.used_by_another(location, "").await? {
            return Ok(false);
        }
        let collection = self.collection(location)?;
        if !even_with_data {
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
            if self.drop_if_stray(location, true).await? {
                tracing::warn!(
                    cluster = %location.cluster,
                    collection = %location.collection,
                    "dropped a collection no organization points at"
                );
            }
        }
        Ok(())
    }

    /// One server-side step within a database. Re-running after it happened is a no-op.
    pub(super) async fn rename_collection(
        &self,
        record: &OrganizationDoc,
        intent: &Intent,
        from: &Location,
        to: &Location,
    ) -> Result<(), MoveError> {
        let command = doc! {
            "renameCollection": format!("{}.{}", from.database, from.collection),
            "to": format!("{}.{}", to.database, to.collection),
        };
        let admin = self.database(&Location {
            database: "admin".into(),
            ..from.clone()
        })?;
        match timed(self.op_timeout(), admin.run_command(command)).await {
            Ok(_) => Ok(()),
            Err(DbError::NamespaceNotFound) => {
                // Renamed before a crash (or the source never got created): make sure the
                // target exists and carry on.
                match self.create_tenant_collection(to).await {
                    Ok(()) | Err(DbError::NamespaceExists) => Ok(()),
                    Err(e) => Err(e.into()),
                }
            }
            Err(DbError::NamespaceExists) => {
                if self.used_by_another(to, &record.id).await? {
                    return Err(MoveError::TargetBusy);
                }
                // A target left by an earlier attempt: merge into it by copying.
                self.copy_collection(record, intent, from, to).await
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Copies `from` into `to` in `_id` order, batch by batch, recording progress in the intent
    /// so a restart resumes where it stopped. Inserting by `_id` makes a repeated batch
    /// harmless. Writes are held back from the moment the intent is recorded, and a write that
    /// raced the recording puts itself right once the operation is over (see `tenant`), so
    /// the copy needs no pause before it starts.
    pub(super) async fn copy_collection(
        &self,
        record: &OrganizationDoc,
        intent: &Intent,
        from: &Location,
        to: &Location,
    ) -> Result<(), MoveError> {
        let limit = self.op_timeout();
        if to.model == TenancyModel::Shared {
            self.ensure_shared(to).await?;
        } else {
            match self.create_tenant_collection(to).await {
                Ok(()) => {}
                // What an earlier attempt copied is kept: the copy resumes after `copied_until`.
                Err(DbError::NamespaceExists) => {
                    if self.used_by_another(to, &record.id).await? {
                        return Err(MoveError::TargetBusy);
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        let source = self.view(from, &record.id)?;
        let target = self.view(to, &record.id)?;
        let batch_size = self.inner.settings.copy_batch_size.max(1);
        // One sorted cursor for the whole copy (a query per batch would sort again each time
        // on servers that do not walk the _id index); progress is still saved per batch.
        let filter = source.filter(
            intent
                .operation
                .copied_until()
                .map_or_else(BsonDocument::new, |after| doc! {"_id": {"$gt": after}}),
        );
        let remaining = timed(limit, source.collection.count_documents(filter.clone())).await?;
        let mut progress = RunningCopy::start(
            &self.inner.copies,
            intent.operation.name(),
            &record.id,
            remaining,
        );
        let mut cursor = timed(
            limit,
            source
                .collection
                .find(filter)
                .sort(doc! {"_id": 1})
                .batch_size(u32::try_from(batch_size).unwrap_or(u32::MAX)),
        )
        .await?;
        loop {
            let batch: Vec<BsonDocument> = timed(limit, async {
                let mut batch = Vec::with_capacity(batch_size);
                while batch.len() < batch_size {
                    match cursor.try_next().await? {
                        Some(document) => batch.push(document),
                        None => break,
                    }
                }
                Ok(batch)
            })
            .await?;
            let Some(last) = batch
                .last()
                .and_then(|d| d.get_str("_id").ok())
                .map(str::to_owned)
            else {
                return Ok(());
            };
            let documents = batch.len() as u64;
            let batch = batch
                .into_iter()
                .map(|stored| target.store(source.load(stored)));
            match timed(limit, target.collection.insert_many(batch).ordered(false)).await {
                Ok(_) | Err(DbError::Duplicate) => {}
                Err(e) => return Err(e.into()),
            }
            progress.copied(documents);
            self.update_owned(
                &record.id,
                doc! {"intent.phase": "copying", "intent.copied_until": &last},
                doc! {},
            )
            .await?;
        }
    }
}
