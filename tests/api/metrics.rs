//! `GET /metrics`, read the way Prometheus reads it. Metrics belong to the process, and every
//! test of this binary shares it, so the checks are lower bounds and unique labels.

use std::collections::HashMap;
use std::io::Write as _;
use std::process::{Command, Stdio};

use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::json;

use crate::helpers::{project_tool, TestApp};

/// The Prometheus project's own parser (prometheus_client), turning the exposition into
/// samples; it raises on anything a scraper could not read.
const PARSE: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
samples = [
    {"name": s.name, "labels": s.labels, "value": s.value}
    for family in text_string_to_metric_families(sys.stdin.read())
    for s in family.samples
]
json.dump(samples, sys.stdout)
"#;

#[derive(Debug, Deserialize)]
struct Sample {
    name: String,
    labels: HashMap<String, String>,
    value: f64,
}

async fn scrape(app: &TestApp, python: &std::path::Path) -> Vec<Sample> {
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = response.text().await.unwrap();
    let mut parser = Command::new(python)
        .args(["-c", PARSE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python runs");
    parser
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = parser.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "the exposition does not parse: {}\n{text}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The value of the first sample named `name` whose labels include all of `labels`.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(label, value)| s.labels.get(*label).map(String::as_str) == Some(value))
        })
        .map(|s| s.value)
}

fn at_least(samples: &[Sample], name: &str, labels: &[(&str, &str)], floor: f64) {
    let found = value(samples, name, labels);
    assert!(
        found.is_some_and(|v| v >= floor),
        "{name}{labels:?} = {found:?}, expected at least {floor}"
    );
}

async fn metrics_cover_requests_logins_hashing_and_storage(app: TestApp) {
    let backend = app.backend_name();
    let (_, token) = app.org_with_token("Metered", "m@metered.io").await;
    let (status, _) = app.login("m@metered.io", "not the password").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, created) = app.insert_doc(&token, &json!({"n": 1})).await;
    assert_eq!(status, StatusCode::CREATED);
    let id = created["id"].as_str().unwrap();
    assert_eq!(app.get_doc(&token, id).await.0, StatusCode::OK);
    let (status, _) = app
        .send(app.client.get(app.url(&format!("/no/such/{id}"))))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let Some(python) = project_tool("prometheus-client.sh") else {
        return;
    };
    let samples = scrape(&app, &python).await;
    let requests = "orgsvc_http_requests_total";
    at_least(
        &samples,
        requests,
        &[
            ("route", "/org/create"),
            ("method", "POST"),
            ("status", "201"),
        ],
        1.0,
    );
    at_least(
        &samples,
        requests,
        &[
            ("route", "/admin/login"),
            ("method", "POST"),
            ("status", "401"),
        ],
        1.0,
    );
    // Routes are templates: no id ever becomes a label, and unknown paths share one series.
    at_least(
        &samples,
        requests,
        &[
            ("route", "/org/documents/{id}"),
            ("method", "GET"),
            ("status", "200"),
        ],
        1.0,
    );
    at_least(
        &samples,
        requests,
        &[("route", "unmatched"), ("status", "404")],
        1.0,
    );
    assert!(
        samples
            .iter()
            .all(|s| s.labels.values().all(|v| !v.contains(id))),
        "a document id became a label"
    );
    at_least(
        &samples,
        "orgsvc_http_request_duration_seconds_count",
        &[("route", "/org/documents"), ("method", "POST")],
        1.0,
    );
    assert!(value(
        &samples,
        "orgsvc_http_request_duration_seconds_bucket",
        &[("le", "+Inf")]
    )
    .is_some());

    at_least(
        &samples,
        "orgsvc_logins_total",
        &[("outcome", "success")],
        1.0,
    );
    at_least(
        &samples,
        "orgsvc_logins_total",
        &[("outcome", "failure")],
        1.0,
    );
    at_least(&samples, "orgsvc_password_hash_queue_depth", &[], 0.0);
    at_least(&samples, "orgsvc_password_hash_busy_workers", &[], 0.0);

    for operation in [
        "create_organization",
        "insert_document",
        "get_document",
        "begin_login_attempt",
    ] {
        at_least(
            &samples,
            "orgsvc_storage_operation_duration_seconds_count",
            &[("backend", backend), ("operation", operation)],
            1.0,
        );
    }
    at_least(&samples, "orgsvc_organizations", &[], 1.0);
}

on_both_backends!(metrics_cover_requests_logins_hashing_and_storage);
