//! Organization API keys end to end: a client app working with a key alone, within its scopes;
//! rotation and revocation taking effect at once; keys surviving a rename and dying with their
//! organization or their creator's membership; each key held to its rate.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{assert_problem, Backend, TestApp};

pub const ALL_SCOPES: [&str; 5] = [
    "documents:read",
    "documents:write",
    "organization:read",
    "members:read",
    "audit:read",
];

impl TestApp {
    /// Creates a key with `scopes` as the holder of `token`; returns the key itself.
    pub(crate) async fn api_key(&self, token: &str, scopes: &[&str]) -> String {
        let body = json!({"name": "test key", "scopes": scopes});
        let (status, created) = self
            .call(Method::POST, "/org/api-keys", token, Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        created["key"].as_str().unwrap().to_owned()
    }

    async fn keys(&self, token: &str) -> Vec<Value> {
        let (status, listed) = self.call(Method::GET, "/org/api-keys", token, None).await;
        assert_eq!(status, StatusCode::OK, "{listed}");
        listed["api_keys"].as_array().unwrap().clone()
    }
}

async fn a_client_app_works_with_a_key_alone_within_its_scopes(app: TestApp) {
    let (_, owner) = app.org_with_token("Acme", "owner@acme.io").await;
    let body = json!({"name": "reporting", "scopes": ["documents:read", "documents:write", "organization:read"]});
    let response = app
        .client
        .post(app.url("/org/api-keys"))
        .bearer_auth(&owner)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let created: Value = response.json().await.unwrap();
    let key = created["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("osk_") && key.len() == 134, "{key}");
    assert_eq!(
        created["scopes"],
        json!(["documents:read", "documents:write", "organization:read"])
    );

    // What its scopes allow, and only that.
    let (status, stored) = app.insert_doc(&key, &json!({"from": "a key"})).await;
    assert_eq!(status, StatusCode::CREATED, "{stored}");
    let (status, own) = app.get_org_as(&key, "Acme").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(own["admin_email"], "owner@acme.io", "{own}");
    let (status, problem) = app.call(Method::GET, "/org/members", &key, None).await;
    assert_problem(status, &problem, 403, "forbidden");
    for (method, path, body) in [
        (Method::GET, "/org/api-keys", None),
        (
            Method::PUT,
            "/org/update",
            Some(json!({"organization_name": "Stolen"})),
        ),
        (Method::POST, "/admin/logout", None),
        (
            Method::POST,
            "/org/invitations",
            Some(json!({"email": "x@y.io", "role": "member"})),
        ),
    ] {
        let (status, problem) = app.call(method.clone(), path, &key, body).await;
        assert_problem(status, &problem, 403, "api_key_not_allowed");
    }

    // A rename keeps the key working, on the same documents.
    let (status, renamed) = app
        .update_org(&owner, &json!({"organization_name": "Acme Industries"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    let documents = app.all_docs(&key).await;
    assert_eq!(documents.len(), 1, "{documents:?}");
    assert_eq!(documents[0]["data"]["from"], "a key");

    let listed = app.keys(&owner).await;
    assert_eq!(listed.len(), 1);
    assert!(
        listed[0].get("key").is_none(),
        "the secret is never listed: {listed:?}"
    );
    assert!(listed[0]["last_used_at"].is_string(), "{listed:?}");

    // Rotation: the old secret stops at once, the new one works.
    let id = created["id"].as_str().unwrap();
    let (status, rotated) = app
        .call(
            Method::POST,
            &format!("/org/api-keys/{id}/rotate"),
            &owner,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new_key = rotated["key"].as_str().unwrap();
    let (status, problem) = app.call(Method::GET, "/org/documents", &key, None).await;
    assert_problem(status, &problem, 401, "unauthorized");
    let (status, _) = app.call(Method::GET, "/org/documents", new_key, None).await;
    assert_eq!(status, StatusCode::OK);

    // Revocation: at once.
    let (status, _) = app
        .call(Method::DELETE, &format!("/org/api-keys/{id}"), &owner, None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, problem) = app.call(Method::GET, "/org/documents", new_key, None).await;
    assert_problem(status, &problem, 401, "unauthorized");
    let (status, problem) = app
        .call(Method::DELETE, &format!("/org/api-keys/{id}"), &owner, None)
        .await;
    assert_problem(status, &problem, 404, "api_key_not_found");

    let (status, audit) = app
        .call(Method::GET, "/org/audit?limit=100", &owner, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let actions: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in ["api_key_created", "api_key_rotated", "api_key_revoked"] {
        assert!(actions.contains(&action), "{action}: {actions:?}");
    }
    assert!(!audit.to_string().contains(&new_key[new_key.len() - 64..]));

    // Deleting the organization kills its keys.
    let survivor = app.api_key(&owner, &["documents:read"]).await;
    let (status, _) = app.delete_org(&owner, "Acme Industries").await;
    assert_eq!(status, StatusCode::OK);
    let (status, problem) = app
        .call(Method::GET, "/org/documents", &survivor, None)
        .await;
    assert_problem(status, &problem, 401, "unauthorized");
}

async fn keys_are_validated_bounded_by_their_creator_and_end_with_them(app: TestApp) {
    let (_, owner) = app.org_with_token("Acme", "owner@acme.io").await;
    for (body, field) in [
        (json!({"name": "x", "scopes": []}), "scopes"),
        (json!({"name": " ", "scopes": ["documents:read"]}), "name"),
        (
            json!({"name": "x", "scopes": ["documents:read"], "expires_at": "2001-01-01T00:00:00Z"}),
            "expires_at",
        ),
    ] {
        let (status, problem) = app
            .call(Method::POST, "/org/api-keys", &owner, Some(body))
            .await;
        assert_problem(status, &problem, 422, "validation_failed");
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    let (status, problem) = app
        .call(
            Method::POST,
            "/org/api-keys",
            &owner,
            Some(json!({"name": "x", "scopes": ["documents:delete"]})),
        )
        .await;
    assert_eq!(status.as_u16(), 422, "{problem}");
    assert!(app.keys(&owner).await.is_empty(), "nothing was stored");

    // An admin's audit key ends when the admin is demoted to member (members may not read the
    // audit log); their documents key ends when they are removed.
    let (admin, admin_id) = app.join(&owner, "admin@acme.io", "admin").await;
    let audit_key = app.api_key(&admin, &["audit:read"]).await;
    let documents_key = app.api_key(&admin, &["documents:read"]).await;
    let (status, _) = app.call(Method::GET, "/org/audit", &audit_key, None).await;
    assert_eq!(status, StatusCode::OK);
    let member_path = format!("/org/members/{admin_id}");
    let (status, _) = app
        .call(
            Method::PATCH,
            &member_path,
            &owner,
            Some(json!({"role": "member"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.call(Method::GET, "/org/audit", &audit_key, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app
        .call(Method::GET, "/org/documents", &documents_key, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.call(Method::DELETE, &member_path, &owner, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app
        .call(Method::GET, "/org/documents", &documents_key, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A key of another organization reads nothing here.
    let (_, other) = app.org_with_token("Globex", "owner@globex.io").await;
    let other_key = app.api_key(&other, &["documents:read"]).await;
    let (status, stored) = app.insert_doc(&owner, &json!({"secret": 1})).await;
    assert_eq!(status, StatusCode::CREATED);
    let path = format!("/org/documents/{}", stored["id"].as_str().unwrap());
    let (status, problem) = app.call(Method::GET, &path, &other_key, None).await;
    assert_problem(status, &problem, 404, "document_not_found");
}

on_both_backends!(
    a_client_app_works_with_a_key_alone_within_its_scopes,
    keys_are_validated_bounded_by_their_creator_and_end_with_them,
);

#[tokio::test]
async fn each_key_is_held_to_its_own_rate() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = crate::helpers::settings(dir.path(), Backend::Embedded, "key_rate").unwrap();
    settings.api_keys.burst = 3;
    settings.api_keys.per_second = 0.01;
    let app = TestApp::spawn_with(settings, dir).await;
    let (_, owner) = app.org_with_token("Acme", "owner@acme.io").await;
    let busy = app.api_key(&owner, &["documents:read"]).await;
    let quiet = app.api_key(&owner, &["documents:read"]).await;
    for _ in 0..3 {
        let (status, _) = app.call(Method::GET, "/org/documents", &busy, None).await;
        assert_eq!(status, StatusCode::OK);
    }
    let response = app
        .client
        .get(app.url("/org/documents"))
        .bearer_auth(&busy)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(wait >= 1, "{wait}");
    // Another key, and the person who made them, are not held back by it.
    let (status, _) = app.call(Method::GET, "/org/documents", &quiet, None).await;
    assert_eq!(status, StatusCode::OK);
    for _ in 0..5 {
        let (status, _) = app.call(Method::GET, "/org/documents", &owner, None).await;
        assert_eq!(status, StatusCode::OK);
    }
}
