//! Tenant collections: create, drop, rename, copy (strays are in `strays`).

use std::sync::atomic::Ordering;

use bson::{doc, Document as BsonDocument};
use futures_util::TryStreamExt as _;
use orgsvc_domain::errors::StoreError;
use orgsvc_domain::TenancyModel;

use super::errors::{timed, DbError};
use super::progress::RunningCopy;
use super::records::{Intent, Location, OrganizationDoc};
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
                    // Some hosted servers have no schema validation.
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
        // One indexed lookup per place rather than an `$or` of the three, which DocumentDB
        // answers by scanning every organization (25 ms with 10,000 of them). In this order,
        // a record that a step of an operation moves from one place to the next (a move's
        // target becomes its location; a location becomes a move's source) is seen in one of
        // them, as a single count would have seen it.
        for prefix in ["intent.to", "connection", "intent.from"] {
            let filter = doc! {
                "_id": {"$ne": except},
                format!("{prefix}.collection"): &location.collection,
                format!("{prefix}.database"): &location.database,
                format!("{prefix}.cluster"): &location.cluster,
            };
            // Only the `_id` comes back, so not as an organization's record.
            let found = timed(
                self.op_timeout(),
                self.inner
                    .organizations
                    .clone_with_type::<BsonDocument>()
                    .find_one(filter)
                    .projection(doc! {"_id": 1}),
            )
            .await?;
            if found.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
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
        let mut batch = next_batch(&mut cursor, batch_size, limit).await?;
        loop {
            let Some(last) = batch
                .last()
                .and_then(|d| d.get_str("_id").ok())
                .map(str::to_owned)
            else {
                return Ok(());
            };
            let documents = batch.len() as u64;
            let stored: Vec<BsonDocument> = batch
                .into_iter()
                .map(|stored| target.store(source.load(stored)))
                .collect();
            // This batch is written while the next one is read (two connections; on two
            // clusters, two servers). Progress is recorded once the write is done.
            let (written, next) = tokio::join!(
                timed(limit, target.collection.insert_many(stored).ordered(false)),
                next_batch(&mut cursor, batch_size, limit),
            );
            match written {
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
            batch = next?;
        }
    }
}

/// Up to `size` documents from `cursor` (fewer at its end).
pub(super) async fn next_batch(
    cursor: &mut mongodb::Cursor<BsonDocument>,
    size: usize,
    limit: std::time::Duration,
) -> Result<Vec<BsonDocument>, DbError> {
    timed(limit, async {
        let mut batch = Vec::with_capacity(size);
        while batch.len() < size {
            match cursor.try_next().await? {
                Some(document) => batch.push(document),
                None => break,
            }
        }
        Ok(batch)
    })
    .await
}

#[cfg(test)]
mod tests {
    use orgsvc_domain::TenancyModel;

    use super::*;
    use crate::MongoSettings;

    /// A place is in use for everyone but the organization that uses it, whichever part of a
    /// record names it: its location, or a move's target or source.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_place_in_use_is_found_for_everyone_but_its_user() {
        let Some(uri) = orgsvc_testkit::mongodb_or_skip("place in use") else {
            return;
        };
        let mut settings = MongoSettings::for_uri(uri);
        settings.master_database = orgsvc_testkit::unique_name("master");
        settings.tenant_database = orgsvc_testkit::unique_name("tenants");
        let store = MongoStore::connect(settings).await.unwrap();
        let place = |collection: &str| Location {
            cluster: "default".into(),
            database: "tenants".into(),
            collection: collection.into(),
            model: TenancyModel::Collection,
        };
        let stored = |location: &Location| bson::to_bson(location).unwrap();
        let records = store.inner.organizations.clone_with_type::<BsonDocument>();
        records
            .insert_many([
                doc! {"_id": "a", "slug": "a", "connection": stored(&place("org_a"))},
                doc! {
                    "_id": "b",
                    "slug": "b",
                    "connection": stored(&place("org_b")),
                    "intent": {"from": stored(&place("org_b")), "to": stored(&place("org_c"))},
                },
            ])
            .await
            .unwrap();
        for (collection, user) in [("org_a", "a"), ("org_b", "b"), ("org_c", "b")] {
            let location = place(collection);
            assert!(
                store.used_by_another(&location, "z").await.unwrap(),
                "{collection}"
            );
            assert!(
                !store.used_by_another(&location, user).await.unwrap(),
                "{collection}"
            );
        }
        assert!(!store.used_by_another(&place("org_d"), "z").await.unwrap());
    }
}
