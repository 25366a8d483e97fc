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
