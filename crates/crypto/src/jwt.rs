//! Signed JWT bearer tokens (HMAC-SHA2; HS256 unless configured otherwise).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use orgsvc_domain::ports::{IssuedToken, Principal, TokenCodec};
use orgsvc_domain::{AdminId, OrganizationId};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Shortest accepted signing secret, in bytes: HMAC keys shorter than the hash output weaken it.
pub const MIN_SECRET_BYTES: usize = 32;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub enum JwtAlgorithm {
    #[default]
    HS256,
    HS384,
    HS512,
}

impl From<JwtAlgorithm> for Algorithm {
    fn from(algorithm: JwtAlgorithm) -> Self {
        match algorithm {
            JwtAlgorithm::HS256 => Self::HS256,
            JwtAlgorithm::HS384 => Self::HS384,
            JwtAlgorithm::HS512 => Self::HS512,
        }
    }
}

/// Everything needed to issue and check tokens.
#[derive(Clone, Debug)]
pub struct JwtSettings {
    pub secret: SecretString,
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
    /// The admin's token version at issue; raising it revokes the token.
    #[serde(default)]
    ver: u64,
}

#[derive(Clone)]
pub struct JwtCodec {
    inner: Arc<Inner>,
}

struct Inner {
    encoding: EncodingKey,
    decoding: DecodingKey,
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
    /// When the secret is shorter than 32 bytes or the lifetime is out of range.
    pub fn new(settings: &JwtSettings) -> Result<Self, JwtSettingsError> {
        let secret = settings.secret.expose_secret().as_bytes();
        if secret.len() < MIN_SECRET_BYTES {
            return Err(JwtSettingsError::SecretTooShort);
        }
        if settings.ttl_seconds == 0 || settings.ttl_seconds > 30 * 24 * 3600 {
            return Err(JwtSettingsError::BadTtl);
        }
        let algorithm = Algorithm::from(settings.algorithm);
        // One algorithm only: a token claiming "none" or another algorithm is rejected.
        let mut validation = Validation::new(algorithm);
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        // The issuer is the only verifier, so there is no clock skew to forgive.
        validation.leeway = 0;
        Ok(Self {
            inner: Arc::new(Inner {
                encoding: EncodingKey::from_secret(secret),
                decoding: DecodingKey::from_secret(secret),
                header: Header::new(algorithm),
                validation,
                issuer: settings.issuer.clone(),
                audience: settings.audience.clone(),
                ttl_seconds: settings.ttl_seconds,
            }),
        })
    }
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
            sub: *principal.admin_id.as_uuid(),
            org_id: *principal.organization_id.as_uuid(),
            iat: now.timestamp(),
            exp: now.timestamp() + ttl,
            iss: inner.issuer.clone(),
            aud: inner.audience.clone(),
            jti: Uuid::new_v4(),
            ver: principal.token_version,
        };
        let access_token = encode(&inner.header, &claims, &inner.encoding)?;
        Ok(IssuedToken {
            access_token,
            expires_in_seconds: inner.ttl_seconds,
        })
    }

    fn verify(&self, token: &str) -> Option<Principal> {
        let data = decode::<Claims>(token, &self.inner.decoding, &self.inner.validation).ok()?;
        Some(Principal {
            admin_id: AdminId::from_uuid(data.claims.sub),
            organization_id: OrganizationId::from_uuid(data.claims.org_id),
            token_version: data.claims.ver,
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    fn settings() -> JwtSettings {
        JwtSettings {
            secret: SecretString::from("0123456789abcdef0123456789abcdef"),
            algorithm: JwtAlgorithm::HS256,
            issuer: "orgsvc".into(),
            audience: "orgsvc-api".into(),
            ttl_seconds: 3600,
        }
    }

    fn principal() -> Principal {
        Principal {
            admin_id: AdminId::generate(),
            organization_id: OrganizationId::generate(),
            token_version: 3,
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
        assert_eq!(claims["sub"], who.admin_id.to_string());
        assert_eq!(claims["org_id"], who.organization_id.to_string());
        assert_eq!(claims["ver"], 3);
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
        other.secret = SecretString::from("another secret that is long enough!!");
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
        short.secret = SecretString::from("too short");
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
}
