//! `X-Request-Id`: the client's, when it sent a sane one (1 to 128 visible ASCII characters),
//! otherwise a new UUID. It is echoed on the response, set on a tracing span around the request
//! (so every log line of the request carries it), and written into problem bodies as
//! `request_id`, so a user's error report finds its log lines.

use actix_web::body::{to_bytes, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Instrument as _;

pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Longest client-sent id kept; a longer one is replaced.
const MAX_LEN: usize = 128;

/// The id to use for a request that came with `sent`.
#[must_use]
pub fn choose(sent: Option<&HeaderValue>) -> String {
    sent.map(HeaderValue::as_bytes)
        .filter(|id| !id.is_empty() && id.len() <= MAX_LEN && id.iter().all(u8::is_ascii_graphic))
        .and_then(|id| std::str::from_utf8(id).ok())
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned)
}

/// # Errors
/// Only what the wrapped service returns, or a problem body that cannot be read back.
pub async fn request_id(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let id = choose(req.headers().get(&HEADER));
    let span = tracing::info_span!("request", request_id = %id);
    let response = next.call(req).instrument(span).await?;
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == b"application/problem+json");
    let (request, response) = response.into_parts();
    let (mut head, body) = response.into_parts();
    let body = if is_problem {
        // Problem bodies are small; the id goes in beside `code`.
        let bytes = to_bytes(body).await.map_err(|e| {
            let e: Box<dyn std::error::Error> = e.into();
            actix_web::error::ErrorInternalServerError(e.to_string())
        })?;
        // Must run before compression (the app wraps Compress outside this); a body that is
        // not a JSON object is passed on untouched.
        match serde_json::from_slice::<serde_json::Value>(&bytes) {
            Ok(serde_json::Value::Object(mut fields)) => {
                fields.insert("request_id".into(), serde_json::Value::String(id.clone()));
                head.headers_mut().remove(header::CONTENT_LENGTH);
                BoxBody::new(serde_json::to_vec(&fields).unwrap_or_else(|_| bytes.to_vec()))
            }
            _ => BoxBody::new(bytes),
        }
    } else {
        body.boxed()
    };
    if let Ok(value) = HeaderValue::from_str(&id) {
        head.headers_mut().insert(HEADER, value);
    }
    Ok(ServiceResponse::new(request, head.set_body(body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sane_id_is_kept_and_anything_else_replaced_by_a_uuid() {
        let kept = HeaderValue::from_static("req-123_abc.DEF");
        assert_eq!(choose(Some(&kept)), "req-123_abc.DEF");
        for bad in [
            HeaderValue::from_static(""),
            HeaderValue::from_static("has space"),
            HeaderValue::from_str(&"x".repeat(129)).unwrap(),
            HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap(),
        ] {
            let replaced = choose(Some(&bad));
            assert!(
                replaced.parse::<uuid::Uuid>().is_ok(),
                "{bad:?} -> {replaced}"
            );
        }
        assert!(choose(None).parse::<uuid::Uuid>().is_ok());
    }
}
