use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{anonymous, assert_problem, TestApp, PASSWORD};

async fn a_created_organization_can_be_fetched_by_any_spelling_of_its_name(app: TestApp) {
    let (status, created) = app.create_org("Acme Corp", "Admin@Acme.io").await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(created["organization_name"], "Acme Corp");
    assert_eq!(created["slug"], "acme_corp");
    assert_eq!(created["collection_name"], "org_acme_corp");
    assert_eq!(created["connection"], app.expected_connection(&created));
    assert_eq!(created["admin"]["email"], "admin@acme.io");
    for field in ["id", "created_at", "updated_at"] {
        assert!(created[field].is_string(), "{field}");
    }
    assert!(!created.to_string().contains("argon2"), "{created}");

    for spelling in ["Acme Corp", "acme corp", "ACME-CORP", " acme_corp "] {
        let (status, found) = app.get_org(spelling).await;
        assert_eq!(status, StatusCode::OK, "{spelling}");
        assert_eq!(found, anonymous(created.clone()));
    }
    // The organization's own token sees who administers it.
    let (status, token) = app.login("admin@acme.io", PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
    let token = token["access_token"].as_str().unwrap();
    let (status, own) = app.get_org_as(token, "acme corp").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(own, created);
}

async fn names_that_normalize_alike_are_the_same_organization(app: TestApp) {
    app.create_org("Acme Corp", "a@acme.io").await;
    for (i, name) in ["acme corp", "ACME-CORP", "Acme__Corp!"].iter().enumerate() {
        let (status, body) = app.create_org(name, &format!("other{i}@acme.io")).await;
        assert_problem(status, &body, 409, "organization_exists");
    }
    // None of the rejected admins were stored.
    let (status, body) = app.login("other0@acme.io", PASSWORD).await;
    assert_problem(status, &body, 401, "invalid_credentials");
}

async fn an_admin_email_belongs_to_one_organization_only(app: TestApp) {
    app.create_org("Acme", "a@acme.io").await;
    let (status, body) = app.create_org("Globex", "A@ACME.IO").await;
    assert_problem(status, &body, 409, "admin_email_taken");
    let (status, body) = app.get_org("Globex").await;
    assert_problem(status, &body, 404, "organization_not_found");
}

async fn invalid_input_is_422_and_stores_nothing(app: TestApp) {
    for (name, email, password, field) in [
        ("", "a@acme.io", PASSWORD, "organization_name"),
        ("a$b", "a@acme.io", PASSWORD, "organization_name"),
        ("a.b", "a@acme.io", PASSWORD, "organization_name"),
        ("x/y", "a@acme.io", PASSWORD, "organization_name"),
        ("---", "a@acme.io", PASSWORD, "organization_name"),
        (&"n".repeat(65), "a@acme.io", PASSWORD, "organization_name"),
        ("Acme", "not-an-email", PASSWORD, "email"),
        ("Acme", "a@acme.io", "short", "password"),
    ] {
        let body = json!({"organization_name": name, "email": email, "password": password});
        let (status, problem) = app
            .send(app.client.post(app.url("/org/create")).json(&body))
            .await;
        assert_problem(status, &problem, 422, "validation_failed");
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    let (status, _) = app.get_org("Acme").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn malformed_mistyped_oversized_and_non_json_bodies_get_their_own_codes(app: TestApp) {
    let url = app.url("/org/create");
    let raw = |body: &str| {
        app.client
            .post(&url)
            .header("content-type", "application/json")
            .body(body.to_owned())
    };
    let (status, body) = app.send(raw("{\"organization_name\": \"Acme\",")).await;
    assert_problem(status, &body, 400, "malformed_body");
    let (status, body) = app
        .send(raw(
            "{\"organization_name\": 1, \"email\": \"a@b.io\", \"password\": \"12345678\"}",
        ))
        .await;
    assert_problem(status, &body, 422, "validation_failed");
    let (status, body) = app
        .send(raw("{\"email\": \"a@b.io\", \"password\": \"12345678\"}"))
        .await;
    assert_problem(status, &body, 422, "validation_failed");
    assert_eq!(body["errors"][0]["field"], "organization_name");
    let huge = format!("{{\"organization_name\": \"{}\"}}", "x".repeat(1024 * 1024));
    let (status, body) = app.send(raw(&huge)).await;
    assert_problem(status, &body, 413, "payload_too_large");
    let (status, body) = app
        .send(
            app.client
                .post(&url)
                .header("content-type", "text/plain")
                .body("hi"),
        )
        .await;
    assert_problem(status, &body, 415, "unsupported_media_type");
}

async fn getting_an_unknown_or_unnamed_organization_fails_clearly(app: TestApp) {
    let (status, body) = app.get_org("Nobody").await;
    assert_problem(status, &body, 404, "organization_not_found");
    let (status, body) = app.send(app.client.get(app.url("/org/get"))).await;
    assert_problem(status, &body, 422, "validation_failed");
    assert_eq!(body["errors"][0]["field"], "organization_name");
    let (status, body) = app.get_org("bad$name").await;
    assert_problem(status, &body, 422, "validation_failed");
}

on_both_backends!(
    a_created_organization_can_be_fetched_by_any_spelling_of_its_name,
    names_that_normalize_alike_are_the_same_organization,
    an_admin_email_belongs_to_one_organization_only,
    invalid_input_is_422_and_stores_nothing,
    malformed_mistyped_oversized_and_non_json_bodies_get_their_own_codes,
    getting_an_unknown_or_unnamed_organization_fails_clearly,
);
