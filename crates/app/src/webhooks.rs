//! The webhook delivery worker's settings and its loop: claims organizations with deliveries
//! due, works up to `concurrency` of them at once (each one's endpoints in order), and waits
//! `poll_ms` when nothing is due.

use std::sync::Arc;
use std::time::Duration;

use orgsvc_domain::service::Ports;
use orgsvc_domain::webhooks::TargetPolicy;
use orgsvc_domain::{Deliverer, DeliveryPolicy, Service};
use serde::Deserialize;
use tokio::sync::Semaphore;

use crate::background::Worker;

mod transport;

pub use transport::HttpTransport;

#[derive(Clone, Debug, Deserialize)]
pub struct WebhookSettings {
    /// Run the delivery worker in this instance (several may: claims keep them apart).
    pub enabled: bool,
    /// Allow endpoints on loopback, private and link-local addresses and over plain `http`.
    pub allow_private_targets: bool,
    /// Organizations worked at once.
    pub concurrency: usize,
    /// How often to look for due deliveries when there were none.
    pub poll_ms: u64,
    /// A delivery's time limit.
    pub timeout_ms: u64,
    /// The wait after a first failed attempt; tripled per further failure up to `retry_max_ms`.
    pub retry_first_ms: u64,
    pub retry_max_ms: u64,
    /// An endpoint failing this long without one success is disabled.
    pub disable_after_hours: u64,
    /// How long a claim on an organization holds without its worker.
    pub lease_seconds: u64,
}

impl WebhookSettings {
    #[must_use]
    pub const fn targets(&self) -> TargetPolicy {
        TargetPolicy {
            allow_private_targets: self.allow_private_targets,
        }
    }

    /// # Errors
    /// When a bound is 0.
    pub fn policy(&self) -> anyhow::Result<DeliveryPolicy> {
        anyhow::ensure!(
            self.concurrency > 0,
            "webhooks.concurrency must be at least 1"
        );
        anyhow::ensure!(self.poll_ms > 0, "webhooks.poll_ms must be at least 1");
        anyhow::ensure!(
            self.timeout_ms > 0,
            "webhooks.timeout_ms must be at least 1"
        );
        anyhow::ensure!(
            self.lease_seconds * 1_000 > self.timeout_ms * 2,
            "webhooks.lease_seconds must be more than twice webhooks.timeout_ms"
        );
        anyhow::ensure!(
            self.retry_first_ms > 0 && self.retry_first_ms <= self.retry_max_ms,
            "webhooks.retry_first_ms must be at least 1 and at most webhooks.retry_max_ms"
        );
        Ok(DeliveryPolicy {
            retry_first: Duration::from_millis(self.retry_first_ms),
            retry_max: Duration::from_millis(self.retry_max_ms),
            disable_after: Duration::from_secs(self.disable_after_hours * 3_600),
            lease: Duration::from_secs(self.lease_seconds),
        })
    }
}

/// Starts the delivery loop on the current runtime.
///
/// # Errors
/// Invalid settings, or no HTTP client.
pub fn start<P: Ports>(
    service: Service<P>,
    settings: &WebhookSettings,
) -> anyhow::Result<Option<Worker>> {
    let policy = settings.policy()?;
    if !settings.enabled {
        return Ok(None);
    }
    let transport = HttpTransport::new(
        settings.targets(),
        Duration::from_millis(settings.timeout_ms),
    )?;
    let owner = crate::background::owner();
    let deliverer = Deliverer::new(service, transport, policy, owner);
    let poll = Duration::from_millis(settings.poll_ms);
    let permits = Arc::new(Semaphore::new(settings.concurrency));
    Ok(Some(Worker::spawn(run(deliverer, permits, poll))))
}

async fn run<P: Ports>(
    deliverer: Deliverer<P, HttpTransport>,
    permits: Arc<Semaphore>,
    poll: Duration,
) {
    loop {
        // Claim no more than can be worked now, so a claim never waits on this process.
        let Ok(first) = Arc::clone(&permits).acquire_owned().await else {
            return;
        };
        let free = 1 + permits.available_permits();
        let claims = match deliverer.claim(free).await {
            Ok(claims) => claims,
            Err(e) => {
                tracing::warn!(error = ?e, "could not claim webhook deliveries");
                drop(first);
                tokio::time::sleep(poll).await;
                continue;
            }
        };
        if claims.is_empty() {
            drop(first);
            tokio::time::sleep(poll).await;
            continue;
        }
        let mut first = Some(first);
        for claim in claims {
            let permit = match first.take() {
                Some(permit) => permit,
                None => match Arc::clone(&permits).acquire_owned().await {
                    Ok(permit) => permit,
                    Err(_) => return,
                },
            };
            let deliverer = deliverer.clone();
            tokio::spawn(async move {
                let organization = claim.organization_id;
                match deliverer.work(claim).await {
                    Ok(worked) if worked.lost => {
                        tracing::warn!(%organization, "webhook claim ran out before release");
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(%organization, error = ?e, "webhook deliveries failed");
                    }
                }
                drop(permit);
            });
        }
    }
}
