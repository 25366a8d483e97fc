//! The redb tables and the multi-table steps of each lifecycle operation. Every function here
//! runs inside a transaction its caller owns and commits.

use chrono::{DateTime, Utc};
use orgsvc_domain::deletion::{DeletionRecord, DeletionRequest, Removed};
use orgsvc_domain::errors::{DocumentError, StoreError, UpdateOrganizationError};
use orgsvc_domain::ports::OrganizationChange;
use orgsvc_domain::webhooks::NewEvent;
use orgsvc_domain::{Organization, OrganizationId, Permission};
use redb::{ReadTransaction, ReadableTable, TableDefinition, WriteTransaction};
use uuid::Uuid;

use super::records::{self, OrganizationRecord, RecordTables, Records};
use super::users::{self, USER_EMAILS};
use super::{corrupt, db_err, deletions, outbox, rosters};

/// Organization id -> [`OrganizationRecord`].
pub const ORGANIZATIONS: Records = TableDefinition::new("master.organizations");
/// Slug -> organization id: the uniqueness index of organization names.
pub const ORGANIZATION_SLUGS: TableDefinition<&str, u128> =
    TableDefinition::new("master.organization_slugs");
/// Account key (email) -> [`records::AttemptsRecord`]: the login throttle's counts.
pub const LOGIN_ATTEMPTS: TableDefinition<&str, &[u8]> =
    TableDefinition::new("master.login_attempts");

/// A tenant collection: document id (UUIDv7 as u128, so key order is insertion order) -> JSON.
pub fn tenant_table(name: &str) -> TableDefinition<'_, u128, &'static [u8]> {
    TableDefinition::new(name)
}

pub fn organization_record(
    txn: &impl RecordTables,
    id: u128,
) -> Result<Option<OrganizationRecord>, StoreError> {
    records::read(txn, ORGANIZATIONS, "organization", id)
}

/// The id a uniqueness index (slugs, emails) maps `key` to.
pub fn lookup(
    txn: &ReadTransaction,
    index: TableDefinition<&str, u128>,
    key: &str,
) -> Result<Option<u128>, StoreError> {
    let table = txn.open_table(index).map_err(db_err)?;
    let found = table.get(key).map_err(db_err)?;
    Ok(found.map(|id| id.value()))
}

pub fn read_organization(
    txn: &impl RecordTables,
    id: u128,
) -> Result<Option<Organization>, StoreError> {
    let Some(organization) = organization_record(txn, id)? else {
        return Ok(None);
    };
    // Shown with its longest-standing owner (its founder until that changes).
    let owner = rosters::read_roster(txn, id)?
        .and_then(|r| r.first_owner().map(|m| m.user_id.as_uuid().as_u128()))
        .unwrap_or(organization.admin_id);
    let owner = users::user_record(txn, owner)?
        .ok_or_else(|| corrupt("organization", "its owner is missing"))?;
    organization.into_domain(&owner).map(Some)
}

pub fn count_organizations(txn: &ReadTransaction) -> Result<u64, StoreError> {
    use redb::ReadableTableMetadata as _;
    txn.open_table(ORGANIZATIONS)
        .map_err(db_err)?
        .len()
        .map_err(db_err)
}

/// The name of the organization's current tenant table.
pub fn tenant_table_name(
    txn: &impl RecordTables,
    organization: u128,
) -> Result<String, DocumentError> {
    let record =
        organization_record(txn, organization)?.ok_or(DocumentError::OrganizationNotFound)?;
    Ok(record.name()?.slug().collection_name().as_str().to_owned())
}

/// Renames, re-addresses and re-keys as `change` asks; returns the organization as changed.
pub fn apply_change(
    txn: &WriteTransaction,
    change: &OrganizationChange,
) -> Result<Organization, UpdateOrganizationError> {
    let org_id = change.organization_id.as_uuid().as_u128();
    let user_id = change.user_id.as_uuid().as_u128();
    let mut organization =
        organization_record(txn, org_id)?.ok_or(UpdateOrganizationError::NotFound)?;
    let role = rosters::read_roster(txn, org_id)?.and_then(|r| r.role_of(&change.user_id));
    let mut user = users::user_record(txn, user_id)?
        .filter(|_| role.is_some())
        .ok_or(UpdateOrganizationError::NotFound)?;
    // The role as it is now, in this write transaction: not the one the token was issued with.
    let renaming = organization.name()? != change.name;
    if renaming && !role.is_some_and(|r| r.allows(Permission::RenameOrganization)) {
        return Err(UpdateOrganizationError::Forbidden);
    }

    let old_slug = organization.name()?.slug().clone();
    let new_slug = change.name.slug();
    if &old_slug != new_slug {
        let mut slugs = txn.open_table(ORGANIZATION_SLUGS).map_err(db_err)?;
        if slugs.get(new_slug.as_str()).map_err(db_err)?.is_some() {
            return Err(UpdateOrganizationError::NameTaken {
                slug: new_slug.clone(),
            });
        }
        slugs.remove(old_slug.as_str()).map_err(db_err)?;
        slugs.insert(new_slug.as_str(), org_id).map_err(db_err)?;
        move_tenant_table(
            txn,
            old_slug.collection_name().as_str(),
            new_slug.collection_name().as_str(),
        )?;
    }

    let mut credentials_changed = change.password_hash.is_some();
    if let Some(email) = change.email.as_ref().filter(|e| e.as_str() != user.email) {
        credentials_changed = true;
        let mut emails = txn.open_table(USER_EMAILS).map_err(db_err)?;
        if emails.get(email.as_str()).map_err(db_err)?.is_some() {
            return Err(UpdateOrganizationError::EmailTaken {
                email: email.clone(),
            });
        }
        emails.remove(user.email.as_str()).map_err(db_err)?;
        emails.insert(email.as_str(), user_id).map_err(db_err)?;
        user.email = email.as_str().to_owned();
    }
    if let Some(hash) = &change.password_hash {
        user.password_hash = hash.as_phc().to_owned();
    }
    if credentials_changed {
        user.token_version += 1;
    }

    if renaming {
        let renamed = NewEvent::organization_renamed(&organization.name, change.name.as_str());
        outbox::append(txn, org_id, vec![renamed])?;
    }
    organization.name = change.name.as_str().to_owned();
    organization.updated_at = change.updated_at;
    txn.open_table(ORGANIZATIONS)
        .map_err(db_err)?
        .insert(org_id, records::to_bytes(&organization).as_slice())
        .map_err(db_err)?;
    users::write_user(txn, &user)?;
    read_organization(txn, org_id)?.ok_or(UpdateOrganizationError::NotFound)
}

/// Reads, changes and writes back one account's login attempts.
pub fn update_attempts<T>(
    txn: &WriteTransaction,
    key: &str,
    change: impl FnOnce(&mut records::AttemptsRecord) -> T,
) -> Result<T, StoreError> {
    let mut table = txn.open_table(LOGIN_ATTEMPTS).map_err(db_err)?;
    let mut attempts: records::AttemptsRecord = match table.get(key).map_err(db_err)? {
        Some(bytes) => records::from_bytes("login attempts", bytes.value())?,
        None => records::AttemptsRecord::default(),
    };
    let answer = change(&mut attempts);
    table
        .insert(key, records::to_bytes(&attempts).as_slice())
        .map_err(db_err)?;
    Ok(answer)
}

/// Copies every document to a new table and deletes the old one. Atomic because the caller's
/// transaction commits both or neither.
fn move_tenant_table(txn: &WriteTransaction, from: &str, to: &str) -> Result<(), StoreError> {
    {
        let source = txn.open_table(tenant_table(from)).map_err(db_err)?;
        let mut target = txn.open_table(tenant_table(to)).map_err(db_err)?;
        for entry in source.iter().map_err(db_err)? {
            let (id, document) = entry.map_err(db_err)?;
            target
                .insert(id.value(), document.value())
                .map_err(db_err)?;
        }
    }
    txn.delete_table(tenant_table(from)).map_err(db_err)?;
    Ok(())
}

/// Removes the organization with its roster (and the members who belong nowhere else) and its
/// tenant table, and keeps the record of what went; `None` when there was no such
/// organization.
pub fn remove_organization(
    txn: &WriteTransaction,
    id: u128,
    request: &DeletionRequest,
    now: DateTime<Utc>,
) -> Result<Option<DeletionRecord>, StoreError> {
    use redb::ReadableTableMetadata as _;
    let Some(organization) = organization_record(txn, id)? else {
        return Ok(None);
    };
    let slug = organization.name()?.slug().clone();
    txn.open_table(ORGANIZATIONS)
        .map_err(db_err)?
        .remove(id)
        .map_err(db_err)?;
    txn.open_table(ORGANIZATION_SLUGS)
        .map_err(db_err)?
        .remove(slug.as_str())
        .map_err(db_err)?;
    let endpoints = rosters::roster_record(txn, id)?
        .map(|r| r.webhooks)
        .unwrap_or_default();
    outbox::deleted(txn, id, &organization.name, &request.receipt_id, endpoints)?;
    let (roster, users) = rosters::remove_roster(txn, id)?;
    let collection = slug.collection_name().as_str().to_owned();
    let documents = txn
        .open_table(tenant_table(&collection))
        .map_err(db_err)?
        .len()
        .map_err(db_err)?;
    txn.delete_table(tenant_table(&collection))
        .map_err(db_err)?;
    let record = DeletionRecord {
        id: request.receipt_id,
        organization_id: OrganizationId::from_uuid(Uuid::from_u128(id)),
        organization_name: organization.name.clone(),
        requested_by: request.requested_by,
        requested_at: request.requested_at,
        completed_at: now,
        removed: Removed {
            placement: organization.placement(),
            collection,
            documents,
            roster,
            users,
        },
        last_export_sha256: organization.last_export_sha256.clone(),
        expires_at: now + request.retention,
    };
    deletions::keep(txn, &record, now)?;
    Ok(Some(record))
}
