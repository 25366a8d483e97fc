//! One structured log line per request: method, path (without the query string, which may hold
//! names users consider private), status and latency. Never headers or bodies, so never tokens
//! or passwords.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;

pub async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.path().to_owned();
    let response = next.call(req).await?;
    let status = response.status().as_u16();
    // Microsecond resolution is plenty and keeps the number short.
    let latency_ms = started.elapsed().as_micros() as f64 / 1000.0;
    tracing::info!(%method, %path, status, latency_ms, "request");
    Ok(response)
}
