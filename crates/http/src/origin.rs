//! Where a request comes from, for the audit log: the client address as the per-IP limit
//! sees it (the socket peer, or `X-Forwarded-For` from a trusted proxy).

use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use orgsvc_domain::Origin;

use crate::problem::ApiError;
use crate::throttle::client_address;

/// The request's [`Origin`]; never fails.
pub struct ClientOrigin(pub Origin);

impl FromRequest for ClientOrigin {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(Ok(Self(Origin {
            ip: client_address(req),
        })))
    }
}
