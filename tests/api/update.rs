use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{anonymous, assert_problem, TestApp, PASSWORD};

async fn a_rename_moves_every_document_to_the_new_collection_and_keeps_id_and_tokens(app: TestApp) {
    let (org, token) = app.org_with_token("Acme", "admin@acme.io").await;
    for n in 0..120 {
        let (status, _) = app
            .insert_doc(&token, &json!({"n": n, "tags": ["x", n]}))
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let before = app.all_docs(&token).await;
    assert_eq!(before.len(), 120);

    let (status, renamed) = app
        .update_org(&token, &json!({"organization_name": "Acme Industries"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(renamed["id"], org["id"]);
    assert_eq!(renamed["organization_name"], "Acme Industries");
    assert_eq!(renamed["collection_name"], "org_acme_industries");
    assert_eq!(renamed["created_at"], org["created_at"]);
    assert_ne!(renamed["updated_at"], org["updated_at"]);

    // The same token still works and sees exactly the same documents.
    assert_eq!(app.all_docs(&token).await, before);
    let (status, body) = app.get_org("Acme").await;
    assert_problem(status, &body, 404, "organization_not_found");
    let (status, found) = app.get_org("acme industries").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(found, anonymous(renamed));

    // The old name is free again, with an empty collection of its own.
    let (_, newcomer) = app.org_with_token("Acme", "new@acme.io").await;
    assert!(app.all_docs(&newcomer).await.is_empty());
}

async fn renaming_onto_a_taken_name_is_409_and_changes_nothing(app: TestApp) {
    app.create_org("Globex", "g@globex.io").await;
    let (org, token) = app.org_with_token("Acme", "admin@acme.io").await;
    app.insert_doc(&token, &json!({"keep": true})).await;
    let (status, body) = app
        .update_org(&token, &json!({"organization_name": "GLOBEX"}))
        .await;
    assert_problem(status, &body, 409, "organization_exists");
    let (_, still) = app.get_org("Acme").await;
    assert_eq!(still, anonymous(org));
    assert_eq!(app.all_docs(&token).await.len(), 1);
}

async fn an_update_can_change_email_and_password_for_the_next_login(app: TestApp) {
    app.create_org("Globex", "g@globex.io").await;
    let (_, token) = app.org_with_token("Acme", "admin@acme.io").await;
    let (status, body) = app
        .update_org(
            &token,
            &json!({"organization_name": "Acme", "email": "g@globex.io", "current_password": PASSWORD}),
        )
        .await;
    assert_problem(status, &body, 409, "admin_email_taken");

    let (status, updated) = app
        .update_org(
            &token,
            &json!({"organization_name": "Acme", "email": "Boss@Acme.io", "password": "brand new passphrase",
                    "current_password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["admin"]["email"], "boss@acme.io");
    let (status, _) = app.login("admin@acme.io", PASSWORD).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app.login("boss@acme.io", PASSWORD).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app.login("boss@acme.io", "brand new passphrase").await;
    assert_eq!(status, StatusCode::OK);
}

async fn updating_needs_a_token_and_valid_fields(app: TestApp) {
    let (status, body) = app
        .send(
            app.client
                .put(app.url("/org/update"))
                .json(&json!({"organization_name": "X"})),
        )
        .await;
    assert_problem(status, &body, 401, "unauthorized");
    let (org, token) = app.org_with_token("Acme", "admin@acme.io").await;
    for (body, field) in [
        (json!({"organization_name": "a$"}), "organization_name"),
        (
            json!({"organization_name": "Acme", "email": "nope"}),
            "email",
        ),
        (
            json!({"organization_name": "Acme", "password": "short"}),
            "password",
        ),
        (json!({"email": "x@acme.io"}), "organization_name"),
    ] {
        let (status, problem) = app.update_org(&token, &body).await;
        assert_problem(status, &problem, 422, "validation_failed");
        assert_eq!(problem["errors"][0]["field"], field);
    }
    let (_, unchanged) = app.get_org("Acme").await;
    assert_eq!(unchanged, anonymous(org));
}

on_both_backends!(
    a_rename_moves_every_document_to_the_new_collection_and_keeps_id_and_tokens,
    renaming_onto_a_taken_name_is_409_and_changes_nothing,
    an_update_can_change_email_and_password_for_the_next_login,
    updating_needs_a_token_and_valid_fields,
);
