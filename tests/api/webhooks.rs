//! Signed webhooks end to end: a real receiver verifying every delivery with the Standard
//! Webhooks reference library sees each committed change once per `webhook-id`, in order;
//! through secret rotation, a receiver outage, replays and a SIGKILL of the service.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{assert_problem, settings, Backend, TestApp};

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

    async fn deliveries(&self, token: &str, id: &str) -> Value {
        let path = format!("/org/webhooks/{id}/deliveries");
        let (status, log) = self.call(Method::GET, &path, token, None).await;
        assert_eq!(status, StatusCode::OK, "{log}");
        log
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

    let log = app.deliveries(&owner, &all).await;
    assert_eq!(log["delivered_through"], seqs[seqs.len() - 1]);
    let attempts = log["deliveries"].as_array().unwrap();
    assert!(attempts
        .iter()
        .all(|a| a["outcome"] == "delivered" && a["status"] == 204));
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
    let log = app.deliveries(&owner, &all).await;
    assert_eq!(log["deliveries"][0]["replay"], true);

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
    let log = app.deliveries(&owner, &id).await;
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
    assert!(app.deliveries(&owner, &id).await["failing_since"].is_null());
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
