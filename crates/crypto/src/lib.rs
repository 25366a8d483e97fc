//! Credential adapters for orgsvc: argon2id password hashing ([`Argon2Hasher`]), signed JWT
//! bearer tokens ([`JwtCodec`]), implementing the domain's `PasswordHasher` and `TokenCodec`,
//! and webhook signatures ([`webhook_signature`]).
//!
//! This crate depends on the domain only; it knows nothing of HTTP or storage.

mod jwt;
mod password;
mod webhook;

pub use jwt::{
    ed25519_public_pem, generate_ed25519_pem, verify_with_jwks, JwtAlgorithm, JwtCodec,
    JwtSettings, JwtSettingsError, SigningKey,
};
pub use password::{Argon2Hasher, Argon2Settings, Argon2SettingsError, HashPool};
pub use webhook::webhook_signature;
