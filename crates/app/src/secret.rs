//! Where the JWT signing secret comes from: the settings, or (outside production) a random
//! secret generated on first start and kept in a 0600 file so tokens survive restarts.

use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;
use rand::RngCore as _;
use secrecy::SecretString;

use crate::settings::{Profile, Settings};

/// # Errors
/// In production without a configured secret; when the secret file cannot be read or written.
pub fn jwt_secret(settings: &Settings) -> anyhow::Result<SecretString> {
    if let Some(secret) = &settings.auth.jwt_secret {
        return Ok(secret.clone());
    }
    if settings.profile == Profile::Production {
        anyhow::bail!(
            "the production profile needs an explicit JWT secret: set auth.jwt_secret \
             (ORGSVC__AUTH__JWT_SECRET) to at least 32 random bytes"
        );
    }
    load_or_generate(&settings.jwt_secret_file())
}

fn load_or_generate(path: &Path) -> anyhow::Result<SecretString> {
    match std::fs::read_to_string(path) {
        Ok(secret) => return Ok(SecretString::from(secret.trim().to_owned())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut bytes = [0u8; 48];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => {
            file.write_all(secret.as_bytes())
                .and_then(|()| file.sync_all())
                .with_context(|| format!("cannot write {}", path.display()))?;
            tracing::info!(path = %path.display(), "generated a JWT signing secret");
            Ok(SecretString::from(secret))
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load_or_generate(path),
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
        let first = load_or_generate(&path).unwrap();
        assert!(first.expose_secret().len() >= 64);
        let second = load_or_generate(&path).unwrap();
        assert_eq!(first.expose_secret(), second.expose_secret());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
