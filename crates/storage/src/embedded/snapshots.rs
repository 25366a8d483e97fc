//! Snapshots of an organization's documents for exports: one redb read transaction, kept open
//! from the snapshot's opening to its closing. redb gives every read transaction the file as
//! it was when the transaction began, so each page of the export reads the same moment while
//! writes go on. The price: pages that writers free meanwhile are reused only once the
//! snapshot closes, so the file grows by what is written during an export.
//!
//! The transactions live in this process only: a restart loses them, and the export's next
//! page answers [`SnapshotError::Lost`] (the export starts again).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use orgsvc_domain::errors::{SnapshotError, StoreError};
use orgsvc_domain::ports::{DocumentSnapshots, SNAPSHOT_LEASE};
use orgsvc_domain::{DocumentId, DocumentPage, ExportId, OrganizationId};
use redb::{ReadTransaction, ReadableTableMetadata as _};

use super::tables::{self, tenant_table};
use super::{db_err, records, EmbeddedStore};

/// Snapshots open at once in this process; each holds back the reuse of the pages written
/// meanwhile, so an export beyond this is told to come back (503).
const MAX_OPEN: usize = 16;

/// The open snapshots, one per organization at most.
#[derive(Clone, Default)]
pub(super) struct Snapshots(Arc<Mutex<HashMap<OrganizationId, Open>>>);

impl std::fmt::Debug for Snapshots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshots")
            .field("open", &self.lock().len())
            .finish()
    }
}

struct Open {
    export: ExportId,
    txn: Arc<ReadTransaction>,
    /// Renewed by each page; past it plus [`SNAPSHOT_LEASE`], another export may take over.
    renewed: Instant,
}

impl Snapshots {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<OrganizationId, Open>> {
        self.0.lock().expect("not poisoned")
    }

    /// The transaction of `export`'s snapshot, its lease renewed.
    fn renew(
        &self,
        organization: &OrganizationId,
        export: &ExportId,
    ) -> Result<Arc<ReadTransaction>, SnapshotError> {
        let mut open = self.lock();
        let snapshot = open
            .get_mut(organization)
            .filter(|s| s.export == *export)
            .ok_or(SnapshotError::Lost)?;
        snapshot.renewed = Instant::now();
        Ok(Arc::clone(&snapshot.txn))
    }

    /// Forgets the organization's snapshot, whichever export holds it (it was deleted).
    pub(super) fn forget(&self, organization: &OrganizationId) {
        self.lock().remove(organization);
    }
}

/// How many documents the organization has in `txn`'s view of the file.
fn count(txn: &ReadTransaction, organization: OrganizationId) -> Result<u64, SnapshotError> {
    let name = tables::tenant_table_name(txn, organization.as_uuid().as_u128())?;
    let tenant = txn.open_table(tenant_table(&name)).map_err(db_err)?;
    Ok(tenant.len().map_err(db_err)?)
}

impl DocumentSnapshots for EmbeddedStore {
    async fn open_snapshot(
        &self,
        organization: &OrganizationId,
        export: &ExportId,
    ) -> Result<u64, SnapshotError> {
        let (organization, export) = (*organization, *export);
        let snapshots = self.snapshots.clone();
        self.run(move |db| {
            let mut open = snapshots.lock();
            let expired = |s: &Open| s.renewed.elapsed() > SNAPSHOT_LEASE;
            match open.get(&organization) {
                Some(s) if s.export == export => return count(&s.txn, organization),
                Some(s) if !expired(s) => return Err(SnapshotError::Busy),
                _ => {}
            }
            open.retain(|_, s| !expired(s));
            if open.len() >= MAX_OPEN {
                return Err(StoreError::Unavailable(anyhow::anyhow!(
                    "{MAX_OPEN} exports are reading at once; retry when one is done"
                ))
                .into());
            }
            let txn = db.begin_read().map_err(db_err)?;
            tables::organization_record(&txn, organization.as_uuid().as_u128())?
                .ok_or(SnapshotError::OrganizationNotFound)?;
            let documents = count(&txn, organization)?;
            open.insert(
                organization,
                Open {
                    export,
                    txn: Arc::new(txn),
                    renewed: Instant::now(),
                },
            );
            Ok(documents)
        })
        .await
    }

    async fn snapshot_page(
        &self,
        organization: &OrganizationId,
        export: &ExportId,
        after: Option<&DocumentId>,
        limit: usize,
    ) -> Result<DocumentPage, SnapshotError> {
        let snapshots = self.snapshots.clone();
        let (organization, export, after) = (*organization, *export, after.copied());
        self.run(move |db| {
            // Deleted since: nothing of it may leave, even from a snapshot taken before.
            let now = db.begin_read().map_err(db_err)?;
            tables::organization_record(&now, organization.as_uuid().as_u128())?
                .ok_or(SnapshotError::OrganizationNotFound)?;
            drop(now);
            let txn = snapshots.renew(&organization, &export)?;
            let name = tables::tenant_table_name(&*txn, organization.as_uuid().as_u128())?;
            let tenant = txn.open_table(tenant_table(&name)).map_err(db_err)?;
            let documents = super::tenant::documents_after(&tenant, after.as_ref(), limit)?;
            Ok(DocumentPage::read_with(documents, limit))
        })
        .await
    }

    async fn record_export(
        &self,
        organization: &OrganizationId,
        sha256: &str,
    ) -> Result<(), StoreError> {
        let (id, sha256) = (organization.as_uuid().as_u128(), sha256.to_owned());
        self.writer
            .write(move |txn| {
                let Some(mut record) = tables::organization_record(txn, id)? else {
                    return Ok(());
                };
                record.last_export_sha256 = Some(sha256.clone());
                txn.open_table(tables::ORGANIZATIONS)
                    .map_err(db_err)?
                    .insert(id, records::to_bytes(&record).as_slice())
                    .map_err(db_err)?;
                Ok::<_, StoreError>(())
            })
            .await
    }

    async fn close_snapshot(
        &self,
        organization: &OrganizationId,
        export: &ExportId,
    ) -> Result<(), StoreError> {
        let mut open = self.snapshots.lock();
        if open.get(organization).is_some_and(|s| s.export == *export) {
            open.remove(organization);
        }
        Ok(())
    }
}
