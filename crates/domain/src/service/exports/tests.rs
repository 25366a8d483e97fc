use chrono::Duration;

use super::{ExportPolicy, Exporter};
use crate::errors::ExportError;
use crate::export::job::{ExportJob, ExportOutcome, ExportState, BUNDLE_CHUNK};
use crate::fakes::{FakeHasher, FakeStore, FakeTokens, FixedClock};
use crate::ports::{ExportJobs as _, Principal};
use crate::service::{DocumentApi as _, ExportApi as _, OrganizationApi as _};
use crate::{
    AuditAction, CreateOrganization, DocumentBody, EmailAddress, OrganizationName, Origin,
    Password, Role, Service,
};

type TestService = Service<(FakeStore, FakeHasher, FakeTokens, FixedClock)>;

struct Harness {
    service: TestService,
    store: FakeStore,
    clock: FixedClock,
}

fn harness(policy: ExportPolicy) -> Harness {
    let (store, clock) = (FakeStore::default(), FixedClock::default());
    let service = Service::new(
        store.clone(),
        FakeHasher::default(),
        FakeTokens,
        clock.clone(),
    )
    .with_export_policy(policy);
    Harness {
        service,
        store,
        clock,
    }
}

async fn owner_of(h: &Harness, name: &str) -> Principal {
    let organization = h
        .service
        .create_organization(
            &Origin::default(),
            CreateOrganization {
                name: OrganizationName::new(name).unwrap(),
                email: EmailAddress::new(&format!("boss@{name}.io")).unwrap(),
                password: Password::new("correct horse".to_owned()).unwrap(),
            },
        )
        .await
        .unwrap();
    Principal {
        user_id: organization.owner.id,
        organization_id: organization.id,
        role: Role::Owner,
        token_version: 0,
        key: None,
    }
}

fn exporter(h: &Harness, owner: &str) -> Exporter<(FakeStore, FakeHasher, FakeTokens, FixedClock)> {
    Exporter::new(h.service.clone(), owner.to_owned())
}

/// The bundle as a download reads it.
async fn download(h: &Harness, job: &ExportJob) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut seq = 0;
    while let Some(chunk) = h.service.bundle_chunk(job, seq).await.unwrap() {
        bytes.extend(chunk);
        seq += 1;
    }
    bytes
}

#[tokio::test]
async fn an_owner_exports_and_downloads_a_bundle_that_verifies() {
    let h = harness(ExportPolicy::default());
    let owner = owner_of(&h, "acme").await;
    // Documents of about 2 KiB: a bundle of several chunks.
    let filler = "x".repeat(2_000);
    for n in 0..1_200 {
        let body = serde_json::json!({"n": n, "filler": filler});
        let body = DocumentBody::new(body.as_object().unwrap().clone()).unwrap();
        h.service
            .insert_document(&Origin::default(), &owner, body)
            .await
            .unwrap();
    }
    let job = h
        .service
        .request_export(&Origin::default(), &owner)
        .await
        .unwrap();
    assert_eq!(job.state, ExportState::Queued);
    let worker = exporter(&h, "w1");
    let claimed = worker.claim().await.unwrap().unwrap();
    assert_eq!((claimed.id, claimed.attempt), (job.id, 1));
    let attempted = worker.work(&claimed).await.unwrap();
    assert!(attempted.trouble.is_none(), "{:?}", attempted.trouble);
    assert!(matches!(
        attempted.outcome,
        Some(ExportOutcome::Done { .. })
    ));

    let done = h
        .service
        .open_bundle(&Origin::default(), &owner, &job.id)
        .await
        .unwrap();
    assert_eq!((done.state, done.documents), (ExportState::Done, 1_200));
    let bytes = download(&h, &done).await;
    assert!(bytes.len() > 2 * BUNDLE_CHUNK, "{} bytes", bytes.len());
    assert_eq!(bytes.len() as u64, done.bytes);
    let verified = crate::bundle::verify(bytes.as_slice()).unwrap();
    assert_eq!(Some(verified.sha256.clone()), done.sha256);
    assert_eq!(verified.header.export_id, job.id);
    assert_eq!(verified.parts[0].lines, 1_200);
    // The receipt of a deletion would name it, and the log tells who did what.
    let actions: Vec<_> = h.store.audit_events().iter().map(|e| e.action).collect();
    for action in [
        AuditAction::ExportRequested,
        AuditAction::ExportCompleted,
        AuditAction::ExportDownloaded,
    ] {
        assert!(
            actions.contains(&action),
            "{action:?} missing from {actions:?}"
        );
    }
    assert!(
        worker.claim().await.unwrap().is_none(),
        "nothing left to claim"
    );
}

#[tokio::test]
async fn one_export_per_organization_at_a_time_and_a_bounded_queue() {
    let h = harness(ExportPolicy {
        max_active: 2,
        ..ExportPolicy::default()
    });
    let (a, b, c) = (
        owner_of(&h, "a").await,
        owner_of(&h, "b").await,
        owner_of(&h, "c").await,
    );
    let first = h
        .service
        .request_export(&Origin::default(), &a)
        .await
        .unwrap();
    let again = h
        .service
        .request_export(&Origin::default(), &a)
        .await
        .unwrap_err();
    assert!(
        matches!(again, ExportError::InProgress(id) if id == first.id),
        "{again:?}"
    );
    h.service
        .request_export(&Origin::default(), &b)
        .await
        .unwrap();
    let full = h
        .service
        .request_export(&Origin::default(), &c)
        .await
        .unwrap_err();
    assert!(matches!(full, ExportError::QueueFull), "{full:?}");
    // Once one is done, room again; and the organization may ask anew.
    let worker = exporter(&h, "w1");
    let claimed = worker.claim().await.unwrap().unwrap();
    assert_eq!(claimed.id, first.id, "the longest waiting first");
    worker.work(&claimed).await.unwrap();
    h.service
        .request_export(&Origin::default(), &c)
        .await
        .unwrap();
    h.service
        .request_export(&Origin::default(), &a)
        .await
        .unwrap_err();
}

#[tokio::test]
async fn only_owners_export_and_never_with_an_api_key() {
    let h = harness(ExportPolicy::default());
    let owner = owner_of(&h, "acme").await;
    let admin = Principal {
        role: Role::Admin,
        ..owner
    };
    let err = h
        .service
        .request_export(&Origin::default(), &admin)
        .await
        .unwrap_err();
    assert!(matches!(err, ExportError::Forbidden), "{err:?}");
    let job = h
        .service
        .request_export(&Origin::default(), &owner)
        .await
        .unwrap();
    let err = h.service.export_job(&admin, &job.id).await.unwrap_err();
    assert!(matches!(err, ExportError::Forbidden), "{err:?}");
    let other = owner_of(&h, "other").await;
    let err = h.service.export_job(&other, &job.id).await.unwrap_err();
    assert!(
        matches!(err, ExportError::NotFound),
        "another organization's export: {err:?}"
    );
    let err = h
        .service
        .open_bundle(&Origin::default(), &owner, &job.id)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ExportError::NotReady(ExportState::Queued)),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_worker_that_lost_its_claim_writes_nothing_and_the_next_attempt_finishes() {
    let h = harness(ExportPolicy::default());
    let owner = owner_of(&h, "acme").await;
    let job = h
        .service
        .request_export(&Origin::default(), &owner)
        .await
        .unwrap();
    let (slow, fast) = (exporter(&h, "slow"), exporter(&h, "fast"));
    let stalled = slow.claim().await.unwrap().unwrap();
    assert!(fast.claim().await.unwrap().is_none(), "the claim holds");
    h.clock.advance(Duration::seconds(61));
    let taken = fast.claim().await.unwrap().unwrap();
    assert_eq!((taken.id, taken.attempt), (job.id, 2));
    let late = slow.work(&stalled).await.unwrap();
    assert!(
        late.outcome.is_none(),
        "the stalled worker is told it lost: {late:?}"
    );
    let done = fast.work(&taken).await.unwrap();
    assert!(
        matches!(done.outcome, Some(ExportOutcome::Done { .. })),
        "{done:?}"
    );
    let job = h.service.export_job(&owner, &job.id).await.unwrap();
    assert_eq!((job.state, job.attempt), (ExportState::Done, 2));
    crate::bundle::verify(download(&h, &job).await.as_slice()).unwrap();
}

#[tokio::test]
async fn a_job_whose_worker_keeps_dying_fails_after_its_attempts() {
    let h = harness(ExportPolicy::default());
    let owner = owner_of(&h, "acme").await;
    let job = h
        .service
        .request_export(&Origin::default(), &owner)
        .await
        .unwrap();
    let worker = exporter(&h, "w");
    for _ in 0..crate::export::job::MAX_ATTEMPTS {
        worker.claim().await.unwrap().unwrap();
        h.clock.advance(Duration::seconds(61));
    }
    let last = worker.claim().await.unwrap().unwrap();
    let attempted = worker.work(&last).await.unwrap();
    assert!(
        matches!(attempted.outcome, Some(ExportOutcome::Failed { .. })),
        "{attempted:?}"
    );
    let failed = h.service.export_job(&owner, &job.id).await.unwrap();
    assert_eq!(failed.state, ExportState::Failed);
    assert!(failed.error.unwrap().contains("gave up"));
}

#[tokio::test]
async fn finished_exports_expire_with_their_bundles_and_deleted_organizations_fail() {
    let h = harness(ExportPolicy::default());
    let owner = owner_of(&h, "acme").await;
    let job = h
        .service
        .request_export(&Origin::default(), &owner)
        .await
        .unwrap();
    let worker = exporter(&h, "w");
    let claimed = worker.claim().await.unwrap().unwrap();
    worker.work(&claimed).await.unwrap();
    let done = h.service.export_job(&owner, &job.id).await.unwrap();
    assert!(h
        .store
        .export_chunk(&job.id, done.attempt, 0)
        .await
        .unwrap()
        .is_some());
    h.clock.advance(Duration::hours(23));
    assert_eq!(worker.purge().await.unwrap(), 0, "kept for the retention");
    h.clock.advance(Duration::hours(1));
    let gone = h.service.export_job(&owner, &job.id).await.unwrap_err();
    assert!(matches!(gone, ExportError::NotFound), "{gone:?}");
    assert_eq!(worker.purge().await.unwrap(), 1);
    assert!(h
        .store
        .export_chunk(&job.id, done.attempt, 0)
        .await
        .unwrap()
        .is_none());

    // A deleted organization's exports go with it, also one being written.
    let other = owner_of(&h, "other").await;
    let finished = h
        .service
        .request_export(&Origin::default(), &other)
        .await
        .unwrap();
    let claimed = worker.claim().await.unwrap().unwrap();
    worker.work(&claimed).await.unwrap();
    h.clock.advance(Duration::seconds(1));
    let running = h
        .service
        .request_export(&Origin::default(), &other)
        .await
        .unwrap();
    let claimed = worker.claim().await.unwrap().unwrap();
    h.service
        .delete_organization(
            &Origin::default(),
            &other,
            &OrganizationName::new("other").unwrap(),
        )
        .await
        .unwrap();
    let attempted = worker.work(&claimed).await.unwrap();
    assert!(attempted.outcome.is_none(), "{attempted:?}");
    let now = crate::ports::Clock::now(&h.clock);
    for job in [finished.id, running.id] {
        let found = h
            .store
            .find_export(&other.organization_id, &job, now)
            .await
            .unwrap();
        assert!(found.is_none(), "{found:?}");
        assert!(h.store.export_chunk(&job, 1, 0).await.unwrap().is_none());
    }
}

#[tokio::test]
async fn an_export_of_an_organization_deleted_before_it_ran_fails_saying_so() {
    let h = harness(ExportPolicy::default());
    let owner = owner_of(&h, "acme").await;
    let job = h
        .service
        .request_export(&Origin::default(), &owner)
        .await
        .unwrap();
    let worker = exporter(&h, "w");
    let claimed = worker.claim().await.unwrap().unwrap();
    // Deleted by the store alone (as an interrupted deletion that recovery finished).
    let request = crate::deletion::DeletionRequest {
        receipt_id: crate::DeletionReceiptId::generate(),
        requested_by: owner.user_id,
        requested_at: crate::ports::Clock::now(&h.clock),
        retention: Duration::days(1),
    };
    crate::ports::OrganizationStore::delete_organization(
        &h.store,
        &owner.organization_id,
        &request,
    )
    .await
    .unwrap();
    let attempted = worker.work(&claimed).await.unwrap();
    assert!(
        matches!(&attempted.outcome, Some(ExportOutcome::Failed { reason, .. }) if reason.contains("deleted")),
        "{attempted:?}"
    );
    let now = crate::ports::Clock::now(&h.clock);
    let failed = h
        .store
        .find_export(&owner.organization_id, &job.id, now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(failed.state, ExportState::Failed);
}
