//! How each domain error is answered.

use orgsvc_domain::errors::{
    AuditLogError, AuthenticateError, CreateOrganizationError, DeleteOrganizationError,
    DocumentError, ExportError, GetOrganizationError, LoginError, MemberError, ReceiptError,
    StoreError, UpdateOrganizationError,
};
use orgsvc_domain::RosterRule;

use super::ApiError;

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(cause) => Self::StorageUnavailable(cause),
            StoreError::Pending(cause) => Self::OperationPending(cause),
            StoreError::Unknown(cause) => Self::Internal(cause),
        }
    }
}

impl From<CreateOrganizationError> for ApiError {
    fn from(error: CreateOrganizationError) -> Self {
        match error {
            CreateOrganizationError::NameTaken { slug } => Self::OrganizationExists {
                slug: slug.to_string(),
            },
            CreateOrganizationError::EmailTaken { .. } => Self::AdminEmailTaken,
            // The token's user was removed meanwhile: the token is dead.
            CreateOrganizationError::FounderGone => Self::Unauthorized,
            CreateOrganizationError::Overloaded => Self::Overloaded,
            CreateOrganizationError::Store(e) => e.into(),
            CreateOrganizationError::Unknown(e) => Self::Internal(e),
        }
    }
}

impl From<GetOrganizationError> for ApiError {
    fn from(error: GetOrganizationError) -> Self {
        match error {
            GetOrganizationError::NotFound => Self::OrganizationNotFound,
            GetOrganizationError::Store(e) => e.into(),
        }
    }
}

impl From<UpdateOrganizationError> for ApiError {
    fn from(error: UpdateOrganizationError) -> Self {
        match error {
            UpdateOrganizationError::NotFound => Self::OrganizationNotFound,
            UpdateOrganizationError::Forbidden => Self::Forbidden,
            UpdateOrganizationError::NameTaken { slug } => Self::OrganizationExists {
                slug: slug.to_string(),
            },
            UpdateOrganizationError::EmailTaken { .. } => Self::AdminEmailTaken,
            UpdateOrganizationError::Overloaded => Self::Overloaded,
            UpdateOrganizationError::CurrentPasswordRequired => Self::CurrentPasswordRequired,
            UpdateOrganizationError::Locked {
                retry_after_seconds,
            } => Self::TooManyRequests {
                retry_after: retry_after_seconds,
            },
            UpdateOrganizationError::Store(e) => e.into(),
            UpdateOrganizationError::Unknown(e) => Self::Internal(e),
        }
    }
}

impl From<AuditLogError> for ApiError {
    fn from(error: AuditLogError) -> Self {
        match error {
            AuditLogError::Forbidden => Self::Forbidden,
            AuditLogError::Store(e) => e.into(),
        }
    }
}

impl From<DeleteOrganizationError> for ApiError {
    fn from(error: DeleteOrganizationError) -> Self {
        match error {
            DeleteOrganizationError::NotFound => Self::OrganizationNotFound,
            DeleteOrganizationError::Forbidden => Self::Forbidden,
            DeleteOrganizationError::Pending { cause, .. } => Self::OperationPending(cause),
            DeleteOrganizationError::Store(e) => e.into(),
        }
    }
}

impl From<ReceiptError> for ApiError {
    fn from(error: ReceiptError) -> Self {
        match error {
            ReceiptError::NotFound => Self::ReceiptNotFound,
            ReceiptError::Store(e) => e.into(),
        }
    }
}

impl From<ExportError> for ApiError {
    fn from(error: ExportError) -> Self {
        match error {
            ExportError::Forbidden => Self::Forbidden,
            ExportError::NotFound => Self::ExportNotFound,
            ExportError::InProgress(id) => Self::ExportInProgress(id),
            ExportError::QueueFull => Self::ExportsBusy,
            ExportError::NotReady(state) => Self::ExportNotReady(state.as_str()),
            ExportError::Store(e) => e.into(),
        }
    }
}

impl From<LoginError> for ApiError {
    fn from(error: LoginError) -> Self {
        match error {
            LoginError::InvalidCredentials => Self::InvalidCredentials,
            LoginError::Overloaded => Self::Overloaded,
            LoginError::Locked {
                retry_after_seconds,
            } => Self::TooManyRequests {
                retry_after: retry_after_seconds,
            },
            LoginError::OrganizationRequired { organizations } => Self::OrganizationRequired {
                organizations: organizations.iter().map(ToString::to_string).collect(),
            },
            LoginError::NotAMember => Self::NotAMember,
            LoginError::Store(e) => e.into(),
            LoginError::Unknown(e) => Self::Internal(e),
        }
    }
}

impl From<AuthenticateError> for ApiError {
    fn from(error: AuthenticateError) -> Self {
        match error {
            AuthenticateError::InvalidToken => Self::Unauthorized,
            AuthenticateError::Store(e) => e.into(),
        }
    }
}

impl From<DocumentError> for ApiError {
    fn from(error: DocumentError) -> Self {
        match error {
            DocumentError::OrganizationNotFound => Self::OrganizationNotFound,
            DocumentError::NotFound => Self::DocumentNotFound,
            DocumentError::Forbidden => Self::Forbidden,
            DocumentError::Store(e) => e.into(),
        }
    }
}

impl From<MemberError> for ApiError {
    fn from(error: MemberError) -> Self {
        match error {
            MemberError::OrganizationNotFound => Self::OrganizationNotFound,
            MemberError::Rule(rule) => match rule {
                RosterRule::Forbidden => Self::Forbidden,
                RosterRule::NoSuchMember => Self::MemberNotFound,
                RosterRule::LastOwner => Self::LastOwner,
                RosterRule::AlreadyMember => Self::AlreadyMember,
                RosterRule::InvitationPending => Self::InvitationPending,
                RosterRule::NoSuchInvitation => Self::InvitationNotFound,
                RosterRule::InvitationGone => Self::InvitationGone,
                RosterRule::Full => Self::RosterFull,
                RosterRule::NoSuchApiKey => Self::ApiKeyNotFound,
                RosterRule::TooManyApiKeys => Self::TooManyApiKeys,
                RosterRule::NoSuchWebhook => Self::WebhookNotFound,
                RosterRule::TooManyWebhooks => Self::TooManyWebhooks,
                RosterRule::WebhookDisabled => Self::WebhookDisabled,
            },
            MemberError::NotAMember => Self::NotAMember,
            MemberError::InvalidCredentials => Self::InvalidCredentials,
            MemberError::Locked {
                retry_after_seconds,
            } => Self::TooManyRequests {
                retry_after: retry_after_seconds,
            },
            MemberError::Busy => Self::Busy,
            MemberError::ReplaysQueued => Self::ReplaysQueued,
            MemberError::Invalid { field, message } => Self::field(field, message),
            MemberError::Overloaded => Self::Overloaded,
            MemberError::Store(e) => e.into(),
            MemberError::Unknown(e) => Self::Internal(e),
        }
    }
}
