//! Team changes racing each other, each raced for several rounds on every backend and tenancy
//! model: whatever order the server applies them in, an acknowledged change is never undone,
//! a revoked invitation is never also accepted, and an organization never loses its last owner.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{TestApp, PASSWORD};

const ROUNDS: usize = 8;

fn role_of<'a>(members: &'a [Value], user_id: &str) -> Option<&'a str> {
    members
        .iter()
        .find(|m| m["user_id"] == user_id)
        .and_then(|m| m["role"].as_str())
}

/// The owner removes (even rounds) or demotes (odd rounds) an admin while that admin keeps
/// changing a member's role: the owner's answer holds afterwards, and so does every change the
/// admin was told succeeded before it.
async fn a_removal_or_demotion_racing_the_admins_own_changes_holds(app: TestApp) {
    for round in 0..ROUNDS {
        let name = format!("Race {round}");
        let (_, owner) = app
            .org_with_token(&name, &format!("owner{round}@race.io"))
            .await;
        let (admin, admin_id) = app
            .join(&owner, &format!("admin{round}@race.io"), "admin")
            .await;
        let (_, member_id) = app
            .join(&owner, &format!("member{round}@race.io"), "member")
            .await;
        let remove = round % 2 == 0;
        let owners_change = async {
            let path = format!("/org/members/{admin_id}");
            if remove {
                app.call(Method::DELETE, &path, &owner, None).await
            } else {
                let body = json!({"role": "member"});
                app.call(Method::PATCH, &path, &owner, Some(body)).await
            }
        };
        let admins_changes = async {
            let path = format!("/org/members/{member_id}");
            let mut last_granted = None;
            for role in ["admin", "member", "admin", "member"] {
                let body = json!({"role": role});
                let (status, answer) = app.call(Method::PATCH, &path, &admin, Some(body)).await;
                match status {
                    StatusCode::OK => last_granted = Some(role),
                    StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => break,
                    other => panic!("round {round}: {other} {answer}"),
                }
            }
            last_granted
        };
        let ((status, answer), last_granted) = tokio::join!(owners_change, admins_changes);
        let expected = if remove {
            StatusCode::NO_CONTENT
        } else {
            StatusCode::OK
        };
        assert_eq!(status, expected, "round {round}: {answer}");
        let members = app.members(&owner).await;
        let admins_role = role_of(&members, &admin_id);
        if remove {
            assert_eq!(
                admins_role, None,
                "round {round}: removal undone: {members:?}"
            );
            let (status, _) = app.login_to(&format!("admin{round}@race.io"), &name).await;
            assert_ne!(
                status,
                StatusCode::OK,
                "round {round}: the removed admin logs in"
            );
        } else {
            assert_eq!(
                admins_role,
                Some("member"),
                "round {round}: demotion undone"
            );
        }
        assert!(
            !app.token_works(&admin).await,
            "round {round}: the admin's token outlived the change"
        );
        if let Some(role) = last_granted {
            assert_eq!(
                role_of(&members, &member_id),
                Some(role),
                "round {round}: an acknowledged change was lost: {members:?}"
            );
        }
    }
}

/// An invitation revoked while it is being accepted, by a new user (even rounds) or one who
/// already has an account (odd rounds): at most one of the two succeeds, and the roster says
/// which.
async fn a_revoke_racing_an_accept_has_one_outcome(app: TestApp) {
    let (_, owner) = app.org_with_token("Acme", "owner@acme.io").await;
    for round in 0..ROUNDS {
        let email = format!("guest{round}@race.io");
        if round % 2 == 1 {
            let (status, _) = app.create_org(&format!("Own {round}"), &email).await;
            assert_eq!(status, StatusCode::CREATED);
        }
        let invitation = app.invite(&owner, &email, "member").await;
        let path = format!("/org/invitations/{}", invitation["id"].as_str().unwrap());
        let secret = invitation["token"].as_str().unwrap();
        let ((revoked, revoke_answer), (accepted, accept_answer)) = tokio::join!(
            app.call(Method::DELETE, &path, &owner, None),
            app.accept(secret, PASSWORD),
        );
        let revoked = revoked == StatusCode::NO_CONTENT;
        let accepted = accepted == StatusCode::OK;
        assert!(
            revoked != accepted,
            "round {round}: revoke {revoke_answer} / accept {accept_answer}"
        );
        let listed = app
            .members(&owner)
            .await
            .iter()
            .any(|m| m["email"] == email.as_str());
        assert_eq!(listed, accepted, "round {round}");
    }
}

/// Both owners leave at once: one of them stays, and the organization is served as usual.
async fn two_owners_leaving_at_once_leave_one_owner(app: TestApp) {
    for round in 0..ROUNDS {
        let name = format!("Pair {round}");
        let (_, first) = app
            .org_with_token(&name, &format!("first{round}@race.io"))
            .await;
        let (second, _) = app
            .join(&first, &format!("second{round}@race.io"), "owner")
            .await;
        let ((a, a_answer), (b, b_answer)) = tokio::join!(
            app.call(Method::POST, "/org/leave", &first, None),
            app.call(Method::POST, "/org/leave", &second, None),
        );
        let left = [a, b]
            .iter()
            .filter(|s| **s == StatusCode::NO_CONTENT)
            .count();
        assert_eq!(left, 1, "round {round}: {a} {a_answer} / {b} {b_answer}");
        for (status, answer) in [(a, &a_answer), (b, &b_answer)] {
            if status != StatusCode::NO_CONTENT {
                assert_eq!(answer["code"], "last_owner", "round {round}: {answer}");
            }
        }
        let (status, shown) = app.get_org(&name).await;
        assert_eq!(status, StatusCode::OK, "round {round}: {shown}");
        let staying = if a == StatusCode::NO_CONTENT {
            &second
        } else {
            &first
        };
        let members = app.members(staying).await;
        assert_eq!(members.len(), 1, "round {round}: {members:?}");
        assert_eq!(members[0]["role"], "owner");
    }
}

/// Five accepts at once of one invitation by someone who already has an account: one joins,
/// the others are told the invitation is gone.
async fn parallel_accepts_by_an_existing_user_have_one_winner(app: TestApp) {
    let (_, owner) = app.org_with_token("Acme", "owner@acme.io").await;
    for round in 0..ROUNDS {
        let email = format!("existing{round}@race.io");
        let (status, _) = app.create_org(&format!("Home {round}"), &email).await;
        assert_eq!(status, StatusCode::CREATED);
        let invitation = app.invite(&owner, &email, "admin").await;
        let secret = invitation["token"].as_str().unwrap();
        let answers =
            futures_util::future::join_all((0..5).map(|_| app.accept(secret, PASSWORD))).await;
        let mut joined = 0;
        for (status, answer) in &answers {
            if *status == StatusCode::OK {
                joined += 1;
            } else {
                assert_eq!(
                    answer["code"], "invitation_gone",
                    "round {round}: {status} {answer}"
                );
            }
        }
        let statuses: Vec<_> = answers.iter().map(|(status, _)| *status).collect();
        assert_eq!(joined, 1, "round {round}: {statuses:?}");
        let members = app.members(&owner).await;
        let listed = members
            .iter()
            .filter(|m| m["email"] == email.as_str())
            .count();
        assert_eq!(listed, 1, "round {round}: {members:?}");
    }
}

on_both_backends!(
    a_removal_or_demotion_racing_the_admins_own_changes_holds,
    a_revoke_racing_an_accept_has_one_outcome,
    two_owners_leaving_at_once_leave_one_owner,
    parallel_accepts_by_an_existing_user_have_one_winner,
);
