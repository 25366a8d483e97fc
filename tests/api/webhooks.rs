//! Signed webhooks end to end: a real receiver verifying every delivery with the Standard
//! Webhooks reference library sees each committed change once per `webhook-id`, in order;
//! through secret rotation, a receiver outage, replays and a SIGKILL of the service.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{assert_problem, settings, Backend, TestApp};
use crate::process::{Deployment, Service};

mod receiver;

use receiver::{distinct, seq, types, Receiver};

impl TestApp {
    /// Registers an endpoint at `url` for `events`; answers its id and secret.
    async fn register(&self, token: &str, url: &str, events: &[&str]) -> (String, String) {
        let body = json!({"url": url, "events": events});
        let (status, created) = self
            .call(Method::POST, "/org/webhooks", token, Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        (
            created["id"].as_str().unwrap().to_owned(),
            created["secret"].as_str().unwrap().to_owned(),
        )
    }

    /// The endpoint's delivery log once `settled` holds for it. A worker writes what it did
    /// when it lets go of the organization, a moment after the receiver answered.
    async fn deliveries(&self, token: &str, id: &str, settled: impl Fn(&Value) -> bool) -> Value {
        let path = format!("/org/webhooks/{id}/deliveries");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
        loop {
            let (status, log) = self.call(Method::GET, &path, token, None).await;
            assert_eq!(status, StatusCode::OK, "{log}");
            if settled(&log) {
                return log;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the delivery log never settled: {log:#}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

async fn a_verifying_receiver_sees_every_change_as_it_happened(app: TestApp) {
    let Some(receiver) = Receiver::start() else {
        return;
    };
    let (_, owner) = app.org_with_token("Hooked", "owner@hooked.io").await;
    // Down until it knows the secrets, so that every request it gets must verify.
    receiver.set_down(true);
    let (all, secret) = app.register(&owner, &receiver.url("/all"), &[]).await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    receiver.trust("/all", &[&secret]);
    let (_, members_secret) = app
        .register(
            &owner,
            &receiver.url("/members"),
            &["member.joined", "member.removed"],
        )
        .await;
    receiver.trust("/members", &[&members_secret]);
    receiver.set_down(false);

    let (_, member_id) = app.join(&owner, "ada@hooked.io", "member").await;
    let member = format!("/org/members/{member_id}");
    let (status, _) = app
        .call(
            Method::PATCH,
            &member,
            &owner,
            Some(json!({"role": "admin"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let key = json!({"name": "job", "scopes": ["documents:read"]});
    let (_, created) = app
        .call(Method::POST, "/org/api-keys", &owner, Some(key))
        .await;
    let key_path = format!("/org/api-keys/{}", created["id"].as_str().unwrap());
    app.call(Method::POST, &format!("{key_path}/rotate"), &owner, None)
        .await;
    app.call(Method::DELETE, &key_path, &owner, None).await;
    let (status, _) = app
        .update_org(&owner, &json!({"organization_name": "Hooked Renamed"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.call(Method::DELETE, &member, &owner, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let expected = [
        "webhook_endpoint.created",
        "webhook_endpoint.created",
        "invitation.created",
        "member.joined",
        "invitation.accepted",
        "member.role_changed",
        "api_key.created",
        "api_key.rotated",
        "api_key.revoked",
        "organization.renamed",
        "member.removed",
    ];
    let seen = receiver
        .wait_for("/all", "every change", |r| {
            distinct(r).len() >= expected.len()
        })
        .await;
    assert!(seen.iter().all(|r| r["verified"] == true), "{seen:#?}");
    let events = distinct(&seen);
    assert_eq!(types(&events), expected);
    let seqs: Vec<u64> = events.iter().map(seq).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] + 1 == w[1]),
        "consecutive: {seqs:?}"
    );
    let organization_id = events[0]["body"]["data"]["organization_id"].clone();
    assert!(events
        .iter()
        .all(|e| e["body"]["data"]["organization_id"] == organization_id));
    assert_eq!(events[3]["body"]["data"]["user_id"], member_id.as_str());
    assert_eq!(events[5]["body"]["data"]["previous_role"], "member");
    assert_eq!(events[9]["body"]["data"]["previous_name"], "Hooked");
    assert_eq!(events[9]["body"]["data"]["name"], "Hooked Renamed");
    let to_members = receiver
        .wait_for("/members", "joined and removed", |r| distinct(r).len() >= 2)
        .await;
    assert_eq!(
        types(&distinct(&to_members)),
        ["member.joined", "member.removed"]
    );

    let last = seqs[seqs.len() - 1];
    let log = app
        .deliveries(&owner, &all, |log| log["delivered_through"] == last)
        .await;
    let attempts = log["deliveries"].as_array().unwrap();
    // The worker may try the first events while the receiver is still down: those attempts
    // are the receiver's 503, and each event still ends delivered.
    let delivered = |a: &&Value| a["outcome"] == "delivered" && a["status"] == 204;
    assert!(
        attempts.iter().all(|a| delivered(&a) || a["status"] == 503),
        "{log:#}"
    );
    for s in &seqs {
        assert!(
            attempts.iter().filter(delivered).any(|a| a["seq"] == *s),
            "seq {s} never delivered: {log:#}"
        );
    }
    assert_eq!(attempts[0]["event_type"], "member.removed", "newest first");

    // One event again: the same webhook-id, marked as a replay in the log.
    let renamed = seqs[9];
    let replay = format!("/org/webhooks/{all}/replay");
    let (status, _) = app
        .call(Method::POST, &replay, &owner, Some(json!({"seq": renamed})))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let again = receiver
        .wait_for("/all", "the replay", |r| {
            r.iter().filter(|d| seq(d) == renamed).count() >= 2
        })
        .await;
    assert!(again.iter().all(|r| r["verified"] == true));
    app.deliveries(&owner, &all, |log| log["deliveries"][0]["replay"] == true)
        .await;

    // A new secret: for a day both sign, so a receiver still on the old one keeps working.
    let (status, rotated) = app
        .call(
            Method::POST,
            &format!("/org/webhooks/{all}/rotate-secret"),
            &owner,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let fresh = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(fresh, secret);
    app.invite(&owner, "bob@hooked.io", "member").await;
    let seen = receiver
        .wait_for("/all", "a delivery after the rotation", |r| {
            distinct(r).len() > expected.len() + 1
        })
        .await;
    let last = seen.last().unwrap();
    assert_eq!(last["signatures"], 2);
    assert_eq!(last["verified_with"], 0, "the old secret still verifies");
    receiver.trust("/all", &[&fresh]);
    app.invite(&owner, "cy@hooked.io", "member").await;
    let seen = receiver
        .wait_for("/all", "a delivery checked with the new secret", |r| {
            distinct(r).len() > expected.len() + 2
        })
        .await;
    assert_eq!(seen.last().unwrap()["verified"], true);

    // Disabled: what happens meanwhile is not sent; enabled again, it hears from then on.
    let endpoint = format!("/org/webhooks/{all}");
    let (status, off) = app
        .call(
            Method::PATCH,
            &endpoint,
            &owner,
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(
        (status, off["enabled"].clone()),
        (StatusCode::OK, json!(false))
    );
    app.invite(&owner, "unheard@hooked.io", "member").await;
    app.call(
        Method::PATCH,
        &endpoint,
        &owner,
        Some(json!({"enabled": true})),
    )
    .await;
    app.invite(&owner, "heard@hooked.io", "member").await;
    let seen = receiver
        .wait_for("/all", "the invitation after re-enabling", |r| {
            r.iter()
                .any(|d| d["body"]["data"]["email"] == "heard@hooked.io")
        })
        .await;
    assert!(
        seen.iter()
            .all(|d| d["body"]["data"]["email"] != "unheard@hooked.io"),
        "sent while disabled"
    );

    // Every change to the endpoints is audited.
    let (_, audit) = app
        .call(Method::GET, "/org/audit?limit=100", &owner, None)
        .await;
    let actions: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in [
        "webhook_created",
        "webhook_secret_rotated",
        "webhook_updated",
        "webhook_replay_requested",
    ] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
}

async fn a_receiver_down_for_a_while_gets_everything_afterwards_in_order(app: TestApp) {
    let Some(receiver) = Receiver::start() else {
        return;
    };
    let (_, owner) = app.org_with_token("Outage", "owner@outage.io").await;
    receiver.set_down(true);
    let (id, secret) = app.register(&owner, &receiver.url("/down"), &[]).await;
    receiver.trust("/down", &[&secret]);
    for n in 0..10 {
        app.invite(&owner, &format!("p{n}@outage.io"), "member")
            .await;
    }
    receiver
        .wait_for("/down", "retries while down", |r| {
            r.iter().filter(|d| d["status"] == 503).count() >= 3
        })
        .await;
    let log = app
        .deliveries(&owner, &id, |log| {
            log["deliveries"][0]["outcome"] == "failed"
        })
        .await;
    assert!(log["failing_since"].is_string(), "{log}");
    assert!(log["next_attempt_at"].is_string(), "{log}");
    assert_eq!(log["deliveries"][0]["outcome"], "failed");
    assert_eq!(log["deliveries"][0]["status"], 503);

    receiver.set_down(false);
    let seen = receiver
        .wait_for("/down", "all 11 events", |r| distinct(r).len() >= 11)
        .await;
    let events = distinct(&seen);
    let seqs: Vec<u64> = events.iter().map(seq).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] + 1 == w[1]),
        "in order, no gap: {seqs:?}"
    );
    // Never a later event before an earlier one was accepted.
    let accepted: Vec<u64> = seen
        .iter()
        .filter(|r| r["status"] == 204)
        .map(seq)
        .collect();
    assert!(accepted.windows(2).all(|w| w[0] <= w[1]), "{accepted:?}");
    let last = seqs[seqs.len() - 1];
    let log = app
        .deliveries(&owner, &id, |log| log["delivered_through"] == last)
        .await;
    assert!(log["failing_since"].is_null(), "{log}");
}

async fn endpoints_refuse_bad_input_and_people_below_admin(app: TestApp) {
    let (_, owner) = app.org_with_token("Strict", "owner@strict.io").await;
    let (member, _) = app.join(&owner, "member@strict.io", "member").await;
    let key = app.api_key(&owner, &crate::api_keys::ALL_SCOPES).await;
    let good = json!({"url": "https://hooks.example.invalid/in"});
    for (token, code) in [(&member, "forbidden"), (&key, "api_key_not_allowed")] {
        let (status, body) = app
            .call(Method::POST, "/org/webhooks", token, Some(good.clone()))
            .await;
        assert_problem(status, &body, 403, code);
    }
    for (body, field) in [
        (json!({"url": "ftp://hooks.example.com/"}), "url"),
        (json!({"url": "https://user:pw@hooks.example.com/"}), "url"),
        (json!({"url": "https://hooks.example.com/#x"}), "url"),
        (
            json!({"url": "https://hooks.example.invalid/", "events": ["nope"]}),
            "events",
        ),
        (
            json!({"url": "https://hooks.example.invalid/", "events": ["member.joined", "member.joined"]}),
            "events",
        ),
    ] {
        let (status, problem) = app
            .call(Method::POST, "/org/webhooks", &owner, Some(body))
            .await;
        assert_problem(status, &problem, 422, "validation_failed");
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    let unknown = format!("/org/webhooks/{}", uuid::Uuid::new_v4());
    let (status, body) = app.call(Method::DELETE, &unknown, &owner, None).await;
    assert_problem(status, &body, 404, "webhook_not_found");
    let (id, _) = app
        .register(
            &owner,
            "https://hooks.example.invalid/in",
            &["member.joined"],
        )
        .await;
    // `null`, like absence, keeps what the endpoint had.
    let keep = json!({"events": null, "url": null, "enabled": true});
    let path = format!("/org/webhooks/{id}");
    let (status, kept) = app.call(Method::PATCH, &path, &owner, Some(keep)).await;
    assert_eq!(status, StatusCode::OK, "{kept}");
    assert_eq!(kept["events"], json!(["member.joined"]));
    assert_eq!(kept["url"], "https://hooks.example.invalid/in");
    let replay = format!("/org/webhooks/{id}/replay");
    let both = json!({"seq": 1, "since": "2026-01-01T00:00:00Z"});
    let (status, body) = app.call(Method::POST, &replay, &owner, Some(both)).await;
    assert_problem(status, &body, 422, "validation_failed");
    for _ in 1..10 {
        app.register(&owner, "https://hooks.example.invalid/in", &[])
            .await;
    }
    let (status, body) = app
        .call(Method::POST, "/org/webhooks", &owner, Some(good))
        .await;
    assert_problem(status, &body, 409, "too_many_webhooks");
    let (_, listed) = app.call(Method::GET, "/org/webhooks", &owner, None).await;
    let listed = listed["webhooks"].as_array().unwrap();
    assert_eq!(listed.len(), 10);
    assert!(
        listed.iter().all(|w| w.get("secret").is_none()),
        "secrets are shown once"
    );
    assert_eq!(listed[0]["events"], json!(["member.joined"]));
}

on_both_backends!(
    a_verifying_receiver_sees_every_change_as_it_happened,
    a_receiver_down_for_a_while_gets_everything_afterwards_in_order,
    endpoints_refuse_bad_input_and_people_below_admin,
);

#[tokio::test]
async fn by_default_endpoints_must_be_https_on_public_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings(dir.path(), Backend::Embedded, "strict targets").unwrap();
    settings.webhooks.allow_private_targets = false;
    let app = TestApp::spawn_with(settings, dir).await;
    let (_, owner) = app.org_with_token("Careful", "owner@careful.io").await;
    for url in [
        "http://hooks.example.com/",
        "https://127.0.0.1/",
        "https://10.0.0.8/",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/",
        "https://localhost/",
    ] {
        let (status, body) = app
            .call(
                Method::POST,
                "/org/webhooks",
                &owner,
                Some(json!({"url": url})),
            )
            .await;
        assert_problem(status, &body, 422, "validation_failed");
    }
    app.register(&owner, "https://hooks.example.com/in", &[])
        .await;
}

impl Service {
    /// Registers an endpoint for every event at `url`; answers its secret.
    async fn register(&self, token: &str, url: &str) -> String {
        let request = self
            .client
            .post(self.url("/org/webhooks"))
            .bearer_auth(token);
        let created = self.json(request.json(&json!({"url": url}))).await;
        created["secret"].as_str().expect("a secret").to_owned()
    }

    /// Invites `email` as a member.
    async fn invite(&self, token: &str, email: &str) {
        let body = json!({"email": email, "role": "member"});
        let request = self
            .client
            .post(self.url("/org/invitations"))
            .bearer_auth(token);
        let answer = request.json(&body).send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::CREATED);
    }
}

/// SIGKILL after changes committed and before their delivery (the receiver is down), then a
/// restart: every event arrives, in order, verified.
async fn a_sigkill_between_commit_and_delivery_loses_no_event(deployment: &mut Deployment) {
    let Some(receiver) = Receiver::start() else {
        return;
    };
    deployment.extra_env.extend(
        [
            ("ALLOW_PRIVATE_TARGETS", "true"),
            ("POLL_MS", "100"),
            ("RETRY_FIRST_MS", "200"),
            ("RETRY_MAX_MS", "1000"),
            ("TIMEOUT_MS", "1000"),
            ("LEASE_SECONDS", "3"),
        ]
        .map(|(key, value)| (format!("ORGSVC__WEBHOOKS__{key}"), value.to_owned())),
    );
    let service = deployment.start().await;
    let (status, _) = service.create_org("Killed", "owner@killed.io").await;
    assert_eq!(status, StatusCode::CREATED);
    let token = service.token("owner@killed.io").await;
    receiver.set_down(true);
    let secret = service.register(&token, &receiver.url("/killed")).await;
    receiver.trust("/killed", &[&secret]);
    for n in 0..5 {
        service.invite(&token, &format!("p{n}@killed.io")).await;
    }
    // Deliveries are being tried (and failing) when the service dies.
    receiver
        .wait_for("/killed", "a failed attempt", |r| {
            r.iter().any(|d| d["status"] == 503)
        })
        .await;
    service.kill();
    receiver.set_down(false);
    let _restarted = deployment.start().await;
    let seen = receiver
        .wait_for("/killed", "all 6 events after the restart", |r| {
            distinct(r).len() >= 6
        })
        .await;
    assert!(seen.iter().all(|r| r["verified"] == true));
    let events = distinct(&seen);
    assert_eq!(
        events.iter().map(seq).collect::<Vec<_>>(),
        [2, 3, 4, 5, 6, 7]
    );
    assert_eq!(types(&events[..1]), ["webhook_endpoint.created"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_a_sigkill_between_commit_and_delivery_loses_no_event() {
    let dir = tempfile::tempdir().unwrap();
    let mut deployment = Deployment::embedded(dir.path().join("orgsvc.redb")).await;
    a_sigkill_between_commit_and_delivery_loses_no_event(&mut deployment).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mongodb_a_sigkill_between_commit_and_delivery_loses_no_event() {
    let Some(uri) = orgsvc_testkit::mongodb_or_skip("webhooks sigkill") else {
        return;
    };
    let mut deployment = Deployment::new(uri).await;
    a_sigkill_between_commit_and_delivery_loses_no_event(&mut deployment).await;
}

/// Three instances on one database each run a delivery worker: the receiver (slow, so that
/// overlapping attempts would show) still gets every event in order, and never the same
/// event twice at the same time, whichever instance made the change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_instances_never_deliver_one_event_twice_at_once() {
    let Some(uri) = orgsvc_testkit::mongodb_or_skip("webhooks instances") else {
        return;
    };
    let Some(receiver) = Receiver::start() else {
        return;
    };
    let mut deployment = Deployment::new(uri).await;
    deployment.extra_env.extend(
        [
            ("ALLOW_PRIVATE_TARGETS", "true"),
            ("POLL_MS", "50"),
            ("TIMEOUT_MS", "2000"),
            ("LEASE_SECONDS", "10"),
        ]
        .map(|(key, value)| (format!("ORGSVC__WEBHOOKS__{key}"), value.to_owned())),
    );
    let services = [
        deployment.start().await,
        deployment.start().await,
        deployment.start().await,
    ];
    let (status, _) = services[0].create_org("Many", "owner@many.io").await;
    assert_eq!(status, StatusCode::CREATED);
    let token = services[0].token("owner@many.io").await;
    receiver.set_down(true);
    let secret = services[1].register(&token, &receiver.url("/many")).await;
    receiver.trust("/many", &[&secret]);
    receiver.set_slow(true);
    receiver.set_down(false);
    for n in 0..12 {
        services[n % 3]
            .invite(&token, &format!("p{n}@many.io"))
            .await;
    }
    let seen = receiver
        .wait_for("/many", "all 13 events", |r| distinct(r).len() >= 13)
        .await;
    assert!(seen.iter().all(|r| r["verified"] == true), "{seen:#?}");
    let seqs: Vec<u64> = distinct(&seen).iter().map(seq).collect();
    assert_eq!(seqs, (2..=14).collect::<Vec<_>>(), "in order, without gaps");
    let span = |r: &Value| {
        (
            r["started"].as_f64().unwrap(),
            r["finished"].as_f64().unwrap(),
        )
    };
    for (i, a) in seen.iter().enumerate() {
        for b in &seen[i + 1..] {
            let ((a_start, a_end), (b_start, b_end)) = (span(a), span(b));
            assert!(
                a["id"] != b["id"] || a_end <= b_start || b_end <= a_start,
                "{} delivered twice at once: {a} and {b}",
                a["id"]
            );
        }
    }
}
