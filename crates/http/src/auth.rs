//! Authentication before the handler: [`Caller`] yields the verified principal, so a handler
//! that needs one cannot forget to check the token. Checking the token is the service's job
//! (`OrgsvcApi::authenticate`); this finds it in the `Authorization` header.

use std::marker::PhantomData;
use std::ops::Deref;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use orgsvc_domain::{OrgsvcApi, Principal};

use crate::problem::ApiError;

/// The admin a request acts for, proven by a valid, unrevoked bearer token; 401 problem+json
/// otherwise. Wrap it in `Option` where a token is optional.
pub struct Caller<A> {
    principal: Principal,
    api: PhantomData<fn() -> A>,
}

impl<A> Deref for Caller<A> {
    type Target = Principal;

    fn deref(&self) -> &Principal {
        &self.principal
    }
}

impl<A: OrgsvcApi> FromRequest for Caller<A> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let token = bearer_token(req).map(str::to_owned);
        let api = req.app_data::<web::Data<A>>().cloned();
        Box::pin(async move {
            let token = token.ok_or(ApiError::Unauthorized)?;
            let api = api.ok_or_else(|| {
                ApiError::Internal(anyhow::anyhow!("the service is not registered as app data"))
            })?;
            Ok(Self {
                principal: api.authenticate(&token).await?,
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
