//! Records of completed deletions (`master.deletions`): written in the transaction that
//! removes the organization, read by receipt id until they expire. Expired ones are removed by
//! the next deletion's transaction, so the table holds at most the deletions of one retention
//! period.

use chrono::{DateTime, Utc};
use orgsvc_domain::deletion::DeletionRecord;
use orgsvc_domain::errors::StoreError;
use orgsvc_domain::DeletionReceiptId;
use redb::{ReadTransaction, ReadableTable, TableDefinition, WriteTransaction};

use super::{db_err, records};
use crate::deletion::DeletionFields;

/// Receipt id -> [`DeletionFields`].
pub const DELETIONS: TableDefinition<'static, u128, &'static [u8]> =
    TableDefinition::new("master.deletions");

/// Keeps `record` and forgets the records that expired before `now`.
pub fn keep(
    txn: &WriteTransaction,
    record: &DeletionRecord,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut table = txn.open_table(DELETIONS).map_err(db_err)?;
    let mut expired = Vec::new();
    for entry in table.iter().map_err(db_err)? {
        let (id, bytes) = entry.map_err(db_err)?;
        let fields: DeletionFields = records::from_bytes("deletion", bytes.value())?;
        if fields.expires_at <= now {
            expired.push(id.value());
        }
    }
    for id in expired {
        table.remove(id).map_err(db_err)?;
    }
    let fields = DeletionFields::from_domain(record);
    table
        .insert(
            record.id.as_uuid().as_u128(),
            records::to_bytes(&fields).as_slice(),
        )
        .map_err(db_err)?;
    Ok(())
}

/// The record of receipt `id`, unless it expired before `now`.
pub fn read(
    txn: &ReadTransaction,
    id: &DeletionReceiptId,
    now: DateTime<Utc>,
) -> Result<Option<DeletionRecord>, StoreError> {
    let table = txn.open_table(DELETIONS).map_err(db_err)?;
    let Some(bytes) = table.get(id.as_uuid().as_u128()).map_err(db_err)? else {
        return Ok(None);
    };
    let fields: DeletionFields = records::from_bytes("deletion", bytes.value())?;
    if fields.expires_at <= now {
        return Ok(None);
    }
    fields.into_domain().map(Some)
}
