//! The MongoDB store's numbered schema versions: a database an earlier release wrote is
//! brought up to date at start, and one written by a newer release is refused.

use std::time::{Duration, Instant};

use bson::{doc, Bson, Document};
use orgsvc_domain::ports::{
    Admission, AttemptKey, Founder, LoginAttempts, MemberStore, OrganizationStore, TenantStore,
};
use orgsvc_domain::{EmailAddress, OrganizationName, Role, TenancyModel};
use orgsvc_storage::{MongoSettings, MongoStore};
use orgsvc_testkit::mongodb_or_skip;
use serde_json::json;

use crate::fixture;
use crate::mongodb::settings;

/// The databases the fixture of the previous release holds (see tests/fixtures/README.md).
const FIXTURE_MASTER: &str = "v0fixture_master";
const FIXTURE_TENANTS: &str = "v0fixture_tenants";

fn fixture_settings(uri: &str) -> MongoSettings {
    let mut settings = settings(uri);
    settings.master_database = FIXTURE_MASTER.into();
    settings.tenant_database = FIXTURE_TENANTS.into();
    settings
}

async fn collections(client: &mongodb::Client, database: &str) -> Vec<String> {
    let mut names = client
        .database(database)
        .list_collection_names()
        .await
        .unwrap();
    names.sort();
    names
}

/// Waits until the database records `version` (version 3 is recorded by a background task
/// once every tenant document is rewritten).
async fn wait_for_version(master: &mongodb::Database, version: i64) {
    let schema = master.collection::<Document>("schema");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let stored = schema.find_one(doc! {"_id": "orgsvc"}).await.unwrap();
        if stored.as_ref().and_then(|d| d.get_i64("version").ok()) == Some(version) {
            return;
        }
        assert!(Instant::now() < deadline, "still {stored:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether a stored value still holds the wrapper releases before version 2 wrote.
fn holds_wrapper(value: &Bson) -> bool {
    match value {
        Bson::Document(fields) => fields
            .iter()
            .any(|(key, value)| key == "\u{1}array" || holds_wrapper(value)),
        Bson::Array(items) => items.iter().any(holds_wrapper),
        _ => false,
    }
}

/// Writes the fixture from databases an earlier release filled (how: tests/fixtures/README.md).
#[tokio::test]
#[ignore = "makes tests/fixtures/mongodb-*.jsonl; run by hand with ORGSVC_FIXTURE_URI and ORGSVC_FIXTURE_OUT"]
async fn dump_fixture() {
    let uri = std::env::var("ORGSVC_FIXTURE_URI").expect("ORGSVC_FIXTURE_URI");
    let out = std::env::var("ORGSVC_FIXTURE_OUT").expect("ORGSVC_FIXTURE_OUT");
    let client = mongodb::Client::with_uri_str(uri).await.unwrap();
    let dump = fixture::dump(&client, &[FIXTURE_MASTER, FIXTURE_TENANTS]).await;
    std::fs::write(out, dump).unwrap();
}

/// What release 5bcd457 (schema version 0) wrote on MongoDB: after the upgrade every record
/// reads as it did, the document holding nested arrays reads back as it was posted, the old
/// throttle's collections are gone, and the version is recorded, once however often it starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_the_previous_release_wrote_is_brought_to_the_current_version() {
    let test = "a_database_the_previous_release_wrote_is_brought_to_the_current_version";
    let Some(uri) = mongodb_or_skip(test) else {
        return;
    };
    let client = mongodb::Client::with_uri_str(uri).await.unwrap();
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/mongodb-5bcd457.jsonl"
    );
    fixture::restore(&client, &std::fs::read_to_string(path).unwrap()).await;
    let before = collections(&client, FIXTURE_MASTER).await;
    assert!(before.contains(&"login_attempts".to_owned()), "{before:?}");

    for _ in 0..2 {
        let store = MongoStore::connect(fixture_settings(uri)).await.unwrap();
        let slug = OrganizationName::new("Old Co").unwrap().slug().clone();
        let organization = store
            .find_organization_by_slug(&slug)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(organization.owner.email.as_str(), "old@old.co");
        let roster = store.find_roster(&organization.id).await.unwrap().unwrap();
        let owners: Vec<_> = roster
            .members
            .iter()
            .filter(|m| m.role == Role::Owner)
            .collect();
        assert_eq!(owners.len(), 1);
        let member = store
            .find_user_by_email(&EmailAddress::new("member@old.co").unwrap())
            .await
            .unwrap()
            .expect("the member the release invited");
        assert!(roster.members.iter().any(|m| m.user_id == member.id));
        let page = store
            .list_documents(&organization.id, None, 10)
            .await
            .unwrap();
        let bodies: Vec<_> = page
            .iter()
            .map(|d| serde_json::Value::Object(d.body.fields().clone()))
            .collect();
        assert!(
            bodies.contains(&json!({"kept": "across the upgrade"})),
            "{bodies:?}"
        );
        assert!(
            bodies.contains(
                &json!({"matrix": [[1, 2], [3, [4, [5]]], []], "deep": [{"m": [[true]]}]})
            ),
            "{bodies:?}"
        );
        let key = AttemptKey::account(&EmailAddress::new("old@old.co").unwrap());
        let admitted = store
            .begin_login_attempt(&key, chrono::Utc::now())
            .await
            .unwrap();
        assert!(
            matches!(admitted, Admission::Admitted { .. }),
            "{admitted:?}"
        );
        store
            .clear_login_attempts(std::slice::from_ref(&key))
            .await
            .unwrap();
    }
    let after = collections(&client, FIXTURE_MASTER).await;
    for gone in ["login_attempts", "operation_claims"] {
        assert!(!after.contains(&gone.to_owned()), "{after:?}");
    }
    let master = client.database(FIXTURE_MASTER);
    let version = master
        .collection::<Document>("schema")
        .find_one(doc! {"_id": "orgsvc"})
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(version.get_i64("version"), Ok(2 | 3)), "{version}");
    wait_for_version(&master, 3).await;
    let tenants = client.database(FIXTURE_TENANTS);
    let stored = fixture::every_document(&tenants.collection("org_old_co")).await;
    assert_eq!(stored.len(), 2, "{stored:?}");
    assert!(
        !stored
            .iter()
            .any(|d| holds_wrapper(&Bson::Document(d.clone()))),
        "{stored:?}"
    );
    let nested = stored.iter().find(|d| d.contains_key("matrix")).unwrap();
    assert_eq!(
        Bson::Document(nested.clone()).into_relaxed_extjson()["matrix"],
        json!([[1, 2], [3, [4, [5]]], []])
    );
    // Every organization and user of the fixture is still there.
    for (collection, count) in [("organizations", 1), ("admins", 2), ("rosters", 1)] {
        let stored = master
            .collection::<Document>(collection)
            .count_documents(doc! {})
            .await
            .unwrap();
        assert_eq!(stored, count, "{collection}");
    }
}

/// Version 3 interrupted: a database at version 2 whose migration stopped in the middle of an
/// organization. The next start goes on from where it got to (documents before the cursor are
/// not read again) through organizations of every tenancy model, and records the version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_unwrapping_goes_on_from_where_it_stopped() {
    let Some(uri) = mongodb_or_skip("an_interrupted_unwrapping_goes_on_from_where_it_stopped")
    else {
        return;
    };
    let mut settings = settings(uri);
    let client = mongodb::Client::with_uri_str(uri).await.unwrap();
    let master = client.database(&settings.master_database);
    let mut ids = Vec::new();
    for model in [
        TenancyModel::Collection,
        TenancyModel::Database,
        TenancyModel::Shared,
    ] {
        settings.tenancy = model;
        let store = MongoStore::connect(settings.clone()).await.unwrap();
        let name = format!("Wrapped {model:?}");
        let organization =
            crate::suite::create(&store, &name, &format!("{model:?}@wrapped.co")).await;
        ids.push(organization.id.to_string());
        wait_for_version(&master, 3).await;
    }
    ids.sort();
    // The stores are gone; what an interrupted release left behind is written by hand.
    let wrapped = doc! {"matrix": [{"\u{1}array": [1, {"\u{1}array": [2]}]}]};
    let mut collections = Vec::new();
    for id in &ids {
        let record = master
            .collection::<Document>("organizations")
            .find_one(doc! {"_id": id})
            .await
            .unwrap()
            .unwrap();
        let location = record.get_document("connection").unwrap();
        let collection = client
            .database(location.get_str("database").unwrap())
            .collection::<Document>(location.get_str("collection").unwrap());
        let shared = location.get_str("model") == Ok("shared");
        for doc_id in ["a-before", "z-after"] {
            let stored = if shared {
                doc! {"_id": format!("{id}-{doc_id}"), "org_id": id, "doc": wrapped.clone()}
            } else {
                let mut stored = wrapped.clone();
                stored.insert("_id", doc_id);
                stored
            };
            collection.insert_one(stored).await.unwrap();
        }
        collections.push((id.clone(), collection, shared));
    }
    let first = &collections[0];
    let after = if first.2 {
        format!("{}-m", first.0)
    } else {
        "m".to_owned()
    };
    master
        .collection::<Document>("schema")
        .replace_one(
            doc! {"_id": "orgsvc"},
            doc! {"version": 2_i64, "unwrapping": {"organization": &first.0, "after": after, "complete": false}},
        )
        .await
        .unwrap();

    let _store = MongoStore::connect(settings).await.unwrap();
    wait_for_version(&master, 3).await;
    let state = master
        .collection::<Document>("schema")
        .find_one(doc! {"_id": "orgsvc"})
        .await
        .unwrap()
        .unwrap();
    assert!(!state.contains_key("unwrapping"), "{state}");
    for (index, (id, collection, _)) in collections.iter().enumerate() {
        let stored = fixture::every_document(collection).await;
        assert_eq!(stored.len(), 2, "{id}: {stored:?}");
        for document in &stored {
            let before_cursor =
                index == 0 && document.get_str("_id").unwrap().ends_with("a-before");
            assert_eq!(
                holds_wrapper(&Bson::Document(document.clone())),
                before_cursor,
                "{id}: {document}"
            );
        }
    }
    let unwrapped = fixture::every_document(&collections[1].1).await;
    let body = unwrapped[1].get_document("doc").unwrap_or(&unwrapped[1]);
    assert_eq!(
        Bson::Document(body.clone()).into_relaxed_extjson()["matrix"],
        json!([[1, [2]]])
    );
}

/// A database a newer release wrote (a version this binary does not know) is refused with a
/// message that says so, and left as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_of_a_newer_version_is_refused() {
    let Some(uri) = mongodb_or_skip("a_database_of_a_newer_version_is_refused") else {
        return;
    };
    let settings = settings(uri);
    let client = mongodb::Client::with_uri_str(uri).await.unwrap();
    let schema = client
        .database(&settings.master_database)
        .collection::<Document>("schema");
    schema
        .insert_one(doc! {"_id": "orgsvc", "version": 99_i64})
        .await
        .unwrap();
    let refused = MongoStore::connect(settings).await.unwrap_err();
    let message = format!("{:#}", anyhow::Error::from(refused));
    assert!(message.contains("schema version 99"), "{message}");
    let kept = schema.find_one(doc! {}).await.unwrap().unwrap();
    assert_eq!(kept.get_i64("version"), Ok(99));
}

/// The old throttle's locks still running (one document per attempt, `kind: lock` ending an
/// epoch) hold in the new counters; expired ones and plain attempts are not carried over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_locks_of_the_old_login_throttle_are_carried_over() {
    let Some(uri) = mongodb_or_skip("running_locks_of_the_old_login_throttle_are_carried_over")
    else {
        return;
    };
    let settings = settings(uri);
    let client = mongodb::Client::with_uri_str(uri).await.unwrap();
    let old = client
        .database(&settings.master_database)
        .collection::<Document>("login_attempts");
    let now = bson::DateTime::now().timestamp_millis();
    let at = |offset_seconds: i64| bson::DateTime::from_millis(now + offset_seconds * 1000);
    let end = |key: &str, epoch: i64, locks: i64, until: bson::DateTime| {
        doc! {"_id": format!("{key}|{epoch}|end"), "key": key, "epoch": epoch, "kind": "lock",
        "n": 0_i64, "at": at(-10), "locks": locks, "locked_until": until}
    };
    old.insert_many([
        end("locked@old.co", 0, 1, at(-5)),
        end("locked@old.co", 1, 2, at(600)),
        end("expired@old.co", 0, 1, at(-5)),
        doc! {"_id": "tried@old.co|0|1", "key": "tried@old.co", "epoch": 0_i64, "kind": "attempt",
        "n": 1_i64, "at": at(-1), "locks": 0_i64, "locked_until": bson::DateTime::MIN},
    ])
    .await
    .unwrap();
    let store = MongoStore::connect(settings).await.unwrap();
    let begin = |key: &'static str| {
        let store = store.clone();
        async move {
            let key = AttemptKey::account(&EmailAddress::new(key).unwrap());
            store
                .begin_login_attempt(&key, chrono::Utc::now())
                .await
                .unwrap()
        }
    };
    match begin("locked@old.co").await {
        Admission::Locked { until } => {
            assert_eq!(until.timestamp_millis(), at(600).timestamp_millis());
        }
        other => panic!("the running lock was lost: {other:?}"),
    }
    for free in ["expired@old.co", "tried@old.co"] {
        let admitted = begin(free).await;
        assert!(
            matches!(admitted, Admission::Admitted { attempt: 1, .. }),
            "{free}: {admitted:?}"
        );
    }
}

/// The master's lookups use their indexes: by slug and by the old name of a rename, by cluster
/// (placement), by lease (the recovery sweep), by place (is a collection still used before it
/// is dropped), by email, by member.
/// The server's plan names the index and scans no collection. Each filter has the shape the
/// adapter sends: one field or one place per lookup, never an `$or` (which DocumentDB answers
/// with a collection scan).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookups_by_slug_cluster_email_and_member_use_their_indexes() {
    let Some(uri) = mongodb_or_skip("lookups_by_slug_cluster_email_and_member_use_their_indexes")
    else {
        return;
    };
    let settings = settings(uri);
    let master_name = settings.master_database.clone();
    let store = MongoStore::connect(settings).await.unwrap();
    let (organization, founder) =
        crate::suite::organization(&store, "Indexed Co", "owner@indexed.co").await;
    store
        .create_organization(&organization, Founder::New(&founder))
        .await
        .unwrap();
    let client = mongodb::Client::with_uri_str(uri).await.unwrap();
    let master = client.database(&master_name);
    let record = master
        .collection::<Document>("organizations")
        .find_one(doc! {"_id": organization.id.to_string()})
        .await
        .unwrap()
        .unwrap();
    let at = record.get_document("connection").unwrap();
    for (collection, filter, index) in [
        (
            "organizations",
            doc! {"slug": organization.slug().as_str()},
            "slug_unique",
        ),
        (
            "organizations",
            doc! {"intent.from_slug": organization.slug().as_str()},
            "intent_from_slug",
        ),
        (
            "organizations",
            doc! {"connection.cluster": "default"},
            "cluster",
        ),
        (
            "organizations",
            doc! {"intent": {"$exists": true}, "intent.lease_until": {"$lt": bson::DateTime::now()}},
            "intent_lease",
        ),
        (
            "organizations",
            doc! {"export.until": {"$lt": bson::DateTime::now()}},
            "export_until",
        ),
        ("organizations", place("connection", at), "place"),
        ("organizations", place("intent.to", at), "intent_to_place"),
        (
            "organizations",
            place("intent.from", at),
            "intent_from_place",
        ),
        ("admins", doc! {"email": "owner@indexed.co"}, "email_unique"),
        ("rosters", doc! {"members.user_id": "x"}, "members_user_id"),
    ] {
        let plan = master
            .run_command(doc! {
                "explain": {"find": collection, "filter": filter},
                "verbosity": "queryPlanner",
            })
            .await
            .unwrap();
        let plan = plan.to_string();
        assert!(
            plan.contains(&format!("\"{index}\"")),
            "{collection}: {plan}"
        );
        assert!(!plan.contains("COLLSCAN"), "{collection}: {plan}");
    }
}

/// The filter on the place (collection, database, cluster) at `prefix` that is `at` (a stored
/// `connection`), as the adapter asks before dropping a collection.
fn place(prefix: &str, at: &Document) -> Document {
    let part = |name| at.get_str(name).unwrap();
    doc! {
        "_id": {"$ne": "someone else"},
        format!("{prefix}.collection"): part("collection"),
        format!("{prefix}.database"): part("database"),
        format!("{prefix}.cluster"): part("cluster"),
    }
}
