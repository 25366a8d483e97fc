//! Snapshots of an organization's documents for exports, kept by the writers themselves.
//!
//! MongoDB's own snapshot reads (`readConcern: snapshot`) last at most
//! `minSnapshotHistoryWindowInSeconds` (5 minutes by default), too short for a large export,
//! and DocumentDB ignores them: a cursor's later batches see writes made after it opened. So
//! the snapshot is kept by preimages, the same way on every server:
//!
//! 1. Opening marks the organization's record with the export (`export: {id, until}`).
//! 2. Every write that reads the record (as each tenant write does, to find the documents)
//!    and finds the mark first saves the document as it is now in `export_preimages`, under
//!    `<export>/<document id>` and only if nothing is saved there yet (`null` when it does not
//!    exist), and then writes. So a document that changed since the mark has its version of
//!    that moment saved, before the change is visible.
//! 3. The export reads the documents in id order, a page at a time from wherever they are (a
//!    rename or move may go on), then the preimages in the same id range, and answers for
//!    each id its preimage if it has one, otherwise the document. Read in that order, a
//!    document that already shows a change always has its preimage found.
//! 4. Last, a page checks that the mark is still its own: a write that read the record after
//!    the mark was replaced would have saved its preimage under another export.
//!
//! Writes that read the record before the mark was set save nothing: they were under way when
//! the export began, and land either before the moment the snapshot shows (a later write's
//! preimage then holds their version) or after it, which the snapshot may equally show.
//!
//! Costs: while an export runs, a document's first write reads it and saves it (two round
//! trips more); preimages last until the export closes, and expire by themselves a day after
//! being saved if its process died. A mark whose process died stays until an export of the
//! organization takes it over ([`SNAPSHOT_LEASE`] after its last page), and meanwhile writes
//! keep saving preimages.

use std::collections::HashMap;

use bson::{doc, Bson, Document as BsonDocument};
use chrono::Utc;
use futures_util::TryStreamExt as _;
use orgsvc_domain::errors::{DocumentError, SnapshotError, StoreError};
use orgsvc_domain::ports::{DocumentSnapshots, SNAPSHOT_LEASE};
use orgsvc_domain::{Document, DocumentId, DocumentPage, ExportId, OrganizationId};
use serde::{Deserialize, Serialize};

use super::collections::next_batch;
use super::errors::{absent_as, timed, DbError};
use super::machine::Purpose;
use super::records::{document_from_bson, Location};
use super::tenancy::TenantView;
use super::MongoStore;

/// How long a preimage outlives its saving when its export never closes.
const PREIMAGE_RETENTION: chrono::Duration = chrono::Duration::days(1);

/// Attempts at replacing a mark that changes meanwhile before answering busy.
const OPEN_ATTEMPTS: usize = 4;

/// Scans kept between pages in this process, at most.
const KEPT_SCANS: usize = 16;

/// An export's sorted cursor over the documents, kept from one page to the next so that the
/// server sorts once per scan: DocumentDB does not walk the `_id` index for a sort, so a
/// query per page (`_id > last`, sorted, limited) fetched and sorted everything after `last`
/// again, and a whole scan took time quadratic in the documents (measured: 19% of a raw
/// read at 20,000 documents). A cursor that is gone or stale is simply opened again after the
/// last id answered: it is a speed-up, the snapshot does not depend on it.
pub(super) struct Scan {
    location: Location,
    /// The last id the previous page answered: the next page must continue from there.
    after: Option<String>,
    cursor: mongodb::Cursor<BsonDocument>,
}

/// Kept scans by export id.
pub(super) type Scans = std::sync::Mutex<HashMap<String, Scan>>;

/// On an organization's record while an export reads its snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportMark {
    pub id: String,
    /// Renewed by the export's pages; once past, another export may take the mark over.
    pub until: bson::DateTime,
}

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

fn key(export: &str, document: &str) -> String {
    format!("{export}/{document}")
}

/// The `_id` range of an export's preimages with document ids in (`after`, `upto`]; the end
/// is open without `upto` (`0` follows `/`).
fn key_range(export: &str, after: Option<&str>, upto: Option<&str>) -> BsonDocument {
    let upper = upto.map_or_else(
        || doc! {"$lt": format!("{export}0")},
        |last| doc! {"$lte": key(export, last)},
    );
    let mut range = doc! {"$gt": key(export, after.unwrap_or(""))};
    range.extend(upper);
    range
}

fn lease_end() -> bson::DateTime {
    let lease = chrono::Duration::from_std(SNAPSHOT_LEASE).unwrap_or(chrono::Duration::MAX);
    bson::DateTime::from_chrono(Utc::now() + lease)
}

/// The document id in a preimage's key.
fn document_part(key: &str) -> &str {
    key.split_once('/').map_or(key, |(_, document)| document)
}

/// The snapshot's documents with ids up to `upto` (all without it): for each id, its preimage
/// if it has one (nothing if that says it did not exist), otherwise the document. Both inputs
/// are in id order.
fn merge(
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

fn snapshot_error(error: DocumentError) -> SnapshotError {
    match error {
        DocumentError::OrganizationNotFound => SnapshotError::OrganizationNotFound,
        DocumentError::Store(e) => SnapshotError::Store(e),
        other => SnapshotError::Store(StoreError::Unknown(other.into())),
    }
}

impl MongoStore {
    /// Saves `document` as it is now for `export`, unless a version is saved already. Runs
    /// before a write that found the export's mark, so the write is never visible first.
    pub(super) async fn keep_for_export(
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
    pub(super) async fn forget_preimages(&self, export: &str) -> Result<(), StoreError> {
        let filter = doc! {"_id": key_range(export, None, None)};
        timed(self.op_timeout(), self.inner.preimages.delete_many(filter)).await?;
        Ok(())
    }

    /// The mark on the organization's record, `None` when the record is gone.
    async fn export_mark(
        &self,
        organization: &str,
    ) -> Result<Option<Option<ExportMark>>, StoreError> {
        let found = timed(
            self.op_timeout(),
            self.inner
                .organizations
                .clone_with_type::<BsonDocument>()
                .find_one(doc! {"_id": organization})
                .projection(doc! {"export": 1}),
        )
        .await?;
        found
            .map(|record| match record.get("export") {
                None | Some(Bson::Null) => Ok(None),
                Some(mark) => bson::from_bson(mark.clone())
                    .map(Some)
                    .map_err(|e| StoreError::Unknown(anyhow::anyhow!("corrupt export mark: {e}"))),
            })
            .transpose()
    }

    /// Up to `limit` of the organization's documents after `after` in id order, as stored
    /// (loaded), from where they are now: through the export's kept cursor when it is at that
    /// place and position, otherwise a new one.
    async fn scan_page(
        &self,
        organization: &OrganizationId,
        export: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<BsonDocument>, DocumentError> {
        let op = self.op_timeout();
        for _ in 0..3 {
            let target = self
                .target(organization, Purpose::Read, self.access_wait())
                .await?;
            let kept = self
                .take_scan(export)
                .filter(|scan| scan.location == target.location && scan.after.as_deref() == after);
            let view = &target.view;
            let read = match kept {
                // A kept cursor that fails (the server dropped it, the collection went) is
                // opened again on the next turn.
                Some(mut scan) => match next_batch(&mut scan.cursor, limit, op).await {
                    Ok(found) => Some((scan.cursor, found)),
                    Err(_) => continue,
                },
                None => {
                    let filter = after.map_or_else(BsonDocument::new, |a| doc! {"_id": {"$gt": a}});
                    let size = u32::try_from(limit).unwrap_or(u32::MAX);
                    let opened = timed(
                        op,
                        view.collection
                            .find(view.filter(filter))
                            .sort(doc! {"_id": 1})
                            .batch_size(size),
                    )
                    .await;
                    match opened {
                        Ok(mut cursor) => {
                            let found = next_batch(&mut cursor, limit, op).await;
                            absent_as(found.map(Some), None)
                                .map_err(StoreError::from)?
                                .map(|found| (cursor, found))
                        }
                        Err(DbError::NamespaceNotFound) => None,
                        Err(e) => return Err(StoreError::from(e).into()),
                    }
                }
            };
            let (cursor, found) = match read {
                Some((cursor, found)) => (Some(cursor), found),
                None => (None, Vec::new()),
            };
            let loaded: Vec<BsonDocument> = found.into_iter().map(|d| view.load(d)).collect();
            if loaded.len() >= limit {
                if let Some(cursor) = cursor {
                    let last = loaded.last().and_then(|d| d.get_str("_id").ok());
                    let scan = Scan {
                        location: target.location.clone(),
                        after: last.map(str::to_owned),
                        cursor,
                    };
                    self.keep_scan(export, scan);
                }
                return Ok(loaded);
            }
            // A short page ends the scan, unless the documents moved away under it.
            if self.unchanged(organization, &target).await? {
                return Ok(loaded);
            }
        }
        Err(StoreError::Unavailable(anyhow::anyhow!("the organization is changing; retry")).into())
    }

    fn take_scan(&self, export: &str) -> Option<Scan> {
        self.inner
            .scans
            .lock()
            .expect("not poisoned")
            .remove(export)
    }

    fn keep_scan(&self, export: &str, scan: Scan) {
        let mut scans = self.inner.scans.lock().expect("not poisoned");
        if scans.len() < KEPT_SCANS {
            scans.insert(export.to_owned(), scan);
        }
    }

    /// Pushes the mark's end a lease ahead once half of it has passed.
    async fn renew_mark(&self, organization: &str, mark: &ExportMark) -> Result<(), SnapshotError> {
        let half = chrono::Duration::from_std(SNAPSHOT_LEASE / 2).unwrap_or(chrono::Duration::MAX);
        if mark.until.to_chrono() > Utc::now() + half {
            return Ok(());
        }
        let filter = doc! {"_id": organization, "export.id": &mark.id};
        let renewed = timed(
            self.op_timeout(),
            self.inner
                .organizations
                .update_one(filter, doc! {"$set": {"export.until": lease_end()}}),
        )
        .await
        .map_err(StoreError::from)?;
        if renewed.matched_count == 0 {
            return Err(SnapshotError::Lost);
        }
        Ok(())
    }

    /// The preimages of `export` with document ids in (`after`, `upto`], in id order, at most
    /// `limit`.
    async fn preimages(
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

impl DocumentSnapshots for MongoStore {
    async fn open_snapshot(
        &self,
        organization: &OrganizationId,
        export: &ExportId,
    ) -> Result<(), SnapshotError> {
        self.ensure_ready().await?;
        let (id, export) = (organization.to_string(), export.to_string());
        for _ in 0..OPEN_ATTEMPTS {
            let held = self
                .export_mark(&id)
                .await?
                .ok_or(SnapshotError::OrganizationNotFound)?;
            // Replaced only as found, so two exports opening at once cannot both win.
            let unchanged = match &held {
                Some(mark) if mark.id == export => return Ok(()),
                Some(mark) if mark.until > bson::DateTime::now() => {
                    return Err(SnapshotError::Busy)
                }
                Some(mark) => doc! {"_id": &id, "export.id": &mark.id},
                None => doc! {"_id": &id, "export": {"$exists": false}},
            };
            let mark = ExportMark {
                id: export.clone(),
                until: lease_end(),
            };
            let mark = bson::to_bson(&mark).map_err(|e| StoreError::Unknown(e.into()))?;
            let set = doc! {"$set": {"export": mark}};
            let updated = timed(
                self.op_timeout(),
                self.inner.organizations.update_one(unchanged, set),
            )
            .await
            .map_err(StoreError::from)?;
            if updated.matched_count == 1 {
                if let Some(taken_over) = held {
                    self.forget_preimages(&taken_over.id).await?;
                }
                return Ok(());
            }
        }
        Err(SnapshotError::Busy)
    }

    async fn snapshot_page(
        &self,
        organization: &OrganizationId,
        export: &ExportId,
        after: Option<&DocumentId>,
        limit: usize,
    ) -> Result<DocumentPage, SnapshotError> {
        self.ensure_ready().await?;
        let (id, export) = (organization.to_string(), export.to_string());
        let after = after.map(ToString::to_string);
        let documents = self
            .scan_page(organization, &export, after.as_deref(), limit)
            .await
            .map_err(snapshot_error)?;
        let full = documents.len() >= limit;
        let mut upto = documents
            .last()
            .filter(|_| full)
            .and_then(|d| d.get_str("_id").ok())
            .map(str::to_owned);
        let preimages = self
            .preimages(&export, after.as_deref(), upto.as_deref(), limit)
            .await?;
        let cut = preimages.len() >= limit;
        if cut {
            // As many preimages as a page: the page ends at the last of them.
            upto = preimages.last().map(|p| document_part(&p.key).to_owned());
        }
        // Only now: a write that read the record after the mark was replaced would have saved
        // its preimage under another export, unseen here.
        match self.export_mark(&id).await? {
            None => return Err(SnapshotError::OrganizationNotFound),
            Some(Some(mark)) if mark.id == export => self.renew_mark(&id, &mark).await?,
            Some(_) => return Err(SnapshotError::Lost),
        }
        let mut page = merge(documents, preimages, upto.as_deref());
        if page.len() > limit {
            // Preimages of deleted documents came on top of a full page: it ends earlier.
            page.truncate(limit);
            upto = page
                .last()
                .and_then(|d| d.get_str("_id").ok())
                .map(str::to_owned);
        }
        let documents: Vec<Document> = page
            .into_iter()
            .map(document_from_bson)
            .collect::<Result<_, _>>()?;
        let next = match upto {
            Some(last) if full || cut || documents.len() >= limit => {
                Some(last.parse::<DocumentId>().map_err(|e| {
                    StoreError::Unknown(anyhow::anyhow!("corrupt document id {last}: {e}"))
                })?)
            }
            _ => None,
        };
        Ok(DocumentPage { documents, next })
    }

    async fn record_export(
        &self,
        organization: &OrganizationId,
        sha256: &str,
    ) -> Result<(), StoreError> {
        self.ensure_ready().await?;
        let filter = doc! {"_id": organization.to_string()};
        let set = doc! {"$set": {"last_export_sha256": sha256}};
        timed(
            self.op_timeout(),
            self.inner.organizations.update_one(filter, set),
        )
        .await?;
        Ok(())
    }

    async fn close_snapshot(
        &self,
        organization: &OrganizationId,
        export: &ExportId,
    ) -> Result<(), StoreError> {
        self.ensure_ready().await?;
        let export = export.to_string();
        let filter = doc! {"_id": organization.to_string(), "export.id": &export};
        timed(
            self.op_timeout(),
            self.inner
                .organizations
                .update_one(filter, doc! {"$unset": {"export": ""}}),
        )
        .await?;
        self.take_scan(&export);
        self.forget_preimages(&export).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(id: &str, n: i32) -> BsonDocument {
        doc! {"_id": id, "n": n}
    }

    fn saved(id: &str, document: Option<BsonDocument>) -> PreimageDoc {
        PreimageDoc {
            key: key("e", id),
            document,
            expires_at: bson::DateTime::now(),
        }
    }

    #[test]
    fn a_preimage_stands_for_its_document_and_one_of_nothing_hides_it() {
        let page = merge(
            vec![stored("a", 2), stored("b", 2), stored("c", 2)],
            vec![saved("a", Some(stored("a", 1))), saved("c", None)],
            None,
        );
        assert_eq!(page, vec![stored("a", 1), stored("b", 2)]);
    }

    #[test]
    fn documents_deleted_since_come_back_in_id_order_within_the_page() {
        let page = merge(
            vec![stored("b", 2), stored("d", 2)],
            vec![
                saved("a", Some(stored("a", 1))),
                saved("c", Some(stored("c", 1))),
                saved("e", Some(stored("e", 1))),
                saved("f", Some(stored("f", 1))),
            ],
            Some("e"),
        );
        let ids: Vec<&str> = page.iter().map(|d| d.get_str("_id").unwrap()).collect();
        assert_eq!(ids, ["a", "b", "c", "d", "e"]);
    }

    #[test]
    fn preimage_keys_sort_as_their_document_ids_and_stay_within_their_export() {
        let range = key_range("e1", Some("b"), None);
        assert_eq!(range, doc! {"$gt": "e1/b", "$lt": "e10"});
        assert!(key("e1", "zzz").as_str() < "e10");
        assert!(key("e1", "a") > key("e1", ""));
        assert_eq!(
            key_range("e1", None, Some("c")),
            doc! {"$gt": "e1/", "$lte": "e1/c"}
        );
        assert_eq!(document_part(&key("e1", "abc")), "abc");
    }
}
