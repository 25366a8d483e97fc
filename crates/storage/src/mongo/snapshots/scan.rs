//! An export's sorted cursor, kept from one page to the next (see [`Scan`]).

use std::collections::HashMap;

use bson::{doc, Document as BsonDocument};
use orgsvc_domain::errors::{DocumentError, StoreError};
use orgsvc_domain::OrganizationId;

use super::super::collections::next_batch;
use super::super::errors::{absent_as, timed, DbError};
use super::super::machine::Purpose;
use super::super::records::Location;
use super::super::MongoStore;

/// Scans kept between pages in this process, at most.
const KEPT_SCANS: usize = 16;

/// An export's sorted cursor over the documents, kept from one page to the next so that the
/// server sorts once per scan: DocumentDB does not walk the `_id` index for a sort, so a
/// query per page (`_id > last`, sorted, limited) fetched and sorted everything after `last`
/// again, and a whole scan took time quadratic in the documents (measured: 19% of a raw
/// read at 20,000 documents). A cursor that is gone or stale is simply opened again after the
/// last id answered: it is a speed-up, the snapshot does not depend on it.
pub(in crate::mongo) struct Scan {
    location: Location,
    /// The last id the previous page answered: the next page must continue from there.
    after: Option<String>,
    cursor: mongodb::Cursor<BsonDocument>,
}

/// Kept scans by export id.
pub(in crate::mongo) type Scans = std::sync::Mutex<HashMap<String, Scan>>;

impl MongoStore {
    /// Up to `limit` of the organization's documents after `after` in id order, as stored
    /// (loaded), from where they are now: through the export's kept cursor when it is at that
    /// place and position, otherwise a new one.
    pub(super) async fn scan_page(
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

    pub(super) fn take_scan(&self, export: &str) -> Option<Scan> {
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
}
