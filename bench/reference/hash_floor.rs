//! The hashing floor for `bench/run`: argon2id verifications per second that this machine can
//! do at all with orgsvc's default cost (19 MiB, 2 passes, 1 lane), on every core. A login
//! cannot be faster than one verification; `POST /admin/login` is compared with this.
//!
//!   cargo run --release --example bench-hash-floor -- [SECONDS]

use std::time::{Duration, Instant};

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};

fn main() {
    let seconds: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let params = Params::new(19_456, 2, 1, None).expect("valid parameters");
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let salt = argon2::password_hash::SaltString::from_b64("c2FsdHNhbHRzYWx0c2FsdA").unwrap();
    let phc = argon
        .hash_password(b"correct horse battery", &salt)
        .unwrap()
        .to_string();
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let threads: Vec<_> = (0..cores)
        .map(|_| {
            let phc = phc.clone();
            let argon = argon.clone();
            std::thread::spawn(move || {
                let hash = PasswordHash::new(&phc).unwrap();
                let mut n = 0u64;
                while Instant::now() < deadline {
                    argon
                        .verify_password(b"correct horse battery", &hash)
                        .unwrap();
                    n += 1;
                }
                n
            })
        })
        .collect();
    let total: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let elapsed = started.elapsed().as_secs_f64();
    #[allow(clippy::cast_precision_loss)]
    let rate = total as f64 / elapsed;
    println!("{{\"verifies_per_second\": {rate:.1}, \"cores\": {cores}}}");
}
