//! argon2id password hashing on a bounded pool of dedicated threads ([`pool`]).

mod pool;

use std::sync::Arc;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::SaltString;
use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, Version};
use orgsvc_domain::errors::HashError;
use orgsvc_domain::ports::PasswordHasher;
use orgsvc_domain::{Password, PasswordHash};
use serde::Deserialize;

pub use pool::HashPool;

/// argon2id cost parameters (OWASP's recommendation by default: m = 19 MiB, t = 2, p = 1) and
/// the bounds of the pool that computes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub struct Argon2Settings {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
    /// Hashes computed at once (one thread and one memory block each); 0 means one per CPU.
    pub max_concurrent: usize,
    /// Requests waiting for a hashing thread; one more is refused with `Overloaded`.
    pub max_queued: usize,
}

impl Default for Argon2Settings {
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
            max_concurrent: 0,
            max_queued: 64,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid argon2 settings: {0}")]
pub struct Argon2SettingsError(String);

/// Hashes new passwords with the configured parameters and verifies stored hashes with the
/// parameters recorded in them, so raising the cost later does not lock anybody out.
#[derive(Clone)]
pub struct Argon2Hasher {
    pool: HashPool,
    /// A hash of a random password, verified against when the account is unknown so that
    /// unknown emails cost the same time as wrong passwords.
    dummy: Arc<str>,
}

impl std::fmt::Debug for Argon2Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Argon2Hasher")
            .field("workers", &self.pool.workers())
            .finish_non_exhaustive()
    }
}

impl Argon2Settings {
    /// # Errors
    /// When the cost parameters are outside what argon2 accepts.
    pub fn validate(&self) -> Result<(), Argon2SettingsError> {
        Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map(|_| ())
            .map_err(|e| Argon2SettingsError(e.to_string()))
    }
}

impl Argon2Hasher {
    /// Starts the hashing threads and computes the dummy hash (once, at startup).
    ///
    /// # Errors
    /// When the parameters are outside what argon2 accepts or no thread can be started.
    pub fn new(settings: Argon2Settings) -> Result<Self, Argon2SettingsError> {
        let invalid = |e: &dyn std::fmt::Display| Argon2SettingsError(e.to_string());
        let params = Params::new(
            settings.memory_kib,
            settings.iterations,
            settings.parallelism,
            None,
        )
        .map_err(|e| invalid(&e))?;
        let workers = match settings.max_concurrent {
            0 => std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
            n => n,
        };
        let pool =
            HashPool::start(&params, workers, settings.max_queued).map_err(|e| invalid(&e))?;
        let random = SaltString::generate(&mut OsRng);
        let dummy = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(
                random.as_str().as_bytes(),
                &SaltString::generate(&mut OsRng),
            )
            .map_err(|e| invalid(&e))?
            .to_string();
        Ok(Self {
            pool,
            dummy: dummy.into(),
        })
    }

    /// The pool, for its queue depth.
    #[must_use]
    pub const fn pool(&self) -> &HashPool {
        &self.pool
    }
}

impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, HashError> {
        self.pool
            .hash(password.expose())
            .await
            .map(PasswordHash::from_phc)
    }

    async fn verify(
        &self,
        password: &Password,
        hash: Option<&PasswordHash>,
    ) -> Result<bool, HashError> {
        let (phc, known): (Arc<str>, bool) = match hash {
            Some(hash) => (hash.as_phc().into(), true),
            None => (Arc::clone(&self.dummy), false),
        };
        let matches = self.pool.verify(password.expose(), phc).await?;
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
            ..Argon2Settings::default()
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

    #[tokio::test]
    async fn hashes_verify_with_the_reference_implementation_and_back() {
        use argon2::password_hash::PasswordHash as PhcHash;
        use argon2::PasswordVerifier as _;
        let ours = hasher().hash(&password("correct horse")).await.unwrap();
        let parsed = PhcHash::new(ours.as_phc()).unwrap();
        assert!(Argon2::default()
            .verify_password(b"correct horse", &parsed)
            .is_ok());
        assert!(Argon2::default()
            .verify_password(b"correct horsE", &parsed)
            .is_err());
        let theirs = Argon2::default()
            .hash_password(b"battery staple", &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string();
        let theirs = PasswordHash::from_phc(theirs);
        assert!(hasher()
            .verify(&password("battery staple"), Some(&theirs))
            .await
            .unwrap());
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once_without_hashing() {
        // One worker and one queue slot: of four requests made in the same instant, at most
        // two are taken (each hash here takes far longer than submitting all four).
        let slow = Argon2Hasher::new(Argon2Settings {
            memory_kib: 65_536,
            iterations: 4,
            max_concurrent: 1,
            max_queued: 1,
            ..Argon2Settings::default()
        })
        .unwrap();
        let requests: Vec<_> = (0..4)
            .map(|_| {
                let slow = slow.clone();
                tokio::spawn(async move { slow.hash(&password("correct horse")).await })
            })
            .collect();
        let mut hashed = 0;
        let mut refused = 0;
        for request in requests {
            match request.await.unwrap() {
                Ok(_) => hashed += 1,
                Err(HashError::Overloaded) => refused += 1,
                Err(e) => panic!("{e:?}"),
            }
        }
        assert!((1..=2).contains(&hashed), "hashed {hashed}");
        assert_eq!(hashed + refused, 4);
        assert_eq!(slow.pool().queue_depth(), 0);
    }

    #[tokio::test]
    async fn queued_requests_wait_for_a_worker_and_all_succeed() {
        let hasher = Argon2Hasher::new(Argon2Settings {
            memory_kib: 1024,
            iterations: 1,
            max_concurrent: 2,
            max_queued: 16,
            ..Argon2Settings::default()
        })
        .unwrap();
        let jobs: Vec<_> = (0..16)
            .map(|_| {
                let hasher = hasher.clone();
                tokio::spawn(async move { hasher.hash(&password("correct horse")).await })
            })
            .collect();
        for job in jobs {
            job.await.unwrap().unwrap();
        }
    }

    #[test]
    fn impossible_parameters_are_rejected() {
        let err = Argon2Hasher::new(Argon2Settings {
            memory_kib: 1,
            iterations: 0,
            ..Argon2Settings::default()
        });
        assert!(err.is_err());
    }
}
