//! The contract checks. Each takes a fresh, empty store.

use chrono::{TimeZone, Utc};
use orgsvc_domain::errors::{
    CreateOrganizationError, DeleteOrganizationError, DocumentError, UpdateOrganizationError,
};
use orgsvc_domain::ports::{Admission, AttemptKey, Founder, OrganizationChange};
use orgsvc_domain::{AuditAction, AuditEvent, AuditEventId, Outcome};
use orgsvc_domain::{
    Document, DocumentBody, DocumentId, EmailAddress, Organization, OrganizationId,
    OrganizationName, OwnerSummary, PasswordHash, User, UserId,
};
use serde_json::json;

pub use orgsvc_domain::ports::Store;

mod exports;
mod outbox;
mod rosters;
mod snapshots;

pub use exports::*;
pub use outbox::*;
pub use rosters::*;
pub use snapshots::*;

pub async fn organization(store: &impl Store, name: &str, email: &str) -> (Organization, User) {
    let at = Utc.with_ymd_and_hms(2026, 5, 6, 7, 8, 9).unwrap();
    let id = OrganizationId::generate();
    let organization = Organization {
        id,
        name: OrganizationName::new(name).unwrap(),
        placement: store.place_new_organization(&id).await.unwrap(),
        owner: OwnerSummary {
            id: UserId::generate(),
            email: EmailAddress::new(email).unwrap(),
        },
        created_at: at,
        updated_at: at,
    };
    let admin = User {
        id: organization.owner.id,
        email: organization.owner.email.clone(),
        password_hash: PasswordHash::from_phc(format!("$argon2id$fake${email}")),
        created_at: at,
        token_version: 0,
    };
    (organization, admin)
}

/// A delete's request, by someone, now, its record kept for a day.
pub fn deletion() -> orgsvc_domain::deletion::DeletionRequest {
    orgsvc_domain::deletion::DeletionRequest {
        receipt_id: orgsvc_domain::DeletionReceiptId::generate(),
        requested_by: UserId::generate(),
        requested_at: orgsvc_domain::ports::Clock::now(&orgsvc_domain::ports::SystemClock),
        retention: chrono::Duration::days(1),
    }
}

pub async fn create(store: &impl Store, name: &str, email: &str) -> Organization {
    let (organization, admin) = organization(store, name, email).await;
    store
        .create_organization(&organization, Founder::New(&admin))
        .await
        .unwrap();
    organization
}

pub fn body(n: usize) -> DocumentBody {
    let value = json!({ "n": n, "nested": { "tags": ["a", n.to_string()] } });
    DocumentBody::new(value.as_object().unwrap().clone()).unwrap()
}

pub async fn insert(store: &impl Store, organization: &OrganizationId, n: usize) -> Document {
    let document = Document {
        id: DocumentId::generate(),
        body: body(n),
    };
    store
        .insert_document(organization, &document)
        .await
        .unwrap();
    document
}

async fn all_documents(store: &impl Store, organization: &OrganizationId) -> Vec<Document> {
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_documents(organization, after.as_ref(), 100)
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        all.extend(page);
    }
    all
}

pub fn change(organization: &Organization, name: &str) -> OrganizationChange {
    OrganizationChange {
        organization_id: organization.id,
        user_id: organization.owner.id,
        name: OrganizationName::new(name).unwrap(),
        email: None,
        password_hash: None,
        updated_at: Utc.with_ymd_and_hms(2026, 6, 7, 8, 9, 10).unwrap(),
    }
}

fn slug(name: &str) -> orgsvc_domain::Slug {
    OrganizationName::new(name).unwrap().slug().clone()
}

pub async fn create_with_document(
    store: &impl Store,
    name: &str,
    email: &str,
) -> (Organization, Document) {
    let organization = create(store, name, email).await;
    let document = insert(store, &organization.id, 1).await;
    (organization, document)
}

pub async fn assert_still_there(
    store: &impl Store,
    organization: &Organization,
    document: &Document,
) {
    let found = store
        .find_organization_by_slug(organization.slug())
        .await
        .unwrap();
    assert_eq!(found.as_ref(), Some(organization));
    let admin = store
        .find_user_by_email(&organization.owner.email)
        .await
        .unwrap();
    assert_eq!(admin.map(|a| a.id), Some(organization.owner.id));
    let stored = store
        .get_document(&organization.id, &document.id)
        .await
        .unwrap();
    assert_eq!(stored.as_ref(), Some(document));
}

pub async fn created_organizations_are_found_by_slug_id_and_admin(store: &impl Store) {
    let (organization, admin) = organization(store, "Acme Corp", "boss@acme.io").await;
    store
        .create_organization(&organization, Founder::New(&admin))
        .await
        .unwrap();
    let by_slug = store
        .find_organization_by_slug(&slug("ACME-CORP"))
        .await
        .unwrap();
    assert_eq!(by_slug.as_ref(), Some(&organization));
    let by_id = store
        .find_organization_by_id(&organization.id)
        .await
        .unwrap();
    assert_eq!(by_id.as_ref(), Some(&organization));
    let by_email = store.find_user_by_email(&admin.email).await.unwrap();
    assert_eq!(by_email.as_ref(), Some(&admin));
    let by_admin_id = store.find_user_by_id(&admin.id).await.unwrap();
    assert_eq!(by_admin_id.as_ref(), Some(&admin));
    assert!(all_documents(store, &organization.id).await.is_empty());
    assert_eq!(
        store
            .find_organization_by_slug(&slug("nope"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .find_organization_by_id(&OrganizationId::generate())
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.find_user_by_id(&UserId::generate()).await.unwrap(),
        None
    );
}

pub async fn a_taken_slug_or_email_rejects_a_create_and_leaves_nothing_behind(store: &impl Store) {
    create(store, "Acme", "a@acme.io").await;

    let (same_slug, its_admin) = organization(store, "acme", "other@acme.io").await;
    let err = store
        .create_organization(&same_slug, Founder::New(&its_admin))
        .await
        .unwrap_err();
    assert!(matches!(err, CreateOrganizationError::NameTaken { slug } if slug.as_str() == "acme"));
    assert_eq!(
        store.find_user_by_email(&its_admin.email).await.unwrap(),
        None
    );
    assert_eq!(
        store.find_organization_by_id(&same_slug.id).await.unwrap(),
        None
    );

    let (same_email, its_admin) = organization(store, "Globex", "a@acme.io").await;
    let err = store
        .create_organization(&same_email, Founder::New(&its_admin))
        .await
        .unwrap_err();
    assert!(matches!(err, CreateOrganizationError::EmailTaken { .. }));
    assert_eq!(
        store
            .find_organization_by_slug(&slug("Globex"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.find_user_by_id(&its_admin.id).await.unwrap(), None);
}

pub async fn concurrent_creates_of_one_name_have_exactly_one_winner(store: &impl Store) {
    let attempts = (0..8).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            let (organization, admin) =
                organization(&store, "Race Co", &format!("r{i}@race.io")).await;
            store
                .create_organization(&organization, Founder::New(&admin))
                .await
        })
    });
    let mut created = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(()) => created += 1,
            Err(CreateOrganizationError::NameTaken { .. }) => {}
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    assert_eq!(created, 1);
}

pub async fn a_rename_moves_every_document_and_keeps_the_id(store: &impl Store) {
    let organization = create(store, "Acme", "a@acme.io").await;
    let mut documents = Vec::new();
    for n in 0..250 {
        documents.push(insert(store, &organization.id, n).await);
    }
    let renamed = store
        .update_organization(&change(&organization, "Acme Industries"))
        .await
        .unwrap();
    assert_eq!(renamed.id, organization.id);
    assert_eq!(renamed.name.as_str(), "Acme Industries");
    assert_eq!(renamed.collection_name().as_str(), "org_acme_industries");
    assert_eq!(renamed.created_at, organization.created_at);
    assert_eq!(
        renamed.updated_at,
        Utc.with_ymd_and_hms(2026, 6, 7, 8, 9, 10).unwrap()
    );
    assert_eq!(all_documents(store, &organization.id).await, documents);
    assert_eq!(
        store
            .find_organization_by_slug(&slug("Acme"))
            .await
            .unwrap(),
        None
    );
    let found = store
        .find_organization_by_slug(&slug("acme industries"))
        .await
        .unwrap();
    assert_eq!(found, Some(renamed));
    // The old name is free again and starts with an empty collection.
    let reused = create(store, "Acme", "new@acme.io").await;
    assert!(all_documents(store, &reused.id).await.is_empty());
}

pub async fn a_rename_onto_a_taken_slug_changes_nothing(store: &impl Store) {
    create(store, "Globex", "g@globex.io").await;
    let organization = create(store, "Acme", "a@acme.io").await;
    let document = insert(store, &organization.id, 7).await;
    let err = store
        .update_organization(&change(&organization, "GLOBEX"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, UpdateOrganizationError::NameTaken { .. }),
        "{err:?}"
    );
    assert_still_there(store, &organization, &document).await;
}

pub async fn respelling_keeps_the_collection(store: &impl Store) {
    let organization = create(store, "Acme Corp", "a@acme.io").await;
    let document = insert(store, &organization.id, 1).await;
    let respelled = store
        .update_organization(&change(&organization, "ACME corp"))
        .await
        .unwrap();
    assert_eq!(respelled.name.as_str(), "ACME corp");
    assert_eq!(respelled.collection_name(), organization.collection_name());
    assert_eq!(all_documents(store, &organization.id).await, vec![document]);
}

pub async fn an_email_change_frees_the_old_email_and_guards_the_new_one(store: &impl Store) {
    create(store, "Globex", "g@globex.io").await;
    let organization = create(store, "Acme", "a@acme.io").await;
    let mut taken = change(&organization, "Acme");
    taken.email = Some(EmailAddress::new("g@globex.io").unwrap());
    let err = store.update_organization(&taken).await.unwrap_err();
    assert!(matches!(err, UpdateOrganizationError::EmailTaken { .. }));

    let mut fresh = change(&organization, "Acme");
    fresh.email = Some(EmailAddress::new("new@acme.io").unwrap());
    fresh.password_hash = Some(PasswordHash::from_phc("$argon2id$new".into()));
    let updated = store.update_organization(&fresh).await.unwrap();
    assert_eq!(updated.owner.email.as_str(), "new@acme.io");
    let admin = store
        .find_user_by_email(&updated.owner.email)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(admin.password_hash.as_phc(), "$argon2id$new");
    assert_eq!(
        store
            .find_user_by_email(&EmailAddress::new("a@acme.io").unwrap())
            .await
            .unwrap(),
        None
    );
    create(store, "Initech", "a@acme.io").await;

    // Keeping one's own email is not a conflict.
    let mut same = change(&organization, "Acme");
    same.email = Some(EmailAddress::new("new@acme.io").unwrap());
    store.update_organization(&same).await.unwrap();
}

pub async fn an_update_by_an_admin_of_another_organization_is_not_found(store: &impl Store) {
    let acme = create(store, "Acme", "a@acme.io").await;
    let globex = create(store, "Globex", "g@globex.io").await;
    let mut wrong_admin = change(&acme, "Acme Two");
    wrong_admin.user_id = globex.owner.id;
    let err = store.update_organization(&wrong_admin).await.unwrap_err();
    assert!(matches!(err, UpdateOrganizationError::NotFound));
    let mut missing = change(&acme, "Acme Two");
    missing.organization_id = OrganizationId::generate();
    let err = store.update_organization(&missing).await.unwrap_err();
    assert!(matches!(err, UpdateOrganizationError::NotFound));
    assert_eq!(
        store.find_organization_by_id(&acme.id).await.unwrap(),
        Some(acme)
    );
}

pub async fn a_delete_removes_the_organization_its_users_and_documents(store: &impl Store) {
    let acme = create(store, "Acme", "a@acme.io").await;
    let globex = create(store, "Globex", "g@globex.io").await;
    let kept = insert(store, &globex.id, 1).await;
    for n in 0..10 {
        insert(store, &acme.id, n).await;
    }
    store
        .delete_organization(&acme.id, &deletion())
        .await
        .unwrap();
    assert_eq!(store.find_organization_by_id(&acme.id).await.unwrap(), None);
    assert_eq!(
        store.find_organization_by_slug(acme.slug()).await.unwrap(),
        None
    );
    assert_eq!(store.find_user_by_id(&acme.owner.id).await.unwrap(), None);
    assert_eq!(
        store.find_user_by_email(&acme.owner.email).await.unwrap(),
        None
    );
    let gone = store.list_documents(&acme.id, None, 10).await;
    assert!(matches!(gone, Err(DocumentError::OrganizationNotFound)));
    assert_still_there(store, &globex, &kept).await;

    let err = store
        .delete_organization(&acme.id, &deletion())
        .await
        .unwrap_err();
    assert!(matches!(err, DeleteOrganizationError::NotFound));
    // Name and email are free again, and the new organization starts empty.
    let again = create(store, "Acme", "a@acme.io").await;
    assert!(all_documents(store, &again.id).await.is_empty());
}

pub async fn documents_are_stored_paged_replaced_and_deleted(store: &impl Store) {
    let organization = create(store, "Acme", "a@acme.io").await;
    let mut documents = Vec::new();
    for n in 0..5 {
        documents.push(insert(store, &organization.id, n).await);
    }
    let first = store
        .list_documents(&organization.id, None, 2)
        .await
        .unwrap();
    assert_eq!(first, documents[..2]);
    let rest = store
        .list_documents(&organization.id, Some(&documents[1].id), 10)
        .await
        .unwrap();
    assert_eq!(rest, documents[2..]);

    let replacement = Document {
        id: documents[0].id,
        body: body(100),
    };
    store
        .replace_document(&organization.id, &replacement)
        .await
        .unwrap();
    let read = store
        .get_document(&organization.id, &replacement.id)
        .await
        .unwrap();
    assert_eq!(read, Some(replacement));

    store
        .delete_document(&organization.id, &documents[1].id)
        .await
        .unwrap();
    assert_eq!(
        store
            .get_document(&organization.id, &documents[1].id)
            .await
            .unwrap(),
        None
    );
    let again = store
        .delete_document(&organization.id, &documents[1].id)
        .await;
    assert!(matches!(again, Err(DocumentError::NotFound)));
    let missing = Document {
        id: DocumentId::generate(),
        body: body(1),
    };
    let replace_missing = store.replace_document(&organization.id, &missing).await;
    assert!(matches!(replace_missing, Err(DocumentError::NotFound)));
    assert_eq!(
        store
            .get_document(&organization.id, &missing.id)
            .await
            .unwrap(),
        None
    );
    assert_eq!(all_documents(store, &organization.id).await.len(), 4);
}

pub async fn documents_of_one_organization_are_invisible_to_another(store: &impl Store) {
    let acme = create(store, "Acme", "a@acme.io").await;
    let globex = create(store, "Globex", "g@globex.io").await;
    let secret = insert(store, &acme.id, 42).await;
    assert_eq!(
        store.get_document(&globex.id, &secret.id).await.unwrap(),
        None
    );
    assert!(all_documents(store, &globex.id).await.is_empty());
    let replace = store
        .replace_document(
            &globex.id,
            &Document {
                id: secret.id,
                body: body(0),
            },
        )
        .await;
    assert!(matches!(replace, Err(DocumentError::NotFound)));
    let delete = store.delete_document(&globex.id, &secret.id).await;
    assert!(matches!(delete, Err(DocumentError::NotFound)));
    assert_eq!(
        store.get_document(&acme.id, &secret.id).await.unwrap(),
        Some(secret)
    );
}

/// Where organizations share a collection, a rename or delete that forgot whose documents it
/// touches would take the neighbour's with it.
pub async fn renaming_or_deleting_one_organization_leaves_anothers_documents_alone(
    store: &impl Store,
) {
    let acme = create(store, "Acme", "a@acme.io").await;
    let globex = create(store, "Globex", "g@globex.io").await;
    let mut kept = Vec::new();
    for n in 0..5 {
        insert(store, &acme.id, n).await;
        kept.push(insert(store, &globex.id, n).await);
    }
    kept.sort_by_key(|d| d.id.to_string());
    store
        .update_organization(&change(&acme, "Acme Renamed"))
        .await
        .unwrap();
    assert_eq!(all_documents(store, &acme.id).await.len(), 5);
    assert_eq!(all_documents(store, &globex.id).await, kept);
    store
        .delete_organization(&acme.id, &deletion())
        .await
        .unwrap();
    assert_eq!(all_documents(store, &globex.id).await, kept);
    let after = kept.last().map(|d| d.id);
    assert!(store
        .list_documents(&globex.id, after.as_ref(), 10)
        .await
        .unwrap()
        .is_empty());
}

pub async fn documents_of_an_unknown_organization_are_refused(store: &impl Store) {
    let nobody = OrganizationId::generate();
    let document = Document {
        id: DocumentId::generate(),
        body: body(1),
    };
    let insert = store.insert_document(&nobody, &document).await;
    assert!(matches!(insert, Err(DocumentError::OrganizationNotFound)));
    let get = store.get_document(&nobody, &document.id).await;
    assert!(matches!(get, Err(DocumentError::OrganizationNotFound)));
    let list = store.list_documents(&nobody, None, 1).await;
    assert!(matches!(list, Err(DocumentError::OrganizationNotFound)));
}

pub async fn a_reachable_store_answers_ping(store: &impl Store) {
    store.ping().await.unwrap();
}

async fn token_version(store: &impl Store, admin: &UserId) -> u64 {
    store
        .find_user_by_id(admin)
        .await
        .unwrap()
        .unwrap()
        .token_version
}

pub async fn credential_changes_and_revocation_raise_the_token_version(store: &impl Store) {
    let organization = create(store, "Acme", "a@acme.io").await;
    let admin = organization.owner.id;
    assert_eq!(token_version(store, &admin).await, 0);
    // A rename, or "changing" to the same email, is no credential change.
    let mut same = change(&organization, "Acme Two");
    same.email = Some(EmailAddress::new("a@acme.io").unwrap());
    store.update_organization(&same).await.unwrap();
    assert_eq!(token_version(store, &admin).await, 0);
    let mut password = change(&organization, "Acme Two");
    password.password_hash = Some(PasswordHash::from_phc("$argon2id$new".into()));
    store.update_organization(&password).await.unwrap();
    assert_eq!(token_version(store, &admin).await, 1);
    let mut email = change(&organization, "Acme Three");
    email.email = Some(EmailAddress::new("b@acme.io").unwrap());
    store.update_organization(&email).await.unwrap();
    assert_eq!(token_version(store, &admin).await, 2);
    store.revoke_tokens(&admin).await.unwrap();
    assert_eq!(token_version(store, &admin).await, 3);
    // An unknown admin has no tokens to revoke; that is not an error.
    store.revoke_tokens(&UserId::generate()).await.unwrap();
}

pub async fn login_attempts_are_numbered_atomically_and_lock_until_a_time(store: &impl Store) {
    let email = EmailAddress::new("anyone@acme.io").unwrap();
    let key = AttemptKey::account(&email);
    let other = AttemptKey::from_address(&email, Some("203.0.113.9".parse().unwrap()));
    let now = Utc.with_ymd_and_hms(2026, 5, 6, 7, 8, 9).unwrap();
    // Concurrent attempts each get their own number: none can slip past a limit.
    let attempts =
        futures_util::future::join_all((0..20).map(|_| store.begin_login_attempt(&key, now))).await;
    let mut numbers: Vec<u32> = attempts
        .into_iter()
        .map(|admission| match admission.unwrap() {
            Admission::Admitted { attempt, locks, .. } => {
                assert_eq!(locks, 0);
                attempt
            }
            locked => panic!("{locked:?}"),
        })
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=20).collect::<Vec<_>>());
    // Keys are independent.
    assert!(matches!(
        store.begin_login_attempt(&other, now).await.unwrap(),
        Admission::Admitted {
            attempt: 1,
            previous_at: None,
            ..
        }
    ));

    let until = now + chrono::Duration::seconds(60);
    store.lock_login(&key, until).await.unwrap();
    assert_eq!(
        store.begin_login_attempt(&key, now).await.unwrap(),
        Admission::Locked { until }
    );
    assert_eq!(
        store
            .begin_login_attempt(&key, until - chrono::Duration::milliseconds(1))
            .await
            .unwrap(),
        Admission::Locked { until }
    );
    let later = until + chrono::Duration::seconds(1);
    // The lock expired: counting starts again, and the lock is remembered.
    assert_eq!(
        store.begin_login_attempt(&key, later).await.unwrap(),
        Admission::Admitted {
            attempt: 1,
            locks: 1,
            previous_at: None
        }
    );
    assert_eq!(
        store
            .begin_login_attempt(&key, later + chrono::Duration::seconds(1))
            .await
            .unwrap(),
        Admission::Admitted {
            attempt: 2,
            locks: 1,
            previous_at: Some(later)
        }
    );
    store
        .clear_login_attempts(std::slice::from_ref(&key))
        .await
        .unwrap();
    assert_eq!(
        store.begin_login_attempt(&key, later).await.unwrap(),
        Admission::Admitted {
            attempt: 1,
            locks: 0,
            previous_at: None
        }
    );
    // Many successful logins in a row (each ends its count), then failures: the count and the
    // lock still apply to the latest round, however many came before.
    for _ in 0..11 {
        store
            .clear_login_attempts(std::slice::from_ref(&key))
            .await
            .unwrap();
        store.begin_login_attempt(&key, later).await.unwrap();
    }
    for expected in 2..=13 {
        match store.begin_login_attempt(&key, later).await.unwrap() {
            Admission::Admitted { attempt, locks, .. } => {
                assert_eq!((attempt, locks), (expected, 0));
            }
            locked => panic!("{locked:?}"),
        }
    }
    // A release takes back one attempt of each key, never below none.
    store
        .release_login_attempts(&[key.clone(), other.clone()])
        .await
        .unwrap();
    store
        .release_login_attempts(std::slice::from_ref(&other))
        .await
        .unwrap();
    assert!(matches!(
        store.begin_login_attempt(&key, later).await.unwrap(),
        Admission::Admitted { attempt: 13, .. }
    ));
    assert!(matches!(
        store.begin_login_attempt(&other, later).await.unwrap(),
        Admission::Admitted { attempt: 1, .. }
    ));
    let until = later + chrono::Duration::seconds(60);
    store.lock_login(&key, until).await.unwrap();
    assert_eq!(
        store.begin_login_attempt(&key, later).await.unwrap(),
        Admission::Locked { until }
    );
    // Releasing an attempt does not lift a lock; clearing does, for every key named.
    store
        .release_login_attempts(std::slice::from_ref(&key))
        .await
        .unwrap();
    assert_eq!(
        store.begin_login_attempt(&key, later).await.unwrap(),
        Admission::Locked { until }
    );
    store
        .clear_login_attempts(&[key.clone(), other.clone()])
        .await
        .unwrap();
    for cleared in [&key, &other] {
        assert!(matches!(
            store.begin_login_attempt(cleared, later).await.unwrap(),
            Admission::Admitted {
                attempt: 1,
                locks: 0,
                ..
            }
        ));
    }
}

pub fn event(organization: Option<OrganizationId>, action: AuditAction, n: i64) -> AuditEvent {
    AuditEvent {
        id: AuditEventId::generate(),
        at: Utc.with_ymd_and_hms(2026, 5, 6, 7, 8, 9).unwrap() + chrono::Duration::milliseconds(n),
        organization_id: organization,
        action,
        outcome: if n % 2 == 0 {
            Outcome::Success
        } else {
            Outcome::Failure
        },
        actor: Some(UserId::generate()),
        ip: Some(
            if n % 2 == 0 {
                "203.0.113.7"
            } else {
                "2001:db8::1"
            }
            .parse()
            .unwrap(),
        ),
        details: json!({"n": n, "nested": {"list": [1, "two"]}, "email": "a@acme.io"})
            .as_object()
            .unwrap()
            .clone(),
    }
}

pub async fn audit_events_are_kept_per_organization_newest_first_and_outlive_it(
    store: &impl Store,
) {
    let acme = create(store, "Acme", "a@acme.io").await;
    let globex = create(store, "Globex", "g@globex.io").await;
    let mut recorded = Vec::new();
    for n in 0..5 {
        let e = event(Some(acme.id), AuditAction::DocumentCreated, n);
        store.record(&e).await;
        recorded.push(e);
    }
    store
        .record(&event(Some(globex.id), AuditAction::LoginSucceeded, 9))
        .await;
    store
        .record(&event(None, AuditAction::LoginFailed, 10))
        .await;

    let newest = store.list_audit_events(&acme.id, None, 3).await.unwrap();
    let expected: Vec<AuditEvent> = recorded.iter().rev().take(3).cloned().collect();
    assert_eq!(newest, expected, "newest first, every field as recorded");
    let older = store
        .list_audit_events(&acme.id, Some(&newest[2].id), 10)
        .await
        .unwrap();
    assert_eq!(older, vec![recorded[1].clone(), recorded[0].clone()]);
    assert_eq!(
        store
            .list_audit_events(&globex.id, None, 10)
            .await
            .unwrap()
            .len(),
        1
    );

    store
        .delete_organization(&acme.id, &deletion())
        .await
        .unwrap();
    assert_eq!(
        store
            .list_audit_events(&acme.id, None, 10)
            .await
            .unwrap()
            .len(),
        5
    );
}
