//! Driver errors, sorted into what the adapter acts on. Nothing here leaves the crate: callers
//! turn a [`DbError`] into the domain's variants.

use std::future::{Future, IntoFuture};
use std::time::Duration;

use mongodb::error::{Error, ErrorKind, WriteFailure};
use orgsvc_domain::errors::StoreError;

pub const DUPLICATE_KEY: i32 = 11000;
pub const NAMESPACE_EXISTS: i32 = 48;
pub const NAMESPACE_NOT_FOUND: i32 = 26;
pub const NOT_IMPLEMENTED: i32 = 238;

/// Server codes that mean "not now": shutdown, stepdown, no primary, network trouble, and an
/// operation that ran out of time on the server (50, MaxTimeMSExpired).
const UNAVAILABLE_CODES: &[i32] = &[6, 7, 50, 89, 91, 189, 10107, 11600, 11602, 13435, 13436];

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("duplicate key")]
    Duplicate,
    /// A transaction met a concurrent one: it may be run again from its start.
    #[error("transaction conflict")]
    TransactionConflict,
    #[error("namespace exists")]
    NamespaceExists,
    #[error("namespace not found")]
    NamespaceNotFound,
    /// The server does not implement the command or option (some hosted servers: collection
    /// validators).
    #[error("not implemented by this server")]
    NotImplemented(#[source] anyhow::Error),
    #[error("database unavailable")]
    Unavailable(#[source] anyhow::Error),
    #[error("database operation failed")]
    Other(#[source] anyhow::Error),
}

impl From<DbError> for StoreError {
    fn from(error: DbError) -> Self {
        match error {
            DbError::Unavailable(cause) => Self::Unavailable(cause),
            other => Self::Unknown(other.into()),
        }
    }
}

impl From<Error> for DbError {
    fn from(error: Error) -> Self {
        classify(error)
    }
}

/// The server's error code, where the error carries one.
pub fn code(error: &Error) -> Option<i32> {
    match error.kind.as_ref() {
        ErrorKind::Command(command) => Some(command.code),
        ErrorKind::Write(WriteFailure::WriteError(write)) => Some(write.code),
        ErrorKind::InsertMany(insert) => {
            let codes: Vec<i32> = insert
                .write_errors
                .iter()
                .flatten()
                .map(|e| e.code)
                .collect();
            // Only "all duplicates" counts as a duplicate; anything else is its own failure.
            match codes.first() {
                Some(&first) if codes.iter().all(|&c| c == first) => Some(first),
                _ => None,
            }
        }
        _ => None,
    }
}

/// A read of a collection that does not exist finds nothing, as on MongoDB.
pub fn absent_as<T>(result: Result<T, DbError>, nothing: T) -> Result<T, DbError> {
    match result {
        Err(DbError::NamespaceNotFound) => Ok(nothing),
        other => other,
    }
}

fn classify(error: Error) -> DbError {
    if super::transaction::is_transient(&error) {
        return DbError::TransactionConflict;
    }
    let unavailable = matches!(
        error.kind.as_ref(),
        ErrorKind::ServerSelection { .. }
            | ErrorKind::Io(_)
            | ErrorKind::ConnectionPoolCleared { .. }
    ) || error.contains_label("RetryableWriteError");
    match code(&error) {
        Some(DUPLICATE_KEY) => DbError::Duplicate,
        Some(NAMESPACE_EXISTS) => DbError::NamespaceExists,
        Some(NAMESPACE_NOT_FOUND) => DbError::NamespaceNotFound,
        Some(NOT_IMPLEMENTED) => DbError::NotImplemented(error.into()),
        Some(c) if UNAVAILABLE_CODES.contains(&c) => DbError::Unavailable(error.into()),
        _ if unavailable => DbError::Unavailable(error.into()),
        _ => DbError::Other(error.into()),
    }
}

/// Runs one driver operation within `limit`; running out of time counts as unavailable, so no
/// request waits on the database for longer than that.
pub async fn timed<T, F>(limit: Duration, operation: F) -> Result<T, DbError>
where
    F: IntoFuture<Output = mongodb::error::Result<T>>,
    F::IntoFuture: Future + Send,
{
    match tokio::time::timeout(limit, operation.into_future()).await {
        Ok(result) => result.map_err(DbError::from),
        Err(_) => Err(DbError::Unavailable(anyhow::anyhow!(
            "database operation timed out after {limit:?}"
        ))),
    }
}
