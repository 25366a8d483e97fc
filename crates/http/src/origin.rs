//! Where a request comes from, for the audit log: the client address as the per-IP limit
//! sees it (the socket peer, or `X-Forwarded-For` from a trusted proxy).

use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use orgsvc_domain::Origin;

use crate::problem::ApiError;
use crate::throttle::IpThrottle;

/// The request's [`Origin`]; never fails.
pub struct ClientOrigin(pub Origin);

impl FromRequest for ClientOrigin {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let peer = req.peer_addr().map(|addr| addr.ip());
        let ip = match req.app_data::<web::Data<IpThrottle>>() {
            Some(throttle) => {
                let forwarded = req
                    .headers()
                    .get("x-forwarded-for")
                    .and_then(|v| v.to_str().ok());
                throttle.client_ip(peer, forwarded)
            }
            None => peer,
        };
        ready(Ok(Self(Origin { ip })))
    }
}
