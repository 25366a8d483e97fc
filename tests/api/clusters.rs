//! MongoDB outages and multiple clusters, each on DocumentDB servers of the test's own (so they
//! can be stopped, and so there are two).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use mongodb::bson::{doc, Document};
use orgsvc_app::settings::Backend as StorageBackend;
use orgsvc_domain::DocumentId;
use orgsvc_storage::mongo::{ClusterSettings, PlacementPolicy};
use orgsvc_testkit::DocumentDb;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{assert_problem, settings, Backend, TestApp};
use crate::process::Deployment;

/// A DocumentDB of the test's own, or `None` (said loudly) off CI where none can be started.
pub fn own_server(test: &str) -> Option<DocumentDb> {
    match DocumentDb::start() {
        Ok(server) => Some(server),
        Err(e) if std::env::var_os("CI").is_none() => {
            eprintln!("\n!!! SKIPPED MongoDB test {test}: cannot start DocumentDB ({e:?})\n");
            None
        }
        Err(e) => panic!("MongoDB suites must run on CI, but: {e:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_answers_503_quickly_and_heals_without_a_restart() {
    let Some(mut server) = own_server("outage") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings(dir.path(), Backend::Embedded, "outage").unwrap();
    settings.storage.backend = StorageBackend::Mongodb;
    settings.storage.mongodb = orgsvc_storage::MongoSettings::for_uri(&server.uri());
    settings.storage.mongodb.server_selection_timeout_ms = 500;
    settings.storage.mongodb.operation_timeout_ms = 1_500;
    let app = TestApp::spawn_with(settings, dir).await;
    let (_, token) = app.org_with_token("Steady", "s@steady.io").await;
    let (_, kept) = app.insert_doc(&token, &json!({"kept": true})).await;

    server.stop();
    let outage = Instant::now();
    let ready = app.client.get(app.url("/ready")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready.headers()["retry-after"], "5");
    let (status, body) = app.get_org("Steady").await;
    assert_problem(status, &body, 503, "storage_unavailable");
    let (status, body) = app.create_org("Newcomer", "n@new.io").await;
    assert_problem(status, &body, 503, "storage_unavailable");
    let (status, body) = app.insert_doc(&token, &json!({"during": "outage"})).await;
    assert_problem(status, &body, 503, "storage_unavailable");
    let (status, body) = app.login("s@steady.io", crate::helpers::PASSWORD).await;
    assert_problem(status, &body, 503, "storage_unavailable");
    // Bounded, not hanging: five requests against a 0.5 s selection / 1.5 s operation limit.
    assert!(
        outage.elapsed() < Duration::from_secs(20),
        "requests hung: {:?}",
        outage.elapsed()
    );

    server.resume().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = app.client.get(app.url("/ready")).send().await.unwrap();
        if ready.status() == StatusCode::OK {
            break;
        }
        assert!(Instant::now() < deadline, "did not recover");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, _) = app.get_org("Steady").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.create_org("Newcomer", "n@new.io").await;
    assert_eq!(status, StatusCode::CREATED);
    let documents = app.all_docs(&token).await;
    assert_eq!(documents, vec![kept]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organizations_spread_over_two_clusters_by_policy_and_move_between_them_keeping_every_document(
) {
    let Some(home) = own_server("two clusters") else {
        return;
    };
    let Some(eu) = own_server("two clusters") else {
        return;
    };
    let mut deployment = Deployment::new(&home.uri()).await;
    deployment.extra_env = vec![
        (
            "ORGSVC__STORAGE__MONGODB__CLUSTERS__EU__URI".into(),
            eu.uri(),
        ),
        (
            "ORGSVC__STORAGE__MONGODB__COPY_BATCH_SIZE".into(),
            "500".into(),
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings(dir.path(), Backend::Embedded, "two clusters").unwrap();
    settings.storage.backend = StorageBackend::Mongodb;
    let mongodb = &mut settings.storage.mongodb;
    *mongodb = orgsvc_storage::MongoSettings::for_uri(&home.uri());
    mongodb.master_database = deployment.master.clone();
    mongodb.tenant_database = deployment.tenants.clone();
    mongodb.placement = PlacementPolicy::RoundRobin;
    mongodb.clusters.insert(
        "eu".into(),
        ClusterSettings {
            uri: eu.uri().into(),
        },
    );
    let app_settings = settings.clone();
    let app = TestApp::spawn_with(settings, dir).await;

    // Round robin over [default, eu].
    let mut placed = Vec::new();
    for i in 0..4 {
        let (status, org) = app
            .create_org(&format!("Spread {i}"), &format!("s{i}@spread.io"))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{org}");
        placed.push(org["connection"]["cluster"].as_str().unwrap().to_owned());
    }
    assert_eq!(placed, ["default", "eu", "default", "eu"]);
    let eu_client = mongodb::Client::with_uri_str(eu.uri()).await.unwrap();
    let eu_tenants = eu_client.database(&deployment.tenants);
    let home_names = deployment
        .tenant_db()
        .list_collection_names()
        .await
        .unwrap();
    let eu_names = eu_tenants.list_collection_names().await.unwrap();
    assert!(
        home_names.contains(&"org_spread_0".to_owned())
            && !eu_names.contains(&"org_spread_0".to_owned())
    );
    assert!(
        eu_names.contains(&"org_spread_1".to_owned())
            && !home_names.contains(&"org_spread_1".to_owned())
    );

    // 3,000 documents in Spread 0 (on the home cluster), then move it to eu.
    let (_, token) = {
        let (status, login) = app.login("s0@spread.io", crate::helpers::PASSWORD).await;
        assert_eq!(status, StatusCode::OK);
        (status, login["access_token"].as_str().unwrap().to_owned())
    };
    let mut seeded = BTreeSet::new();
    let batch: Vec<Document> = (0..3_000)
        .map(|n| {
            let id = DocumentId::generate().to_string();
            seeded.insert(id.clone());
            doc! {"_id": id, "n": n}
        })
        .collect();
    deployment
        .tenant_db()
        .collection::<Document>("org_spread_0")
        .insert_many(batch)
        .await
        .unwrap();

    let mover = deployment.run(&["move-org", "--org", "Spread 0", "--to-cluster", "eu"]);
    let watcher = async {
        // While the move runs, the serving app keeps answering reads; a write waits for the
        // copy (up to two seconds) and lands on the new cluster, or is refused.
        let deadline = Instant::now() + Duration::from_secs(60);
        while deployment.pending_intents().await == 0 {
            assert!(Instant::now() < deadline, "the move never started");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let (status, page) = app
            .send(
                app.client
                    .get(app.url("/org/documents?limit=10"))
                    .bearer_auth(&token),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let (status, body) = app.insert_doc(&token, &json!({"during": "move"})).await;
        if status == StatusCode::CREATED {
            Some(body["id"].as_str().unwrap().to_owned())
        } else {
            assert_problem(status, &body, 503, "storage_unavailable");
            None
        }
    };
    let (output, written) = tokio::join!(mover, watcher);
    seeded.extend(written);
    let output = output.unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("on cluster eu"));
    // Not a terminal: progress comes as plain lines, the last one when every document is copied.
    let progress = String::from_utf8_lossy(&output.stderr);
    assert!(
        progress.contains("copied 3000 of 3000 documents (100%)"),
        "{progress}"
    );

    // Another process moved it: the serving app's cache shows that within cache.ttl_ms.
    tokio::time::sleep(Duration::from_millis(app_settings.cache.ttl_ms + 100)).await;
    let (_, moved) = app.get_org("Spread 0").await;
    assert_eq!(moved["connection"]["cluster"], "eu");
    let ids: BTreeSet<String> = app
        .all_docs(&token)
        .await
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_owned())
        .collect::<BTreeSet<_>>();
    assert_eq!(ids, seeded);
    assert!(!deployment
        .tenant_db()
        .list_collection_names()
        .await
        .unwrap()
        .contains(&"org_spread_0".to_owned()));
    let (status, added) = app.insert_doc(&token, &json!({"after": "move"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let on_eu = eu_tenants
        .collection::<Document>("org_spread_0")
        .count_documents(doc! {"_id": added["id"].as_str().unwrap()})
        .await
        .unwrap();
    assert_eq!(on_eu, 1);
    assert_eq!(deployment.pending_intents().await, 0);

    // least_loaded on the same master: now 1 organization on default (Spread 2) and 3 on eu
    // (Spread 1, 3 and the moved 0), so default fills up first; a tie goes to the first by name.
    let dir = tempfile::tempdir().unwrap();
    let mut balanced = app_settings.clone();
    balanced.storage.mongodb.placement = PlacementPolicy::LeastLoaded;
    let balanced = TestApp::spawn_with(balanced, dir).await;
    let mut placed = Vec::new();
    for i in 0..4 {
        let (status, org) = balanced
            .create_org(&format!("Balanced {i}"), &format!("b{i}@balanced.io"))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{org}");
        placed.push(org["connection"]["cluster"].as_str().unwrap().to_owned());
    }
    assert_eq!(placed, ["default", "default", "default", "eu"]);
}
