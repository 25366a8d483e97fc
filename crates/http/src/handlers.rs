//! Request handlers: extract, convert to domain values, call the service, map the result.
//! No storage or business logic lives here.

use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::http::StatusCode;
use actix_web::HttpResponseBuilder;

pub mod admin;
pub mod api_keys;
pub mod audit;
pub mod documents;
pub mod exports;
pub mod health;
pub mod invitations;
pub mod keys;
pub mod members;
pub mod organizations;
pub mod receipts;
pub mod webhooks;

/// An answer holding a secret (a bearer token, an invitation's token), which no browser or
/// proxy may keep.
#[must_use]
pub fn secret(status: StatusCode) -> HttpResponseBuilder {
    let mut response = HttpResponseBuilder::new(status);
    response.insert_header(CacheControl(vec![CacheDirective::NoStore]));
    response
}
