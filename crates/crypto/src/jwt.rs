//! Signed JWT bearer tokens: HMAC-SHA2 with a shared secret (HS256 by default), or Ed25519
//! (`EdDSA`) whose public keys anyone can fetch as a JWK Set. Every token names its key (`kid`).

mod keys;

pub use keys::{ed25519_public_pem, generate_ed25519_pem};

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use jsonwebtoken::{
    decode, decode_header, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation,
};
use orgsvc_domain::ports::{IssuedToken, Principal, TokenCodec};
use orgsvc_domain::{OrganizationId, Role, UserId};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// Shortest accepted signing secret, in bytes: HMAC keys shorter than the hash output weaken it.
pub const MIN_SECRET_BYTES: usize = 32;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub enum JwtAlgorithm {
    #[default]
    HS256,
    HS384,
    HS512,
    /// Ed25519 signatures; the public keys are published at `/.well-known/jwks.json`.
    EdDSA,
}

impl From<JwtAlgorithm> for Algorithm {
    fn from(algorithm: JwtAlgorithm) -> Self {
        match algorithm {
            JwtAlgorithm::HS256 => Self::HS256,
            JwtAlgorithm::HS384 => Self::HS384,
            JwtAlgorithm::HS512 => Self::HS512,
            JwtAlgorithm::EdDSA => Self::EdDSA,
        }
    }
}

/// What tokens are signed with.
#[derive(Clone, Debug)]
pub enum SigningKey {
    /// For the HS algorithms.
    Secret(SecretString),
    /// For `EdDSA`: the private key (PKCS#8 PEM) and the public keys (SPKI PEM) of keys rotated
    /// out, which still verify the tokens they signed until those expire.
    Ed25519 {
        private_pem: SecretString,
        previous_public_pems: Vec<String>,
    },
}

/// Everything needed to issue and check tokens.
#[derive(Clone, Debug)]
pub struct JwtSettings {
    pub key: SigningKey,
    pub algorithm: JwtAlgorithm,
    pub issuer: String,
    pub audience: String,
    pub ttl_seconds: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum JwtSettingsError {
    #[error("the JWT secret must be at least {MIN_SECRET_BYTES} bytes long")]
    SecretTooShort,
    #[error("the token lifetime must be between 1 second and 30 days")]
    BadTtl,
    #[error("auth.algorithm = {algorithm:?} needs {needs}")]
    KeyMismatch {
        algorithm: JwtAlgorithm,
        needs: &'static str,
    },
    #[error("invalid signing key: {0}")]
    BadKey(String),
}

/// The claims orgsvc puts in a token.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    /// The admin's id.
    sub: Uuid,
    /// The admin's organization's id.
    org_id: Uuid,
    iat: i64,
    exp: i64,
    iss: String,
    aud: String,
    /// Unique per token, for audit trails.
    jti: Uuid,
    /// The caller's role in the organization at issue. Tokens from before roles existed have
    /// none: they were all issued to organizations' creators, their owners.
    #[serde(default = "owner")]
    role: String,
    /// The admin's token version at issue; raising it revokes the token.
    #[serde(default)]
    ver: u64,
}

/// The role of a token from before roles existed.
fn owner() -> String {
    Role::Owner.as_str().to_owned()
}

#[derive(Clone)]
pub struct JwtCodec {
    inner: Arc<Inner>,
}

struct Inner {
    encoding: EncodingKey,
    decoding: HashMap<String, DecodingKey>,
    /// The key for tokens without a `kid` (HMAC tokens issued before key ids existed).
    unnamed: Option<DecodingKey>,
    jwks: Value,
    header: Header,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl_seconds: u64,
}

impl std::fmt::Debug for JwtCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtCodec")
            .field("issuer", &self.inner.issuer)
            .field("audience", &self.inner.audience)
            .finish_non_exhaustive()
    }
}

impl JwtCodec {
    /// # Errors
    /// When the key does not suit the algorithm, a secret is shorter than 32 bytes, a PEM key
    /// does not parse, or the lifetime is out of range.
    pub fn new(settings: &JwtSettings) -> Result<Self, JwtSettingsError> {
        if settings.ttl_seconds == 0 || settings.ttl_seconds > 30 * 24 * 3600 {
            return Err(JwtSettingsError::BadTtl);
        }
        let (keys, unnamed) = match (&settings.key, settings.algorithm) {
            (
                SigningKey::Secret(secret),
                JwtAlgorithm::HS256 | JwtAlgorithm::HS384 | JwtAlgorithm::HS512,
            ) => {
                let secret = secret.expose_secret().as_bytes();
                if secret.len() < MIN_SECRET_BYTES {
                    return Err(JwtSettingsError::SecretTooShort);
                }
                (
                    keys::Keys::hmac(secret),
                    Some(DecodingKey::from_secret(secret)),
                )
            }
            (
                SigningKey::Ed25519 {
                    private_pem,
                    previous_public_pems,
                },
                JwtAlgorithm::EdDSA,
            ) => (
                keys::Keys::ed25519(private_pem, previous_public_pems)?,
                None,
            ),
            (_, algorithm @ JwtAlgorithm::EdDSA) => {
                return Err(JwtSettingsError::KeyMismatch {
                    algorithm,
                    needs: "an Ed25519 private key (auth.private_key_file)",
                })
            }
            (_, algorithm) => {
                return Err(JwtSettingsError::KeyMismatch {
                    algorithm,
                    needs: "a shared secret (auth.jwt_secret)",
                })
            }
        };
        let algorithm = Algorithm::from(settings.algorithm);
        // One algorithm only: a token claiming "none" or another algorithm is rejected.
        let mut validation = Validation::new(algorithm);
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        // The issuer is the only verifier, so there is no clock skew to forgive.
        validation.leeway = 0;
        let mut header = Header::new(algorithm);
        header.kid = Some(keys.kid);
        Ok(Self {
            inner: Arc::new(Inner {
                encoding: keys.encoding,
                decoding: keys.decoding,
                unnamed,
                jwks: keys.jwks,
                header,
                validation,
                issuer: settings.issuer.clone(),
                audience: settings.audience.clone(),
                ttl_seconds: settings.ttl_seconds,
            }),
        })
    }
}

impl JwtCodec {
    /// The public keys as a JWK Set (RFC 7517); empty for the HMAC algorithms.
    #[must_use]
    pub fn jwks(&self) -> &Value {
        &self.inner.jwks
    }

    /// The claims of `jws` if it is of type `typ`, was signed by one of this codec's keys (the
    /// current one or a previous one) and names this issuer.
    ///
    /// # Errors
    /// Why it does not verify.
    pub fn verify_signed(&self, typ: &str, jws: &str) -> anyhow::Result<Value> {
        let inner = &self.inner;
        let header = decode_header(jws)?;
        let key = match &header.kid {
            Some(kid) => inner
                .decoding
                .get(kid)
                .ok_or_else(|| anyhow::anyhow!("signed with a key this service does not have"))?,
            None => inner
                .unnamed
                .as_ref()
                .ok_or_else(|| anyhow::anyhow!("names no key"))?,
        };
        verify_typed(
            typ,
            jws,
            &header,
            key,
            inner.header.alg,
            Some(&inner.issuer),
        )
    }
}

/// The claims of `jws` if it is of type `typ` and was signed by a key of the JWK Set `jwks`
/// (the one its `kid` names): how a receipt is checked offline, with the published keys only.
///
/// # Errors
/// Why it does not verify.
pub fn verify_with_jwks(typ: &str, jws: &str, jwks: &Value) -> anyhow::Result<Value> {
    let header = decode_header(jws)?;
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks.clone())?;
    let jwk = match &header.kid {
        Some(kid) => set.find(kid),
        None => None,
    }
    .ok_or_else(|| anyhow::anyhow!("the key set has no key named by the receipt's kid"))?;
    let key = DecodingKey::from_jwk(jwk)?;
    // Only Ed25519 keys are ever published (HMAC secrets are not public).
    verify_typed(typ, jws, &header, &key, Algorithm::EdDSA, None)
}

fn verify_typed(
    typ: &str,
    jws: &str,
    header: &Header,
    key: &DecodingKey,
    algorithm: Algorithm,
    issuer: Option<&str>,
) -> anyhow::Result<Value> {
    anyhow::ensure!(
        header.typ.as_deref() == Some(typ),
        "not a {typ} (its type is {:?})",
        header.typ
    );
    // One algorithm: the codec's own, or the one the key was published for.
    let mut validation = Validation::new(algorithm);
    validation.set_required_spec_claims(&["iss"]);
    if let Some(issuer) = issuer {
        validation.set_issuer(&[issuer]);
    }
    validation.validate_aud = false;
    validation.validate_exp = false;
    Ok(decode::<Value>(jws, key, &validation)?.claims)
}

impl TokenCodec for JwtCodec {
    fn issue(
        &self,
        principal: &Principal,
        now: DateTime<Utc>,
    ) -> Result<IssuedToken, anyhow::Error> {
        let inner = &self.inner;
        let ttl = i64::try_from(inner.ttl_seconds)?;
        let claims = Claims {
            sub: *principal.user_id.as_uuid(),
            org_id: *principal.organization_id.as_uuid(),
            iat: now.timestamp(),
            exp: now.timestamp() + ttl,
            iss: inner.issuer.clone(),
            aud: inner.audience.clone(),
            jti: Uuid::new_v4(),
            role: principal.role.as_str().to_owned(),
            ver: principal.token_version,
        };
        let access_token = encode(&inner.header, &claims, &inner.encoding)?;
        Ok(IssuedToken {
            access_token,
            expires_in_seconds: inner.ttl_seconds,
        })
    }

    fn sign(&self, typ: &str, mut claims: Value) -> Result<(String, Value), anyhow::Error> {
        let inner = &self.inner;
        if let Value::Object(fields) = &mut claims {
            fields.insert("iss".to_owned(), Value::String(inner.issuer.clone()));
        }
        let mut header = inner.header.clone();
        header.typ = Some(typ.to_owned());
        Ok((encode(&header, &claims, &inner.encoding)?, claims))
    }

    fn verify(&self, token: &str) -> Option<Principal> {
        let inner = &self.inner;
        let key = match decode_header(token).ok()?.kid {
            Some(kid) => inner.decoding.get(&kid)?,
            None => inner.unnamed.as_ref()?,
        };
        let data = decode::<Claims>(token, key, &inner.validation).ok()?;
        Some(Principal {
            user_id: UserId::from_uuid(data.claims.sub),
            organization_id: OrganizationId::from_uuid(data.claims.org_id),
            role: Role::parse(&data.claims.role)?,
            token_version: data.claims.ver,
            key: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    fn settings() -> JwtSettings {
        JwtSettings {
            key: SigningKey::Secret(SecretString::from("0123456789abcdef0123456789abcdef")),
            algorithm: JwtAlgorithm::HS256,
            issuer: "orgsvc".into(),
            audience: "orgsvc-api".into(),
            ttl_seconds: 3600,
        }
    }

    fn principal() -> Principal {
        Principal {
            user_id: UserId::generate(),
            organization_id: OrganizationId::generate(),
            role: Role::Admin,
            token_version: 3,
            key: None,
        }
    }

    fn claims_of(token: &str) -> serde_json::Value {
        use base64::Engine as _;
        let payload = token.split('.').nth(1).unwrap();
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap();
        serde_json::from_slice(&json).unwrap()
    }

    #[test]
    fn an_issued_token_verifies_to_its_principal_and_carries_the_claims() {
        let codec = JwtCodec::new(&settings()).unwrap();
        let who = principal();
        let now = Utc::now();
        let token = codec.issue(&who, now).unwrap();
        assert_eq!(token.expires_in_seconds, 3600);
        assert_eq!(codec.verify(&token.access_token), Some(who));
        let claims = claims_of(&token.access_token);
        assert_eq!(claims["sub"], who.user_id.to_string());
        assert_eq!(claims["org_id"], who.organization_id.to_string());
        assert_eq!(claims["ver"], 3);
        assert_eq!(claims["role"], "admin");
        assert_eq!(claims["iss"], "orgsvc");
        assert_eq!(claims["aud"], "orgsvc-api");
        assert_eq!(claims["iat"], now.timestamp());
        assert_eq!(claims["exp"], now.timestamp() + 3600);
        assert!(claims["jti"].as_str().unwrap().parse::<Uuid>().is_ok());
    }

    #[test]
    fn an_expired_token_is_rejected() {
        let codec = JwtCodec::new(&settings()).unwrap();
        let token = codec
            .issue(&principal(), Utc::now() - Duration::seconds(3601))
            .unwrap();
        assert_eq!(codec.verify(&token.access_token), None);
    }

    #[test]
    fn a_token_signed_with_another_secret_is_rejected() {
        let mut other = settings();
        other.key = SigningKey::Secret(SecretString::from("another secret that is long enough!!"));
        let token = JwtCodec::new(&other)
            .unwrap()
            .issue(&principal(), Utc::now())
            .unwrap();
        assert_eq!(
            JwtCodec::new(&settings())
                .unwrap()
                .verify(&token.access_token),
            None
        );
    }

    #[test]
    fn a_token_for_another_issuer_or_audience_is_rejected() {
        let codec = JwtCodec::new(&settings()).unwrap();
        for (issuer, audience) in [("someone-else", "orgsvc-api"), ("orgsvc", "another-api")] {
            let mut other = settings();
            other.issuer = issuer.into();
            other.audience = audience.into();
            let token = JwtCodec::new(&other)
                .unwrap()
                .issue(&principal(), Utc::now())
                .unwrap();
            assert_eq!(
                codec.verify(&token.access_token),
                None,
                "{issuer} {audience}"
            );
        }
    }

    #[test]
    fn only_the_configured_algorithm_is_accepted() {
        let mut hs512 = settings();
        hs512.algorithm = JwtAlgorithm::HS512;
        let token = JwtCodec::new(&hs512)
            .unwrap()
            .issue(&principal(), Utc::now())
            .unwrap();
        assert_eq!(
            JwtCodec::new(&settings())
                .unwrap()
                .verify(&token.access_token),
            None
        );

        // An unsigned token ("alg": "none") with otherwise valid claims.
        let codec = JwtCodec::new(&settings()).unwrap();
        let real = codec.issue(&principal(), Utc::now()).unwrap().access_token;
        let payload = real.split('.').nth(1).unwrap();
        let unsigned = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
        assert_eq!(codec.verify(&unsigned), None);
    }

    /// Tokens issued before roles existed carry none; all went to organizations' creators, who
    /// are their owners. A role this version does not know makes the token invalid.
    #[test]
    fn a_token_without_a_role_is_an_owners_and_an_unknown_role_is_refused() {
        let codec = JwtCodec::new(&settings()).unwrap();
        let who = principal();
        let now = Utc::now().timestamp();
        let sign = |role: Option<&str>| {
            let mut claims = serde_json::json!({
                "sub": who.user_id.to_string(), "org_id": who.organization_id.to_string(),
                "iat": now, "exp": now + 60, "iss": "orgsvc", "aud": "orgsvc-api",
                "jti": Uuid::new_v4().to_string(), "ver": 3,
            });
            if let Some(role) = role {
                claims["role"] = role.into();
            }
            let key = EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef");
            encode(&Header::new(Algorithm::HS256), &claims, &key).unwrap()
        };
        let verified = codec.verify(&sign(None)).unwrap();
        assert_eq!(verified.role, Role::Owner);
        assert_eq!(verified.user_id, who.user_id);
        assert_eq!(
            codec.verify(&sign(Some("member"))).unwrap().role,
            Role::Member
        );
        assert_eq!(codec.verify(&sign(Some("superuser"))), None);
    }

    #[test]
    fn garbage_is_rejected() {
        let codec = JwtCodec::new(&settings()).unwrap();
        for token in ["", "a.b.c", "not a token", "...."] {
            assert_eq!(codec.verify(token), None);
        }
    }

    #[test]
    fn short_secrets_and_silly_lifetimes_are_refused() {
        let mut short = settings();
        short.key = SigningKey::Secret(SecretString::from("too short"));
        assert!(matches!(
            JwtCodec::new(&short),
            Err(JwtSettingsError::SecretTooShort)
        ));
        let mut zero = settings();
        zero.ttl_seconds = 0;
        assert!(matches!(
            JwtCodec::new(&zero),
            Err(JwtSettingsError::BadTtl)
        ));
    }

    fn eddsa(private: &SecretString, previous: Vec<String>) -> JwtCodec {
        JwtCodec::new(&JwtSettings {
            key: SigningKey::Ed25519 {
                private_pem: private.clone(),
                previous_public_pems: previous,
            },
            algorithm: JwtAlgorithm::EdDSA,
            ..settings()
        })
        .unwrap()
    }

    fn kid_of(token: &str) -> Option<String> {
        decode_header(token).unwrap().kid
    }

    /// A receipt verifies with the published JWK alone, names its type and key, carries the
    /// issuer, and is never taken for an access token.
    #[test]
    fn signed_claims_verify_with_the_published_jwk_and_are_no_access_token() {
        let codec = eddsa(&generate_ed25519_pem(), Vec::new());
        let claims =
            serde_json::json!({"sub": UserId::generate().to_string(), "jti": "r1", "iat": 1});
        let (jws, signed) = codec.sign("orgsvc-deletion-receipt+jwt", claims).unwrap();
        assert_eq!(signed["iss"], "orgsvc");
        let header = decode_header(&jws).unwrap();
        assert_eq!(header.typ.as_deref(), Some("orgsvc-deletion-receipt+jwt"));
        assert_eq!(
            header.kid.as_deref(),
            codec.jwks()["keys"][0]["kid"].as_str()
        );
        let jwk: jsonwebtoken::jwk::Jwk =
            serde_json::from_value(codec.jwks()["keys"][0].clone()).unwrap();
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_required_spec_claims(&["iss"]);
        validation.set_issuer(&["orgsvc"]);
        validation.validate_aud = false;
        let verified =
            decode::<serde_json::Value>(&jws, &DecodingKey::from_jwk(&jwk).unwrap(), &validation)
                .unwrap();
        assert_eq!(verified.claims["jti"], "r1");
        assert_eq!(verified.claims["iss"], "orgsvc");
        assert_eq!(codec.verify(&jws), None);
        let mut forged = jws.clone();
        forged.replace_range(forged.len() - 4.., "AAAA");
        assert!(decode::<serde_json::Value>(
            &forged,
            &DecodingKey::from_jwk(&jwk).unwrap(),
            &validation
        )
        .is_err());
    }

    #[test]
    fn eddsa_tokens_verify_and_name_their_key() {
        let codec = eddsa(&generate_ed25519_pem(), Vec::new());
        let who = principal();
        let token = codec.issue(&who, Utc::now()).unwrap().access_token;
        assert_eq!(codec.verify(&token), Some(who));
        assert_eq!(
            kid_of(&token).as_deref(),
            codec.jwks()["keys"][0]["kid"].as_str()
        );
        // Another key pair's tokens are not ours.
        let stranger = eddsa(&generate_ed25519_pem(), Vec::new());
        let foreign = stranger.issue(&who, Utc::now()).unwrap().access_token;
        assert_eq!(codec.verify(&foreign), None);
    }

    #[test]
    fn a_rotated_out_key_still_verifies_its_tokens_when_kept_as_previous() {
        let old = generate_ed25519_pem();
        let token = eddsa(&old, Vec::new())
            .issue(&principal(), Utc::now())
            .unwrap()
            .access_token;
        let new = generate_ed25519_pem();
        assert_eq!(eddsa(&new, Vec::new()).verify(&token), None);
        let rotated = eddsa(&new, vec![ed25519_public_pem(&old).unwrap()]);
        assert!(rotated.verify(&token).is_some());
        // New tokens are signed with the new key only.
        let fresh = rotated
            .issue(&principal(), Utc::now())
            .unwrap()
            .access_token;
        assert_ne!(kid_of(&fresh), kid_of(&token));
    }

    #[test]
    fn keys_must_suit_the_algorithm() {
        let mut hmac_for_eddsa = settings();
        hmac_for_eddsa.algorithm = JwtAlgorithm::EdDSA;
        assert!(matches!(
            JwtCodec::new(&hmac_for_eddsa),
            Err(JwtSettingsError::KeyMismatch { .. })
        ));
        let mut ed_for_hs = settings();
        ed_for_hs.key = SigningKey::Ed25519 {
            private_pem: generate_ed25519_pem(),
            previous_public_pems: Vec::new(),
        };
        assert!(matches!(
            JwtCodec::new(&ed_for_hs),
            Err(JwtSettingsError::KeyMismatch { .. })
        ));
    }

    #[test]
    fn hmac_tokens_carry_a_kid_and_ones_from_before_kids_still_verify() {
        let codec = JwtCodec::new(&settings()).unwrap();
        let who = principal();
        let token = codec.issue(&who, Utc::now()).unwrap().access_token;
        assert!(kid_of(&token).is_some_and(|kid| kid.starts_with("hs-")));
        let legacy = encode(
            &Header::new(Algorithm::HS256),
            &claims_of(&token),
            &EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef"),
        )
        .unwrap();
        assert_eq!(codec.verify(&legacy), Some(who));
        let mut unknown = Header::new(Algorithm::HS256);
        unknown.kid = Some("hs-someone-else".into());
        let named_wrong = encode(
            &unknown,
            &claims_of(&token),
            &EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef"),
        )
        .unwrap();
        assert_eq!(codec.verify(&named_wrong), None);
    }
}
