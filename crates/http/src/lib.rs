//! The HTTP face of orgsvc: actix-web handlers, DTOs, problem+json errors, bearer-token auth,
//! request logging and the OpenAPI document with Swagger UI.
//!
//! Handlers are generic over the domain's driving port (`OrgsvcApi`), so this crate never sees a
//! storage adapter; it must not depend on any. The composition root (`orgsvc-app`) builds the
//! service and hands it to [`configure`].

pub mod auth;
pub mod dto;
pub mod extract;
pub mod handlers;
pub mod logging;
pub mod openapi;
pub mod problem;

use actix_web::{web, HttpResponse, Resource};
use orgsvc_domain::OrgsvcApi;
use utoipa::OpenApi as _;
use utoipa_swagger_ui::SwaggerUi;

pub use extract::BodyLimit;
pub use logging::log_request;
pub use problem::ApiError;

use handlers::{admin, documents, health, organizations};

/// A resource whose other methods answer 405 as problem+json.
fn resource(path: &str) -> Resource {
    web::resource(path).default_service(web::to(|| async {
        Err::<HttpResponse, _>(ApiError::MethodNotAllowed)
    }))
}

/// Registers every route, the extractor error handlers and the documentation on an app.
pub fn configure<A: OrgsvcApi>(
    api: A,
    body_limit: BodyLimit,
) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(web::Data::new(api))
            .app_data(body_limit)
            .app_data(web::QueryConfig::default().error_handler(extract::query_error))
            .app_data(web::PathConfig::default().error_handler(extract::path_error))
            .service(resource("/org/create").route(web::post().to(organizations::create::<A>)))
            .service(resource("/org/get").route(web::get().to(organizations::get::<A>)))
            .service(resource("/org/update").route(web::put().to(organizations::update::<A>)))
            .service(resource("/org/delete").route(web::delete().to(organizations::delete::<A>)))
            .service(resource("/admin/login").route(web::post().to(admin::login::<A>)))
            .service(
                resource("/org/documents")
                    .route(web::post().to(documents::insert::<A>))
                    .route(web::get().to(documents::list::<A>)),
            )
            .service(
                resource("/org/documents/{id}")
                    .route(web::get().to(documents::get::<A>))
                    .route(web::put().to(documents::replace::<A>))
                    .route(web::delete().to(documents::delete::<A>)),
            )
            .service(resource("/health").route(web::get().to(health::health)))
            .service(resource("/ready").route(web::get().to(health::ready::<A>)))
            .service(
                SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", openapi::ApiDoc::openapi()),
            )
            .service(web::redirect("/docs", "/docs/"))
            .default_service(web::to(|| async {
                Err::<HttpResponse, _>(ApiError::RouteNotFound)
            }));
    }
}
