//! What the service does against an attacker or an overloaded day: re-authentication and
//! revocation, account lockout, per-address limits, the bounded hashing pool, slow bodies,
//! private files and protective headers.

use std::io::{Read as _, Write as _};
use std::time::{Duration, Instant};

use reqwest::{header, StatusCode};
use serde_json::json;

use crate::helpers::{self, assert_problem, Backend, TestApp, PASSWORD};
use crate::process::{signal, Deployment};

async fn credential_changes_need_the_current_password_and_revoke_earlier_tokens(app: TestApp) {
    let (_, token) = app.org_with_token("Acme", "admin@acme.io").await;
    for proof in [json!({}), json!({"current_password": "not my password"})] {
        let mut body = json!({"organization_name": "Acme", "password": "taken over now"});
        body.as_object_mut()
            .unwrap()
            .extend(proof.as_object().unwrap().clone());
        let (status, problem) = app.update_org(&token, &body).await;
        assert_problem(status, &problem, 403, "current_password_required");
        let (status, problem) = app
            .update_org(
                &token,
                &json!({"organization_name": "Acme", "email": "thief@evil.io"}),
            )
            .await;
        assert_problem(status, &problem, 403, "current_password_required");
    }
    // Clients of the original assignment send their current credentials with a rename.
    let (status, renamed) = app
        .update_org(
            &token,
            &json!({"organization_name": "Acme Two", "email": "admin@acme.io", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(app.all_docs(&token).await.len(), 0, "a rename keeps tokens");

    let (status, _) = app
        .update_org(
            &token,
            &json!({"organization_name": "Acme Two", "password": "a brand new one",
                    "current_password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, problem) = app.insert_doc(&token, &json!({})).await;
    assert_problem(status, &problem, 401, "unauthorized");

    let (status, fresh) = app.login("admin@acme.io", "a brand new one").await;
    assert_eq!(status, StatusCode::OK);
    let fresh = fresh["access_token"].as_str().unwrap().to_owned();
    let (status, other) = app.login("admin@acme.io", "a brand new one").await;
    assert_eq!(status, StatusCode::OK);
    let other = other["access_token"].as_str().unwrap().to_owned();
    let response = app
        .client
        .post(app.url("/admin/logout"))
        .bearer_auth(&fresh)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    for revoked in [&fresh, &other] {
        let (status, problem) = app.insert_doc(revoked, &json!({})).await;
        assert_problem(status, &problem, 401, "unauthorized");
    }
}

async fn parallel_guesses_lock_the_account_after_five_failures(app: TestApp) {
    app.create_org("Acme", "admin@acme.io").await;
    for account in ["admin@acme.io", "nobody@acme.io"] {
        let guesses = (0..20).map(|i| {
            let body = json!({"email": account, "password": format!("guess number {i}")});
            app.send(app.client.post(app.url("/admin/login")).json(&body))
        });
        let answers = futures_util::future::join_all(guesses).await;
        let wrong = answers
            .iter()
            .filter(|(status, _)| *status == StatusCode::UNAUTHORIZED)
            .count();
        let locked = answers
            .iter()
            .filter(|(status, _)| *status == StatusCode::TOO_MANY_REQUESTS)
            .count();
        assert_eq!((wrong, locked), (5, 15), "{account}: {answers:?}");
        // Now even the right password is refused, with a time to come back.
        let response = app
            .client
            .post(app.url("/admin/login"))
            .json(&json!({"email": account, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::TOO_MANY_REQUESTS,
            "{account}"
        );
        let retry: u64 = response.headers()[header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry), "{retry}");
    }
}

async fn both_backends_store_the_same_documents_and_refuse_the_same_ones(app: TestApp) {
    let (_, token) = app.org_with_token("Acme", "admin@acme.io").await;
    let stored = [
        json!({"matrix": [[1, 2], [3, 4]]}),
        json!({"a": [[]]}),
        json!({"": "an empty name", "nul": "a\u{0}b", "astral": "😀", "lone": "\u{FFFF}"}),
        json!({"deep": [[[1, [2]]], {"m": [[true, null]]}], "e": {}, "f": 1.5}),
        json!({"max": i64::MAX, "min": i64::MIN, "float": 1.5, "tiny": 2.5e-300, "whole": 1e18}),
    ];
    for document in &stored {
        let (status, created) = app.insert_doc(&token, document).await;
        assert_eq!(status, StatusCode::CREATED, "{document}: {created}");
        let (status, read) = app.get_doc(&token, created["id"].as_str().unwrap()).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(&read["data"], document);
    }
    let refused = [
        (r#"{"a.b": 1}"#, "body"),
        (r#"{"x": {"a.b": 1}}"#, "body"),
        (r#"{"x": [{"\u0001array": [1]}]}"#, "body"),
        (r#"{"n": 1e19}"#, "body"),
        (r#"{"n": 9223372036854775808}"#, "n"),
        (r#"{"n": [18446744073709551616]}"#, "n[0]"),
        (r#"{"a": 1, "a": 2}"#, "a"),
        (r#"{"x": {"k": 1, "k": 1}}"#, "x.k"),
    ];
    for (raw, field) in refused {
        let (status, problem) = app
            .send(
                app.client
                    .post(app.url("/org/documents"))
                    .bearer_auth(&token)
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(raw),
            )
            .await;
        assert_problem(status, &problem, 422, "validation_failed");
        assert_eq!(problem["errors"][0]["field"], field, "{raw}: {problem}");
    }
    assert_eq!(app.all_docs(&token).await.len(), stored.len());
}

async fn the_audit_log_tells_the_organization_what_happened_newest_first(app: TestApp) {
    let (_, token) = app.org_with_token("Acme", "admin@acme.io").await;
    let (_, other) = app.org_with_token("Globex", "g@globex.io").await;
    let (status, _) = app.login("admin@acme.io", "not the password").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, doc) = app.insert_doc(&token, &json!({"x": 1})).await;
    app.update_org(&token, &json!({"organization_name": "Acme Two"}))
        .await;
    let audit = |token: &str, query: &str| {
        let request = app
            .client
            .get(app.url(&format!("/org/audit{query}")))
            .bearer_auth(token);
        app.send(request)
    };
    let (status, page) = audit(&token, "").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let actions: Vec<&str> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "organization_renamed",
            "document_created",
            "login_failed",
            "login_succeeded",
            "organization_created"
        ]
    );
    let events = page["events"].as_array().unwrap();
    assert_eq!(events[1]["details"]["document_id"], doc["id"]);
    assert_eq!(events[2]["outcome"], "failure");
    assert!(events.iter().all(|e| e["ip"] == "127.0.0.1"), "{page}");
    assert!(!page.to_string().contains("not the password"));
    // Pages of two, following `next`.
    let (_, first) = audit(&token, "?limit=2").await;
    let next = first["next"].as_str().unwrap();
    let (_, second) = audit(&token, &format!("?limit=2&after={next}")).await;
    assert_eq!(second["events"][0]["action"], "login_failed");
    // Another organization sees only its own.
    let (_, theirs) = audit(&other, "").await;
    assert_eq!(theirs["events"].as_array().unwrap().len(), 2);
}

on_both_backends!(
    the_audit_log_tells_the_organization_what_happened_newest_first,
    credential_changes_need_the_current_password_and_revoke_earlier_tokens,
    parallel_guesses_lock_the_account_after_five_failures,
    both_backends_store_the_same_documents_and_refuse_the_same_ones,
);

/// The probe's lockout attack, from a client address a trusted proxy names: a thief's wrong
/// passwords lock their own address, never the owner's; guesses spread over many addresses delay
/// the account for seconds, not an hour.
async fn a_thief_locks_out_only_their_own_address(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let Some(mut settings) = helpers::settings(dir.path(), backend, "thief") else {
        return;
    };
    settings.http.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    let app = TestApp::spawn_with(settings, dir).await;
    app.create_org("Acme", "admin@acme.io").await;
    let login = |from: String, password: &str| {
        let body = json!({"email": "admin@acme.io", "password": password});
        let request = app
            .client
            .post(app.url("/admin/login"))
            .header("x-forwarded-for", from)
            .json(&body);
        async move {
            let response = request.send().await.unwrap();
            let retry_after = response
                .headers()
                .get(header::RETRY_AFTER)
                .map(|value| value.to_str().unwrap().parse::<u64>().unwrap());
            (response.status(), retry_after)
        }
    };
    let (thief, owner) = ("198.51.100.7".to_owned(), "203.0.113.9".to_owned());
    for _ in 0..5 {
        let (status, _) = login(thief.clone(), "a wrong guess").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, retry_after) = login(thief.clone(), PASSWORD).await;
    assert_eq!(
        (status, retry_after),
        (StatusCode::TOO_MANY_REQUESTS, Some(60))
    );
    let (status, _) = login(owner.clone(), PASSWORD).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the owner's address is not the thief's"
    );

    for n in 0..20 {
        let (status, _) = login(format!("192.0.2.{}", n + 1), "a wrong guess").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "guess {n}");
    }
    let (status, retry_after) = login(owner, PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        retry_after.is_some_and(|seconds| (1..=15).contains(&seconds)),
        "{retry_after:?}"
    );
}

#[tokio::test]
async fn a_thief_locks_out_only_their_own_address_embedded() {
    a_thief_locks_out_only_their_own_address(Backend::Embedded).await;
}

#[tokio::test]
async fn a_thief_locks_out_only_their_own_address_mongodb() {
    let backend = Backend::Mongodb(orgsvc_app::TenancyModel::Collection);
    a_thief_locks_out_only_their_own_address(backend).await;
}

#[tokio::test]
async fn one_address_gets_a_burst_of_password_requests_then_429() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = helpers::settings(dir.path(), Backend::Embedded, "per_ip").unwrap();
    settings.auth.login.per_ip_burst = 3;
    settings.auth.login.per_ip_per_second = 0.01;
    let app = TestApp::spawn_with(settings, dir).await;
    for i in 0..3 {
        let (status, _) = app
            .create_org(&format!("Org {i}"), &format!("a{i}@acme.io"))
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (status, problem) = app.login("a0@acme.io", PASSWORD).await;
    assert_problem(status, &problem, 429, "too_many_requests");
    // Other endpoints are not limited.
    let (status, _) = app.get_org("Org 0").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_login_flood_is_refused_with_503_while_health_keeps_answering() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = helpers::settings(dir.path(), Backend::Embedded, "flood").unwrap();
    settings.auth.argon2.max_concurrent = 1;
    settings.auth.argon2.max_queued = 1;
    let app = TestApp::spawn_with(settings, dir).await;
    app.create_org("Acme", "admin@acme.io").await;
    let logins = (0..24).map(|i| {
        // Distinct unknown accounts, so the lockout does not answer first.
        let body = json!({"email": format!("user{i}@acme.io"), "password": PASSWORD});
        app.send(app.client.post(app.url("/admin/login")).json(&body))
    });
    let health = async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let started = Instant::now();
        let response = app.client.get(app.url("/health")).send().await.unwrap();
        (response.status(), started.elapsed())
    };
    let (answers, (health_status, health_time)) =
        tokio::join!(futures_util::future::join_all(logins), health);
    assert_eq!(health_status, StatusCode::OK);
    // Far less than the ~24 hashes queued behind one worker would take.
    assert!(health_time < Duration::from_secs(2), "{health_time:?}");
    let mut overloaded = 0;
    for (status, body) in &answers {
        match status.as_u16() {
            401 => {}
            503 => {
                assert_eq!(body["code"], "overloaded", "{body}");
                overloaded += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(
        overloaded > 0,
        "one worker and one queue slot took 24 logins"
    );
}

#[tokio::test]
async fn the_database_file_is_private_to_its_owner() {
    let app = TestApp::spawn(Backend::Embedded, "private_file")
        .await
        .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(app.data.join("orgsvc.redb"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[tokio::test]
async fn a_body_that_stalls_is_answered_408() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = helpers::settings(dir.path(), Backend::Embedded, "stall").unwrap();
    settings.http.body_timeout_ms = 300;
    let app = TestApp::spawn_with(settings, dir).await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let answer = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        // Promise 100 bytes, send 10, then stall.
        stream
            .write_all(
                b"POST /org/create HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
                  content-length: 100\r\n\r\n{\"organiza",
            )
            .unwrap();
        let mut answer = vec![0; 4096];
        let n = stream.read(&mut answer).unwrap();
        String::from_utf8_lossy(&answer[..n]).into_owned()
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
}

/// A body that arrived while the service itself was not running (stopped, or starved of CPU on
/// a busy host) is the service's delay, not the client's: it is read, not answered 408.
#[tokio::test]
async fn a_body_that_arrived_while_the_service_was_paused_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let mut deployment = Deployment::embedded(dir.path().join("orgsvc.redb")).await;
    deployment
        .extra_env
        .push(("ORGSVC__HTTP__BODY_TIMEOUT_MS".into(), "300".into()));
    let service = deployment.start().await;
    let address = service.address.trim_start_matches("http://").to_owned();
    let pid = service.pid();
    let answers = tokio::task::spawn_blocking(move || {
        let body = json!({"email": "nobody@example.com", "password": PASSWORD}).to_string();
        // Several rounds: which of the service's timer and socket is looked at first after a
        // pause varies from one to the next.
        (0..5)
            .map(|_| {
                let mut stream = std::net::TcpStream::connect(&address).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                let head = format!(
                    "POST /admin/login HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
                     content-length: {}\r\n\r\n",
                    body.len()
                );
                stream.write_all(head.as_bytes()).unwrap();
                // Let the service start waiting for the body, then freeze it past its body
                // timeout while the body arrives.
                std::thread::sleep(Duration::from_millis(100));
                signal(pid, "STOP");
                stream.write_all(body.as_bytes()).unwrap();
                std::thread::sleep(Duration::from_millis(600));
                signal(pid, "CONT");
                let mut answer = vec![0; 4096];
                let n = stream.read(&mut answer).unwrap();
                String::from_utf8_lossy(&answer[..n]).into_owned()
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    for answer in answers {
        assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    }
}

#[tokio::test]
async fn responses_carry_protective_headers_and_head_works() {
    let app = TestApp::spawn(Backend::Embedded, "headers").await.unwrap();
    let response = app.client.head(app.url("/health")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    let response = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(response.headers()["x-frame-options"], "DENY");
    let response = app
        .client
        .patch(app.url("/org/create"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()[header::ALLOW], "POST");
}

#[tokio::test]
async fn eddsa_tokens_verify_with_the_published_jwks_alone() {
    use jsonwebtoken::jwk::JwkSet;
    use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};

    let dir = tempfile::tempdir().unwrap();
    let mut settings = helpers::settings(dir.path(), Backend::Embedded, "eddsa").unwrap();
    settings.auth.algorithm = orgsvc_crypto::JwtAlgorithm::EdDSA;
    let app = TestApp::spawn_with(settings, dir).await;
    let (org, token) = app.org_with_token("Acme", "admin@acme.io").await;

    // What another service does: fetch the key set, pick the token's key, verify.
    let jwks: JwkSet = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kid = decode_header(&token).unwrap().kid.unwrap();
    let jwk = jwks.find(&kid).expect("the token's key is published");
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_audience(&["orgsvc-api"]);
    validation.set_issuer(&["orgsvc"]);
    let claims =
        decode::<serde_json::Value>(&token, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
            .unwrap()
            .claims;
    assert_eq!(claims["org_id"], org["id"]);
    assert_eq!(claims["sub"], org["admin"]["id"]);

    // The generated private key is private, and survives a restart with its tokens.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(app.data.join("jwt_ed25519.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let app = app.restart().await;
    let (status, _) = app.insert_doc(&token, &json!({"after": "restart"})).await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn with_a_shared_secret_the_key_set_is_empty() {
    let app = TestApp::spawn(Backend::Embedded, "hs256_jwks")
        .await
        .unwrap();
    let (status, jwks) = app
        .send(app.client.get(app.url("/.well-known/jwks.json")))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(jwks, json!({"keys": []}));
}
