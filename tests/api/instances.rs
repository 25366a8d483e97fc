//! Two orgsvc instances on one MongoDB, each with its in-process cache: a logout (token
//! revocation) or a rename made through one is honoured by the other within `cache.ttl_ms`,
//! and at once with the cache off.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::json;

use crate::helpers::{settings, TestApp, MONGODB};

/// Two instances sharing the database and the signing secret.
async fn two_instances(test: &str, ttl_ms: u64) -> Option<(TestApp, TestApp)> {
    let first_dir = tempfile::tempdir().unwrap();
    let mut first = settings(first_dir.path(), MONGODB, test)?;
    first.auth.jwt_secret = Some(SecretString::from(
        "a secret both instances share, over 32 bytes",
    ));
    first.cache.ttl_ms = ttl_ms;
    let second_dir = tempfile::tempdir().unwrap();
    let mut second = first.clone();
    second.storage.embedded.path = second_dir.path().join("orgsvc.redb");
    Some((
        TestApp::spawn_with(first, first_dir).await,
        TestApp::spawn_with(second, second_dir).await,
    ))
}

async fn documents_status(app: &TestApp, token: &str) -> StatusCode {
    app.send(app.client.get(app.url("/org/documents")).bearer_auth(token))
        .await
        .0
}

/// Polls `check` until it holds; returns how long that took, or panics after `limit`.
async fn within(limit: Duration, mut check: impl AsyncFnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < limit, "not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    started.elapsed()
}

#[tokio::test]
async fn a_logout_or_rename_through_one_instance_shows_on_the_other_within_the_cache_bound() {
    let ttl = Duration::from_millis(500);
    let Some((a, b)) = two_instances("instances_cache_bound", 500).await else {
        return;
    };
    let (_, token) = a.org_with_token("Acme", "a@acme.io").await;
    // B reads (and caches) the admin and the organization.
    assert_eq!(documents_status(&b, &token).await, StatusCode::OK);
    assert_eq!(b.get_org("Acme").await.0, StatusCode::OK);

    let (status, _) = a
        .update_org(&token, &json!({"organization_name": "Globex"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    within(ttl * 2, async || {
        b.get_org("Acme").await.0 == StatusCode::NOT_FOUND
    })
    .await;
    assert_eq!(b.get_org("Globex").await.0, StatusCode::OK);

    let (status, _) = a
        .send(a.client.post(a.url("/admin/logout")).bearer_auth(&token))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // A itself refuses the token at once; B within the bound, and from then on.
    assert_eq!(documents_status(&a, &token).await, StatusCode::UNAUTHORIZED);
    within(ttl * 2, async || {
        documents_status(&b, &token).await == StatusCode::UNAUTHORIZED
    })
    .await;
    tokio::time::sleep(ttl).await;
    assert_eq!(documents_status(&b, &token).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn with_the_cache_off_another_instance_refuses_a_revoked_token_at_once() {
    let Some((a, b)) = two_instances("instances_cache_off", 0).await else {
        return;
    };
    let (_, token) = a.org_with_token("Acme", "a@acme.io").await;
    assert_eq!(documents_status(&b, &token).await, StatusCode::OK);
    let (status, _) = a
        .send(a.client.post(a.url("/admin/logout")).bearer_auth(&token))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(documents_status(&b, &token).await, StatusCode::UNAUTHORIZED);
}
