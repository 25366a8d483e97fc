//! Schema version 3: nested arrays stored as they are.
//!
//! Releases before version 2 stored every array nested directly in an array (`[[1, 2]]`)
//! wrapped as `{"\u{1}array": [...]}`, for a server that could not hold one. Nothing writes the
//! wrapper any more. Version 3 rewrites the documents that still hold one, in every tenant
//! collection, while the service runs: organization by organization in `_id` order, each
//! organization's documents in batches, each batch read and rewritten in one transaction on
//! its cluster, so a concurrent client write of the same document conflicts with the batch
//! (which runs again) instead of being overwritten. Where it got to is kept in the `schema`
//! document, so after a crash the next start goes on from there. An organization in the middle
//! of a rename or move is left for after its operation (its copy may be carrying documents
//! from one place to the other) and listed as `pending` until then.
//!
//! Until the version is recorded, a document read may still hold wrappers; reads unwrap them
//! (user field names cannot hold control characters, the domain refuses them, so the wrapper
//! is never ambiguous).

use std::future::IntoFuture as _;
use std::sync::Arc;
use std::time::Duration;

use bson::{doc, Bson, Document as BsonDocument};
use futures_util::future::FutureExt as _;
use futures_util::TryStreamExt as _;
use mongodb::ClientSession;
use orgsvc_domain::errors::StoreError;
use serde::{Deserialize, Serialize};

use super::errors::timed;
use super::records::OrganizationDoc;
use super::tenancy::TenantView;
use super::transaction::Abort;
use super::MongoStore;

const NESTED_ARRAY: &str = "\u{1}array";

/// How long the background migration waits before trying again after a failure or for
/// operations in progress to end.
const RETRY: Duration = Duration::from_secs(2);

/// Replaces every wrapper in `document` by the array it holds; whether there was any.
pub fn unwrap_nested_arrays(document: &mut BsonDocument) -> bool {
    document.iter_mut().fold(false, |changed, (_, value)| {
        unwrap_value(value, false) | changed
    })
}

fn unwrap_value(value: &mut Bson, in_array: bool) -> bool {
    match value {
        Bson::Document(fields)
            if in_array && fields.len() == 1 && fields.contains_key(NESTED_ARRAY) =>
        {
            let mut inner = fields
                .remove(NESTED_ARRAY)
                .unwrap_or(Bson::Array(Vec::new()));
            unwrap_value(&mut inner, false);
            *value = inner;
            true
        }
        Bson::Array(items) => items
            .iter_mut()
            .fold(false, |changed, item| unwrap_value(item, true) | changed),
        Bson::Document(fields) => unwrap_nested_arrays(fields),
        _ => false,
    }
}

/// Where the migration got to: every organization before `organization` is done, and of that
/// one every document up to `after` (all of them when `complete`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Cursor {
    organization: String,
    after: Option<String>,
    complete: bool,
}

/// The migration's state in the `schema` document.
#[derive(Debug, Default, Deserialize)]
struct Unwrapping {
    #[serde(default)]
    unwrapping: Option<Cursor>,
    /// Organizations skipped because an operation was moving their documents.
    #[serde(default)]
    pending: Vec<String>,
}

impl MongoStore {
    /// Runs version 3 in the background until it is done and recorded (or the store is
    /// dropped), so a large database does not hold the service's start.
    pub(super) fn spawn_unwrapping(&self) {
        let store = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            loop {
                let Some(inner) = store.upgrade() else { break };
                let store = Self { inner };
                match store.unwrap_all().await {
                    Ok(true) => match store.record_version(2, 3).await {
                        Ok(()) => {
                            tracing::info!(version = 3, "tenant documents migrated");
                            break;
                        }
                        Err(e) => tracing::warn!(error = ?e, "recording schema version 3 failed"),
                    },
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(error = ?e, "migrating tenant documents failed; will retry")
                    }
                }
                drop(store);
                tokio::time::sleep(RETRY).await;
            }
        });
    }

    /// One pass: every organization after the cursor, then those pending. `Ok(false)` when
    /// some are still in the middle of an operation.
    async fn unwrap_all(&self) -> Result<bool, StoreError> {
        let state = self.unwrapping_state().await?;
        let mut cursor = state.unwrapping.unwrap_or_default();
        loop {
            let organizations = self.inner.organizations.clone();
            let from = if cursor.complete || cursor.organization.is_empty() {
                doc! {"$gt": &cursor.organization}
            } else {
                doc! {"$gte": &cursor.organization}
            };
            let batch: Vec<OrganizationDoc> = timed(self.op_timeout(), async move {
                organizations
                    .find(doc! {"_id": from})
                    .sort(doc! {"_id": 1})
                    .limit(100)
                    .await?
                    .try_collect()
                    .await
            })
            .await?;
            if batch.is_empty() {
                break;
            }
            for organization in batch {
                if cursor.organization != organization.id {
                    cursor = Cursor {
                        organization: organization.id.clone(),
                        ..Cursor::default()
                    };
                }
                if !self.unwrap_organization(&organization, &mut cursor).await? {
                    self.set_pending(&organization.id, true).await?;
                }
                cursor.complete = true;
                self.save_cursor(&cursor).await?;
            }
        }
        let mut finished = true;
        for id in state.pending {
            let settled = match self.current(&id).await? {
                None => true,
                Some(organization) => {
                    let mut cursor = Cursor::default();
                    self.unwrap_organization(&organization, &mut cursor).await?
                }
            };
            if settled {
                self.set_pending(&id, false).await?;
            }
            finished &= settled;
        }
        Ok(finished)
    }

    /// Rewrites the organization's documents after `cursor.after`, moving it on with every
    /// batch; `false` (nothing done) while an operation is moving them.
    async fn unwrap_organization(
        &self,
        organization: &OrganizationDoc,
        cursor: &mut Cursor,
    ) -> Result<bool, StoreError> {
        if organization.intent.is_some() {
            return Ok(false);
        }
        let location = &organization.connection;
        let view = self.view(location, &organization.id)?;
        let client = self.client(&location.cluster)?;
        let view = &view;
        loop {
            let after = cursor.after.as_deref();
            let last = self
                .transaction_on(client, |mut session| async move {
                    let outcome = self.unwrap_batch(&mut session, view, after).await;
                    (session, outcome)
                })
                .await?;
            let Some(last) = last else {
                // An operation that began meanwhile may have copied documents not yet
                // rewritten: the organization is done once it is done where they are now.
                let now = self.current(&organization.id).await?;
                return Ok(now.is_none_or(|now| now.epoch == organization.epoch));
            };
            cursor.after = Some(last);
            self.save_cursor(cursor).await?;
        }
    }

    /// The next batch of documents after `after`, those with wrappers rewritten; the last
    /// `_id` of the batch, none when there was no document left.
    async fn unwrap_batch(
        &self,
        session: &mut ClientSession,
        view: &TenantView,
        after: Option<&str>,
    ) -> Result<Option<String>, Abort<StoreError>> {
        let limit = self.op_timeout();
        let batch = i64::try_from(self.inner.settings.copy_batch_size.max(1)).unwrap_or(1_000);
        let filter = match after {
            Some(id) => view.filter(doc! {"_id": {"$gt": id}}),
            None => view.filter(doc! {}),
        };
        // Driver actions turned into futures before `timed`, and the cursor read with `next`:
        // the combinators' lifetimes defeat rustc's `Send` proof for a spawned future.
        let find = view
            .collection
            .find(filter)
            .sort(doc! {"_id": 1})
            .limit(batch)
            .session(&mut *session)
            .into_future();
        let mut found = timed(limit, find).await?;
        let mut documents = Vec::new();
        while let Some(document) =
            timed(limit, found.next(&mut *session).map(Option::transpose)).await?
        {
            documents.push(document);
        }
        let Some(last) = documents.last().and_then(|d| d.get_str("_id").ok()) else {
            return Ok(None);
        };
        let last = last.to_owned();
        for mut document in documents {
            if unwrap_nested_arrays(&mut document) {
                let id = document.get("_id").cloned().unwrap_or(Bson::Null);
                let replace = view
                    .collection
                    .replace_one(doc! {"_id": id}, document)
                    .session(&mut *session)
                    .into_future();
                timed(limit, replace).await?;
            }
        }
        Ok(Some(last))
    }

    /// Where the migration got to, as the `schema` document keeps it.
    async fn unwrapping_state(&self) -> Result<Unwrapping, StoreError> {
        let found = timed(
            self.op_timeout(),
            self.inner
                .schema
                .find_one(doc! {"_id": super::schema::VERSION_ID}),
        )
        .await?;
        Ok(found
            .and_then(|d| bson::from_document(d).ok())
            .unwrap_or_default())
    }

    async fn save_cursor(&self, cursor: &Cursor) -> Result<(), StoreError> {
        let cursor = bson::to_bson(cursor).map_err(|e| StoreError::Unknown(e.into()))?;
        self.update_schema(doc! {"$set": {"unwrapping": cursor}})
            .await
    }

    async fn set_pending(&self, organization: &str, pending: bool) -> Result<(), StoreError> {
        let update = if pending {
            doc! {"$addToSet": {"pending": organization}}
        } else {
            doc! {"$pull": {"pending": organization}}
        };
        self.update_schema(update).await
    }

    async fn update_schema(&self, update: BsonDocument) -> Result<(), StoreError> {
        let filter = doc! {"_id": super::schema::VERSION_ID, "version": 2_i64};
        timed(
            self.op_timeout(),
            self.inner.schema.update_one(filter, update),
        )
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrappers_at_any_depth_become_the_arrays_they_hold() {
        let mut stored = doc! {
            "_id": "x",
            "matrix": [{NESTED_ARRAY: [1, 2]}, {NESTED_ARRAY: [3, {NESTED_ARRAY: [4]}]}, {NESTED_ARRAY: []}],
            "deep": [{"m": [{NESTED_ARRAY: [true]}]}],
            "doc": {"inner": [{NESTED_ARRAY: ["shared"]}]},
        };
        assert!(unwrap_nested_arrays(&mut stored));
        assert_eq!(
            stored,
            doc! {
                "_id": "x",
                "matrix": [[1, 2], [3, [4]], []],
                "deep": [{"m": [[true]]}],
                "doc": {"inner": [["shared"]]},
            }
        );
        assert!(!unwrap_nested_arrays(&mut stored));
    }

    #[test]
    fn a_field_of_that_name_outside_an_array_or_beside_others_is_left_alone() {
        let mut stored = doc! {
            "top": {NESTED_ARRAY: [1]},
            "pair": [{NESTED_ARRAY: [1], "other": 2}],
        };
        let before = stored.clone();
        assert!(!unwrap_nested_arrays(&mut stored));
        assert_eq!(stored, before);
    }
}
