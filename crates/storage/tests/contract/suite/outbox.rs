//! The outbox promises: every committed change yields its events in the same atomic write,
//! numbered per organization in commit order, a failed one none; claims keep workers apart;
//! replays are bounded; a deleted organization's outbox goes once it is told.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{Duration, Utc};
use orgsvc_domain::errors::SaveRosterError;
use orgsvc_domain::ports::Store;
use orgsvc_domain::webhooks::{
    EndpointProgress, EndpointSecret, EventFilter, EventType, OutboxProgress, Replay,
    WebhookEndpoint, WebhookEvent, WebhookSecret, WebhookUrl, MAX_REPLAYS,
};
use orgsvc_domain::{
    EmailAddress, Invitation, InvitationId, InvitationState, OrganizationId, Role, Roster,
    WebhookId,
};

use super::{change, create};

async fn events(store: &impl Store, organization: &OrganizationId) -> Vec<WebhookEvent> {
    store.outbox_events(organization, 0, 1_000).await.unwrap()
}

fn types(events: &[WebhookEvent]) -> Vec<&'static str> {
    events.iter().map(|e| e.event_type.as_str()).collect()
}

fn invitation(roster: &Roster, email: &str) -> Invitation {
    let at = Utc::now();
    Invitation {
        id: InvitationId::generate(),
        email: EmailAddress::new(email).unwrap(),
        role: Role::Member,
        secret_digest: "ab".repeat(32),
        invited_by: roster.members[0].user_id,
        created_at: at,
        expires_at: at + Duration::days(7),
        state: InvitationState::Pending,
    }
}

fn endpoint(roster: &Roster) -> WebhookEndpoint {
    let at = Utc::now();
    WebhookEndpoint {
        id: WebhookId::generate(),
        url: WebhookUrl::stored("https://hooks.example.com/in".into()),
        events: [EventType::OrganizationDeleted]
            .into_iter()
            .collect::<EventFilter>(),
        enabled: true,
        secrets: vec![EndpointSecret {
            secret: WebhookSecret::generate(),
            created_at: at,
            expires_at: None,
        }],
        created_by: roster.members[0].user_id,
        created_at: at,
        updated_at: at,
        disabled_reason: None,
    }
}

async fn roster(store: &impl Store, organization: &OrganizationId) -> Roster {
    store.find_roster(organization).await.unwrap().unwrap()
}

pub async fn every_committed_change_yields_its_events_in_commit_order_and_a_failed_one_none(
    store: &impl Store,
) {
    let acme = create(store, "Acme Outbox", "a@outbox.io").await;
    let seen = events(store, &acme.id).await;
    assert_eq!(types(&seen), ["organization.created"]);
    assert_eq!(seen[0].seq, 1);
    assert_eq!(seen[0].data["name"], "Acme Outbox");

    let read = roster(store, &acme.id).await;
    let mut invited = read.clone();
    invited.invitations.push(invitation(&read, "ada@outbox.io"));
    store.save_roster(&invited, None).await.unwrap();
    // The same edit again, at the version read before: refused, and nothing told.
    let mut stale = read.clone();
    stale.invitations.push(invitation(&read, "bob@outbox.io"));
    assert!(matches!(
        store.save_roster(&stale, None).await,
        Err(SaveRosterError::Conflict)
    ));
    // A change that only records use tells nothing.
    let unchanged = roster(store, &acme.id).await;
    store.save_roster(&unchanged, None).await.unwrap();

    store
        .update_organization(&change(&acme, "Acme Outbox Renamed"))
        .await
        .unwrap();
    store
        .update_organization(&change(&acme, "ACME outbox renamed"))
        .await
        .unwrap();
    // The same name again: no rename.
    store
        .update_organization(&change(&acme, "ACME outbox renamed"))
        .await
        .unwrap();

    let seen = events(store, &acme.id).await;
    assert_eq!(
        types(&seen),
        [
            "organization.created",
            "invitation.created",
            "organization.renamed",
            "organization.renamed",
        ]
    );
    assert_eq!(seen.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3, 4]);
    assert_eq!(seen[1].data["email"], "ada@outbox.io");
    assert_eq!(seen[2].data["previous_name"], "Acme Outbox");
    assert_eq!(seen[3].data["name"], "ACME outbox renamed");
    assert!(seen.windows(2).all(|w| w[0].at <= w[1].at));
    let ids: BTreeSet<_> = seen.iter().map(WebhookEvent::id).collect();
    assert_eq!(ids.len(), 4);
    assert_eq!(
        store.outbox_events(&acme.id, 2, 1).await.unwrap()[0].seq,
        3,
        "paged after a seq"
    );
    let later = seen[3].at + Duration::seconds(1);
    assert_eq!(store.outbox_seq_before(&acme.id, later).await.unwrap(), 4);
    let before_all = seen[0].at - Duration::seconds(1);
    assert_eq!(
        store.outbox_seq_before(&acme.id, before_all).await.unwrap(),
        0
    );

    // Another organization's numbers are its own.
    let other = create(store, "Other Outbox", "o@outbox.io").await;
    assert_eq!(events(store, &other.id).await[0].seq, 1);
}

pub async fn a_deleted_organization_tells_the_endpoints_it_had_and_its_outbox_goes_after(
    store: &impl Store,
) {
    let acme = create(store, "Gone Outbox", "g@outbox.io").await;
    let mut with_endpoint = roster(store, &acme.id).await;
    let endpoint = endpoint(&with_endpoint);
    with_endpoint.webhooks.push(endpoint.clone());
    store.save_roster(&with_endpoint, None).await.unwrap();
    assert_eq!(
        roster(store, &acme.id).await.webhooks,
        std::slice::from_ref(&endpoint)
    );
    let deletion = crate::suite::deletion();
    store
        .delete_organization(&acme.id, &deletion)
        .await
        .unwrap();

    let seen = events(store, &acme.id).await;
    assert_eq!(
        types(&seen),
        [
            "organization.created",
            "webhook_endpoint.created",
            "organization.deleted"
        ]
    );
    assert_eq!(seen[2].data["name"], "Gone Outbox");
    assert_eq!(
        seen[2].data["receipt_id"],
        deletion.receipt_id.to_string().as_str()
    );

    let now = Utc::now();
    let claims = store
        .claim_outboxes("w1", now, now + Duration::seconds(60), 100)
        .await
        .unwrap();
    let claim = claims
        .into_iter()
        .find(|c| c.organization_id == acme.id)
        .expect("due");
    assert!(claim.deleted);
    assert_eq!(claim.head, 3);
    assert_eq!(claim.endpoints, [endpoint]);
    // Only the holder purges.
    store.purge_outbox("w2", &acme.id).await.unwrap();
    assert_eq!(events(store, &acme.id).await.len(), 3);
    store.purge_outbox("w1", &acme.id).await.unwrap();
    assert!(events(store, &acme.id).await.is_empty());
    assert_eq!(
        store.outbox_progress(&acme.id).await.unwrap(),
        OutboxProgress::default()
    );
}

pub async fn claims_keep_workers_apart_and_releases_say_when_to_come_back(store: &impl Store) {
    let acme = create(store, "Claimed Outbox", "c@outbox.io").await;
    let now = Utc::now();
    let lease = now + Duration::seconds(60);
    let mine = store.claim_outboxes("w1", now, lease, 100).await.unwrap();
    let claim = mine
        .into_iter()
        .find(|c| c.organization_id == acme.id)
        .expect("due after its first event");
    assert!(!claim.deleted);
    assert_eq!(claim.head, 1);
    let theirs = store.claim_outboxes("w2", now, lease, 100).await.unwrap();
    assert!(theirs.iter().all(|c| c.organization_id != acme.id), "held");

    let mut progress = OutboxProgress::default();
    let endpoint = WebhookId::generate();
    progress.endpoints.insert(
        endpoint,
        EndpointProgress {
            cursor: 1,
            ..EndpointProgress::default()
        },
    );
    assert!(!store
        .release_outbox("w2", &claim, &progress, None)
        .await
        .unwrap());
    let wake = now + Duration::seconds(30);
    assert!(store
        .release_outbox("w1", &claim, &progress, Some(wake))
        .await
        .unwrap());
    assert_eq!(store.outbox_progress(&acme.id).await.unwrap(), progress);
    let ours = |claims: Vec<orgsvc_domain::webhooks::OutboxClaim>| {
        claims.into_iter().find(|c| c.organization_id == acme.id)
    };
    assert!(ours(store.claim_outboxes("w2", now, lease, 100).await.unwrap()).is_none());
    let woken = ours(
        store
            .claim_outboxes("w2", wake, wake + Duration::seconds(60), 100)
            .await
            .unwrap(),
    )
    .expect("due at its wake time");
    assert_eq!(woken.progress, progress);

    // An event committed while it is held makes it due at once after the release.
    store
        .update_organization(&change(&acme, "Claimed Outbox Renamed"))
        .await
        .unwrap();
    assert!(store
        .release_outbox("w2", &woken, &progress, Some(wake + Duration::hours(1)))
        .await
        .unwrap());
    let again = ours(store.claim_outboxes("w1", now, lease, 100).await.unwrap())
        .expect("due: an event came meanwhile");
    assert_eq!(again.head, 2);
    // A holder that died: its claim runs out and another takes over.
    let late = lease + Duration::seconds(1);
    let taken = ours(
        store
            .claim_outboxes("w2", late, late + Duration::seconds(60), 100)
            .await
            .unwrap(),
    );
    assert!(taken.is_some());
    assert!(!store
        .release_outbox("w1", &again, &progress, None)
        .await
        .unwrap());
}

pub async fn replays_are_bounded_and_consumed_only_when_read(store: &impl Store) {
    let acme = create(store, "Replayed Outbox", "r@outbox.io").await;
    let endpoint = WebhookId::generate();
    let now = Utc::now();
    let lease = now + Duration::seconds(60);
    let claim = store
        .claim_outboxes("w1", now, lease, 100)
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.organization_id == acme.id)
        .unwrap();
    let progress = OutboxProgress::default();
    store
        .release_outbox("w1", &claim, &progress, None)
        .await
        .unwrap();

    let first = Replay::Since {
        endpoint,
        since: now,
    };
    assert!(store.request_replay(&acme.id, &first).await.unwrap());
    let claim = store
        .claim_outboxes("w1", now, lease, 100)
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.organization_id == acme.id)
        .expect("a replay makes it due");
    assert_eq!(claim.progress.replays, [first]);
    let second = Replay::Event { endpoint, seq: 1 };
    assert!(store.request_replay(&acme.id, &second).await.unwrap());
    store
        .release_outbox("w1", &claim, &progress, None)
        .await
        .unwrap();
    assert_eq!(
        store.outbox_progress(&acme.id).await.unwrap().replays,
        std::slice::from_ref(&second),
        "the one read is gone, the one that came after it stays"
    );
    for _ in 1..MAX_REPLAYS {
        assert!(store.request_replay(&acme.id, &second).await.unwrap());
    }
    assert!(!store.request_replay(&acme.id, &second).await.unwrap());
    assert_eq!(
        store.outbox_progress(&acme.id).await.unwrap().replays.len(),
        MAX_REPLAYS
    );
}

pub async fn concurrent_changes_of_one_organization_get_consecutive_numbers<S: Store>(store: &S) {
    let acme = create(store, "Busy Outbox", "b@outbox.io").await;
    let store = Arc::new(store.clone());
    let mut tasks = Vec::new();
    for n in 0..8 {
        let store = Arc::clone(&store);
        let id = acme.id;
        tasks.push(tokio::spawn(async move {
            loop {
                let mut read = roster(&*store, &id).await;
                let next = invitation(&read, &format!("p{n}@outbox.io"));
                read.invitations.push(next);
                match store.save_roster(&read, None).await {
                    Ok(()) => return,
                    Err(SaveRosterError::Conflict) => tokio::task::yield_now().await,
                    Err(e) => panic!("{e:?}"),
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let seen = events(&*store, &acme.id).await;
    assert_eq!(
        seen.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=9).collect::<Vec<_>>()
    );
    let emails: BTreeSet<_> = seen[1..]
        .iter()
        .map(|e| e.data["email"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(emails.len(), 8, "each committed invitation told once");
}
