//! Operator commands, run by the binary instead of the server.

use anyhow::Context as _;
use orgsvc_domain::{OrganizationName, TenancyModel};
use std::io::IsTerminal as _;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use orgsvc_storage::mongo::CopyProgress;
use orgsvc_storage::MongoStore;
use tokio::sync::watch;

use crate::settings::{Backend, Settings};

mod export;

pub use export::{export_organization, verify_bundle};

/// `orgsvc move-org --org NAME [--to-cluster CLUSTER] [--to-model MODEL]`: moves an
/// organization's documents to another cluster and/or tenancy model while running services keep
/// serving it (writes to it wait, then answer 503, while the documents are copied). Safe to
/// interrupt: the move is finished by recovery.
///
/// # Errors
/// When the backend is not MongoDB, the organization or cluster does not exist, or the move fails.
pub async fn move_organization(
    settings: &Settings,
    organization: &str,
    cluster: Option<&str>,
    model: Option<TenancyModel>,
) -> anyhow::Result<String> {
    if cluster.is_none() && model.is_none() {
        anyhow::bail!("say where to: --to-cluster, --to-model or both");
    }
    if settings.storage.backend != Backend::Mongodb {
        anyhow::bail!(
            "move-org needs storage.backend = \"mongodb\" (ORGSVC__STORAGE__BACKEND=mongodb)"
        );
    }
    let name = OrganizationName::new(organization).context("invalid organization name")?;
    let store = MongoStore::connect(settings.storage.mongodb.clone()).await?;
    let reporter = tokio::spawn(report_progress(store.copy_progress()));
    let moved = store.move_organization(&name, cluster, model).await;
    reporter.abort();
    let _ = reporter.await;
    let location = moved?;
    Ok(format!(
        "{name} now lives in {}.{} on cluster {} (tenancy model {})",
        location.database, location.collection, location.cluster, location.model
    ))
}

/// Shows a copy's progress on stderr: a progress bar on a terminal, otherwise (a log, a CI job)
/// a plain line every few seconds while documents are being copied, and one when all are.
async fn report_progress(mut progress: watch::Receiver<CopyProgress>) {
    const EVERY: Duration = Duration::from_secs(5);
    if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(0).with_style(
            ProgressStyle::with_template(
                "{spinner} copying [{bar:40}] {pos}/{len} documents ({per_sec}, {eta} left)",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        // The bar goes when this task is aborted, at the end of the move.
        while progress.changed().await.is_ok() {
            let now = progress.borrow_and_update().clone();
            bar.set_length(now.total);
            bar.set_position(now.copied);
        }
        return;
    }
    let mut printed: Option<std::time::Instant> = None;
    while progress.changed().await.is_ok() {
        let now = progress.borrow_and_update().clone();
        let done = now.copied == now.total;
        if now.total > 0 && (done || printed.is_none_or(|at| at.elapsed() >= EVERY)) {
            eprintln!(
                "copied {} of {} documents ({}%)",
                now.copied,
                now.total,
                now.copied * 100 / now.total
            );
            printed = Some(std::time::Instant::now());
        }
    }
}

/// A new signing key for `auth.jwt_secret` (48 random bytes, hex), or with `ed25519` a new
/// Ed25519 private key in PKCS#8 PEM for `auth.private_key_file`.
#[must_use]
pub fn generate_key(ed25519: bool) -> String {
    use secrecy::ExposeSecret as _;
    if ed25519 {
        orgsvc_crypto::generate_ed25519_pem()
            .expose_secret()
            .trim_end()
            .to_owned()
    } else {
        crate::secret::random_hex_secret()
    }
}

/// Checks what can be checked without touching storage or writing anything, and describes the
/// effective settings (secrets redacted).
///
/// # Errors
/// The first setting that cannot work.
pub fn check_config(settings: &Settings) -> anyhow::Result<String> {
    use std::net::ToSocketAddrs as _;
    settings
        .http
        .listen
        .to_socket_addrs()
        .with_context(|| format!("http.listen = {:?} is not an address", settings.http.listen))?;
    orgsvc_crypto::Argon2Settings::validate(&settings.auth.argon2)?;
    let key = crate::secret::signing_key(settings, crate::secret::Absent::Report)?;
    if let Some(key) = key {
        crate::secret::token_codec(settings, key)?;
    }
    if settings.storage.backend == Backend::Mongodb
        && settings.storage.mongodb.uri.is_none()
        && !settings
            .storage
            .mongodb
            .clusters
            .contains_key(orgsvc_storage::mongo::DEFAULT_CLUSTER)
    {
        anyhow::bail!("storage.mongodb needs a default cluster: set storage.mongodb.uri");
    }
    Ok(format!("{settings:#?}\nthe configuration is valid"))
}

/// The claims of the deletion receipt in `text` (the compact JWS itself, or a JSON answer
/// holding it as `jws` or `receipt.jws`) if it verifies: with the JWK Set `jwks` when given
/// (offline, the published keys only), otherwise with the signing keys `settings` name.
///
/// # Errors
/// Why the receipt does not verify, or the keys cannot be had.
pub fn verify_receipt(
    text: &str,
    jwks: Option<&str>,
    settings: impl FnOnce() -> anyhow::Result<Settings>,
) -> anyhow::Result<String> {
    use orgsvc_domain::deletion::RECEIPT_TYPE;
    let text = text.trim();
    let jws = match serde_json::from_str::<serde_json::Value>(text) {
        Ok(answer) => answer
            .get("jws")
            .or_else(|| answer.get("receipt").and_then(|r| r.get("jws")))
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| anyhow::anyhow!("the JSON holds no `jws` nor `receipt.jws`"))?
            .to_owned(),
        Err(_) => text.to_owned(),
    };
    let claims = match jwks {
        Some(jwks) => {
            let jwks: serde_json::Value =
                serde_json::from_str(jwks).context("the key set is not JSON")?;
            orgsvc_crypto::verify_with_jwks(RECEIPT_TYPE, &jws, &jwks)
        }
        None => {
            let settings = settings()?;
            let key = crate::secret::signing_key(&settings, crate::secret::Absent::Report)?
                .ok_or_else(|| anyhow::anyhow!("no signing key is configured: pass --jwks"))?;
            crate::secret::token_codec(&settings, key)?.verify_signed(RECEIPT_TYPE, &jws)
        }
    }
    .context("the receipt does not verify")?;
    Ok(serde_json::to_string_pretty(&claims)?)
}

/// Advice for the failures a first start runs into.
#[must_use]
pub fn hint(error: &anyhow::Error) -> Option<&'static str> {
    for cause in error.chain() {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::AddrInUse => {
                    return Some(
                        "another process listens on that address: stop it, or choose another \
                         with ORGSVC__HTTP__LISTEN=127.0.0.1:8081",
                    )
                }
                std::io::ErrorKind::PermissionDenied => {
                    return Some(
                        "a file or directory is not writable: choose another data file with \
                         ORGSVC__STORAGE__EMBEDDED__PATH=/some/writable/dir/orgsvc.redb",
                    )
                }
                _ => {}
            }
        }
        if let Some(store) = cause.downcast_ref::<orgsvc_storage::OpenEmbeddedStoreError>() {
            return Some(match store {
                orgsvc_storage::OpenEmbeddedStoreError::Open { .. } => {
                    "another orgsvc may be using the database file: stop it, or point this one \
                     elsewhere with ORGSVC__STORAGE__EMBEDDED__PATH"
                }
                _ => {
                    "the data directory cannot be used: choose another with \
                     ORGSVC__STORAGE__EMBEDDED__PATH"
                }
            });
        }
        if let Some(jwt) = cause.downcast_ref::<orgsvc_crypto::JwtSettingsError>() {
            return Some(match jwt {
                orgsvc_crypto::JwtSettingsError::SecretTooShort => {
                    "make one with `orgsvc gen-key` and set ORGSVC__AUTH__JWT_SECRET"
                }
                _ => "see the auth section of the README",
            });
        }
        if cause.downcast_ref::<config::ConfigError>().is_some() {
            return Some(
                "check the file named by ORGSVC_CONFIG and the ORGSVC__… variables; \
                 `orgsvc check-config` shows what was read",
            );
        }
        if let Some(orgsvc_domain::errors::StoreError::Unavailable(_)) =
            cause.downcast_ref::<orgsvc_domain::errors::StoreError>()
        {
            return Some(
                "the database did not answer: check that it is up and storage.mongodb.uri \
                 (ORGSVC__STORAGE__MONGODB__URI)",
            );
        }
        if cause
            .downcast_ref::<orgsvc_storage::ConnectMongoError>()
            .is_some()
        {
            return Some("check storage.mongodb.uri (ORGSVC__STORAGE__MONGODB__URI)");
        }
    }
    None
}
