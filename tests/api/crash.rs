//! SIGKILL the service in the middle of multi-step operations on MongoDB, restart it, and check
//! that recovery leaves no lost, duplicated or orphaned data. Each test kills only once the
//! database shows the operation half done, and checks that a half-done state really remained,
//! so none can pass without exercising recovery.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use futures_util::TryStreamExt as _;
use mongodb::bson::{doc, Document};
use orgsvc_domain::DocumentId;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::PASSWORD;
use crate::process::{find_all, Deployment, Service, LEASE_SECONDS};

async fn ids_in(deployment: &Deployment, collection: &str) -> BTreeSet<String> {
    let documents: Vec<Document> = deployment
        .tenant_db()
        .collection::<Document>(collection)
        .find(doc! {})
        .projection(doc! {"_id": 1})
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    documents
        .iter()
        .map(|d| d.get_str("_id").unwrap().to_owned())
        .collect()
}

/// Waits out the lease of the killed process's intents, so the restart's recovery takes them.
async fn wait_for_leases() {
    tokio::time::sleep(Duration::from_millis(LEASE_SECONDS * 1000 + 500)).await;
}

/// Restarts after the leases expired (startup recovery runs) and checks the invariants.
async fn restart_and_check(deployment: &Deployment) -> Service {
    wait_for_leases().await;
    let service = deployment.start().await;
    deployment.assert_consistent().await;
    service
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_mode_rename_killed_midway_finishes_after_restart_with_every_document() {
    let Some(uri) = orgsvc_testkit::mongodb_or_skip("crash rename") else {
        return;
    };
    let mut deployment = Deployment::new(uri).await;
    deployment.extra_env = vec![
        ("ORGSVC__STORAGE__MONGODB__RENAME".into(), "copy".into()),
        (
            "ORGSVC__STORAGE__MONGODB__COPY_BATCH_SIZE".into(),
            "500".into(),
        ),
        // No sweep: this test checks recovery by the first request that touches the org.
        (
            "ORGSVC__STORAGE__MONGODB__RECOVERY_INTERVAL_SECONDS".into(),
            "0".into(),
        ),
    ];
    let service = deployment.start().await;
    assert_eq!(
        service.create_org("Big Co", "big@co.io").await.0,
        StatusCode::CREATED
    );
    let token = service.token("big@co.io").await;

    // 20,000 documents, written straight into the tenant collection.
    let source = deployment.tenant_db().collection::<Document>("org_big_co");
    let mut seeded = BTreeSet::new();
    for chunk in 0..4 {
        let batch: Vec<Document> = (0..5_000)
            .map(|i| {
                let id = DocumentId::generate().to_string();
                seeded.insert(id.clone());
                doc! {"_id": id, "n": chunk * 5_000 + i, "payload": "x".repeat(64)}
            })
            .collect();
        source.insert_many(batch).await.unwrap();
    }

    let rename = {
        let client = service.client.clone();
        let url = service.url("/org/update");
        let token = token.clone();
        tokio::spawn(async move {
            client
                .put(url)
                .bearer_auth(token)
                .json(&json!({"organization_name": "Bigger Co"}))
                .send()
                .await
        })
    };
    let target = deployment
        .tenant_db()
        .collection::<Document>("org_bigger_co");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let copied = target.count_documents(doc! {}).await.unwrap();
        if copied > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the copy never started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    service.kill();
    assert!(
        rename.await.unwrap().is_err(),
        "the request must have died with the service"
    );
    let copied_at_kill = target.count_documents(doc! {}).await.unwrap();
    assert!(
        copied_at_kill > 0 && copied_at_kill < 20_000,
        "killed mid-copy ({copied_at_kill} of 20000 copied)"
    );
    assert_eq!(deployment.pending_intents().await, 1);

    // Restart at once: the dead process's lease still holds, so startup leaves the rename
    // alone. A write waits (up to two seconds) rather than going to a collection that is moving:
    // it is refused, or, if the lease ran out meanwhile, lands once the rename is recovered.
    let service = deployment.start().await;
    let during = service
        .client
        .post(service.url("/org/documents"))
        .bearer_auth(&token)
        .json(&json!({"during": "recovery"}))
        .send()
        .await
        .unwrap();
    match during.status() {
        StatusCode::SERVICE_UNAVAILABLE => assert_eq!(deployment.pending_intents().await, 1),
        StatusCode::CREATED => {
            let body: serde_json::Value = during.json().await.unwrap();
            seeded.insert(body["id"].as_str().unwrap().to_owned());
        }
        other => panic!("a write during the recovery answered {other}"),
    }
    // Once the lease has expired, the first request touching the organization finishes it.
    wait_for_leases().await;
    let first = service
        .client
        .get(service.url("/org/documents?limit=1"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    deployment.assert_consistent().await;
    let stored = ids_in(&deployment, "org_bigger_co").await;
    assert!(
        stored == seeded,
        "stored but not acknowledged: {:?}; acknowledged but not stored: {:?}",
        stored.difference(&seeded).collect::<Vec<_>>(),
        seeded.difference(&stored).collect::<Vec<_>>()
    );
    assert!(!deployment
        .tenant_db()
        .list_collection_names()
        .await
        .unwrap()
        .contains(&"org_big_co".to_owned()));

    let found = service
        .json(
            service
                .client
                .get(service.url("/org/get?organization_name=Bigger%20Co")),
        )
        .await;
    assert_eq!(found["collection_name"], "org_bigger_co");
    assert_eq!(found["organization_name"], "Bigger Co");
    let page = service
        .json(
            service
                .client
                .get(service.url("/org/documents?limit=5"))
                .bearer_auth(&token),
        )
        .await;
    assert_eq!(page["documents"].as_array().unwrap().len(), 5);
}

/// Fires `requests`, kills the service as soon as the database shows an intent, and returns
/// whether one survived the kill. Retries a few times: the windows are milliseconds wide.
async fn kill_during<F, Fut>(deployment: &Deployment, mut requests: F) -> bool
where
    F: FnMut(&Service) -> Fut,
    Fut: std::future::Future<Output = Vec<tokio::task::JoinHandle<()>>>,
{
    let service = deployment.start().await;
    let in_flight = requests(&service).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while deployment.pending_intents().await == 0 && Instant::now() < deadline {}
    service.kill();
    for request in in_flight {
        let _ = request.await;
    }
    deployment.pending_intents().await > 0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_killed_midway_are_undone_completely_after_restart() {
    let Some(uri) = orgsvc_testkit::mongodb_or_skip("crash create") else {
        return;
    };
    let deployment = Deployment::new(uri).await;
    let mut interrupted = false;
    for round in 0..5 {
        interrupted = kill_during(&deployment, |service| {
            let spawned = (0..24)
                .map(|i| {
                    let client = service.client.clone();
                    let url = service.url("/org/create");
                    tokio::spawn(async move {
                        let body = json!({"organization_name": format!("Org {round} {i}"),
                            "email": format!("a{i}@r{round}.io"), "password": PASSWORD});
                        let _ = client.post(url).json(&body).send().await;
                    })
                })
                .collect();
            async move { spawned }
        })
        .await;
        if interrupted {
            break;
        }
    }
    assert!(interrupted, "no create was ever caught half done");
    let service = restart_and_check(&deployment).await;
    // Whatever exists works end to end.
    let organizations =
        find_all(&deployment.master_db().collection("organizations"), doc! {}).await;
    for organization in organizations {
        let name = organization.get_str("name").unwrap();
        let response = service
            .client
            .get(service.url("/org/get"))
            .query(&[("organization_name", name)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{name}");
    }
}

/// A client whose create was cut off by a crash sends it again at once, while the dead
/// process's intent still holds the name: the answer waits for what becomes of that create,
/// which recovery undoes, so the retry gets the name (201), never a 409 for a name that no
/// organization will hold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_retried_after_a_kill_midway_gets_its_name() {
    let Some(uri) = orgsvc_testkit::mongodb_or_skip("crash create retry") else {
        return;
    };
    let deployment = Deployment::new(uri).await;
    let body = |round: usize, i: usize| {
        json!({"organization_name": format!("Retried {round} {i}"),
            "email": format!("a{i}@retried{round}.io"), "password": PASSWORD})
    };
    let mut interrupted = Vec::new();
    for round in 0..5 {
        kill_during(&deployment, |service| {
            let spawned = (0..24)
                .map(|i| {
                    let request = service.client.post(service.url("/org/create"));
                    tokio::spawn(async move {
                        let _ = request.json(&body(round, i)).send().await;
                    })
                })
                .collect();
            async move { spawned }
        })
        .await;
        let organizations = deployment.master_db().collection("organizations");
        interrupted = find_all(&organizations, doc! {"intent.op": "create"})
            .await
            .iter()
            .map(|o| o.get_str("name").unwrap().to_owned())
            .collect();
        if !interrupted.is_empty() {
            break;
        }
    }
    assert!(
        !interrupted.is_empty(),
        "no create was ever caught half done"
    );
    // At once: the killed process's leases have not run out yet.
    let service = deployment.start().await;
    for name in &interrupted {
        let mut numbers = name.split(' ').skip(1).map(|n| n.parse().unwrap());
        let (round, i) = (numbers.next().unwrap(), numbers.next().unwrap());
        let response = service
            .client
            .post(service.url("/org/create"))
            .json(&body(round, i))
            .send()
            .await
            .unwrap();
        let status = response.status();
        assert_eq!(
            status,
            StatusCode::CREATED,
            "{name}: {}",
            response.text().await.unwrap()
        );
    }
    deployment.assert_consistent().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletes_killed_midway_are_completed_by_the_recovery_sweep() {
    let Some(uri) = orgsvc_testkit::mongodb_or_skip("crash delete") else {
        return;
    };
    let mut deployment = Deployment::new(uri).await;
    // Leases long enough to outlast the restart, so startup recovery leaves them to the sweep.
    deployment.extra_env = vec![
        (
            "ORGSVC__STORAGE__MONGODB__INTENT_LEASE_SECONDS".into(),
            "8".into(),
        ),
        (
            "ORGSVC__STORAGE__MONGODB__RECOVERY_INTERVAL_SECONDS".into(),
            "1".into(),
        ),
        (
            "ORGSVC__STORAGE__MONGODB__STRAY_SWEEP_SECONDS".into(),
            "1".into(),
        ),
    ];
    let (mut interrupted, mut rounds) = (false, 0);
    for round in 0..5 {
        rounds += 1;
        // Organizations with data, then their deletes all at once.
        let service = deployment.start().await;
        let mut tokens = Vec::new();
        for i in 0..12 {
            let email = format!("d{i}@r{round}.io");
            assert_eq!(
                service
                    .create_org(&format!("Doomed {round} {i}"), &email)
                    .await
                    .0,
                StatusCode::CREATED
            );
            let token = service.token(&email).await;
            for n in 0..20 {
                service
                    .client
                    .post(service.url("/org/documents"))
                    .bearer_auth(&token)
                    .json(&json!({"n": n}))
                    .send()
                    .await
                    .unwrap();
            }
            tokens.push((format!("Doomed {round} {i}"), token));
        }
        drop(service);
        interrupted = kill_during(&deployment, |service| {
            let spawned = tokens
                .iter()
                .map(|(name, token)| {
                    let request = service
                        .client
                        .delete(service.url("/org/delete"))
                        .query(&[("organization_name", name)])
                        .bearer_auth(token);
                    tokio::spawn(async move {
                        let _ = request.send().await;
                    })
                })
                .collect();
            async move { spawned }
        })
        .await;
        if interrupted {
            break;
        }
    }
    assert!(interrupted, "no delete was ever caught half done");
    // Restart at once and send no request: startup must leave the live leases alone, and the
    // sweep alone must finish the deletes once they expire.
    let _service = deployment.start().await;
    assert!(
        deployment.pending_intents().await > 0,
        "startup recovered them before their leases expired"
    );
    let deadline = Instant::now() + Duration::from_secs(40);
    while deployment.pending_intents().await > 0 {
        assert!(
            Instant::now() < deadline,
            "the sweep never finished the deletes"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    deployment.assert_consistent().await;
    // Every delete that began, finished by the sweep or not, kept the record its receipt is
    // made of, with the documents it removed: each organization is there, or its record is.
    let master = deployment.master_db();
    let kept = find_all(&master.collection("deletions"), doc! {}).await;
    let remaining = find_all(&master.collection("organizations"), doc! {}).await;
    let mut finished = 0;
    for round in 0..rounds {
        for i in 0..12 {
            let name = format!("Doomed {round} {i}");
            let records: Vec<_> = kept
                .iter()
                .filter(|d| {
                    d.get_document("record")
                        .unwrap()
                        .get_str("organization_name")
                        == Ok(&name)
                })
                .collect();
            let present = remaining.iter().any(|o| o.get_str("name") == Ok(&name));
            assert_eq!(
                records.len(),
                usize::from(!present),
                "{name}: {records:?} of {} kept",
                kept.len()
            );
            if let Some(record) = records.first() {
                let record = record.get_document("record").unwrap();
                assert_eq!(record.get_i64("documents").unwrap(), 20, "{record:?}");
                assert_eq!(record.get_i64("members").unwrap(), 1, "{record:?}");
                finished += 1;
            }
        }
    }
    assert!(finished > 0);
}

/// What a process killed right after its `renameCollection` leaves behind: the intent, with a
/// lease still running, and the data already under the new name. Readers must wait (503), not
/// answer "not found" from the old, now empty, location; once the lease is over the rename is
/// finished and everything is there under the new name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_during_an_interrupted_in_place_rename_wait_instead_of_answering_not_found() {
    let Some(uri) = orgsvc_testkit::mongodb_or_skip("interrupted_rename_reads") else {
        return;
    };
    let deployment = Deployment::new(uri).await;
    let service = deployment.start().await;
    assert_eq!(
        service.create_org("Acme", "admin@acme.io").await.0,
        StatusCode::CREATED
    );
    let token = service.token("admin@acme.io").await;
    let document = service
        .json(
            service
                .client
                .post(service.url("/org/documents"))
                .bearer_auth(&token)
                .json(&json!({"kept": true})),
        )
        .await;
    let id = document["id"].as_str().unwrap().to_owned();

    let organizations = deployment
        .master_db()
        .collection::<Document>("organizations");
    let organization = organizations
        .find_one(doc! {"slug": "acme"})
        .await
        .unwrap()
        .unwrap();
    let from = organization.get_document("connection").unwrap().clone();
    let mut to = from.clone();
    to.insert("collection", "org_acme_two");
    let lease = mongodb::bson::DateTime::from_millis(
        mongodb::bson::DateTime::now().timestamp_millis() + 60_000,
    );
    organizations
        .update_one(
            doc! {"_id": organization.get_str("_id").unwrap()},
            doc! {"$set": {"slug": "acme_two", "intent": {
                "op": "rename", "phase": "started", "owner": "a process that died",
                "lease_until": lease, "from": &from, "to": &to, "new_name": "Acme Two",
            }}},
        )
        .await
        .unwrap();
    mongodb::Client::with_uri_str(uri)
        .await
        .unwrap()
        .database("admin")
        .run_command(doc! {
            "renameCollection": format!("{}.org_acme", deployment.tenants),
            "to": format!("{}.org_acme_two", deployment.tenants),
        })
        .await
        .unwrap();

    let read = |path: String| {
        service
            .client
            .get(service.url(&path))
            .bearer_auth(&token)
            .send()
    };
    for path in [format!("/org/documents/{id}"), "/org/documents".to_owned()] {
        let response = read(path.clone()).await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert!(response.headers().contains_key("retry-after"));
    }

    // The owner is gone for good: its lease runs out, and the next request finishes the rename.
    organizations
        .update_one(
            doc! {"_id": organization.get_str("_id").unwrap()},
            doc! {"$set": {"intent.lease_until": mongodb::bson::DateTime::from_millis(0)}},
        )
        .await
        .unwrap();
    let response = read(format!("/org/documents/{id}")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let found = service
        .json(
            service
                .client
                .get(service.url("/org/get"))
                .query(&[("organization_name", "acme two")]),
        )
        .await;
    assert_eq!(found["collection_name"], "org_acme_two");
    deployment.assert_consistent().await;
}
