use actix_web::{web, HttpResponse};
use orgsvc_domain::OrgsvcApi;

use crate::dto::{LoginBody, TokenResponse};
use crate::extract::JsonBody;
use crate::problem::{ApiError, Problem};

/// Log in as an admin
///
/// Returns a bearer token for the admin's organization. In Swagger UI, click **Authorize** and
/// paste the `access_token`.
#[utoipa::path(
    post, path = "/admin/login", tag = "admin",
    request_body = LoginBody,
    responses(
        (status = 200, description = "Logged in", body = TokenResponse),
        (status = 401, description = "`invalid_credentials`: unknown email or wrong password (indistinguishable)", body = Problem, content_type = "application/problem+json",
            example = json!({"type": "urn:orgsvc:problem:invalid_credentials", "title": "Invalid credentials", "status": 401,
                "detail": "The email or password is incorrect.", "code": "invalid_credentials"})),
        (status = 422, description = "The email is malformed or a field is missing", body = Problem, content_type = "application/problem+json",
            example = json!({"type": "urn:orgsvc:problem:validation_failed", "title": "Validation failed", "status": 422,
                "detail": "email: must look like name@example.com", "code": "validation_failed",
                "errors": [{"field": "email", "message": "must look like name@example.com"}]})),
    )
)]
pub async fn login<A: OrgsvcApi>(
    api: web::Data<A>,
    body: JsonBody<LoginBody>,
) -> Result<HttpResponse, ApiError> {
    let (email, password) = body.0.try_into_domain()?;
    let token = api.login(&email, &password).await?;
    Ok(HttpResponse::Ok().json(TokenResponse {
        access_token: token.access_token,
        token_type: "Bearer",
        expires_in: token.expires_in_seconds,
    }))
}
