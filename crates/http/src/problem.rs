//! The one place that decides how every failure looks on the wire: RFC 9457 problem details
//! (`application/problem+json`) with a stable machine-readable `code`.
//!
//! Internal failures are logged with their whole cause chain and answered with a generic body:
//! no driver or library message ever reaches a client.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use orgsvc_domain::errors::{
    AuthenticateError, CreateOrganizationError, DeleteOrganizationError, DocumentError,
    GetOrganizationError, LoginError, StoreError, UpdateOrganizationError,
};
use serde::Serialize;
use utoipa::ToSchema;

/// Seconds a client should wait before retrying when storage is unavailable.
pub const RETRY_AFTER_SECONDS: u32 = 5;

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
    #[error("forbidden")]
    Forbidden,
    #[error("organization not found")]
    OrganizationNotFound,
    #[error("document not found")]
    DocumentNotFound,
    #[error("organization {slug} exists")]
    OrganizationExists { slug: String },
    #[error("admin email {email} taken")]
    AdminEmailTaken { email: String },
    #[error("route not found")]
    RouteNotFound,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("storage unavailable")]
    StorageUnavailable(#[source] anyhow::Error),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn field(field: &str, message: impl ToString) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    const fn code(&self) -> &'static str {
        match self {
            Self::MalformedBody(_) => "malformed_body",
            Self::Validation(_) => "validation_failed",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::Unauthorized => "unauthorized",
            Self::InvalidCredentials => "invalid_credentials",
            Self::Forbidden => "forbidden",
            Self::OrganizationNotFound => "organization_not_found",
            Self::DocumentNotFound => "document_not_found",
            Self::OrganizationExists { .. } => "organization_exists",
            Self::AdminEmailTaken { .. } => "admin_email_taken",
            Self::RouteNotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::StorageUnavailable(_) => "storage_unavailable",
            Self::Internal(_) => "internal_error",
        }
    }

    const fn title(&self) -> &'static str {
        match self {
            Self::MalformedBody(_) => "Malformed request body",
            Self::Validation(_) => "Validation failed",
            Self::PayloadTooLarge { .. } => "Payload too large",
            Self::UnsupportedMediaType => "Unsupported media type",
            Self::Unauthorized => "Unauthorized",
            Self::InvalidCredentials => "Invalid credentials",
            Self::Forbidden => "Forbidden",
            Self::OrganizationNotFound => "Organization not found",
            Self::DocumentNotFound => "Document not found",
            Self::OrganizationExists { .. } => "Organization exists",
            Self::AdminEmailTaken { .. } => "Admin email taken",
            Self::RouteNotFound => "Not found",
            Self::MethodNotAllowed => "Method not allowed",
            Self::StorageUnavailable(_) => "Storage unavailable",
            Self::Internal(_) => "Internal server error",
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
            Self::Forbidden => "Your token belongs to another organization.".into(),
            Self::OrganizationNotFound => "No organization has that name.".into(),
            Self::DocumentNotFound => "No document with that id in your organization.".into(),
            Self::OrganizationExists { slug } => {
                format!("An organization whose name normalizes to '{slug}' already exists.")
            }
            Self::AdminEmailTaken { email } => {
                format!("An admin with email '{email}' already exists.")
            }
            Self::RouteNotFound => "No such endpoint; see /docs for the API.".into(),
            Self::MethodNotAllowed => "This endpoint does not accept that method.".into(),
            Self::StorageUnavailable(_) => format!(
                "Storage is temporarily unavailable; retry in {RETRY_AFTER_SECONDS} seconds."
            ),
            Self::Internal(_) => "An unexpected error occurred; it has been logged.".into(),
        }
    }

    /// The body this error is answered with.
    pub fn problem(&self) -> Problem {
        let code = self.code();
        Problem {
            problem_type: format!("urn:orgsvc:problem:{code}"),
            title: self.title(),
            status: self.status_code().as_u16(),
            detail: self.detail(),
            code,
            errors: match self {
                Self::Validation(errors) => errors.clone(),
                _ => Vec::new(),
            },
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::MalformedBody(_) => StatusCode::BAD_REQUEST,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unauthorized | Self::InvalidCredentials => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::OrganizationNotFound | Self::DocumentNotFound | Self::RouteNotFound => {
                StatusCode::NOT_FOUND
            }
            Self::OrganizationExists { .. } | Self::AdminEmailTaken { .. } => StatusCode::CONFLICT,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::StorageUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Internal(cause) => tracing::error!(error = ?cause, "request failed"),
            Self::StorageUnavailable(cause) => {
                tracing::warn!(error = ?cause, "storage unavailable");
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
            Self::StorageUnavailable(_) => {
                response.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECONDS.to_string()));
            }
            _ => {}
        }
        response.body(serde_json::to_string(&self.problem()).unwrap_or_default())
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(cause) => Self::StorageUnavailable(cause),
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
            CreateOrganizationError::EmailTaken { email } => Self::AdminEmailTaken {
                email: email.to_string(),
            },
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
            UpdateOrganizationError::NameTaken { slug } => Self::OrganizationExists {
                slug: slug.to_string(),
            },
            UpdateOrganizationError::EmailTaken { email } => Self::AdminEmailTaken {
                email: email.to_string(),
            },
            UpdateOrganizationError::Store(e) => e.into(),
            UpdateOrganizationError::Unknown(e) => Self::Internal(e),
        }
    }
}

impl From<DeleteOrganizationError> for ApiError {
    fn from(error: DeleteOrganizationError) -> Self {
        match error {
            DeleteOrganizationError::NotFound => Self::OrganizationNotFound,
            DeleteOrganizationError::Forbidden => Self::Forbidden,
            DeleteOrganizationError::Store(e) => e.into(),
        }
    }
}

impl From<LoginError> for ApiError {
    fn from(error: LoginError) -> Self {
        match error {
            LoginError::InvalidCredentials => Self::InvalidCredentials,
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
            DocumentError::Store(e) => e.into(),
        }
    }
}
