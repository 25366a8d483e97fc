use super::preimages::{document_part, key, key_range, merge, PreimageDoc};
use super::*;

fn stored(id: &str, n: i32) -> BsonDocument {
    doc! {"_id": id, "n": n}
}

fn saved(id: &str, document: Option<BsonDocument>) -> PreimageDoc {
    PreimageDoc {
        key: key("e", id),
        document,
        expires_at: bson::DateTime::now(),
    }
}

#[test]
fn a_preimage_stands_for_its_document_and_one_of_nothing_hides_it() {
    let page = merge(
        vec![stored("a", 2), stored("b", 2), stored("c", 2)],
        vec![saved("a", Some(stored("a", 1))), saved("c", None)],
        None,
    );
    assert_eq!(page, vec![stored("a", 1), stored("b", 2)]);
}

#[test]
fn documents_deleted_since_come_back_in_id_order_within_the_page() {
    let page = merge(
        vec![stored("b", 2), stored("d", 2)],
        vec![
            saved("a", Some(stored("a", 1))),
            saved("c", Some(stored("c", 1))),
            saved("e", Some(stored("e", 1))),
            saved("f", Some(stored("f", 1))),
        ],
        Some("e"),
    );
    let ids: Vec<&str> = page.iter().map(|d| d.get_str("_id").unwrap()).collect();
    assert_eq!(ids, ["a", "b", "c", "d", "e"]);
}

/// A mark whose lease is over goes with its preimages at the next sweep: writes stop
/// saving them, and the export, should it read again, finds its snapshot lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_clears_a_snapshot_whose_export_stopped_reading() {
    use orgsvc_domain::ports::{OrganizationStore as _, TenantStore as _};
    use orgsvc_domain::{Document, DocumentBody};

    let Some(uri) = orgsvc_testkit::mongodb_or_skip("abandoned export") else {
        return;
    };
    let mut settings = crate::MongoSettings::for_uri(uri);
    settings.master_database = orgsvc_testkit::unique_name("master");
    settings.tenant_database = orgsvc_testkit::unique_name("tenants");
    settings.recovery_interval_seconds = 0;
    let store = MongoStore::connect(settings.clone()).await.unwrap();
    let id = OrganizationId::generate();
    let now = Utc::now();
    let admin = orgsvc_domain::User {
        id: orgsvc_domain::UserId::generate(),
        email: orgsvc_domain::EmailAddress::new("a@acme.io").unwrap(),
        password_hash: orgsvc_domain::PasswordHash::from_phc("$argon2id$x".to_owned()),
        created_at: now,
        token_version: 0,
    };
    let organization = orgsvc_domain::Organization {
        id,
        name: orgsvc_domain::OrganizationName::new("Acme").unwrap(),
        placement: store.place_new_organization(&id).await.unwrap(),
        owner: orgsvc_domain::OwnerSummary {
            id: admin.id,
            email: admin.email.clone(),
        },
        created_at: now,
        updated_at: now,
    };
    store
        .create_organization(&organization, orgsvc_domain::ports::Founder::New(&admin))
        .await
        .unwrap();
    let body = |n: i64| {
        DocumentBody::new(serde_json::json!({"n": n}).as_object().unwrap().clone()).unwrap()
    };
    let document = Document {
        id: DocumentId::generate(),
        body: body(0),
    };
    store.insert_document(&id, &document).await.unwrap();
    let export = ExportId::generate();
    store.open_snapshot(&id, &export).await.unwrap();
    let replaced = |n| Document {
        id: document.id,
        body: body(n),
    };
    store.replace_document(&id, &replaced(1)).await.unwrap();
    let saved = || async {
        store
            .inner
            .preimages
            .count_documents(doc! {"_id": key_range(&export.to_string(), None, None)})
            .await
            .unwrap()
    };
    assert_eq!(saved().await, 1);

    // A lease that is not over is left alone.
    store.clear_abandoned_exports().await.unwrap();
    assert_eq!(saved().await, 1);
    store
        .inner
        .organizations
        .update_one(
            doc! {"_id": id.to_string()},
            doc! {"$set": {"export.until": bson::DateTime::MIN}},
        )
        .await
        .unwrap();
    store.clear_abandoned_exports().await.unwrap();
    assert_eq!(saved().await, 0);
    store.replace_document(&id, &replaced(2)).await.unwrap();
    assert_eq!(saved().await, 0, "no mark, no preimage");
    assert!(matches!(
        store.snapshot_page(&id, &export, None, 10).await,
        Err(SnapshotError::Lost)
    ));
    assert!(store.find_organization_by_id(&id).await.unwrap().is_some());
    for database in [&settings.master_database, &settings.tenant_database] {
        let _ = store.master_client().database(database).drop().await;
    }
}

#[test]
fn preimage_keys_sort_as_their_document_ids_and_stay_within_their_export() {
    let range = key_range("e1", Some("b"), None);
    assert_eq!(range, doc! {"$gt": "e1/b", "$lt": "e10"});
    assert!(key("e1", "zzz").as_str() < "e10");
    assert!(key("e1", "a") > key("e1", ""));
    assert_eq!(
        key_range("e1", None, Some("c")),
        doc! {"$gt": "e1/", "$lte": "e1/c"}
    );
    assert_eq!(document_part(&key("e1", "abc")), "abc");
}
