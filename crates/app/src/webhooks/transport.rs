//! Webhook deliveries over HTTP: `POST` with the Standard Webhooks headers, no redirects (a
//! redirect could lead anywhere), a time limit, and (unless private targets are allowed) a
//! resolver that only hands out public addresses, checked at every connection so that a name
//! that turns to a private address later is refused too.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use orgsvc_crypto::webhook_signature;
use orgsvc_domain::ports::{Delivery, DeliveryFailure, WebhookTransport};
use orgsvc_domain::webhooks::{is_public, TargetPolicy};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// How much of a failing receiver's answer is kept in the delivery log.
const KEPT_REASON_CHARS: usize = 200;

#[derive(Clone)]
pub struct HttpTransport {
    client: reqwest::Client,
    policy: TargetPolicy,
}

impl HttpTransport {
    /// # Errors
    /// When the HTTP client cannot be built (no TLS roots).
    pub fn new(policy: TargetPolicy, timeout: Duration) -> anyhow::Result<Self> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .pool_max_idle_per_host(4)
            .user_agent(concat!("orgsvc-webhooks/", env!("CARGO_PKG_VERSION")));
        if !policy.allow_private_targets {
            builder = builder.dns_resolver(Arc::new(PublicOnly));
        }
        Ok(Self {
            client: builder.build()?,
            policy,
        })
    }
}

fn failure(status: Option<u16>, reason: impl Into<String>) -> DeliveryFailure {
    DeliveryFailure {
        status,
        reason: reason.into(),
    }
}

impl WebhookTransport for HttpTransport {
    async fn send(&self, delivery: Delivery<'_>) -> Result<u16, DeliveryFailure> {
        let url = reqwest::Url::parse(delivery.url.as_str())
            .map_err(|e| failure(None, format!("invalid URL: {e}")))?;
        if !self.policy.allow_private_targets {
            // A literal address never reaches the resolver.
            let literal = match url.host() {
                Some(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
                Some(url::Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
                _ => None,
            };
            if literal.is_some_and(|ip| !is_public(ip)) || url.scheme() != "https" {
                return Err(failure(None, "refused: not a public https target"));
            }
        }
        let signature = webhook_signature(
            delivery.secrets,
            delivery.id,
            delivery.timestamp,
            delivery.body,
        )
        .ok_or_else(|| failure(None, "no signing secret"))?;
        let started = Instant::now();
        let sent = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", delivery.id)
            .header("webhook-timestamp", delivery.timestamp.to_string())
            .header("webhook-signature", signature)
            .body(delivery.body.to_vec())
            .send()
            .await;
        metrics::histogram!("orgsvc_webhook_delivery_seconds")
            .record(started.elapsed().as_secs_f64());
        let outcome = match sent {
            Ok(response) if response.status().is_success() => Ok(response.status().as_u16()),
            Ok(response) => {
                let status = response.status();
                let text: String = response
                    .text()
                    .await
                    .unwrap_or_default()
                    .chars()
                    .take(KEPT_REASON_CHARS)
                    .collect();
                Err(failure(
                    Some(status.as_u16()),
                    format!("answered {status}: {text}"),
                ))
            }
            Err(e) if e.is_timeout() => Err(failure(None, "timed out")),
            Err(e) => Err(failure(None, error_chain(&e))),
        };
        let result = if outcome.is_ok() {
            "delivered"
        } else {
            "failed"
        };
        metrics::counter!("orgsvc_webhook_attempts_total", "result" => result).increment(1);
        outcome
    }
}

/// An error with its causes, which say what actually went wrong (refused, TLS, DNS).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text.chars().take(KEPT_REASON_CHARS).collect()
}

/// Resolves names to their public addresses only.
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0))
                .await?
                .filter(|addr| is_public(addr.ip()))
                .collect();
            if found.is_empty() {
                return Err(format!("{} resolves to no public address", name.as_str()).into());
            }
            let addrs: Addrs = Box::new(found.into_iter());
            Ok(addrs)
        })
    }
}
