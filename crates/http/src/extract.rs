//! Request extractors whose failures are problem+json: JSON bodies that tell a syntax error
//! (400) from a well-formed body with wrong fields (422, naming the field), and handlers for
//! actix's own query and path extractors.

use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::error::{PathError, QueryPayloadError};
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage as _, HttpRequest};
use futures_util::future::LocalBoxFuture;
use futures_util::StreamExt as _;
use serde::de::DeserializeOwned;

use crate::problem::{ApiError, FieldError};

mod literals;
mod organization_name;

pub use organization_name::NamedOrganization;

/// How large a request body may be and how long it may take to arrive; set as app data.
#[derive(Clone, Copy, Debug)]
pub struct BodyLimit {
    pub max_bytes: usize,
    /// From the first byte asked for to the last received: a body that trickles or stalls
    /// would otherwise hold its connection (and a worker's attention) forever.
    pub timeout: Duration,
}

impl Default for BodyLimit {
    fn default() -> Self {
        Self {
            max_bytes: 1024 * 1024,
            timeout: Duration::from_secs(10),
        }
    }
}

/// A JSON request body deserialized into `T`.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = read_json(req, payload);
        Box::pin(async move { body.await.map(JsonBody) })
    }
}

/// Reads and parses a JSON body within the limits of the request's [`BodyLimit`].
fn read_json<T: DeserializeOwned + 'static>(
    req: &HttpRequest,
    payload: &mut Payload,
) -> LocalBoxFuture<'static, Result<T, ApiError>> {
    let BodyLimit {
        max_bytes: limit,
        timeout,
    } = req.app_data::<BodyLimit>().copied().unwrap_or_default();
    let checked = check_content_type(req).and_then(|()| check_declared_length(req, limit));
    let mut payload = payload.take();
    Box::pin(async move {
        checked?;
        let received = Cell::new(0);
        let read = async {
            let mut body = Vec::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|e| ApiError::MalformedBody(e.to_string()))?;
                if body.len() + chunk.len() > limit {
                    return Err(ApiError::PayloadTooLarge { limit });
                }
                body.extend_from_slice(&chunk);
                received.set(body.len());
            }
            Ok(body)
        };
        let body = within_client_time(timeout, read, &received).await?;
        parse_json(&body)
    })
}

/// Runs `read` for at most `timeout` of the client's time. The timer alone cannot tell that:
/// after this process was not running (stopped, or starved on a busy host), it may fire before
/// the runtime has looked at the socket where the body has been waiting. So on expiry the read
/// gets short further turns, each starting only once the process runs again, for as long as
/// each brings bytes; they add up to at most `timeout` more, so a client trickling its body
/// still cannot hold the connection for longer than twice that.
async fn within_client_time(
    timeout: Duration,
    read: impl Future<Output = Result<Vec<u8>, ApiError>>,
    received: &Cell<usize>,
) -> Result<Vec<u8>, ApiError> {
    const TURN: Duration = Duration::from_millis(100);
    let mut read = pin!(read);
    if let Ok(body) = tokio::time::timeout(timeout, &mut read).await {
        return body;
    }
    let turn = timeout.min(TURN);
    for _ in 0..timeout.div_duration_f64(turn).ceil() as u32 {
        let before = received.get();
        if let Ok(body) = tokio::time::timeout(turn, &mut read).await {
            return body;
        }
        if received.get() == before {
            break;
        }
    }
    Err(ApiError::RequestTimeout)
}

/// Whether the request carries a body at all (a declared non-zero length, or chunks).
fn has_body(req: &HttpRequest) -> bool {
    req.headers().contains_key(header::TRANSFER_ENCODING)
        || declared_length(req).is_some_and(|length| length > 0)
}

/// The body length the client announced in `Content-Length` (actix refuses a malformed one
/// before any handler runs).
fn declared_length(req: &HttpRequest) -> Option<usize> {
    req.headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

fn check_content_type(req: &HttpRequest) -> Result<(), ApiError> {
    match req.mime_type() {
        Ok(Some(mime)) if mime.subtype() == mime::JSON || mime.suffix() == Some(mime::JSON) => {
            Ok(())
        }
        _ => Err(ApiError::UnsupportedMediaType),
    }
}

/// Refuses early when the client announces a body over the limit.
fn check_declared_length(req: &HttpRequest, limit: usize) -> Result<(), ApiError> {
    match declared_length(req) {
        Some(length) if length > limit => Err(ApiError::PayloadTooLarge { limit }),
        _ => Ok(()),
    }
}

/// Parses a JSON object; only syntax errors are 400, everything else names the offending field.
///
/// Every orgsvc request body is an object. serde would also accept an array for a struct
/// (`["Acme", "a@b.io", "secret"]`), so anything but an object is refused up front.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some() && first != Some(&b'{') {
        return match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
            Ok(_) => Err(ApiError::field("body", "must be a JSON object")),
            Err(e) => Err(ApiError::MalformedBody(without_position(&e.to_string()))),
        };
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => data_error(&path, &inner.to_string()),
            _ => ApiError::MalformedBody(without_position(&inner.to_string())),
        }
    })?;
    deserializer
        .end()
        .map_err(|e| ApiError::MalformedBody(without_position(&e.to_string())))?;
    literals::check(body)?;
    Ok(value)
}

/// serde_json appends " at line L column C", which means nothing to a client of a JSON API.
fn without_position(message: &str) -> String {
    message
        .rfind(" at line ")
        .map_or(message, |at| &message[..at])
        .to_owned()
}

/// A 422 for a data error at `path` ("." for the top level), naming the field when serde only
/// says it in the message ("missing field `email`", "unknown field `foo`, expected ...").
fn data_error(path: &str, message: &str) -> ApiError {
    let message = without_position(message);
    let named = ["missing field `", "unknown field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))
        .and_then(|rest| rest.split('`').next());
    // serde_path_to_error's path already ends with an unknown field's name, but stops at the
    // parent of a missing one.
    let field = match (path, named) {
        ("." | "", Some(name)) => name.to_owned(),
        ("." | "", None) => "body".to_owned(),
        (path, Some(name)) if path != name && !path.ends_with(&format!(".{name}")) => {
            format!("{path}.{name}")
        }
        (path, _) => path.to_owned(),
    };
    ApiError::Validation(vec![FieldError::new(field, message)])
}

/// For `web::QueryConfig`: a bad query string is a validation error naming the parameter.
pub fn query_error(error: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    query_problem(&error).into()
}

fn query_problem(error: &QueryPayloadError) -> ApiError {
    let message = match error {
        QueryPayloadError::Deserialize(e) => e.to_string(),
        other => other.to_string(),
    };
    data_error(".", &message)
}

/// For `web::PathConfig`.
pub fn path_error(error: PathError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::field("path", error).into()
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        inner: Option<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        count: u32,
    }

    fn fields(error: ApiError) -> Vec<String> {
        match error {
            ApiError::Validation(errors) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn syntax_errors_and_truncated_bodies_are_malformed() {
        for body in [
            &b"{"[..],
            b"",
            b"{\"name\": }",
            b"{\"name\": \"a\"} trailing",
            b"nul\0",
            b"[1,",
        ] {
            let error = parse_json::<Body>(body).unwrap_err();
            assert!(
                matches!(error, ApiError::MalformedBody(_)),
                "{body:?}: {error:?}"
            );
        }
    }

    #[test]
    fn missing_unknown_and_mistyped_fields_are_named() {
        assert_eq!(fields(parse_json::<Body>(b"{}").unwrap_err()), ["name"]);
        assert_eq!(
            fields(parse_json::<Body>(br#"{"name":"a","extra":1}"#).unwrap_err()),
            ["extra"]
        );
        assert_eq!(
            fields(parse_json::<Body>(br#"{"name":5}"#).unwrap_err()),
            ["name"]
        );
        assert_eq!(
            fields(parse_json::<Body>(br#"{"name":"a","inner":{"count":"x"}}"#).unwrap_err()),
            ["inner.count"]
        );
        assert_eq!(
            fields(parse_json::<Body>(br#"{"name":"a","inner":{}}"#).unwrap_err()),
            ["inner.count"]
        );
        assert_eq!(
            fields(parse_json::<Body>(br#"{"name":"a","inner":{"count":1,"x":2}}"#).unwrap_err()),
            ["inner.x"]
        );
        assert_eq!(
            fields(parse_json::<Body>(br#"{"x":1,"name":"a"}"#).unwrap_err()),
            ["x"]
        );
        for not_an_object in [&b"[\"a\", null]"[..], b" \"a\"", b"1", b"null"] {
            assert_eq!(
                fields(parse_json::<Body>(not_an_object).unwrap_err()),
                ["body"]
            );
        }
    }

    #[test]
    fn messages_do_not_carry_line_and_column() {
        let ApiError::MalformedBody(message) = parse_json::<Body>(b"{").unwrap_err() else {
            panic!("expected malformed");
        };
        assert!(!message.contains("line"), "{message}");
    }

    /// A client that trickles its body, a byte now and then, is still refused: the turns after
    /// the timeout give it at most that much more time.
    #[tokio::test(start_paused = true)]
    async fn a_trickling_body_gets_at_most_twice_the_timeout() {
        let timeout = Duration::from_secs(1);
        let received = Cell::new(0);
        let trickle = async {
            loop {
                tokio::time::sleep(Duration::from_millis(50)).await;
                received.set(received.get() + 1);
            }
        };
        let started = tokio::time::Instant::now();
        let answer = within_client_time(timeout, trickle, &received).await;
        assert!(
            matches!(answer, Err(ApiError::RequestTimeout)),
            "{answer:?}"
        );
        assert!(started.elapsed() <= 2 * timeout, "{:?}", started.elapsed());
    }

    /// A body that stops coming is refused at the timeout and one empty turn.
    #[tokio::test(start_paused = true)]
    async fn a_stalled_body_is_refused_after_one_empty_turn() {
        let timeout = Duration::from_secs(1);
        let received = Cell::new(0);
        let started = tokio::time::Instant::now();
        let answer = within_client_time(timeout, std::future::pending(), &received).await;
        assert!(
            matches!(answer, Err(ApiError::RequestTimeout)),
            "{answer:?}"
        );
        assert_eq!(started.elapsed(), timeout + Duration::from_millis(100));
    }
}
