use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{assert_problem, TestApp, PASSWORD};

async fn only_the_organizations_own_admin_can_delete_it(app: TestApp) {
    let (_, acme) = app.org_with_token("Acme", "a@acme.io").await;
    app.create_org("Globex", "g@globex.io").await;
    let (status, body) = app.delete_org(&acme, "Globex").await;
    assert_problem(status, &body, 403, "forbidden");
    let (status, _) = app.get_org("Globex").await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app.delete_org(&acme, "Initech").await;
    assert_problem(status, &body, 404, "organization_not_found");
    let (status, body) = app
        .send(
            app.client
                .delete(app.url("/org/delete"))
                .query(&[("organization_name", "Acme")]),
        )
        .await;
    assert_problem(status, &body, 401, "unauthorized");
}

async fn a_deleted_organization_takes_its_data_admins_and_tokens_with_it(app: TestApp) {
    let (org, token) = app.org_with_token("Acme", "a@acme.io").await;
    let (_, doc) = app.insert_doc(&token, &json!({"secret": 1})).await;
    let (status, deleted) = app.delete_org(&token, "ACME").await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert_eq!(deleted["deleted"], true);
    assert_eq!(deleted["id"], org["id"]);
    assert_eq!(deleted["collection_name"], "org_acme");

    let (status, body) = app.get_org("Acme").await;
    assert_problem(status, &body, 404, "organization_not_found");
    let (status, body) = app.get_doc(&token, doc["id"].as_str().unwrap()).await;
    assert_problem(status, &body, 401, "unauthorized");
    let (status, body) = app.delete_org(&token, "Acme").await;
    assert_problem(status, &body, 401, "unauthorized");
    let (status, body) = app.login("a@acme.io", PASSWORD).await;
    assert_problem(status, &body, 401, "invalid_credentials");

    // Name and email can be used again; the new organization starts empty.
    let (again, token) = app.org_with_token("Acme", "a@acme.io").await;
    assert_ne!(again["id"], org["id"]);
    assert!(app.all_docs(&token).await.is_empty());
}

on_both_backends!(
    only_the_organizations_own_admin_can_delete_it,
    a_deleted_organization_takes_its_data_admins_and_tokens_with_it,
);
