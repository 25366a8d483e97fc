//! The lockout that guards every password check (logins, invitation accepts, the current
//! password of a credential change), counted twice:
//!
//! - per account and client address: a few failures lock that pair, for longer each time, so an
//!   attacker guessing from one address locks only themselves out;
//! - per account from every address together: a larger number of failures delays the account for
//!   a short while, which bounds guessing spread over many addresses without letting anyone shut
//!   its owner out for long.
//!
//! A success clears both counts of the address it came from.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::audit::{AuditAction, Origin, Outcome};
use crate::errors::HashError;
use crate::ports::prelude::*;
use crate::ports::{Admission, AttemptKey};
use crate::service::audit::Subject;
use crate::service::{
    LoginError, MemberError, Ports, Service, StoreError, UpdateOrganizationError,
};
use crate::user::{EmailAddress, Password, User};

/// When repeated wrong passwords lock a key, and for how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockPolicy {
    /// Consecutive failures that lock the key.
    pub max_failures: u32,
    /// The first lock; each further lock (without a success between) doubles it.
    pub lockout: Duration,
    /// The longest a lock lasts.
    pub max_lockout: Duration,
}

impl LockPolicy {
    /// How long the key is locked after `locks` earlier locks.
    #[must_use]
    pub fn lock_duration(&self, locks: u32) -> Duration {
        let factor = 1u32.checked_shl(locks).unwrap_or(u32::MAX);
        self.lockout
            .checked_mul(factor)
            .unwrap_or(self.max_lockout)
            .min(self.max_lockout)
    }
}

/// The two counts every password check goes through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoginPolicy {
    /// Per account and client address.
    pub per_address: LockPolicy,
    /// Per account, all addresses together: more failures before it acts, and short locks.
    pub per_account: LockPolicy,
}

impl Default for LoginPolicy {
    fn default() -> Self {
        Self {
            per_address: LockPolicy {
                max_failures: 5,
                lockout: Duration::from_secs(60),
                max_lockout: Duration::from_secs(3600),
            },
            per_account: LockPolicy {
                max_failures: 20,
                lockout: Duration::from_secs(15),
                max_lockout: Duration::from_secs(60),
            },
        }
    }
}

/// Which count a lock was set on, as the audit log names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum LockScope {
    Address,
    Account,
}

impl LockScope {
    const fn as_str(self) -> &'static str {
        match self {
            Self::Address => "address",
            Self::Account => "account",
        }
    }
}

/// Why a password check did not pass.
#[derive(Debug)]
pub(super) enum Refusal {
    /// Wrong password (or unknown account): counted as a failure; `locked` lists the locks this
    /// failure set.
    Wrong {
        locked: Vec<(LockScope, DateTime<Utc>)>,
    },
    Locked {
        retry_after_seconds: u64,
    },
    Overloaded,
    Store(StoreError),
    Failed(anyhow::Error),
}

impl From<StoreError> for Refusal {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

impl From<HashError> for Refusal {
    fn from(error: HashError) -> Self {
        match error {
            HashError::Overloaded => Self::Overloaded,
            HashError::Failed(cause) => Self::Failed(cause),
        }
    }
}

/// A refused password check as an operation's error; only what a wrong password means differs.
macro_rules! from_refusal {
    ($($error:ident: wrong password => $wrong:ident),+ $(,)?) => {$(
        impl From<Refusal> for $error {
            fn from(refusal: Refusal) -> Self {
                match refusal {
                    Refusal::Wrong { .. } => Self::$wrong,
                    Refusal::Locked {
                        retry_after_seconds,
                    } => Self::Locked {
                        retry_after_seconds,
                    },
                    Refusal::Overloaded => Self::Overloaded,
                    Refusal::Store(e) => Self::Store(e),
                    Refusal::Failed(e) => Self::Unknown(e),
                }
            }
        }
    )+};
}

from_refusal!(
    LoginError: wrong password => InvalidCredentials,
    UpdateOrganizationError: wrong password => CurrentPasswordRequired,
    MemberError: wrong password => InvalidCredentials,
);

/// `Retry-After` for an attempt refused because a key's limit of attempts is in flight.
const IN_FLIGHT_RETRY_SECONDS: u64 = 1;

/// Whole seconds from `now` until `until`, at least 1 (a `Retry-After` of 0 invites a storm).
fn seconds_until(now: DateTime<Utc>, until: DateTime<Utc>) -> u64 {
    let millis = u64::try_from((until - now).num_milliseconds()).unwrap_or(0);
    millis.div_ceil(1000).max(1)
}

fn chrono_duration(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

/// An attempt counted on one key: its number and the key's locks so far.
#[derive(Clone, Copy)]
struct Counted {
    attempt: u32,
    locks: u32,
}

impl<P: Ports> Service<P> {
    /// Verifies `password` for the account `email` (whose user, if any, is `user`) behind both
    /// counts, auditing a failure like a failed login: a locked key is refused without hashing;
    /// the attempt is counted before hashing, so parallel guesses cannot exceed a limit.
    pub(super) async fn check_password(
        &self,
        origin: &Origin,
        email: &EmailAddress,
        user: Option<&User>,
        password: &Password,
        subject: Subject,
    ) -> Result<(), Refusal> {
        let refusal = self.verify_throttled(origin, email, user, password).await;
        let failed = |reason: &str| json!({"email": email.as_str(), "reason": reason});
        let reason = match &refusal {
            Ok(()) | Err(Refusal::Overloaded | Refusal::Store(_) | Refusal::Failed(_)) => {
                return refusal
            }
            Err(Refusal::Wrong { .. }) => "wrong_password",
            Err(Refusal::Locked { .. }) => "locked",
        };
        self.audit(
            origin,
            subject,
            AuditAction::LoginFailed,
            Outcome::Failure,
            failed(reason),
        )
        .await;
        if let Err(Refusal::Wrong { locked }) = &refusal {
            for (scope, until) in locked {
                let details = json!({
                    "email": email.as_str(),
                    "scope": scope.as_str(),
                    "locked_until": until.to_rfc3339(),
                });
                self.audit(
                    origin,
                    subject,
                    AuditAction::AccountLocked,
                    Outcome::Success,
                    details,
                )
                .await;
            }
        }
        refusal
    }

    /// Forgets what was counted against `email` before it had an account: guesses at an email
    /// nobody had (counted like any, so answers do not tell which exist) must not lock out the
    /// person who then signs up with it. Counts from other addresses than the signup's stay:
    /// they hold back only those addresses. A failure is ignored: the account exists either
    /// way, and a lock left behind runs out by itself.
    pub(super) async fn forget_attempts_before_signup(
        &self,
        origin: &Origin,
        email: &EmailAddress,
    ) {
        let _ = self.store.clear_login_attempts(&keys(origin, email)).await;
    }

    /// [`Self::check_password`] without the audit trail.
    async fn verify_throttled(
        &self,
        origin: &Origin,
        email: &EmailAddress,
        user: Option<&User>,
        password: &Password,
    ) -> Result<(), Refusal> {
        let policy = self.login_policy;
        let now = self.clock.now();
        let [address_key, account_key] = keys(origin, email);
        // The address first: guesses from a locked address are refused before they reach the
        // account's count, so they cannot delay the account for its owner.
        let address = self.admit(&policy.per_address, &address_key, now).await?;
        let account = match self.admit(&policy.per_account, &account_key, now).await {
            Ok(counted) => counted,
            Err(refused) => {
                self.release(&[address_key]).await;
                return Err(refused);
            }
        };
        let verified = self
            .hasher
            .verify(password, user.map(|user| &user.password_hash))
            .await;
        let matches = match verified {
            Ok(matches) => matches,
            Err(busy_or_failed) => {
                self.release(&[address_key, account_key]).await;
                return Err(busy_or_failed.into());
            }
        };
        if matches && user.is_some() {
            self.store
                .clear_login_attempts(&[address_key, account_key])
                .await?;
            return Ok(());
        }
        let mut locked = Vec::new();
        for (scope, limit, key, counted) in [
            (
                LockScope::Address,
                &policy.per_address,
                &address_key,
                address,
            ),
            (
                LockScope::Account,
                &policy.per_account,
                &account_key,
                account,
            ),
        ] {
            if counted.attempt >= limit.max_failures {
                let until = now + chrono_duration(limit.lock_duration(counted.locks));
                self.store.lock_login(key, until).await?;
                locked.push((scope, until));
            }
        }
        Err(Refusal::Wrong { locked })
    }

    /// Takes back attempts that were counted but never checked. A failure is ignored: the
    /// count then stays one higher until the next success or lock, which errs on the safe side.
    async fn release(&self, keys: &[AttemptKey]) {
        let _ = self.store.release_login_attempts(keys).await;
    }

    /// Counts an attempt on `key`, or refuses it while `key` is locked or its limit's worth of
    /// attempts is in flight.
    async fn admit(
        &self,
        limit: &LockPolicy,
        key: &AttemptKey,
        now: DateTime<Utc>,
    ) -> Result<Counted, Refusal> {
        let locked = |until| Refusal::Locked {
            retry_after_seconds: seconds_until(now, until),
        };
        match self.store.begin_login_attempt(key, now).await? {
            Admission::Locked { until } => Err(locked(until)),
            Admission::Admitted {
                attempt,
                previous_at,
                ..
            } if attempt > limit.max_failures => {
                // The limit's worth of attempts is in flight (at most `max_failures` checks of
                // one key run at once, so parallel guesses cannot pass the limit), or was left by
                // a process that died before it could lock: only the latter, recognisable by its
                // age, is forgotten. In-flight ones settle within a hash, so the retry is soon;
                // if they all fail, the lock they set answers after.
                let abandoned =
                    previous_at.is_none_or(|at| now - at > chrono_duration(limit.lockout));
                if !abandoned {
                    return Err(Refusal::Locked {
                        retry_after_seconds: IN_FLIGHT_RETRY_SECONDS,
                    });
                }
                self.store
                    .clear_login_attempts(std::slice::from_ref(key))
                    .await?;
                match self.store.begin_login_attempt(key, now).await? {
                    Admission::Admitted { attempt, locks, .. } => Ok(Counted { attempt, locks }),
                    Admission::Locked { until } => Err(locked(until)),
                }
            }
            Admission::Admitted { attempt, locks, .. } => Ok(Counted { attempt, locks }),
        }
    }
}

/// The two keys a password check for `email` from `origin` is counted on.
fn keys(origin: &Origin, email: &EmailAddress) -> [AttemptKey; 2] {
    [
        AttemptKey::from_address(email, origin.ip),
        AttemptKey::account(email),
    ]
}
