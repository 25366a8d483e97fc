use orgsvc_domain::TenancyModel;
use orgsvc_storage::{MongoSettings, MongoStore};
use orgsvc_testkit::{mongodb_or_skip, unique_name};

pub struct Mongo {
    pub store: MongoStore,
}

/// A store on the shared test server with databases of its own.
pub fn settings(uri: &str) -> MongoSettings {
    let mut settings = MongoSettings::for_uri(uri);
    settings.master_database = unique_name("master");
    settings.tenant_database = unique_name("tenants");
    settings.operation_timeout_ms = 5_000;
    settings.intent_lease_seconds = 2;
    settings
}

async fn make(test: &str, model: TenancyModel) -> Option<Mongo> {
    let uri = mongodb_or_skip(test)?;
    let mut settings = settings(uri);
    settings.tenancy = model;
    let store = MongoStore::connect(settings).await.expect("connects");
    Some(Mongo { store })
}

/// The whole contract once per tenancy model: each keeps every promise.
mod collection {
    use super::{make, TenancyModel};

    all_contract_tests!((|test: &'static str| make(test, TenancyModel::Collection)));
}

mod database {
    use super::{make, TenancyModel};

    all_contract_tests!((|test: &'static str| make(test, TenancyModel::Database)));
}

mod shared {
    use super::{make, TenancyModel};

    all_contract_tests!((|test: &'static str| make(test, TenancyModel::Shared)));
}

/// Two cluster names for one deployment would let a move copy a tenant's collection onto itself
/// and then drop it: the store refuses to start on such settings, and starts once the second
/// name reaches a deployment of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_cluster_names_for_one_deployment_are_refused() {
    use orgsvc_storage::mongo::ClusterSettings;

    let Some(uri) = mongodb_or_skip("two_cluster_names_for_one_deployment_are_refused") else {
        return;
    };
    let mut aliased = settings(uri);
    aliased.clusters.insert(
        "eu".into(),
        ClusterSettings {
            uri: uri.to_owned().into(),
        },
    );
    let refused = MongoStore::connect(aliased).await.unwrap_err();
    let message = format!("{:#}", anyhow::Error::from(refused));
    assert!(
        message.contains("\"default\" and \"eu\" reach the same deployment"),
        "{message}"
    );

    let eu = orgsvc_testkit::DocumentDb::start().unwrap();
    let mut distinct = settings(uri);
    distinct.clusters.insert(
        "eu".into(),
        ClusterSettings {
            uri: eu.uri().into(),
        },
    );
    MongoStore::connect(distinct).await.unwrap();
}

/// A master database as the version before rosters wrote it (an organization document naming
/// its admin, the admin naming its organization): connecting gives the organization its
/// roster with the admin as owner, once however often the store connects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_written_before_rosters_gets_each_admin_as_owner_once() {
    use bson::doc;
    use orgsvc_domain::{OrganizationId, UserId};

    let test = "a_database_written_before_rosters_gets_each_admin_as_owner_once";
    let Some(uri) = mongodb_or_skip(test) else {
        return;
    };
    let settings = settings(uri);
    let (organization, admin) = (OrganizationId::generate(), UserId::generate());
    let client = mongodb::Client::with_uri_str(uri).await.unwrap();
    let master = client.database(&settings.master_database);
    let at = bson::DateTime::from_millis(1_778_000_000_000);
    master
        .collection("organizations")
        .insert_one(doc! {
            "_id": organization.to_string(), "name": "Old Co", "slug": "old_co",
            "admin_id": admin.to_string(),
            "connection": {"cluster": "default", "database": &settings.tenant_database,
                "collection": "org_old_co", "model": "collection"},
            "created_at": at, "updated_at": at, "epoch": 1_i64,
        })
        .await
        .unwrap();
    master
        .collection("admins")
        .insert_one(doc! {
            "_id": admin.to_string(), "organization_id": organization.to_string(),
            "email": "old@old.co", "password_hash": "$argon2id$old", "created_at": at,
            "token_version": 3_i64,
        })
        .await
        .unwrap();
    client
        .database(&settings.tenant_database)
        .create_collection("org_old_co")
        .await
        .unwrap();
    for _ in 0..2 {
        let store = MongoStore::connect(settings.clone()).await.unwrap();
        crate::suite::assert_migrated(&store, &organization, &admin).await;
    }
    let rosters = master.collection::<bson::Document>("rosters");
    assert_eq!(rosters.count_documents(doc! {}).await.unwrap(), 1);
    // Migrated admins lose the field, so the next start finds nothing to do.
    let legacy = doc! {"organization_id": {"$exists": true}};
    let admins = master.collection::<bson::Document>("admins");
    assert_eq!(admins.count_documents(legacy).await.unwrap(), 0);
}

/// A user no roster lists (what a crash between a user's write and its roster's leaves) keeps
/// its email while it could still be an acceptance in flight, and gives it up after that.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_held_by_a_user_no_roster_lists_is_taken_over_once_old_enough() {
    use bson::doc;
    use orgsvc_domain::errors::CreateOrganizationError;
    use orgsvc_domain::ports::{Founder, OrganizationStore};

    let test = "an_email_held_by_a_user_no_roster_lists_is_taken_over_once_old_enough";
    let Some(uri) = mongodb_or_skip(test) else {
        return;
    };
    let settings = settings(uri);
    let store = MongoStore::connect(settings.clone()).await.unwrap();
    let client = mongodb::Client::with_uri_str(uri).await.unwrap();
    let admins = client
        .database(&settings.master_database)
        .collection::<bson::Document>("admins");
    let leftover = |email: &str, age_minutes: i64| {
        let at = bson::DateTime::from_millis(
            bson::DateTime::now().timestamp_millis() - age_minutes * 60_000,
        );
        doc! {"_id": uuid::Uuid::new_v4().to_string(), "email": email,
        "password_hash": "$argon2id$left", "created_at": at, "token_version": 0_i64}
    };
    admins
        .insert_one(leftover("fresh@left.io", 1))
        .await
        .unwrap();
    admins
        .insert_one(leftover("old@left.io", 11))
        .await
        .unwrap();

    let (fresh, founder) =
        crate::suite::organization(&store.clone(), "Fresh", "fresh@left.io").await;
    let err = store
        .create_organization(&fresh, Founder::New(&founder))
        .await
        .unwrap_err();
    assert!(
        matches!(err, CreateOrganizationError::EmailTaken { .. }),
        "{err:?}"
    );

    let (old, founder) = crate::suite::organization(&store.clone(), "Old", "old@left.io").await;
    store
        .create_organization(&old, Founder::New(&founder))
        .await
        .unwrap();
    let holder = store.find_user_by_email(&founder.email).await.unwrap();
    assert_eq!(holder.map(|a| a.id), Some(founder.id));
    assert_eq!(
        admins
            .count_documents(doc! {"email": "old@left.io"})
            .await
            .unwrap(),
        1
    );
}

/// A process that dies inside a transaction leaves it open on the server, with its locks,
/// until the server aborts it (DocumentDB: `TransactionTimeoutSecs`, 30 s; MongoDB:
/// `transactionLifetimeLimitSeconds`, 60 s). The operation it interrupted cannot be recovered
/// meanwhile, since recovery writes the locked record, but readers still find the
/// organization as during an operation under way, and the first read after the lock is gone
/// finishes the recovery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organization_locked_by_a_dead_processs_transaction_is_still_found() {
    use bson::doc;
    use orgsvc_domain::ports::{Founder, OrganizationStore};

    let test = "an_organization_locked_by_a_dead_processs_transaction_is_still_found";
    let Some(uri) = mongodb_or_skip(test) else {
        return;
    };
    let mut settings = settings(uri);
    settings.operation_timeout_ms = 1_000;
    let store = MongoStore::connect(settings.clone()).await.unwrap();
    let (organization, founder) =
        crate::suite::organization(&store.clone(), "Locked Org", "owner@locked.io").await;
    store
        .create_organization(&organization, Founder::New(&founder))
        .await
        .unwrap();

    // What a process leaves when it dies inside a rename's first transaction: the intent,
    // its lease over, and the record locked by a transaction nobody will end.
    let client = mongodb::Client::with_uri_str(uri).await.unwrap();
    let records = client
        .database(&settings.master_database)
        .collection::<bson::Document>("organizations");
    let id = organization.id.to_string();
    let record = records.find_one(doc! {"_id": &id}).await.unwrap().unwrap();
    let from = record.get_document("connection").unwrap().clone();
    let mut to = from.clone();
    to.insert("collection", "org_locked_org_next");
    let past = bson::DateTime::from_millis(bson::DateTime::now().timestamp_millis() - 60_000);
    let intent = doc! {"op": "rename", "phase": "started", "owner": "gone/1/dead",
    "lease_until": past, "from": from, "to": to, "from_slug": "locked_org",
    "new_name": "Locked Org Next"};
    records
        .update_one(
            doc! {"_id": &id},
            doc! {"$set": {"slug": "locked_org_next", "intent": intent}, "$inc": {"epoch": 1_i64}},
        )
        .await
        .unwrap();
    let mut dead = client.start_session().await.unwrap();
    dead.start_transaction().await.unwrap();
    records
        .update_one(doc! {"_id": &id}, doc! {"$set": {"updated_at": past}})
        .session(&mut dead)
        .await
        .unwrap();

    let slug = organization.slug().clone();
    let found = store.find_organization_by_slug(&slug).await.unwrap();
    assert_eq!(found.map(|o| o.id), Some(organization.id), "by slug");
    let found = store
        .find_organization_by_id(&organization.id)
        .await
        .unwrap();
    assert_eq!(
        found.map(|o| o.name),
        Some(organization.name.clone()),
        "by id"
    );
    let still = records.find_one(doc! {"_id": &id}).await.unwrap().unwrap();
    assert!(
        still.contains_key("intent"),
        "nothing could be recovered yet"
    );

    // A claim that timed out here may still have been applied once the lock went: then the
    // recovery waits out that claim's lease too.
    dead.abort_transaction().await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let found = store
            .find_organization_by_id(&organization.id)
            .await
            .unwrap();
        assert!(found.is_some(), "found all along");
        let record = records.find_one(doc! {"_id": &id}).await.unwrap().unwrap();
        if !record.contains_key("intent") {
            // Recovery carries a rename through.
            let renamed = store
                .find_organization_by_id(&organization.id)
                .await
                .unwrap();
            assert_eq!(renamed.unwrap().name.as_str(), "Locked Org Next");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never recovered: {record}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// A failure after some writes of a transaction leaves none of them. The failure is real, not
/// simulated: an event planted at the organization's next `seq` makes the last write of a
/// roster change (its webhook event) collide, after the joining user was inserted, the roster
/// rewritten and the outbox's head raised. DocumentDB does not abort a transaction on a
/// duplicate key (it could still commit the earlier writes); the adapter aborts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_between_writes_of_a_transaction_leaves_none_of_them() {
    use bson::doc;
    use orgsvc_domain::ports::{MemberStore, OrganizationStore};
    use orgsvc_domain::Role;

    let test = "a_failure_between_writes_of_a_transaction_leaves_none_of_them";
    let Some(uri) = mongodb_or_skip(test) else {
        return;
    };
    let settings = settings(uri);
    let store = MongoStore::connect(settings.clone()).await.unwrap();
    let acme = crate::suite::create(&store, "Acme", "a@acme.io").await;
    let id = acme.id.to_string();
    let master = mongodb::Client::with_uri_str(uri)
        .await
        .unwrap()
        .database(&settings.master_database);
    let outboxes = master.collection::<bson::Document>("webhook_outboxes");
    let head = |outbox: Option<bson::Document>| outbox.unwrap().get_i64("head").unwrap();
    let before = head(outboxes.find_one(doc! {"_id": &id}).await.unwrap());
    let next = before + 1;
    master
        .collection::<bson::Document>("webhook_events")
        .insert_one(
            doc! {"_id": format!("{id}/{next}"), "org": &id, "seq": next,
            "at": bson::DateTime::now(), "type": "member.joined", "data": {}},
        )
        .await
        .unwrap();

    let roster = store.find_roster(&acme.id).await.unwrap().unwrap();
    let joining = crate::suite::user("new@acme.io");
    let changed = crate::suite::with_member(roster.clone(), &joining.id, Role::Member);
    let failed = store.save_roster(&changed, Some(&joining)).await;
    assert!(failed.is_err(), "{failed:?}");

    assert_eq!(store.find_roster(&acme.id).await.unwrap(), Some(roster));
    assert_eq!(
        store.find_user_by_email(&joining.email).await.unwrap(),
        None
    );
    assert_eq!(store.find_user_by_id(&joining.id).await.unwrap(), None);
    assert_eq!(
        head(outboxes.find_one(doc! {"_id": &id}).await.unwrap()),
        before
    );
    assert!(store
        .find_organization_by_id(&acme.id)
        .await
        .unwrap()
        .is_some());
}
