use chrono::Duration;

use crate::fakes::{FakeHasher, FakeStore, FakeTokens, FixedClock};
use crate::service::{OrganizationApi as _, SessionApi as _};
use crate::{
    AuditAction, CreateOrganization, EmailAddress, InvitationPolicy, InvitationStatus, Joined,
    MemberError, OrganizationName, Origin, Password, Principal, Role, RosterRule, Service, TeamApi,
};

type TestService = Service<(FakeStore, FakeHasher, FakeTokens, FixedClock)>;

/// A service over `store` whose clock reads `hours` after the default fixed time.
fn at(store: &FakeStore, hours: i64) -> TestService {
    let clock = FixedClock::default();
    clock.advance(Duration::hours(hours));
    Service::new(store.clone(), FakeHasher::default(), FakeTokens, clock)
        .with_invitation_policy(InvitationPolicy::default())
}

fn password(s: &str) -> Password {
    Password::new(s.to_owned()).unwrap()
}

async fn owner_of_acme(service: &TestService) -> Principal {
    let organization = service
        .create_organization(
            &Origin::default(),
            CreateOrganization {
                name: OrganizationName::new("Acme").unwrap(),
                email: EmailAddress::new("owner@acme.io").unwrap(),
                password: password("correct horse"),
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

/// `owner` invites `email` as `role`; the invitee accepts as a new user.
async fn invited_and_joined(
    service: &TestService,
    owner: &Principal,
    email: &str,
    role: Role,
) -> Joined {
    let origin = Origin::default();
    let email = EmailAddress::new(email).unwrap();
    let invited = service.invite(&origin, owner, email, role).await.unwrap();
    service
        .accept_invitation(&origin, &invited.token.expose(), password("a new password"))
        .await
        .unwrap()
}

#[tokio::test]
async fn an_invitation_expires_after_its_lifetime_and_a_resend_revives_it() {
    let store = FakeStore::default();
    let now = at(&store, 0);
    let owner = owner_of_acme(&now).await;
    let invited = now
        .invite(
            &Origin::default(),
            &owner,
            EmailAddress::new("late@acme.io").unwrap(),
            Role::Member,
        )
        .await
        .unwrap();
    let secret = invited.token.expose();

    let later = at(&store, 168);
    let listed = later.list_invitations(&owner).await.unwrap();
    assert_eq!(listed[0].status, InvitationStatus::Expired);
    let refused = later
        .accept_invitation(&Origin::default(), &secret, password("a new password"))
        .await
        .unwrap_err();
    assert!(matches!(
        refused,
        MemberError::Rule(RosterRule::InvitationGone)
    ));

    let resent = later
        .resend_invitation(
            &Origin::default(),
            &owner,
            &invited.invitation.invitation.id,
        )
        .await
        .unwrap();
    assert_eq!(resent.invitation.status, InvitationStatus::Pending);
    let joined = at(&store, 169)
        .accept_invitation(
            &Origin::default(),
            &resent.token.expose(),
            password("a new password"),
        )
        .await
        .unwrap();
    assert_eq!(joined.role, Role::Member);
    let gone = at(&store, 169)
        .accept_invitation(&Origin::default(), &secret, password("a new password"))
        .await
        .unwrap_err();
    assert!(matches!(
        gone,
        MemberError::Rule(RosterRule::InvitationGone)
    ));
}

#[tokio::test]
async fn every_change_of_members_is_in_the_audit_log() {
    let store = FakeStore::default();
    let service = at(&store, 0);
    let owner = owner_of_acme(&service).await;
    let origin = Origin::default();
    let joined = invited_and_joined(&service, &owner, "m@acme.io", Role::Member).await;
    let member = service.list_members(&owner).await.unwrap()[1].user_id;
    service
        .change_member_role(&origin, &owner, &member, Role::Admin)
        .await
        .unwrap();
    service
        .remove_member(&origin, &owner, &member)
        .await
        .unwrap();
    let actions: Vec<AuditAction> = store
        .audit_events()
        .into_iter()
        .map(|event| event.action)
        .filter(|action| *action != AuditAction::OrganizationCreated)
        .collect();
    assert_eq!(
        actions,
        [
            AuditAction::InvitationCreated,
            AuditAction::MemberJoined,
            AuditAction::MemberRoleChanged,
            AuditAction::MemberRemoved,
        ]
    );
    assert_eq!(joined.organization.id, owner.organization_id);
    // The removed member belonged nowhere else: their account is gone.
    assert!(store.admin_count() == 1);
}

#[tokio::test]
async fn a_members_token_stops_working_when_its_role_changes() {
    let store = FakeStore::default();
    let service = at(&store, 0);
    let owner = owner_of_acme(&service).await;
    let origin = Origin::default();
    let joined = invited_and_joined(&service, &owner, "m@acme.io", Role::Admin).await;
    let principal = service
        .authenticate(&joined.token.access_token)
        .await
        .unwrap();
    assert_eq!(principal.role, Role::Admin);
    // Refused once the role changes, and for good: neither the old role given back nor (below)
    // a new membership after a removal brings the token back.
    for role in [Role::Member, Role::Admin] {
        service
            .change_member_role(&origin, &owner, &principal.user_id, role)
            .await
            .unwrap();
        assert!(
            service
                .authenticate(&joined.token.access_token)
                .await
                .is_err(),
            "as {role:?}"
        );
    }
    let again = service
        .login(
            &origin,
            &EmailAddress::new("m@acme.io").unwrap(),
            &password("a new password"),
            None,
        )
        .await
        .unwrap();
    let again_principal = service.authenticate(&again.access_token).await.unwrap();
    // A second organization keeps the account when Acme removes them.
    service
        .create_organization_for(
            &origin,
            &again_principal,
            OrganizationName::new("Side Project").unwrap(),
        )
        .await
        .unwrap();
    service
        .remove_member(&origin, &owner, &principal.user_id)
        .await
        .unwrap();
    let invited = service
        .invite(
            &origin,
            &owner,
            EmailAddress::new("m@acme.io").unwrap(),
            Role::Admin,
        )
        .await
        .unwrap();
    service
        .accept_invitation(&origin, &invited.token.expose(), password("a new password"))
        .await
        .unwrap();
    assert!(service.authenticate(&again.access_token).await.is_err());
}
