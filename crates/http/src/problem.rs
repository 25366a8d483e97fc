//! The one place that decides how every failure looks on the wire: RFC 9457 problem details
//! (`application/problem+json`) with a stable machine-readable `code`.
//!
//! Internal failures are logged with their whole cause chain and answered with a generic body:
//! no driver or library message ever reaches a client.

use std::borrow::Cow;
use std::fmt;

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
/// Seconds a client should wait when the export queue is full: exports take a while.
pub const EXPORTS_RETRY_AFTER_SECONDS: u64 = 30;

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

/// Every way a request can fail. What each one answers is in [`ApiError::row`], one row per
/// code; its `Display` is that row's code and detail.
#[derive(Debug)]
pub enum ApiError {
    MalformedBody(String),
    Validation(Vec<FieldError>),
    PayloadTooLarge {
        limit: usize,
    },
    UnsupportedMediaType,
    Unauthorized,
    InvalidCredentials,
    CurrentPasswordRequired,
    Forbidden,
    NotAMember,
    OrganizationRequired {
        organizations: Vec<String>,
    },
    MemberNotFound,
    LastOwner,
    AlreadyMember,
    InvitationPending,
    InvitationNotFound,
    InvitationGone,
    RosterFull,
    ApiKeyNotFound,
    TooManyApiKeys,
    WebhookNotFound,
    TooManyWebhooks,
    WebhookDisabled,
    /// Too many replay requests wait for the organization already.
    ReplaysQueued,
    ApiKeyNotAllowed,
    Busy,
    OrganizationNotFound,
    DocumentNotFound,
    ReceiptNotFound,
    ExportNotFound,
    /// The organization has this export queued or running.
    ExportInProgress(orgsvc_domain::ExportId),
    /// The bundle cannot be downloaded: the export is in this state.
    ExportNotReady(&'static str),
    /// As many exports as allowed are queued or running.
    ExportsBusy,
    OrganizationExists {
        slug: String,
    },
    /// Deliberately without the email: a 409 that echoed it would confirm who has an account.
    AdminEmailTaken,
    RouteNotFound,
    /// `allow` lists the methods the resource does accept.
    MethodNotAllowed {
        allow: &'static str,
    },
    RequestTimeout,
    TooManyRequests {
        retry_after: u64,
    },
    Overloaded,
    StorageUnavailable(anyhow::Error),
    /// 202: a multi-step change is recorded but the database stopped answering before it was
    /// over; it is finished as soon as it answers, and the outcome shows on reading.
    OperationPending(anyhow::Error),
    Internal(anyhow::Error),
}

/// What an error answers: its status, stable code, title and detail.
struct Row {
    status: StatusCode,
    code: &'static str,
    title: &'static str,
    detail: Cow<'static, str>,
}

const fn row(
    status: StatusCode,
    code: &'static str,
    title: &'static str,
    detail: Cow<'static, str>,
) -> Row {
    Row {
        status,
        code,
        title,
        detail,
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Row { code, detail, .. } = self.row();
        write!(f, "{code}: {detail}")
    }
}

impl std::error::Error for ApiError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::StorageUnavailable(cause)
            | Self::OperationPending(cause)
            | Self::Internal(cause) => Some(cause.as_ref()),
            _ => None,
        }
    }
}

impl ApiError {
    pub fn field(field: &str, message: impl ToString) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    /// Everything an error says, one row per code: status, stable code, title and detail.
    fn row(&self) -> Row {
        use StatusCode as S;
        match self {
            Self::MalformedBody(reason) => row(S::BAD_REQUEST, "malformed_body", "Malformed request body", Cow::Owned(format!("The request body is not valid JSON: {reason}"))),
            Self::Validation(errors) => row(S::UNPROCESSABLE_ENTITY,
                "validation_failed",
                "Validation failed", Cow::Owned(errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; "))),
            Self::PayloadTooLarge { limit } => row(S::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "Payload too large", Cow::Owned(format!("The request body is larger than the limit of {limit} bytes."))),
            Self::UnsupportedMediaType => row(S::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Unsupported media type", Cow::Borrowed("The request body must be sent as Content-Type: application/json.")),
            Self::Unauthorized => row(S::UNAUTHORIZED, "unauthorized", "Unauthorized", Cow::Borrowed("A valid bearer token is required: log in at POST /admin/login and send \
                 'Authorization: Bearer <access_token>'.")),
            Self::InvalidCredentials => row(S::UNAUTHORIZED,
                "invalid_credentials",
                "Invalid credentials", Cow::Borrowed("The email or password is incorrect.")),
            Self::CurrentPasswordRequired => row(S::FORBIDDEN,
                "current_password_required",
                "Current password required", Cow::Borrowed("Changing the email or password needs the current password in `current_password`.")),
            Self::Forbidden => row(S::FORBIDDEN, "forbidden", "Forbidden", Cow::Borrowed("Your token does not allow this: it is for another organization, \
                 or your role in this one does not permit it.")),
            Self::NotAMember => row(S::FORBIDDEN, "not_a_member", "Not a member", Cow::Borrowed("You do not belong to that organization.")),
            Self::OrganizationRequired { .. } => row(S::CONFLICT,
                "organization_required",
                "Organization required", Cow::Borrowed("You belong to several organizations: send `organization_name` with one of \
                 those listed in `organizations`.")),
            Self::MemberNotFound => row(S::NOT_FOUND, "member_not_found", "Member not found", Cow::Borrowed("No member of your organization has that user id.")),
            Self::LastOwner => row(S::CONFLICT, "last_owner", "Last owner", Cow::Borrowed("An organization must keep at least one owner: make another member an owner \
                 first.")),
            Self::AlreadyMember => row(S::CONFLICT, "already_member", "Already a member", Cow::Borrowed("That person already belongs to the organization.")),
            Self::InvitationPending => row(S::CONFLICT, "invitation_pending", "Invitation pending", Cow::Borrowed("An invitation for that email is pending; resend or revoke it instead.")),
            Self::InvitationNotFound => row(S::NOT_FOUND, "invitation_not_found", "Invitation not found", Cow::Borrowed("No invitation of your organization has that id.")),
            Self::InvitationGone => row(S::GONE, "invitation_gone", "Invitation gone", Cow::Borrowed("This invitation cannot be used: it expired, was revoked or resent, or was \
                 already accepted. Ask for a new one.")),
            Self::RosterFull => row(S::CONFLICT, "roster_full", "Organization full", Cow::Owned(format!(
                "The organization has reached {} members or {} pending invitations.",
                orgsvc_domain::members::MAX_MEMBERS,
                orgsvc_domain::members::MAX_PENDING_INVITATIONS
            ))),
            Self::ApiKeyNotFound => row(S::NOT_FOUND, "api_key_not_found", "API key not found", Cow::Borrowed("No API key of your organization has that id.")),
            Self::TooManyApiKeys => row(S::CONFLICT, "too_many_api_keys", "Too many API keys", Cow::Owned(format!(
                "The organization has {} API keys; revoke one first.",
                orgsvc_domain::api_keys::MAX_API_KEYS
            ))),
            Self::WebhookNotFound => row(S::NOT_FOUND, "webhook_not_found", "Webhook endpoint not found", Cow::Borrowed("No webhook endpoint of your organization has that id.")),
            Self::TooManyWebhooks => row(S::CONFLICT, "too_many_webhooks", "Too many webhook endpoints", Cow::Owned(format!(
                "The organization has {} webhook endpoints; delete one first.",
                orgsvc_domain::webhooks::MAX_ENDPOINTS
            ))),
            Self::WebhookDisabled => row(S::CONFLICT, "webhook_disabled", "Webhook endpoint disabled", Cow::Borrowed("Enable the endpoint (PATCH it with enabled: true) before replaying to it.")),
            Self::ReplaysQueued => row(S::TOO_MANY_REQUESTS, "replays_queued", "Too many replays waiting", Cow::Owned(format!(
                "{} replay requests of your organization are waiting to be carried out; try again \
                 shortly.",
                orgsvc_domain::webhooks::MAX_REPLAYS
            ))),
            Self::ApiKeyNotAllowed => row(S::FORBIDDEN, "api_key_not_allowed", "Not for API keys", Cow::Borrowed("API keys may read and write documents, read the \
                organization, its members and its audit log (as their scopes allow); this needs \
                a member's token from POST /admin/login.")),
            Self::Busy => row(S::SERVICE_UNAVAILABLE, "busy", "Busy", Cow::Owned(format!(
                "The organization's members are being changed by other requests; retry in \
                 {OVERLOADED_RETRY_AFTER_SECONDS} seconds."
            ))),
            Self::OrganizationNotFound => row(S::NOT_FOUND,
                "organization_not_found",
                "Organization not found", Cow::Borrowed("No organization has that name.")),
            Self::DocumentNotFound => row(S::NOT_FOUND, "document_not_found", "Document not found", Cow::Borrowed("No document with that id in your organization.")),
            Self::ReceiptNotFound => row(S::NOT_FOUND, "receipt_not_found", "Receipt not found", Cow::Borrowed("No deletion receipt has that id, or it is past its retention.")),
            Self::ExportNotFound => row(S::NOT_FOUND, "export_not_found", "Export not found", Cow::Borrowed("No export of your organization has that id, or it is past its retention.")),
            Self::ExportInProgress(id) => row(S::CONFLICT, "export_in_progress", "Export in progress", Cow::Owned(format!(
                "Export {id} of your organization is queued or running; follow it at GET \
                 /org/exports/{id}, and ask for another once it is done."
            ))),
            Self::ExportNotReady(state) => row(S::CONFLICT, "export_not_ready", "Export not ready", Cow::Owned(format!(
                "The export is {state}: its bundle can be downloaded once its state is done."
            ))),
            Self::ExportsBusy => row(S::SERVICE_UNAVAILABLE, "exports_busy", "Exports busy", Cow::Owned(format!(
                "As many exports as the service runs at once are queued or running; retry in \
                 {EXPORTS_RETRY_AFTER_SECONDS} seconds."
            ))),
            Self::RouteNotFound => row(S::NOT_FOUND, "not_found", "Not found", Cow::Borrowed("No such endpoint; see /docs for the API.")),
            Self::MethodNotAllowed { allow } => row(S::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "Method not allowed", Cow::Owned(format!("This endpoint accepts only: {allow}."))),
            Self::RequestTimeout => row(S::REQUEST_TIMEOUT, "request_timeout", "Request timeout", Cow::Borrowed("The request body was not received in time; send it without pausing.")),
            Self::OrganizationExists { slug } => row(S::CONFLICT, "organization_exists", "Organization exists", Cow::Owned(format!("An organization whose name normalizes to '{slug}' already exists."))),
            Self::AdminEmailTaken => row(S::CONFLICT, "admin_email_taken", "Admin email taken", Cow::Borrowed("That email already belongs to an admin.")),
            Self::TooManyRequests { retry_after } => row(S::TOO_MANY_REQUESTS,
                "too_many_requests",
                "Too many requests", Cow::Owned(format!("Too many attempts; retry in {retry_after} seconds."))),
            Self::Overloaded => row(S::SERVICE_UNAVAILABLE, "overloaded", "Overloaded", Cow::Owned(format!(
                "The service is busy hashing passwords; retry in {OVERLOADED_RETRY_AFTER_SECONDS} seconds."
            ))),
            Self::StorageUnavailable(_) => row(S::SERVICE_UNAVAILABLE,
                "storage_unavailable",
                "Storage unavailable", Cow::Owned(format!(
                "Storage is temporarily unavailable; retry in {RETRY_AFTER_SECONDS} seconds."
            ))),
            Self::OperationPending(_) => row(S::ACCEPTED, "operation_pending", "Accepted", Cow::Owned(format!(
                "The change is recorded, but storage stopped answering before it was complete; \
                 it completes as soon as storage answers again. Read the organization (GET \
                 /org/get) in {RETRY_AFTER_SECONDS} seconds or later to see the outcome."
            ))),
            Self::Internal(_) => row(S::INTERNAL_SERVER_ERROR,
                "internal_error",
                "Internal server error", Cow::Borrowed("An unexpected error occurred; it has been logged.")),
        }
    }

    /// Seconds the client should wait before retrying, for the errors that say so.
    const fn retry_after(&self) -> Option<u64> {
        match self {
            Self::StorageUnavailable(_) | Self::OperationPending(_) => Some(RETRY_AFTER_SECONDS),
            Self::Overloaded | Self::Busy => Some(OVERLOADED_RETRY_AFTER_SECONDS),
            Self::ReplaysQueued => Some(RETRY_AFTER_SECONDS),
            Self::ExportsBusy => Some(EXPORTS_RETRY_AFTER_SECONDS),
            Self::TooManyRequests { retry_after } => Some(*retry_after),
            _ => None,
        }
    }

    /// The body this error is answered with.
    pub fn problem(&self) -> Problem {
        let Row {
            status,
            code,
            title,
            detail,
        } = self.row();
        Problem {
            problem_type: format!("urn:orgsvc:problem:{code}"),
            title,
            status: status.as_u16(),
            detail: detail.into_owned(),
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
        self.row().status
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
