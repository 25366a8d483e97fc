use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{anonymous, TestApp, PASSWORD};

async fn everything_survives_a_restart(app: TestApp) {
    let (org, token) = app.org_with_token("Durable", "d@durable.io").await;
    let (_, doc) = app.insert_doc(&token, &json!({"kept": true})).await;
    let (_, renamed) = app
        .update_org(&token, &json!({"organization_name": "Durable Renamed"}))
        .await;

    let app = app.restart().await;
    let (status, found) = app.get_org("durable renamed").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(found, anonymous(renamed));
    assert_eq!(found["id"], org["id"]);
    // The generated signing secret was kept, so tokens issued before the restart still work.
    let (status, read) = app.get_doc(&token, doc["id"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read, doc);
    let (status, _) = app.login("d@durable.io", PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
}

on_both_backends!(everything_survives_a_restart);
