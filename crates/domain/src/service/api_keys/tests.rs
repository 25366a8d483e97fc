use crate::service::{AuditApi as _, DocumentApi as _, OrganizationApi as _, SessionApi as _};
use chrono::Duration;
use serde_json::json;

use crate::api_keys::{ApiKeyName, Scope, Scopes, MAX_API_KEYS};
use crate::document::{DocumentBody, PageLimit};
use crate::fakes::{FakeHasher, FakeStore, FakeTokens, FixedClock};
use crate::ports::Clock as _;
use crate::{
    ApiKeyApi, AuditAction, AuthenticateError, CreateOrganization, DocumentError, EmailAddress,
    MemberError, NewApiKey, OrganizationName, Origin, Password, Principal, Role, RosterRule,
    Service, TeamApi, UpdateOrganization,
};

type TestService = Service<(FakeStore, FakeHasher, FakeTokens, FixedClock)>;

struct Acme {
    service: TestService,
    clock: FixedClock,
    owner: Principal,
}

async fn acme() -> Acme {
    let clock = FixedClock::default();
    let service = Service::new(
        FakeStore::default(),
        FakeHasher::default(),
        FakeTokens,
        clock.clone(),
    );
    let organization = service
        .create_organization(
            &Origin::default(),
            CreateOrganization {
                name: OrganizationName::new("Acme").unwrap(),
                email: EmailAddress::new("owner@acme.io").unwrap(),
                password: Password::new("correct horse".to_owned()).unwrap(),
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
    Acme {
        service,
        clock,
        owner,
    }
}

fn new_key(scopes: &[Scope]) -> NewApiKey {
    NewApiKey {
        name: ApiKeyName::new("job").unwrap(),
        scopes: scopes.iter().copied().collect(),
        expires_at: None,
    }
}

fn body() -> DocumentBody {
    DocumentBody::new(json!({"x": 1}).as_object().unwrap().clone()).unwrap()
}

#[tokio::test]
async fn a_key_does_what_its_scopes_allow_and_nothing_else() {
    let a = acme().await;
    let origin = Origin::default();
    let issued = a
        .service
        .create_api_key(&origin, &a.owner, new_key(&[Scope::DocumentsRead]))
        .await
        .unwrap();
    let key = a
        .service
        .authenticate(&issued.secret.expose())
        .await
        .unwrap();
    assert_eq!(key.organization_id, a.owner.organization_id);
    assert_eq!(key.key.map(|k| k.id), Some(issued.key.id));

    let listed = a
        .service
        .list_documents(&key, None, PageLimit::DEFAULT)
        .await;
    assert!(listed.is_ok(), "{listed:?}");
    let write = a.service.insert_document(&origin, &key, body()).await;
    assert!(matches!(write, Err(DocumentError::Forbidden)), "{write:?}");
    let audit = a
        .service
        .list_audit_events(&key, None, PageLimit::DEFAULT)
        .await;
    assert!(audit.is_err());
    let members = a.service.list_members(&key).await;
    assert!(matches!(
        members,
        Err(MemberError::Rule(RosterRule::Forbidden))
    ));
    // Operations without a scope refuse every key, whatever its scopes.
    let all: Vec<Scope> = Scope::ALL.to_vec();
    let strong = a
        .service
        .create_api_key(&origin, &a.owner, new_key(&all))
        .await
        .unwrap();
    let strong = a
        .service
        .authenticate(&strong.secret.expose())
        .await
        .unwrap();
    let nested = a
        .service
        .create_api_key(&origin, &strong, new_key(&all))
        .await;
    assert!(matches!(
        nested,
        Err(MemberError::Rule(RosterRule::Forbidden))
    ));
    let rename = a
        .service
        .update_organization(
            &origin,
            &strong,
            UpdateOrganization {
                name: OrganizationName::new("Acme Two").unwrap(),
                current_name: None,
                email: None,
                password: None,
                current_password: None,
            },
        )
        .await;
    assert!(rename.is_err(), "{rename:?}");
    let invite = a
        .service
        .invite(
            &origin,
            &strong,
            EmailAddress::new("x@acme.io").unwrap(),
            Role::Member,
        )
        .await;
    assert!(invite.is_err());
    assert!(a
        .service
        .list_audit_events(&strong, None, PageLimit::DEFAULT)
        .await
        .is_ok());
    assert!(a
        .service
        .insert_document(&origin, &strong, body())
        .await
        .is_ok());
}

#[tokio::test]
async fn rotation_and_revocation_end_the_old_secret_at_once_and_are_audited() {
    let a = acme().await;
    let origin = Origin::default();
    let issued = a
        .service
        .create_api_key(&origin, &a.owner, new_key(&[Scope::DocumentsRead]))
        .await
        .unwrap();
    let old = issued.secret.expose();
    let rotated = a
        .service
        .rotate_api_key(&origin, &a.owner, &issued.key.id)
        .await
        .unwrap();
    assert!(matches!(
        a.service.authenticate(&old).await,
        Err(AuthenticateError::InvalidToken)
    ));
    let new = rotated.secret.expose();
    assert!(a.service.authenticate(&new).await.is_ok());
    a.service
        .revoke_api_key(&origin, &a.owner, &issued.key.id)
        .await
        .unwrap();
    assert!(a.service.authenticate(&new).await.is_err());
    let again = a
        .service
        .revoke_api_key(&origin, &a.owner, &issued.key.id)
        .await;
    assert!(matches!(
        again,
        Err(MemberError::Rule(RosterRule::NoSuchApiKey))
    ));
    // A made-up secret for a real key id, and a malformed key, are refused alike.
    let forged = format!(
        "{}{}",
        &new[..new.len() - 1],
        if new.ends_with('0') { '1' } else { '0' }
    );
    assert!(a.service.authenticate(&forged).await.is_err());
    assert!(a.service.authenticate("osk_nonsense").await.is_err());

    let events = a
        .service
        .list_audit_events(&a.owner, None, PageLimit::DEFAULT)
        .await
        .unwrap();
    let actions: Vec<AuditAction> = events.events.iter().map(|e| e.action).collect();
    for action in [
        AuditAction::ApiKeyCreated,
        AuditAction::ApiKeyRotated,
        AuditAction::ApiKeyRevoked,
    ] {
        assert!(actions.contains(&action), "{action:?} in {actions:?}");
    }
    let text = serde_json::to_string(&events.events.iter().map(|e| &e.details).collect::<Vec<_>>())
        .unwrap();
    assert!(
        !text.contains(&new[new.len() - 64..]),
        "no secret in the audit log"
    );
}

#[tokio::test]
async fn a_key_never_outlasts_or_outranks_its_creator_and_expires() {
    let a = acme().await;
    let origin = Origin::default();
    let joined = {
        let invited = a
            .service
            .invite(
                &origin,
                &a.owner,
                EmailAddress::new("ad@acme.io").unwrap(),
                Role::Admin,
            )
            .await
            .unwrap();
        a.service
            .accept_invitation(
                &origin,
                &invited.token.expose(),
                Password::new("admin pass 1".into()).unwrap(),
            )
            .await
            .unwrap()
    };
    let admin = a
        .service
        .authenticate(&joined.token.access_token)
        .await
        .unwrap();
    let audit_key = a
        .service
        .create_api_key(&origin, &admin, new_key(&[Scope::AuditRead]))
        .await
        .unwrap()
        .secret
        .expose();
    let documents_key = a
        .service
        .create_api_key(&origin, &admin, new_key(&[Scope::DocumentsRead]))
        .await
        .unwrap()
        .secret
        .expose();
    // Demoted to member: the audit key is beyond the role now, the documents key is not.
    a.service
        .change_member_role(&origin, &a.owner, &admin.user_id, Role::Member)
        .await
        .unwrap();
    assert!(a.service.authenticate(&audit_key).await.is_err());
    assert!(a.service.authenticate(&documents_key).await.is_ok());
    // Removed: nothing of theirs works.
    a.service
        .remove_member(&origin, &a.owner, &admin.user_id)
        .await
        .unwrap();
    assert!(a.service.authenticate(&documents_key).await.is_err());

    // Expiry.
    let soon = NewApiKey {
        expires_at: Some(a.clock.now() + Duration::hours(1)),
        ..new_key(&[Scope::DocumentsRead])
    };
    let expiring = a
        .service
        .create_api_key(&origin, &a.owner, soon)
        .await
        .unwrap()
        .secret
        .expose();
    assert!(a.service.authenticate(&expiring).await.is_ok());
    a.clock.advance(Duration::hours(1));
    assert!(a.service.authenticate(&expiring).await.is_err());

    // An expiry that is not after the service's now is refused, whatever the caller's clock.
    for at in [a.clock.now(), a.clock.now() - Duration::seconds(1)] {
        let stale = NewApiKey {
            expires_at: Some(at),
            ..new_key(&[Scope::DocumentsRead])
        };
        let refused = a.service.create_api_key(&origin, &a.owner, stale).await;
        assert!(
            matches!(
                refused,
                Err(MemberError::Invalid {
                    field: "expires_at",
                    ..
                })
            ),
            "{refused:?}"
        );
    }
}

#[tokio::test]
async fn keys_are_bounded_listed_without_secrets_and_record_their_last_use_coarsely() {
    let a = acme().await;
    let origin = Origin::default();
    let first = a
        .service
        .create_api_key(&origin, &a.owner, new_key(&[Scope::DocumentsRead]))
        .await
        .unwrap();
    for _ in 1..MAX_API_KEYS {
        a.service
            .create_api_key(&origin, &a.owner, new_key(&[Scope::DocumentsRead]))
            .await
            .unwrap();
    }
    let full = a
        .service
        .create_api_key(&origin, &a.owner, new_key(&[Scope::DocumentsRead]))
        .await;
    assert!(matches!(
        full,
        Err(MemberError::Rule(RosterRule::TooManyApiKeys))
    ));

    let secret = first.secret.expose();
    a.service.authenticate(&secret).await.unwrap();
    let used = |keys: Vec<crate::ApiKey>| {
        keys.into_iter()
            .find(|k| k.id == first.key.id)
            .unwrap()
            .last_used_at
    };
    let at = used(a.service.list_api_keys(&a.owner).await.unwrap());
    assert_eq!(at, Some(a.clock.now()));
    a.clock.advance(Duration::seconds(30));
    a.service.authenticate(&secret).await.unwrap();
    assert_eq!(
        used(a.service.list_api_keys(&a.owner).await.unwrap()),
        at,
        "within the minute"
    );
    a.clock.advance(Duration::seconds(30));
    a.service.authenticate(&secret).await.unwrap();
    assert_eq!(
        used(a.service.list_api_keys(&a.owner).await.unwrap()),
        Some(a.clock.now())
    );
    assert!(Scopes::default().is_empty());
}
