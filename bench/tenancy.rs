//! Creating organizations under each tenancy model, up to many of them: create latency near the
//! start and near the end, and what the master and tenant data occupy, all in one run.
//!
//!     cargo bench --bench tenancy --profile dev                    # 20,000 per model
//!     ORGSVC_BENCH_ORGS=2000 cargo bench --bench tenancy --profile dev
//!
//! Creates go through the storage port (no password hashing: that is the same for every
//! model), 8 at a time. The reference, in the same run: the raw driver doing what any
//! crash-safe create needs at least on the master (insert a record carrying an intent under a
//! unique index, then clear the intent with a conditional update), as many times. Uses ORGSVC_TEST_MONGODB_URI, or a FerretDB started for the run.

#[path = "common.rs"]
mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mongodb::bson::doc;
use orgsvc_domain::{OrganizationId, TenancyModel};
use orgsvc_storage::{MongoSettings, MongoStore};

const CONCURRENCY: usize = 8;
/// Latencies are reported for this many creates at the start and at the end.
const WINDOW: usize = 500;

async fn create(store: &MongoStore, n: usize) -> Duration {
    let started = Instant::now();
    common::create_organization(store, &n.to_string()).await;
    started.elapsed()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at.min(sorted.len() - 1)]
}

fn summary(latencies: &[Duration]) -> String {
    let mut sorted = latencies.to_vec();
    sorted.sort();
    format!(
        "p50 {:>6.1?} p99 {:>6.1?}",
        percentile(&sorted, 0.5),
        percentile(&sorted, 0.99)
    )
}

/// Bytes a database's data and indexes take on disk (`dbStats`), or 0 if the server says not.
async fn size(client: &mongodb::Client, database: &str) -> i64 {
    let stats = client
        .database(database)
        .run_command(doc! {"dbStats": 1})
        .await
        .unwrap_or_default();
    let number = |key: &str| {
        stats
            .get(key)
            .and_then(|v| {
                v.as_f64()
                    .or(v.as_i64().map(|n| n as f64))
                    .or(v.as_i32().map(f64::from))
            })
            .unwrap_or(0.0) as i64
    };
    number("storageSize").max(number("dataSize")) + number("indexSize")
}

fn mib(bytes: i64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// `count` inserts under a unique index, each followed by an update by `_id`, 8 at a time:
/// each pair's latency, and the time for all.
async fn reference(client: &mongodb::Client, count: usize) -> (Vec<Duration>, Duration) {
    let database = client.database(&orgsvc_testkit::unique_name("bref"));
    let records = database.collection::<mongodb::bson::Document>("records");
    let unique = mongodb::IndexModel::builder()
        .keys(doc! {"slug": 1})
        .options(
            mongodb::options::IndexOptions::builder()
                .unique(true)
                .build(),
        )
        .build();
    records.create_index(unique).await.unwrap();
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..CONCURRENCY {
        let (records, next) = (records.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut timed = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count {
                    return timed;
                }
                let id = OrganizationId::generate().to_string();
                let began = Instant::now();
                let record =
                    doc! {"_id": &id, "slug": format!("bench_{n}"), "intent": {"op": "create"}};
                records.insert_one(record).await.unwrap();
                // Conditional, as clearing an intent one owns must be.
                records
                    .update_one(
                        doc! {"_id": &id, "intent.op": "create"},
                        doc! {"$unset": {"intent": ""}},
                    )
                    .await
                    .unwrap();
                timed.push((n, began.elapsed()));
            }
        }));
    }
    let mut latencies = vec![Duration::ZERO; count];
    for worker in workers {
        for (n, latency) in worker.await.unwrap() {
            latencies[n] = latency;
        }
    }
    let elapsed = started.elapsed();
    let _ = database.drop().await;
    (latencies, elapsed)
}

#[tokio::main]
async fn main() {
    let organizations: usize = std::env::var("ORGSVC_BENCH_ORGS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000);
    let uri = match orgsvc_testkit::mongodb_uri() {
        Ok(uri) => uri,
        Err(e) => {
            println!("MongoDB unavailable, nothing measured: {e:?}");
            return;
        }
    };
    let client = mongodb::Client::with_uri_str(uri).await.unwrap();
    println!("creating {organizations} organizations per tenancy model, {CONCURRENCY} at a time");
    println!(
        "| model | first {WINDOW} creates | last {WINDOW} creates | creates/s | master | tenant data | collections | databases |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let reference = reference(&client, organizations).await;
    let window = WINDOW.min(organizations);
    println!(
        "| reference: raw driver insert + conditional update | {} | {} | {:.0} | | | | |",
        summary(&reference.0[..window]),
        summary(&reference.0[organizations - window..]),
        organizations as f64 / reference.1.as_secs_f64(),
    );
    for model in TenancyModel::ALL {
        let mut settings = MongoSettings::for_uri(uri);
        settings.master_database = orgsvc_testkit::unique_name("bm");
        settings.tenant_database = orgsvc_testkit::unique_name("bt");
        settings.tenancy = model;
        settings.recovery_interval_seconds = 0;
        let store = MongoStore::connect(settings.clone()).await.unwrap();
        let next = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let mut workers = Vec::new();
        for _ in 0..CONCURRENCY {
            let (store, next) = (store.clone(), next.clone());
            workers.push(tokio::spawn(async move {
                let mut timed = Vec::new();
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= organizations {
                        return timed;
                    }
                    timed.push((n, create(&store, n).await));
                }
            }));
        }
        let mut latencies = vec![Duration::ZERO; organizations];
        for worker in workers {
            for (n, latency) in worker.await.unwrap() {
                latencies[n] = latency;
            }
        }
        let elapsed = started.elapsed();
        let master = size(&client, &settings.master_database).await;
        let own_prefix = format!("{}_", settings.tenant_database);
        let databases: Vec<String> = client
            .list_database_names()
            .await
            .unwrap()
            .into_iter()
            .filter(|d| *d == settings.tenant_database || d.starts_with(&own_prefix))
            .collect();
        let mut tenant_bytes = 0;
        let mut collections = 0;
        for database in &databases {
            tenant_bytes += size(&client, database).await;
            collections += client
                .database(database)
                .list_collection_names()
                .await
                .unwrap()
                .len();
        }
        println!(
            "| {model} | {} | {} | {:.0} | {} | {} | {collections} | {} |",
            summary(&latencies[..window]),
            summary(&latencies[organizations - window..]),
            organizations as f64 / elapsed.as_secs_f64(),
            mib(master),
            mib(tenant_bytes),
            databases.len(),
        );
        // Leave the server as it was.
        for database in databases
            .iter()
            .chain(std::iter::once(&settings.master_database))
        {
            let _ = client.database(database).drop().await;
        }
    }
}
