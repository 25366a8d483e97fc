//! Logging in, proving the current password, checking and revoking tokens, and the per-account
//! lockout that guards all password checks.

use std::time::Duration;

use chrono::{DateTime, Utc};

use serde_json::json;

use crate::admin::{Admin, EmailAddress, Password};
use crate::audit::{AuditAction, Origin, Outcome};
use crate::errors::HashError;
use crate::ids::AdminId;
use crate::members::Membership;
use crate::organization::OrganizationName;
use crate::ports::{Admission, Clock, IssuedToken, PasswordHasher, Principal, Store, TokenCodec};
use crate::service::audit::Subject;
use crate::service::{
    AuthenticateError, LoginError, MemberError, Service, StoreError, UpdateOrganizationError,
};

/// When repeated wrong passwords lock an account, and for how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoginPolicy {
    /// Consecutive failures that lock the account.
    pub max_failures: u32,
    /// The first lock; each further lock (without a success between) doubles it.
    pub lockout: Duration,
    /// The longest a lock lasts.
    pub max_lockout: Duration,
}

impl Default for LoginPolicy {
    fn default() -> Self {
        Self {
            max_failures: 5,
            lockout: Duration::from_secs(60),
            max_lockout: Duration::from_secs(3600),
        }
    }
}

impl LoginPolicy {
    /// How long the account is locked after `locks` earlier locks.
    #[must_use]
    pub fn lock_duration(&self, locks: u32) -> Duration {
        let factor = 1u32.checked_shl(locks).unwrap_or(u32::MAX);
        self.lockout
            .checked_mul(factor)
            .unwrap_or(self.max_lockout)
            .min(self.max_lockout)
    }
}

/// Why a password check did not pass.
#[derive(Debug)]
pub(super) enum Refusal {
    /// Wrong password (or unknown account): counted as a failure; `locked_until` when this
    /// failure locked the account.
    Wrong {
        locked_until: Option<DateTime<Utc>>,
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

/// `Retry-After` for an attempt refused because the account's limit of attempts is in flight.
const IN_FLIGHT_RETRY_SECONDS: u64 = 1;

/// Whole seconds from `now` until `until`, at least 1 (a `Retry-After` of 0 invites a storm).
fn seconds_until(now: DateTime<Utc>, until: DateTime<Utc>) -> u64 {
    let millis = u64::try_from((until - now).num_milliseconds()).unwrap_or(0);
    millis.div_ceil(1000).max(1)
}

impl<S: Store, H: PasswordHasher, T: TokenCodec, C: Clock> Service<S, H, T, C> {
    pub(super) async fn log_in(
        &self,
        origin: &Origin,
        email: &EmailAddress,
        password: &Password,
        organization: Option<&OrganizationName>,
    ) -> Result<IssuedToken, LoginError> {
        let admin = self.store.find_admin_by_email(email).await?;
        // Unknown emails go through the same steps (memberships read for an id nobody has,
        // throttle, then a verification against no hash, which costs the same), so neither the
        // answer nor its timing tells which emails have accounts.
        let user = admin.as_ref().map_or_else(AdminId::generate, |a| a.id);
        let memberships = self.store.memberships_of(&user).await?;
        let named = match organization {
            Some(name) => self.store.find_organization_by_slug(name.slug()).await?,
            None => None,
        };
        let chosen = match (&named, memberships.as_slice()) {
            (Some(named), _) => memberships
                .iter()
                .find(|m| m.organization_id == named.id)
                .copied(),
            (None, [only]) if organization.is_none() => Some(*only),
            _ => None,
        };
        let subject = Subject {
            organization: chosen.map(|m| m.organization_id),
            actor: admin.as_ref().map(|a| a.id),
        };
        self.check_password(origin, email, admin.as_ref(), password, subject)
            .await?;
        // A user who belongs to no organization (left by an interrupted change) has no account
        // to log in to.
        let admin = admin
            .filter(|_| !memberships.is_empty())
            .ok_or(LoginError::InvalidCredentials)?;
        let membership = match chosen {
            Some(membership) => membership,
            None if organization.is_some() => return Err(LoginError::NotAMember),
            None => {
                return Err(LoginError::OrganizationRequired {
                    organizations: self.names_of(&memberships).await?,
                })
            }
        };
        let principal = principal_of(&admin, &membership);
        let token = self
            .tokens
            .issue(&principal, self.clock.now())
            .map_err(LoginError::Unknown)?;
        self.audit(
            origin,
            Subject::from(&principal),
            AuditAction::LoginSucceeded,
            Outcome::Success,
            json!({}),
        )
        .await;
        Ok(token)
    }

    /// The names of these organizations (those that still exist), sorted.
    async fn names_of(
        &self,
        memberships: &[Membership],
    ) -> Result<Vec<OrganizationName>, StoreError> {
        let mut names = Vec::with_capacity(memberships.len());
        for membership in memberships {
            if let Some(organization) = self
                .store
                .find_organization_by_id(&membership.organization_id)
                .await?
            {
                names.push(organization.name);
            }
        }
        names.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        Ok(names)
    }

    /// Verifies `password` for the account `key` (whose admin, if any, is `admin`) behind the
    /// per-account lockout: a locked account is refused without hashing; the attempt is counted
    /// before hashing, so parallel guesses cannot exceed the limit; a success clears the count.
    pub(super) async fn check_password(
        &self,
        origin: &Origin,
        key: &EmailAddress,
        admin: Option<&Admin>,
        password: &Password,
        subject: Subject,
    ) -> Result<(), Refusal> {
        let refusal = self.verify_throttled(key, admin, password).await;
        let failed = |reason: &str| json!({"email": key.as_str(), "reason": reason});
        match &refusal {
            Ok(()) | Err(Refusal::Overloaded | Refusal::Store(_) | Refusal::Failed(_)) => {}
            Err(Refusal::Wrong { locked_until }) => {
                self.audit(
                    origin,
                    subject,
                    AuditAction::LoginFailed,
                    Outcome::Failure,
                    failed("wrong_password"),
                )
                .await;
                if let Some(until) = locked_until {
                    let details =
                        json!({"email": key.as_str(), "locked_until": until.to_rfc3339()});
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
            Err(Refusal::Locked { .. }) => {
                self.audit(
                    origin,
                    subject,
                    AuditAction::LoginFailed,
                    Outcome::Failure,
                    failed("locked"),
                )
                .await;
            }
        }
        refusal
    }

    /// Forgets what was counted against `email` before it had an account: guesses at an email
    /// nobody had (counted like any, so answers do not tell which exist) must not lock out the
    /// person who then signs up with it. A failure is ignored: the account exists either way,
    /// and a lock left behind runs out by itself.
    pub(super) async fn forget_attempts_before_signup(&self, email: &EmailAddress) {
        let _ = self.store.clear_login_attempts(email).await;
    }

    /// [`Self::check_password`] without the audit trail.
    async fn verify_throttled(
        &self,
        key: &EmailAddress,
        admin: Option<&Admin>,
        password: &Password,
    ) -> Result<(), Refusal> {
        let policy = self.login_policy;
        let now = self.clock.now();
        let (attempt, locks) = match self.store.begin_login_attempt(key, now).await? {
            Admission::Locked { until } => {
                return Err(Refusal::Locked {
                    retry_after_seconds: seconds_until(now, until),
                })
            }
            Admission::Admitted {
                attempt,
                previous_at,
                ..
            } if attempt > policy.max_failures => {
                // The limit's worth of attempts is in flight (at most `max_failures` checks of
                // one account run at once, so parallel guesses cannot pass the limit), or was
                // left by a process that died before it could lock: only the latter,
                // recognisable by its age, is forgotten. In-flight ones settle within a hash,
                // so the retry is soon; if they all fail, the lock they set answers after.
                let abandoned = previous_at.is_none_or(|at| {
                    now - at > chrono::Duration::from_std(policy.lockout).unwrap_or_default()
                });
                if !abandoned {
                    return Err(Refusal::Locked {
                        retry_after_seconds: IN_FLIGHT_RETRY_SECONDS,
                    });
                }
                self.store.clear_login_attempts(key).await?;
                match self.store.begin_login_attempt(key, now).await? {
                    Admission::Admitted { attempt, locks, .. } => (attempt, locks),
                    Admission::Locked { until } => {
                        return Err(Refusal::Locked {
                            retry_after_seconds: seconds_until(now, until),
                        })
                    }
                }
            }
            Admission::Admitted { attempt, locks, .. } => (attempt, locks),
        };
        let matches = self
            .hasher
            .verify(password, admin.map(|admin| &admin.password_hash))
            .await?;
        if matches && admin.is_some() {
            self.store.clear_login_attempts(key).await?;
            return Ok(());
        }
        let mut locked_until = None;
        if attempt >= policy.max_failures {
            let until =
                now + chrono::Duration::from_std(policy.lock_duration(locks)).unwrap_or_default();
            self.store.lock_login(key, until).await?;
            locked_until = Some(until);
        }
        Err(Refusal::Wrong { locked_until })
    }

    pub(super) async fn check_token(&self, token: &str) -> Result<Principal, AuthenticateError> {
        let principal = self
            .tokens
            .verify(token)
            .ok_or(AuthenticateError::InvalidToken)?;
        // A valid signature is not enough: the user may have been deleted, the token revoked
        // by a credential change or a logout, or the membership it was issued for ended or
        // changed role (the organization's roster goes with the organization).
        let Some(admin) = self.store.find_admin_by_id(&principal.admin_id).await? else {
            return Err(AuthenticateError::InvalidToken);
        };
        let role = self
            .store
            .role_in(&principal.organization_id, &admin.id)
            .await?;
        match role {
            Some(role)
                if principal_of(
                    &admin,
                    &Membership {
                        organization_id: principal.organization_id,
                        role,
                    },
                ) == principal =>
            {
                Ok(principal)
            }
            _ => Err(AuthenticateError::InvalidToken),
        }
    }
}

/// Who a token for `admin` in `membership`'s organization is issued to, at the admin's current
/// token version.
pub(super) const fn principal_of(admin: &Admin, membership: &Membership) -> Principal {
    Principal {
        admin_id: admin.id,
        organization_id: membership.organization_id,
        role: membership.role,
        token_version: admin.token_version,
    }
}
