//! Preimages: the versions of documents as they were when an export's snapshot opened, saved
//! by the first write of each after it (see the parent module).

use bson::{doc, Document as BsonDocument};
use chrono::Utc;
use futures_util::TryStreamExt as _;
use orgsvc_domain::errors::StoreError;
use orgsvc_domain::DocumentId;
use serde::{Deserialize, Serialize};

use super::super::errors::{absent_as, timed, DbError};
use super::super::tenancy::TenantView;
use super::super::MongoStore;
use super::PREIMAGE_RETENTION;

/// A document as it was when the export began, saved by the first write after.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PreimageDoc {
    /// `<export id>/<document id>`: fixed-width ids, so `_id` order is document id order.
    #[serde(rename = "_id")]
    pub key: String,
    /// As stored, loaded from its tenancy model's shape; `None`: it did not exist.
    pub document: Option<BsonDocument>,
    pub expires_at: bson::DateTime,
}

pub(super) fn key(export: &str, document: &str) -> String {
    format!("{export}/{document}")
}

/// The `_id` range of an export's preimages with document ids in (`after`, `upto`]; the end
/// is open without `upto` (`0` follows `/`).
pub(super) fn key_range(export: &str, after: Option<&str>, upto: Option<&str>) -> BsonDocument {
    let upper = upto.map_or_else(
        || doc! {"$lt": format!("{export}0")},
        |last| doc! {"$lte": key(export, last)},
    );
    let mut range = doc! {"$gt": key(export, after.unwrap_or(""))};
    range.extend(upper);
    range
}

/// The document id in a preimage's key.
pub(super) fn document_part(key: &str) -> &str {
    key.split_once('/').map_or(key, |(_, document)| document)
}

/// The snapshot's documents with ids up to `upto` (all without it): for each id, its preimage
/// if it has one (nothing if that says it did not exist), otherwise the document. Both inputs
/// are in id order.
pub(super) fn merge(
    documents: Vec<BsonDocument>,
    preimages: Vec<PreimageDoc>,
    upto: Option<&str>,
) -> Vec<BsonDocument> {
    let within = |id: &str| upto.is_none_or(|last| id <= last);
    let mut saved = preimages.into_iter().peekable();
    let mut page = Vec::new();
    for document in documents {
        let id = document.get_str("_id").unwrap_or_default().to_owned();
        if !within(&id) {
            break;
        }
        // Preimages of documents gone since come before this one.
        while let Some(preimage) = saved.next_if(|p| document_part(&p.key) < id.as_str()) {
            page.extend(preimage.document);
        }
        match saved.next_if(|p| document_part(&p.key) == id) {
            Some(preimage) => page.extend(preimage.document),
            None => page.push(document),
        }
    }
    page.extend(
        saved
            .filter(|p| within(document_part(&p.key)))
            .flat_map(|p| p.document),
    );
    page
}

impl MongoStore {
    /// Saves `document` as it is now for `export`, unless a version is saved already. Runs
    /// before a write that found the export's mark, so the write is never visible first.
    pub(in crate::mongo) async fn keep_for_export(
        &self,
        export: &str,
        view: &TenantView,
        document: &DocumentId,
    ) -> Result<(), StoreError> {
        let id = document.to_string();
        let limit = self.op_timeout();
        let found = timed(
            limit,
            view.collection.find_one(view.filter(doc! {"_id": &id})),
        )
        .await;
        let found = absent_as(found, None)?;
        let preimage = PreimageDoc {
            key: key(export, &id),
            document: found.map(|stored| view.load(stored)),
            expires_at: bson::DateTime::from_chrono(Utc::now() + PREIMAGE_RETENTION),
        };
        match timed(limit, self.inner.preimages.insert_one(preimage)).await {
            Ok(_) | Err(DbError::Duplicate) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes the preimages of `export` (it closed, or its organization was deleted).
    pub(in crate::mongo) async fn forget_preimages(&self, export: &str) -> Result<(), StoreError> {
        let filter = doc! {"_id": key_range(export, None, None)};
        timed(self.op_timeout(), self.inner.preimages.delete_many(filter)).await?;
        Ok(())
    }

    /// The preimages of `export` with document ids in (`after`, `upto`], in id order, at most
    /// `limit`.
    pub(super) async fn preimages(
        &self,
        export: &str,
        after: Option<&str>,
        upto: Option<&str>,
        limit: usize,
    ) -> Result<Vec<PreimageDoc>, StoreError> {
        let filter = doc! {"_id": key_range(export, after, upto)};
        let found = timed(self.op_timeout(), async {
            self.inner
                .preimages
                .find(filter)
                .sort(doc! {"_id": 1})
                .limit(i64::try_from(limit).unwrap_or(i64::MAX))
                .await?
                .try_collect()
                .await
        })
        .await?;
        Ok(found)
    }
}
