//! The member-store promises: rosters written only at the version read, founders, users
//! created with a roster change, and users removed once no roster lists them.

use chrono::{TimeZone, Utc};
use orgsvc_domain::errors::{CreateOrganizationError, SaveRosterError, UpdateOrganizationError};
use orgsvc_domain::ports::{Founder, Store};
use orgsvc_domain::{
    EmailAddress, Member, Membership, OrganizationId, PasswordHash, Role, Roster, User, UserId,
};

use super::{create, organization, slug};

pub fn user(email: &str) -> User {
    User {
        id: UserId::generate(),
        email: EmailAddress::new(email).unwrap(),
        password_hash: PasswordHash::from_phc(format!("$argon2id$fake${email}")),
        created_at: Utc.with_ymd_and_hms(2026, 5, 6, 7, 8, 9).unwrap(),
        token_version: 0,
    }
}

pub fn with_member(mut roster: Roster, user: &UserId, role: Role) -> Roster {
    roster.members.push(Member {
        user_id: *user,
        role,
        joined_at: Utc.with_ymd_and_hms(2026, 5, 7, 0, 0, 0).unwrap(),
    });
    roster
}

async fn roster(store: &impl Store, organization: &OrganizationId) -> Roster {
    store
        .find_roster(organization)
        .await
        .unwrap()
        .expect("a roster")
}

/// Adds a new user to the organization through the store, as accepting an invitation does.
async fn join(store: &impl Store, organization: &OrganizationId, email: &str, role: Role) -> User {
    let joining = user(email);
    let changed = with_member(roster(store, organization).await, &joining.id, role);
    store.save_roster(&changed, Some(&joining)).await.unwrap();
    joining
}

pub async fn a_founder_owns_the_new_organization_and_may_found_another(store: &impl Store) {
    let acme = create(store, "Acme", "a@acme.io").await;
    let founded = roster(store, &acme.id).await;
    assert_eq!(founded.version, 0);
    assert_eq!(founded.role_of(&acme.owner.id), Some(Role::Owner));
    assert_eq!(founded.members.len(), 1);
    assert!(founded.invitations.is_empty());
    let role_in =
        |organization, user| async move { store.role_in(&organization, &user).await.unwrap() };
    assert_eq!(role_in(acme.id, acme.owner.id).await, Some(Role::Owner));
    assert_eq!(role_in(acme.id, UserId::generate()).await, None);
    assert_eq!(
        role_in(OrganizationId::generate(), acme.owner.id).await,
        None
    );

    let (mut globex, _) = organization(store, "Globex", "a@acme.io").await;
    globex.owner = acme.owner.clone();
    store
        .create_organization(&globex, Founder::Existing(&acme.owner.id))
        .await
        .unwrap();
    let mut memberships = store.memberships_of(&acme.owner.id).await.unwrap();
    memberships.sort_by_key(|m| m.organization_id == globex.id);
    assert_eq!(
        memberships,
        [
            Membership {
                organization_id: acme.id,
                role: Role::Owner
            },
            Membership {
                organization_id: globex.id,
                role: Role::Owner
            },
        ]
    );
    assert_eq!(
        store.find_organization_by_id(&globex.id).await.unwrap(),
        Some(globex)
    );

    // A founder who no longer exists founds nothing, and leaves nothing behind.
    let (initech, _) = organization(store, "Initech", "x@initech.io").await;
    let gone = UserId::generate();
    let err = store
        .create_organization(&initech, Founder::Existing(&gone))
        .await
        .unwrap_err();
    assert!(
        matches!(err, CreateOrganizationError::FounderGone),
        "{err:?}"
    );
    assert_eq!(
        store
            .find_organization_by_slug(&slug("Initech"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.find_roster(&initech.id).await.unwrap(), None);
    assert!(store.memberships_of(&gone).await.unwrap().is_empty());
}

pub async fn a_roster_is_written_only_at_the_version_it_was_read_at(store: &impl Store) {
    let acme = create(store, "Acme", "a@acme.io").await;
    let read = roster(store, &acme.id).await;
    let joining = user("j@acme.io");
    let changed = with_member(read.clone(), &joining.id, Role::Admin);
    store.save_roster(&changed, Some(&joining)).await.unwrap();
    let stored = roster(store, &acme.id).await;
    assert_eq!(stored.version, read.version + 1);
    assert_eq!(stored.members, changed.members);
    assert_eq!(
        store.find_user_by_email(&joining.email).await.unwrap(),
        Some(joining.clone())
    );

    // Written from the old read: refused, nothing changes, the would-be user is not created.
    let late = user("late@acme.io");
    let stale = with_member(read, &late.id, Role::Member);
    let err = store.save_roster(&stale, Some(&late)).await.unwrap_err();
    assert!(matches!(err, SaveRosterError::Conflict), "{err:?}");
    assert_eq!(roster(store, &acme.id).await, stored);
    assert_eq!(store.find_user_by_email(&late.email).await.unwrap(), None);

    // A joining user whose email is taken: refused, nothing written.
    let twin = user("j@acme.io");
    let err = store
        .save_roster(
            &with_member(stored.clone(), &twin.id, Role::Member),
            Some(&twin),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, SaveRosterError::EmailTaken { .. }), "{err:?}");
    assert_eq!(roster(store, &acme.id).await, stored);

    // The roster of an organization that does not exist cannot be written.
    let mut orphan = stored.clone();
    orphan.organization_id = OrganizationId::generate();
    let err = store.save_roster(&orphan, None).await.unwrap_err();
    assert!(matches!(err, SaveRosterError::Conflict), "{err:?}");
    assert_eq!(
        store.find_roster(&orphan.organization_id).await.unwrap(),
        None
    );
}

pub async fn concurrent_roster_writes_from_one_read_have_exactly_one_winner(store: &impl Store) {
    let acme = create(store, "Acme", "a@acme.io").await;
    let read = roster(store, &acme.id).await;
    let attempts = (0..8).map(|i| {
        let (store, read) = (store.clone(), read.clone());
        tokio::spawn(async move {
            let joining = user(&format!("r{i}@acme.io"));
            let changed = with_member(read, &joining.id, Role::Member);
            store.save_roster(&changed, Some(&joining)).await
        })
    });
    let mut written = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(()) => written += 1,
            Err(SaveRosterError::Conflict) => {}
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    assert_eq!(written, 1);
    let stored = roster(store, &acme.id).await;
    assert_eq!(stored.members.len(), 2);
    // Only the winner's user exists.
    let emails = (0..8).map(|i| EmailAddress::new(&format!("r{i}@acme.io")).unwrap());
    let mut users = 0;
    for email in emails {
        users += usize::from(store.find_user_by_email(&email).await.unwrap().is_some());
    }
    assert_eq!(users, 1);
}

pub async fn users_are_removed_when_no_roster_lists_them_any_more(store: &impl Store) {
    let acme = create(store, "Acme", "a@acme.io").await;
    let globex = create(store, "Globex", "g@globex.io").await;
    let both = join(store, &acme.id, "both@x.io", Role::Member).await;
    let changed = with_member(roster(store, &globex.id).await, &both.id, Role::Admin);
    store.save_roster(&changed, None).await.unwrap();
    let lone = join(store, &acme.id, "lone@x.io", Role::Member).await;

    let mut without = roster(store, &acme.id).await;
    without
        .members
        .retain(|m| m.user_id != both.id && m.user_id != lone.id);
    assert_eq!(
        store.role_in(&acme.id, &lone.id).await.unwrap(),
        Some(Role::Member)
    );
    store.save_roster(&without, None).await.unwrap();
    assert_eq!(store.role_in(&acme.id, &lone.id).await.unwrap(), None);
    assert_eq!(store.find_user_by_id(&lone.id).await.unwrap(), None);
    assert_eq!(store.find_user_by_email(&lone.email).await.unwrap(), None);
    assert_eq!(
        store.find_user_by_id(&both.id).await.unwrap(),
        Some(both.clone())
    );
    assert_eq!(
        store.memberships_of(&both.id).await.unwrap(),
        [Membership {
            organization_id: globex.id,
            role: Role::Admin
        }]
    );

    // Deleting Globex removes its lone owner and the user who was left only there.
    store
        .delete_organization(&globex.id, &crate::suite::deletion())
        .await
        .unwrap();
    assert_eq!(store.find_roster(&globex.id).await.unwrap(), None);
    assert_eq!(store.find_user_by_id(&both.id).await.unwrap(), None);
    assert_eq!(store.find_user_by_id(&globex.owner.id).await.unwrap(), None);
    assert!(store.memberships_of(&both.id).await.unwrap().is_empty());
    assert_eq!(
        store
            .find_user_by_id(&acme.owner.id)
            .await
            .unwrap()
            .map(|a| a.id),
        Some(acme.owner.id)
    );
    let found = store
        .find_users(&[acme.owner.id, both.id, lone.id])
        .await
        .unwrap();
    assert_eq!(
        found.iter().map(|a| a.id).collect::<Vec<_>>(),
        [acme.owner.id]
    );
}

pub async fn an_organization_is_shown_with_its_longest_standing_owner(store: &impl Store) {
    let acme = create(store, "Acme", "a@acme.io").await;
    let heir = join(store, &acme.id, "heir@acme.io", Role::Admin).await;
    let mut handed = roster(store, &acme.id).await;
    for member in &mut handed.members {
        member.role = if member.user_id == heir.id {
            Role::Owner
        } else {
            Role::Admin
        };
    }
    store.save_roster(&handed, None).await.unwrap();
    let shown = store
        .find_organization_by_id(&acme.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(shown.owner.id, heir.id);
    assert_eq!(shown.owner.email, heir.email);
    let by_slug = store
        .find_organization_by_slug(acme.slug())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_slug.owner.id, heir.id);
}

/// What a store opened on data of the version before rosters holds: "Old Co" with its one
/// admin (`old@old.co`, token version 3) as its owner, in a roster written once.
pub async fn assert_migrated(store: &impl Store, organization: &OrganizationId, admin: &UserId) {
    let roster = roster(store, organization).await;
    assert_eq!(roster.version, 0);
    assert_eq!(roster.members.len(), 1);
    assert_eq!(roster.role_of(admin), Some(Role::Owner));
    assert_eq!(
        store.memberships_of(admin).await.unwrap(),
        [Membership {
            organization_id: *organization,
            role: Role::Owner
        }]
    );
    let found = store
        .find_organization_by_slug(&slug("Old Co"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.owner.email.as_str(), "old@old.co");
    let user = store.find_user_by_id(admin).await.unwrap().unwrap();
    assert_eq!(user.token_version, 3, "tokens issued before stay valid");
}

/// A user's removal from their one organization races their addition to another (an existing
/// account accepting an invitation there), 8 rounds: whatever each answers, a user some roster
/// lists exists, and a user no roster lists does not.
pub async fn a_removal_racing_an_addition_elsewhere_never_strands_a_member(store: &impl Store) {
    let acme = create(store, "Acme", "a@acme.io").await;
    let globex = create(store, "Globex", "g@globex.io").await;
    for round in 0..8 {
        let moving = join(
            store,
            &acme.id,
            &format!("moving{round}@x.io"),
            Role::Member,
        )
        .await;
        let mut removed = roster(store, &acme.id).await;
        removed.members.retain(|m| m.user_id != moving.id);
        let added = with_member(roster(store, &globex.id).await, &moving.id, Role::Member);
        let (remove, add) = tokio::join!(
            store.save_roster(&removed, None),
            store.save_roster(&added, None)
        );
        for outcome in [&remove, &add] {
            assert!(
                matches!(outcome, Ok(()) | Err(SaveRosterError::Conflict)),
                "round {round}: {outcome:?}"
            );
        }
        let listed = !store.memberships_of(&moving.id).await.unwrap().is_empty();
        let exists = store.find_user_by_id(&moving.id).await.unwrap().is_some();
        assert_eq!(
            listed, exists,
            "round {round}: listed {listed}, exists {exists} (remove {remove:?}, add {add:?})"
        );
        assert_eq!(
            roster(store, &globex.id)
                .await
                .role_of(&moving.id)
                .is_some(),
            add.is_ok(),
            "round {round}"
        );
    }
}

/// A delete removes the members who belong nowhere else while another organization adds one
/// of them: the member ends up listed and existing, or neither, never listed but gone.
pub async fn a_delete_racing_an_addition_elsewhere_never_strands_a_member(store: &impl Store) {
    let globex = create(store, "Globex", "g@globex.io").await;
    for round in 0..8 {
        let doomed = create(store, &format!("Doomed {round}"), &format!("d{round}@x.io")).await;
        let moving = join(
            store,
            &doomed.id,
            &format!("moving{round}@x.io"),
            Role::Member,
        )
        .await;
        let added = with_member(roster(store, &globex.id).await, &moving.id, Role::Member);
        let request = crate::suite::deletion();
        let (delete, add) = tokio::join!(
            store.delete_organization(&doomed.id, &request),
            store.save_roster(&added, None)
        );
        assert!(delete.is_ok(), "round {round}: {delete:?}");
        assert!(
            matches!(add, Ok(()) | Err(SaveRosterError::Conflict)),
            "round {round}: {add:?}"
        );
        let listed = !store.memberships_of(&moving.id).await.unwrap().is_empty();
        let exists = store.find_user_by_id(&moving.id).await.unwrap().is_some();
        assert_eq!(
            (listed, exists),
            (add.is_ok(), add.is_ok()),
            "round {round}: listed {listed}, exists {exists} (add {add:?})"
        );
    }
}

/// A rename is decided by the renamer's role as stored when it is made: a member (or an admin
/// demoted since their token was issued) cannot rename or respell the organization, and leaves
/// it as it was; their own credentials they may still change; promoted, they may rename.
pub async fn a_rename_needs_the_renamers_current_role(store: &impl Store) {
    let acme = create(store, "Acme", "a@acme.io").await;
    let member = join(store, &acme.id, "m@acme.io", Role::Member).await;
    for name in ["Acme Renamed", "ACME"] {
        let mut rename = super::change(&acme, name);
        rename.user_id = member.id;
        let refused = store.update_organization(&rename).await.unwrap_err();
        assert!(
            matches!(refused, UpdateOrganizationError::Forbidden),
            "{name}: {refused:?}"
        );
        assert_eq!(
            store.find_organization_by_id(&acme.id).await.unwrap(),
            Some(acme.clone()),
            "{name}"
        );
    }
    let mut own = super::change(&acme, "Acme");
    own.user_id = member.id;
    own.password_hash = Some(PasswordHash::from_phc("$argon2id$mine".to_owned()));
    store.update_organization(&own).await.unwrap();

    let mut promoted = roster(store, &acme.id).await;
    if let Some(m) = promoted.members.iter_mut().find(|m| m.user_id == member.id) {
        m.role = Role::Admin;
    }
    store.save_roster(&promoted, None).await.unwrap();
    let mut rename = super::change(&acme, "Acme Renamed");
    rename.user_id = member.id;
    let renamed = store.update_organization(&rename).await.unwrap();
    assert_eq!(renamed.name.as_str(), "Acme Renamed");
}

/// API keys are part of the roster: written with it at its version, unchanged by a rename (the
/// organization's id is what they name), gone with the organization.
pub async fn api_keys_are_kept_with_the_roster_through_a_rename_and_go_with_it(store: &impl Store) {
    use orgsvc_domain::{ApiKey, ApiKeyId, ApiKeyName, Scope};
    let acme = create(store, "Acme", "a@acme.io").await;
    let mut with_key = roster(store, &acme.id).await;
    let at = Utc.with_ymd_and_hms(2026, 5, 8, 0, 0, 0).unwrap();
    with_key.api_keys.push(ApiKey {
        id: ApiKeyId::generate(),
        name: ApiKeyName::new("reporting").unwrap(),
        scopes: [Scope::DocumentsRead, Scope::MembersRead]
            .into_iter()
            .collect(),
        secret_digest: "ab".repeat(32),
        created_by: acme.owner.id,
        created_at: at,
        rotated_at: None,
        expires_at: Some(at + chrono::Duration::days(30)),
        last_used_at: Some(at),
    });
    store.save_roster(&with_key, None).await.unwrap();
    let stored = roster(store, &acme.id).await;
    assert_eq!(stored.api_keys, with_key.api_keys);

    store
        .update_organization(&super::change(&acme, "Acme Renamed"))
        .await
        .unwrap();
    assert_eq!(roster(store, &acme.id).await.api_keys, with_key.api_keys);

    store
        .delete_organization(&acme.id, &crate::suite::deletion())
        .await
        .unwrap();
    assert_eq!(store.find_roster(&acme.id).await.unwrap(), None);
}

/// A delete keeps, in the write that completes it, the record of what it removed: the
/// documents where they were, the roster's members, invitations, keys and endpoints, and the
/// users who belonged nowhere else; readable by its id, and by no other.
pub async fn a_delete_keeps_the_record_of_what_it_removed(store: &impl Store) {
    let acme = create(store, "Acme", "a@acme.io").await;
    let globex = create(store, "Globex", "g@globex.io").await;
    for n in 0..7 {
        crate::suite::insert(store, &acme.id, n).await;
    }
    let both = join(store, &acme.id, "both@x.io", Role::Member).await;
    let changed = with_member(roster(store, &globex.id).await, &both.id, Role::Member);
    store.save_roster(&changed, None).await.unwrap();
    join(store, &acme.id, "lone@x.io", Role::Admin).await;

    let request = crate::suite::deletion();
    let before = chrono::Utc::now();
    let record = store.delete_organization(&acme.id, &request).await.unwrap();
    assert_eq!(record.id, request.receipt_id);
    assert_eq!(record.organization_id, acme.id);
    assert_eq!(record.organization_name, "Acme");
    assert_eq!(record.requested_by, request.requested_by);
    assert_eq!(record.requested_at, request.requested_at);
    assert!(record.completed_at >= before - chrono::Duration::seconds(5));
    assert_eq!(record.expires_at, record.completed_at + request.retention);
    assert_eq!(record.removed.placement, acme.placement);
    assert_eq!(record.removed.documents, 7);
    assert_eq!(record.removed.roster.members, 3);
    // The owner and the lone admin; the member of Globex stays.
    assert_eq!(record.removed.users, 2);
    assert!(store.find_user_by_id(&both.id).await.unwrap().is_some());

    let read = store.deletion_record(&request.receipt_id).await.unwrap();
    assert_eq!(read.as_ref().map(|r| r.id), Some(record.id));
    assert_eq!(read.map(|r| r.removed), Some(record.removed));
    let stranger = orgsvc_domain::DeletionReceiptId::generate();
    assert_eq!(store.deletion_record(&stranger).await.unwrap(), None);
}
