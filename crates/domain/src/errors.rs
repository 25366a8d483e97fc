//! One error type per operation. Ports and services share them, so an adapter's answer reaches
//! the HTTP layer without being translated twice.

use thiserror::Error;

use crate::members::RosterRule;
use crate::organization::{OrganizationName, Slug};
use crate::user::EmailAddress;

/// A storage failure that is not about the request itself.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The backend cannot be reached or did not answer in time; retrying later may succeed.
    #[error("storage is unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// A multi-step change is recorded and will be finished, but was not over in time to
    /// answer: the database stopped answering halfway. Its outcome is visible when it is done.
    #[error("the change is recorded and still being carried out")]
    Pending(#[source] anyhow::Error),
    /// Anything else: a bug, corrupt data, a driver failure.
    #[error("storage failed")]
    Unknown(#[source] anyhow::Error),
}

/// Why a password could not be hashed or verified.
#[derive(Debug, Error)]
pub enum HashError {
    /// Every hashing worker is busy and the queue in front of them is full: retry shortly.
    #[error("password hashing is at capacity")]
    Overloaded,
    /// The hashing library failed, or a stored hash cannot be parsed.
    #[error("password hashing failed")]
    Failed(#[source] anyhow::Error),
}

#[derive(Debug, Error)]
pub enum CreateOrganizationError {
    #[error("an organization with slug {slug} already exists")]
    NameTaken { slug: Slug },
    #[error("an admin with email {email} already exists")]
    EmailTaken { email: EmailAddress },
    /// The signed-in user creating it was removed meanwhile.
    #[error("the founding user no longer exists")]
    FounderGone,
    #[error("password hashing is at capacity")]
    Overloaded,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("creating the organization failed")]
    Unknown(#[source] anyhow::Error),
}

#[derive(Debug, Error)]
pub enum GetOrganizationError {
    #[error("organization not found")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Error)]
pub enum UpdateOrganizationError {
    /// The organization (or the admin acting on it) no longer exists.
    #[error("organization not found")]
    NotFound,
    /// The request names an organization other than the caller's, or renames it and the
    /// caller's role may not.
    #[error("the organization named is not the caller's, or the caller may not rename it")]
    Forbidden,
    /// The change needs the current password, and it was missing or wrong.
    #[error("the current password is missing or wrong")]
    CurrentPasswordRequired,
    /// Too many wrong passwords: the account is locked for this many more seconds.
    #[error("the account is locked")]
    Locked { retry_after_seconds: u64 },
    #[error("an organization with slug {slug} already exists")]
    NameTaken { slug: Slug },
    #[error("an admin with email {email} already exists")]
    EmailTaken { email: EmailAddress },
    #[error("password hashing is at capacity")]
    Overloaded,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("updating the organization failed")]
    Unknown(#[source] anyhow::Error),
}

#[derive(Debug, Error)]
pub enum DeleteOrganizationError {
    #[error("organization not found")]
    NotFound,
    /// The organization is not the caller's, or the caller's role may not delete it.
    #[error("only an owner of the organization may delete it")]
    Forbidden,
    /// Recorded and already invisible to requests, but storage stopped answering before the
    /// deletion was complete: it completes when storage answers, with the receipt `receipt`.
    #[error("the deletion is recorded but not complete yet")]
    Pending {
        receipt: crate::ids::DeletionReceiptId,
        #[source]
        cause: anyhow::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Error)]
pub enum ReceiptError {
    /// No deletion has that receipt, or its record expired.
    #[error("no deletion receipt has that id")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Error)]
pub enum AuditLogError {
    /// The caller's role does not let them read it.
    #[error("the caller's role may not read the audit log")]
    Forbidden,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Error)]
pub enum LoginError {
    /// Unknown email or wrong password: deliberately indistinguishable.
    #[error("invalid email or password")]
    InvalidCredentials,
    /// Too many wrong passwords: the account is locked for this many more seconds.
    #[error("the account is locked")]
    Locked { retry_after_seconds: u64 },
    #[error("password hashing is at capacity")]
    Overloaded,
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The password checked out and the user belongs to several organizations: name one.
    #[error("the account belongs to several organizations; name one")]
    OrganizationRequired {
        organizations: Vec<OrganizationName>,
    },
    /// The password checked out but the user does not belong to the organization named.
    #[error("the account does not belong to that organization")]
    NotAMember,
    #[error("login failed")]
    Unknown(#[source] anyhow::Error),
}

/// Why a roster could not be written.
#[derive(Debug, Error)]
pub enum SaveRosterError {
    /// It changed since it was read, or the organization is gone: read again.
    #[error("the roster changed since it was read")]
    Conflict,
    #[error("a user with email {email} already exists")]
    EmailTaken { email: EmailAddress },
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Error)]
pub enum AuthenticateError {
    /// Malformed, forged, expired, or issued to an admin or organization that no longer exists.
    #[error("invalid or expired token")]
    InvalidToken,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Error)]
pub enum DocumentError {
    /// The caller's organization was deleted after the token was checked.
    #[error("organization not found")]
    OrganizationNotFound,
    #[error("document not found")]
    NotFound,
    /// An API key without the scope for this.
    #[error("forbidden")]
    Forbidden,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a snapshot of an organization's documents could not be opened or read.
#[derive(Debug, Error)]
pub enum SnapshotError {
    #[error("organization not found")]
    OrganizationNotFound,
    /// Another export of the organization holds its snapshot.
    #[error("another export of this organization is under way")]
    Busy,
    /// The snapshot is no longer open: closed, taken over after its lease ran out, or gone with
    /// a restart of the process that held it (embedded store). The export starts again.
    #[error("the snapshot is no longer open")]
    Lost,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A tenant read's failure met while reading a snapshot: its organization is gone, or the
/// store failed (no other answer comes from a read).
impl From<DocumentError> for SnapshotError {
    fn from(error: DocumentError) -> Self {
        match error {
            DocumentError::OrganizationNotFound => Self::OrganizationNotFound,
            DocumentError::Store(e) => Self::Store(e),
            other => Self::Store(StoreError::Unknown(other.into())),
        }
    }
}

/// Why an export could not be asked for, followed or downloaded.
#[derive(Debug, Error)]
pub enum ExportError {
    /// Only owners export, and never through an API key.
    #[error("forbidden")]
    Forbidden,
    /// No export of the caller's organization has that id (or it expired).
    #[error("export not found")]
    NotFound,
    /// The organization has this export queued or running.
    #[error("export {0} of this organization is under way")]
    InProgress(crate::ids::ExportId),
    /// As many exports as allowed are queued or running.
    #[error("too many exports are queued")]
    QueueFull,
    /// The bundle is not there to download: the export is in this state.
    #[error("the export is {}", .0.as_str())]
    NotReady(crate::export::job::ExportState),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a change of members or invitations, a switch of organization or an acceptance was
/// refused (one type for the team operations: they share nearly every answer).
#[derive(Debug, Error)]
pub enum MemberError {
    /// The caller's organization (or the one named) is gone.
    #[error("organization not found")]
    OrganizationNotFound,
    #[error(transparent)]
    Rule(#[from] RosterRule),
    /// Not a member of the organization named (switching).
    #[error("the caller does not belong to that organization")]
    NotAMember,
    /// Accepting as an existing user: the password is not theirs.
    #[error("invalid email or password")]
    InvalidCredentials,
    #[error("the account is locked")]
    Locked { retry_after_seconds: u64 },
    /// Other changes to the roster kept winning the race: retry shortly.
    #[error("the organization's members are being changed by other requests")]
    Busy,
    #[error("password hashing is at capacity")]
    Overloaded,
    /// As many webhook replays wait for the organization as may.
    #[error("too many replay requests are waiting")]
    ReplaysQueued,
    /// A field that only the service can judge (it needs the service's clock).
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: &'static str,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the change failed")]
    Unknown(#[source] anyhow::Error),
}

macro_rules! from_hash_error {
    ($($error:ident),+) => {$(
        impl From<HashError> for $error {
            fn from(error: HashError) -> Self {
                match error {
                    HashError::Overloaded => Self::Overloaded,
                    HashError::Failed(cause) => Self::Unknown(cause),
                }
            }
        }
    )+};
}

from_hash_error!(
    CreateOrganizationError,
    UpdateOrganizationError,
    LoginError,
    MemberError
);

impl StoreError {
    /// A stable name for the kind of failure (a metrics label).
    #[must_use]
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::Unavailable(_) => "unavailable",
            Self::Pending(_) => "pending",
            Self::Unknown(_) => "unknown",
        }
    }
}

/// The storage failure inside an operation's error, when that is what it is, as opposed to an
/// answer about the request (not found, name taken, ...). Metrics count only these.
pub trait AsStoreError {
    fn as_store_error(&self) -> Option<&StoreError>;
}

impl AsStoreError for StoreError {
    fn as_store_error(&self) -> Option<&StoreError> {
        Some(self)
    }
}

macro_rules! as_store_error {
    ($($error:ident),+) => {$(
        impl AsStoreError for $error {
            fn as_store_error(&self) -> Option<&StoreError> {
                match self {
                    Self::Store(error) => Some(error),
                    _ => None,
                }
            }
        }
    )+};
}

as_store_error!(
    CreateOrganizationError,
    UpdateOrganizationError,
    DeleteOrganizationError,
    DocumentError,
    MemberError,
    SaveRosterError,
    SnapshotError
);
