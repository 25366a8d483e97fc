//! The MongoDB ceilings for `bench/run`: the raw `mongodb` driver at a given concurrency on the
//! same server orgsvc uses: `find_one` by `_id` (one round trip: what a request that needs a
//! single database read could reach), a `find` of 100 documents (a page) and an `insert_one`
//! with the server's default write concern (what orgsvc's writes use: acknowledged durable).
//!
//!   cargo run --release --example bench-mongo-ceiling -- URI CONCURRENCY SECONDS

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::TryStreamExt as _;
use mongodb::bson::{doc, Document};
use mongodb::Client;

async fn measure<F, Fut>(concurrency: usize, seconds: f64, op: F) -> (f64, f64, f64)
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let op = op.clone();
            let stop = Arc::clone(&stop);
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let at = Instant::now();
                    op().await;
                    latencies.push(at.elapsed().as_secs_f64());
                }
                latencies
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_by(f64::total_cmp);
    let pick = |q: f64| all[((all.len() as f64 - 1.0) * q) as usize] * 1000.0;
    (all.len() as f64 / elapsed, pick(0.5), pick(0.99))
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let uri = args.next().expect("URI");
    let concurrency: usize = args.next().map_or(32, |s| s.parse().unwrap());
    let seconds: f64 = args.next().map_or(8.0, |s| s.parse().unwrap());
    let client = Client::with_uri_str(&uri).await.unwrap();
    let db = client.database("orgsvc_bench_reference");
    db.drop().await.unwrap();
    let one = db.collection::<Document>("one");
    one.insert_one(doc! {"_id": "x", "title": "Quarterly report", "pages": 12})
        .await
        .unwrap();
    let page = db.collection::<Document>("page");
    page.insert_many((0..100).map(|n| doc! {"_id": format!("{n:04}"), "title": "Quarterly report", "tags": ["finance"], "pages": n}))
        .await
        .unwrap();
    let (rate, p50, p99) = measure(concurrency, seconds, move || {
        let one = one.clone();
        async move {
            one.find_one(doc! {"_id": "x"}).await.unwrap().unwrap();
        }
    })
    .await;
    let (page_rate, page_p50, page_p99) = measure(concurrency, seconds, move || {
        let page = page.clone();
        async move {
            let docs: Vec<Document> = page
                .find(doc! {})
                .sort(doc! {"_id": 1})
                .limit(100)
                .await
                .unwrap()
                .try_collect()
                .await
                .unwrap();
            assert_eq!(docs.len(), 100);
        }
    })
    .await;
    let inserted = db.collection::<Document>("inserted");
    let next = Arc::new(AtomicU64::new(0));
    let (insert_rate, insert_p50, insert_p99) = measure(concurrency, seconds, move || {
        let (inserted, next) = (inserted.clone(), Arc::clone(&next));
        async move {
            let id = format!("{:016x}", next.fetch_add(1, Ordering::Relaxed));
            inserted
                .insert_one(
                    doc! {"_id": id, "title": "Quarterly report", "tags": ["finance"], "pages": 12},
                )
                .await
                .unwrap();
        }
    })
    .await;
    db.drop().await.unwrap();
    println!(
        "{{\"find_one\": {{\"rate\": {rate:.1}, \"p50_ms\": {p50:.2}, \"p99_ms\": {p99:.2}}}, \
         \"page\": {{\"rate\": {page_rate:.1}, \"p50_ms\": {page_p50:.2}, \"p99_ms\": {page_p99:.2}}}, \
         \"insert\": {{\"rate\": {insert_rate:.1}, \"p50_ms\": {insert_p50:.2}, \"p99_ms\": {insert_p99:.2}}}}}"
    );
}
