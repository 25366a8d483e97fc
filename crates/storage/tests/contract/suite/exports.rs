//! Export jobs and their bundles' chunks.

use chrono::{DateTime, Duration, SubsecRound as _, Utc};
use orgsvc_domain::export::job::{Enqueued, ExportJob, ExportOutcome, ExportProgress, ExportState};
use orgsvc_domain::ports::Store;
use orgsvc_domain::{ExportId, OrganizationId, UserId};

use super::create;

/// Now, to the millisecond, as stores keep times.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

fn job(organization: &OrganizationId, at: chrono::DateTime<Utc>) -> ExportJob {
    ExportJob::queued(ExportId::generate(), *organization, UserId::generate(), at)
}

fn done(at: chrono::DateTime<Utc>) -> ExportOutcome {
    ExportOutcome::Done {
        sha256: "ab".repeat(32),
        documents: 7,
        bytes: 12,
        at,
        expires_at: at + Duration::hours(1),
    }
}

pub async fn one_export_per_organization_at_a_time_and_a_bounded_queue(store: &impl Store) {
    let now = now();
    let (a, b, c) = (
        create(store, "Alpha", "a@alpha.io").await.id,
        create(store, "Beta", "b@beta.io").await.id,
        create(store, "Gamma", "c@gamma.io").await.id,
    );
    let first = job(&a, now);
    assert_eq!(
        store.enqueue_export(&first, 2).await.unwrap(),
        Enqueued::Queued
    );
    assert_eq!(
        store.enqueue_export(&job(&a, now), 2).await.unwrap(),
        Enqueued::InProgress(first.id)
    );
    assert_eq!(
        store.enqueue_export(&job(&b, now), 2).await.unwrap(),
        Enqueued::Queued
    );
    assert_eq!(
        store.enqueue_export(&job(&c, now), 2).await.unwrap(),
        Enqueued::Full
    );
    let found = store.find_export(&a, &first.id, now).await.unwrap();
    assert_eq!(found, Some(first.clone()));
    assert_eq!(
        store.find_export(&b, &first.id, now).await.unwrap(),
        None,
        "another's"
    );

    // Racing requests of one organization: exactly one is queued, the others told which.
    let d = create(store, "Delta", "d@delta.io").await.id;
    let jobs: Vec<ExportJob> = (0..8).map(|_| job(&d, now)).collect();
    let answers =
        futures_util::future::join_all(jobs.iter().map(|j| store.enqueue_export(j, 100))).await;
    let queued: Vec<&ExportJob> = jobs
        .iter()
        .zip(&answers)
        .filter(|(_, a)| matches!(a, Ok(Enqueued::Queued)))
        .map(|(j, _)| j)
        .collect();
    assert_eq!(queued.len(), 1, "{answers:?}");
    for answer in answers {
        let answer = answer.unwrap();
        assert!(
            answer == Enqueued::Queued || answer == Enqueued::InProgress(queued[0].id),
            "{answer:?}"
        );
    }
}

pub async fn export_claims_keep_workers_apart_and_chunks_need_the_claim(store: &impl Store) {
    let now = now();
    let organization = create(store, "Acme", "a@acme.io").await.id;
    let queued = job(&organization, now);
    store.enqueue_export(&queued, 10).await.unwrap();
    let lease = now + Duration::seconds(60);
    let claims = futures_util::future::join_all(
        (0..6).map(|n| store.claim_export(["w1", "w2", "w3"][n % 3], now, lease)),
    )
    .await;
    let claimed: Vec<ExportJob> = claims.into_iter().filter_map(|c| c.unwrap()).collect();
    assert_eq!(
        claimed.len(),
        1,
        "one claim among racing workers: {claimed:?}"
    );
    let first = &claimed[0];
    assert_eq!(
        (first.id, first.attempt, first.state),
        (queued.id, 1, ExportState::Running)
    );
    let owner = first.owner.clone().unwrap();
    let other = if owner == "w1" { "w2" } else { "w1" };

    let progress = ExportProgress {
        documents: 3,
        total: 9,
        bytes: 5,
    };
    assert!(store
        .append_export_chunk(&owner, &queued.id, 1, 0, b"first", progress, lease)
        .await
        .unwrap());
    assert!(
        !store
            .append_export_chunk(other, &queued.id, 1, 1, b"intruder", progress, lease)
            .await
            .unwrap(),
        "a worker without the claim writes nothing"
    );
    assert_eq!(store.export_chunk(&queued.id, 1, 1).await.unwrap(), None);
    let running = store
        .find_export(&organization, &queued.id, now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            running.documents,
            running.documents_total,
            running.bytes,
            running.until
        ),
        (3, Some(9), 5, lease)
    );

    // The claim runs out; another worker takes the job over with a new attempt.
    let later = lease + Duration::seconds(1);
    let taken = store
        .claim_export(other, later, later + Duration::seconds(60))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((taken.attempt, taken.documents, taken.bytes), (2, 0, 0));
    assert_eq!(taken.documents_total, None);
    assert!(!store
        .append_export_chunk(&owner, &queued.id, 1, 1, b"late", progress, lease)
        .await
        .unwrap());
    for (seq, chunk) in [b"second".as_slice(), b" bundle"].into_iter().enumerate() {
        let seq = u32::try_from(seq).unwrap();
        assert!(store
            .append_export_chunk(other, &queued.id, 2, seq, chunk, progress, later)
            .await
            .unwrap());
    }
    assert!(!store
        .finish_export(&owner, &queued.id, 1, &done(later))
        .await
        .unwrap());
    assert!(store
        .finish_export(other, &queued.id, 2, &done(later))
        .await
        .unwrap());
    let finished = store
        .find_export(&organization, &queued.id, later)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(finished.state, ExportState::Done);
    assert_eq!((finished.documents, finished.bytes), (7, 12));
    assert_eq!(finished.sha256.as_deref(), Some("ab".repeat(32).as_str()));
    assert_eq!(finished.owner, None);
    let mut bundle = Vec::new();
    let mut seq = 0;
    while let Some(chunk) = store.export_chunk(&queued.id, 2, seq).await.unwrap() {
        bundle.extend(chunk);
        seq += 1;
    }
    assert_eq!(bundle, b"second bundle");
    assert_eq!(
        store.export_chunk(&queued.id, 1, 0).await.unwrap(),
        None,
        "the lost attempt's chunks are gone"
    );
    assert_eq!(store.claim_export(other, later, later).await.unwrap(), None);
    // Done, the organization may ask again.
    assert_eq!(
        store
            .enqueue_export(&job(&organization, later), 10)
            .await
            .unwrap(),
        Enqueued::Queued
    );
}

pub async fn a_retried_export_waits_its_turn_and_a_waiting_one_keeps_its_attempts(
    store: &impl Store,
) {
    let now = now();
    let organization = create(store, "Acme", "a@acme.io").await.id;
    let queued = job(&organization, now);
    store.enqueue_export(&queued, 10).await.unwrap();
    let lease = now + Duration::seconds(60);
    let claimed = store.claim_export("w", now, lease).await.unwrap().unwrap();
    store
        .append_export_chunk(
            "w",
            &queued.id,
            1,
            0,
            b"partial",
            ExportProgress::default(),
            lease,
        )
        .await
        .unwrap();
    let at = now + Duration::seconds(10);
    assert!(store
        .finish_export(
            "w",
            &queued.id,
            claimed.attempt,
            &ExportOutcome::Retry { at }
        )
        .await
        .unwrap());
    assert_eq!(store.export_chunk(&queued.id, 1, 0).await.unwrap(), None);
    let waiting = store
        .find_export(&organization, &queued.id, now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((waiting.state, waiting.until), (ExportState::Queued, at));
    assert_eq!(
        store.claim_export("w", now, lease).await.unwrap(),
        None,
        "not before `at`"
    );
    let again = store.claim_export("w", at, lease).await.unwrap().unwrap();
    assert_eq!(again.attempt, 2);
    let at = at + Duration::seconds(30);
    assert!(store
        .finish_export("w", &queued.id, 2, &ExportOutcome::Wait { at })
        .await
        .unwrap());
    let waiting = store
        .find_export(&organization, &queued.id, now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (waiting.state, waiting.attempt),
        (ExportState::Queued, 1),
        "waiting is free"
    );
}

pub async fn expired_exports_are_purged_with_their_chunks_and_deleted_organizations_lose_theirs(
    store: &impl Store,
) {
    let now = now();
    let (a, b) = (
        create(store, "Alpha", "a@alpha.io").await.id,
        create(store, "Beta", "b@beta.io").await.id,
    );
    let mut jobs = Vec::new();
    for organization in [a, a, b] {
        let queued = job(&organization, now);
        assert_eq!(
            store.enqueue_export(&queued, 10).await.unwrap(),
            Enqueued::Queued
        );
        store.claim_export("w", now, now).await.unwrap().unwrap();
        store
            .append_export_chunk("w", &queued.id, 1, 0, b"x", ExportProgress::default(), now)
            .await
            .unwrap();
        let outcome = if jobs.is_empty() {
            done(now)
        } else {
            ExportOutcome::Failed {
                reason: "no".to_owned(),
                at: now,
                expires_at: now + Duration::hours(2),
            }
        };
        assert!(store
            .finish_export("w", &queued.id, 1, &outcome)
            .await
            .unwrap());
        jobs.push(queued);
    }
    assert!(store
        .export_chunk(&jobs[0].id, 1, 0)
        .await
        .unwrap()
        .is_some());
    assert_eq!(store.purge_exports(now, 10).await.unwrap(), 0);
    let in_an_hour = now + Duration::hours(1);
    assert_eq!(
        store
            .find_export(&a, &jobs[0].id, in_an_hour)
            .await
            .unwrap(),
        None,
        "expired for its owner at once"
    );
    assert_eq!(store.purge_exports(in_an_hour, 10).await.unwrap(), 1);
    assert_eq!(store.export_chunk(&jobs[0].id, 1, 0).await.unwrap(), None);
    assert_eq!(store.find_export(&a, &jobs[0].id, now).await.unwrap(), None);
    assert!(store
        .find_export(&a, &jobs[1].id, now)
        .await
        .unwrap()
        .is_some());

    store.discard_exports(&a).await.unwrap();
    assert_eq!(store.find_export(&a, &jobs[1].id, now).await.unwrap(), None);
    assert!(
        store
            .find_export(&b, &jobs[2].id, now)
            .await
            .unwrap()
            .is_some(),
        "not another's"
    );
    let much_later = now + Duration::hours(3);
    assert_eq!(store.purge_exports(much_later, 10).await.unwrap(), 1);
    assert_eq!(store.find_export(&b, &jobs[2].id, now).await.unwrap(), None);
}

pub async fn an_organization_keeps_a_bounded_number_of_exports(store: &impl Store) {
    use orgsvc_domain::export::job::MAX_KEPT;
    let now = now();
    let (organization, other) = (
        create(store, "Alpha", "a@alpha.io").await.id,
        create(store, "Beta", "b@beta.io").await.id,
    );
    let kept_elsewhere = job(&other, now);
    store.enqueue_export(&kept_elsewhere, 100).await.unwrap();
    let mut jobs = Vec::new();
    for _ in 0..MAX_KEPT + 2 {
        let queued = job(&organization, now);
        assert_eq!(
            store.enqueue_export(&queued, 100).await.unwrap(),
            Enqueued::Queued
        );
        let claimed = loop {
            // The other organization's job may come first: leave it claimed.
            let until = now + Duration::hours(1);
            let claimed = store.claim_export("w", now, until).await.unwrap().unwrap();
            if claimed.id == queued.id {
                break claimed;
            }
        };
        store
            .append_export_chunk(
                "w",
                &queued.id,
                claimed.attempt,
                0,
                b"x",
                ExportProgress::default(),
                now,
            )
            .await
            .unwrap();
        assert!(store
            .finish_export("w", &queued.id, claimed.attempt, &done(now))
            .await
            .unwrap());
        jobs.push((queued.id, claimed.attempt));
    }
    for (n, (id, attempt)) in jobs.iter().enumerate() {
        let found = store.find_export(&organization, id, now).await.unwrap();
        let chunk = store.export_chunk(id, *attempt, 0).await.unwrap();
        if n < 2 {
            assert_eq!((found, chunk), (None, None), "job {n} is beyond the bound");
        } else {
            assert!(found.is_some() && chunk.is_some(), "job {n} is kept");
        }
    }
    assert!(
        store
            .find_export(&other, &kept_elsewhere.id, now)
            .await
            .unwrap()
            .is_some(),
        "another organization's are not counted"
    );
}
