use crate::service::OrganizationApi as _;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::fakes::{FakeHasher, FakeStore, FakeTokens, FixedClock};
use crate::ports::{Delivery, DeliveryFailure, Outbox, WebhookTransport};
use crate::service::{CreateOrganization, TeamApi};
use crate::webhooks::{AttemptOutcome, EventType, TargetPolicy, MAX_ATTEMPTS};
use crate::{AuditAction, EmailAddress, OrganizationName, Password, Role};

type TestService = Service<(FakeStore, FakeHasher, FakeTokens, FixedClock)>;

/// Records what it was asked to send; answers 500 for URLs marked down.
#[derive(Clone, Default)]
struct Receiver {
    sent: Arc<Mutex<Vec<Sent>>>,
    down: Arc<Mutex<HashMap<String, bool>>>,
}

#[derive(Clone, Debug)]
struct Sent {
    url: String,
    id: String,
    event_type: String,
    secrets: usize,
}

impl Receiver {
    fn set_down(&self, url: &str, down: bool) {
        self.down.lock().unwrap().insert(url.to_owned(), down);
    }

    fn sent_to(&self, url: &str) -> Vec<Sent> {
        let sent = self.sent.lock().unwrap();
        sent.iter().filter(|s| s.url == url).cloned().collect()
    }
}

impl WebhookTransport for Receiver {
    async fn send(&self, delivery: Delivery<'_>) -> Result<u16, DeliveryFailure> {
        let body: serde_json::Value = serde_json::from_slice(delivery.body).unwrap();
        self.sent.lock().unwrap().push(Sent {
            url: delivery.url.as_str().to_owned(),
            id: delivery.id.to_owned(),
            event_type: body["type"].as_str().unwrap().to_owned(),
            secrets: delivery.secrets.len(),
        });
        if self.down.lock().unwrap().get(delivery.url.as_str()) == Some(&true) {
            return Err(DeliveryFailure {
                status: Some(500),
                reason: "answered 500".into(),
            });
        }
        Ok(204)
    }
}

struct Harness {
    service: TestService,
    store: FakeStore,
    clock: FixedClock,
    receiver: Receiver,
    worker: Deliverer<(FakeStore, FakeHasher, FakeTokens, FixedClock), Receiver>,
    owner: Principal,
}

fn policy() -> DeliveryPolicy {
    DeliveryPolicy {
        retry_first: Duration::from_secs(1),
        retry_max: Duration::from_secs(60),
        disable_after: Duration::from_secs(24 * 3_600),
        lease: Duration::from_secs(60),
    }
}

async fn harness() -> Harness {
    let store = FakeStore::default();
    let clock = FixedClock::default();
    let service = Service::new(
        store.clone(),
        FakeHasher::default(),
        FakeTokens,
        clock.clone(),
    );
    let organization = service
        .create_organization(
            &Origin::default(),
            CreateOrganization {
                name: OrganizationName::new("Hooked").unwrap(),
                email: EmailAddress::new("owner@hooked.test").unwrap(),
                password: Password::new("correct horse".into()).unwrap(),
            },
        )
        .await
        .unwrap();
    let owner = Principal {
        user_id: organization.owner.id,
        organization_id: organization.id,
        role: Role::Owner,
        token_version: 0,
        key: None,
    };
    let receiver = Receiver::default();
    let worker = Deliverer::new(service.clone(), receiver.clone(), policy(), "w1".into());
    Harness {
        service,
        store,
        clock,
        receiver,
        worker,
        owner,
    }
}

impl Harness {
    async fn endpoint(&self, url: &str, events: &[EventType]) -> IssuedWebhook {
        let policy = TargetPolicy {
            allow_private_targets: true,
        };
        self.service
            .create_webhook(
                &Origin::default(),
                &self.owner,
                NewWebhook {
                    url: WebhookUrl::new(url, policy).unwrap(),
                    events: events.iter().copied().collect(),
                    enabled: true,
                },
            )
            .await
            .unwrap()
    }

    async fn invite(&self, email: &str) {
        self.service
            .invite(
                &Origin::default(),
                &self.owner,
                EmailAddress::new(email).unwrap(),
                Role::Member,
            )
            .await
            .unwrap();
    }

    /// Runs the worker until nothing is due now.
    async fn drain(&self) {
        for _ in 0..100 {
            let claims = self.worker.claim(10).await.unwrap();
            if claims.is_empty() {
                return;
            }
            for claim in claims {
                self.worker.work(claim).await.unwrap();
            }
        }
        panic!("the worker never ran out of due work");
    }
}

fn types(sent: &[Sent]) -> Vec<&str> {
    sent.iter().map(|s| s.event_type.as_str()).collect()
}

#[tokio::test]
async fn each_endpoint_gets_the_events_it_subscribed_to_in_commit_order() {
    let h = harness().await;
    let all = "http://127.0.0.1:1/all";
    let invites = "http://127.0.0.1:1/invites";
    h.endpoint(all, &[]).await;
    h.endpoint(invites, &[EventType::InvitationCreated]).await;
    h.invite("a@hooked.test").await;
    h.invite("b@hooked.test").await;
    h.drain().await;

    let to_all = h.receiver.sent_to(all);
    // From its own creation on (not the founding before it).
    assert_eq!(
        types(&to_all),
        [
            "webhook_endpoint.created",
            "webhook_endpoint.created",
            "invitation.created",
            "invitation.created",
        ]
    );
    let ids: Vec<_> = to_all.iter().map(|s| s.id.clone()).collect();
    let mut sorted = ids.clone();
    sorted.dedup();
    assert_eq!(ids, sorted, "one id per event");
    assert!(to_all.iter().all(|s| s.secrets == 1));
    assert_eq!(
        types(&h.receiver.sent_to(invites)),
        ["invitation.created", "invitation.created"]
    );

    // Nothing is sent twice once delivered.
    h.drain().await;
    assert_eq!(h.receiver.sent_to(all).len(), 4);
    let log = h
        .service
        .webhook_deliveries(
            &h.owner,
            &h.service.list_webhooks(&h.owner).await.unwrap()[0].id,
        )
        .await
        .unwrap();
    assert_eq!(log.deliveries.len(), 4);
    assert!(log
        .deliveries
        .iter()
        .all(|d| d.outcome == AttemptOutcome::Delivered));
}

#[tokio::test]
async fn a_failing_endpoint_is_retried_later_in_order_and_holds_up_no_other() {
    let h = harness().await;
    let flaky = "http://127.0.0.1:1/flaky";
    let fine = "http://127.0.0.1:1/fine";
    h.endpoint(flaky, &[EventType::InvitationCreated]).await;
    h.endpoint(fine, &[EventType::InvitationCreated]).await;
    h.receiver.set_down(flaky, true);
    h.invite("a@hooked.test").await;
    h.invite("b@hooked.test").await;
    h.drain().await;
    assert_eq!(h.receiver.sent_to(fine).len(), 2);
    assert_eq!(
        h.receiver.sent_to(flaky).len(),
        1,
        "stops at the first failure"
    );

    // Not before its retry time.
    h.drain().await;
    assert_eq!(h.receiver.sent_to(flaky).len(), 1);
    h.clock.advance(chrono::Duration::seconds(2));
    h.drain().await;
    assert_eq!(h.receiver.sent_to(flaky).len(), 2);

    h.receiver.set_down(flaky, false);
    h.clock.advance(chrono::Duration::seconds(10));
    h.drain().await;
    let sent = h.receiver.sent_to(flaky);
    assert_eq!(sent.len(), 4);
    assert_eq!(sent[0].id, sent[1].id);
    assert_eq!(
        sent[1].id, sent[2].id,
        "the first event again, then the second"
    );
    assert_ne!(sent[2].id, sent[3].id);
}

#[tokio::test]
async fn an_event_is_given_up_after_the_last_attempt_and_the_endpoint_disabled_after_a_day() {
    let h = harness().await;
    let down = "http://127.0.0.1:1/down";
    let endpoint = h.endpoint(down, &[EventType::InvitationCreated]).await;
    h.receiver.set_down(down, true);
    h.invite("a@hooked.test").await;
    h.invite("b@hooked.test").await;
    for _ in 0..MAX_ATTEMPTS {
        h.drain().await;
        // Past the longest wait with its jitter.
        h.clock.advance(chrono::Duration::seconds(73));
    }
    let log = h
        .service
        .webhook_deliveries(&h.owner, &endpoint.endpoint.id)
        .await
        .unwrap();
    let outcomes: Vec<_> = log.deliveries.iter().map(|d| d.outcome).collect();
    assert_eq!(outcomes.len(), MAX_ATTEMPTS as usize + 1);
    assert_eq!(outcomes[MAX_ATTEMPTS as usize - 1], AttemptOutcome::GaveUp);
    assert_eq!(
        log.deliveries[MAX_ATTEMPTS as usize].attempt, 1,
        "the next event"
    );

    h.clock.advance(chrono::Duration::hours(25));
    h.drain().await;
    let listed = h.service.list_webhooks(&h.owner).await.unwrap();
    assert!(!listed[0].enabled);
    assert!(listed[0].disabled_reason.is_some());
    let audited = h
        .store
        .audit_events()
        .iter()
        .any(|e| e.action == AuditAction::WebhookDisabled && e.actor.is_none());
    assert!(audited);
    let before = h.receiver.sent_to(down).len();
    h.invite("c@hooked.test").await;
    h.drain().await;
    assert_eq!(
        h.receiver.sent_to(down).len(),
        before,
        "a disabled endpoint gets nothing"
    );
}

#[tokio::test]
async fn replays_send_one_event_again_or_everything_since_a_time() {
    let h = harness().await;
    let url = "http://127.0.0.1:1/replayed";
    let endpoint = h.endpoint(url, &[EventType::InvitationCreated]).await;
    let id = endpoint.endpoint.id;
    h.invite("a@hooked.test").await;
    h.invite("b@hooked.test").await;
    h.drain().await;
    let first = h.receiver.sent_to(url);
    assert_eq!(first.len(), 2);

    let seq: u64 = first[0].id.rsplit('_').next().unwrap().parse().unwrap();
    h.service
        .replay_webhook(&Origin::default(), &h.owner, &id, ReplayRequest::Event(seq))
        .await
        .unwrap();
    h.drain().await;
    let sent = h.receiver.sent_to(url);
    assert_eq!(sent.len(), 3);
    assert_eq!(sent[2].id, first[0].id);

    let since = chrono::DateTime::<chrono::Utc>::MIN_UTC;
    h.service
        .replay_webhook(
            &Origin::default(),
            &h.owner,
            &id,
            ReplayRequest::Since(since),
        )
        .await
        .unwrap();
    h.drain().await;
    let sent = h.receiver.sent_to(url);
    assert_eq!(sent.len(), 5);
    assert_eq!([&sent[3].id, &sent[4].id], [&first[0].id, &first[1].id]);
    let log = h.service.webhook_deliveries(&h.owner, &id).await.unwrap();
    assert_eq!(log.deliveries.iter().filter(|d| d.replay).count(), 1);
}

#[tokio::test]
async fn a_deleted_organization_tells_its_endpoints_and_then_leaves_no_outbox() {
    let h = harness().await;
    let url = "http://127.0.0.1:1/gone";
    h.endpoint(url, &[EventType::OrganizationDeleted]).await;
    h.service
        .delete_organization(
            &Origin::default(),
            &h.owner,
            &OrganizationName::new("Hooked").unwrap(),
        )
        .await
        .unwrap();
    h.drain().await;
    assert_eq!(types(&h.receiver.sent_to(url)), ["organization.deleted"]);
    let org = h.owner.organization_id;
    assert!(h.store.outbox_events(&org, 0, 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn two_workers_never_hold_one_organization_at_once() {
    let h = harness().await;
    h.endpoint("http://127.0.0.1:1/x", &[]).await;
    let other = Deliverer::new(h.service.clone(), h.receiver.clone(), policy(), "w2".into());
    let mine = h.worker.claim(10).await.unwrap();
    assert_eq!(mine.len(), 1);
    assert!(other.claim(10).await.unwrap().is_empty());
    // Once the claim runs out (its holder died), the other takes over.
    h.clock.advance(chrono::Duration::seconds(61));
    let theirs = other.claim(10).await.unwrap();
    assert_eq!(theirs.len(), 1);
    // The first holder's late release writes nothing.
    let worked = h
        .worker
        .work(mine.into_iter().next().unwrap())
        .await
        .unwrap();
    assert!(worked.lost);
}

#[tokio::test]
async fn what_is_committed_while_an_endpoint_is_disabled_is_sent_only_on_a_replay() {
    let h = harness().await;
    let url = "http://127.0.0.1:1/toggled";
    let endpoint = h.endpoint(url, &[EventType::InvitationCreated]).await;
    let id = endpoint.endpoint.id;
    let toggle = |enabled| crate::members::EndpointEdit {
        enabled: Some(enabled),
        ..Default::default()
    };
    h.invite("before@hooked.test").await;
    // Off and on again between two runs of the worker: the invitation in between stays untold.
    h.service
        .update_webhook(&Origin::default(), &h.owner, &id, toggle(false))
        .await
        .unwrap();
    h.invite("while@hooked.test").await;
    h.service
        .update_webhook(&Origin::default(), &h.owner, &id, toggle(true))
        .await
        .unwrap();
    h.invite("after@hooked.test").await;
    h.drain().await;
    assert_eq!(h.receiver.sent_to(url).len(), 2);

    h.service
        .replay_webhook(
            &Origin::default(),
            &h.owner,
            &id,
            ReplayRequest::Since(chrono::DateTime::<chrono::Utc>::MIN_UTC),
        )
        .await
        .unwrap();
    h.invite("later@hooked.test").await;
    h.drain().await;
    let sent = h.receiver.sent_to(url);
    assert_eq!(sent.len(), 6, "the three again, then the new one: {sent:?}");
    assert_eq!(sent[2].id, sent[0].id);
    assert_ne!(
        sent[3].id, sent[1].id,
        "the one sent while disabled comes with the replay"
    );
}
