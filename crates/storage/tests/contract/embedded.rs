use orgsvc_storage::EmbeddedStore;
use tempfile::TempDir;

use crate::suite;

pub struct Embedded {
    pub store: EmbeddedStore,
    _dir: TempDir,
}

async fn make(_test: &str) -> Option<Embedded> {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(&dir.path().join("orgsvc.redb")).unwrap();
    Some(Embedded { store, _dir: dir })
}

all_contract_tests!(make);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_survives_closing_and_reopening_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dir/orgsvc.redb");
    let (organization, document) = {
        let store = EmbeddedStore::open(&path).unwrap();
        suite::create_with_document(&store, "Durable Co", "d@durable.io").await
    };
    let store = EmbeddedStore::open(&path).unwrap();
    suite::assert_still_there(&store, &organization, &document).await;
}

#[test]
fn a_second_open_of_the_same_file_fails_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orgsvc.redb");
    let _first = EmbeddedStore::open(&path).unwrap();
    let err = EmbeddedStore::open(&path).unwrap_err().to_string();
    assert!(err.contains("is another orgsvc using it?"), "{err}");
}

/// Audit events are committed after their calls return (group commit, nobody waiting): a read
/// of the log right after still sees every one, and so does the next process when the store is
/// dropped right after recording them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_events_recorded_without_waiting_are_read_back_and_outlive_the_store() {
    use orgsvc_domain::ports::AuditLog;
    use orgsvc_domain::{AuditAction, OrganizationId};

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orgsvc.redb");
    let organization = OrganizationId::generate();
    let recorded = 200;
    {
        let store = EmbeddedStore::open(&path).unwrap();
        for n in 0..recorded {
            let event = suite::event(Some(organization), AuditAction::DocumentCreated, n);
            store.record(&event).await;
        }
        let read = store
            .list_audit_events(&organization, None, 1_000)
            .await
            .unwrap();
        assert_eq!(read.len(), 200);
        for n in recorded..2 * recorded {
            let event = suite::event(Some(organization), AuditAction::DocumentCreated, n);
            store.record(&event).await;
        }
    }
    let store = EmbeddedStore::open(&path).unwrap();
    let read = store
        .list_audit_events(&organization, None, 1_000)
        .await
        .unwrap();
    assert_eq!(read.len(), 400);
}

/// A file as the version before rosters wrote it (its tables and records, byte for byte in
/// shape): one organization with its one admin. Opening it gives the organization its roster,
/// the admin as owner, and does so once however often the file is opened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_written_before_rosters_gets_each_admin_as_owner_once() {
    use orgsvc_domain::{OrganizationId, UserId};
    use redb::{MultimapTableDefinition, TableDefinition};

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orgsvc.redb");
    let (organization, admin) = (OrganizationId::generate(), UserId::generate());
    let (org, adm) = (organization.as_uuid().as_u128(), admin.as_uuid().as_u128());
    {
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        fn records(name: &str) -> TableDefinition<'_, u128, &'static [u8]> {
            TableDefinition::new(name)
        }
        fn index(name: &str) -> TableDefinition<'_, &'static str, u128> {
            TableDefinition::new(name)
        }
        let at = "2026-05-06T07:08:09Z";
        // Ids are u128 numbers in these records (more than JSON values here can hold).
        let organization_record = format!(
            r#"{{"id":{org},"name":"Old Co","admin_id":{adm},"cluster":"embedded","database":"orgsvc","created_at":"{at}","updated_at":"{at}"}}"#
        );
        let admin_record = format!(
            r#"{{"id":{adm},"organization_id":{org},"email":"old@old.co","password_hash":"$argon2id$old","created_at":"{at}","token_version":3}}"#
        );
        txn.open_table(records("master.organizations"))
            .unwrap()
            .insert(org, organization_record.as_bytes())
            .unwrap();
        txn.open_table(records("master.admins"))
            .unwrap()
            .insert(adm, admin_record.as_bytes())
            .unwrap();
        txn.open_table(index("master.organization_slugs"))
            .unwrap()
            .insert("old_co", org)
            .unwrap();
        txn.open_table(index("master.admin_emails"))
            .unwrap()
            .insert("old@old.co", adm)
            .unwrap();
        let admins: MultimapTableDefinition<u128, u128> =
            MultimapTableDefinition::new("master.organization_admins");
        txn.open_multimap_table(admins)
            .unwrap()
            .insert(org, adm)
            .unwrap();
        txn.open_table(records("org_old_co")).unwrap();
        txn.commit().unwrap();
    }
    for _ in 0..2 {
        let store = EmbeddedStore::open(&path).unwrap();
        suite::assert_migrated(&store, &organization, &admin).await;
    }
    // At version 1 the legacy index is gone and the version recorded.
    let db = redb::Database::open(&path).unwrap();
    let txn = db.begin_read().unwrap();
    let admins: MultimapTableDefinition<u128, u128> =
        MultimapTableDefinition::new("master.organization_admins");
    assert!(matches!(
        txn.open_multimap_table(admins),
        Err(redb::TableError::TableDoesNotExist(_))
    ));
    assert_eq!(schema_version(&txn), Some(2));
}

fn schema_version(txn: &redb::ReadTransaction) -> Option<u64> {
    let schema: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("master.schema");
    let table = txn.open_table(schema).unwrap();
    let version = table.get("orgsvc").unwrap();
    version.map(|v| v.value())
}

/// A file as version 1 left it (no due index of webhook outboxes) gets the index at open, so
/// an outbox that was due when the previous release stopped is claimed by the next poll.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_1_file_gets_its_due_outboxes_indexed() {
    use orgsvc_domain::ports::{OrganizationStore as _, Outbox as _};

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orgsvc.redb");
    let organization = {
        let store = EmbeddedStore::open(&path).unwrap();
        let acme = suite::create(&store, "Acme", "a@acme.io").await;
        // A rename tells of itself: the outbox is due.
        store
            .update_organization(&suite::change(&acme, "Acme Renamed"))
            .await
            .unwrap();
        acme.id
    };
    {
        // What version 1 wrote: the same tables but the due index, and its version.
        let db = redb::Database::open(&path).unwrap();
        let txn = db.begin_write().unwrap();
        let due: redb::TableDefinition<(i64, u128), ()> =
            redb::TableDefinition::new("master.outbox_due");
        assert!(txn.delete_table(due).unwrap());
        let schema: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("master.schema");
        txn.open_table(schema).unwrap().insert("orgsvc", 1).unwrap();
        txn.commit().unwrap();
    }
    let store = EmbeddedStore::open(&path).unwrap();
    let now = chrono::Utc::now();
    let claims = store
        .claim_outboxes("worker", now, now + chrono::Duration::seconds(30), 10)
        .await
        .unwrap();
    assert_eq!(
        claims.iter().map(|c| c.organization_id).collect::<Vec<_>>(),
        [organization]
    );
    drop(store);
    let db = redb::Database::open(&path).unwrap();
    assert_eq!(schema_version(&db.begin_read().unwrap()), Some(2));
}

/// A file a newer orgsvc wrote is refused with a message that says so, and left as it was.
#[test]
fn a_file_at_a_newer_schema_version_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orgsvc.redb");
    drop(EmbeddedStore::open(&path).unwrap());
    {
        let db = redb::Database::open(&path).unwrap();
        let txn = db.begin_write().unwrap();
        let schema: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("master.schema");
        txn.open_table(schema)
            .unwrap()
            .insert("orgsvc", 99)
            .unwrap();
        txn.commit().unwrap();
    }
    let Err(refused) = EmbeddedStore::open(&path) else {
        panic!("a newer file is refused");
    };
    let message = refused.to_string();
    assert!(
        message.contains("schema version 99") && message.contains("run the newer orgsvc"),
        "{message}"
    );
    let db = redb::Database::open(&path).unwrap();
    assert_eq!(schema_version(&db.begin_read().unwrap()), Some(99));
}

/// A deletion record past its retention is not answered, and the next deletion removes it
/// from the file; one still within it stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_deletion_records_are_pruned_by_the_next_deletion() {
    use orgsvc_domain::ports::OrganizationStore as _;
    use redb::ReadableTableMetadata as _;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("orgsvc.redb");
    let store = EmbeddedStore::open(&path).unwrap();
    let mut request = suite::deletion();
    request.retention = chrono::Duration::zero();
    let gone = suite::create(&store, "Brief", "b@brief.io").await;
    store.delete_organization(&gone.id, &request).await.unwrap();
    assert_eq!(
        store.deletion_record(&request.receipt_id).await.unwrap(),
        None
    );
    let kept = suite::deletion();
    let later = suite::create(&store, "Later", "l@later.io").await;
    store.delete_organization(&later.id, &kept).await.unwrap();
    assert!(store
        .deletion_record(&kept.receipt_id)
        .await
        .unwrap()
        .is_some());
    drop(store);
    let db = redb::Database::open(&path).unwrap();
    let txn = db.begin_read().unwrap();
    let records: redb::TableDefinition<u128, &[u8]> =
        redb::TableDefinition::new("master.deletions");
    let expiry: redb::TableDefinition<(i64, u128), ()> =
        redb::TableDefinition::new("master.deletion_expiry");
    assert_eq!(txn.open_table(records).unwrap().len().unwrap(), 1);
    assert_eq!(txn.open_table(expiry).unwrap().len().unwrap(), 1);
}

/// Directories the store creates for its file are its user's alone (the file is 0600).
#[cfg(unix)]
#[test]
fn directories_created_for_the_file_are_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let _store = EmbeddedStore::open(&dir.path().join("data/orgsvc.redb")).unwrap();
    let mode = std::fs::metadata(dir.path().join("data"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
}
