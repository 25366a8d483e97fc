//! Users in the embedded store: their records and the uniqueness index of their emails. The
//! table names keep the word "admin" of the first releases, which wrote them.

use orgsvc_domain::errors::StoreError;
use orgsvc_domain::User;
use redb::{ReadableTable, TableDefinition, WriteTransaction};

use super::db_err;
use super::records::{self, RecordTables, Records, UserRecord};

/// User id -> [`UserRecord`].
pub const USERS: Records = TableDefinition::new("master.admins");
/// Email -> user id: the uniqueness index of emails.
pub const USER_EMAILS: TableDefinition<&str, u128> = TableDefinition::new("master.admin_emails");

pub fn user_record(txn: &impl RecordTables, id: u128) -> Result<Option<UserRecord>, StoreError> {
    records::read(txn, USERS, "user", id)
}

pub fn read_user(txn: &impl RecordTables, id: u128) -> Result<Option<User>, StoreError> {
    user_record(txn, id)?
        .map(UserRecord::into_domain)
        .transpose()
}

/// Writes `user`'s record (its email index entry stays as it is).
pub fn write_user(txn: &WriteTransaction, user: &UserRecord) -> Result<(), StoreError> {
    txn.open_table(USERS)
        .map_err(db_err)?
        .insert(user.id, records::to_bytes(user).as_slice())
        .map_err(db_err)?;
    Ok(())
}

/// Records a new user with its email index entry; `false` (nothing written) when the email is
/// taken.
pub fn insert_user(txn: &WriteTransaction, user: &UserRecord) -> Result<bool, StoreError> {
    let mut emails = txn.open_table(USER_EMAILS).map_err(db_err)?;
    if emails.get(user.email.as_str()).map_err(db_err)?.is_some() {
        return Ok(false);
    }
    emails
        .insert(user.email.as_str(), user.id)
        .map_err(db_err)?;
    drop(emails);
    write_user(txn, user)?;
    Ok(true)
}

/// Removes a user and its email index entry (nothing when there is no such user).
pub fn remove_user(txn: &WriteTransaction, id: u128) -> Result<(), StoreError> {
    let removed = txn
        .open_table(USERS)
        .map_err(db_err)?
        .remove(id)
        .map_err(db_err)?
        .map(|bytes| records::from_bytes::<UserRecord>("user", bytes.value()))
        .transpose()?;
    if let Some(user) = removed {
        txn.open_table(USER_EMAILS)
            .map_err(db_err)?
            .remove(user.email.as_str())
            .map_err(db_err)?;
    }
    Ok(())
}

/// Raises a user's token version; `false` when there is no such user.
pub fn revoke_tokens(txn: &WriteTransaction, id: u128) -> Result<bool, StoreError> {
    let Some(mut user) = user_record(txn, id)? else {
        return Ok(false);
    };
    user.token_version += 1;
    write_user(txn, &user)?;
    Ok(true)
}
