//! The one place that decides how every failure looks on the wire: RFC 9457 problem details
//! (`application/problem+json`) with a stable machine-readable `code`.
//!
//! Internal failures are logged with their whole cause chain and answered with a generic body:
//! no driver or library message ever reaches a client.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

/// Seconds a client should wait before retrying when storage is unavailable.
pub const RETRY_AFTER_SECONDS: u64 = 5;
/// Seconds a client should wait when every password-hashing worker is busy: about the time
/// the queue takes to drain.
pub const OVERLOADED_RETRY_AFTER_SECONDS: u64 = 1;

/// An RFC 9457 problem details body.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "urn:orgsvc:problem:validation_failed",
    "title": "Validation failed",
    "status": 422,
    "detail": "organization_name: must not contain '$'",
    "code": "validation_failed",
    "errors": [{"field": "organization_name", "message": "must not contain '$'"}]
}))]
pub struct Problem {
    /// `urn:orgsvc:problem:<code>`.
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    /// Stable, machine-readable; match on this, not on `title` or `detail`.
    pub code: &'static str,
    /// For `validation_failed`: every offending field and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// For `organization_required`: the names of the caller's organizations, to choose from.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub organizations: Vec<String>,
    /// The request's `X-Request-Id`, to quote when reporting the error (its log lines carry it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// The 202 body of a change that is recorded but not yet complete: the fields of a problem
/// body, so that clients read it the same way, documented as a schema of its own because it is
/// not an error (generated clients otherwise type a success as "the result or an error").
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "urn:orgsvc:problem:operation_pending",
    "title": "Accepted",
    "status": 202,
    "detail": "The change is recorded, but storage stopped answering before it was complete; it completes as soon as storage answers again. Read the organization (GET /org/get) in 5 seconds or later to see the outcome.",
    "code": "operation_pending"
}))]
pub struct OperationPending {
    /// `urn:orgsvc:problem:operation_pending`.
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    /// 202.
    pub status: u16,
    pub detail: String,
    /// Always `operation_pending`.
    pub code: String,
    /// The request's `X-Request-Id`.
    pub request_id: Option<String>,
}

/// One invalid field of a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// The field (body field, query parameter or path segment); nested fields are dotted.
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl ToString) -> Self {
        Self {
            field: field.into(),
            message: message.to_string(),
        }
    }
}

/// Every way a request can fail.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("request body is not valid JSON: {0}")]
    MalformedBody(String),
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("request body exceeds {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("unsupported content type")]
    UnsupportedMediaType,
    #[error("missing or invalid bearer token")]
    Unauthorized,
    #[error("invalid email or password")]
    InvalidCredentials,
    #[error("the current password is missing or wrong")]
    CurrentPasswordRequired,
    #[error("forbidden")]
    Forbidden,
    #[error("not a member of that organization")]
    NotAMember,
    #[error("the account belongs to several organizations")]
    OrganizationRequired { organizations: Vec<String> },
    #[error("member not found")]
    MemberNotFound,
    #[error("the organization must keep an owner")]
    LastOwner,
    #[error("already a member")]
    AlreadyMember,
    #[error("an invitation is pending for that email")]
    InvitationPending,
    #[error("invitation not found")]
    InvitationNotFound,
    #[error("invitation no longer usable")]
    InvitationGone,
    #[error("the organization is full")]
    RosterFull,
    #[error("API key not found")]
    ApiKeyNotFound,
    #[error("the organization has as many API keys as it may")]
    TooManyApiKeys,
    #[error("API keys cannot do this")]
    ApiKeyNotAllowed,
    #[error("busy")]
    Busy,
    #[error("organization not found")]
    OrganizationNotFound,
    #[error("document not found")]
    DocumentNotFound,
    #[error("organization {slug} exists")]
    OrganizationExists { slug: String },
    /// Deliberately without the email: a 409 that echoed it would confirm who has an account.
    #[error("admin email taken")]
    AdminEmailTaken,
    #[error("route not found")]
    RouteNotFound,
    /// `allow` lists the methods the resource does accept.
    #[error("method not allowed")]
    MethodNotAllowed { allow: &'static str },
    #[error("the request body did not arrive in time")]
    RequestTimeout,
    #[error("too many requests")]
    TooManyRequests { retry_after: u64 },
    #[error("password hashing is at capacity")]
    Overloaded,
    #[error("storage unavailable")]
    StorageUnavailable(#[source] anyhow::Error),
    /// 202: a multi-step change is recorded but the database stopped answering before it was
    /// over; it is finished as soon as it answers, and the outcome shows on reading.
    #[error("change recorded, still being carried out")]
    OperationPending(#[source] anyhow::Error),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn field(field: &str, message: impl ToString) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    /// Status, stable code and title of each variant: one row per code.
    const fn kind(&self) -> (StatusCode, &'static str, &'static str) {
        use StatusCode as S;
        match self {
            Self::MalformedBody(_) => (S::BAD_REQUEST, "malformed_body", "Malformed request body"),
            Self::Validation(_) => (
                S::UNPROCESSABLE_ENTITY,
                "validation_failed",
                "Validation failed",
            ),
            Self::PayloadTooLarge { .. } => (
                S::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "Payload too large",
            ),
            Self::UnsupportedMediaType => (
                S::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Unsupported media type",
            ),
            Self::Unauthorized => (S::UNAUTHORIZED, "unauthorized", "Unauthorized"),
            Self::InvalidCredentials => (
                S::UNAUTHORIZED,
                "invalid_credentials",
                "Invalid credentials",
            ),
            Self::CurrentPasswordRequired => (
                S::FORBIDDEN,
                "current_password_required",
                "Current password required",
            ),
            Self::Forbidden => (S::FORBIDDEN, "forbidden", "Forbidden"),
            Self::NotAMember => (S::FORBIDDEN, "not_a_member", "Not a member"),
            Self::OrganizationRequired { .. } => (
                S::CONFLICT,
                "organization_required",
                "Organization required",
            ),
            Self::MemberNotFound => (S::NOT_FOUND, "member_not_found", "Member not found"),
            Self::LastOwner => (S::CONFLICT, "last_owner", "Last owner"),
            Self::AlreadyMember => (S::CONFLICT, "already_member", "Already a member"),
            Self::InvitationPending => (S::CONFLICT, "invitation_pending", "Invitation pending"),
            Self::InvitationNotFound => {
                (S::NOT_FOUND, "invitation_not_found", "Invitation not found")
            }
            Self::InvitationGone => (S::GONE, "invitation_gone", "Invitation gone"),
            Self::RosterFull => (S::CONFLICT, "roster_full", "Organization full"),
            Self::ApiKeyNotFound => (S::NOT_FOUND, "api_key_not_found", "API key not found"),
            Self::TooManyApiKeys => (S::CONFLICT, "too_many_api_keys", "Too many API keys"),
            Self::ApiKeyNotAllowed => (S::FORBIDDEN, "api_key_not_allowed", "Not for API keys"),
            Self::Busy => (S::SERVICE_UNAVAILABLE, "busy", "Busy"),
            Self::OrganizationNotFound => (
                S::NOT_FOUND,
                "organization_not_found",
                "Organization not found",
            ),
            Self::DocumentNotFound => (S::NOT_FOUND, "document_not_found", "Document not found"),
            Self::RouteNotFound => (S::NOT_FOUND, "not_found", "Not found"),
            Self::MethodNotAllowed { .. } => (
                S::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "Method not allowed",
            ),
            Self::RequestTimeout => (S::REQUEST_TIMEOUT, "request_timeout", "Request timeout"),
            Self::OrganizationExists { .. } => {
                (S::CONFLICT, "organization_exists", "Organization exists")
            }
            Self::AdminEmailTaken => (S::CONFLICT, "admin_email_taken", "Admin email taken"),
            Self::TooManyRequests { .. } => (
                S::TOO_MANY_REQUESTS,
                "too_many_requests",
                "Too many requests",
            ),
            Self::Overloaded => (S::SERVICE_UNAVAILABLE, "overloaded", "Overloaded"),
            Self::StorageUnavailable(_) => (
                S::SERVICE_UNAVAILABLE,
                "storage_unavailable",
                "Storage unavailable",
            ),
            Self::OperationPending(_) => (S::ACCEPTED, "operation_pending", "Accepted"),
            Self::Internal(_) => (
                S::INTERNAL_SERVER_ERROR,
                "internal_error",
                "Internal server error",
            ),
        }
    }

    const fn code(&self) -> &'static str {
        self.kind().1
    }

    /// Seconds the client should wait before retrying, for the errors that say so.
    const fn retry_after(&self) -> Option<u64> {
        match self {
            Self::StorageUnavailable(_) | Self::OperationPending(_) => Some(RETRY_AFTER_SECONDS),
            Self::Overloaded | Self::Busy => Some(OVERLOADED_RETRY_AFTER_SECONDS),
            Self::TooManyRequests { retry_after } => Some(*retry_after),
            _ => None,
        }
    }

    fn detail(&self) -> String {
        match self {
            Self::MalformedBody(reason) => format!("The request body is not valid JSON: {reason}"),
            Self::Validation(errors) => errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; "),
            Self::PayloadTooLarge { limit } => {
                format!("The request body is larger than the limit of {limit} bytes.")
            }
            Self::UnsupportedMediaType => {
                "The request body must be sent as Content-Type: application/json.".into()
            }
            Self::Unauthorized => {
                "A valid bearer token is required: log in at POST /admin/login and send \
                 'Authorization: Bearer <access_token>'."
                    .into()
            }
            Self::InvalidCredentials => "The email or password is incorrect.".into(),
            Self::CurrentPasswordRequired => {
                "Changing the email or password needs the current password in `current_password`."
                    .into()
            }
            Self::Forbidden => "Your token does not allow this: it is for another organization, \
                 or your role in this one does not permit it."
                .into(),
            Self::NotAMember => "You do not belong to that organization.".into(),
            Self::OrganizationRequired { .. } => {
                "You belong to several organizations: send `organization_name` with one of \
                 those listed in `organizations`."
                    .into()
            }
            Self::MemberNotFound => "No member of your organization has that user id.".into(),
            Self::LastOwner => {
                "An organization must keep at least one owner: make another member an owner \
                 first."
                    .into()
            }
            Self::AlreadyMember => "That person already belongs to the organization.".into(),
            Self::InvitationPending => {
                "An invitation for that email is pending; resend or revoke it instead.".into()
            }
            Self::InvitationNotFound => "No invitation of your organization has that id.".into(),
            Self::InvitationGone => {
                "This invitation cannot be used: it expired, was revoked or resent, or was \
                 already accepted. Ask for a new one."
                    .into()
            }
            Self::RosterFull => format!(
                "The organization has reached {} members or {} pending invitations.",
                orgsvc_domain::members::MAX_MEMBERS,
                orgsvc_domain::members::MAX_PENDING_INVITATIONS
            ),
            Self::ApiKeyNotFound => "No API key of your organization has that id.".into(),
            Self::TooManyApiKeys => format!(
                "The organization has {} API keys; revoke one first.",
                orgsvc_domain::api_keys::MAX_API_KEYS
            ),
            Self::ApiKeyNotAllowed => "API keys may read and write documents, read the \
                organization, its members and its audit log (as their scopes allow); this needs \
                a member's token from POST /admin/login."
                .into(),
            Self::Busy => format!(
                "The organization's members are being changed by other requests; retry in \
                 {OVERLOADED_RETRY_AFTER_SECONDS} seconds."
            ),
            Self::OrganizationNotFound => "No organization has that name.".into(),
            Self::DocumentNotFound => "No document with that id in your organization.".into(),
            Self::OrganizationExists { slug } => {
                format!("An organization whose name normalizes to '{slug}' already exists.")
            }
            Self::AdminEmailTaken => "That email already belongs to an admin.".into(),
            Self::RouteNotFound => "No such endpoint; see /docs for the API.".into(),
            Self::MethodNotAllowed { allow } => {
                format!("This endpoint accepts only: {allow}.")
            }
            Self::RequestTimeout => {
                "The request body was not received in time; send it without pausing.".into()
            }
            Self::TooManyRequests { retry_after } => {
                format!("Too many attempts; retry in {retry_after} seconds.")
            }
            Self::Overloaded => format!(
                "The service is busy hashing passwords; retry in {OVERLOADED_RETRY_AFTER_SECONDS} seconds."
            ),
            Self::StorageUnavailable(_) => format!(
                "Storage is temporarily unavailable; retry in {RETRY_AFTER_SECONDS} seconds."
            ),
            Self::OperationPending(_) => format!(
                "The change is recorded, but storage stopped answering before it was complete; \
                 it completes as soon as storage answers again. Read the organization (GET \
                 /org/get) in {RETRY_AFTER_SECONDS} seconds or later to see the outcome."
            ),
            Self::Internal(_) => "An unexpected error occurred; it has been logged.".into(),
        }
    }

    /// The body this error is answered with.
    pub fn problem(&self) -> Problem {
        let code = self.code();
        Problem {
            problem_type: format!("urn:orgsvc:problem:{code}"),
            title: self.kind().2,
            status: self.status_code().as_u16(),
            detail: self.detail(),
            code,
            errors: match self {
                Self::Validation(errors) => errors.clone(),
                _ => Vec::new(),
            },
            organizations: match self {
                Self::OrganizationRequired { organizations } => organizations.clone(),
                _ => Vec::new(),
            },
            // Added on the way out by the request-id middleware, which knows the request.
            request_id: None,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.kind().0
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Internal(cause) => tracing::error!(error = ?cause, "request failed"),
            Self::StorageUnavailable(cause) => {
                tracing::warn!(error = ?cause, "storage unavailable");
            }
            Self::OperationPending(cause) => {
                tracing::warn!(error = ?cause, "answered before the change was complete");
            }
            _ => {}
        }
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        ));
        match self {
            Self::Unauthorized => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            Self::MethodNotAllowed { allow } => {
                response.insert_header((header::ALLOW, *allow));
            }
            _ => {}
        }
        if let Some(seconds) = self.retry_after() {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        response.body(serde_json::to_string(&self.problem()).unwrap_or_default())
    }
}

mod conversions;
