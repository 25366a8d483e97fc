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
//! Costs: while an export runs, each write reads its document and tries to save it (two round
//! trips more; only the first per document saves); preimages last until the export closes.
//! A mark whose export stopped reading (its process died) is cleared by the recovery sweep
//! once its lease ([`SNAPSHOT_LEASE`] after its last page) is over, with its preimages; a
//! preimage left anyway expires a day after it was saved.

use bson::{doc, Bson, Document as BsonDocument};
use chrono::Utc;
use futures_util::TryStreamExt as _;
use orgsvc_domain::errors::{SnapshotError, StoreError};
use orgsvc_domain::ports::{DocumentSnapshots, SNAPSHOT_LEASE};
use orgsvc_domain::{Document, DocumentId, DocumentPage, ExportId, OrganizationId};
use serde::{Deserialize, Serialize};

use super::errors::timed;
use super::records::document_from_bson;
use super::MongoStore;

/// How long a preimage outlives its saving when its export never closes.
const PREIMAGE_RETENTION: chrono::Duration = chrono::Duration::days(1);

mod preimages;
mod scan;

pub(super) use preimages::PreimageDoc;
use preimages::{document_part, merge};
pub(super) use scan::Scans;

/// Attempts at replacing a mark that changes meanwhile before answering busy.
const OPEN_ATTEMPTS: usize = 4;

/// On an organization's record while an export reads its snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportMark {
    pub id: String,
    /// Renewed by the export's pages; once past, another export may take the mark over.
    pub until: bson::DateTime,
}

fn lease_end() -> bson::DateTime {
    let lease = chrono::Duration::from_std(SNAPSHOT_LEASE).unwrap_or(chrono::Duration::MAX);
    bson::DateTime::from_chrono(Utc::now() + lease)
}

impl MongoStore {
    /// Clears marks whose lease is over (their export stopped reading: its process died), with
    /// their preimages, so writes stop paying for a snapshot nobody reads. An export that was
    /// only slow finds its snapshot lost at its next page and starts again.
    pub(super) async fn clear_abandoned_exports(&self) -> Result<(), StoreError> {
        let now = bson::DateTime::now();
        let abandoned: Vec<BsonDocument> = timed(self.op_timeout(), async {
            self.inner
                .organizations
                .clone_with_type::<BsonDocument>()
                .find(doc! {"export.until": {"$lt": now}})
                .projection(doc! {"export": 1})
                .limit(100)
                .await?
                .try_collect()
                .await
        })
        .await?;
        for record in abandoned {
            let (Ok(id), Ok(export)) = (
                record.get_str("_id"),
                record.get_document("export").and_then(|e| e.get_str("id")),
            ) else {
                continue;
            };
            let filter = doc! {"_id": id, "export.id": export, "export.until": {"$lt": now}};
            let cleared = timed(
                self.op_timeout(),
                self.inner
                    .organizations
                    .update_one(filter, doc! {"$unset": {"export": ""}}),
            )
            .await?;
            if cleared.modified_count == 1 {
                tracing::warn!(organization = %id, export = %export,
                    "cleared the snapshot of an export that stopped reading");
                self.forget_preimages(export).await?;
            }
        }
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

    /// Marks the organization's record for `export` (see the module's first step).
    async fn mark_for_export(
        &self,
        organization: &OrganizationId,
        export: &ExportId,
    ) -> Result<(), SnapshotError> {
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

    /// The organization's documents where they are now.
    async fn count_documents(&self, organization: &OrganizationId) -> Result<u64, SnapshotError> {
        let target = self
            .target(
                organization,
                super::machine::Purpose::Read,
                self.access_wait(),
            )
            .await?;
        let view = &target.view;
        let counted = timed(
            self.op_timeout(),
            view.collection
                .count_documents(view.filter(BsonDocument::new())),
        )
        .await
        .map_err(StoreError::from)?;
        Ok(counted)
    }
}

impl DocumentSnapshots for MongoStore {
    async fn open_snapshot(
        &self,
        organization: &OrganizationId,
        export: &ExportId,
    ) -> Result<u64, SnapshotError> {
        self.ensure_ready().await?;
        self.mark_for_export(organization, export).await?;
        self.count_documents(organization).await
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
            .await?;
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
mod tests;
