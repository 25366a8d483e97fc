//! The HTTP face of orgsvc: actix-web handlers, DTOs, problem+json errors, bearer-token auth,
//! request logging and the OpenAPI document with Swagger UI.
//!
//! Handlers are generic over the domain's driving port (`OrgsvcApi`), so this crate never sees a
//! storage adapter; it must not depend on any. The composition root (`orgsvc-app`) builds the
//! service and hands it to [`configure`].

pub mod auth;
mod buckets;
pub mod dto;
pub mod extract;
pub mod handlers;
pub mod logging;
pub mod metrics;
pub mod openapi;
pub mod origin;
pub mod problem;
pub mod request_id;
pub mod throttle;
pub mod timing;

use actix_web::middleware::{from_fn, DefaultHeaders};
use actix_web::{guard, web, HttpResponse, Resource, Route};
use orgsvc_domain::webhooks::TargetPolicy;
use orgsvc_domain::OrgsvcApi;
use utoipa_swagger_ui::SwaggerUi;

pub use auth::KeyThrottle;
pub use extract::BodyLimit;
pub use logging::log_request;
pub use metrics::{record_request, MetricsEndpoint};
pub use problem::ApiError;
pub use request_id::request_id;
pub use throttle::{IpThrottle, IpThrottleSettings};

pub use handlers::keys::Jwks;
use handlers::{
    admin, api_keys, audit, documents, exports, health, invitations, keys, members, organizations,
    receipts, webhooks,
};

/// A resource whose other methods answer 405 as problem+json, with `Allow: allow`.
fn resource(path: &str, allow: &'static str) -> Resource {
    web::resource(path).default_service(web::to(move || async move {
        Err::<HttpResponse, _>(ApiError::MethodNotAllowed { allow })
    }))
}

/// GET, and HEAD with the same headers and no body (actix drops the body of HEAD answers).
fn get() -> Route {
    web::route().guard(guard::Any(guard::Get()).or(guard::Head()))
}

/// What the HTTP layer is configured with besides the service.
#[derive(Clone)]
pub struct HttpOptions {
    pub body: BodyLimit,
    pub jwks: web::Data<Jwks>,
    /// Shared by every worker, so it is built once and handed to each.
    pub throttle: web::Data<IpThrottle>,
    /// Each API key's rate. Shared by every worker.
    pub key_throttle: web::Data<auth::KeyThrottle>,
    /// How long answers that an email was free take, which "taken" answers are held to.
    /// Shared by every worker.
    pub email_answers: web::Data<timing::EmailAnswers>,
    /// What `/openapi.json` serves. Shared by every worker, so it is built once.
    pub openapi: web::Data<openapi::ServedDocument>,
    /// `GET /metrics`; `None` leaves the route out (404).
    pub metrics: Option<web::Data<MetricsEndpoint>>,
    /// Which webhook URLs may be registered.
    pub webhook_targets: WebhookTargets,
}

/// Which webhook URLs may be registered (`webhooks.allow_private_targets`).
#[derive(Clone, Copy, Debug, Default)]
pub struct WebhookTargets(pub TargetPolicy);

/// The OpenAPI document as Swagger UI reads it (see [`openapi::Dialect::Utf16`]); clients and
/// generators use `/openapi.json`.
const SWAGGER_UI_DOCUMENT: &str = "/docs/openapi.json";

/// The login route, which the per-IP limit's metrics tell apart.
pub const LOGIN_ROUTE: &str = "/admin/login";

/// Headers every response carries: no MIME sniffing, and no framing of any page (Swagger UI
/// included: clickjacking the Authorize dialog would hand over a token).
#[must_use]
pub fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Content-Security-Policy", "frame-ancestors 'none'"))
}

/// Registers every route, the extractor error handlers and the documentation on an app.
pub fn configure<A: OrgsvcApi>(
    api: A,
    options: HttpOptions,
) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(web::Data::new(api))
            .app_data(options.body)
            .app_data(options.throttle)
            .app_data(options.key_throttle)
            .app_data(options.email_answers)
            .app_data(options.jwks)
            .app_data(web::Data::new(options.webhook_targets))
            .app_data(web::QueryConfig::default().error_handler(extract::query_error))
            .app_data(web::PathConfig::default().error_handler(extract::path_error))
            .service(
                resource("/org/create", "POST")
                    .wrap(from_fn(throttle::per_ip_limit))
                    .route(web::post().to(organizations::create::<A>)),
            )
            .service(resource("/org/get", "GET, HEAD").route(get().to(organizations::get::<A>)))
            .service(
                resource("/org/update", "PUT").route(web::put().to(organizations::update::<A>)),
            )
            .service(
                resource("/org/delete", "DELETE")
                    .route(web::delete().to(organizations::delete::<A>)),
            )
            .service(
                resource("/org/deletion-receipts/{id}", "GET, HEAD")
                    .route(get().to(receipts::get::<A>)),
            )
            .service(resource("/org/audit", "GET, HEAD").route(get().to(audit::list::<A>)))
            .service(resource("/org/exports", "POST").route(web::post().to(exports::create::<A>)))
            .service(resource("/org/exports/{id}", "GET, HEAD").route(get().to(exports::get::<A>)))
            .service(
                resource("/org/exports/{id}/bundle", "GET, HEAD")
                    .route(get().to(exports::bundle::<A>)),
            )
            .service(
                resource(LOGIN_ROUTE, "POST")
                    .wrap(from_fn(throttle::per_ip_limit))
                    .route(web::post().to(admin::login::<A>)),
            )
            .service(resource("/admin/logout", "POST").route(web::post().to(admin::logout::<A>)))
            .service(
                resource("/org/documents", "GET, HEAD, POST")
                    .route(web::post().to(documents::insert::<A>))
                    .route(get().to(documents::list::<A>)),
            )
            .service(
                resource("/org/documents/{id}", "GET, HEAD, PUT, DELETE")
                    .route(get().to(documents::get::<A>))
                    .route(web::put().to(documents::replace::<A>))
                    .route(web::delete().to(documents::delete::<A>)),
            )
            // After the document routes: a path is matched against each pattern in turn, and
            // the document routes carry nearly all the traffic.
            .service(resource("/admin/switch", "POST").route(web::post().to(members::switch::<A>)))
            .service(resource("/org/members", "GET, HEAD").route(get().to(members::list::<A>)))
            .service(
                resource("/org/members/{user_id}", "PATCH, DELETE")
                    .route(web::patch().to(members::change_role::<A>))
                    .route(web::delete().to(members::remove::<A>)),
            )
            .service(resource("/org/leave", "POST").route(web::post().to(members::leave::<A>)))
            .service(
                resource("/org/api-keys", "GET, HEAD, POST")
                    .route(web::post().to(api_keys::create::<A>))
                    .route(get().to(api_keys::list::<A>)),
            )
            .service(
                resource("/org/api-keys/{id}", "DELETE")
                    .route(web::delete().to(api_keys::revoke::<A>)),
            )
            .service(
                resource("/org/api-keys/{id}/rotate", "POST")
                    .route(web::post().to(api_keys::rotate::<A>)),
            )
            .service(
                resource("/org/webhooks", "GET, HEAD, POST")
                    .route(web::post().to(webhooks::create::<A>))
                    .route(get().to(webhooks::list::<A>)),
            )
            .service(
                resource("/org/webhooks/{id}", "PATCH, DELETE")
                    .route(web::patch().to(webhooks::update::<A>))
                    .route(web::delete().to(webhooks::delete::<A>)),
            )
            .service(
                resource("/org/webhooks/{id}/rotate-secret", "POST")
                    .route(web::post().to(webhooks::rotate::<A>)),
            )
            .service(
                resource("/org/webhooks/{id}/deliveries", "GET, HEAD")
                    .route(get().to(webhooks::deliveries::<A>)),
            )
            .service(
                resource("/org/webhooks/{id}/replay", "POST")
                    .route(web::post().to(webhooks::replay::<A>)),
            )
            .service(
                resource("/org/transfer-ownership", "POST")
                    .route(web::post().to(members::transfer::<A>)),
            )
            .service(
                resource("/org/invitations", "GET, HEAD, POST")
                    .route(web::post().to(invitations::invite::<A>))
                    .route(get().to(invitations::list::<A>)),
            )
            .service(
                resource("/org/invitations/{id}", "DELETE")
                    .route(web::delete().to(invitations::revoke::<A>)),
            )
            .service(
                resource("/org/invitations/{id}/resend", "POST")
                    .route(web::post().to(invitations::resend::<A>)),
            )
            .service(
                resource("/invitations/accept", "POST")
                    .wrap(from_fn(throttle::per_ip_limit))
                    .route(web::post().to(invitations::accept::<A>)),
            )
            .service(resource("/.well-known/jwks.json", "GET, HEAD").route(get().to(keys::jwks)))
            .service(resource("/health", "GET, HEAD").route(get().to(health::health)))
            .configure(|cfg| {
                if let Some(endpoint) = options.metrics {
                    cfg.app_data(endpoint).service(
                        resource("/metrics", "GET, HEAD").route(get().to(metrics::scrape::<A>)),
                    );
                }
            })
            .service(resource("/ready", "GET, HEAD").route(get().to(health::ready::<A>)))
            .app_data(options.openapi)
            .service(resource("/openapi.json", "GET, HEAD").route(get().to(
                |document: web::Data<openapi::ServedDocument>| async move {
                    HttpResponse::Ok()
                        .content_type("application/json")
                        .body(document.body())
                },
            )))
            // Before Swagger UI, whose catch-all would take this path too.
            .service(
                resource(SWAGGER_UI_DOCUMENT, "GET, HEAD").route(get().to(|| async {
                    HttpResponse::Ok()
                        .content_type("application/json")
                        .body(openapi::swagger_ui_document())
                })),
            )
            .service(
                SwaggerUi::new("/docs/{_:.*}")
                    .config(utoipa_swagger_ui::Config::from(SWAGGER_UI_DOCUMENT)),
            )
            .service(web::redirect("/docs", "/docs/"))
            .service(web::redirect("/", "/docs/"))
            .default_service(web::to(|| async {
                Err::<HttpResponse, _>(ApiError::RouteNotFound)
            }));
    }
}
