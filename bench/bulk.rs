//! Filling a MongoDB store fast: organizations inserted in bulk, straight in the databases as
//! the adapter stores them (one `insert_many` per batch instead of a create through the port per
//! organization), and tasks run a few at a time. Organization
//! `n` is named `Bench <n>` with the admin `admin<n>@bench.io`, as `common::create_organization`
//! names it with the label `n`, so filled and created ones look alike.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mongodb::bson::{doc, Document};
use mongodb::Client;
use orgsvc_domain::{OrganizationId, TenancyModel};
use orgsvc_storage::MongoSettings;

pub const CONCURRENCY: usize = 8;

/// Runs `task(n)` for `n` in `range`, `CONCURRENCY` at a time; each one's latency.
pub async fn concurrently<F, Fut>(range: std::ops::Range<usize>, task: F) -> Vec<Duration>
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let start = range.start;
    let next = Arc::new(AtomicUsize::new(start));
    let mut workers = Vec::new();
    for _ in 0..CONCURRENCY {
        let (next, task, end) = (next.clone(), task.clone(), range.end);
        workers.push(tokio::spawn(async move {
            let mut timed = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= end {
                    return timed;
                }
                let began = Instant::now();
                task(n).await;
                timed.push((n, began.elapsed()));
            }
        }));
    }
    let mut latencies = vec![Duration::ZERO; range.len()];
    for worker in workers {
        for (n, latency) in worker.await.unwrap() {
            latencies[n - start] = latency;
        }
    }
    latencies
}

/// Organizations `range` inserted in bulk as the adapter stores them, with a collection or
/// database of their own where `settings.tenancy` gives them one. The server's first refusal
/// to create one, if it refuses, with how many it had created.
pub async fn fill(
    client: &Client,
    settings: &MongoSettings,
    range: std::ops::Range<usize>,
) -> Result<(), String> {
    let master = client.database(&settings.master_database);
    let tenants = settings.tenant_database.clone();
    let now = mongodb::bson::DateTime::now();
    let mut places = Vec::new();
    for chunk in range.clone().collect::<Vec<_>>().chunks(1_000) {
        let (mut records, mut admins, mut rosters) = (Vec::new(), Vec::new(), Vec::new());
        for &n in chunk {
            let id = OrganizationId::generate().to_string();
            let admin = OrganizationId::generate().to_string();
            let (database, collection) = match settings.tenancy {
                TenancyModel::Collection => (tenants.clone(), format!("org_bench_{n}")),
                TenancyModel::Database => (
                    format!("{tenants}_{}", id.replace('-', "")),
                    "documents".to_owned(),
                ),
                TenancyModel::Shared => (tenants.clone(), "tenant_documents".to_owned()),
            };
            if settings.tenancy != TenancyModel::Shared {
                places.push((database.clone(), collection.clone()));
            }
            records.push(doc! {
                "_id": &id, "name": format!("Bench {n}"), "slug": format!("bench_{n}"),
                "admin_id": &admin,
                "connection": {"cluster": "default", "database": database,
                    "collection": collection, "model": settings.tenancy.as_str()},
                "created_at": now, "updated_at": now, "epoch": 1_i64,
            });
            rosters.push(doc! {
                "_id": &id, "version": 0_i64, "invitations": [],
                "members": [{"user_id": &admin, "role": "owner",
                    "joined_at": now.try_to_rfc3339_string().unwrap()}],
            });
            admins.push(doc! {
                "_id": admin, "email": format!("admin{n}@bench.io"),
                "password_hash": "$argon2id$bench", "created_at": now, "token_version": 0_i64,
            });
        }
        let organizations = master.collection::<Document>("organizations");
        organizations.insert_many(records).await.unwrap();
        let admins_collection = master.collection::<Document>("admins");
        admins_collection.insert_many(admins).await.unwrap();
        let rosters_collection = master.collection::<Document>("rosters");
        rosters_collection.insert_many(rosters).await.unwrap();
    }
    let places = Arc::new(places);
    let refused = Arc::new(std::sync::Mutex::new(None::<String>));
    let created = Arc::new(AtomicUsize::new(0));
    {
        let (client, refused, created) = (client.clone(), refused.clone(), created.clone());
        concurrently(0..places.len(), move |i| {
            let (places, client) = (places.clone(), client.clone());
            let (refused, created) = (refused.clone(), created.clone());
            async move {
                if refused.lock().unwrap().is_some() {
                    return;
                }
                let (database, collection) = &places[i];
                match client
                    .database(database)
                    .create_collection(collection)
                    .await
                {
                    Ok(()) => {
                        created.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        refused.lock().unwrap().get_or_insert(e.to_string());
                    }
                }
            }
        })
        .await;
    }
    let refused = refused.lock().unwrap().take();
    refused.map_or(Ok(()), |e| {
        Err(format!(
            "refused after {} created: {}",
            created.load(Ordering::Relaxed),
            e.chars().take(300).collect::<String>()
        ))
    })
}
