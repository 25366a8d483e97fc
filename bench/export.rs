//! How fast an export writes an organization's documents, and how much memory it takes, next
//! to references measured in the same run: on MongoDB, the raw driver reading the same
//! collection in `_id` order (one cursor, the driver's batches); on the embedded store, paging
//! through the same documents with the port's `list_documents`.
//!
//!     cargo bench --bench export                                # 200,000 documents of ~2.5 KB
//!     ORGSVC_BENCH_EXPORT_DOCUMENTS=20000 cargo bench --bench export
//!
//! MongoDB figures use ORGSVC_TEST_MONGODB_URI, or a DocumentDB started for the run. Memory is
//! the process's largest resident set during the export (sampled every 5 ms) over its
//! resident set just before.

#[path = "common.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::TryStreamExt as _;
use mongodb::bson::{doc, Document as BsonDocument, RawDocumentBuf};
use orgsvc_domain::bundle::BundleSink;
use orgsvc_domain::errors::StoreError;
use orgsvc_domain::ports::{Store, TenantStore};
use orgsvc_domain::{Document, DocumentBody, DocumentId, ExportId, Organization};
use orgsvc_storage::{EmbeddedStore, MongoSettings, MongoStore};
use serde_json::json;

/// About 2.5 KB stored, so 200,000 of them are the 500 MB the export is specified for.
fn body(n: usize) -> serde_json::Value {
    json!({
        "n": n,
        "title": format!("quarterly report {n}"),
        "tags": ["a", "b", ["nested", n]],
        "text": "lorem ipsum dolor sit amet ".repeat(90),
    })
}

/// Counts what the export writes and drops it: the figure is the export's own.
#[derive(Default)]
struct Counting(u64);

impl BundleSink for Counting {
    async fn write(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        self.0 += bytes.len() as u64;
        Ok(())
    }
}

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kib| kib.parse().ok())
        .unwrap_or(0)
}

/// What an export took: time, bytes written, resident set before and at its largest (KiB).
struct Exported {
    took: Duration,
    bytes: u64,
    before: u64,
    peak: u64,
}

impl Exported {
    fn memory(&self) -> String {
        format!(
            "+{} MiB (peak {} MiB, {} MiB before)",
            self.peak.saturating_sub(self.before) / 1024,
            self.peak / 1024,
            self.before / 1024
        )
    }
}

/// Runs the export of `organization`, sampling the resident set meanwhile.
async fn time_export(store: &impl Store, organization: &Organization) -> Exported {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let before = status_kib("VmRSS:");
    let (done, peak) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(before)),
    );
    let sampler = {
        let (done, peak) = (Arc::clone(&done), Arc::clone(&peak));
        std::thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                peak.fetch_max(status_kib("VmRSS:"), Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let started = Instant::now();
    let (sink, written) = orgsvc_domain::export::write_bundle(
        store,
        organization,
        ExportId::generate(),
        chrono::Utc::now(),
        Counting::default(),
        |_| {},
    )
    .await
    .unwrap();
    let took = started.elapsed();
    done.store(true, Ordering::SeqCst);
    sampler.join().unwrap();
    assert_eq!(sink.0, written.bytes);
    Exported {
        took,
        bytes: written.bytes,
        before,
        peak: peak.load(Ordering::SeqCst),
    }
}

fn rate(documents: usize, took: Duration) -> f64 {
    documents as f64 / took.as_secs_f64()
}

async fn mongodb(uri: &str, documents: usize) -> String {
    let client = mongodb::Client::with_uri_str(uri).await.unwrap();
    let mut settings = MongoSettings::for_uri(uri);
    settings.master_database = orgsvc_testkit::unique_name("em");
    settings.tenant_database = orgsvc_testkit::unique_name("et");
    settings.recovery_interval_seconds = 0;
    let store = MongoStore::connect(settings.clone()).await.unwrap();
    let organization = common::create_organization(&store, "export").await;
    let collection = client
        .database(&settings.tenant_database)
        .collection::<BsonDocument>(organization.collection_name().as_str());
    for start in (0..documents).step_by(2_000) {
        let batch: Vec<BsonDocument> = (start..documents.min(start + 2_000))
            .map(|n| {
                let mut stored = mongodb::bson::to_document(&body(n)).unwrap();
                stored.insert("_id", DocumentId::generate().to_string());
                stored
            })
            .collect();
        collection.insert_many(batch).await.unwrap();
    }

    let started = Instant::now();
    let mut cursor = collection
        .clone_with_type::<RawDocumentBuf>()
        .find(doc! {})
        .sort(doc! {"_id": 1})
        .await
        .unwrap();
    let (mut read, mut bytes) = (0, 0);
    while let Some(document) = cursor.try_next().await.unwrap() {
        read += 1;
        bytes += document.as_bytes().len();
    }
    let raw = started.elapsed();
    assert_eq!(read, documents);

    let export = time_export(&store, &organization).await;
    for database in [&settings.master_database, &settings.tenant_database] {
        let _ = client.database(database).drop().await;
    }
    format!(
        "| MongoDB (DocumentDB) | {documents} | {} MB stored | raw driver read {raw:.1?} ({:.0}/s) | export {:.1?} ({:.0}/s), {} MB written | **{:.0}%** | {} |",
        bytes / 1_000_000,
        rate(documents, raw),
        export.took,
        rate(documents, export.took),
        export.bytes / 1_000_000,
        100.0 * raw.as_secs_f64() / export.took.as_secs_f64(),
        export.memory(),
    )
}

async fn embedded(documents: usize) -> String {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(&dir.path().join("bench.redb")).unwrap();
    let organization = common::create_organization(&store, "export").await;
    let id = organization.id;
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut writers = Vec::new();
    for _ in 0..64 {
        let (store, next) = (store.clone(), next.clone());
        writers.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= documents {
                    return;
                }
                let document = Document {
                    id: DocumentId::generate(),
                    body: DocumentBody::new(body(n).as_object().unwrap().clone()).unwrap(),
                };
                store.insert_document(&id, &document).await.unwrap();
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }

    let started = Instant::now();
    let (mut after, mut read) = (None, 0);
    loop {
        let page = store
            .list_documents(&id, after.as_ref(), 1_000)
            .await
            .unwrap();
        read += page.len();
        match page.last() {
            Some(last) if page.len() == 1_000 => after = Some(last.id),
            _ => break,
        }
    }
    let paged = started.elapsed();
    assert_eq!(read, documents);

    let export = time_export(&store, &organization).await;
    format!(
        "| embedded | {documents} | | list_documents pages of 1,000 {paged:.1?} ({:.0}/s) | export {:.1?} ({:.0}/s), {} MB written | **{:.0}%** | {} |",
        rate(documents, paged),
        export.took,
        rate(documents, export.took),
        export.bytes / 1_000_000,
        100.0 * paged.as_secs_f64() / export.took.as_secs_f64(),
        export.memory(),
    )
}

#[tokio::main]
async fn main() {
    let documents: usize = std::env::var("ORGSVC_BENCH_EXPORT_DOCUMENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200_000);
    println!("| store | documents | size | reference | export | export / reference | resident set during the export |");
    println!("|---|---|---|---|---|---|---|");
    match orgsvc_testkit::mongodb_uri() {
        Ok(uri) => println!("{}", mongodb(uri, documents).await),
        Err(_) => println!("| MongoDB | unavailable | | | | | |"),
    }
    println!("{}", embedded(documents).await);
}
