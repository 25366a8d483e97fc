//! Snapshots of an organization's documents, as exports read them.

use std::collections::BTreeMap;

use orgsvc_domain::errors::SnapshotError;
use orgsvc_domain::ports::Store;
use orgsvc_domain::{Document, DocumentBody, DocumentId, ExportId, OrganizationId};

use super::{body, change, create, deletion, insert};

/// Every document of the snapshot, read `page` at a time, running `between` after each page
/// (with how many documents were read so far).
async fn read_snapshot<S: Store>(
    store: &S,
    organization: &OrganizationId,
    export: &ExportId,
    page: usize,
    mut between: impl AsyncFnMut(usize),
) -> Vec<Document> {
    let mut documents = Vec::new();
    let mut after: Option<DocumentId> = None;
    loop {
        let read = store
            .snapshot_page(organization, export, after.as_ref(), page)
            .await
            .unwrap();
        assert!(
            read.documents.len() <= page,
            "a page holds at most its limit"
        );
        documents.extend(read.documents);
        match read.next {
            Some(next) => after = Some(next),
            None => break,
        }
        between(documents.len()).await;
    }
    documents
}

/// Waits for `done`, for a minute at most.
async fn until(done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "still not done after a minute"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

fn by_id(documents: &[Document]) -> BTreeMap<DocumentId, DocumentBody> {
    documents.iter().map(|d| (d.id, d.body.clone())).collect()
}

pub async fn a_snapshot_shows_the_documents_as_they_were_when_it_opened(store: &impl Store) {
    let organization = create(store, "Acme", "a@acme.io").await;
    let mut before = Vec::new();
    for n in 0..40 {
        before.push(insert(store, &organization.id, n).await);
    }
    let export = ExportId::generate();
    let counted = store
        .open_snapshot(&organization.id, &export)
        .await
        .unwrap();
    assert_eq!(counted, 40, "how many documents the snapshot holds");
    let id = organization.id;
    let replace = |document: &Document, n: usize| {
        let document = Document {
            id: document.id,
            body: body(n),
        };
        async move { store.replace_document(&id, &document).await.unwrap() }
    };
    // Before the first page: changes everywhere, twice to some documents.
    replace(&before[0], 1000).await;
    replace(&before[0], 1001).await;
    replace(&before[39], 1039).await;
    store.delete_document(&id, &before[20].id).await.unwrap();
    insert(store, &id, 2000).await;
    let mut deleted = vec![before[20].id];
    let documents = read_snapshot(store, &id, &export, 7, async |read| {
        // At the cursor and ahead of it: replaced, deleted, created (the snapshot is `before`
        // in order, so the cursor is at `before[read - 1]`).
        let change = async |at: usize, n: usize| {
            if let Some(document) = before.get(at).filter(|d| !deleted.contains(&d.id)) {
                replace(document, n).await;
            }
        };
        change(read - 1, 3000 + read).await;
        change(read + 3, 4000 + read).await;
        if let Some(ahead) = before.get(read + 5).filter(|d| !deleted.contains(&d.id)) {
            store.delete_document(&id, &ahead.id).await.unwrap();
            deleted.push(ahead.id);
        }
        replace(&before[1], 5000 + read).await;
        insert(store, &id, 6000 + read).await;
    })
    .await;
    assert_eq!(
        documents.iter().map(|d| d.id).collect::<Vec<_>>(),
        before.iter().map(|d| d.id).collect::<Vec<_>>(),
        "the snapshot's documents, in id order"
    );
    assert_eq!(by_id(&documents), by_id(&before));
    // Reading it again gives the same moment.
    let again = read_snapshot(store, &id, &export, 100, async |_| {}).await;
    assert_eq!(again, documents);
    store.close_snapshot(&id, &export).await.unwrap();
    // Meanwhile the writes happened.
    let now = by_id(&store.list_documents(&id, None, 1000).await.unwrap());
    assert_eq!(now.get(&before[0].id), Some(&body(1001)));
    assert!(
        deleted.len() > 2,
        "documents ahead of the cursor were deleted"
    );
    for gone in &deleted {
        assert!(!now.contains_key(gone));
    }
    assert!(now.len() > 40 - deleted.len(), "documents were created");
}

pub async fn one_snapshot_per_organization_and_closing_lets_go(store: &impl Store) {
    let organization = create(store, "Acme", "a@acme.io").await;
    let other = create(store, "Globex", "g@globex.io").await;
    insert(store, &organization.id, 1).await;
    let (first, second) = (ExportId::generate(), ExportId::generate());
    let id = organization.id;
    store.open_snapshot(&id, &first).await.unwrap();
    // Opening it again is not an error; another export is told to wait.
    store.open_snapshot(&id, &first).await.unwrap();
    assert!(matches!(
        store.open_snapshot(&id, &second).await,
        Err(SnapshotError::Busy)
    ));
    assert!(matches!(
        store.snapshot_page(&id, &second, None, 10).await,
        Err(SnapshotError::Lost)
    ));
    // Another organization's snapshot is its own business.
    store.open_snapshot(&other.id, &second).await.unwrap();
    store.close_snapshot(&other.id, &second).await.unwrap();
    // Closed: gone, and the organization is free for the next export.
    store.close_snapshot(&id, &first).await.unwrap();
    store.close_snapshot(&id, &first).await.unwrap();
    assert!(matches!(
        store.snapshot_page(&id, &first, None, 10).await,
        Err(SnapshotError::Lost)
    ));
    store.open_snapshot(&id, &second).await.unwrap();
    let page = store.snapshot_page(&id, &second, None, 10).await.unwrap();
    assert_eq!(page.documents.len(), 1);
    assert_eq!(page.next, None);
    assert!(matches!(
        store
            .open_snapshot(&OrganizationId::generate(), &first)
            .await,
        Err(SnapshotError::OrganizationNotFound)
    ));
}

pub async fn a_snapshot_reads_on_through_a_rename(store: &impl Store) {
    let organization = create(store, "Acme", "a@acme.io").await;
    let mut before = Vec::new();
    for n in 0..30 {
        before.push(insert(store, &organization.id, n).await);
    }
    let (id, export) = (organization.id, ExportId::generate());
    store.open_snapshot(&id, &export).await.unwrap();
    let mut renamed = false;
    let documents = read_snapshot(store, &id, &export, 10, async |_| {
        if !renamed {
            store
                .update_organization(&change(&organization, "Acme Industries"))
                .await
                .unwrap();
            renamed = true;
        }
        let replaced = Document {
            id: before[25].id,
            body: body(99),
        };
        store.replace_document(&id, &replaced).await.unwrap();
        insert(store, &id, 100).await;
    })
    .await;
    assert!(renamed);
    assert_eq!(documents, before);
    store.close_snapshot(&id, &export).await.unwrap();
}

pub async fn a_deletion_names_the_last_export_if_there_was_one(store: &impl Store) {
    let never = create(store, "Globex", "g@globex.io").await;
    let record = store
        .delete_organization(&never.id, &deletion())
        .await
        .unwrap();
    assert_eq!(record.last_export_sha256, None);
    let organization = create(store, "Acme", "a@acme.io").await;
    store.record_export(&organization.id, "aa11").await.unwrap();
    store.record_export(&organization.id, "bb22").await.unwrap();
    // A rename keeps it.
    store
        .update_organization(&change(&organization, "Acme Industries"))
        .await
        .unwrap();
    let record = store
        .delete_organization(&organization.id, &deletion())
        .await
        .unwrap();
    assert_eq!(record.last_export_sha256.as_deref(), Some("bb22"));
    let kept = store.deletion_record(&record.id).await.unwrap().unwrap();
    assert_eq!(kept.last_export_sha256.as_deref(), Some("bb22"));
    // Of an organization that is gone: nothing to keep, and no error.
    store.record_export(&organization.id, "cc33").await.unwrap();
}

pub async fn nothing_of_a_deleted_organization_is_read_from_its_snapshot(store: &impl Store) {
    let organization = create(store, "Acme", "a@acme.io").await;
    for n in 0..5 {
        insert(store, &organization.id, n).await;
    }
    let (id, export) = (organization.id, ExportId::generate());
    store.open_snapshot(&id, &export).await.unwrap();
    let first = store.snapshot_page(&id, &export, None, 2).await.unwrap();
    assert_eq!(first.documents.len(), 2);
    store.delete_organization(&id, &deletion()).await.unwrap();
    assert!(matches!(
        store
            .snapshot_page(&id, &export, first.next.as_ref(), 2)
            .await,
        Err(SnapshotError::OrganizationNotFound)
    ));
    store.close_snapshot(&id, &export).await.unwrap();
}

pub async fn a_snapshot_opened_amid_writes_has_each_write_from_before_and_none_from_after(
    store: &impl Store,
) {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Instant;

    /// One writer per document, each write numbered: when it began and when it was answered.
    struct Write {
        n: usize,
        began: Instant,
        answered: Instant,
    }

    let organization = create(store, "Acme", "a@acme.io").await;
    let id = organization.id;
    let mut documents = Vec::new();
    for _ in 0..24 {
        documents.push(insert(store, &id, 0).await);
    }
    let stop = Arc::new(AtomicBool::new(false));
    // Writes answered that began once the snapshot was open.
    let since = Arc::new(AtomicUsize::new(0));
    let written = Arc::new(AtomicUsize::new(0));
    let open = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = documents
        .iter()
        .map(|document| {
            let (store, stop, document) = (store.clone(), Arc::clone(&stop), document.id);
            let (since, open) = (Arc::clone(&since), Arc::clone(&open));
            let written = Arc::clone(&written);
            tokio::spawn(async move {
                let mut writes = Vec::new();
                for n in 1.. {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    // An in-memory store answers without ever pausing: pace the writers so
                    // the snapshot gets its turn among them.
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                    let began = Instant::now();
                    let after_open = open.load(Ordering::SeqCst);
                    let replaced = Document {
                        id: document,
                        body: body(n),
                    };
                    store.replace_document(&id, &replaced).await.unwrap();
                    written.fetch_add(1, Ordering::SeqCst);
                    if after_open {
                        since.fetch_add(1, Ordering::SeqCst);
                    }
                    writes.push(Write {
                        n,
                        began,
                        answered: Instant::now(),
                    });
                }
                (document, writes)
            })
        })
        .collect();
    // Every writer going before the snapshot opens in their midst.
    until(|| written.load(Ordering::SeqCst) >= 2 * documents.len()).await;
    let export = ExportId::generate();
    let asked = Instant::now();
    store.open_snapshot(&id, &export).await.unwrap();
    let opened = Instant::now();
    open.store(true, Ordering::SeqCst);
    // Every document written again before the rest of the snapshot is read.
    let mut waited = false;
    let seen = read_snapshot(store, &id, &export, 5, async |_| {
        if !waited {
            waited = true;
            until(|| since.load(Ordering::SeqCst) >= 2 * documents.len()).await;
        }
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    store.close_snapshot(&id, &export).await.unwrap();
    let seen = by_id(&seen);
    assert_eq!(seen.len(), documents.len());
    for writer in writers {
        let (document, writes) = writer.await.unwrap();
        let shown = seen[&document].clone().into_fields()["n"].as_u64().unwrap() as usize;
        let before = writes
            .iter()
            .filter(|w| w.answered < asked)
            .map(|w| w.n)
            .max();
        let after = writes
            .iter()
            .filter(|w| w.began > opened)
            .map(|w| w.n)
            .min();
        assert!(
            before.is_none_or(|n| shown >= n),
            "{document}: write {before:?} was answered before the snapshot opened; it shows {shown}"
        );
        assert!(
            after.is_none_or(|n| shown < n),
            "{document}: write {after:?} began after the snapshot opened; it shows {shown}"
        );
    }
}
