//! The organization's API keys, managed by its owners and admins.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use orgsvc_domain::OrgsvcApi;

use crate::auth::Caller;
use crate::dto::{api_key_id, ApiKeyResponse, ApiKeysResponse, CreateApiKeyBody};
use crate::extract::JsonBody;
use crate::handlers::secret;
use crate::origin::ClientOrigin;
use crate::problem::{ApiError, Problem};

/// Create an API key
///
/// Owners and admins, for scopes within their own role. The answer holds the key (`osk_...`),
/// shown this once; a client app sends it as `Authorization: Bearer <key>` to the document
/// endpoints, `GET /org/get`, `GET /org/members` and `GET /org/audit`, as its scopes allow.
/// Each key has a rate of its own (`api_keys.per_second`, `api_keys.burst`; 429 past it).
#[utoipa::path(
    post, path = "/org/api-keys", operation_id = "create_api_key", tag = "api-keys",
    request_body = CreateApiKeyBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created; `key` is shown only here", body = ApiKeyResponse),
        (status = 403, description = "`forbidden` (members, or scopes beyond the caller's role) or `api_key_not_allowed`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`too_many_api_keys`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create<A: OrgsvcApi>(
    api: web::Data<A>,
    origin: ClientOrigin,
    caller: Caller<A>,
    body: JsonBody<CreateApiKeyBody>,
) -> Result<HttpResponse, ApiError> {
    let new = body.0.try_into_domain()?;
    let issued = api.create_api_key(&origin.0, &caller, new).await?;
    Ok(secret(StatusCode::CREATED).json(ApiKeyResponse::from(issued)))
}

/// List API keys
#[utoipa::path(
    get, path = "/org/api-keys", operation_id = "list_api_keys", tag = "api-keys",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The keys, without their secrets", body = ApiKeysResponse),
        (status = 403, description = "`forbidden` or `api_key_not_allowed`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list<A: OrgsvcApi>(
    api: web::Data<A>,
    caller: Caller<A>,
) -> Result<HttpResponse, ApiError> {
    let keys = api.list_api_keys(&caller).await?;
    Ok(HttpResponse::Ok().json(ApiKeysResponse {
        api_keys: keys.into_iter().map(ApiKeyResponse::from).collect(),
    }))
}

/// Rotate an API key
///
/// Gives the key a new secret, shown this once; the old one stops working at once. Its id,
/// name and scopes stay.
#[utoipa::path(
    post, path = "/org/api-keys/{id}/rotate", operation_id = "rotate_api_key", tag = "api-keys",
    params(("id" = Uuid, Path, description = "The API key's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Rotated; `key` is shown only here", body = ApiKeyResponse),
        (status = 403, description = "`forbidden` or `api_key_not_allowed`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`api_key_not_found`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn rotate<A: OrgsvcApi>(
    api: web::Data<A>,
    origin: ClientOrigin,
    caller: Caller<A>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = api_key_id(&id)?;
    let issued = api.rotate_api_key(&origin.0, &caller, &id).await?;
    Ok(secret(StatusCode::OK).json(ApiKeyResponse::from(issued)))
}

/// Revoke an API key
///
/// It stops working at once on this instance, and within `cache.ttl_ms` on the others.
#[utoipa::path(
    delete, path = "/org/api-keys/{id}", operation_id = "revoke_api_key", tag = "api-keys",
    params(("id" = Uuid, Path, description = "The API key's id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Revoked"),
        (status = 403, description = "`forbidden` or `api_key_not_allowed`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`api_key_not_found`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn revoke<A: OrgsvcApi>(
    api: web::Data<A>,
    origin: ClientOrigin,
    caller: Caller<A>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = api_key_id(&id)?;
    api.revoke_api_key(&origin.0, &caller, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}
