use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::{web, HttpResponse};
use serde_json::Value;

/// The public keys tokens are signed with, as a JWK Set (RFC 7517); set as app data.
#[derive(Clone, Debug)]
pub struct Jwks(pub Value);

/// The token signing keys
///
/// A JWK Set (RFC 7517) of the public keys that verify orgsvc's tokens: each token's `kid`
/// names one. With `auth.algorithm = "EdDSA"` other services verify tokens with these alone;
/// with the HMAC algorithms the set is empty (the secret is not public).
#[utoipa::path(
    get, path = "/.well-known/jwks.json", operation_id = "jwks", tag = "admin",
    responses((status = 200, description = "The JWK Set", content_type = "application/json",
        example = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
            "kid": "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k", "use": "sig", "alg": "EdDSA"}]})))
)]
pub async fn jwks(keys: web::Data<Jwks>) -> HttpResponse {
    HttpResponse::Ok()
        // Rotations add a key before using it, so a verifier's copy may be a few minutes old.
        .insert_header(CacheControl(vec![
            CacheDirective::Public,
            CacheDirective::MaxAge(300),
        ]))
        .json(&keys.0)
}
