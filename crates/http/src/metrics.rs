//! Prometheus metrics of the HTTP layer, and the `GET /metrics` endpoint that serves every
//! metric of the process (storage, hashing, logins) in the text exposition format.
//!
//! The HTTP layer records through the `metrics` facade and never sees the exporter: the
//! composition root installs one and hands over a [`MetricsEndpoint`] that renders it.

use std::sync::Arc;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest, HttpResponse};
use orgsvc_domain::OrgsvcApi;

use crate::auth::bearer_credentials;
use crate::problem::ApiError;

/// What `GET /metrics` serves, and who may read it.
#[derive(Clone)]
pub struct MetricsEndpoint {
    render: Arc<dyn Fn() -> String + Send + Sync>,
    /// When set, scrapes must send `Authorization: Bearer <token>`.
    token: Option<Arc<str>>,
}

impl MetricsEndpoint {
    pub fn new(render: impl Fn() -> String + Send + Sync + 'static, token: Option<String>) -> Self {
        Self {
            render: Arc::new(render),
            token: token.map(Arc::from),
        }
    }

    fn authorize(&self, req: &HttpRequest) -> Result<(), ApiError> {
        let Some(expected) = &self.token else {
            return Ok(());
        };
        // The configured token may hold any characters, not only a JWT's.
        match bearer_credentials(req) {
            Some(sent) if constant_time_eq(sent.as_bytes(), expected.as_bytes()) => Ok(()),
            _ => Err(ApiError::Unauthorized),
        }
    }
}

/// Compares without stopping at the first difference, so timing tells nothing of the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `GET /metrics`: Prometheus text format. The organization count is read from storage at each
/// scrape, so every instance reports the same, current number.
pub async fn scrape<A: OrgsvcApi>(
    api: web::Data<A>,
    endpoint: web::Data<MetricsEndpoint>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    endpoint.authorize(&req)?;
    match api.organization_count().await {
        #[allow(clippy::cast_precision_loss)] // exact below 2^53 organizations
        Ok(count) => metrics::gauge!("orgsvc_organizations").set(count as f64),
        Err(error) => tracing::warn!(error = %error, "organizations could not be counted"),
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body((endpoint.render)()))
}

/// Middleware: `orgsvc_http_requests_total{method, route, status}` and
/// `orgsvc_http_request_duration_seconds{method, route}`. `route` is the matched template
/// (`/org/documents/{id}`), never the path itself, so ids and junk paths cannot multiply the
/// series; requests that match no route are `unmatched`.
pub async fn record_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = method_label(req.method());
    let response = next.call(req).await?;
    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let status = response.status().as_u16().to_string();
    metrics::histogram!(
        "orgsvc_http_request_duration_seconds",
        "method" => method,
        "route" => route.clone(),
    )
    .record(started.elapsed().as_secs_f64());
    metrics::counter!(
        "orgsvc_http_requests_total",
        "method" => method,
        "route" => route,
        "status" => status,
    )
    .increment(1);
    Ok(response)
}

/// Methods outside the standard set are one label, so a client cannot invent series.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// How a login ended, for `orgsvc_logins_total{outcome}`.
#[derive(Clone, Copy, Debug)]
pub enum LoginOutcome {
    Success,
    /// Wrong password or unknown email.
    Failure,
    /// The account is locked after repeated failures, or too many of its logins are in flight.
    Locked,
    /// This client address made too many requests (the per-IP limit).
    Throttled,
    /// Password hashing was at capacity.
    Overloaded,
    /// Storage or another internal failure.
    Error,
}

impl LoginOutcome {
    /// The outcome of a login handler's answer; `None` for a request that was not a login
    /// attempt at all (a malformed body).
    #[must_use]
    pub const fn of(result: &Result<HttpResponse, ApiError>) -> Option<Self> {
        Some(match result {
            Ok(_) => Self::Success,
            Err(ApiError::InvalidCredentials) => Self::Failure,
            Err(ApiError::TooManyRequests { .. }) => Self::Locked,
            Err(ApiError::Overloaded) => Self::Overloaded,
            Err(
                ApiError::Validation(_)
                | ApiError::MalformedBody(_)
                | ApiError::PayloadTooLarge { .. }
                | ApiError::UnsupportedMediaType
                | ApiError::RequestTimeout,
            ) => return None,
            Err(_) => Self::Error,
        })
    }

    pub fn count(self) {
        let outcome = match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Locked => "locked",
            Self::Throttled => "throttled",
            Self::Overloaded => "overloaded",
            Self::Error => "error",
        };
        metrics::counter!("orgsvc_logins_total", "outcome" => outcome).increment(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"x"));
    }

    #[test]
    fn invented_methods_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::from_bytes(b"BREW").unwrap()), "other");
    }
}
