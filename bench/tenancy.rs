//! Creating organizations under each tenancy model, with few and with many of them: create
//! latency on an empty store and on one holding ORGSVC_BENCH_ORGS organizations, and what the
//! master and tenant data then occupy, all in one run.
//!
//!     cargo bench --bench tenancy --profile dev                    # 20,000 per model
//!     ORGSVC_BENCH_MODELS=shared cargo bench --bench tenancy --profile dev
//!     ORGSVC_BENCH_ORGS=2000 ORGSVC_BENCH_WINDOW=100 cargo bench --bench tenancy --profile dev
//!
//! Timed creates go through the storage port (no password hashing: that is the same for every
//! model), 8 at a time. Between the two timed windows the store is filled in bulk (bulk.rs). The reference, in the
//! same run and at the same sizes: the raw driver doing what any crash-safe create needs at
//! least (insert a record carrying an intent under a unique index, then clear the intent with a
//! conditional update). Uses ORGSVC_TEST_MONGODB_URI, or a DocumentDB started for the run.
//! On DocumentDB run one model per invocation at 20,000: dropping a database of 20,000
//! collections runs out of PostgreSQL's lock table, and the next model's connection is refused.

#[path = "bulk.rs"]
mod bulk;
#[path = "common.rs"]
mod common;

use std::time::Duration;

use bulk::{concurrently, fill, CONCURRENCY};
use mongodb::bson::{doc, Document};
use mongodb::options::IndexOptions;
use mongodb::{Client, Collection, IndexModel};
use orgsvc_domain::{OrganizationId, TenancyModel};
use orgsvc_storage::{MongoSettings, MongoStore};

/// `name` from the environment, else `default`.
fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

fn summary(latencies: &[Duration]) -> String {
    let mut sorted = latencies.to_vec();
    sorted.sort();
    let at = |p: f64| sorted[((sorted.len() as f64 - 1.0) * p).round() as usize];
    format!("p50 {:.1?}, p99 {:.1?}", at(0.5), at(0.99))
}

/// Bytes a database's data and indexes take (`dbStats`), or 0 if the server says not.
async fn size(client: &Client, database: &str) -> i64 {
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

/// The reference's record `n`, and the conditional clear of its intent.
async fn reference_create(records: &Collection<Document>, n: usize) {
    let id = OrganizationId::generate().to_string();
    let record = doc! {"_id": &id, "slug": format!("ref_{n}"), "intent": {"op": "create"}};
    records.insert_one(record).await.unwrap();
    let owned = doc! {"_id": &id, "intent.op": "create"};
    records
        .update_one(owned, doc! {"$unset": {"intent": ""}})
        .await
        .unwrap();
}

#[tokio::main]
async fn main() {
    // Creates timed on the empty store and on the full one.
    let window = setting("ORGSVC_BENCH_WINDOW", 500).max(1);
    let organizations = setting("ORGSVC_BENCH_ORGS", 20_000).max(2 * window);
    let uri = match orgsvc_testkit::mongodb_uri() {
        Ok(uri) => uri,
        Err(e) => {
            println!("MongoDB unavailable, nothing measured: {e:?}");
            return;
        }
    };
    let client = Client::with_uri_str(uri).await.unwrap();
    println!(
        "{window} creates ({CONCURRENCY} at a time) on an empty store and on one holding {organizations} organizations"
    );
    println!(
        "| | creates at 0 | creates at {organizations} | master | tenant data | collections | databases |"
    );
    println!("|---|---|---|---|---|---|---|");

    let database = client.database(&orgsvc_testkit::unique_name("bref"));
    let records = database.collection::<Document>("records");
    let unique = IndexOptions::builder().unique(true).build();
    let index = IndexModel::builder()
        .keys(doc! {"slug": 1})
        .options(unique)
        .build();
    records.create_index(index).await.unwrap();
    let create = {
        let records = records.clone();
        move |n| {
            let records = records.clone();
            async move { reference_create(&records, n).await }
        }
    };
    let empty = concurrently(0..window, create.clone()).await;
    let filler: Vec<Document> = (window..organizations - window)
        .map(|n| doc! {"_id": OrganizationId::generate().to_string(), "slug": format!("ref_{n}")})
        .collect();
    for chunk in filler.chunks(1_000) {
        records.insert_many(chunk.to_vec()).await.unwrap();
    }
    let full = concurrently(organizations - window..organizations, create).await;
    println!(
        "| reference: raw driver insert + conditional update | {} | {} | | | | |",
        summary(&empty),
        summary(&full)
    );
    let _ = database.drop().await;

    let models: Vec<TenancyModel> = std::env::var("ORGSVC_BENCH_MODELS")
        .map(|m| m.split(',').filter_map(|m| m.trim().parse().ok()).collect())
        .unwrap_or_else(|_| TenancyModel::ALL.to_vec());
    for model in models {
        let mut settings = MongoSettings::for_uri(uri);
        settings.master_database = orgsvc_testkit::unique_name("bm");
        settings.tenant_database = orgsvc_testkit::unique_name("bt");
        settings.tenancy = model;
        settings.recovery_interval_seconds = 0;
        let store = MongoStore::connect(settings.clone()).await.unwrap();
        let create = move |n: usize| {
            let store = store.clone();
            async move {
                common::create_organization(&store, &n.to_string()).await;
            }
        };
        let empty = concurrently(0..window, create.clone()).await;
        if let Err(refused) = fill(&client, &settings, window..organizations - window).await {
            println!(
                "| {model} | {} | the server {refused} | | | | |",
                summary(&empty)
            );
            drop_all(&client, &settings).await;
            continue;
        }
        let full = concurrently(organizations - window..organizations, create).await;

        let master = size(&client, &settings.master_database).await;
        let own_prefix = format!("{}_", settings.tenant_database);
        let databases: Vec<String> = client
            .list_database_names()
            .await
            .unwrap()
            .into_iter()
            .filter(|d| *d == settings.tenant_database || d.starts_with(&own_prefix))
            .collect();
        let (mut tenant_bytes, mut collections) = (0, 0);
        for database in &databases {
            tenant_bytes += size(&client, database).await;
            let names = client.database(database).list_collection_names().await;
            collections += names.unwrap().len();
        }
        println!(
            "| {model} | {} | {} | {} | {} | {collections} | {} |",
            summary(&empty),
            summary(&full),
            mib(master),
            mib(tenant_bytes),
            databases.len(),
        );
        drop_all(&client, &settings).await;
    }
}

/// Leaves the server as it was: the store's master and every tenant database of its.
async fn drop_all(client: &Client, settings: &MongoSettings) {
    let own_prefix = format!("{}_", settings.tenant_database);
    let names = client.list_database_names().await.unwrap_or_default();
    for database in names.iter().filter(|d| {
        **d == settings.tenant_database
            || d.starts_with(&own_prefix)
            || **d == settings.master_database
    }) {
        let _ = client.database(database).drop().await;
    }
}
