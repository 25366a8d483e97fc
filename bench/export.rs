//! How fast an export writes an organization's documents, and how much memory it takes, next
//! to references measured in the same run: on MongoDB, the raw driver reading the same
//! collection in `_id` order (one cursor, the driver's batches); on the embedded store, paging
//! through the same documents with the port's `list_documents`.
//!
//! A second row per store runs the same export as a job of the API's worker, its bundle stored
//! in the store's chunks instead of dropped.
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
use orgsvc_domain::ports::{Store, SystemClock, TenantStore};
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

/// Runs `work`, sampling the resident set meanwhile; answers its output, the time it took
/// and the resident set before and at its largest.
async fn sampled<T>(work: impl std::future::Future<Output = T>) -> (T, Duration, u64, u64) {
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
    let output = work.await;
    let took = started.elapsed();
    done.store(true, Ordering::SeqCst);
    sampler.join().unwrap();
    (output, took, before, peak.load(Ordering::SeqCst))
}

/// Runs the export of `organization` into a sink that drops the bytes.
async fn time_export(store: &impl Store, organization: &Organization) -> Exported {
    let export = orgsvc_domain::export::write_bundle(
        store,
        organization,
        ExportId::generate(),
        chrono::Utc::now(),
        Counting::default(),
        |_, _| {},
    );
    let (written, took, before, peak) = sampled(export).await;
    let (sink, written) = written.unwrap();
    assert_eq!(sink.0, written.bytes);
    Exported {
        took,
        bytes: written.bytes,
        before,
        peak,
    }
}

/// Runs an export job of `organization` as the API's worker does: the bundle stored in the
/// store's chunks.
async fn time_job<S: Store>(store: &S, organization: &Organization) -> Exported {
    use orgsvc_domain::ExportApi as _;
    let hasher =
        orgsvc_crypto::Argon2Hasher::new(orgsvc_crypto::Argon2Settings::default()).unwrap();
    let tokens = orgsvc_crypto::JwtCodec::new(&orgsvc_crypto::JwtSettings {
        key: orgsvc_crypto::SigningKey::Secret("bench-secret-bench-secret-0123456789".into()),
        algorithm: orgsvc_crypto::JwtAlgorithm::HS256,
        issuer: "bench".to_owned(),
        audience: "bench".to_owned(),
        ttl_seconds: 60,
    })
    .unwrap();
    let service = orgsvc_domain::Service::new(store.clone(), hasher, tokens, SystemClock);
    let owner = orgsvc_domain::Principal {
        user_id: organization.owner.id,
        organization_id: organization.id,
        role: orgsvc_domain::Role::Owner,
        token_version: 0,
        key: None,
    };
    let job = service
        .request_export(&orgsvc_domain::Origin::default(), &owner)
        .await
        .unwrap();
    let exporter = orgsvc_domain::Exporter::new(service.clone(), "bench".to_owned());
    let work = async {
        let claimed = exporter.claim().await.unwrap().unwrap();
        exporter.work(&claimed).await.unwrap()
    };
    let (attempted, took, before, peak) = sampled(work).await;
    assert!(attempted.trouble.is_none(), "{:?}", attempted.trouble);
    let done = service.export_job(&owner, &job.id).await.unwrap();
    assert_eq!(done.state, orgsvc_domain::export::job::ExportState::Done);
    Exported {
        took,
        bytes: done.bytes,
        before,
        peak,
    }
}

/// The row of an export job, against the same reference.
fn job_row(store: &str, documents: usize, reference: Duration, job: &Exported) -> String {
    format!(
        "| {store}, export job (bundle stored) | {documents} | | | job {:.1?} ({:.0}/s), {} MB stored | **{:.0}%** | {} |",
        job.took,
        rate(documents, job.took),
        job.bytes / 1_000_000,
        100.0 * reference.as_secs_f64() / job.took.as_secs_f64(),
        job.memory(),
    )
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
    let job = time_job(&store, &organization).await;
    for database in [&settings.master_database, &settings.tenant_database] {
        let _ = client.database(database).drop().await;
    }
    let row = format!(
        "| MongoDB (DocumentDB) | {documents} | {} MB stored | raw driver read {raw:.1?} ({:.0}/s) | export {:.1?} ({:.0}/s), {} MB written | **{:.0}%** | {} |",
        bytes / 1_000_000,
        rate(documents, raw),
        export.took,
        rate(documents, export.took),
        export.bytes / 1_000_000,
        100.0 * raw.as_secs_f64() / export.took.as_secs_f64(),
        export.memory(),
    );
    format!("{row}\n{}", job_row("MongoDB", documents, raw, &job))
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
    let job = time_job(&store, &organization).await;
    let row = format!(
        "| embedded | {documents} | | list_documents pages of 1,000 {paged:.1?} ({:.0}/s) | export {:.1?} ({:.0}/s), {} MB written | **{:.0}%** | {} |",
        rate(documents, paged),
        export.took,
        rate(documents, export.took),
        export.bytes / 1_000_000,
        100.0 * paged.as_secs_f64() / export.took.as_secs_f64(),
        export.memory(),
    );
    format!("{row}\n{}", job_row("embedded", documents, paged, &job))
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
