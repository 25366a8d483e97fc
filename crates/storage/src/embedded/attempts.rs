//! The login throttle's counts in the `master.login_attempts` table.

use chrono::{DateTime, Utc};
use orgsvc_domain::errors::StoreError;
use orgsvc_domain::ports::{Admission, AttemptKey, LoginAttempts};

use super::{db_err, tables, EmbeddedStore};

/// Each call is one write transaction, so concurrent attempts are numbered one after another.
impl LoginAttempts for EmbeddedStore {
    async fn begin_login_attempt(
        &self,
        key: &AttemptKey,
        now: DateTime<Utc>,
    ) -> Result<Admission, StoreError> {
        let key = key.clone();
        self.write(move |txn| {
            tables::update_attempts(txn, key.as_str(), |attempts| {
                if let Some(until) = attempts.locked_until.filter(|until| *until > now) {
                    return Admission::Locked { until };
                }
                let previous_at = attempts.last_at.replace(now);
                attempts.count += 1;
                Admission::Admitted {
                    attempt: attempts.count,
                    locks: attempts.locks,
                    previous_at,
                }
            })
        })
        .await
    }

    async fn lock_login(&self, key: &AttemptKey, until: DateTime<Utc>) -> Result<(), StoreError> {
        let key = key.clone();
        self.write(move |txn| {
            tables::update_attempts(txn, key.as_str(), |attempts| {
                attempts.count = 0;
                attempts.last_at = None;
                attempts.locks += 1;
                attempts.locked_until = Some(until);
            })
        })
        .await
    }

    async fn release_login_attempts(&self, keys: &[AttemptKey]) -> Result<(), StoreError> {
        let keys = keys.to_vec();
        self.write(move |txn| {
            for key in &keys {
                tables::update_attempts(txn, key.as_str(), |attempts| {
                    attempts.count = attempts.count.saturating_sub(1);
                })?;
            }
            Ok(())
        })
        .await
    }

    async fn clear_login_attempts(&self, keys: &[AttemptKey]) -> Result<(), StoreError> {
        let keys = keys.to_vec();
        self.write(move |txn| {
            let mut table = txn.open_table(tables::LOGIN_ATTEMPTS).map_err(db_err)?;
            for key in &keys {
                table.remove(key.as_str()).map_err(db_err)?;
            }
            Ok(())
        })
        .await
    }
}
