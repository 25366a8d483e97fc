//! `orgsvc export` end to end: a bundle whose parts check against its trailer, holding the
//! documents as they were when the export ran, while the service keeps writing (MongoDB), or
//! from a stopped service's file (embedded); and exports asked for over the API (`jobs`).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use crate::process::{Deployment, Service};

mod jobs;

/// The bundle's lines, after checking each part against the trailer's count and SHA-256.
fn read_bundle(path: &Path) -> Vec<Value> {
    check_bundle(&std::fs::read(path).unwrap())
}

/// [`read_bundle`] of bytes.
fn check_bundle(bytes: &[u8]) -> Vec<Value> {
    let lines: Vec<&[u8]> = bytes.split_inclusive(|b| *b == b'\n').collect();
    let parsed: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(parsed[0]["type"], "header");
    assert_eq!(parsed[0]["format"], "orgsvc.bundle");
    let trailer = parsed.last().unwrap();
    assert_eq!(trailer["type"], "trailer");
    let mut at = 1;
    for part in trailer["parts"].as_array().unwrap() {
        let count = usize::try_from(part["lines"].as_u64().unwrap()).unwrap();
        let digest: String = Sha256::digest(lines[at..at + count].concat())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(part["sha256"], digest.as_str(), "{}", part["name"]);
        at += count;
    }
    assert_eq!(at, lines.len() - 1);
    assert!(
        !String::from_utf8_lossy(bytes).contains("$argon2"),
        "no password hash"
    );
    parsed
}

fn documents(bundle: &[Value]) -> BTreeMap<String, Value> {
    bundle
        .iter()
        .filter(|l| l["type"] == "document")
        .map(|l| (l["id"].as_str().unwrap().to_owned(), l["body"].clone()))
        .collect()
}

async fn insert(service: &Service, token: &str, body: &Value) -> String {
    let created = service
        .json(
            service
                .client
                .post(service.url("/org/documents"))
                .bearer_auth(token)
                .json(body),
        )
        .await;
    created["id"].as_str().expect("inserted").to_owned()
}

/// One replace of a document: what it wrote, when it began and when it was answered.
struct Write {
    id: String,
    body: Value,
    began: Instant,
    answered: Instant,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_reads_its_moment_while_the_service_keeps_writing() {
    let Some(uri) = orgsvc_testkit::mongodb_or_skip("export_cli") else {
        return;
    };
    let deployment = Deployment::new(uri).await;
    let service = Arc::new(deployment.start().await);
    assert_eq!(
        service.create_org("Export Co", "owner@export.io").await.0,
        201
    );
    let token = service.token("owner@export.io").await;
    let mut ids = Vec::new();
    for n in 0..1000 {
        ids.push(insert(&service, &token, &json!({"n": n, "v": 0})).await);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let started = Arc::new(AtomicUsize::new(0));
    // Eight writers on sixteen documents spread over the id range, so that each is written
    // several times while the export reads.
    let hot: Vec<String> = ids
        .iter()
        .step_by(ids.len() / 16)
        .take(16)
        .cloned()
        .collect();
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let (service, token, stop) = (Arc::clone(&service), token.clone(), Arc::clone(&stop));
            let ids: Vec<String> = hot.iter().skip(w).step_by(8).cloned().collect();
            let started = Arc::clone(&started);
            tokio::spawn(async move {
                let mut writes = Vec::new();
                for v in 1.. {
                    for id in &ids {
                        if stop.load(Ordering::SeqCst) {
                            return writes;
                        }
                        let body = json!({"id": id, "v": v});
                        let began = Instant::now();
                        let replaced = service
                            .client
                            .put(service.url(&format!("/org/documents/{id}")))
                            .bearer_auth(&token)
                            .json(&body)
                            .send()
                            .await
                            .unwrap();
                        assert_eq!(replaced.status(), 200);
                        started.fetch_add(1, Ordering::SeqCst);
                        writes.push(Write {
                            id: id.clone(),
                            body,
                            began,
                            answered: Instant::now(),
                        });
                    }
                }
                writes
            })
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("export-co.jsonl");
    while started.load(Ordering::SeqCst) < 64 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let asked = Instant::now();
    let exported = deployment
        .run(&[
            "export",
            "--org",
            "export co",
            "--out",
            out.to_str().unwrap(),
        ])
        .await
        .unwrap();
    let finished = Instant::now();
    stop.store(true, Ordering::SeqCst);
    assert!(
        exported.status.success(),
        "{}",
        String::from_utf8_lossy(&exported.stderr)
    );
    let said = String::from_utf8_lossy(&exported.stdout);
    assert!(said.contains("1000 documents"), "{said}");
    let bundle = read_bundle(&out);
    assert!(!dir.path().join("export-co.jsonl.partial").exists());
    let shown = documents(&bundle);
    assert_eq!(shown.len(), 1000);
    let mut writes: Vec<Write> = Vec::new();
    for writer in writers {
        writes.extend(writer.await.unwrap());
    }
    let during = writes
        .iter()
        .filter(|w| w.began > asked && w.answered < finished)
        .count();
    assert!(during > 0, "writes went on during the export");
    // One moment for all documents: each one's version shown began before it, and its next
    // version was not answered before it. So the latest such beginning comes before the
    // earliest such answer; a scan that saw writes made during it breaks that.
    let version = |body: &Value| body["v"].as_u64().unwrap();
    let (mut latest_begun, mut earliest_next) = (None::<Instant>, None::<Instant>);
    for id in &hot {
        let v = version(&shown[id]);
        let mine = || writes.iter().filter(|w| &w.id == id);
        let before = mine()
            .filter(|w| w.answered < asked)
            .map(|w| version(&w.body))
            .max();
        assert!(
            before.is_none_or(|b| v >= b),
            "{id}: shows {v}, {before:?} was answered before"
        );
        if let Some(write) = mine().find(|w| version(&w.body) == v) {
            latest_begun = latest_begun.max(Some(write.began));
        }
        if let Some(next) = mine().find(|w| version(&w.body) == v + 1) {
            earliest_next = Some(earliest_next.map_or(next.answered, |e| e.min(next.answered)));
        }
    }
    if let (Some(begun), Some(next)) = (latest_begun, earliest_next) {
        assert!(
            begun < next,
            "not one moment: a version shown began {:?} after another's next was answered \
             ({during} writes during the export)",
            begun - next
        );
    }
    let members: Vec<&Value> = bundle.iter().filter(|l| l["type"] == "member").collect();
    assert_eq!(members.len(), 1);
    assert_eq!(members[0]["email"], "owner@export.io");
    assert_eq!(members[0]["role"], "owner");

    // The digest printed is the file's, and the deletion's receipt names it.
    let digest: String = Sha256::digest(std::fs::read(&out).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(
        said.trim_end().ends_with(&format!("sha256 {digest}")),
        "{said}"
    );
    let deleted = service
        .json(
            service
                .client
                .delete(service.url("/org/delete?organization_name=Export%20Co"))
                .bearer_auth(&token),
        )
        .await;
    assert_eq!(
        deleted["receipt"]["claims"]["last_export_sha256"],
        digest.as_str(),
        "{deleted}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedded_store_is_exported_once_its_service_has_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let deployment = Deployment::embedded(dir.path().join("orgsvc.redb")).await;
    let service = deployment.start().await;
    assert_eq!(service.create_org("Acme", "owner@acme.io").await.0, 201);
    let token = service.token("owner@acme.io").await;
    let mut stored = BTreeMap::new();
    for n in 0..250 {
        let body = json!({"n": n, "nested": [[n, "x"]], "deep": {"a": [1, {"b": null}]}});
        stored.insert(insert(&service, &token, &body).await, body);
    }
    let out = dir.path().join("acme.jsonl");
    let args = ["export", "--org", "ACME", "--out", out.to_str().unwrap()];
    // The running service holds the file: the export says what to do, and writes nothing.
    let refused = deployment.run(&args).await.unwrap();
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("stop the service"), "{said}");
    assert!(!out.exists());
    service.kill();
    let exported = deployment.run(&args).await.unwrap();
    assert!(
        exported.status.success(),
        "{}",
        String::from_utf8_lossy(&exported.stderr)
    );
    let bundle = read_bundle(&out);
    assert_eq!(bundle[0]["organization"]["name"], "Acme");
    assert_eq!(documents(&bundle), stored);

    // orgsvc verify-bundle: intact as written; one changed value is found, in its part.
    let verified = deployment
        .run(&["verify-bundle", out.to_str().unwrap()])
        .await
        .unwrap();
    assert!(verified.status.success());
    let described: Value = serde_json::from_slice(&verified.stdout).unwrap();
    assert_eq!(described["lines"]["documents"], 250);
    assert_eq!(described["lines"]["members"], 1);
    let tampered = dir.path().join("tampered.jsonl");
    let text = std::fs::read_to_string(&out).unwrap();
    std::fs::write(&tampered, text.replacen("\"x\"", "\"y\"", 1)).unwrap();
    let refused = deployment
        .run(&["verify-bundle", tampered.to_str().unwrap()])
        .await
        .unwrap();
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("part documents: the SHA-256"), "{said}");
    let unknown = deployment
        .run(&["export", "--org", "Nobody", "--out", out.to_str().unwrap()])
        .await
        .unwrap();
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no organization named"));
}
