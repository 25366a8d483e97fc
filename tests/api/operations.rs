use orgsvc_app::settings::Profile;
use orgsvc_app::Application;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{settings, Backend, TestApp};

async fn health_and_readiness_answer(app: TestApp) {
    let (status, body) = app.send(app.client.get(app.url("/health"))).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "ok"})));
    let (status, body) = app.send(app.client.get(app.url("/ready"))).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "ready"})));
}

async fn swagger_ui_and_the_openapi_document_are_served(app: TestApp) {
    let docs = app.client.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(docs.status(), StatusCode::OK);
    assert!(docs.text().await.unwrap().contains("swagger-ui"));
    let (status, spec) = app.send(app.client.get(app.url("/openapi.json"))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(spec["paths"]["/org/create"]["post"].is_object());
    // Unconfigured, the server generated clients default to is where this one listens.
    assert_eq!(spec["servers"], json!([{"url": app.address}]));
}

#[tokio::test]
async fn the_generated_secret_file_is_private() {
    let app = TestApp::spawn(Backend::Embedded, "secret").await.unwrap();
    let secret = app.data.join("jwt_secret");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&secret).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(std::fs::read_to_string(&secret).unwrap().len() >= 64);
}

#[tokio::test]
async fn the_production_profile_refuses_to_start_without_a_jwt_secret() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings(dir.path(), Backend::Embedded, "production").unwrap();
    settings.profile = Profile::Production;
    let error = Application::build(settings)
        .await
        .err()
        .expect("must refuse");
    assert!(
        error.to_string().contains("ORGSVC__AUTH__JWT_SECRET"),
        "{error}"
    );
    assert!(!dir.path().join("jwt_secret").exists());
    assert!(
        !dir.path().join("orgsvc.redb").exists(),
        "storage was touched"
    );
}

on_both_backends!(
    health_and_readiness_answer,
    swagger_ui_and_the_openapi_document_are_served
);

#[tokio::test]
async fn a_request_id_is_echoed_kept_when_sane_and_quoted_in_problems() {
    let app = TestApp::spawn(Backend::Embedded, "request_id")
        .await
        .unwrap();
    let answered = app
        .client
        .get(app.url("/no-such-route"))
        .header("x-request-id", "trace-42")
        .send()
        .await
        .unwrap();
    assert_eq!(answered.headers()["x-request-id"], "trace-42");
    let problem: serde_json::Value = answered.json().await.unwrap();
    assert_eq!(problem["request_id"], "trace-42");
    assert_eq!(problem["code"], "not_found");
    for sent in [None, Some("x".repeat(200)), Some("two words".to_owned())] {
        let mut request = app.client.get(app.url("/health"));
        if let Some(sent) = &sent {
            request = request.header("x-request-id", sent.as_str());
        }
        let answered = request.send().await.unwrap();
        let id = answered.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(id.parse::<uuid::Uuid>().is_ok(), "{sent:?} -> {id}");
    }
}

#[tokio::test]
async fn the_root_leads_to_the_docs() {
    let app = TestApp::spawn(Backend::Embedded, "root").await.unwrap();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let answered = client.get(app.url("/")).send().await.unwrap();
    assert!(answered.status().is_redirection(), "{}", answered.status());
    assert_eq!(answered.headers()["location"], "/docs/");
}
