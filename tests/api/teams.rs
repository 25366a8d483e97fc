//! Organizations run by several people: invitations, roles on every endpoint, the last owner,
//! ownership transfer, users in several organizations, and removal revoking tokens.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{assert_problem, TestApp, PASSWORD};

impl TestApp {
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.send(request).await
    }

    /// Invites `email` as `role`; returns the invitation (with its one-time `token`).
    pub(crate) async fn invite(&self, token: &str, email: &str, role: &str) -> Value {
        let body = json!({"email": email, "role": role});
        let (status, invitation) = self
            .call(Method::POST, "/org/invitations", token, Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{invitation}");
        invitation
    }

    pub(crate) async fn accept(
        &self,
        invitation_token: &str,
        password: &str,
    ) -> (StatusCode, Value) {
        let body = json!({"token": invitation_token, "password": password});
        self.send(
            self.client
                .post(self.url("/invitations/accept"))
                .json(&body),
        )
        .await
    }

    /// Invites a new user and accepts for them; returns their token and user id.
    pub(crate) async fn join(&self, owner: &str, email: &str, role: &str) -> (String, String) {
        let invitation = self.invite(owner, email, role).await;
        let (status, joined) = self
            .accept(invitation["token"].as_str().unwrap(), PASSWORD)
            .await;
        assert_eq!(status, StatusCode::OK, "{joined}");
        assert_eq!(joined["role"], role);
        let token = joined["access_token"].as_str().unwrap().to_owned();
        let members = self.members(owner).await;
        let id = members
            .iter()
            .find(|m| m["email"] == email)
            .map(|m| m["user_id"].as_str().unwrap().to_owned())
            .expect("the new member is listed");
        (token, id)
    }

    pub(crate) async fn members(&self, token: &str) -> Vec<Value> {
        let (status, body) = self.call(Method::GET, "/org/members", token, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["members"].as_array().unwrap().clone()
    }

    pub(crate) async fn login_to(&self, email: &str, organization: &str) -> (StatusCode, Value) {
        let body = json!({"email": email, "password": PASSWORD, "organization_name": organization});
        self.send(self.client.post(self.url("/admin/login")).json(&body))
            .await
    }

    pub(crate) async fn token_works(&self, token: &str) -> bool {
        let (status, _) = self.call(Method::GET, "/org/documents", token, None).await;
        status == StatusCode::OK
    }
}

fn access_token(body: &Value) -> String {
    body["access_token"].as_str().expect("a token").to_owned()
}

async fn invitations_are_accepted_once_by_new_and_existing_users(app: TestApp) {
    let (_, owner) = app.org_with_token("Acme", "owner@acme.io").await;
    // A new user: the password given creates the account.
    let invitation = app.invite(&owner, "New@Acme.io", "member").await;
    assert_eq!(invitation["status"], "pending");
    assert_eq!(invitation["email"], "new@acme.io");
    let secret = invitation["token"].as_str().unwrap();
    let (status, joined) = app.accept(secret, "a new password").await;
    assert_eq!(status, StatusCode::OK, "{joined}");
    assert_eq!(joined["organization"]["organization_name"], "Acme");
    assert!(app.token_works(&access_token(&joined)).await);
    let (status, problem) = app.accept(secret, "a new password").await;
    assert_problem(status, &problem, 410, "invitation_gone");
    let (status, _) = app.login("new@acme.io", "a new password").await;
    assert_eq!(status, StatusCode::OK);

    // An existing user (owner of Globex) must give their own password.
    let (_, _) = app.org_with_token("Globex", "g@globex.io").await;
    let invitation = app.invite(&owner, "g@globex.io", "admin").await;
    let secret = invitation["token"].as_str().unwrap();
    let (status, problem) = app.accept(secret, "not the password").await;
    assert_problem(status, &problem, 401, "invalid_credentials");
    let (status, joined) = app.accept(secret, PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{joined}");
    assert_eq!(joined["role"], "admin");

    // Revoked and resent ones: the dead secret is gone, the new one works.
    let revoked = app.invite(&owner, "r@acme.io", "member").await;
    let path = format!("/org/invitations/{}", revoked["id"].as_str().unwrap());
    let (status, _) = app.call(Method::DELETE, &path, &owner, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, problem) = app
        .accept(revoked["token"].as_str().unwrap(), PASSWORD)
        .await;
    assert_problem(status, &problem, 410, "invitation_gone");
    let (status, problem) = app.call(Method::DELETE, &path, &owner, None).await;
    assert_problem(status, &problem, 410, "invitation_gone");

    let first = app.invite(&owner, "s@acme.io", "member").await;
    let (status, problem) = app.invite_again(&owner, "s@acme.io").await;
    assert_problem(status, &problem, 409, "invitation_pending");
    let resend = format!("/org/invitations/{}/resend", first["id"].as_str().unwrap());
    let (status, resent) = app.call(Method::POST, &resend, &owner, None).await;
    assert_eq!(status, StatusCode::OK, "{resent}");
    assert_ne!(resent["token"], first["token"]);
    let (status, problem) = app.accept(first["token"].as_str().unwrap(), PASSWORD).await;
    assert_problem(status, &problem, 410, "invitation_gone");
    let (status, _) = app
        .accept(resent["token"].as_str().unwrap(), PASSWORD)
        .await;
    assert_eq!(status, StatusCode::OK);

    // Tokens that name no invitation, and a forged secret for a real one, get the answer of
    // a used one: nothing tells which invitation ids exist.
    for unknown in ["", "garbage", &secret.replacen(&secret[..8], "00000000", 1)] {
        let (status, problem) = app.accept(unknown, PASSWORD).await;
        assert_problem(status, &problem, 410, "invitation_gone");
    }
    let flipped = if secret.ends_with('0') { '1' } else { '0' };
    let forged = format!("{}{flipped}", &secret[..secret.len() - 1]);
    let (status, problem) = app.accept(&forged, PASSWORD).await;
    assert_problem(status, &problem, 410, "invitation_gone");
    let (status, problem) = app.invite_again(&owner, "new@acme.io").await;
    assert_problem(status, &problem, 409, "already_member");

    let (status, listed) = app
        .call(Method::GET, "/org/invitations", &owner, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let statuses: Vec<&str> = listed["invitations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["status"].as_str().unwrap())
        .collect();
    // Newest first: s@ (accepted), r@ (revoked), g@, new@.
    assert_eq!(statuses, ["accepted", "revoked", "accepted", "accepted"]);
    assert!(
        listed["invitations"][0].get("token").is_none(),
        "secrets are shown once"
    );
}

impl TestApp {
    async fn invite_again(&self, token: &str, email: &str) -> (StatusCode, Value) {
        let body = json!({"email": email, "role": "member"});
        self.call(Method::POST, "/org/invitations", token, Some(body))
            .await
    }
}

async fn each_role_gets_exactly_what_the_permission_table_says(app: TestApp) {
    let (_, owner) = app.org_with_token("Acme", "owner@acme.io").await;
    let (admin, _) = app.join(&owner, "admin@acme.io", "admin").await;
    let (member, member_id) = app.join(&owner, "member@acme.io", "member").await;
    let key = app.api_key(&owner, &crate::api_keys::ALL_SCOPES).await;
    let roles = [
        ("owner", &owner),
        ("admin", &admin),
        ("member", &member),
        ("key", &key),
    ];
    // (method, path, body, expected status for owner, admin, member, and an owner's API key
    // with every scope)
    let member_path = format!("/org/members/{member_id}");
    let invite =
        |role: &str| Some(json!({"email": format!("{role}@invited.io"), "role": "member"}));
    let table: Vec<(Method, String, Option<Value>, [u16; 4])> = vec![
        (
            Method::GET,
            "/org/documents".into(),
            None,
            [200, 200, 200, 200],
        ),
        (
            Method::POST,
            "/org/documents".into(),
            Some(json!({"a": 1})),
            [201, 201, 201, 201],
        ),
        (
            Method::GET,
            "/org/members".into(),
            None,
            [200, 200, 403, 200],
        ),
        (
            Method::GET,
            "/org/invitations".into(),
            None,
            [200, 200, 403, 403],
        ),
        (
            Method::POST,
            "/org/invitations".into(),
            invite("any"),
            [201, 409, 403, 403],
        ),
        (Method::GET, "/org/audit".into(), None, [200, 200, 403, 200]),
        (
            Method::PATCH,
            member_path.clone(),
            Some(json!({"role": "member"})),
            [200, 200, 403, 403],
        ),
        (
            Method::POST,
            "/org/transfer-ownership".into(),
            Some(json!({"user_id": uuid::Uuid::new_v4()})),
            [404, 403, 403, 403],
        ),
        (
            Method::DELETE,
            "/org/delete?organization_name=Acme".into(),
            None,
            [0, 403, 403, 403],
        ),
        (
            Method::GET,
            "/org/api-keys".into(),
            None,
            [200, 200, 403, 403],
        ),
        (
            Method::POST,
            "/org/api-keys".into(),
            Some(json!({"name": "job", "scopes": ["documents:read"]})),
            [201, 201, 403, 403],
        ),
        (
            Method::GET,
            "/org/webhooks".into(),
            None,
            [200, 200, 403, 403],
        ),
        (
            Method::POST,
            "/org/webhooks".into(),
            Some(json!({"url": "https://hooks.example.invalid/in"})),
            [201, 201, 403, 403],
        ),
    ];
    for (method, path, body, expected) in &table {
        for ((role, token), status) in roles.iter().zip(expected) {
            if *status == 0 {
                continue;
            }
            let (got, answer) = app.call(method.clone(), path, token, body.clone()).await;
            assert_eq!(got.as_u16(), *status, "{role}: {method} {path}: {answer}");
            if got.as_u16() == 403 {
                // A key is told when the route is for people; otherwise refused like a role.
                let people_only = *role == "key" && answer["code"] == "api_key_not_allowed";
                assert!(
                    answer["code"] == "forbidden" || people_only,
                    "{role}: {method} {path}: {answer}"
                );
            }
        }
    }
    // Renames: each role tries a spelling of its own (resending the current one is no change).
    for ((role, token), (name, expected)) in
        roles
            .iter()
            .zip([("ACME", 200), ("Acme", 200), ("AcMe", 403), ("acme", 403)])
    {
        let (status, answer) = app
            .update_org(token, &json!({"organization_name": name}))
            .await;
        assert_eq!(status.as_u16(), expected, "{role} renames: {answer}");
    }
    // Making someone an owner is for owners (last: it changes the member's role).
    let promote = Some(json!({"role": "owner"}));
    let (status, _) = app
        .call(Method::PATCH, &member_path, &admin, promote.clone())
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app.call(Method::PATCH, &member_path, &owner, promote).await;
    assert_eq!(status, StatusCode::OK);
    // Invitations: within one's own role.
    let roles = [("owner", &owner), ("admin", &admin)];
    for (role, token) in roles {
        let body =
            |as_role: &str| json!({"email": format!("{role}-{as_role}@x.io"), "role": as_role});
        let (status, _) = app
            .call(Method::POST, "/org/invitations", token, Some(body("owner")))
            .await;
        assert_eq!(
            status.as_u16(),
            if role == "owner" { 201 } else { 403 },
            "{role} invites an owner"
        );
        let (status, _) = app
            .call(
                Method::POST,
                "/org/invitations",
                token,
                Some(body("member")),
            )
            .await;
        assert_eq!(status.as_u16(), 201, "{role} invites a member");
    }
}

async fn the_last_owner_stays_and_ownership_can_be_handed_over(app: TestApp) {
    let (_, owner) = app.org_with_token("Acme", "owner@acme.io").await;
    let owner_id = app.members(&owner).await[0]["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, problem) = app.call(Method::POST, "/org/leave", &owner, None).await;
    assert_problem(status, &problem, 409, "last_owner");
    let own = format!("/org/members/{owner_id}");
    let (status, problem) = app
        .call(Method::PATCH, &own, &owner, Some(json!({"role": "admin"})))
        .await;
    assert_problem(status, &problem, 409, "last_owner");
    let (status, problem) = app.call(Method::DELETE, &own, &owner, None).await;
    assert_problem(status, &problem, 409, "last_owner");

    let (admin, admin_id) = app.join(&owner, "admin@acme.io", "admin").await;
    let (status, problem) = app.call(Method::DELETE, &own, &admin, None).await;
    assert_problem(status, &problem, 403, "forbidden");
    let body = json!({"user_id": admin_id});
    let (status, answer) = app
        .call(Method::POST, "/org/transfer-ownership", &owner, Some(body))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{answer}");
    // Both roles changed: both tokens are refused until they log in again.
    assert!(!app.token_works(&owner).await);
    assert!(!app.token_works(&admin).await);
    let (_, new_owner) = app.login("admin@acme.io", PASSWORD).await;
    let new_owner = access_token(&new_owner);
    let (_, old_owner) = app.login("owner@acme.io", PASSWORD).await;
    let old_owner = access_token(&old_owner);
    let roles: Vec<(String, String)> = app
        .members(&new_owner)
        .await
        .iter()
        .map(|m| {
            (
                m["email"].as_str().unwrap().to_owned(),
                m["role"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        roles,
        [
            ("owner@acme.io".into(), "admin".into()),
            ("admin@acme.io".into(), "owner".into())
        ]
    );
    let (_, shown) = app.get_org_as(&new_owner, "Acme").await;
    assert_eq!(shown["admin"]["id"], admin_id, "shown with its owner");
    let (status, problem) = app.delete_org(&old_owner, "Acme").await;
    assert_problem(status, &problem, 403, "forbidden");
    // The former owner may leave now; their account goes with their last organization.
    let (status, _) = app.call(Method::POST, "/org/leave", &old_owner, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, problem) = app.login("owner@acme.io", PASSWORD).await;
    assert_problem(status, &problem, 401, "invalid_credentials");
    let (status, _) = app.create_org("Owner Again", "owner@acme.io").await;
    assert_eq!(status, StatusCode::CREATED, "the email is free again");
}

async fn removal_and_demotion_revoke_tokens_at_once_and_deletion_removes_lone_users(app: TestApp) {
    let (_, owner) = app.org_with_token("Acme", "owner@acme.io").await;
    let (admin, admin_id) = app.join(&owner, "admin@acme.io", "admin").await;
    let (member, member_id) = app.join(&owner, "member@acme.io", "member").await;
    assert!(app.token_works(&admin).await && app.token_works(&member).await);
    let path = format!("/org/members/{admin_id}");
    let (status, changed) = app
        .call(
            Method::PATCH,
            &path,
            &owner,
            Some(json!({"role": "member"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["role"], "member");
    assert!(
        !app.token_works(&admin).await,
        "a demotion revokes the old token"
    );
    let path = format!("/org/members/{member_id}");
    let (status, _) = app.call(Method::DELETE, &path, &owner, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(
        !app.token_works(&member).await,
        "a removal revokes the token"
    );
    let (status, problem) = app.login("member@acme.io", PASSWORD).await;
    assert_problem(status, &problem, 401, "invalid_credentials");

    // One more organization for the former admin: deleting Acme keeps that user.
    let (_, demoted) = app.login("admin@acme.io", PASSWORD).await;
    let body = json!({"organization_name": "Side Project"});
    let request = app
        .client
        .post(app.url("/org/create"))
        .bearer_auth(access_token(&demoted))
        .json(&body);
    let (status, side) = app.send(request).await;
    assert_eq!(status, StatusCode::CREATED, "{side}");
    let (status, _) = app.delete_org(&owner, "Acme").await;
    assert_eq!(status, StatusCode::OK);
    let (status, problem) = app.login("owner@acme.io", PASSWORD).await;
    assert_problem(status, &problem, 401, "invalid_credentials");
    let (status, token) = app.login("admin@acme.io", PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{token}");
    let (status, _) = app.create_org("Acme", "owner@acme.io").await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "the lone owner's email is free again"
    );
}

async fn a_user_of_two_organizations_chooses_at_login_and_switches(app: TestApp) {
    let (_, acme) = app.org_with_token("Acme", "ada@acme.io").await;
    let body = json!({"organization_name": "Globex"});
    let request = app
        .client
        .post(app.url("/org/create"))
        .bearer_auth(&acme)
        .json(&body);
    let (status, globex) = app.send(request).await;
    assert_eq!(status, StatusCode::CREATED, "{globex}");
    assert_eq!(globex["admin"]["email"], "ada@acme.io");
    let (status, problem) = app.login("ada@acme.io", PASSWORD).await;
    assert_problem(status, &problem, 409, "organization_required");
    assert_eq!(problem["organizations"], json!(["Acme", "Globex"]));
    let (status, problem) = app.login("ada@acme.io", "wrong password").await;
    assert_problem(status, &problem, 401, "invalid_credentials");
    assert!(
        problem.get("organizations").is_none(),
        "names only after the password"
    );
    let (status, token) = app.login_to("ada@acme.io", "globex").await;
    assert_eq!(status, StatusCode::OK, "{token}");
    let globex_token = access_token(&token);
    let (_, doc) = app
        .insert_doc(&globex_token, &json!({"in": "globex"}))
        .await;
    assert!(app.get_doc(&acme, doc["id"].as_str().unwrap()).await.0 == StatusCode::NOT_FOUND);
    let (status, problem) = app.login_to("ada@acme.io", "Initech").await;
    assert_problem(status, &problem, 403, "not_a_member");

    let (status, switched) = app
        .call(
            Method::POST,
            "/admin/switch",
            &globex_token,
            Some(json!({"organization_name": "Acme"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{switched}");
    let back = access_token(&switched);
    assert_eq!(
        app.all_docs(&back).await.len(),
        0,
        "the Acme token sees Acme's documents"
    );
    app.create_org("Initech", "bob@initech.io").await;
    let (status, problem) = app
        .call(
            Method::POST,
            "/admin/switch",
            &back,
            Some(json!({"organization_name": "Initech"})),
        )
        .await;
    assert_problem(status, &problem, 403, "not_a_member");
    // A single-organization user logs in as before, without naming it.
    let (status, _) = app.login("bob@initech.io", PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
}

async fn concurrent_accepts_of_one_invitation_have_exactly_one_winner(app: TestApp) {
    let (_, owner) = app.org_with_token("Acme", "owner@acme.io").await;
    let invitation = app.invite(&owner, "race@acme.io", "member").await;
    let secret = invitation["token"].as_str().unwrap().to_owned();
    let app = std::sync::Arc::new(app);
    let attempts: Vec<_> = (0..8)
        .map(|_| {
            let (app, secret) = (app.clone(), secret.clone());
            tokio::spawn(async move { app.accept(&secret, PASSWORD).await })
        })
        .collect();
    let mut statuses = Vec::new();
    for attempt in attempts {
        let (status, body) = attempt.await.unwrap();
        assert!(
            status == StatusCode::OK || body["code"] == "invitation_gone",
            "{status} {body}"
        );
        statuses.push(status);
    }
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 1);
    let members = app.members(&owner).await;
    assert_eq!(members.len(), 2, "{members:?}");
}

/// A store written by the version before rosters (tests/fixtures): its admin logs in as the
/// owner, its documents are there, and the team endpoints work on it, after a restart too.
#[tokio::test]
async fn an_embedded_store_written_before_rosters_is_upgraded_in_place() {
    use std::io::Read as _;

    let dir = tempfile::tempdir().unwrap();
    let packed = include_bytes!("../fixtures/embedded-before-rosters.redb.gz");
    let mut store = Vec::new();
    flate2::read::GzDecoder::new(&packed[..])
        .read_to_end(&mut store)
        .unwrap();
    std::fs::write(dir.path().join("orgsvc.redb"), store).unwrap();
    let settings =
        crate::helpers::settings(dir.path(), crate::helpers::Backend::Embedded, "upgrade")
            .expect("embedded always runs");
    let mut app = TestApp::spawn_with(settings, dir).await;
    for _ in 0..2 {
        let (status, token) = app.login("old@old.co", PASSWORD).await;
        assert_eq!(status, StatusCode::OK, "{token}");
        let owner = access_token(&token);
        let documents = app.all_docs(&owner).await;
        assert_eq!(documents.len(), 1);
        assert_eq!(documents[0]["data"], json!({"kept": "across the upgrade"}));
        let members = app.members(&owner).await;
        assert_eq!(members.len(), 1);
        assert_eq!(
            (&members[0]["email"], &members[0]["role"]),
            (&json!("old@old.co"), &json!("owner"))
        );
        app = app.restart().await;
    }
    let (_, token) = app.login("old@old.co", PASSWORD).await;
    let owner = access_token(&token);
    let (joined, _) = app.join(&owner, "new@old.co", "admin").await;
    assert!(app.token_works(&joined).await);
}

on_both_backends!(
    invitations_are_accepted_once_by_new_and_existing_users,
    each_role_gets_exactly_what_the_permission_table_says,
    the_last_owner_stays_and_ownership_can_be_handed_over,
    removal_and_demotion_revoke_tokens_at_once_and_deletion_removes_lone_users,
    a_user_of_two_organizations_chooses_at_login_and_switches,
    concurrent_accepts_of_one_invitation_have_exactly_one_winner,
);
