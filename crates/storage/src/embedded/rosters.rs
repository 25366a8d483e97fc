//! Rosters in the embedded store: one record per organization (`master.rosters`) and the
//! reverse index of who belongs where (`master.user_organizations`), changed together in the
//! caller's transaction.

use orgsvc_domain::deletion::RosterTally;
use orgsvc_domain::errors::StoreError;
use orgsvc_domain::{Membership, OrganizationId, Roster, UserId};
use redb::{
    MultimapTableDefinition, ReadTransaction, ReadableMultimapTable, ReadableTable,
    TableDefinition, WriteTransaction,
};
use uuid::Uuid;

use super::records::{self, RecordTables};
use super::users;
use super::{corrupt, db_err};
use crate::roster::RosterRecord;

/// Organization id -> [`RosterRecord`].
pub const ROSTERS: TableDefinition<'static, u128, &'static [u8]> =
    TableDefinition::new("master.rosters");
/// User id -> the organizations whose roster lists them.
pub const USER_ORGANIZATIONS: MultimapTableDefinition<u128, u128> =
    MultimapTableDefinition::new("master.user_organizations");

pub fn uuid_of(raw: &str) -> Result<u128, StoreError> {
    Uuid::parse_str(raw)
        .map(|u| u.as_u128())
        .map_err(|e| corrupt("roster", e))
}

pub fn roster_record(
    txn: &impl RecordTables,
    organization: u128,
) -> Result<Option<RosterRecord>, StoreError> {
    let table = txn.records(ROSTERS).map_err(db_err)?;
    let found = table.get(organization).map_err(db_err)?;
    found
        .map(|bytes| records::from_bytes("roster", bytes.value()))
        .transpose()
}

pub fn read_roster(
    txn: &impl RecordTables,
    organization: u128,
) -> Result<Option<Roster>, StoreError> {
    roster_record(txn, organization)?
        .map(|r| r.into_domain(OrganizationId::from_uuid(Uuid::from_u128(organization))))
        .transpose()
}

pub fn memberships(txn: &ReadTransaction, user: u128) -> Result<Vec<Membership>, StoreError> {
    let organizations: Vec<u128> = txn
        .open_multimap_table(USER_ORGANIZATIONS)
        .map_err(db_err)?
        .get(user)
        .map_err(db_err)?
        .map(|org| org.map(|o| o.value()))
        .collect::<Result<_, _>>()
        .map_err(db_err)?;
    let user = UserId::from_uuid(Uuid::from_u128(user));
    let mut found = Vec::with_capacity(organizations.len());
    for organization in organizations {
        if let Some(role) = read_roster(txn, organization)?.and_then(|r| r.role_of(&user)) {
            found.push(Membership {
                organization_id: OrganizationId::from_uuid(Uuid::from_u128(organization)),
                role,
            });
        }
    }
    Ok(found)
}

/// Writes `record` as the organization's roster and brings the reverse index in line with it;
/// members who left and belong nowhere else are removed as users (answers how many).
pub fn write_roster(
    txn: &WriteTransaction,
    organization: u128,
    record: &RosterRecord,
    before: Option<&RosterRecord>,
) -> Result<u64, StoreError> {
    txn.open_table(ROSTERS)
        .map_err(db_err)?
        .insert(organization, records::to_bytes(record).as_slice())
        .map_err(db_err)?;
    let mut index = txn
        .open_multimap_table(USER_ORGANIZATIONS)
        .map_err(db_err)?;
    for user in record.user_ids() {
        index.insert(uuid_of(user)?, organization).map_err(db_err)?;
    }
    let staying: Vec<&str> = record.user_ids().collect();
    let departed = before
        .into_iter()
        .flat_map(RosterRecord::user_ids)
        .filter(|user| !staying.contains(user));
    let mut alone = Vec::new();
    for user in departed {
        let user = uuid_of(user)?;
        index.remove(user, organization).map_err(db_err)?;
        if index.get(user).map_err(db_err)?.next().is_none() {
            alone.push(user);
        }
    }
    drop(index);
    for &user in &alone {
        users::remove_user(txn, user)?;
    }
    Ok(alone.len() as u64)
}

/// Removes the roster with the organization: members who belong nowhere else go too. Answers
/// what the roster held and how many users went with it.
pub fn remove_roster(
    txn: &WriteTransaction,
    organization: u128,
) -> Result<(RosterTally, u64), StoreError> {
    let before = roster_record(txn, organization)?;
    let tally = before
        .clone()
        .map(|r| r.into_domain(OrganizationId::from_uuid(Uuid::from_u128(organization))))
        .transpose()?
        .as_ref()
        .map(RosterTally::of)
        .unwrap_or_default();
    let emptied = RosterRecord {
        version: 0,
        members: Vec::new(),
        invitations: Vec::new(),
        api_keys: Vec::new(),
        webhooks: Vec::new(),
    };
    let users = write_roster(txn, organization, &emptied, before.as_ref())?;
    txn.open_table(ROSTERS)
        .map_err(db_err)?
        .remove(organization)
        .map_err(db_err)?;
    Ok((tally, users))
}
