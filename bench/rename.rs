//! How long renaming and moving an organization take, by storage path and size, measured in one
//! run next to a raw driver copy of the same documents (these machines are shared; absolute
//! times vary, ratios hold better).
//!
//!     cargo bench --bench rename --profile dev            # 1,000 / 10,000 / 100,000 documents
//!     ORGSVC_BENCH_SIZES=20000 cargo bench --bench rename --profile dev
//!
//! MongoDB figures use ORGSVC_TEST_MONGODB_URI, or a DocumentDB started for the run; the move to
//! another cluster goes to a second DocumentDB started for the run (two names for one server are
//! refused: a move between them would copy a collection onto itself), and its reference copies
//! between the same two servers.

#[path = "common.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures_util::TryStreamExt as _;
use mongodb::bson::{doc, Document as BsonDocument};
use orgsvc_domain::ports::{OrganizationChange, OrganizationStore, TenantStore};
use orgsvc_domain::{
    Document, DocumentBody, DocumentId, Organization, OrganizationName, TenancyModel,
};
use orgsvc_storage::mongo::{ClusterSettings, RenameMode};
use orgsvc_storage::{EmbeddedStore, MongoSettings, MongoStore};
use serde_json::json;

const BATCH: usize = 1_000;

fn body(n: usize) -> serde_json::Value {
    json!({"n": n, "title": "quarterly report", "tags": ["a", "b"]})
}

/// An organization holding `documents` documents, inserted through the port 64 at a time
/// (concurrent writes share the embedded store's commits).
async fn embedded_organization(store: &EmbeddedStore, documents: usize) -> Organization {
    let organization = common::create_organization(store, "embedded").await;
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
    organization
}

/// An organization on MongoDB holding `documents` documents, written straight into its
/// collection in bulk (as the adapter stores them) to keep the setup short.
async fn mongo_organization(
    client: &mongodb::Client,
    store: &MongoStore,
    settings: &MongoSettings,
    label: &str,
    documents: usize,
) -> Organization {
    let organization = common::create_organization(store, label).await;
    let collection = client
        .database(&settings.tenant_database)
        .collection::<BsonDocument>(organization.collection_name().as_str());
    fill(&collection, documents).await;
    organization
}

async fn fill(collection: &mongodb::Collection<BsonDocument>, documents: usize) {
    let all: Vec<BsonDocument> = (0..documents)
        .map(|n| {
            let mut stored = mongodb::bson::to_document(&body(n)).unwrap();
            stored.insert("_id", DocumentId::generate().to_string());
            stored
        })
        .collect();
    for chunk in all.chunks(5_000) {
        collection.insert_many(chunk.to_vec()).await.unwrap();
    }
}

async fn time_rename(
    store: &(impl OrganizationStore + TenantStore),
    organization: &Organization,
) -> Duration {
    let change = OrganizationChange {
        organization_id: organization.id,
        user_id: organization.owner.id,
        name: OrganizationName::new(&format!("{} renamed", organization.name)).unwrap(),
        email: None,
        password_hash: None,
        updated_at: Utc::now(),
    };
    let started = Instant::now();
    store.update_organization(&change).await.unwrap();
    started.elapsed()
}

/// The reference: the raw driver copying a collection, one sorted cursor read in batches of
/// the adapter's size, inserted unordered, as a careful operator's script would.
async fn raw_copy(
    from: &mongodb::Collection<BsonDocument>,
    to: &mongodb::Collection<BsonDocument>,
) -> Duration {
    let started = Instant::now();
    let mut cursor = from
        .find(doc! {})
        .sort(doc! {"_id": 1})
        .batch_size(BATCH as u32)
        .await
        .unwrap();
    let mut batch = Vec::with_capacity(BATCH);
    while let Some(document) = cursor.try_next().await.unwrap() {
        batch.push(document);
        if batch.len() == BATCH {
            to.insert_many(std::mem::take(&mut batch))
                .ordered(false)
                .await
                .unwrap();
        }
    }
    if !batch.is_empty() {
        to.insert_many(batch).ordered(false).await.unwrap();
    }
    started.elapsed()
}

fn mongo_settings(uri: &str, other: &str, rename: RenameMode) -> MongoSettings {
    let mut settings = MongoSettings::for_uri(uri);
    settings.master_database = orgsvc_testkit::unique_name("bm");
    settings.tenant_database = orgsvc_testkit::unique_name("bt");
    settings.rename = rename;
    settings.copy_batch_size = BATCH;
    settings.recovery_interval_seconds = 0;
    settings.clusters.insert(
        "other".into(),
        ClusterSettings {
            uri: other.to_owned().into(),
        },
    );
    settings
}

/// What is timed on a store of its own.
#[derive(Clone, Copy)]
enum Path {
    Rename(RenameMode),
    /// `orgsvc move-org` to this cluster and/or tenancy model.
    Move(Option<&'static str>, Option<TenancyModel>),
}

/// `path` on an organization of `documents` documents in databases of its own; how long it
/// took, and the settings naming those databases (for the cleanup).
async fn time_path(
    client: &mongodb::Client,
    (uri, other): (&str, &str),
    documents: usize,
    path: Path,
) -> (Duration, MongoSettings) {
    let mode = match path {
        Path::Rename(mode) => mode,
        Path::Move(..) => RenameMode::Auto,
    };
    let settings = mongo_settings(uri, other, mode);
    let store = MongoStore::connect(settings.clone()).await.unwrap();
    let organization = mongo_organization(client, &store, &settings, "b", documents).await;
    let took = match path {
        Path::Rename(_) => time_rename(&store, &organization).await,
        Path::Move(cluster, model) => {
            let started = Instant::now();
            store
                .move_organization(&organization.name, cluster, model)
                .await
                .unwrap();
            started.elapsed()
        }
    };
    (took, settings)
}

fn rate(documents: usize, took: Duration) -> f64 {
    documents as f64 / took.as_secs_f64()
}

#[tokio::main]
async fn main() {
    let sizes: Vec<usize> = std::env::var("ORGSVC_BENCH_SIZES")
        .unwrap_or_else(|_| "1000,10000,100000".into())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    let uri = orgsvc_testkit::mongodb_uri().ok();
    let client = match uri {
        Some(uri) => Some(mongodb::Client::with_uri_str(uri).await.unwrap()),
        None => None,
    };
    let second = uri.map(|_| orgsvc_testkit::DocumentDb::start().expect("a second DocumentDB"));
    let other_uri = second.as_ref().map(orgsvc_testkit::DocumentDb::uri);
    let other_client = match &other_uri {
        Some(uri) => Some(mongodb::Client::with_uri_str(uri).await.unwrap()),
        None => None,
    };
    println!("| documents | embedded rename | renameCollection | copy rename | move to another cluster | move to a database of its own | raw driver copy (one server, two) | copy, moves / raw (docs/s) |");
    println!("|---|---|---|---|---|---|---|---|");
    for documents in sizes {
        let dir = tempfile::tempdir().unwrap();
        let embedded = EmbeddedStore::open(&dir.path().join("bench.redb")).unwrap();
        let organization = embedded_organization(&embedded, documents).await;
        let embedded_time = time_rename(&embedded, &organization).await;
        let (Some(uri), Some(client), Some(other_uri), Some(other)) =
            (uri, &client, &other_uri, &other_client)
        else {
            println!("| {documents} | {embedded_time:.1?} | MongoDB unavailable | | | | | |");
            continue;
        };

        // Each path on databases of its own, holding just its organization, so no path is
        // timed against what an earlier one left behind.
        let paths = [
            Path::Rename(RenameMode::Auto),
            Path::Move(Some("other"), None),
            Path::Move(None, Some(TenancyModel::Database)),
            Path::Rename(RenameMode::Copy),
        ];
        let mut took = Vec::new();
        let mut used = Vec::new();
        for path in paths {
            let (time, settings) = time_path(client, (uri, other_uri), documents, path).await;
            took.push(time);
            used.push(settings);
        }
        let [in_place, moved, remodelled, copied] = took[..] else {
            unreachable!("one time per path")
        };

        let scratch = client.database(&orgsvc_testkit::unique_name("bench_raw"));
        let source = scratch.collection::<BsonDocument>("source");
        fill(&source, documents).await;
        let raw = raw_copy(&source, &scratch.collection("target")).await;
        // The same copy onto the second server, as a move between clusters reads and writes.
        let other_target = other.database(scratch.name()).collection("target_two");
        let raw_two = raw_copy(&source, &other_target).await;
        println!(
            "| {documents} | {embedded_time:.1?} | {in_place:.1?} | {copied:.1?} | {moved:.1?} | {remodelled:.1?} | {raw:.1?} ({:.0}/s), {raw_two:.1?} | {:.0}%, {:.0}% ({:.0}% of the two-server copy), {:.0}% |",
            rate(documents, raw),
            100.0 * rate(documents, copied) / rate(documents, raw),
            100.0 * rate(documents, moved) / rate(documents, raw),
            100.0 * rate(documents, moved) / rate(documents, raw_two),
            100.0 * rate(documents, remodelled) / rate(documents, raw),
        );
        for settings in &used {
            for database in [&settings.master_database, &settings.tenant_database] {
                let _ = client.database(database).drop().await;
                let _ = other.database(database).drop().await;
            }
        }
        let _ = scratch.drop().await;
        let _ = other.database(scratch.name()).drop().await;
    }
}
