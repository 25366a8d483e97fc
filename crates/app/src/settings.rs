//! Typed settings: `config/default.toml` (compiled in), then the file named by `ORGSVC_CONFIG`,
//! then `ORGSVC__SECTION__KEY` environment variables.

use std::path::PathBuf;

use std::time::Duration;

use config::{Config, Environment, File, FileFormat};
use orgsvc_crypto::{Argon2Settings, JwtAlgorithm};
use orgsvc_domain::{InvitationPolicy, LockPolicy, LoginPolicy};
use orgsvc_storage::MongoSettings;
use secrecy::SecretString;
use serde::Deserialize;

const DEFAULTS: &str = include_str!("../../../config/default.toml");

#[derive(Clone, Debug, Deserialize)]
pub struct Settings {
    pub profile: Profile,
    pub http: HttpSettings,
    pub storage: StorageSettings,
    pub auth: AuthSettings,
    pub audit: AuditSettings,
    pub deletion: DeletionSettings,
    pub log: LogSettings,
    pub metrics: MetricsSettings,
    pub cache: CacheSettings,
    pub invitations: InvitationSettings,
    pub api_keys: ApiKeySettings,
    pub webhooks: crate::webhooks::WebhookSettings,
    pub exports: crate::exports::ExportSettings,
}

/// Each API key's rate: a token bucket per key, per instance.
#[derive(Clone, Debug, Deserialize)]
pub struct ApiKeySettings {
    /// Requests a key may make at once after being idle.
    pub burst: u32,
    /// Requests per second it may sustain.
    pub per_second: f64,
}

#[derive(Clone, Debug, Deserialize)]
pub struct InvitationSettings {
    /// Hours an invitation stays usable: 1 to 720.
    pub ttl_hours: u64,
}

impl InvitationSettings {
    /// # Errors
    /// When `ttl_hours` is 0 or above 720.
    pub fn policy(&self) -> anyhow::Result<InvitationPolicy> {
        let max = InvitationPolicy::MAX_TTL_HOURS;
        anyhow::ensure!(
            (1..=max).contains(&self.ttl_hours),
            "invitations.ttl_hours must be 1 to {max}, not {}",
            self.ttl_hours
        );
        Ok(InvitationPolicy {
            ttl: Duration::from_secs(self.ttl_hours * 3600),
        })
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct CacheSettings {
    /// How long organizations and admins are kept in memory; 0: no cache.
    pub ttl_ms: u64,
}

#[derive(Clone, Debug, Deserialize)]
pub struct MetricsSettings {
    /// Serve `GET /metrics` (Prometheus text format).
    pub enabled: bool,
    /// When set, scrapes must send it as a bearer token. `Debug` prints `[REDACTED]`.
    pub token: Option<SecretString>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct AuditSettings {
    /// Days audit events are kept (MongoDB: TTL index, or the periodic sweep).
    pub retention_days: u32,
}

#[derive(Clone, Debug, Deserialize)]
pub struct DeletionSettings {
    /// Days a deletion's record (and so its receipt) is kept.
    pub receipt_retention_days: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    Development,
    Production,
}

#[derive(Clone, Debug, Deserialize)]
pub struct HttpSettings {
    pub listen: String,
    pub body_limit_bytes: usize,
    /// A request body must arrive within this long (408 otherwise).
    pub body_timeout_ms: u64,
    pub workers: usize,
    /// Proxies whose `X-Forwarded-For` names the client (for the per-IP limit).
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// On SIGTERM or SIGINT, how long requests in flight may take to finish.
    pub shutdown_grace_seconds: u64,
    /// Where clients reach the service (`https://orgsvc.example.com`), the OpenAPI document's
    /// server; unset: the address it listens on.
    pub public_url: Option<String>,
}

impl HttpSettings {
    /// The OpenAPI document's server URL, for a listener bound to `bound` (`http.listen` may
    /// name port 0 or every interface, which no client can call).
    ///
    /// # Errors
    /// When `public_url` is not an absolute `http` or `https` URL without query or fragment.
    pub fn public_url(&self, bound: std::net::SocketAddr) -> anyhow::Result<String> {
        let Some(url) = &self.public_url else {
            let host = match bound.ip() {
                ip if ip.is_unspecified() => "localhost".to_owned(),
                std::net::IpAddr::V6(ip) => format!("[{ip}]"),
                ip => ip.to_string(),
            };
            return Ok(format!("http://{host}:{}", bound.port()));
        };
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"));
        anyhow::ensure!(
            rest.is_some_and(|rest| !rest.is_empty()
                && !rest.starts_with('/')
                && !rest.contains(['?', '#'])
                && !rest.chars().any(char::is_whitespace)),
            "http.public_url must be an absolute http:// or https:// URL without query or \
             fragment, not {url:?}"
        );
        Ok(url.trim_end_matches('/').to_owned())
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct StorageSettings {
    pub backend: Backend,
    pub embedded: EmbeddedSettings,
    pub mongodb: MongoSettings,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Embedded,
    Mongodb,
}

#[derive(Clone, Debug, Deserialize)]
pub struct EmbeddedSettings {
    pub path: PathBuf,
    /// The database's page cache, in MiB.
    pub cache_mib: usize,
}

#[derive(Clone, Debug, Deserialize)]
pub struct AuthSettings {
    /// `Debug` prints `[REDACTED]`.
    pub jwt_secret: Option<SecretString>,
    pub jwt_secret_file: Option<PathBuf>,
    pub algorithm: JwtAlgorithm,
    /// `EdDSA`: the Ed25519 private key (PKCS#8 PEM).
    pub private_key_file: Option<PathBuf>,
    /// `EdDSA`: public keys (SPKI PEM) of rotated-out keys whose tokens stay valid until expiry.
    pub previous_public_key_files: Vec<PathBuf>,
    pub issuer: String,
    pub audience: String,
    pub token_ttl_seconds: u64,
    pub argon2: Argon2Settings,
    pub login: LoginSettings,
}

/// Throttling of the endpoints that check or hash passwords.
#[derive(Clone, Debug, Deserialize)]
pub struct LoginSettings {
    /// Consecutive failures that lock an account for one client address.
    pub max_failures: u32,
    /// The first such lock; it doubles with each further lock, up to an hour.
    pub lockout_seconds: u64,
    /// Consecutive failures from all addresses together that delay an account.
    pub account_max_failures: u32,
    /// The first such delay; it doubles with each further one, up to `account_max_delay_seconds`.
    pub account_delay_seconds: u64,
    pub account_max_delay_seconds: u64,
    /// Requests one client address may make at once to /admin/login and /org/create.
    pub per_ip_burst: u32,
    /// Requests per second it may sustain.
    pub per_ip_per_second: f64,
}

impl LoginSettings {
    #[must_use]
    pub fn policy(&self) -> LoginPolicy {
        let defaults = LoginPolicy::default();
        LoginPolicy {
            per_address: LockPolicy {
                max_failures: self.max_failures.max(1),
                lockout: Duration::from_secs(self.lockout_seconds),
                ..defaults.per_address
            },
            per_account: LockPolicy {
                max_failures: self.account_max_failures.max(1),
                lockout: Duration::from_secs(self.account_delay_seconds),
                max_lockout: Duration::from_secs(
                    self.account_max_delay_seconds
                        .max(self.account_delay_seconds),
                ),
            },
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct LogSettings {
    pub filter: String,
    pub format: LogFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Settings {
    /// Loads the settings from the defaults, `ORGSVC_CONFIG` and the environment.
    ///
    /// # Errors
    /// When the file named by `ORGSVC_CONFIG` is missing or a value has the wrong type.
    pub fn load() -> Result<Self, config::ConfigError> {
        let mut builder = Config::builder().add_source(File::from_str(DEFAULTS, FileFormat::Toml));
        if let Ok(path) = std::env::var("ORGSVC_CONFIG") {
            builder = builder.add_source(File::with_name(&path).required(true));
        }
        builder
            .add_source(
                Environment::with_prefix("ORGSVC")
                    .prefix_separator("__")
                    .separator("__")
                    .list_separator(",")
                    .with_list_parse_key("http.trusted_proxies")
                    .with_list_parse_key("auth.previous_public_key_files")
                    .try_parsing(true),
            )
            .build()?
            .try_deserialize()
    }

    /// The file the generated JWT secret is kept in.
    #[must_use]
    pub fn jwt_secret_file(&self) -> PathBuf {
        self.auth
            .jwt_secret_file
            .clone()
            .unwrap_or_else(|| self.data_directory().join("jwt_secret"))
    }

    /// The file the Ed25519 private key is read from (and, in development, generated in).
    #[must_use]
    pub fn private_key_file(&self) -> PathBuf {
        self.auth
            .private_key_file
            .clone()
            .unwrap_or_else(|| self.data_directory().join("jwt_ed25519.pem"))
    }

    fn data_directory(&self) -> PathBuf {
        self.storage
            .embedded
            .path
            .parent()
            .unwrap_or_else(|| std::path::Path::new("."))
            .to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compiled_in_defaults_are_complete_and_as_documented() {
        let settings: Settings = Config::builder()
            .add_source(File::from_str(DEFAULTS, FileFormat::Toml))
            .build()
            .unwrap()
            .try_deserialize()
            .unwrap();
        assert_eq!(settings.profile, Profile::Development);
        assert_eq!(settings.http.listen, "127.0.0.1:8080");
        assert_eq!(settings.http.body_limit_bytes, 1024 * 1024);
        assert_eq!(settings.storage.backend, Backend::Embedded);
        assert_eq!(
            settings.storage.embedded.path,
            PathBuf::from("data/orgsvc.redb")
        );
        assert!(settings.auth.jwt_secret.is_none());
        assert_eq!(settings.jwt_secret_file(), PathBuf::from("data/jwt_secret"));
        assert_eq!(settings.auth.token_ttl_seconds, 3600);
        assert_eq!(settings.auth.argon2, Argon2Settings::default());
        assert_eq!(settings.auth.login.policy(), LoginPolicy::default());
        assert_eq!(
            settings.invitations.policy().unwrap(),
            InvitationPolicy::default()
        );
        for refused in [0, 721] {
            let invitations = InvitationSettings { ttl_hours: refused };
            assert!(invitations.policy().is_err(), "{refused}");
        }
        assert_eq!(settings.auth.login.per_ip_burst, 30);
        assert_eq!(settings.api_keys.burst, 200);
        assert!((settings.auth.login.per_ip_per_second - 1.0).abs() < f64::EPSILON);
        assert_eq!(settings.http.body_timeout_ms, 10_000);
        assert_eq!(settings.audit.retention_days, 90);
        assert_eq!(settings.deletion.receipt_retention_days, 365);
        assert_eq!(settings.http.shutdown_grace_seconds, 30);
        assert!(settings.http.trusted_proxies.is_empty());
        assert!(settings.http.public_url.is_none());
        let mongodb = &settings.storage.mongodb;
        assert_eq!(mongodb.master_database, "orgsvc_master");
        assert_eq!(mongodb.tenant_database, "orgsvc_tenants");
        assert!(mongodb.uri.is_none() && mongodb.clusters.is_empty());
    }

    #[test]
    fn the_public_url_defaults_to_the_bound_address_and_must_be_absolute() {
        let mut http: HttpSettings = Config::builder()
            .add_source(File::from_str(DEFAULTS, FileFormat::Toml))
            .build()
            .unwrap()
            .get("http")
            .unwrap();
        let bound = |raw: &str| raw.parse::<std::net::SocketAddr>().unwrap();
        for (listen, url) in [
            ("127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("0.0.0.0:8080", "http://localhost:8080"),
            ("[::1]:9000", "http://[::1]:9000"),
            ("[::]:9000", "http://localhost:9000"),
        ] {
            assert_eq!(http.public_url(bound(listen)).unwrap(), url);
        }
        http.public_url = Some("https://orgsvc.example.com/api/".into());
        assert_eq!(
            http.public_url(bound("127.0.0.1:1")).unwrap(),
            "https://orgsvc.example.com/api"
        );
        for refused in [
            "orgsvc.example.com",
            "ftp://orgsvc.example.com",
            "https://",
            "https:///path",
            "https://orgsvc.example.com/?a=1",
            "https://orgsvc.example.com/#top",
            "https://orgsvc example.com",
        ] {
            http.public_url = Some(refused.into());
            assert!(http.public_url(bound("127.0.0.1:1")).is_err(), "{refused}");
        }
    }

    #[test]
    fn clusters_come_from_the_uri_shorthand_and_named_tables_and_never_show_in_debug() {
        let settings: Settings = Config::builder()
            .add_source(File::from_str(DEFAULTS, FileFormat::Toml))
            .set_override("storage.mongodb.uri", "mongodb://user:hunter2@db0/")
            .unwrap()
            .set_override(
                "storage.mongodb.clusters.eu.uri",
                "mongodb://user:hunter3@db1/",
            )
            .unwrap()
            .build()
            .unwrap()
            .try_deserialize()
            .unwrap();
        let mongodb = &settings.storage.mongodb;
        assert!(mongodb.uri.is_some());
        assert!(mongodb.clusters.contains_key("eu"));
        let debug = format!("{settings:?}");
        assert!(
            !debug.contains("hunter2") && !debug.contains("hunter3"),
            "{debug}"
        );
    }

    #[test]
    fn a_configured_secret_never_shows_in_debug_output() {
        let settings: Settings = Config::builder()
            .add_source(File::from_str(DEFAULTS, FileFormat::Toml))
            .set_override("auth.jwt_secret", "super-secret-value-that-is-long-enough")
            .unwrap()
            .build()
            .unwrap()
            .try_deserialize()
            .unwrap();
        let debug = format!("{settings:?}");
        assert!(!debug.contains("super-secret-value"), "{debug}");
    }
}
