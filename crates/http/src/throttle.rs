//! Per-client-IP token buckets in front of the endpoints that check or hash passwords
//! (`/admin/login`, `/org/create`, `/invitations/accept`, and `PUT /org/update` when it
//! carries a password or an email). In memory and per instance: it caps what one address can
//! make this process hash; the per-account lockout (in the store) is what holds across
//! instances.

use std::net::IpAddr;
use std::time::Instant;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpRequest, ResponseError as _};

use crate::buckets::TokenBuckets;
use crate::metrics::LoginOutcome;
use crate::problem::ApiError;
use crate::LOGIN_ROUTE;

/// Settings of [`IpThrottle`].
#[derive(Clone, Debug, PartialEq)]
pub struct IpThrottleSettings {
    /// Requests an address may make at once after being idle.
    pub burst: u32,
    /// Requests per second it may sustain.
    pub per_second: f64,
    /// Proxies whose `X-Forwarded-For` is believed; the socket peer is the client otherwise.
    pub trusted_proxies: Vec<IpAddr>,
}

pub struct IpThrottle {
    trusted_proxies: Vec<IpAddr>,
    buckets: TokenBuckets<IpAddr>,
}

impl IpThrottle {
    #[must_use]
    pub fn new(settings: IpThrottleSettings) -> Self {
        Self {
            buckets: TokenBuckets::new(settings.burst, settings.per_second),
            trusted_proxies: settings.trusted_proxies,
        }
    }

    /// Takes one token for `ip`, or says how many seconds until one is there.
    ///
    /// # Errors
    /// The seconds to wait when the bucket is empty.
    pub fn take(&self, ip: IpAddr, now: Instant) -> Result<(), u64> {
        self.buckets.take(ip, now)
    }

    /// The client's address: the socket peer, or, when the peer is a trusted proxy, the
    /// nearest address in `X-Forwarded-For` that is not itself a trusted proxy.
    #[must_use]
    pub fn client_ip(&self, peer: Option<IpAddr>, forwarded_for: Option<&str>) -> Option<IpAddr> {
        let trusted = |ip: &IpAddr| self.trusted_proxies.contains(ip);
        let peer = peer?;
        if !trusted(&peer) {
            return Some(peer);
        }
        let chain = forwarded_for.unwrap_or_default().split(',').rev();
        for hop in chain {
            match hop.trim().parse::<IpAddr>() {
                Ok(ip) if trusted(&ip) => {}
                Ok(ip) => return Some(ip),
                // A hop we cannot read: trust nothing beyond it.
                Err(_) => return Some(peer),
            }
        }
        Some(peer)
    }
}

/// The client's address for `req`, as [`IpThrottle::client_ip`] decides it with the app's
/// trusted proxies (the socket peer when no throttle is configured). What the per-IP limit
/// counts and the audit log records.
#[must_use]
pub fn client_address(req: &HttpRequest) -> Option<IpAddr> {
    let peer = req.peer_addr().map(|addr| addr.ip());
    match req.app_data::<web::Data<IpThrottle>>() {
        Some(throttle) => {
            // Several header lines are one list, in order (RFC 9110, 5.3): the nearest hops
            // are in the last line, and reading only the first would believe a client's own.
            // A line that is not text reads as a hop that cannot be parsed.
            let lines: Vec<&str> = req
                .headers()
                .get_all("x-forwarded-for")
                .map(|v| v.to_str().unwrap_or("?"))
                .collect();
            throttle.client_ip(peer, Some(&lines.join(",")))
        }
        None => peer,
    }
}

/// Takes one token of the client's bucket, or answers the refusal (429 with `Retry-After`).
///
/// # Errors
/// [`ApiError::TooManyRequests`] once the client's address has used its bucket.
pub fn take_for(req: &HttpRequest) -> Result<(), ApiError> {
    let Some(throttle) = req.app_data::<web::Data<IpThrottle>>() else {
        return Ok(());
    };
    let Some(ip) = client_address(req) else {
        return Ok(());
    };
    throttle
        .take(ip, Instant::now())
        .map_err(|retry_after| ApiError::TooManyRequests { retry_after })
}

/// Middleware for the password-hashing endpoints: 429 with `Retry-After` once an address has
/// used its bucket, answered before the handler (and so before any hashing). A route that
/// checks a password only for some bodies calls [`take_for`] itself instead.
///
/// # Errors
/// Only what the wrapped service returns.
pub async fn per_ip_limit<B: MessageBody>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    if let Err(refusal) = take_for(req.request()) {
        if req.match_pattern().as_deref() == Some(LOGIN_ROUTE) {
            LoginOutcome::Throttled.count();
        }
        let refusal = refusal.error_response();
        return Ok(req.into_response(refusal).map_into_right_body());
    }
    Ok(next.call(req).await?.map_into_left_body())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn forwarded_for_split_over_several_lines_is_read_as_one_list() {
        let proxy = "10.0.0.9";
        let request = actix_web::test::TestRequest::default()
            .peer_addr(format!("{proxy}:4000").parse().unwrap())
            .insert_header(("x-forwarded-for", "198.51.100.1"))
            .append_header(("x-forwarded-for", "203.0.113.7"))
            .app_data(web::Data::new(throttle(1, 1.0, &[proxy])))
            .to_http_request();
        assert_eq!(client_address(&request), Some(ip("203.0.113.7")));
    }

    fn throttle(burst: u32, per_second: f64, trusted: &[&str]) -> IpThrottle {
        IpThrottle::new(IpThrottleSettings {
            burst,
            per_second,
            trusted_proxies: trusted.iter().map(|ip| ip.parse().unwrap()).collect(),
        })
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_burst_is_allowed_then_one_request_per_refill() {
        let throttle = throttle(3, 1.0, &[]);
        let start = Instant::now();
        for _ in 0..3 {
            assert_eq!(throttle.take(ip("10.0.0.1"), start), Ok(()));
        }
        assert_eq!(throttle.take(ip("10.0.0.1"), start), Err(1));
        // Another address has its own bucket.
        assert_eq!(throttle.take(ip("10.0.0.2"), start), Ok(()));
        let later = start + Duration::from_millis(1100);
        assert_eq!(throttle.take(ip("10.0.0.1"), later), Ok(()));
        assert!(throttle.take(ip("10.0.0.1"), later).is_err());
    }

    #[test]
    fn the_wait_is_rounded_up_to_whole_seconds() {
        let throttle = throttle(1, 0.25, &[]);
        let now = Instant::now();
        assert_eq!(throttle.take(ip("10.0.0.1"), now), Ok(()));
        assert_eq!(throttle.take(ip("10.0.0.1"), now), Err(4));
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let throttle = throttle(1, 1.0, &["10.0.0.9", "10.0.0.8"]);
        let forwarded = Some("203.0.113.7, 198.51.100.1, 10.0.0.8");
        // An untrusted peer is the client, whatever it claims.
        assert_eq!(
            throttle.client_ip(Some(ip("192.0.2.1")), forwarded),
            Some(ip("192.0.2.1"))
        );
        // A trusted proxy: the nearest untrusted hop, not the (spoofable) first one.
        assert_eq!(
            throttle.client_ip(Some(ip("10.0.0.9")), forwarded),
            Some(ip("198.51.100.1"))
        );
        assert_eq!(
            throttle.client_ip(Some(ip("10.0.0.9")), Some("garbage")),
            Some(ip("10.0.0.9"))
        );
        assert_eq!(
            throttle.client_ip(Some(ip("10.0.0.9")), None),
            Some(ip("10.0.0.9"))
        );
    }
}
