//! Exports asked for over the API: queued, written by a worker into the store, followed and
//! downloaded, on both backends; and finished by another instance when the one writing it
//! dies.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use super::{check_bundle, documents, insert};
use crate::process::{Deployment, Service};

/// Settings that let a test wait seconds, not minutes, for a dead worker's claim.
fn quick_exports(deployment: &mut Deployment) {
    for (key, value) in [
        ("ORGSVC__EXPORTS__LEASE_SECONDS", "10"),
        ("ORGSVC__EXPORTS__POLL_MS", "50"),
    ] {
        deployment
            .extra_env
            .push((key.to_owned(), value.to_owned()));
    }
}

/// Inserts `count` documents of about `size` bytes, eight at a time; answers them by id.
async fn fill(
    service: &Arc<Service>,
    token: &str,
    count: usize,
    size: usize,
) -> BTreeMap<String, Value> {
    let filler = "x".repeat(size);
    let tasks: Vec<_> = (0..8)
        .map(|w| {
            let (service, token, filler) = (Arc::clone(service), token.to_owned(), filler.clone());
            tokio::spawn(async move {
                let mut stored = BTreeMap::new();
                for n in (w..count).step_by(8) {
                    let body = json!({"n": n, "filler": filler, "nested": [[n]]});
                    stored.insert(insert(&service, &token, &body).await, body);
                }
                stored
            })
        })
        .collect();
    let mut stored = BTreeMap::new();
    for task in tasks {
        stored.extend(task.await.unwrap());
    }
    stored
}

async fn export_state(service: &Service, token: &str, id: &str) -> Value {
    let response = service
        .client
        .get(service.url(&format!("/org/exports/{id}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// Polls the export until `done` says so, for two minutes at most.
async fn until(service: &Service, token: &str, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let state = export_state(service, token, id).await;
        if done(&state) {
            return state;
        }
        assert!(Instant::now() < deadline, "still {state} after two minutes");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Downloads the bundle of the done export `state`, checking its length and digest.
async fn download(service: &Service, token: &str, state: &Value) -> Vec<Value> {
    let response = service
        .client
        .get(service.url(state["bundle_url"].as_str().unwrap()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/octet-stream"
    );
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let bytes = response.bytes().await.unwrap();
    assert_eq!(bytes.len() as u64, state["bytes"].as_u64().unwrap());
    let digest: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(state["sha256"], digest.as_str());
    assert_eq!(etag, format!("\"{digest}\""));
    check_bundle(&bytes)
}

async fn an_export_is_asked_for_followed_and_downloaded(deployment: &Deployment) {
    let service = Arc::new(deployment.start().await);
    assert_eq!(service.create_org("Jobs Co", "owner@jobs.io").await.0, 201);
    let token = service.token("owner@jobs.io").await;
    // About 2.5 MB: a bundle of three chunks.
    let stored = fill(&service, &token, 600, 4_000).await;

    let asked = service
        .client
        .post(service.url("/org/exports"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(asked.status(), 202);
    let location = asked.headers()["location"].to_str().unwrap().to_owned();
    let job: Value = asked.json().await.unwrap();
    let id = job["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/org/exports/{id}"));
    assert!(
        job["state"] == "queued" || job["state"] == "running",
        "{job}"
    );

    // One at a time per organization; not downloadable before it is done.
    let again = service
        .client
        .post(service.url("/org/exports"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    if again.status() == 409 {
        let problem: Value = again.json().await.unwrap();
        assert_eq!(problem["code"], "export_in_progress");
        assert!(
            problem["detail"].as_str().unwrap().contains(&id),
            "{problem}"
        );
    } else {
        // The first one finished already: this one is queued behind nothing.
        assert_eq!(again.status(), 202);
        let second: Value = again.json().await.unwrap();
        until(&service, &token, second["id"].as_str().unwrap(), |s| {
            s["state"] == "done"
        })
        .await;
    }

    let done = until(&service, &token, &id, |s| {
        s["state"] != "queued" && s["state"] != "running"
    })
    .await;
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(done["documents"], 600);
    assert_eq!(done["documents_total"], 600);
    assert_eq!(done["attempt"], 1);
    assert!(done["expires_at"].is_string());
    let bundle = download(&service, &token, &done).await;
    assert_eq!(bundle[0]["export_id"], id.as_str());
    assert_eq!(documents(&bundle), stored);
    let members: Vec<&Value> = bundle.iter().filter(|l| l["type"] == "member").collect();
    assert_eq!(members.len(), 1);

    // Audited, and the deletion's receipt names the bundle.
    let audit = service
        .json(
            service
                .client
                .get(service.url("/org/audit"))
                .bearer_auth(&token),
        )
        .await;
    let actions: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in ["export_requested", "export_completed", "export_downloaded"] {
        assert!(actions.contains(&action), "{action} not in {actions:?}");
    }
    let unknown = service
        .client
        .get(service.url("/org/exports/01939a4c-7f00-7000-8000-000000000000"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let problem: Value = unknown.json().await.unwrap();
    assert_eq!(problem["code"], "export_not_found");
    let last = service
        .json(
            service
                .client
                .get(service.url(&location))
                .bearer_auth(&token),
        )
        .await;
    let deleted = service
        .json(
            service
                .client
                .delete(service.url("/org/delete?organization_name=Jobs%20Co"))
                .bearer_auth(&token),
        )
        .await;
    let receipt_names = &deleted["receipt"]["claims"]["last_export_sha256"];
    assert!(
        *receipt_names == done["sha256"] || *receipt_names == last["sha256"],
        "{deleted}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_over_the_api_on_the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    let mut deployment = Deployment::embedded(dir.path().join("orgsvc.redb")).await;
    quick_exports(&mut deployment);
    an_export_is_asked_for_followed_and_downloaded(&deployment).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_over_the_api_on_mongodb() {
    let Some(uri) = orgsvc_testkit::mongodb_or_skip("export_jobs") else {
        return;
    };
    let mut deployment = Deployment::new(uri).await;
    quick_exports(&mut deployment);
    an_export_is_asked_for_followed_and_downloaded(&deployment).await;
}

/// The instance writing an export is killed mid-bundle; another one (here: the restarted
/// service) claims it once the claim runs out and writes it again, whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_whose_instance_dies_midway_is_finished_by_another() {
    let Some(uri) = orgsvc_testkit::mongodb_or_skip("export_jobs_crash") else {
        return;
    };
    let mut deployment = Deployment::new(uri).await;
    quick_exports(&mut deployment);
    let first = Arc::new(deployment.start().await);
    assert_eq!(first.create_org("Crash Co", "owner@crash.io").await.0, 201);
    let token = first.token("owner@crash.io").await;
    // About 100 MB: long enough to be caught writing.
    let stored = fill(&first, &token, 3_200, 30_000).await;
    let job = first
        .json(
            first
                .client
                .post(first.url("/org/exports"))
                .bearer_auth(&token),
        )
        .await;
    let id = job["id"].as_str().unwrap().to_owned();
    let midway = until(&first, &token, &id, |s| {
        s["bytes"].as_u64().unwrap() > 0 || s["state"] == "done"
    })
    .await;
    assert_eq!(
        midway["state"], "running",
        "caught only once done: {midway}"
    );
    assert_eq!(midway["documents_total"], 3_200, "{midway}");
    Arc::into_inner(first).unwrap().kill();

    let second = deployment.start().await;
    let done = until(&second, &token, &id, |s| {
        s["state"] == "done" || s["state"] == "failed"
    })
    .await;
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(done["attempt"], 2, "{done}");
    let bundle = download(&second, &token, &done).await;
    assert_eq!(documents(&bundle), stored);
    // Nothing of the killed attempt is kept.
    let chunks = deployment
        .master_db()
        .collection::<::mongodb::bson::Document>("export_chunks");
    let left = chunks
        .count_documents(::mongodb::bson::doc! {"export": &id, "attempt": {"$ne": 2}})
        .await
        .unwrap();
    assert_eq!(left, 0);
}

/// An export job worked inside the test's process (as every in-process service runs one),
/// on every backend and tenancy model: on a runtime thread's 2 MiB stack, which a debug
/// build's export once overflowed.
async fn an_export_job_runs_beside_the_requests(app: crate::helpers::TestApp) {
    let (_, token) = app.org_with_token("Inproc Co", "owner@inproc.io").await;
    for n in 0..300 {
        let (status, _) = app
            .insert_doc(&token, &json!({"n": n, "nested": [[n]]}))
            .await;
        assert_eq!(status, 201);
    }
    // As deep as a document may be, as fuzzing sends them: objects and arrays in turn.
    let mut deep = json!("bottom");
    for level in 0..48 {
        deep = if level % 2 == 0 {
            json!([deep])
        } else {
            json!({"d": deep})
        };
    }
    let (status, inserted) = app.insert_doc(&token, &json!({"deep": deep})).await;
    assert_eq!(status, 201, "{inserted}");
    let (status, job) = app
        .send(app.client.post(app.url("/org/exports")).bearer_auth(&token))
        .await;
    assert_eq!(status, 202, "{job}");
    let url = app.url(&format!("/org/exports/{}", job["id"].as_str().unwrap()));
    let deadline = Instant::now() + Duration::from_secs(120);
    let done = loop {
        let (status, state) = app.send(app.client.get(&url).bearer_auth(&token)).await;
        assert_eq!(status, 200);
        if state["state"] == "done" || state["state"] == "failed" {
            break state;
        }
        assert!(Instant::now() < deadline, "still {state}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(done["state"], "done", "{done}");
    let bundle = app
        .client
        .get(app.url(done["bundle_url"].as_str().unwrap()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let lines = check_bundle(&bundle);
    assert_eq!(documents(&lines).len(), 301);
}

on_both_backends!(an_export_job_runs_beside_the_requests);
