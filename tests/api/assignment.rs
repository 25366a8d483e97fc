//! What clients written against the original assignment send and read: the organization's
//! name in a JSON body on GET and DELETE, `new_organization_name` on update, and a flat
//! `admin_email` in responses.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_problem, TestApp, PASSWORD};

async fn responses_carry_a_flat_admin_email_only_where_the_admin_email_is_shown(app: TestApp) {
    let (created, token) = app.org_with_token("Acme", "admin@acme.io").await;
    assert_eq!(created["admin_email"], "admin@acme.io");
    assert_eq!(created["admin_email"], created["admin"]["email"]);
    let (status, anonymous) = app.get_org("Acme").await;
    assert_eq!(status, StatusCode::OK);
    assert!(anonymous.get("admin_email").is_none(), "{anonymous}");
    assert!(anonymous.get("admin").is_none(), "{anonymous}");
    let (status, own) = app.get_org_as(&token, "Acme").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(own["admin_email"], "admin@acme.io");
    let (status, updated) = app
        .update_org(&token, &json!({"organization_name": "Acme Two"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["admin_email"], "admin@acme.io");
}

async fn get_and_delete_take_the_name_from_a_json_body(app: TestApp) {
    let (created, token) = app.org_with_token("Acme Corp", "admin@acme.io").await;
    let body = json!({"organization_name": "acme corp"});
    let (status, found) = app
        .send(app.client.get(app.url("/org/get")).json(&body))
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(found["id"], created["id"]);

    // Query and body naming the same organization in different spellings agree.
    let (status, _) = app
        .send(
            app.client
                .get(app.url("/org/get"))
                .query(&[("organization_name", "ACME-CORP")])
                .json(&body),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // Naming two organizations at once, a bad name, an unknown field, or a body that is not
    // JSON is refused and deletes nothing.
    app.create_org("Globex", "g@globex.io").await;
    let refused: [(reqwest::RequestBuilder, u16, &str); 4] = [
        (
            app.client
                .delete(app.url("/org/delete"))
                .query(&[("organization_name", "Globex")])
                .json(&body),
            422,
            "validation_failed",
        ),
        (
            app.client
                .delete(app.url("/org/delete"))
                .json(&json!({"organization_name": "a$b"})),
            422,
            "validation_failed",
        ),
        (
            app.client
                .delete(app.url("/org/delete"))
                .json(&json!({"organization_name": "Acme Corp", "force": true})),
            422,
            "validation_failed",
        ),
        (
            app.client
                .delete(app.url("/org/delete"))
                .header("content-type", "text/plain")
                .body("Acme Corp"),
            415,
            "unsupported_media_type",
        ),
    ];
    for (request, status_expected, code) in refused {
        let (status, problem) = app.send(request.bearer_auth(&token)).await;
        assert_problem(status, &problem, status_expected, code);
    }
    let (status, problem) = app
        .send(app.client.get(app.url("/org/get")).json(&json!({})))
        .await;
    assert_problem(status, &problem, 422, "validation_failed");
    assert_eq!(problem["errors"][0]["field"], "organization_name");
    assert_eq!(app.get_org("Acme Corp").await.0, StatusCode::OK);

    // Another organization's name in the body is still another organization: 403.
    let (status, problem) = app
        .send(
            app.client
                .delete(app.url("/org/delete"))
                .bearer_auth(&token)
                .json(&json!({"organization_name": "Globex"})),
        )
        .await;
    assert_problem(status, &problem, 403, "forbidden");

    let (status, deleted) = app
        .send(
            app.client
                .delete(app.url("/org/delete"))
                .bearer_auth(&token)
                .json(&body),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert_eq!(deleted["id"], created["id"]);
    assert_eq!(app.get_org("Acme Corp").await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.get_org("Globex").await.0, StatusCode::OK);
}

async fn update_accepts_new_organization_name_for_the_callers_own_organization(app: TestApp) {
    let (created, token) = app.org_with_token("Acme", "admin@acme.io").await;
    let (_, other_token) = app.org_with_token("Globex", "g@globex.io").await;
    let doc = json!({"kind": "invoice"});
    assert_eq!(app.insert_doc(&token, &doc).await.0, StatusCode::CREATED);

    // Naming somebody else's organization changes nothing.
    let (status, problem) = app
        .update_org(
            &other_token,
            &json!({"organization_name": "Acme", "new_organization_name": "Initech"}),
        )
        .await;
    assert_problem(status, &problem, 403, "forbidden");
    // An invalid new name is named as such.
    let (status, problem) = app
        .update_org(
            &token,
            &json!({"organization_name": "Acme", "new_organization_name": "a$b"}),
        )
        .await;
    assert_problem(status, &problem, 422, "validation_failed");
    assert_eq!(problem["errors"][0]["field"], "new_organization_name");
    for name in ["Acme", "Globex"] {
        assert_eq!(app.get_org(name).await.0, StatusCode::OK, "{name}");
    }
    assert_eq!(app.get_org("Initech").await.0, StatusCode::NOT_FOUND);

    // The assignment's form, with the current password as its clients send it.
    let (status, updated) = app
        .update_org(
            &token,
            &json!({
                "organization_name": "acme",
                "new_organization_name": "Acme Industries",
                "email": "admin@acme.io",
                "password": PASSWORD,
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["id"], created["id"]);
    assert_eq!(updated["organization_name"], "Acme Industries");
    assert_eq!(updated["collection_name"], "org_acme_industries");
    assert_eq!(app.get_org("Acme").await.0, StatusCode::NOT_FOUND);
    let documents: Vec<Value> = app.all_docs(&token).await;
    assert_eq!(documents.len(), 1);
    assert_eq!(documents[0]["data"]["kind"], "invoice");
}

on_both_backends!(
    responses_carry_a_flat_admin_email_only_where_the_admin_email_is_shown,
    get_and_delete_take_the_name_from_a_json_body,
    update_accepts_new_organization_name_for_the_callers_own_organization,
);
