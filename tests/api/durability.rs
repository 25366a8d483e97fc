use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, PASSWORD};

#[tokio::test]
async fn everything_survives_a_restart_on_the_same_data_file() {
    let app = TestApp::spawn().await;
    let (org, token) = app.org_with_token("Durable", "d@durable.io").await;
    let (_, doc) = app.insert_doc(&token, &json!({"kept": true})).await;
    let (_, renamed) = app
        .update_org(&token, &json!({"organization_name": "Durable Renamed"}))
        .await;
    let dir = app.stop().await.expect("owns its directory");

    let app = TestApp::spawn_on(dir.path()).await;
    let (status, found) = app.get_org("durable renamed").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(found, renamed);
    assert_eq!(found["id"], org["id"]);
    // The generated signing secret was kept, so tokens issued before the restart still work.
    let (status, read) = app.get_doc(&token, doc["id"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read, doc);
    let (status, _) = app.login("d@durable.io", PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
    app.stop().await;
    drop(dir);
}
