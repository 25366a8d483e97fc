use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_problem, TestApp, PASSWORD};

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&json).unwrap()
}

async fn login_returns_a_bearer_jwt_naming_the_admin_and_the_organization(app: TestApp) {
    let (_, org) = app.create_org("Acme", "admin@acme.io").await;
    let (status, body) = app.login("ADMIN@acme.io", PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    let claims = claims(body["access_token"].as_str().unwrap());
    assert_eq!(claims["sub"], org["admin"]["id"]);
    assert_eq!(claims["org_id"], org["id"]);
    assert_eq!(claims["iss"], "orgsvc");
    assert_eq!(claims["aud"], "orgsvc-api");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        3600
    );
    assert!(claims["jti"].is_string());
}

async fn a_wrong_password_and_an_unknown_email_are_indistinguishable(app: TestApp) {
    app.create_org("Acme", "admin@acme.io").await;
    let (wrong_status, mut wrong) = app.login("admin@acme.io", "not the password").await;
    let (unknown_status, mut unknown) = app.login("nobody@acme.io", PASSWORD).await;
    assert_problem(wrong_status, &wrong, 401, "invalid_credentials");
    // Each answer names its own request; everything else must be the same.
    for body in [&mut wrong, &mut unknown] {
        assert!(body.as_object_mut().unwrap().remove("request_id").is_some());
    }
    assert_eq!((wrong_status, &wrong), (unknown_status, &unknown));
}

async fn a_tampered_or_foreign_token_is_refused(app: TestApp) {
    let (_, token) = app.org_with_token("Acme", "admin@acme.io").await;
    let (_, mut other) = app.org_with_token("Globex", "g@globex.io").await;
    // Swap Globex's payload into Acme's signed token.
    let parts: Vec<&str> = token.split('.').collect();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        other.split('.').nth(1).unwrap(),
        parts[2]
    );
    other.push('x');
    for bad in [forged.as_str(), other.as_str(), "eyJhbGciOiJub25lIn0.e30."] {
        let (status, body) = app
            .update_org(bad, &json!({"organization_name": "Hijacked"}))
            .await;
        assert_problem(status, &body, 401, "unauthorized");
    }
}

on_both_backends!(
    login_returns_a_bearer_jwt_naming_the_admin_and_the_organization,
    a_wrong_password_and_an_unknown_email_are_indistinguishable,
    a_tampered_or_foreign_token_is_refused,
);
