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
    #[error("namespace exists")]
    NamespaceExists,
    #[error("namespace not found")]
    NamespaceNotFound,
    /// The server does not implement the command or option (FerretDB: TTL indexes).
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
fn code(error: &Error) -> Option<i32> {
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

/// FerretDB 1.x on SQLite reports a unique-index violation by an *update* as InternalError
/// (code 1) carrying SQLite's message instead of MongoDB's 11000; inserts report 11000.
fn ferretdb_unique_violation(error: &Error) -> bool {
    matches!(error.kind.as_ref(), ErrorKind::Command(c) if c.code == 1 && c.message.contains("UNIQUE constraint failed"))
}

/// FerretDB 1.x reports a query that ran out of time (seen right after a restart, under load)
/// as InternalError (code 1) with "context canceled" from its MaxTimeMS handler, not as
/// MaxTimeMSExpired (50). Found by the load test across a database restart, as a 500.
fn ferretdb_timeout(error: &Error) -> bool {
    matches!(error.kind.as_ref(), ErrorKind::Command(c) if c.code == 1
        && (c.message.contains("context canceled") || c.message.contains("MaxTimeMS")))
}

/// FerretDB 1.x on SQLite reports a collection renamed or dropped between its lookup of the
/// collection and its query as InternalError (code 1) "no such table", where MongoDB would act
/// on the collection as it is then. Found by the scale-out test, as a 500 on a write racing a
/// rename on another instance.
fn ferretdb_missing_table(error: &Error) -> bool {
    matches!(error.kind.as_ref(), ErrorKind::Command(c) if c.code == 1 && c.message.contains("no such table"))
}

/// A read of a collection that does not exist finds nothing, as on MongoDB.
pub fn absent_as<T>(result: Result<T, DbError>, nothing: T) -> Result<T, DbError> {
    match result {
        Err(DbError::NamespaceNotFound) => Ok(nothing),
        other => other,
    }
}

fn classify(error: Error) -> DbError {
    if ferretdb_unique_violation(&error) {
        return DbError::Duplicate;
    }
    if ferretdb_missing_table(&error) {
        return DbError::NamespaceNotFound;
    }
    if ferretdb_timeout(&error) {
        return DbError::Unavailable(error.into());
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
