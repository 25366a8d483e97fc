//! Tenancy models end to end on MongoDB: an organization moved online between all three models
//! (and renamed in each) keeps every document and leaves nothing behind; a shared tenant's
//! delete, killed halfway through its batches, removes exactly its own documents once finished.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use mongodb::bson::{doc, Document};
use orgsvc_domain::DocumentId;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::process::{location_of, Deployment, Service, LEASE_SECONDS, SHARED};

/// A new organization through `service`: its id and a token of its admin.
async fn create(service: &Service, name: &str, email: &str) -> (String, String) {
    let (status, created) = service.create_org(name, email).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().expect("created").to_owned();
    (id, service.token(email).await)
}

async fn insert(service: &Service, token: &str, n: usize) -> String {
    let request = service
        .client
        .post(service.url("/org/documents"))
        .bearer_auth(token)
        .json(&json!({"n": n}));
    let created = service.json(request).await;
    created["id"].as_str().expect("inserted").to_owned()
}

async fn record(deployment: &Deployment, id: &str) -> Document {
    let organizations = deployment
        .master_db()
        .collection::<Document>("organizations");
    organizations
        .find_one(doc! {"_id": id})
        .await
        .unwrap()
        .expect("the organization exists")
}

/// The ids of `organization`'s documents where its record says they are, as stored.
async fn stored(deployment: &Deployment, organization: &str) -> BTreeSet<String> {
    let place = location_of(&record(deployment, organization).await);
    deployment
        .documents_at(&place)
        .await
        .iter()
        .filter(|d| place.2 != SHARED || d.get_str("org_id") == Ok(organization))
        .map(|d| d.get_str("_id").unwrap().to_owned())
        .collect()
}

async fn move_org(deployment: &Deployment, name: &str, model: &str) {
    let output = deployment
        .run(&["move-org", "--org", name, "--to-model", model])
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "move-org to {model}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

async fn rename(service: &Service, token: &str, name: &str) -> Value {
    let response = service
        .client
        .put(service.url("/org/update"))
        .bearer_auth(token)
        .json(&json!({"organization_name": name}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organization_moves_online_through_every_tenancy_model_keeping_every_document() {
    let Some(uri) = orgsvc_testkit::mongodb_or_skip("tenancy moves") else {
        return;
    };
    let mut deployment = Deployment::new(uri).await;
    deployment.extra_env = vec![(
        "ORGSVC__STORAGE__MONGODB__COPY_BATCH_SIZE".into(),
        "100".into(),
    )];
    let service = deployment.start().await;
    // A neighbour in the shared collection, whose documents nothing may touch.
    let (neighbour, neighbour_token) = create(&service, "Neighbour", "n@n.io").await;
    move_org(&deployment, "Neighbour", "shared").await;
    let mut theirs = BTreeSet::new();
    for n in 0..30 {
        theirs.insert(insert(&service, &neighbour_token, n).await);
    }

    let (id, token) = create(&service, "Traveller", "t@t.io").await;
    let mut ours = BTreeSet::new();
    for n in 0..250 {
        ours.insert(insert(&service, &token, n).await);
    }
    let mut name = "Traveller".to_owned();
    for (step, model) in ["shared", "database", "collection", "database", "shared"]
        .into_iter()
        .enumerate()
    {
        move_org(&deployment, &name, model).await;
        let moved = record(&deployment, &id).await;
        let connection = moved.get_document("connection").unwrap();
        assert_eq!(connection.get_str("model"), Ok(model), "{moved}");
        assert_eq!(
            stored(&deployment, &id).await,
            ours,
            "after the move to {model}"
        );
        assert_eq!(service.document_ids(&token).await, ours);

        // A rename in each model: the documents stay where they are unless the model names
        // the collection after the organization.
        name = format!("Traveller {step}");
        let renamed = rename(&service, &token, &name).await;
        assert_eq!(renamed["connection"]["model"], model);
        let after = location_of(&record(&deployment, &id).await);
        assert_eq!(
            after == location_of(&moved),
            model != "collection",
            "{after:?}"
        );
        ours.insert(insert(&service, &token, 1_000 + step).await);
        assert_eq!(stored(&deployment, &id).await, ours);
        assert_eq!(service.document_ids(&neighbour_token).await, theirs);
        deployment.assert_consistent().await;
    }

    // Deleting a shared tenant removes exactly its documents.
    let request = service
        .client
        .delete(service.url("/org/delete"))
        .query(&[("organization_name", &name)])
        .bearer_auth(&token);
    assert_eq!(request.send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(stored(&deployment, &neighbour).await, theirs);
    let shared = location_of(&record(&deployment, &neighbour).await);
    let left: Vec<Document> = deployment.documents_at(&shared).await;
    assert!(left.iter().all(|d| d.get_str("org_id") == Ok(&neighbour)));
    deployment.assert_consistent().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_tenants_delete_killed_between_batches_finishes_and_spares_its_neighbours() {
    let Some(uri) = orgsvc_testkit::mongodb_or_skip("shared delete crash") else {
        return;
    };
    let mut deployment = Deployment::new(uri).await;
    deployment.extra_env = vec![
        ("ORGSVC__STORAGE__MONGODB__TENANCY".into(), "shared".into()),
        (
            "ORGSVC__STORAGE__MONGODB__COPY_BATCH_SIZE".into(),
            "200".into(),
        ),
    ];
    let service = deployment.start().await;
    let (neighbour, neighbour_token) = create(&service, "Neighbour", "n@n.io").await;
    let mut theirs = BTreeSet::new();
    for n in 0..20 {
        theirs.insert(insert(&service, &neighbour_token, n).await);
    }
    let (doomed, token) = create(&service, "Doomed", "d@d.io").await;
    // 20,000 documents, written straight into the shared collection as the adapter tags them.
    let place = location_of(&record(&deployment, &doomed).await);
    assert_eq!(place.2, SHARED);
    let shared = deployment
        .master_db()
        .client()
        .database(&place.1)
        .collection::<Document>(SHARED);
    for chunk in 0..4 {
        let batch: Vec<Document> = (0..5_000)
            .map(|i| {
                let id = DocumentId::generate().to_string();
                doc! {"_id": id, "org_id": &doomed, "doc": {"n": chunk * 5_000 + i}}
            })
            .collect();
        shared.insert_many(batch).await.unwrap();
    }
    let count = || async {
        shared
            .count_documents(doc! {"org_id": &doomed})
            .await
            .unwrap()
    };

    let delete = {
        let request = service
            .client
            .delete(service.url("/org/delete"))
            .query(&[("organization_name", "Doomed")])
            .bearer_auth(&token);
        tokio::spawn(request.send())
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while count().await == 20_000 {
        assert!(Instant::now() < deadline, "the delete never started");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    service.kill();
    let _ = delete.await;
    let left_at_kill = count().await;
    assert!(
        left_at_kill > 0 && deployment.pending_intents().await == 1,
        "the kill came too late to interrupt the delete ({left_at_kill} left)"
    );

    tokio::time::sleep(Duration::from_millis(LEASE_SECONDS * 1000 + 500)).await;
    let service = deployment.start().await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while deployment.pending_intents().await > 0 {
        assert!(
            Instant::now() < deadline,
            "recovery never finished the delete"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(count().await, 0);
    assert_eq!(stored(&deployment, &neighbour).await, theirs);
    assert_eq!(service.document_ids(&neighbour_token).await, theirs);
    deployment.assert_consistent().await;
    println!(
        "shared delete: killed with {left_at_kill} of 20000 documents left; recovery removed them"
    );
}
