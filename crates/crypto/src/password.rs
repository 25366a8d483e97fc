//! argon2id password hashing on the blocking pool.

use std::sync::Arc;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash as PhcHash, SaltString};
use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
use orgsvc_domain::ports::PasswordHasher;
use orgsvc_domain::{Password, PasswordHash};
use serde::Deserialize;

/// argon2id cost parameters. The defaults are OWASP's recommendation (m = 19 MiB, t = 2, p = 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub struct Argon2Settings {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for Argon2Settings {
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid argon2 parameters: {0}")]
pub struct Argon2SettingsError(String);

/// Hashes new passwords with the configured parameters and verifies stored hashes with the
/// parameters recorded in them, so raising the cost later does not lock anybody out.
#[derive(Clone)]
pub struct Argon2Hasher {
    params: Params,
    /// A hash of a random password, verified against when the account is unknown so that
    /// unknown emails cost the same time as wrong passwords.
    dummy: Arc<String>,
}

impl std::fmt::Debug for Argon2Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Argon2Hasher")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl Argon2Hasher {
    /// Builds the hasher and its dummy hash (one hash computation, done once at startup).
    ///
    /// # Errors
    /// When the parameters are outside what argon2 accepts.
    pub fn new(settings: Argon2Settings) -> Result<Self, Argon2SettingsError> {
        let params = Params::new(
            settings.memory_kib,
            settings.iterations,
            settings.parallelism,
            None,
        )
        .map_err(|e| Argon2SettingsError(e.to_string()))?;
        let random = SaltString::generate(&mut OsRng);
        let dummy =
            hash_with(&params, random.as_str()).map_err(|e| Argon2SettingsError(e.to_string()))?;
        Ok(Self {
            params,
            dummy: Arc::new(dummy),
        })
    }
}

fn hash_with(params: &Params, password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
}

fn verify_phc(password: &str, phc: &str) -> Result<bool, anyhow::Error> {
    let hash =
        PhcHash::new(phc).map_err(|e| anyhow::anyhow!("stored password hash is malformed: {e}"))?;
    match Argon2::default().verify_password(password.as_bytes(), &hash) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::Password) => Ok(false),
        Err(e) => Err(anyhow::anyhow!("password verification failed: {e}")),
    }
}

impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, anyhow::Error> {
        let params = self.params.clone();
        let password = password.clone();
        tokio::task::spawn_blocking(move || hash_with(&params, password.expose()))
            .await?
            .map(PasswordHash::from_phc)
            .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))
    }

    async fn verify(
        &self,
        password: &Password,
        hash: Option<&PasswordHash>,
    ) -> Result<bool, anyhow::Error> {
        let password = password.clone();
        let (phc, known) = match hash {
            Some(hash) => (hash.as_phc().to_owned(), true),
            None => (self.dummy.as_str().to_owned(), false),
        };
        let matches =
            tokio::task::spawn_blocking(move || verify_phc(password.expose(), &phc)).await??;
        Ok(known && matches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher() -> Argon2Hasher {
        Argon2Hasher::new(Argon2Settings::default()).unwrap()
    }

    fn password(s: &str) -> Password {
        Password::new(s.to_owned()).unwrap()
    }

    #[tokio::test]
    async fn hashes_are_argon2id_phc_strings_with_the_owasp_parameters() {
        let hash = hasher().hash(&password("correct horse")).await.unwrap();
        assert!(
            hash.as_phc().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{}",
            hash.as_phc()
        );
        assert!(!hash.as_phc().contains("correct horse"));
    }

    #[tokio::test]
    async fn the_same_password_hashes_differently_each_time() {
        let hasher = hasher();
        let a = hasher.hash(&password("correct horse")).await.unwrap();
        let b = hasher.hash(&password("correct horse")).await.unwrap();
        assert_ne!(a, b);
    }

    #[tokio::test]
    async fn verification_accepts_the_right_password_only() {
        let hasher = hasher();
        let hash = hasher.hash(&password("correct horse")).await.unwrap();
        assert!(hasher
            .verify(&password("correct horse"), Some(&hash))
            .await
            .unwrap());
        assert!(!hasher
            .verify(&password("correct horsE"), Some(&hash))
            .await
            .unwrap());
    }

    #[tokio::test]
    async fn an_unknown_account_never_verifies() {
        let hasher = hasher();
        assert!(!hasher
            .verify(&password("anything at all"), None)
            .await
            .unwrap());
    }

    #[tokio::test]
    async fn hashes_made_with_other_parameters_still_verify() {
        let cheap = Argon2Hasher::new(Argon2Settings {
            memory_kib: 8,
            iterations: 1,
            parallelism: 1,
        })
        .unwrap();
        let hash = cheap.hash(&password("correct horse")).await.unwrap();
        assert!(hasher()
            .verify(&password("correct horse"), Some(&hash))
            .await
            .unwrap());
    }

    #[tokio::test]
    async fn a_malformed_stored_hash_is_an_error_not_a_mismatch() {
        let broken = PasswordHash::from_phc("not a phc string".into());
        assert!(hasher()
            .verify(&password("correct horse"), Some(&broken))
            .await
            .is_err());
    }

    #[test]
    fn impossible_parameters_are_rejected() {
        let err = Argon2Hasher::new(Argon2Settings {
            memory_kib: 1,
            iterations: 0,
            parallelism: 1,
        });
        assert!(err.is_err());
    }
}
