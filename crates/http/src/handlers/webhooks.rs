//! The organization's webhook endpoints, managed by its owners and admins (with a member's
//! token; API keys are refused). Deliveries are signed per Standard Webhooks.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use orgsvc_domain::OrgsvcApi;

use crate::auth::Caller;
use crate::dto::{
    webhook_id, CreateWebhookBody, DeliveriesResponse, ReplayBody, UpdateWebhookBody,
    WebhookResponse, WebhooksResponse,
};
use crate::extract::JsonBody;
use crate::handlers::secret;
use crate::origin::ClientOrigin;
use crate::problem::{ApiError, Problem};
use crate::WebhookTargets;

/// Register a webhook endpoint
///
/// Owners and admins. Events committed from now on are sent to `url` as `POST`s with a JSON
/// body `{"type", "timestamp", "data"}`, signed per Standard Webhooks (`webhook-id`,
/// `webhook-timestamp`, `webhook-signature`) with the `secret` of the answer, shown this once.
/// The `webhook-id` is the same for every attempt of an event: drop the ones you saw. Each
/// endpoint gets its events in the order they were committed; failed deliveries are retried
/// with growing waits, an event is given up after 10 attempts, and an endpoint that fails for
/// a day is disabled.
#[utoipa::path(
    post, path = "/org/webhooks", operation_id = "create_webhook", tag = "webhooks",
    request_body = CreateWebhookBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Registered; `secret` is shown only here", body = WebhookResponse),
        (status = 403, description = "`forbidden` or `api_key_not_allowed`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`too_many_webhooks`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create<A: OrgsvcApi>(
    api: web::Data<A>,
    targets: web::Data<WebhookTargets>,
    origin: ClientOrigin,
    caller: Caller<A>,
    body: JsonBody<CreateWebhookBody>,
) -> Result<HttpResponse, ApiError> {
    let new = body.0.try_into_domain(targets.0)?;
    let issued = api.create_webhook(&origin.0, &caller, new).await?;
    Ok(secret(StatusCode::CREATED).json(WebhookResponse::from(issued)))
}

/// List webhook endpoints
#[utoipa::path(
    get, path = "/org/webhooks", operation_id = "list_webhooks", tag = "webhooks",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The endpoints, without their secrets", body = WebhooksResponse),
        (status = 403, description = "`forbidden` or `api_key_not_allowed`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list<A: OrgsvcApi>(
    api: web::Data<A>,
    caller: Caller<A>,
) -> Result<HttpResponse, ApiError> {
    let endpoints = api.list_webhooks(&caller).await?;
    Ok(HttpResponse::Ok().json(WebhooksResponse {
        webhooks: endpoints.into_iter().map(WebhookResponse::from).collect(),
    }))
}

/// Change a webhook endpoint
#[utoipa::path(
    patch, path = "/org/webhooks/{id}", operation_id = "update_webhook", tag = "webhooks",
    params(("id" = Uuid, Path, description = "The endpoint's id")),
    request_body = UpdateWebhookBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Changed", body = WebhookResponse),
        (status = 403, description = "`forbidden` or `api_key_not_allowed`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`webhook_not_found`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn update<A: OrgsvcApi>(
    api: web::Data<A>,
    targets: web::Data<WebhookTargets>,
    origin: ClientOrigin,
    caller: Caller<A>,
    id: web::Path<String>,
    body: JsonBody<UpdateWebhookBody>,
) -> Result<HttpResponse, ApiError> {
    let id = webhook_id(&id)?;
    let edit = body.0.try_into_domain(targets.0)?;
    let endpoint = api.update_webhook(&origin.0, &caller, &id, edit).await?;
    Ok(HttpResponse::Ok().json(WebhookResponse::from(endpoint)))
}

/// Rotate a webhook endpoint's secret
///
/// A new secret, shown this once. For the next 24 hours deliveries carry a signature by each
/// of the new and the old secret, so the receiver can switch over without missing one.
#[utoipa::path(
    post, path = "/org/webhooks/{id}/rotate-secret", operation_id = "rotate_webhook_secret", tag = "webhooks",
    params(("id" = Uuid, Path, description = "The endpoint's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Rotated; `secret` is shown only here", body = WebhookResponse),
        (status = 403, description = "`forbidden` or `api_key_not_allowed`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`webhook_not_found`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn rotate<A: OrgsvcApi>(
    api: web::Data<A>,
    origin: ClientOrigin,
    caller: Caller<A>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = webhook_id(&id)?;
    let issued = api.rotate_webhook_secret(&origin.0, &caller, &id).await?;
    Ok(secret(StatusCode::OK).json(WebhookResponse::from(issued)))
}

/// Delete a webhook endpoint
///
/// Nothing more is sent to it.
#[utoipa::path(
    delete, path = "/org/webhooks/{id}", operation_id = "delete_webhook", tag = "webhooks",
    params(("id" = Uuid, Path, description = "The endpoint's id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "`forbidden` or `api_key_not_allowed`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`webhook_not_found`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn delete<A: OrgsvcApi>(
    api: web::Data<A>,
    origin: ClientOrigin,
    caller: Caller<A>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = webhook_id(&id)?;
    api.delete_webhook(&origin.0, &caller, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A webhook endpoint's deliveries
///
/// Where its deliveries stand and its last 100 attempts, newest first.
#[utoipa::path(
    get, path = "/org/webhooks/{id}/deliveries", operation_id = "list_webhook_deliveries", tag = "webhooks",
    params(("id" = Uuid, Path, description = "The endpoint's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The delivery log", body = DeliveriesResponse),
        (status = 403, description = "`forbidden` or `api_key_not_allowed`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`webhook_not_found`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn deliveries<A: OrgsvcApi>(
    api: web::Data<A>,
    caller: Caller<A>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = webhook_id(&id)?;
    let progress = api.webhook_deliveries(&caller, &id).await?;
    Ok(HttpResponse::Ok().json(DeliveriesResponse::from(progress)))
}

/// Replay deliveries
///
/// Sends one event again (`seq`), or every event committed since a time (`since`), in order,
/// with their original `webhook-id`s. Carried out by the delivery worker shortly after.
#[utoipa::path(
    post, path = "/org/webhooks/{id}/replay", operation_id = "replay_webhook", tag = "webhooks",
    params(("id" = Uuid, Path, description = "The endpoint's id")),
    request_body = ReplayBody,
    security(("bearer" = [])),
    responses(
        (status = 202, description = "Queued"),
        (status = 403, description = "`forbidden` or `api_key_not_allowed`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`webhook_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`webhook_disabled`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`replays_queued`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn replay<A: OrgsvcApi>(
    api: web::Data<A>,
    origin: ClientOrigin,
    caller: Caller<A>,
    id: web::Path<String>,
    body: JsonBody<ReplayBody>,
) -> Result<HttpResponse, ApiError> {
    let id = webhook_id(&id)?;
    let request = body.0.try_into_domain()?;
    api.replay_webhook(&origin.0, &caller, &id, request).await?;
    Ok(HttpResponse::Accepted().finish())
}
