//! The database cut off in the middle of a rename (through a proxy the test controls), just
//! before or just after its start is recorded, for less or more than a request waits: the
//! client's answer matches the outcome (200 renamed, 202 renamed soon, 503 unchanged), readers
//! never see a mixture of old and new, and the process that runs the rename finishes or undoes
//! it as soon as the database answers again, not when its lease runs out.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mongodb::bson::{doc, Document};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::process::{Deployment, Service};
use crate::proxy::{host_of, Link, Proxy};

/// Longer than the whole test: a rename that waited for its lease would fail it.
const LEASE_SECONDS: u64 = 60;

/// Where in the rename the database goes away.
#[derive(Clone, Copy, Debug)]
enum Cut {
    /// The rename is on its way, its intent not yet recorded (its start is one conditional
    /// update of the record, so there is no step in between to catch).
    BeforeRecorded,
    /// The intent is recorded, the rename not finished.
    AfterRecorded,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rename_cut_off_before_its_start_is_recorded_answers_503_and_changes_nothing() {
    let status = rename_cut_off(
        "rename cut before",
        Cut::BeforeRecorded,
        Duration::from_secs(3),
    )
    .await;
    assert!(
        matches!(status, None | Some(StatusCode::SERVICE_UNAVAILABLE)),
        "{status:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rename_cut_off_briefly_after_its_start_finishes_when_the_database_is_back() {
    // Shorter than the request waits (twice the operation timeout): usually 200, 202 if slow.
    let status = rename_cut_off(
        "rename cut briefly",
        Cut::AfterRecorded,
        Duration::from_secs(2),
    )
    .await;
    assert!(
        matches!(status, None | Some(StatusCode::OK | StatusCode::ACCEPTED)),
        "{status:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rename_cut_off_for_longer_than_a_request_waits_answers_202_and_finishes() {
    let status = rename_cut_off(
        "rename cut long",
        Cut::AfterRecorded,
        Duration::from_secs(6),
    )
    .await;
    assert!(
        matches!(status, None | Some(StatusCode::ACCEPTED)),
        "{status:?}"
    );
}

async fn send(service: &Service, request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    match request.send().await {
        Ok(response) => {
            let status = response.status();
            (status, response.json().await.unwrap_or(Value::Null))
        }
        Err(e) => panic!("{} did not answer: {e}", service.address),
    }
}

/// Whether a `GET /org/get` answer is one consistent organization: the name asked for, and
/// the slug and collection that belong to that name.
fn coherent(asked: &str, answer: &Value) -> bool {
    let slug = asked.to_lowercase().replace(' ', "_");
    answer["organization_name"] == asked
        && answer["slug"] == slug.as_str()
        && answer["collection_name"] == format!("org_{slug}").as_str()
}

/// Renames until one is cut off at `cut`, restores the database after `outage`, checks that
/// the answer matches the outcome; returns the answer's status (`None`: skipped).
async fn rename_cut_off(test: &str, cut: Cut, outage: Duration) -> Option<StatusCode> {
    let uri = orgsvc_testkit::mongodb_or_skip(test)?;
    let proxy = Proxy::start(host_of(uri)).await;
    let mut deployment = Deployment::new(uri).await;
    deployment.uri = proxy.uri_for(uri);
    deployment.extra_env.extend([
        (
            "ORGSVC__STORAGE__MONGODB__INTENT_LEASE_SECONDS".into(),
            LEASE_SECONDS.to_string(),
        ),
        (
            "ORGSVC__STORAGE__MONGODB__SERVER_SELECTION_TIMEOUT_MS".into(),
            "500".into(),
        ),
        // The cache off: every read goes to the database, to see what it holds.
        ("ORGSVC__CACHE__TTL_MS".into(), "0".into()),
    ]);
    let service = deployment.start().await;
    let (status, created) = service.create_org("Acme", "a@acme.io").await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let token = service.token("a@acme.io").await;
    let mut kept = Vec::new();
    for n in 0..5 {
        let request = service
            .client
            .post(service.url("/org/documents"))
            .bearer_auth(&token)
            .json(&json!({"n": n}));
        let (status, document) = send(&service, request).await;
        assert_eq!(status, StatusCode::CREATED);
        kept.push(document["id"].as_str().unwrap().to_owned());
    }

    // Readers by every name the organization has had or will have, all along.
    let names: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(vec!["Acme".into()]));
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (names, stop) = (names.clone(), stop.clone());
        let (client, url) = (service.client.clone(), service.url("/org/get"));
        tokio::spawn(async move {
            let mut seen = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let asked = names.lock().unwrap().clone();
                for name in asked {
                    let response = client
                        .get(&url)
                        .query(&[("organization_name", &name)])
                        .send()
                        .await
                        .unwrap();
                    let status = response.status();
                    let body: Value = response.json().await.unwrap();
                    assert!(
                        status != StatusCode::OK || coherent(&name, &body),
                        "a mixture of old and new by {name:?}: {body}"
                    );
                    seen.push(status);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            seen
        })
    };

    // Rename until one is caught with its operation recorded but not finished.
    let organizations = deployment
        .master_db()
        .collection::<Document>("organizations");
    let mut from = "Acme".to_owned();
    let mut caught = None;
    let mut cut_at = Instant::now();
    for attempt in 1..=100 {
        let to = format!("Acme {attempt}");
        names.lock().unwrap().push(to.clone());
        let rename = service
            .client
            .put(service.url("/org/update"))
            .bearer_auth(&token)
            .json(&json!({"organization_name": to}))
            .send();
        let next_epoch = organizations
            .find_one(doc! {"_id": &id})
            .await
            .unwrap()
            .unwrap()
            .get_i64("epoch")
            .unwrap()
            + 1;
        let rename = tokio::spawn(async move { (rename.await, Instant::now()) });
        // The record once the rename has recorded its start (raised the epoch), else `None`.
        let recorded = || async {
            let record = organizations.find_one(doc! {"_id": &id}).await.unwrap();
            record.filter(|r| r.get_i64("epoch").unwrap() >= next_epoch)
        };
        let held = loop {
            let ready = match cut {
                Cut::BeforeRecorded => recorded().await.is_none(),
                Cut::AfterRecorded => recorded().await.is_some_and(|r| r.contains_key("intent")),
            };
            if ready {
                // Frozen, the service can take no further step while we look again.
                proxy.set(Link::Frozen);
                // A write already past the proxy lands meanwhile, and shows.
                tokio::time::sleep(Duration::from_millis(100)).await;
                let record = recorded().await;
                let still = match cut {
                    Cut::BeforeRecorded => record.is_none(),
                    Cut::AfterRecorded => record.as_ref().is_some_and(|r| r.contains_key("intent")),
                };
                if still {
                    proxy.set(Link::Cut);
                    cut_at = Instant::now();
                    break Some(record);
                }
                proxy.set(Link::Open);
            }
            if rename.is_finished() {
                break None;
            }
        };
        if let Some(held) = held {
            caught = Some((rename, to, held));
            break;
        }
        let answer = rename.await.unwrap().0.unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
        from = to;
    }
    let (rename, to, held) = caught.expect("no rename was caught in the middle");
    let phase = held.map_or("not recorded".to_owned(), |held| {
        let intent = held.get_document("intent").unwrap();
        intent.get_str("phase").unwrap().to_owned()
    });

    tokio::time::sleep(outage).await;
    proxy.set(Link::Open);
    let back = Instant::now();
    let (answer, answered_at) = rename.await.unwrap();
    let answer = answer.expect("the service answers");
    let answer_status = answer.status();
    let retry_after = answer.headers().get("retry-after").cloned();
    let body: Value = answer.json().await.unwrap();
    let answered = answered_at - cut_at;

    // Finished (or undone) by the live process as soon as the database answers.
    let deadline = back + Duration::from_secs(LEASE_SECONDS / 4);
    while recorded(&organizations, &id).await {
        assert!(
            Instant::now() < deadline,
            "the rename waits for its lease after the database came back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let settled = back.elapsed();
    stop.store(true, Ordering::SeqCst);
    let seen = reader.await.unwrap();

    // The answer matches the outcome.
    let record = organizations
        .find_one(doc! {"_id": &id})
        .await
        .unwrap()
        .unwrap();
    let outcome = record.get_str("name").unwrap().to_owned();
    match answer_status {
        StatusCode::OK => {
            assert_eq!(outcome, to, "answered 200: {body}");
            assert!(coherent(&to, &body), "{body}");
        }
        StatusCode::ACCEPTED => {
            assert_eq!(body["code"], "operation_pending", "{body}");
            assert!(retry_after.is_some(), "202 without Retry-After");
            assert_eq!(outcome, to, "answered 202, so it must finish");
        }
        StatusCode::SERVICE_UNAVAILABLE => {
            assert_eq!(outcome, from, "answered 503, so nothing may change")
        }
        other => panic!("the rename answered {other}: {body}"),
    }
    let current = outcome.clone();
    let gone = if current == to { &from } else { &to };
    let (status, by_current) = send(
        &service,
        service
            .client
            .get(service.url("/org/get"))
            .query(&[("organization_name", &current)]),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(coherent(&current, &by_current), "{by_current}");
    let (status, _) = send(
        &service,
        service
            .client
            .get(service.url("/org/get"))
            .query(&[("organization_name", gone)]),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{gone} still answers");

    // Writes and another rename work at once, and every document is where the record says.
    let request = service
        .client
        .post(service.url("/org/documents"))
        .bearer_auth(&token)
        .json(&json!({"after": "outage"}));
    let (status, written) = send(&service, request).await;
    assert_eq!(status, StatusCode::CREATED, "{written}");
    kept.push(written["id"].as_str().unwrap().to_owned());
    let request = service
        .client
        .put(service.url("/org/update"))
        .bearer_auth(&token)
        .json(&json!({"organization_name": "Acme Final"}));
    let (status, renamed) = send(&service, request).await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    let stored: Vec<Document> = crate::process::find_all(
        &deployment.tenant_db().collection("org_acme_final"),
        doc! {},
    )
    .await;
    let mut stored: Vec<String> = stored
        .iter()
        .map(|d| d.get_str("_id").unwrap().to_owned())
        .collect();
    stored.sort();
    kept.sort();
    assert_eq!(stored, kept);
    deployment.assert_consistent().await;
    println!(
        "rename outage: cut {cut:?} (phase {phase}) for {outage:?}; answered {answer_status} {answered:?} after the cut; \
         settled {settled:?} after the database came back (lease {LEASE_SECONDS} s); \
         {} reads during it, none a mixture",
        seen.len()
    );
    Some(answer_status)
}

/// Whether an operation on the organization is recorded and not finished.
async fn recorded(organizations: &mongodb::Collection<Document>, id: &str) -> bool {
    let record = organizations
        .find_one(doc! {"_id": id})
        .await
        .unwrap()
        .unwrap();
    record.contains_key("intent")
}
