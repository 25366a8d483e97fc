use chrono::TimeZone as _;

use super::*;

fn at(hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, hour, 0, 0).unwrap()
}

/// An organization with an owner, an admin and a member.
fn team() -> (Roster, [UserId; 3]) {
    let [owner, admin, member] = [(); 3].map(|()| UserId::generate());
    let mut roster = Roster::founded(OrganizationId::generate(), owner, at(0));
    for (user, role) in [(admin, Role::Admin), (member, Role::Member)] {
        roster.members.push(Member {
            user_id: user,
            role,
            joined_at: at(1),
        });
    }
    (roster, [owner, admin, member])
}

fn invitation(email: &str, role: Role, by: UserId, expires_at: DateTime<Utc>) -> Invitation {
    Invitation {
        id: InvitationId::generate(),
        email: EmailAddress::new(email).unwrap(),
        role,
        secret_digest: "d".repeat(64),
        invited_by: by,
        created_at: at(0),
        expires_at,
        state: InvitationState::Pending,
    }
}

#[test]
fn roles_change_only_within_what_the_caller_may_manage() {
    let (mut roster, [owner, admin, member]) = team();
    // An admin may not make anyone an owner, nor touch an owner.
    assert_eq!(
        roster.change_role(&admin, &member, Role::Owner),
        Err(RosterRule::Forbidden)
    );
    assert_eq!(
        roster.change_role(&admin, &owner, Role::Member),
        Err(RosterRule::Forbidden)
    );
    // A member manages nobody, themselves included.
    assert_eq!(
        roster.change_role(&member, &member, Role::Admin),
        Err(RosterRule::Forbidden)
    );
    roster.change_role(&admin, &member, Role::Admin).unwrap();
    assert_eq!(roster.role_of(&member), Some(Role::Admin));
    roster.change_role(&owner, &admin, Role::Owner).unwrap();
    assert_eq!(roster.role_of(&admin), Some(Role::Owner));
    let stranger = UserId::generate();
    assert_eq!(
        roster.change_role(&owner, &stranger, Role::Member),
        Err(RosterRule::NoSuchMember)
    );
}

#[test]
fn the_last_owner_can_neither_step_down_leave_nor_be_removed() {
    let (mut roster, [owner, admin, _]) = team();
    assert_eq!(
        roster.change_role(&owner, &owner, Role::Admin),
        Err(RosterRule::LastOwner)
    );
    assert_eq!(roster.leave(&owner), Err(RosterRule::LastOwner));
    assert_eq!(roster.remove(&owner, &owner), Err(RosterRule::LastOwner));
    assert_eq!(roster.remove(&admin, &owner), Err(RosterRule::Forbidden));
    // With a second owner, the first may go.
    roster.change_role(&owner, &admin, Role::Owner).unwrap();
    roster.change_role(&owner, &owner, Role::Admin).unwrap();
    assert_eq!(roster.leave(&admin), Err(RosterRule::LastOwner));
    assert_eq!(roster.owners(), 1);
}

#[test]
fn ownership_moves_in_one_change_and_only_from_an_owner() {
    let (mut roster, [owner, admin, member]) = team();
    assert_eq!(
        roster.transfer_ownership(&admin, &member),
        Err(RosterRule::Forbidden)
    );
    assert_eq!(
        roster.transfer_ownership(&owner, &owner),
        Err(RosterRule::Forbidden)
    );
    roster.transfer_ownership(&owner, &member).unwrap();
    assert_eq!(roster.role_of(&member), Some(Role::Owner));
    assert_eq!(roster.role_of(&owner), Some(Role::Admin));
    assert_eq!(roster.first_owner().map(|m| m.user_id), Some(member));
    let _ = admin;
}

#[test]
fn removal_follows_the_same_ladder_and_anyone_but_the_last_owner_may_leave() {
    let (mut roster, [owner, admin, member]) = team();
    assert_eq!(roster.remove(&member, &admin), Err(RosterRule::Forbidden));
    assert_eq!(roster.remove(&admin, &member).unwrap().user_id, member);
    assert_eq!(roster.leave(&admin).unwrap().role, Role::Admin);
    assert_eq!(roster.members.len(), 1);
    assert_eq!(roster.leave(&admin), Err(RosterRule::NoSuchMember));
    let _ = owner;
}

#[test]
fn invitations_are_one_pending_per_email_never_above_the_inviter_and_single_use() {
    let (mut roster, [owner, admin, member]) = team();
    let now = at(2);
    let invite = |role| invitation("new@example.com", role, admin, at(10));
    assert_eq!(
        roster.invite(&admin, invite(Role::Owner), None, now),
        Err(RosterRule::Forbidden)
    );
    assert_eq!(
        roster.invite(&member, invite(Role::Member), None, now),
        Err(RosterRule::Forbidden)
    );
    let first = invite(Role::Member);
    roster.invite(&admin, first.clone(), None, now).unwrap();
    assert_eq!(
        roster.invite(&owner, invite(Role::Admin), None, now),
        Err(RosterRule::InvitationPending)
    );
    assert_eq!(
        roster.invite(
            &owner,
            invitation("x@example.com", Role::Member, owner, at(10)),
            Some(&member),
            now
        ),
        Err(RosterRule::AlreadyMember)
    );
    // A wrong secret, then the right one; the second use is refused.
    let joiner = UserId::generate();
    assert_eq!(
        roster.accept(&first.id, &"e".repeat(64), joiner, now),
        Err(RosterRule::InvitationGone)
    );
    assert_eq!(
        roster.accept(&first.id, &first.secret_digest, joiner, now),
        Ok(Role::Member)
    );
    assert_eq!(roster.role_of(&joiner), Some(Role::Member));
    assert_eq!(
        roster.accept(&first.id, &first.secret_digest, UserId::generate(), now),
        Err(RosterRule::InvitationGone)
    );
    assert_eq!(
        roster.revoke_invitation(&owner, &first.id, now),
        Err(RosterRule::InvitationGone)
    );
}

#[test]
fn expired_and_revoked_invitations_cannot_be_accepted_and_resending_revives_an_expired_one() {
    let (mut roster, [owner, ..]) = team();
    let expiring = invitation("late@example.com", Role::Member, owner, at(3));
    roster
        .invite(&owner, expiring.clone(), None, at(2))
        .unwrap();
    assert_eq!(
        roster.invitations[0].status(at(3)),
        InvitationStatus::Expired
    );
    assert_eq!(
        roster.accept(
            &expiring.id,
            &expiring.secret_digest,
            UserId::generate(),
            at(4)
        ),
        Err(RosterRule::InvitationGone)
    );
    // An expired one does not block a new invitation of the same email: it is replaced.
    let again = invitation("late@example.com", Role::Admin, owner, at(9));
    roster.invite(&owner, again.clone(), None, at(4)).unwrap();
    assert_eq!(roster.invitations.len(), 1);
    let resent = roster
        .resend_invitation(&owner, &again.id, "f".repeat(64), at(12))
        .unwrap();
    assert_eq!(resent.expires_at, at(12));
    assert_eq!(
        roster.accept(&again.id, &again.secret_digest, UserId::generate(), at(5)),
        Err(RosterRule::InvitationGone),
        "the old secret died with the resend"
    );
    roster.revoke_invitation(&owner, &again.id, at(5)).unwrap();
    assert_eq!(
        roster.invitations[0].status(at(5)),
        InvitationStatus::Revoked
    );
    assert_eq!(
        roster.accept(&again.id, &"f".repeat(64), UserId::generate(), at(5)),
        Err(RosterRule::InvitationGone)
    );
}

#[test]
fn an_invitation_grants_only_what_its_inviter_may_still_grant() {
    let (mut roster, [owner, admin, member]) = team();
    let demoted = invitation("a@example.com", Role::Admin, admin, at(9));
    let removed = invitation("m@example.com", Role::Member, member, at(9));
    roster.invite(&admin, demoted.clone(), None, at(2)).unwrap();
    roster.change_role(&admin, &member, Role::Admin).unwrap();
    roster
        .invite(&member, removed.clone(), None, at(2))
        .unwrap();
    roster.change_role(&owner, &admin, Role::Member).unwrap();
    roster.remove(&owner, &member).unwrap();
    for gone in [&demoted, &removed] {
        assert_eq!(
            roster.accept(&gone.id, &gone.secret_digest, UserId::generate(), at(3)),
            Err(RosterRule::InvitationGone),
            "{}",
            gone.email
        );
    }
    // An owner who resends one vouches for it.
    roster
        .resend_invitation(&owner, &demoted.id, "e".repeat(64), at(9))
        .unwrap();
    assert_eq!(
        roster.accept(&demoted.id, &"e".repeat(64), UserId::generate(), at(3)),
        Ok(Role::Admin)
    );
}

#[test]
fn pending_invitations_are_bounded_and_old_ended_ones_are_forgotten() {
    let (mut roster, [owner, ..]) = team();
    for i in 0..MAX_PENDING_INVITATIONS {
        let invite = invitation(&format!("p{i}@example.com"), Role::Member, owner, at(20));
        roster.invite(&owner, invite, None, at(2)).unwrap();
    }
    let one_more = invitation("over@example.com", Role::Member, owner, at(20));
    assert_eq!(
        roster.invite(&owner, one_more, None, at(2)),
        Err(RosterRule::Full)
    );
    let ids: Vec<InvitationId> = roster.invitations.iter().map(|i| i.id).collect();
    for (n, id) in ids.iter().enumerate() {
        let when = at(3) + chrono::Duration::minutes(i64::try_from(n).unwrap());
        roster.revoke_invitation(&owner, id, when).unwrap();
    }
    // Revoking 100 and inviting more keeps only the most recent ended ones.
    for i in 0..10 {
        let invite = invitation(&format!("q{i}@example.com"), Role::Member, owner, at(20));
        roster.invite(&owner, invite, None, at(5)).unwrap();
        let id = roster.invitations.last().unwrap().id;
        roster.revoke_invitation(&owner, &id, at(6)).unwrap();
    }
    let ended = roster
        .invitations
        .iter()
        .filter(|i| i.status(at(7)) != InvitationStatus::Pending)
        .count();
    assert_eq!(ended, KEPT_ENDED_INVITATIONS);
    assert!(roster
        .invitations
        .iter()
        .all(|i| i.email.as_str() != "p0@example.com"));
}
