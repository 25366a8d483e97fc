//! Bearer-token extraction. Checking the token is the service's job (`OrgsvcApi::authenticate`);
//! this only finds it in the `Authorization` header.

use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::http::header::Header as _;
use actix_web::{FromRequest, HttpRequest};
use actix_web_httpauth::headers::authorization::{Authorization, Bearer};
use orgsvc_domain::{OrgsvcApi, Principal};

use crate::problem::ApiError;

/// The raw token of an `Authorization: Bearer <token>` header; 401 problem+json without one.
pub struct BearerToken(Bearer);

impl BearerToken {
    /// Who the token was issued to, if the service still accepts it.
    ///
    /// # Errors
    /// [`ApiError::Unauthorized`] for an invalid, expired or revoked token.
    pub async fn authenticate(&self, api: &impl OrgsvcApi) -> Result<Principal, ApiError> {
        Ok(api.authenticate(self.0.token()).await?)
    }
}

impl FromRequest for BearerToken {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(
            Authorization::<Bearer>::parse(req)
                .map(|auth| Self(auth.into_scheme()))
                .map_err(|_| ApiError::Unauthorized),
        )
    }
}
