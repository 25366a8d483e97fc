//! The OpenAPI document against the running service, checked by schemathesis (every check, the
//! examples, coverage and fuzzing phases): every request the schema allows is accepted, every
//! one it forbids is refused, every answer is documented and matches its schema, and nothing
//! answers 5xx. Installed by `scripts/schemathesis.sh`; with a fixed seed here, so a run is
//! reproducible (`ORGSVC_FUZZ_SEED` and `ORGSVC_FUZZ_EXAMPLES` explore further).

use std::path::PathBuf;
use std::process::Command;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{self, Backend, TestApp};

const PASSWORD: &str = "fuzzing passphrase 1";

/// An invitation works once: schemathesis replays the tokens and ids it sees in answers, and
/// accepting, revoking or resending one that was used or revoked is 410 `invitation_gone` by
/// design (not a schema-valid request refused).
///
/// A document's schema states its rules below the top level in words (a recursive schema is
/// what SDK generators cannot read; see `openapi/rules.rs`), so a schema-valid document may
/// still be refused with 422: a nested `$` key, an integer beyond 64 bits, too deep a nesting.
/// So may a new API key: its expiry must be in the future, and its name not blank once
/// trimmed, neither of which a schema can say. So may a webhook endpoint: its URL must be an
/// absolute `https` URL of a public host without credentials or fragment (a host's
/// publicness is a fact of addresses, not of strings); and a replay, which takes exactly one of
/// `seq` and `since` (said in words: a `oneOf` is what the SDK generators handle worst).
const CONFIG: &str = r#"
[[operations]]
include-path-regex = "^/(org/)?invitations/"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "410", "429"]

[[operations]]
include-operation-id-regex = "^(insert|replace)_document$|^create_api_key$|^(create|update|replay)_webhook$"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422", "429"]
"#;

/// Loaded by the fuzzer's Python at start (through `PYTHONPATH`). Hypothesis names a filter's
/// lambda by parsing its source file, and CPython 3.11's parser, deep in a stack whose
/// recursion limit hypothesis has raised, now and then fails with `SystemError: AST constructor
/// recursion depth mismatch`; schemathesis then reports an error of its own on whichever
/// operation drew first, with no request sent. The name only labels a strategy: fall back to
/// hypothesis's own "unknown" label, as it does when the source cannot be read.
const SITECUSTOMIZE: &str = r#"
import hypothesis.internal.lambda_sources as sources

_describe = sources._lambda_description


def _lambda_description(f, *args, **kwargs):
    try:
        return _describe(f, *args, **kwargs)
    except SystemError:
        return "lambda: <unknown>"


sources._lambda_description = _lambda_description
"#;

fn run(st: &PathBuf, app: &TestApp, token: &str, filter: &[&str]) -> (bool, String) {
    let seed = std::env::var("ORGSVC_FUZZ_SEED").unwrap_or_else(|_| "20261124".into());
    let examples = std::env::var("ORGSVC_FUZZ_EXAMPLES").unwrap_or_else(|_| "25".into());
    // schemathesis keeps a cache in its working directory; keep it out of the source tree.
    let scratch = tempfile::tempdir().expect("a scratch directory");
    let config = scratch.path().join("schemathesis.toml");
    std::fs::write(&config, CONFIG).expect("the configuration is written");
    let sitecustomize = scratch.path().join("sitecustomize.py");
    std::fs::write(&sitecustomize, SITECUSTOMIZE).expect("the workaround is written");
    let output = Command::new(st)
        .current_dir(scratch.path())
        .env("PYTHONPATH", scratch.path())
        .arg("--config-file")
        .arg(&config)
        .arg("run")
        .arg(app.url("/openapi.json"))
        .args(["--checks", "all"])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--max-examples", &examples])
        .args(["--seed", &seed])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args(["--no-color", "--workers", "2"])
        .args(filter)
        .output()
        .expect("st runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

async fn the_openapi_document_tells_the_truth_about_every_operation(app: TestApp) {
    let Some(st) = helpers::project_tool("schemathesis.sh") else {
        return;
    };
    // Not the schema's example name ("Acme Corp"), which the examples phase deletes.
    let body = json!({"organization_name": "Fuzz Target", "email": "fuzz@orgsvc.test", "password": PASSWORD});
    let (status, created) = app
        .send(app.client.post(app.url("/org/create")).json(&body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (status, token) = app.login("fuzz@orgsvc.test", PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{token}");
    let token = token["access_token"].as_str().unwrap().to_owned();
    let app = std::sync::Arc::new(app);
    let st = std::sync::Arc::new(st);
    // Logging out revokes the fuzzer's token, so it runs last, on its own.
    for filter in [
        vec!["--exclude-path", "/admin/logout"],
        vec!["--include-path", "/admin/logout"],
    ] {
        let attempt = || {
            let (app, st, token, filter) = (app.clone(), st.clone(), token.clone(), filter.clone());
            tokio::task::spawn_blocking(move || run(&st, &app, &token, &filter))
        };
        let (mut passed, mut report) = attempt().await.unwrap();
        // schemathesis 4.32 now and then stops a phase on an error of its own (a KeyError in
        // its coverage code, seen once in ~15 runs) with no finding about the API: that, and
        // only that, earns one more run.
        if !passed && only_tool_errors(&report) {
            println!("schemathesis hit an internal error; running once more:\n{report}");
            (passed, report) = attempt().await.unwrap();
        }
        let summary = report
            .lines()
            .filter(|line| {
                line.contains("generated") || line.contains("passed") || line.contains("failures")
            })
            .collect::<Vec<_>>()
            .join(" | ");
        println!("schemathesis: {summary}");
        assert!(passed, "schemathesis found failures:\n{report}");
    }
}

/// Whether a failed run's closing line counts errors of the tool's own and no failure.
fn only_tool_errors(report: &str) -> bool {
    report
        .lines()
        .rev()
        .find(|line| line.starts_with("====") && line.contains(" in "))
        .is_some_and(|summary| summary.contains("error") && !summary.contains("failure"))
}

/// Cheap hashes: this is about the HTTP contract, and the fuzzer creates many organizations.
async fn fuzz_app(backend: Backend, test: &str) -> Option<TestApp> {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = helpers::settings(dir.path(), backend, test)?;
    settings.auth.argon2.memory_kib = 1024;
    settings.auth.argon2.iterations = 1;
    settings.http.workers = 2;
    Some(TestApp::spawn_with(settings, dir).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_schemathesis_finds_nothing() {
    let app = fuzz_app(Backend::Embedded, "fuzz").await.unwrap();
    the_openapi_document_tells_the_truth_about_every_operation(app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mongodb_schemathesis_finds_nothing() {
    if let Some(app) = fuzz_app(crate::helpers::MONGODB, "fuzz").await {
        the_openapi_document_tells_the_truth_about_every_operation(app).await;
    }
}
