//! Where the JWT signing key comes from: the settings or key files, or (outside production) a
//! random secret or Ed25519 key generated on first start and kept in a 0600 file so tokens
//! survive restarts.

use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;
use rand::RngCore as _;
use secrecy::SecretString;

use orgsvc_crypto::{generate_ed25519_pem, JwtAlgorithm, JwtCodec, JwtSettings, SigningKey};
use secrecy::ExposeSecret as _;

use crate::settings::{Profile, Settings};

/// What to do when a development key does not exist yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Absent {
    /// Generate it (a start).
    Generate,
    /// Leave it missing (`check-config`, which writes nothing): the answer is `None`.
    Report,
}

/// The key for the configured algorithm; `None` only with [`Absent::Report`] when a
/// development key would be generated.
///
/// # Errors
/// In production without a configured secret or key file; when a key file cannot be read or
/// written.
pub fn signing_key(settings: &Settings, absent: Absent) -> anyhow::Result<Option<SigningKey>> {
    if settings.auth.algorithm != JwtAlgorithm::EdDSA {
        return Ok(jwt_secret(settings, absent)?.map(SigningKey::Secret));
    }
    let path = settings.private_key_file();
    let private_pem = if settings.profile == Profile::Production {
        let pem = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "the production profile needs an Ed25519 private key in {} \
                 (auth.private_key_file)",
                path.display()
            )
        })?;
        SecretString::from(pem)
    } else {
        let generate = || generate_ed25519_pem().expose_secret().to_owned();
        match development_key(&path, absent, generate)? {
            Some(pem) => pem,
            None => return Ok(None),
        }
    };
    let previous_public_pems = settings
        .auth
        .previous_public_key_files
        .iter()
        .map(|file| {
            std::fs::read_to_string(file)
                .with_context(|| format!("cannot read the previous public key {}", file.display()))
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(Some(SigningKey::Ed25519 {
        private_pem,
        previous_public_pems,
    }))
}

/// A development key kept at `path`: read, or generated there, or (`Absent::Report`) `None`.
fn development_key(
    path: &Path,
    absent: Absent,
    create: impl Fn() -> String,
) -> anyhow::Result<Option<SecretString>> {
    match absent {
        Absent::Generate => load_or_create(path, create).map(Some),
        Absent::Report => match std::fs::read_to_string(path) {
            Ok(key) => Ok(Some(SecretString::from(key.trim().to_owned()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        },
    }
}

/// # Errors
/// In production without a configured secret; when the secret file cannot be read or written.
fn jwt_secret(settings: &Settings, absent: Absent) -> anyhow::Result<Option<SecretString>> {
    if let Some(secret) = &settings.auth.jwt_secret {
        return Ok(Some(secret.clone()));
    }
    if settings.profile == Profile::Production {
        anyhow::bail!(
            "the production profile needs an explicit JWT secret: set auth.jwt_secret \
             (ORGSVC__AUTH__JWT_SECRET) to at least 32 random bytes"
        );
    }
    development_key(&settings.jwt_secret_file(), absent, random_hex_secret)
}

/// The token codec `settings` describe, signing with `key`.
///
/// # Errors
/// When the key does not suit the algorithm or a setting is out of range.
pub fn token_codec(settings: &Settings, key: SigningKey) -> anyhow::Result<JwtCodec> {
    Ok(JwtCodec::new(&JwtSettings {
        key,
        algorithm: settings.auth.algorithm,
        issuer: settings.auth.issuer.clone(),
        audience: settings.auth.audience.clone(),
        ttl_seconds: settings.auth.token_ttl_seconds,
    })?)
}

pub fn random_hex_secret() -> String {
    let mut bytes = [0u8; 48];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The secret kept at `path`, created there (mode 0600) with `create` on first use.
fn load_or_create(path: &Path, create: impl Fn() -> String) -> anyhow::Result<SecretString> {
    match std::fs::read_to_string(path) {
        Ok(secret) => return Ok(SecretString::from(secret.trim().to_owned())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        orgsvc_storage::files::create_private_dir(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let secret = create();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => {
            file.write_all(secret.as_bytes())
                .and_then(|()| file.sync_all())
                .with_context(|| format!("cannot write {}", path.display()))?;
            tracing::info!(path = %path.display(), "generated a JWT signing key");
            Ok(SecretString::from(secret))
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load_or_create(path, create),
        Err(e) => Err(e).with_context(|| format!("cannot create {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret as _;

    use super::*;

    #[test]
    fn a_generated_secret_is_kept_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/jwt_secret");
        let first = load_or_create(&path, random_hex_secret).unwrap();
        assert!(first.expose_secret().len() >= 64);
        let second = load_or_create(&path, random_hex_secret).unwrap();
        assert_eq!(first.expose_secret(), second.expose_secret());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            let parent = std::fs::metadata(path.parent().unwrap()).unwrap();
            assert_eq!(parent.permissions().mode() & 0o777, 0o700);
        }
    }
}
