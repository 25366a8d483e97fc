//! Multi-document transactions, for invariants that span documents and involve no DDL (a roster
//! and the users it adds or removes; a batch of tenant documents rewritten by a migration).
//!
//! [`MongoStore::transaction`] runs its body from the start again when the server reports a
//! conflict with a concurrent transaction, and retries a commit whose outcome is unknown, as
//! MongoDB's driver specification says. DocumentDB differs in two ways handled here: a write
//! conflict (112) comes without the `TransientTransactionError` label, so the code counts as
//! well; and a duplicate key does not abort the transaction, so every failed body is aborted
//! explicitly rather than left to the server.

use std::future::Future;
use std::time::Duration;

use mongodb::error::{Error, TRANSIENT_TRANSACTION_ERROR, UNKNOWN_TRANSACTION_COMMIT_RESULT};
use mongodb::{Client, ClientSession};
use orgsvc_domain::errors::StoreError;

use super::errors::{timed, DbError};
use super::MongoStore;

/// MongoDB's WriteConflict.
pub const WRITE_CONFLICT: i32 = 112;

/// Bodies run at most this often before the caller is told to retry later: only many
/// concurrent changes of the same documents get near it.
const ATTEMPTS: u32 = 12;

/// Why a transaction's body stopped.
pub(super) enum Abort<E> {
    /// A concurrent transaction wrote the same documents: run the body again.
    Conflict,
    /// The change is refused or failed: abort and answer this.
    Failed(E),
}

impl<E: From<StoreError>> From<DbError> for Abort<E> {
    fn from(error: DbError) -> Self {
        match error {
            DbError::TransactionConflict => Self::Conflict,
            other => Self::Failed(StoreError::from(other).into()),
        }
    }
}

/// Whether the whole transaction may be run again.
pub fn is_transient(error: &Error) -> bool {
    error.contains_label(TRANSIENT_TRANSACTION_ERROR)
        || super::errors::code(error) == Some(WRITE_CONFLICT)
}

impl MongoStore {
    /// Runs `body` in a transaction on the master database's cluster and commits it. The body
    /// gets the session and hands it back with its outcome (so it can borrow nothing of it).
    pub(super) async fn transaction<T, E, F, Fut>(&self, body: F) -> Result<T, E>
    where
        E: From<StoreError>,
        F: FnMut(ClientSession) -> Fut,
        Fut: Future<Output = (ClientSession, Result<T, Abort<E>>)>,
    {
        self.transaction_on(self.master_client(), body).await
    }

    /// [`Self::transaction`] on the cluster of `client`.
    pub(super) async fn transaction_on<T, E, F, Fut>(
        &self,
        client: &Client,
        mut body: F,
    ) -> Result<T, E>
    where
        E: From<StoreError>,
        F: FnMut(ClientSession) -> Fut,
        Fut: Future<Output = (ClientSession, Result<T, Abort<E>>)>,
    {
        let limit = self.op_timeout();
        let mut pause = Duration::from_millis(2);
        for _ in 0..ATTEMPTS {
            let mut session = timed(limit, client.start_session())
                .await
                .map_err(StoreError::from)?;
            timed(limit, session.start_transaction())
                .await
                .map_err(StoreError::from)?;
            let (mut session, outcome) = body(session).await;
            match outcome {
                Ok(value) => match self.commit(&mut session).await {
                    Ok(()) => return Ok(value),
                    Err(DbError::TransactionConflict) => {}
                    Err(e) => return Err(StoreError::from(e).into()),
                },
                Err(abort) => {
                    // Best effort: a transaction nobody commits ends by itself on the server.
                    let _ = timed(limit, session.abort_transaction()).await;
                    if let Abort::Failed(e) = abort {
                        return Err(e);
                    }
                }
            }
            // Conflicting transactions that start again at once tend to meet again.
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(100));
        }
        Err(StoreError::Unavailable(anyhow::anyhow!(
            "too many concurrent changes of the same records; retry"
        ))
        .into())
    }

    /// Commits, again while the outcome is unknown (the commit is idempotent).
    async fn commit(&self, session: &mut ClientSession) -> Result<(), DbError> {
        let limit = self.op_timeout();
        let mut tries = 0;
        loop {
            match tokio::time::timeout(limit, session.commit_transaction()).await {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(e)) if e.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT) && tries < 3 => {
                    tries += 1;
                }
                Ok(Err(e)) => return Err(DbError::from(e)),
                Err(_) => {
                    return Err(DbError::Unavailable(anyhow::anyhow!(
                        "committing a transaction timed out after {limit:?}"
                    )))
                }
            }
        }
    }
}
