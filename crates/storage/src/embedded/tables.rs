//! The redb tables and the multi-table steps of each lifecycle operation. Every function here
//! runs inside a transaction its caller owns and commits.

use orgsvc_domain::errors::{DocumentError, StoreError, UpdateOrganizationError};
use orgsvc_domain::ports::OrganizationChange;
use orgsvc_domain::webhooks::NewEvent;
use orgsvc_domain::{Organization, Permission, User};
use redb::{
    MultimapTableDefinition, ReadTransaction, ReadableTable, TableDefinition, TableError,
    WriteTransaction,
};

use super::records::{self, AdminRecord, OrganizationRecord};
use super::{corrupt, db_err, outbox, rosters};

type Records = TableDefinition<'static, u128, &'static [u8]>;

/// Organization id -> [`OrganizationRecord`].
pub const ORGANIZATIONS: Records = TableDefinition::new("master.organizations");
/// Slug -> organization id: the uniqueness index of organization names.
pub const ORGANIZATION_SLUGS: TableDefinition<&str, u128> =
    TableDefinition::new("master.organization_slugs");
/// Admin id -> [`AdminRecord`].
pub const ADMINS: Records = TableDefinition::new("master.admins");
/// Email -> admin id: the uniqueness index of admin emails.
pub const ADMIN_EMAILS: TableDefinition<&str, u128> = TableDefinition::new("master.admin_emails");
/// Account key (email) -> [`records::AttemptsRecord`]: the login throttle's counts.
pub const LOGIN_ATTEMPTS: TableDefinition<&str, &[u8]> =
    TableDefinition::new("master.login_attempts");
/// Organization id -> its admin's id: written by versions before rosters, emptied into rosters
/// when the file is opened (`rosters::migrate`).
pub const ORGANIZATION_ADMINS: MultimapTableDefinition<u128, u128> =
    MultimapTableDefinition::new("master.organization_admins");

/// A tenant collection: document id (UUIDv7 as u128, so key order is insertion order) -> JSON.
pub fn tenant_table(name: &str) -> TableDefinition<'_, u128, &'static [u8]> {
    TableDefinition::new(name)
}

pub fn create_master_tables(txn: &WriteTransaction) -> Result<(), TableError> {
    txn.open_table(ORGANIZATIONS)?;
    txn.open_table(ORGANIZATION_SLUGS)?;
    txn.open_table(ADMINS)?;
    txn.open_table(ADMIN_EMAILS)?;
    txn.open_multimap_table(ORGANIZATION_ADMINS)?;
    txn.open_table(LOGIN_ATTEMPTS)?;
    txn.open_table(rosters::ROSTERS)?;
    txn.open_multimap_table(rosters::USER_ORGANIZATIONS)?;
    txn.open_table(outbox::OUTBOX_EVENTS)?;
    txn.open_table(outbox::OUTBOX_STATES)?;
    Ok(())
}

/// Read access to the record tables in either kind of transaction.
pub trait RecordTables {
    fn records(
        &self,
        table: Records,
    ) -> Result<impl ReadableTable<u128, &'static [u8]> + '_, TableError>;
}

impl RecordTables for ReadTransaction {
    fn records(
        &self,
        table: Records,
    ) -> Result<impl ReadableTable<u128, &'static [u8]> + '_, TableError> {
        self.open_table(table)
    }
}

impl RecordTables for WriteTransaction {
    fn records(
        &self,
        table: Records,
    ) -> Result<impl ReadableTable<u128, &'static [u8]> + '_, TableError> {
        self.open_table(table)
    }
}

fn get<R: for<'de> serde::Deserialize<'de>>(
    txn: &impl RecordTables,
    table: Records,
    what: &str,
    id: u128,
) -> Result<Option<R>, StoreError> {
    let table = txn.records(table).map_err(db_err)?;
    let found = table.get(id).map_err(db_err)?;
    found
        .map(|bytes| records::from_bytes(what, bytes.value()))
        .transpose()
}

pub fn organization_record(
    txn: &impl RecordTables,
    id: u128,
) -> Result<Option<OrganizationRecord>, StoreError> {
    get(txn, ORGANIZATIONS, "organization", id)
}

fn admin_record(txn: &impl RecordTables, id: u128) -> Result<Option<AdminRecord>, StoreError> {
    get(txn, ADMINS, "admin", id)
}

/// Records a new user with its email index entry; `false` (nothing written) when the email is
/// taken.
pub fn insert_admin(txn: &WriteTransaction, admin: &AdminRecord) -> Result<bool, StoreError> {
    let mut emails = txn.open_table(ADMIN_EMAILS).map_err(db_err)?;
    if emails.get(admin.email.as_str()).map_err(db_err)?.is_some() {
        return Ok(false);
    }
    emails
        .insert(admin.email.as_str(), admin.id)
        .map_err(db_err)?;
    txn.open_table(ADMINS)
        .map_err(db_err)?
        .insert(admin.id, records::to_bytes(admin).as_slice())
        .map_err(db_err)?;
    Ok(true)
}

/// Removes a user and its email index entry (nothing when there is no such user).
pub fn remove_admin(txn: &WriteTransaction, id: u128) -> Result<(), StoreError> {
    let removed = txn
        .open_table(ADMINS)
        .map_err(db_err)?
        .remove(id)
        .map_err(db_err)?
        .map(|bytes| records::from_bytes::<AdminRecord>("admin", bytes.value()))
        .transpose()?;
    if let Some(admin) = removed {
        txn.open_table(ADMIN_EMAILS)
            .map_err(db_err)?
            .remove(admin.email.as_str())
            .map_err(db_err)?;
    }
    Ok(())
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
    let admin =
        admin_record(txn, owner)?.ok_or_else(|| corrupt("organization", "its owner is missing"))?;
    organization.into_domain(&admin).map(Some)
}

pub fn count_organizations(txn: &ReadTransaction) -> Result<u64, StoreError> {
    use redb::ReadableTableMetadata as _;
    txn.open_table(ORGANIZATIONS)
        .map_err(db_err)?
        .len()
        .map_err(db_err)
}

pub fn read_admin(txn: &impl RecordTables, id: u128) -> Result<Option<User>, StoreError> {
    admin_record(txn, id)?
        .map(AdminRecord::into_domain)
        .transpose()
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
    let admin_id = change.user_id.as_uuid().as_u128();
    let mut organization =
        organization_record(txn, org_id)?.ok_or(UpdateOrganizationError::NotFound)?;
    let role = rosters::read_roster(txn, org_id)?.and_then(|r| r.role_of(&change.user_id));
    let mut admin = admin_record(txn, admin_id)?
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
    if let Some(email) = change.email.as_ref().filter(|e| e.as_str() != admin.email) {
        credentials_changed = true;
        let mut emails = txn.open_table(ADMIN_EMAILS).map_err(db_err)?;
        if emails.get(email.as_str()).map_err(db_err)?.is_some() {
            return Err(UpdateOrganizationError::EmailTaken {
                email: email.clone(),
            });
        }
        emails.remove(admin.email.as_str()).map_err(db_err)?;
        emails.insert(email.as_str(), admin_id).map_err(db_err)?;
        admin.email = email.as_str().to_owned();
    }
    if let Some(hash) = &change.password_hash {
        admin.password_hash = hash.as_phc().to_owned();
    }
    if credentials_changed {
        admin.token_version += 1;
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
    txn.open_table(ADMINS)
        .map_err(db_err)?
        .insert(admin_id, records::to_bytes(&admin).as_slice())
        .map_err(db_err)?;
    read_organization(txn, org_id)?.ok_or(UpdateOrganizationError::NotFound)
}

/// Raises an admin's token version; `false` when there is no such admin.
pub fn revoke_tokens(txn: &WriteTransaction, id: u128) -> Result<bool, StoreError> {
    let Some(mut admin) = admin_record(txn, id)? else {
        return Ok(false);
    };
    admin.token_version += 1;
    txn.open_table(ADMINS)
        .map_err(db_err)?
        .insert(id, records::to_bytes(&admin).as_slice())
        .map_err(db_err)?;
    Ok(true)
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
/// tenant table.
/// Returns `false` when there was no such organization.
pub fn remove_organization(txn: &WriteTransaction, id: u128) -> Result<bool, StoreError> {
    let Some(organization) = organization_record(txn, id)? else {
        return Ok(false);
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
    txn.open_multimap_table(ORGANIZATION_ADMINS)
        .map_err(db_err)?
        .remove_all(id)
        .map_err(db_err)?;
    let endpoints = rosters::roster_record(txn, id)?
        .map(|r| r.webhooks)
        .unwrap_or_default();
    outbox::deleted(txn, id, &organization.name, endpoints)?;
    rosters::remove_roster(txn, id)?;
    txn.delete_table(tenant_table(slug.collection_name().as_str()))
        .map_err(db_err)?;
    Ok(true)
}
