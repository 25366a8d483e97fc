//! The MongoDB store's numbered schema versions: a database an earlier release wrote is
//! brought up to date at start, and one written by a newer release is refused.

use bson::{doc, Document};
use orgsvc_domain::ports::{Admission, LoginAttempts, MemberStore, OrganizationStore, TenantStore};
use orgsvc_domain::{EmailAddress, OrganizationName, Role};
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
        assert_eq!(organization.admin.email.as_str(), "old@old.co");
        let roster = store.find_roster(&organization.id).await.unwrap().unwrap();
        let owners: Vec<_> = roster
            .members
            .iter()
            .filter(|m| m.role == Role::Owner)
            .collect();
        assert_eq!(owners.len(), 1);
        let member = store
            .find_admin_by_email(&EmailAddress::new("member@old.co").unwrap())
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
        let key = EmailAddress::new("old@old.co").unwrap();
        let admitted = store
            .begin_login_attempt(&key, chrono::Utc::now())
            .await
            .unwrap();
        assert!(
            matches!(admitted, Admission::Admitted { .. }),
            "{admitted:?}"
        );
        store.clear_login_attempts(&key).await.unwrap();
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
    assert_eq!(version.get_i64("version"), Ok(2));
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
            let key = EmailAddress::new(key).unwrap();
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

/// The master's lookups use their indexes: by slug, by email, by member (the server's plan
/// names the index; a collection scan would not).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookups_by_slug_email_and_member_use_their_indexes() {
    let Some(uri) = mongodb_or_skip("lookups_by_slug_email_and_member_use_their_indexes") else {
        return;
    };
    let settings = settings(uri);
    let master_name = settings.master_database.clone();
    let store = MongoStore::connect(settings).await.unwrap();
    let (organization, _) =
        crate::suite::organization(&store, "Indexed Co", "owner@indexed.co").await;
    let client = mongodb::Client::with_uri_str(uri).await.unwrap();
    let master = client.database(&master_name);
    for (collection, filter, index) in [
        (
            "organizations",
            doc! {"slug": organization.slug().as_str()},
            "slug_unique",
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
        assert!(plan.contains(index), "{collection}: {plan}");
    }
}
