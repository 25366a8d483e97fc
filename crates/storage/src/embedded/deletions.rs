//! Records of completed deletions (`master.deletions`): written in the transaction that
//! removes the organization, read by receipt id until they expire. Expired ones are removed by
//! the next deletion's transaction, found in expiry order (`master.deletion_expiry`) without
//! reading the others, so the table holds at most the deletions of one retention period.

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
/// (expiry in Unix milliseconds, receipt id) -> nothing: the records in the order they expire.
pub const DELETION_EXPIRY: TableDefinition<'static, (i64, u128), ()> =
    TableDefinition::new("master.deletion_expiry");

/// Keeps `record` and forgets the records that expired at or before `now`.
pub fn keep(
    txn: &WriteTransaction,
    record: &DeletionRecord,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut table = txn.open_table(DELETIONS).map_err(db_err)?;
    let mut expiry = txn.open_table(DELETION_EXPIRY).map_err(db_err)?;
    let expired: Vec<(i64, u128)> = expiry
        .range(..=(now.timestamp_millis(), u128::MAX))
        .map_err(db_err)?
        .map(|entry| entry.map(|(key, _)| key.value()))
        .collect::<Result<_, _>>()
        .map_err(db_err)?;
    for key in expired {
        expiry.remove(key).map_err(db_err)?;
        table.remove(key.1).map_err(db_err)?;
    }
    let id = record.id.as_uuid().as_u128();
    let fields = DeletionFields::from_domain(record);
    table
        .insert(id, records::to_bytes(&fields).as_slice())
        .map_err(db_err)?;
    expiry
        .insert((record.expires_at.timestamp_millis(), id), ())
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
