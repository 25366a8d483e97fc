//! Signing and verification keys, their ids (`kid`) and the public JWK Set.
//!
//! - HMAC: one shared secret; its `kid` is derived from it (a hash, so it reveals nothing) and
//!   the JWK Set is empty: nobody else can verify without the secret.
//! - Ed25519 (`EdDSA`): the private key signs; its public key and any previous public keys
//!   (rotated out, still verifying tokens that have not expired) are published as a JWK Set,
//!   each with the RFC 7638 thumbprint as its `kid`, so other services verify tokens alone.

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::EncodePublicKey as _;
use ed25519_dalek::pkcs8::{DecodePrivateKey as _, DecodePublicKey as _, EncodePrivateKey as _};
use ed25519_dalek::{SigningKey, VerifyingKey};
use jsonwebtoken::{DecodingKey, EncodingKey};
use rand::RngCore as _;
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use super::JwtSettingsError;

/// What a codec signs with and verifies against.
pub struct Keys {
    pub encoding: EncodingKey,
    /// The `kid` put in every issued token's header.
    pub kid: String,
    /// Every key a token may name, by `kid`.
    pub decoding: HashMap<String, DecodingKey>,
    /// The public JWK Set (RFC 7517) served at `/.well-known/jwks.json`.
    pub jwks: Value,
}

impl Keys {
    pub fn hmac(secret: &[u8]) -> Self {
        let digest = Sha256::new()
            .chain_update(b"orgsvc hmac key id\0")
            .chain_update(secret)
            .finalize();
        let kid = format!("hs-{}", &URL_SAFE_NO_PAD.encode(digest)[..16]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: HashMap::from([(kid.clone(), DecodingKey::from_secret(secret))]),
            kid,
            jwks: json!({"keys": []}),
        }
    }

    /// # Errors
    /// When the private key or a previous public key is not valid PEM of an Ed25519 key.
    pub fn ed25519(
        private_pem: &SecretString,
        previous: &[String],
    ) -> Result<Self, JwtSettingsError> {
        let signing = SigningKey::from_pkcs8_pem(private_pem.expose_secret())
            .map_err(|e| JwtSettingsError::BadKey(format!("private key: {e}")))?;
        let der = signing
            .to_pkcs8_der()
            .map_err(|e| JwtSettingsError::BadKey(format!("private key: {e}")))?;
        let current = signing.verifying_key();
        let mut public = vec![current];
        for (n, pem) in previous.iter().enumerate() {
            let key = VerifyingKey::from_public_key_pem(pem).map_err(|e| {
                JwtSettingsError::BadKey(format!("previous public key {}: {e}", n + 1))
            })?;
            if !public.contains(&key) {
                public.push(key);
            }
        }
        let mut decoding = HashMap::new();
        let mut jwks = Vec::new();
        for key in &public {
            let x = URL_SAFE_NO_PAD.encode(key.as_bytes());
            let kid = thumbprint(&x);
            decoding.insert(
                kid.clone(),
                DecodingKey::from_ed_components(&x)
                    .map_err(|e| JwtSettingsError::BadKey(e.to_string()))?,
            );
            jwks.push(json!({
                "kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "use": "sig", "alg": "EdDSA",
            }));
        }
        Ok(Self {
            encoding: EncodingKey::from_ed_der(der.as_bytes()),
            kid: thumbprint(&URL_SAFE_NO_PAD.encode(current.as_bytes())),
            decoding,
            jwks: json!({ "keys": jwks }),
        })
    }
}

/// The RFC 7638 thumbprint of an Ed25519 JWK: SHA-256 over its required members in
/// lexicographic order without white space, base64url.
fn thumbprint(x: &str) -> String {
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// A new Ed25519 private key as PKCS#8 PEM.
#[must_use]
pub fn generate_ed25519_pem() -> SecretString {
    let mut seed = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    let key = SigningKey::from_bytes(&seed);
    let pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .expect("an Ed25519 key always encodes");
    SecretString::from(pem.to_string())
}

/// The public half of an Ed25519 private key, as SPKI PEM (what a rotation keeps in
/// `auth.previous_public_key_files`).
///
/// # Errors
/// When `private_pem` is not an Ed25519 private key.
pub fn ed25519_public_pem(private_pem: &SecretString) -> Result<String, JwtSettingsError> {
    let signing = SigningKey::from_pkcs8_pem(private_pem.expose_secret())
        .map_err(|e| JwtSettingsError::BadKey(format!("private key: {e}")))?;
    signing
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| JwtSettingsError::BadKey(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_thumbprint_matches_rfc_8037_appendix_a3() {
        // RFC 8037, A.3: the thumbprint of its example Ed25519 public key.
        assert_eq!(
            thumbprint("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    #[test]
    fn a_generated_key_round_trips_and_its_public_half_is_published() {
        let private = generate_ed25519_pem();
        assert!(private
            .expose_secret()
            .starts_with("-----BEGIN PRIVATE KEY-----"));
        let keys = Keys::ed25519(&private, &[]).unwrap();
        let published = &keys.jwks["keys"];
        assert_eq!(published.as_array().unwrap().len(), 1);
        assert_eq!(published[0]["kid"], keys.kid.as_str());
        assert!(
            !keys.jwks.to_string().contains("\"d\""),
            "no private member"
        );
    }

    #[test]
    fn previous_public_keys_are_published_too() {
        let old = generate_ed25519_pem();
        let new = generate_ed25519_pem();
        let keys = Keys::ed25519(&new, &[ed25519_public_pem(&old).unwrap()]).unwrap();
        assert_eq!(keys.jwks["keys"].as_array().unwrap().len(), 2);
        assert_eq!(keys.decoding.len(), 2);
        assert!(Keys::ed25519(&new, &["not a key".into()]).is_err());
        assert!(Keys::ed25519(&SecretString::from("nope"), &[]).is_err());
    }

    #[test]
    fn the_hmac_key_id_is_stable_and_reveals_nothing() {
        let a = Keys::hmac(b"0123456789abcdef0123456789abcdef");
        let b = Keys::hmac(b"0123456789abcdef0123456789abcdef");
        assert_eq!(a.kid, b.kid);
        assert!(!a.kid.contains("0123"));
        assert_eq!(a.jwks, json!({"keys": []}));
    }
}
