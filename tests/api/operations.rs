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
