//! Several orgsvc processes on one MongoDB deployment (two DocumentDB clusters), with clients
//! spread round-robin over them: writers on several organizations while other clients rename,
//! move (between the clusters) and delete those organizations through different instances, and
//! one instance is SIGKILLed while it holds an operation. Afterwards every acknowledged write is
//! in its organization's current collection exactly once, no collection is left behind or
//! recreated, no operation is left unfinished, and the survivors answer alike.
//!
//! `ORGSVC_SOAK_SECONDS` (default 8) sets how long the load runs: the suite runs the short form,
//! a soak is the same test run longer.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mongodb::bson::{doc, Document};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::clusters::own_server;
use crate::helpers::PASSWORD;
use crate::process::{signal, Deployment, Service};

mod checks;
mod clients;

use clients::{soak, Pool, Tally, Tenant};

const INSTANCES: usize = 3;
/// The instance that is killed, and through which most renames go.
const VICTIM: usize = 1;
const WRITERS: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_instances_renaming_moving_deleting_and_one_killed_lose_no_acknowledged_write() {
    let Some(home) = own_server("scale out") else {
        return;
    };
    let Some(eu) = own_server("scale out") else {
        return;
    };
    let mut deployment = Deployment::new(&home.uri()).await;
    deployment.add_cluster("eu", &eu.uri()).await;
    deployment.extra_env.extend([
        (
            "ORGSVC__STORAGE__MONGODB__RECOVERY_INTERVAL_SECONDS".into(),
            "1".into(),
        ),
        (
            "ORGSVC__STORAGE__MONGODB__STRAY_SWEEP_SECONDS".into(),
            "1".into(),
        ),
        (
            "ORGSVC__STORAGE__MONGODB__COPY_BATCH_SIZE".into(),
            "100".into(),
        ),
    ]);
    let mut services: Vec<Option<Service>> = Vec::new();
    for _ in 0..INSTANCES {
        services.push(Some(deployment.start().await));
    }
    let pool = Pool {
        addresses: Arc::new(
            services
                .iter()
                .map(|s| s.as_ref().unwrap().address.clone())
                .collect(),
        ),
        alive: Arc::new((0..INSTANCES).map(|_| AtomicBool::new(true)).collect()),
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
    };

    let names = [
        "Mover",
        "Renamed 0",
        "Renamed 1",
        "Doomed 0",
        "Doomed 1",
        "Steady",
    ];
    let mut tenants = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let base = pool.pick(i);
        let email = format!("admin{i}@scale.io");
        let body = json!({"organization_name": name, "email": email, "password": PASSWORD});
        let created = pool.client.post(format!("{base}/org/create")).json(&body);
        let created: Value = created.send().await.unwrap().json().await.unwrap();
        let login = json!({"email": email, "password": PASSWORD});
        let login = pool.client.post(format!("{base}/admin/login")).json(&login);
        let login: Value = login.send().await.unwrap().json().await.unwrap();
        tenants.push(Tenant {
            name: (*name).to_owned(),
            id: created["id"].as_str().expect("created").to_owned(),
            token: login["access_token"]
                .as_str()
                .expect("logged in")
                .to_owned(),
        });
    }
    // Two of them in the shared collection: renamed there, and deleted there by batches.
    for name in ["Renamed 1", "Doomed 1"] {
        let moved = deployment
            .run(&["move-org", "--org", name, "--to-model", "shared"])
            .await
            .unwrap();
        assert!(moved.status.success(), "{moved:?}");
    }
    let tenants = Arc::new(tenants);
    let by_name = |name: &str| tenants.iter().position(|t| t.name == name).unwrap();

    let duration = soak();
    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Arc<Mutex<BTreeMap<String, BTreeSet<String>>>> = Arc::default();
    let (writes, renames, moves) = (
        Arc::new(Tally::default()),
        Arc::new(Tally::default()),
        Arc::new(Tally::default()),
    );
    let mut tasks = Vec::new();

    // Writers: every organization, every live instance, round robin.
    for writer in 0..WRITERS {
        let (pool, tenants, stop, acked, writes) = (
            pool.clone(),
            tenants.clone(),
            stop.clone(),
            acked.clone(),
            writes.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                let tenant = &tenants[(writer + n) % tenants.len()];
                let base = pool.pick(writer + n / tenants.len());
                let answer = pool
                    .client
                    .post(format!("{base}/org/documents"))
                    .bearer_auth(&tenant.token)
                    .json(&json!({"writer": writer, "n": n}))
                    .send()
                    .await;
                if let Some(response) = writes.outcome(answer).await {
                    if response.status() == StatusCode::CREATED {
                        let body: Value = response.json().await.unwrap();
                        let id = body["id"].as_str().unwrap().to_owned();
                        acked
                            .lock()
                            .unwrap()
                            .entry(tenant.id.clone())
                            .or_default()
                            .insert(id);
                    }
                }
                n += 1;
            }
        }));
    }

    // Renamers: "Renamed 0" only through the victim, "Renamed 1" through every instance.
    for (tenant, through) in [
        (by_name("Renamed 0"), Some(VICTIM)),
        (by_name("Renamed 1"), None),
    ] {
        let (pool, tenants, stop, renames) =
            (pool.clone(), tenants.clone(), stop.clone(), renames.clone());
        tasks.push(tokio::spawn(async move {
            let tenant = &tenants[tenant];
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                let base = pool.pick(through.unwrap_or(n));
                let answer = pool
                    .client
                    .put(format!("{base}/org/update"))
                    .bearer_auth(&tenant.token)
                    .json(&json!({"organization_name": format!("{} v{n}", tenant.name)}))
                    .send()
                    .await;
                renames.outcome(answer).await;
            }
        }));
    }

    // The mover: `orgsvc move-org` round the clusters and tenancy models, one process per move.
    let mover = {
        let (stop, moves) = (stop.clone(), moves.clone());
        let deployment = &deployment;
        async move {
            let mut failures = Vec::new();
            let route: [&[&str]; 4] = [
                &["--to-cluster", "eu"],
                &["--to-model", "shared"],
                &["--to-cluster", "default", "--to-model", "database"],
                &["--to-model", "collection"],
            ];
            for to in route.iter().cycle() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let output = deployment
                    .run(&[&["move-org", "--org", "Mover"][..], to].concat())
                    .await
                    .unwrap();
                if output.status.success() {
                    moves.add("moved");
                } else {
                    moves.add("refused");
                    failures.push(String::from_utf8_lossy(&output.stderr).into_owned());
                }
            }
            failures
        }
    };

    // The deleter, at 60%: each doomed organization through a different instance.
    let deleter = {
        let (pool, tenants) = (pool.clone(), tenants.clone());
        async move {
            tokio::time::sleep(duration * 3 / 5).await;
            let mut answers = Vec::new();
            for (i, name) in ["Doomed 0", "Doomed 1"].iter().enumerate() {
                let tenant = tenants.iter().find(|t| t.name == *name).unwrap();
                let base = pool.pick(2 * i);
                let response = pool
                    .client
                    .delete(format!("{base}/org/delete"))
                    .query(&[("organization_name", name)])
                    .bearer_auth(&tenant.token)
                    .send()
                    .await
                    .unwrap();
                answers.push(response.status());
            }
            answers
        }
    };

    // The killer: from 30% on, SIGKILL the victim as soon as it holds an operation.
    let victim = services[VICTIM].take().unwrap();
    let killer = {
        let pool = pool.clone();
        let deployment = &deployment;
        async move {
            tokio::time::sleep(duration * 3 / 10).await;
            let owned_by_victim =
                doc! {"intent.owner": {"$regex": format!("^[^/]*/{}/", victim.pid())}};
            let organizations = deployment
                .master_db()
                .collection::<Document>("organizations");
            let deadline = Instant::now() + duration;
            loop {
                let holds = || async {
                    organizations
                        .find_one(owned_by_victim.clone())
                        .await
                        .unwrap()
                };
                if holds().await.is_some() {
                    // Frozen, it cannot finish the operation while we look again.
                    signal(victim.pid(), "STOP");
                    if let Some(held) = holds().await {
                        pool.alive[VICTIM].store(false, Ordering::SeqCst);
                        victim.kill();
                        return held;
                    }
                    signal(victim.pid(), "CONT");
                }
                assert!(
                    Instant::now() < deadline,
                    "instance {VICTIM} never held an operation"
                );
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    };

    let stopper = async {
        tokio::time::sleep(duration).await;
        stop.store(true, Ordering::SeqCst);
    };
    let (move_failures, deleted, held, ()) = tokio::join!(mover, deleter, killer, stopper);
    for task in tasks {
        task.await.unwrap();
    }
    let loaded = started.elapsed();

    // Survivors finish the victim's operation and sweep what it left.
    let settling = Instant::now();
    let deadline = settling + Duration::from_secs(60);
    while deployment.pending_intents().await > 0 || !deployment.inconsistencies().await.is_empty() {
        if Instant::now() > deadline {
            deployment.assert_consistent().await;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let settled = settling.elapsed();

    for status in &deleted {
        assert!(
            [StatusCode::OK, StatusCode::ACCEPTED].contains(status),
            "delete answered {status}"
        );
    }
    writes.only("writes", &["201", "401", "404", "503", "no answer"]);
    renames.only("renames", &["200", "202", "503", "no answer"]);
    assert!(writes.get("201") > 100, "too few writes: {}", writes.show());
    assert!(
        renames.get("200") > 10,
        "too few renames: {}",
        renames.show()
    );
    assert!(
        moves.get("moved") > 0,
        "no move succeeded: {move_failures:?}"
    );

    let acked = acked.lock().unwrap().clone();
    let checked =
        checks::every_acknowledged_write_is_where_it_belongs(&deployment, &tenants, &acked).await;
    let survivors: Vec<&Service> = services.iter().flatten().collect();
    checks::the_survivors_answer_alike(&deployment, &survivors, &tenants).await;

    let intent = held.get_document("intent").unwrap();
    println!(
        "scale-out: {INSTANCES} instances, 2 clusters, {WRITERS} writers for {loaded:?}; \
         writes {}; renames {}; moves {}; deletes {deleted:?}; instance {VICTIM} killed holding \
         {} at phase {}; settled {settled:?} later; {checked} acknowledged writes each found \
         exactly once in their organization's current collection",
        writes.show(),
        renames.show(),
        moves.show(),
        intent.get_str("op").unwrap(),
        intent.get_str("phase").unwrap(),
    );
}
