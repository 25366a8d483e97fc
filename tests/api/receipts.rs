//! Deletion receipts end to end: a delete answers a receipt signed with the service's Ed25519
//! token key, stating what went; whoever holds its id fetches it without a token; PyJWT (as
//! any JOSE library) and `orgsvc verify-receipt` verify it with the published JWK Set alone,
//! and refuse it once altered.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{assert_problem, project_tool, settings, Backend, TestApp};

/// A fresh app signing with Ed25519, on `backend`.
async fn eddsa_app(backend: Backend, test: &str) -> Option<TestApp> {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings(dir.path(), backend, test)?;
    settings.auth.algorithm = orgsvc_crypto::JwtAlgorithm::EdDSA;
    Some(TestApp::spawn_with(settings, dir).await)
}

macro_rules! on_every_backend {
    ($test:ident) => {
        mod $test {
            #[tokio::test]
            async fn embedded() {
                let app = super::eddsa_app(crate::helpers::Backend::Embedded, "receipts").await;
                super::$test(app.expect("embedded always runs")).await;
            }
            #[tokio::test]
            async fn mongodb_collection() {
                let backend =
                    crate::helpers::Backend::Mongodb(orgsvc_app::TenancyModel::Collection);
                if let Some(app) = super::eddsa_app(backend, "receipts").await {
                    super::$test(app).await;
                }
            }
            #[tokio::test]
            async fn mongodb_database() {
                let backend = crate::helpers::Backend::Mongodb(orgsvc_app::TenancyModel::Database);
                if let Some(app) = super::eddsa_app(backend, "receipts").await {
                    super::$test(app).await;
                }
            }
            #[tokio::test]
            async fn mongodb_shared() {
                let backend = crate::helpers::Backend::Mongodb(orgsvc_app::TenancyModel::Shared);
                if let Some(app) = super::eddsa_app(backend, "receipts").await {
                    super::$test(app).await;
                }
            }
        }
    };
}

on_every_backend!(a_deletion_answers_a_receipt_anyone_can_verify_with_the_published_keys);

async fn a_deletion_answers_a_receipt_anyone_can_verify_with_the_published_keys(app: TestApp) {
    let (org, owner) = app.org_with_token("Receipted", "owner@receipted.io").await;
    // Another organization's documents and member, which the receipt must not count.
    let (_, other) = app.org_with_token("Bystander", "owner@bystander.io").await;
    app.insert_doc(&other, &json!({"not": "counted"})).await;
    for n in 0..3 {
        let (status, _) = app.insert_doc(&owner, &json!({ "n": n })).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    app.join(&owner, "member@receipted.io", "member").await;
    app.invite(&owner, "pending@receipted.io", "member").await;
    let key = json!({"name": "job", "scopes": ["documents:read"]});
    let (status, _) = app
        .call(Method::POST, "/org/api-keys", &owner, Some(key))
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let (status, deleted) = app.delete_org(&owner, "Receipted").await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    let receipt = &deleted["receipt"];
    let id = receipt["id"].as_str().unwrap();
    let claims = &receipt["claims"];
    assert_eq!(claims["jti"], id);
    assert_eq!(claims["organization"]["id"], org["id"]);
    assert_eq!(claims["organization"]["name"], "Receipted");
    assert_eq!(claims["requested_by"], org["admin"]["id"]);
    assert_eq!(claims["iss"], "orgsvc");
    let documents = &claims["removed"]["documents"][0];
    assert_eq!(documents["count"], 3, "{claims:#}");
    assert_eq!(documents["cluster"], org["connection"]["cluster"]);
    assert_eq!(documents["database"], org["connection"]["database"]);
    assert_eq!(documents["tenancy_model"], org["connection"]["model"]);
    // The collection they were really in: the organization's own, or (database, shared) the
    // one its model keeps them in.
    if org["connection"]["model"] == "collection" {
        assert_eq!(documents["collection"], org["collection_name"]);
    } else {
        assert!(documents["collection"]
            .as_str()
            .is_some_and(|c| !c.is_empty()));
    }
    assert_eq!(claims["removed"]["members"], 2);
    assert_eq!(claims["removed"]["users"], 2);
    assert_eq!(
        claims["removed"]["invitations"], 2,
        "the accepted one and the pending one"
    );
    assert_eq!(claims["removed"]["api_keys"], 1);
    assert_eq!(claims["removed"]["webhooks"], 0);
    assert!(claims["last_export_sha256"].is_null());
    assert!(claims["kept"]["audit_events"].is_object());
    let text = claims.to_string();
    assert!(
        !text.contains("argon2") && !text.contains("@"),
        "no hash, no email: {text}"
    );

    // Whoever holds the id fetches it, no token needed: the same receipt.
    let path = format!("/org/deletion-receipts/{id}");
    let fetched = app.client.get(app.url(&path)).send().await.unwrap();
    assert_eq!(fetched.status(), StatusCode::OK);
    let fetched: Value = fetched.json().await.unwrap();
    assert_eq!(&fetched, receipt);
    let unknown = format!("/org/deletion-receipts/{}", uuid::Uuid::new_v4());
    let (status, problem) = app.send(app.client.get(app.url(&unknown))).await;
    assert_problem(status, &problem, 404, "receipt_not_found");
    let (status, problem) = app
        .send(app.client.get(app.url("/org/deletion-receipts/nope")))
        .await;
    assert_problem(status, &problem, 422, "validation_failed");

    // Offline, with the published keys alone: PyJWT and orgsvc verify-receipt.
    let jwks: Value = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jws = receipt["jws"].as_str().unwrap();
    let mut forged = jws.to_owned();
    let payload = forged.split('.').nth(1).unwrap().to_owned();
    let mut altered_claims = claims.clone();
    altered_claims["removed"]["documents"][0]["count"] = json!(0);
    let altered = base64_url(&altered_claims.to_string());
    forged = forged.replacen(&payload, &altered, 1);
    if let Some(verified) = pyjwt_verify(jws, &jwks) {
        assert_eq!(&verified, claims, "PyJWT reads what the service shows");
        assert!(
            pyjwt_verify(&forged, &jwks).is_none(),
            "PyJWT refuses an altered one"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let (receipt_file, forged_file, jwks_file) = (
        dir.path().join("receipt.json"),
        dir.path().join("forged.jws"),
        dir.path().join("jwks.json"),
    );
    std::fs::write(&receipt_file, deleted.to_string()).unwrap();
    std::fs::write(&forged_file, &forged).unwrap();
    std::fs::write(&jwks_file, jwks.to_string()).unwrap();
    let verify = |file: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_orgsvc"))
            .arg("verify-receipt")
            .arg(file)
            .arg("--jwks")
            .arg(&jwks_file)
            .output()
            .unwrap()
    };
    let good = verify(&receipt_file);
    assert!(good.status.success(), "{good:?}");
    let printed: Value = serde_json::from_slice(&good.stdout).unwrap();
    assert_eq!(&printed, claims);
    let bad = verify(&forged_file);
    assert!(!bad.status.success(), "{bad:?}");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("does not verify"));
}

fn base64_url(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

/// The claims PyJWT finds in `jws` with the key `jwks` publishes under its `kid`; `None` when
/// it refuses it (and the test is skipped where PyJWT cannot be installed, outside CI).
fn pyjwt_verify(jws: &str, jwks: &Value) -> Option<Value> {
    let python = project_tool("pyjwt.sh")?;
    let script = r#"
import json, sys
import jwt
jws, jwks = sys.argv[1], json.loads(sys.argv[2])
kid = jwt.get_unverified_header(jws)["kid"]
key = jwt.PyJWKSet.from_dict(jwks)[kid].key
try:
    claims = jwt.decode(jws, key, algorithms=["EdDSA"], issuer="orgsvc",
                        options={"require": ["iss"], "verify_aud": False})
except jwt.InvalidTokenError as e:
    print(f"refused: {e}", file=sys.stderr)
    sys.exit(3)
print(json.dumps(claims))
"#;
    let output = std::process::Command::new(python)
        .args(["-c", script, jws, &jwks.to_string()])
        .output()
        .unwrap();
    match output.status.code() {
        Some(0) => Some(serde_json::from_slice(&output.stdout).unwrap()),
        Some(3) => None,
        _ => panic!("PyJWT failed: {output:?}"),
    }
}
