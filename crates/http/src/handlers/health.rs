use actix_web::{web, HttpResponse};
use orgsvc_domain::OrgsvcApi;

use crate::dto::StatusResponse;
use crate::problem::{ApiError, Problem};

/// Liveness: the process serves HTTP
#[utoipa::path(
    get, path = "/health", operation_id = "health", tag = "operations",
    responses((status = 200, description = "Alive", body = StatusResponse))
)]
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(StatusResponse { status: "ok" })
}

/// Readiness: storage answers
#[utoipa::path(
    get, path = "/ready", operation_id = "ready", tag = "operations",
    responses(
        (status = 200, description = "Ready", body = StatusResponse),
        (status = 503, description = "`storage_unavailable`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn ready<A: OrgsvcApi>(api: web::Data<A>) -> Result<HttpResponse, ApiError> {
    api.ready().await?;
    Ok(HttpResponse::Ok().json(StatusResponse { status: "ready" }))
}
