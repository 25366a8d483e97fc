//! Numbered versions of what the embedded store keeps, recorded in `master.schema` (key
//! `orgsvc`; none at all is version 0, what releases before versions wrote). Opening a file
//! creates the tables this binary uses and brings an older file up version by version, all in
//! the one write transaction that opens it, so a crash leaves the file as it was; an older
//! binary refuses a file newer than it knows.
//!
//! | version | what it changed |
//! |---|---|
//! | 1 | every organization has a roster (before: `master.organization_admins` named its one admin, its founder); that table is gone |
//! | 2 | webhook outboxes are indexed by when they fall due (`master.outbox_due`) |

use orgsvc_domain::errors::StoreError;
use orgsvc_domain::{OrganizationId, Roster, UserId};
use redb::{
    MultimapTableDefinition, ReadableMultimapTable, ReadableTable, TableDefinition,
    WriteTransaction,
};
use uuid::Uuid;

use super::{audit, db_err, deletions, exports, outbox, rosters, tables, users};
use crate::roster::RosterRecord;

/// The version this binary writes.
pub const CURRENT: u64 = 2;

const SCHEMA: TableDefinition<&str, u64> = TableDefinition::new("master.schema");
const VERSION_KEY: &str = "orgsvc";

/// Why a file cannot be brought to [`CURRENT`].
#[derive(Debug)]
pub enum SchemaError {
    /// A newer orgsvc wrote it.
    Newer {
        found: u64,
    },
    Store(StoreError),
}

impl From<StoreError> for SchemaError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// Creates the master tables and brings the file to [`CURRENT`]; answers the version the file
/// was at.
pub fn prepare(txn: &WriteTransaction) -> Result<u64, SchemaError> {
    let found = txn
        .open_table(SCHEMA)
        .map_err(db_err)?
        .get(VERSION_KEY)
        .map_err(db_err)?
        .map(|v| v.value());
    let found = found.unwrap_or(0);
    if found > CURRENT {
        return Err(SchemaError::Newer { found });
    }
    create_tables(txn)?;
    if found < 1 {
        let given = give_rosters(txn)?;
        if given > 0 {
            tracing::info!(
                organizations = given,
                "gave organizations written before rosters their roster"
            );
        }
    }
    if found < 2 {
        outbox::index_due(txn)?;
    }
    if found < CURRENT {
        txn.open_table(SCHEMA)
            .map_err(db_err)?
            .insert(VERSION_KEY, CURRENT)
            .map_err(db_err)?;
    }
    Ok(found)
}

fn create_tables(txn: &WriteTransaction) -> Result<(), StoreError> {
    txn.open_table(tables::ORGANIZATIONS).map_err(db_err)?;
    txn.open_table(tables::ORGANIZATION_SLUGS).map_err(db_err)?;
    txn.open_table(users::USERS).map_err(db_err)?;
    txn.open_table(users::USER_EMAILS).map_err(db_err)?;
    txn.open_table(tables::LOGIN_ATTEMPTS).map_err(db_err)?;
    txn.open_table(rosters::ROSTERS).map_err(db_err)?;
    txn.open_multimap_table(rosters::USER_ORGANIZATIONS)
        .map_err(db_err)?;
    txn.open_table(outbox::OUTBOX_EVENTS).map_err(db_err)?;
    txn.open_table(outbox::OUTBOX_STATES).map_err(db_err)?;
    txn.open_table(outbox::OUTBOX_DUE).map_err(db_err)?;
    txn.open_table(audit::AUDIT).map_err(db_err)?;
    txn.open_table(deletions::DELETIONS).map_err(db_err)?;
    txn.open_table(deletions::DELETION_EXPIRY).map_err(db_err)?;
    txn.open_table(exports::EXPORTS).map_err(db_err)?;
    txn.open_table(exports::EXPORT_ACTIVE).map_err(db_err)?;
    txn.open_table(exports::EXPORT_EXPIRY).map_err(db_err)?;
    txn.open_table(exports::EXPORT_CHUNKS).map_err(db_err)?;
    Ok(())
}

/// Version 1: every organization written before rosters gets its roster, with its admin as
/// its owner since it was created; `master.organization_admins`, which held that admin, is
/// deleted. Returns how many rosters it wrote.
fn give_rosters(txn: &WriteTransaction) -> Result<usize, StoreError> {
    const ORGANIZATION_ADMINS: MultimapTableDefinition<u128, u128> =
        MultimapTableDefinition::new("master.organization_admins");
    let legacy: Vec<(u128, u128)> = {
        let table = txn
            .open_multimap_table(ORGANIZATION_ADMINS)
            .map_err(db_err)?;
        let mut entries = Vec::new();
        for entry in table.iter().map_err(db_err)? {
            let (organization, admins) = entry.map_err(db_err)?;
            for admin in admins {
                entries.push((organization.value(), admin.map_err(db_err)?.value()));
            }
        }
        entries
    };
    let mut given = 0;
    for (id, admin) in legacy {
        let Some(organization) = tables::organization_record(txn, id)? else {
            continue;
        };
        if rosters::roster_record(txn, id)?.is_some() {
            continue;
        }
        let roster = Roster::founded(
            OrganizationId::from_uuid(Uuid::from_u128(id)),
            UserId::from_uuid(Uuid::from_u128(admin)),
            organization.created_at,
        );
        rosters::write_roster(txn, id, &RosterRecord::from_domain(&roster, 0), None)?;
        given += 1;
    }
    txn.delete_multimap_table(ORGANIZATION_ADMINS)
        .map_err(db_err)?;
    Ok(given)
}
