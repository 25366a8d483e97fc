use actix_web::{web, HttpResponse};
use orgsvc_domain::OrgsvcApi;

use crate::auth::Caller;
use crate::dto::{LoginBody, TokenResponse};
use crate::extract::JsonBody;
use crate::handlers::members::token_response;
use crate::metrics::LoginOutcome;
use crate::origin::ClientOrigin;
use crate::problem::{ApiError, Problem};

/// Log in as an admin
///
/// Returns a bearer token for the user's organization, in their role there. A user who belongs
/// to several names one in `organization_name` (without it: 409 `organization_required`, with
/// the names to choose from, once the password checked out). In Swagger UI, click
/// **Authorize** and paste the `access_token`. After repeated wrong passwords the account is locked for a while
/// (429, also for unknown emails, so the answer never tells whether an account exists).
#[utoipa::path(
    post, path = "/admin/login", operation_id = "login", tag = "admin",
    request_body = LoginBody,
    responses(
        (status = 200, description = "Logged in", body = TokenResponse),
        (status = 403, description = "`not_a_member`: the password checked out, but the organization named is not the user's", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`organization_required`: the user belongs to several organizations; `organizations` lists them", body = Problem, content_type = "application/problem+json",
            example = json!({"type": "urn:orgsvc:problem:organization_required", "title": "Organization required", "status": 409,
                "detail": "You belong to several organizations: send `organization_name` with one of those listed in `organizations`.",
                "code": "organization_required", "organizations": ["Acme Corp", "Globex"]})),
        (status = 401, description = "`invalid_credentials`: unknown email or wrong password (indistinguishable)", body = Problem, content_type = "application/problem+json",
            example = json!({"type": "urn:orgsvc:problem:invalid_credentials", "title": "Invalid credentials", "status": 401,
                "detail": "The email or password is incorrect.", "code": "invalid_credentials"})),
        (status = 422, description = "The email is malformed or a field is missing", body = Problem, content_type = "application/problem+json",
            example = json!({"type": "urn:orgsvc:problem:validation_failed", "title": "Validation failed", "status": 422,
                "detail": "email: must look like name@example.com", "code": "validation_failed",
                "errors": [{"field": "email", "message": "must look like name@example.com"}]})),
        (status = 429, description = "`too_many_requests`: the account is locked after repeated failures, or this client address made too many requests; see `Retry-After`", body = Problem, content_type = "application/problem+json",
            example = json!({"type": "urn:orgsvc:problem:too_many_requests", "title": "Too many requests", "status": 429,
                "detail": "Too many attempts; retry in 60 seconds.", "code": "too_many_requests"})),
        (status = 503, description = "`overloaded`: password hashing is at capacity; see `Retry-After`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn login<A: OrgsvcApi>(
    api: web::Data<A>,
    origin: ClientOrigin,
    body: JsonBody<LoginBody>,
) -> Result<HttpResponse, ApiError> {
    let result = attempt(api, origin, body).await;
    if let Some(outcome) = LoginOutcome::of(&result) {
        outcome.count();
    }
    result
}

async fn attempt<A: OrgsvcApi>(
    api: web::Data<A>,
    origin: ClientOrigin,
    body: JsonBody<LoginBody>,
) -> Result<HttpResponse, ApiError> {
    let (email, password, organization) = body.0.try_into_domain()?;
    let token = api
        .login(&origin.0, &email, &password, organization.as_ref())
        .await?;
    Ok(token_response(token))
}

/// Log out everywhere
///
/// Revokes every token issued to the calling admin, the one used for this request included.
#[utoipa::path(
    post, path = "/admin/logout", operation_id = "logout", tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Every token of the admin is revoked"),
    )
)]
pub async fn logout<A: OrgsvcApi>(
    api: web::Data<A>,
    origin: ClientOrigin,
    caller: Caller<A>,
) -> Result<HttpResponse, ApiError> {
    api.logout(&origin.0, &caller).await?;
    Ok(HttpResponse::NoContent().finish())
}
