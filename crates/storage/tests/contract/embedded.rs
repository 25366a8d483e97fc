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
