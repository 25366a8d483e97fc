use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_problem, TestApp};

async fn documents_can_be_created_read_listed_replaced_and_deleted(app: TestApp) {
    let (_, token) = app.org_with_token("Acme", "a@acme.io").await;
    let doc = json!({"title": "Q3", "nested": {"pages": 12, "tags": ["a", null, 1.5]}});
    let (status, created) = app.insert_doc(&token, &doc).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(created["data"], doc);
    let id = created["id"].as_str().unwrap().to_owned();
    let (status, read) = app.get_doc(&token, &id).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read, created);

    let url = app.url(&format!("/org/documents/{id}"));
    let (status, replaced) = app
        .send(
            app.client
                .put(&url)
                .bearer_auth(&token)
                .json(&json!({"title": "Q4"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(replaced["data"], json!({"title": "Q4"}));
    assert_eq!(
        app.get_doc(&token, &id).await.1["data"],
        json!({"title": "Q4"})
    );

    let (status, deleted) = app.send(app.client.delete(&url).bearer_auth(&token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(deleted, json!({"deleted": true, "id": id}));
    let (status, body) = app.get_doc(&token, &id).await;
    assert_problem(status, &body, 404, "document_not_found");
    let (status, body) = app.send(app.client.delete(&url).bearer_auth(&token)).await;
    assert_problem(status, &body, 404, "document_not_found");
    let (status, body) = app
        .send(app.client.put(&url).bearer_auth(&token).json(&json!({})))
        .await;
    assert_problem(status, &body, 404, "document_not_found");
}

async fn listing_pages_through_documents_in_creation_order(app: TestApp) {
    let (_, token) = app.org_with_token("Acme", "a@acme.io").await;
    let mut ids = Vec::new();
    for n in 0..25 {
        let (_, created) = app.insert_doc(&token, &json!({"n": n})).await;
        ids.push(created["id"].clone());
    }
    let (status, first) = app
        .send(
            app.client
                .get(app.url("/org/documents?limit=10"))
                .bearer_auth(&token),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first["documents"].as_array().unwrap().len(), 10);
    assert_eq!(first["next"], ids[9]);
    let listed: Vec<Value> = app
        .all_docs(&token)
        .await
        .iter()
        .map(|d| d["id"].clone())
        .collect();
    assert_eq!(listed, ids);
    let (status, body) = app
        .send(
            app.client
                .get(app.url("/org/documents?limit=5000"))
                .bearer_auth(&token),
        )
        .await;
    assert_problem(status, &body, 422, "validation_failed");
}

async fn one_organizations_token_never_reaches_anothers_documents(app: TestApp) {
    let (_, acme) = app.org_with_token("Acme", "a@acme.io").await;
    let (_, globex) = app.org_with_token("Globex", "g@globex.io").await;
    let (_, secret) = app
        .insert_doc(&acme, &json!({"secret": "acme plans"}))
        .await;
    let id = secret["id"].as_str().unwrap();
    let url = app.url(&format!("/org/documents/{id}"));

    let (status, body) = app.get_doc(&globex, id).await;
    assert_problem(status, &body, 404, "document_not_found");
    let (status, _) = app
        .send(
            app.client
                .put(&url)
                .bearer_auth(&globex)
                .json(&json!({"pwned": true})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.send(app.client.delete(&url).bearer_auth(&globex)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(app.all_docs(&globex).await.is_empty());

    let (_, still) = app.get_doc(&acme, id).await;
    assert_eq!(still["data"], json!({"secret": "acme plans"}));
}

async fn documents_up_to_the_body_limit_are_kept_and_larger_ones_refused(app: TestApp) {
    let (_, token) = app.org_with_token("Acme", "a@acme.io").await;
    let near_limit = json!({"blob": "x".repeat(1024 * 1024 - 64)});
    let (status, created) = app.insert_doc(&token, &near_limit).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        app.get_doc(&token, created["id"].as_str().unwrap()).await.1["data"],
        near_limit
    );
    let over = json!({"blob": "x".repeat(1024 * 1024)});
    let (status, body) = app.insert_doc(&token, &over).await;
    assert_problem(status, &body, 413, "payload_too_large");
    assert_eq!(app.all_docs(&token).await.len(), 1);
}

async fn reserved_field_names_and_non_objects_are_refused(app: TestApp) {
    let (_, token) = app.org_with_token("Acme", "a@acme.io").await;
    for doc in [
        json!({"$where": 1}),
        json!({"a": {"$gt": 1}}),
        json!({"_id": 1}),
        json!([1, 2]),
        json!("text"),
    ] {
        let (status, body) = app.insert_doc(&token, &doc).await;
        assert_problem(status, &body, 422, "validation_failed");
    }
    assert!(app.all_docs(&token).await.is_empty());
}

on_both_backends!(
    documents_can_be_created_read_listed_replaced_and_deleted,
    listing_pages_through_documents_in_creation_order,
    one_organizations_token_never_reaches_anothers_documents,
    documents_up_to_the_body_limit_are_kept_and_larger_ones_refused,
    reserved_field_names_and_non_objects_are_refused,
);
