//! Authentication before the handler: [`Caller`] (a member's token) and [`Acting`] (a member's
//! token or an organization's API key) yield the verified principal, so a handler that needs
//! one cannot forget to check it. Checking is the service's job (`OrgsvcApi::authenticate`);
//! this finds the credential in the `Authorization` header, and keeps each key to its rate.

use std::marker::PhantomData;
use std::ops::Deref;
use std::time::Instant;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use orgsvc_domain::{ApiKeyId, OrgsvcApi, Principal};

use crate::buckets::TokenBuckets;
use crate::problem::ApiError;

/// The member a request acts for, proven by a valid, unrevoked bearer token; 401 problem+json
/// otherwise, and 403 `api_key_not_allowed` for an API key. Wrap it in `Option` where a token
/// is optional.
pub struct Caller<A> {
    principal: Principal,
    api: PhantomData<fn() -> A>,
}

/// Who a request acts for on the routes API keys may call: a member's token, or an
/// organization's API key (within its rate: 429 with `Retry-After` past it). What the key's
/// scopes allow is the service's to decide, like a role.
pub struct Acting<A> {
    principal: Principal,
    api: PhantomData<fn() -> A>,
}

/// Per API key token buckets, shared by every worker of this instance.
pub struct KeyThrottle(TokenBuckets<ApiKeyId>);

impl KeyThrottle {
    #[must_use]
    pub fn new(burst: u32, per_second: f64) -> Self {
        Self(TokenBuckets::new(burst, per_second))
    }
}

impl<A> Deref for Caller<A> {
    type Target = Principal;

    fn deref(&self) -> &Principal {
        &self.principal
    }
}

impl<A> Deref for Acting<A> {
    type Target = Principal;

    fn deref(&self) -> &Principal {
        &self.principal
    }
}

/// The principal the request's bearer credential proves.
fn authenticated<A: OrgsvcApi>(
    req: &HttpRequest,
) -> LocalBoxFuture<'static, Result<Principal, ApiError>> {
    let token = bearer_token(req).map(str::to_owned);
    let api = req.app_data::<web::Data<A>>().cloned();
    let throttle = req.app_data::<web::Data<KeyThrottle>>().cloned();
    Box::pin(async move {
        let token = token.ok_or(ApiError::Unauthorized)?;
        let api = api.ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!("the service is not registered as app data"))
        })?;
        let principal = api.authenticate(&token).await?;
        if let (Some(key), Some(throttle)) = (principal.key, throttle) {
            throttle
                .0
                .take(key.id, Instant::now())
                .map_err(|retry_after| ApiError::TooManyRequests { retry_after })?;
        }
        Ok(principal)
    })
}

impl<A: OrgsvcApi> FromRequest for Caller<A> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let principal = authenticated::<A>(req);
        Box::pin(async move {
            let principal = principal.await?;
            if principal.key.is_some() {
                return Err(ApiError::ApiKeyNotAllowed);
            }
            Ok(Self {
                principal,
                api: PhantomData,
            })
        })
    }
}

impl<A: OrgsvcApi> FromRequest for Acting<A> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let principal = authenticated::<A>(req);
        Box::pin(async move {
            Ok(Self {
                principal: principal.await?,
                api: PhantomData,
            })
        })
    }
}

/// The token of an `Authorization: Bearer <token>` header; it must be RFC 6750's `b64token`
/// (as every token orgsvc issues is).
fn bearer_token(req: &HttpRequest) -> Option<&str> {
    let token = bearer_credentials(req)?;
    let b64token = |c: char| c.is_ascii_alphanumeric() || "-._~+/".contains(c);
    let body = token.trim_end_matches('=');
    (!body.is_empty() && body.chars().all(b64token)).then_some(token)
}

/// Whatever follows the `Bearer` scheme of the `Authorization` header, trimmed. The scheme is
/// case-insensitive (RFC 9110 section 11.1).
pub(crate) fn bearer_credentials(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim_start())
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn token_of(value: &str) -> Option<String> {
        let req = TestRequest::default()
            .insert_header((header::AUTHORIZATION, value))
            .to_http_request();
        bearer_token(&req).map(str::to_owned)
    }

    #[test]
    fn the_bearer_scheme_is_matched_without_regard_to_case() {
        for value in [
            "Bearer abc.def",
            "bearer abc.def",
            "BEARER abc.def",
            " Bearer  abc.def ",
        ] {
            assert_eq!(token_of(value).as_deref(), Some("abc.def"), "{value:?}");
        }
    }

    #[test]
    fn other_schemes_and_malformed_tokens_are_not_tokens() {
        for value in [
            "Basic abc",
            "Bearer",
            "Bearer ",
            "Bearer a b",
            "Bearerabc",
            "Bearer ===",
        ] {
            assert_eq!(token_of(value), None, "{value:?}");
        }
    }
}
