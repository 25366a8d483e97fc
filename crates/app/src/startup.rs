//! Building and running the HTTP server.

use std::net::TcpListener;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::{from_fn, Compress};
use actix_web::{App, HttpServer};
use anyhow::Context as _;
use orgsvc_crypto::{Argon2Hasher, JwtCodec};
use std::time::Duration;

use actix_web::web;
use orgsvc_domain::ports::{Store, SystemClock};
use orgsvc_domain::{DeletionPolicy, Service};
use orgsvc_http::{
    openapi, BodyLimit, HttpOptions, IpThrottle, IpThrottleSettings, Jwks, KeyThrottle,
    MetricsEndpoint,
};
use orgsvc_storage::{Cached, EmbeddedStore, Instrumented, MongoStore};
use secrecy::ExposeSecret as _;

use crate::secret;
use crate::settings::{Backend, Settings};

/// A bound, not yet running server.
pub struct Application {
    port: u16,
    server: Server,
    /// The webhook delivery worker, stopped with the server.
    _webhooks: Option<crate::background::Worker>,
    _exports: Option<crate::background::Worker>,
}

impl Application {
    /// Opens storage, builds the service and binds the listener (port 0 picks a free port).
    ///
    /// # Errors
    /// When storage cannot be opened, the settings are invalid or the address cannot be bound.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        // Everything that can be wrong with the configuration is checked before storage is
        // touched, so a misconfigured start leaves no files behind.
        let hasher = Argon2Hasher::new(settings.auth.argon2)?;
        let key = secret::signing_key(&settings, secret::Absent::Generate)?
            .ok_or_else(|| anyhow::anyhow!("no JWT signing key could be had"))?;
        let tokens = secret::token_codec(&settings, key)?;
        let jwks = Jwks(tokens.jwks().clone());
        let listener = TcpListener::bind(&settings.http.listen)
            .with_context(|| format!("cannot listen on {}", settings.http.listen))?;
        // Checked here, before storage; the document that names it is built in `serve`.
        settings.http.public_url(listener.local_addr()?)?;
        match settings.storage.backend {
            Backend::Embedded => {
                let path = settings.storage.embedded.path.clone();
                let cache = settings
                    .storage
                    .embedded
                    .cache_mib
                    .saturating_mul(1024 * 1024);
                let store = tokio::task::spawn_blocking(move || {
                    EmbeddedStore::open_with_cache(&path, cache)
                })
                .await??;
                let store = Instrumented::new(store, "embedded");
                // Nothing else writes the file while this process holds it: entries need
                // no expiry, this process's own changes already invalidate them.
                Self::with_cache(&settings, listener, store, None, hasher, tokens, jwks)
            }
            Backend::Mongodb => {
                let mut mongodb = settings.storage.mongodb.clone();
                mongodb.audit_retention_days = settings.audit.retention_days;
                let store = Instrumented::new(MongoStore::connect(mongodb).await?, "mongodb");
                let ttl = Duration::from_millis(settings.cache.ttl_ms);
                Self::with_cache(&settings, listener, store, Some(ttl), hasher, tokens, jwks)
            }
        }
    }

    /// Puts the in-process cache in front of `store` unless `cache.ttl_ms` is 0, its entries
    /// expiring after `ttl` (`None`: only this process changes the store).
    fn with_cache<S: Store>(
        settings: &Settings,
        listener: TcpListener,
        store: S,
        ttl: Option<Duration>,
        hasher: Argon2Hasher,
        tokens: JwtCodec,
        jwks: Jwks,
    ) -> anyhow::Result<Self> {
        let policy = settings.auth.login.policy();
        let invitations = settings.invitations.policy()?;
        let exports = settings.exports.policy()?;
        let deletions = DeletionPolicy {
            receipt_retention_days: settings.deletion.receipt_retention_days,
            // The embedded store keeps audit events for good.
            audit_retention_days: (settings.storage.backend == Backend::Mongodb)
                .then_some(settings.audit.retention_days),
        };
        match settings.cache.ttl_ms {
            0 => {
                let service = Service::new(store, hasher, tokens, SystemClock)
                    .with_login_policy(policy)
                    .with_invitation_policy(invitations)
                    .with_deletion_policy(deletions)
                    .with_export_policy(exports);
                Self::serve(settings, listener, service, jwks)
            }
            _ => {
                let store = match ttl {
                    Some(ttl) => Cached::new(store, ttl),
                    None => Cached::without_expiry(store),
                };
                let service = Service::new(store, hasher, tokens, SystemClock)
                    .with_login_policy(policy)
                    .with_invitation_policy(invitations)
                    .with_deletion_policy(deletions)
                    .with_export_policy(exports);
                Self::serve(settings, listener, service, jwks)
            }
        }
    }

    fn serve<S>(
        settings: &Settings,
        listener: TcpListener,
        service: Service<(S, Argon2Hasher, JwtCodec, SystemClock)>,
        jwks: Jwks,
    ) -> anyhow::Result<Self>
    where
        S: Store,
    {
        let options = HttpOptions {
            body: BodyLimit {
                max_bytes: settings.http.body_limit_bytes,
                timeout: Duration::from_millis(settings.http.body_timeout_ms),
            },
            jwks: web::Data::new(jwks),
            throttle: web::Data::new(IpThrottle::new(IpThrottleSettings {
                burst: settings.auth.login.per_ip_burst,
                per_second: settings.auth.login.per_ip_per_second,
                trusted_proxies: settings.http.trusted_proxies.clone(),
            })),
            key_throttle: web::Data::new(KeyThrottle::new(
                settings.api_keys.burst,
                settings.api_keys.per_second,
            )),
            email_answers: web::Data::default(),
            openapi: web::Data::new(openapi::ServedDocument::new(
                &settings.http.public_url(listener.local_addr()?)?,
            )),
            webhook_targets: orgsvc_http::WebhookTargets(settings.webhooks.targets()),
            metrics: settings.metrics.enabled.then(|| {
                let handle = crate::telemetry::metrics();
                web::Data::new(MetricsEndpoint::new(
                    move || handle.render(),
                    settings
                        .metrics
                        .token
                        .as_ref()
                        .map(|token| token.expose_secret().to_owned()),
                ))
            }),
        };
        let port = listener.local_addr()?.port();
        let webhooks = crate::webhooks::start(service.clone(), &settings.webhooks)?;
        let exports = crate::exports::start(service.clone(), &settings.exports)?;
        let mut server = HttpServer::new(move || {
            // The last wrap is the outermost: compression sees the finished body, after the
            // request id went into it; the request log line is inside the request-id span.
            App::new()
                .wrap(orgsvc_http::security_headers())
                .wrap(from_fn(orgsvc_http::log_request))
                .wrap(from_fn(orgsvc_http::record_request))
                .wrap(from_fn(orgsvc_http::request_id))
                .wrap(Compress::default())
                .configure(orgsvc_http::configure(service.clone(), options.clone()))
        })
        // SIGTERM or SIGINT: stop accepting, let requests in flight finish within the grace
        // period, then return (the binary exits 0). A rename or move in progress on MongoDB is
        // left to recovery.
        .shutdown_timeout(settings.http.shutdown_grace_seconds)
        .listen(listener)?;
        if settings.http.workers > 0 {
            server = server.workers(settings.http.workers);
        }
        Ok(Self {
            port,
            server: server.run(),
            _webhooks: webhooks,
            _exports: exports,
        })
    }

    #[must_use]
    pub const fn port(&self) -> u16 {
        self.port
    }

    /// A handle to stop the server from elsewhere.
    #[must_use]
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped by a signal (SIGINT, SIGTERM) or the handle.
    ///
    /// # Errors
    /// When the server fails.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
