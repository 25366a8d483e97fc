use std::sync::atomic::Ordering;

use crate::service::{
    AuditApi as _, DocumentApi as _, OrganizationApi as _, ReceiptApi as _, SessionApi as _,
    StatusApi as _,
};
use serde_json::json;

use crate::fakes::{FakeHasher, FakeStore, FakeTokens, FixedClock};
use crate::ports::{OrganizationStore, Principal};
use crate::{
    AuditAction, AuthenticateError, CreateOrganization, CreateOrganizationError,
    DeleteOrganizationError, DocumentBody, DocumentError, DocumentId, EmailAddress,
    GetOrganizationError, LoginError, Organization, OrganizationName, Origin, Outcome, PageLimit,
    Password, Service, StoreError, UpdateOrganization, UpdateOrganizationError,
};

mod lockout;

type TestService = Service<(FakeStore, FakeHasher, FakeTokens, FixedClock)>;

struct Harness {
    service: TestService,
    store: FakeStore,
    hasher: FakeHasher,
    clock: FixedClock,
}

fn harness() -> Harness {
    let store = FakeStore::default();
    let hasher = FakeHasher::default();
    let clock = FixedClock::default();
    let service = Service::new(store.clone(), hasher.clone(), FakeTokens, clock.clone());
    Harness {
        service,
        store,
        hasher,
        clock,
    }
}

fn name(s: &str) -> OrganizationName {
    OrganizationName::new(s).unwrap()
}

fn email(s: &str) -> EmailAddress {
    EmailAddress::new(s).unwrap()
}

fn password(s: &str) -> Password {
    Password::new(s.to_owned()).unwrap()
}

fn body(value: serde_json::Value) -> DocumentBody {
    DocumentBody::new(value.as_object().unwrap().clone()).unwrap()
}

fn create_command(org: &str, admin: &str) -> CreateOrganization {
    CreateOrganization {
        name: name(org),
        email: email(admin),
        password: password("correct horse"),
    }
}

async fn create(h: &Harness, org: &str, admin: &str) -> (Organization, Principal) {
    let organization = h
        .service
        .create_organization(&Origin::default(), create_command(org, admin))
        .await
        .unwrap();
    let principal = Principal {
        user_id: organization.owner.id,
        organization_id: organization.id,
        role: crate::Role::Owner,
        token_version: 0,
        key: None,
    };
    (organization, principal)
}

#[tokio::test]
async fn creating_an_organization_records_it_with_its_admin_and_placement() {
    let h = harness();
    let (org, _) = create(&h, "Acme Corp", "Boss@Acme.io").await;
    assert_eq!(org.name.as_str(), "Acme Corp");
    assert_eq!(org.collection_name().as_str(), "org_acme_corp");
    assert_eq!(org.placement.cluster, "default");
    assert_eq!(org.owner.email.as_str(), "boss@acme.io");
    let admin = h
        .store
        .find_user_by_id(&org.owner.id)
        .await
        .unwrap()
        .unwrap();
    let roster = crate::ports::MemberStore::find_roster(&h.store, &org.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(roster.role_of(&admin.id), Some(crate::Role::Owner));
    assert_eq!(admin.password_hash.as_phc(), "fake$correct horse");
    assert_eq!(h.store.document_count(&org.id), Some(0));
}

#[tokio::test]
async fn a_second_organization_with_the_same_slug_is_rejected() {
    let h = harness();
    create(&h, "Acme Corp", "a@acme.io").await;
    let err = h
        .service
        .create_organization(&Origin::default(), create_command("ACME-corp", "b@acme.io"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, CreateOrganizationError::NameTaken { slug } if slug.as_str() == "acme_corp")
    );
    assert_eq!(h.store.admin_count(), 1);
}

#[tokio::test]
async fn an_admin_email_can_only_be_used_once() {
    let h = harness();
    create(&h, "Acme", "a@acme.io").await;
    let err = h
        .service
        .create_organization(&Origin::default(), create_command("Other", "A@ACME.io"))
        .await
        .unwrap_err();
    assert!(matches!(err, CreateOrganizationError::EmailTaken { .. }));
    let missing = h.service.get_organization(&name("Other")).await;
    assert!(matches!(missing, Err(GetOrganizationError::NotFound)));
}

#[tokio::test]
async fn an_organization_is_found_by_any_spelling_of_its_name() {
    let h = harness();
    let (org, _) = create(&h, "Acme Corp", "a@acme.io").await;
    let found = h
        .service
        .get_organization(&name("acme-CORP"))
        .await
        .unwrap();
    assert_eq!(found.id, org.id);
    let missing = h.service.get_organization(&name("Nope")).await;
    assert!(matches!(missing, Err(GetOrganizationError::NotFound)));
}

#[tokio::test]
async fn login_with_the_right_password_yields_a_token_for_admin_and_organization() {
    let h = harness();
    let (_, principal) = create(&h, "Acme", "a@acme.io").await;
    let token = h
        .service
        .login(
            &Origin::default(),
            &email("A@acme.io"),
            &password("correct horse"),
            None,
        )
        .await
        .unwrap();
    let back = h.service.authenticate(&token.access_token).await.unwrap();
    assert_eq!(back, principal);
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_fail_alike_and_both_are_verified() {
    let h = harness();
    create(&h, "Acme", "a@acme.io").await;
    let wrong = h
        .service
        .login(
            &Origin::default(),
            &email("a@acme.io"),
            &password("wrong password"),
            None,
        )
        .await;
    assert!(matches!(wrong, Err(LoginError::InvalidCredentials)));
    let unknown = h
        .service
        .login(
            &Origin::default(),
            &email("nobody@acme.io"),
            &password("correct horse"),
            None,
        )
        .await;
    assert!(matches!(unknown, Err(LoginError::InvalidCredentials)));
    assert_eq!(h.hasher.verifications.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_forged_token_or_one_whose_admin_is_gone_does_not_authenticate() {
    let h = harness();
    let (org, principal) = create(&h, "Acme", "a@acme.io").await;
    let garbage = h.service.authenticate("not a token").await;
    assert!(matches!(garbage, Err(AuthenticateError::InvalidToken)));
    let token = format!(
        "{}:{}",
        principal.user_id,
        crate::OrganizationId::generate()
    );
    let mismatched = h.service.authenticate(&token).await;
    assert!(matches!(mismatched, Err(AuthenticateError::InvalidToken)));
    h.service
        .delete_organization(&Origin::default(), &principal, &org.name)
        .await
        .unwrap();
    let token = format!("{}:{}", principal.user_id, principal.organization_id);
    let gone = h.service.authenticate(&token).await;
    assert!(matches!(gone, Err(AuthenticateError::InvalidToken)));
}

#[tokio::test]
async fn renaming_keeps_the_id_and_every_document() {
    let h = harness();
    let (org, principal) = create(&h, "Acme", "a@acme.io").await;
    for i in 0..5 {
        h.service
            .insert_document(&Origin::default(), &principal, body(json!({ "n": i })))
            .await
            .unwrap();
    }
    let renamed = h
        .service
        .update_organization(
            &Origin::default(),
            &principal,
            UpdateOrganization {
                name: name("Acme Industries"),
                current_name: None,
                email: None,
                password: None,
                current_password: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(renamed.id, org.id);
    assert_eq!(renamed.collection_name().as_str(), "org_acme_industries");
    let page = h
        .service
        .list_documents(&principal, None, PageLimit::DEFAULT)
        .await
        .unwrap();
    assert_eq!(page.documents.len(), 5);
    assert!(h.service.get_organization(&name("Acme")).await.is_err());
}

#[tokio::test]
async fn an_update_naming_another_organization_as_current_is_forbidden_and_changes_nothing() {
    let h = harness();
    create(&h, "Globex", "g@globex.io").await;
    let (_, principal) = create(&h, "Acme", "a@acme.io").await;
    let mut command = rename_to("Initech");
    command.current_name = Some(name("GLOBEX"));
    let err = h
        .service
        .update_organization(&Origin::default(), &principal, command)
        .await
        .unwrap_err();
    assert!(matches!(err, UpdateOrganizationError::Forbidden), "{err:?}");
    assert!(h.service.get_organization(&name("Initech")).await.is_err());
    assert!(h.service.get_organization(&name("Acme")).await.is_ok());
    // Any spelling of the caller's own name is the caller's organization.
    let mut command = rename_to("Initech");
    command.current_name = Some(name("ACME"));
    let renamed = h
        .service
        .update_organization(&Origin::default(), &principal, command)
        .await
        .unwrap();
    assert_eq!(renamed.name.as_str(), "Initech");
}

#[tokio::test]
async fn renaming_onto_another_organizations_slug_is_rejected() {
    let h = harness();
    create(&h, "Globex", "g@globex.io").await;
    let (_, principal) = create(&h, "Acme", "a@acme.io").await;
    let err = h
        .service
        .update_organization(
            &Origin::default(),
            &principal,
            UpdateOrganization {
                name: name("GLOBEX"),
                current_name: None,
                email: None,
                password: None,
                current_password: None,
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, UpdateOrganizationError::NameTaken { .. }));
    // Respelling one's own name is not a conflict.
    let respelled = h
        .service
        .update_organization(
            &Origin::default(),
            &principal,
            UpdateOrganization {
                name: name("ACME"),
                current_name: None,
                email: None,
                password: None,
                current_password: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(respelled.name.as_str(), "ACME");
}

#[tokio::test]
async fn an_update_can_change_the_admins_email_and_password() {
    let h = harness();
    create(&h, "Globex", "g@globex.io").await;
    let (_, principal) = create(&h, "Acme", "a@acme.io").await;
    let taken = h
        .service
        .update_organization(
            &Origin::default(),
            &principal,
            UpdateOrganization {
                name: name("Acme"),
                current_name: None,
                email: Some(email("g@globex.io")),
                password: None,
                current_password: Some(password("correct horse")),
            },
        )
        .await;
    assert!(matches!(
        taken,
        Err(UpdateOrganizationError::EmailTaken { .. })
    ));
    let updated = h
        .service
        .update_organization(
            &Origin::default(),
            &principal,
            UpdateOrganization {
                name: name("Acme"),
                current_name: None,
                email: Some(email("new@acme.io")),
                password: Some(password("new password")),
                current_password: Some(password("correct horse")),
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.owner.email.as_str(), "new@acme.io");
    let old = h
        .service
        .login(
            &Origin::default(),
            &email("a@acme.io"),
            &password("correct horse"),
            None,
        )
        .await;
    assert!(matches!(old, Err(LoginError::InvalidCredentials)));
    h.service
        .login(
            &Origin::default(),
            &email("new@acme.io"),
            &password("new password"),
            None,
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn only_an_organizations_own_admin_may_delete_it() {
    let h = harness();
    let (acme, acme_admin) = create(&h, "Acme", "a@acme.io").await;
    let (globex, _) = create(&h, "Globex", "g@globex.io").await;
    let forbidden = h
        .service
        .delete_organization(&Origin::default(), &acme_admin, &globex.name)
        .await;
    assert!(matches!(forbidden, Err(DeleteOrganizationError::Forbidden)));
    let missing = h
        .service
        .delete_organization(&Origin::default(), &acme_admin, &name("Initech"))
        .await;
    assert!(matches!(missing, Err(DeleteOrganizationError::NotFound)));
    let deleted = h
        .service
        .delete_organization(&Origin::default(), &acme_admin, &acme.name)
        .await
        .unwrap();
    assert_eq!(deleted.organization.id, acme.id);
    assert_eq!(h.store.document_count(&acme.id), None);
    assert_eq!(h.store.admin_count(), 1);
    assert!(h.service.get_organization(&globex.name).await.is_ok());
}

#[tokio::test]
async fn a_deletion_answers_a_signed_receipt_of_what_it_removed_fetchable_by_its_id() {
    let h = harness();
    let (acme, owner) = create(&h, "Acme", "a@acme.io").await;
    for n in 0..3 {
        h.service
            .insert_document(&Origin::default(), &owner, body(json!({ "n": n })))
            .await
            .unwrap();
    }
    let deleted = h
        .service
        .delete_organization(&Origin::default(), &owner, &acme.name)
        .await
        .unwrap();
    let receipt = deleted.receipt;
    let claims = &receipt.claims;
    assert_eq!(claims["jti"], receipt.id.to_string());
    assert_eq!(claims["organization"]["id"], acme.id.to_string());
    assert_eq!(claims["organization"]["name"], "Acme");
    assert_eq!(claims["requested_by"], owner.user_id.to_string());
    assert_eq!(claims["removed"]["documents"][0]["count"], 3);
    assert_eq!(claims["removed"]["documents"][0]["collection"], "org_acme");
    assert_eq!(claims["removed"]["members"], 1);
    assert_eq!(claims["removed"]["users"], 1);
    assert_eq!(claims["kept"]["audit_events"]["retention_days"], 90);
    assert_eq!(claims["iss"], "fake");
    // The fake signer's "JWS" is the type and the claims: what was signed is what is shown.
    assert_eq!(
        receipt.jws,
        format!("{}:{}", crate::deletion::RECEIPT_TYPE, claims)
    );
    let fetched = h.service.deletion_receipt(&receipt.id).await.unwrap();
    assert_eq!(fetched, receipt);
    let unknown = h
        .service
        .deletion_receipt(&crate::ids::DeletionReceiptId::generate())
        .await;
    assert!(matches!(
        unknown,
        Err(crate::errors::ReceiptError::NotFound)
    ));
}

#[tokio::test]
async fn documents_page_in_insertion_order_with_a_cursor() {
    let h = harness();
    let (_, principal) = create(&h, "Acme", "a@acme.io").await;
    let mut ids = Vec::new();
    for i in 0..7 {
        let doc = h
            .service
            .insert_document(&Origin::default(), &principal, body(json!({ "n": i })))
            .await
            .unwrap();
        ids.push(doc.id);
    }
    let limit = PageLimit::new(3).unwrap();
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = h
            .service
            .list_documents(&principal, after, limit)
            .await
            .unwrap();
        seen.extend(page.documents.iter().map(|d| d.id));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, ids);
}

#[tokio::test]
async fn a_page_that_ends_exactly_at_the_last_document_has_no_next() {
    let h = harness();
    let (_, principal) = create(&h, "Acme", "a@acme.io").await;
    for i in 0..3 {
        h.service
            .insert_document(&Origin::default(), &principal, body(json!({ "n": i })))
            .await
            .unwrap();
    }
    let page = h
        .service
        .list_documents(&principal, None, PageLimit::new(3).unwrap())
        .await
        .unwrap();
    assert_eq!(page.documents.len(), 3);
    assert_eq!(page.next, None);
}

#[tokio::test]
async fn one_organization_never_sees_anothers_documents() {
    let h = harness();
    let (_, acme) = create(&h, "Acme", "a@acme.io").await;
    let (_, globex) = create(&h, "Globex", "g@globex.io").await;
    let secret = h
        .service
        .insert_document(&Origin::default(), &acme, body(json!({ "secret": true })))
        .await
        .unwrap();
    let read = h.service.get_document(&globex, &secret.id).await;
    assert!(matches!(read, Err(DocumentError::NotFound)));
    let replace = h
        .service
        .replace_document(
            &Origin::default(),
            &globex,
            secret.id,
            body(json!({ "x": 1 })),
        )
        .await;
    assert!(matches!(replace, Err(DocumentError::NotFound)));
    let delete = h
        .service
        .delete_document(&Origin::default(), &globex, &secret.id)
        .await;
    assert!(matches!(delete, Err(DocumentError::NotFound)));
    let page = h
        .service
        .list_documents(&globex, None, PageLimit::DEFAULT)
        .await
        .unwrap();
    assert!(page.documents.is_empty());
    assert_eq!(
        h.service
            .get_document(&acme, &secret.id)
            .await
            .unwrap()
            .body,
        body(json!({ "secret": true }))
    );
}

#[tokio::test]
async fn replacing_and_deleting_a_missing_document_says_not_found() {
    let h = harness();
    let (_, principal) = create(&h, "Acme", "a@acme.io").await;
    let id = DocumentId::generate();
    let replace = h
        .service
        .replace_document(&Origin::default(), &principal, id, body(json!({})))
        .await;
    assert!(matches!(replace, Err(DocumentError::NotFound)));
    let delete = h
        .service
        .delete_document(&Origin::default(), &principal, &id)
        .await;
    assert!(matches!(delete, Err(DocumentError::NotFound)));
}

#[tokio::test]
async fn a_store_outage_surfaces_as_unavailable() {
    let h = harness();
    h.store.go_down();
    assert!(matches!(
        h.service.ready().await,
        Err(StoreError::Unavailable(_))
    ));
    let create = h
        .service
        .create_organization(&Origin::default(), create_command("Acme", "a@acme.io"))
        .await;
    assert!(matches!(
        create,
        Err(CreateOrganizationError::Store(StoreError::Unavailable(_)))
    ));
}

fn rename_to(org: &str) -> UpdateOrganization {
    UpdateOrganization {
        name: name(org),
        current_name: None,
        email: None,
        password: None,
        current_password: None,
    }
}

#[tokio::test]
async fn changing_credentials_needs_the_current_password() {
    let h = harness();
    let (_, principal) = create(&h, "Acme", "a@acme.io").await;
    for current in [None, Some(password("wrong password"))] {
        let refused = h
            .service
            .update_organization(
                &Origin::default(),
                &principal,
                UpdateOrganization {
                    email: Some(email("thief@evil.io")),
                    current_password: current,
                    ..rename_to("Acme")
                },
            )
            .await;
        assert!(matches!(
            refused,
            Err(UpdateOrganizationError::CurrentPasswordRequired)
        ));
        let refused = h
            .service
            .update_organization(
                &Origin::default(),
                &principal,
                UpdateOrganization {
                    password: Some(password("stolen account")),
                    ..rename_to("Acme")
                },
            )
            .await;
        assert!(matches!(
            refused,
            Err(UpdateOrganizationError::CurrentPasswordRequired)
        ));
    }
    // Nothing changed: the old credentials still work.
    h.service
        .login(
            &Origin::default(),
            &email("a@acme.io"),
            &password("correct horse"),
            None,
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn resending_the_current_email_and_password_with_a_rename_needs_no_proof() {
    let h = harness();
    let (_, principal) = create(&h, "Acme", "a@acme.io").await;
    let renamed = h
        .service
        .update_organization(
            &Origin::default(),
            &principal,
            UpdateOrganization {
                email: Some(email("A@acme.io")),
                password: Some(password("correct horse")),
                ..rename_to("Acme Industries")
            },
        )
        .await
        .unwrap();
    assert_eq!(renamed.name.as_str(), "Acme Industries");
    // No credential changed, so the caller's token is still good.
    h.service
        .insert_document(&Origin::default(), &principal, body(json!({})))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_credential_change_revokes_earlier_tokens_but_a_rename_does_not() {
    let h = harness();
    let (_, principal) = create(&h, "Acme", "a@acme.io").await;
    let token = h
        .service
        .login(
            &Origin::default(),
            &email("a@acme.io"),
            &password("correct horse"),
            None,
        )
        .await
        .unwrap()
        .access_token;
    h.service
        .update_organization(&Origin::default(), &principal, rename_to("Acme Two"))
        .await
        .unwrap();
    assert!(h.service.authenticate(&token).await.is_ok());
    h.service
        .update_organization(
            &Origin::default(),
            &principal,
            UpdateOrganization {
                password: Some(password("a new password")),
                current_password: Some(password("correct horse")),
                ..rename_to("Acme Two")
            },
        )
        .await
        .unwrap();
    assert!(matches!(
        h.service.authenticate(&token).await,
        Err(AuthenticateError::InvalidToken)
    ));
    let fresh = h
        .service
        .login(
            &Origin::default(),
            &email("a@acme.io"),
            &password("a new password"),
            None,
        )
        .await
        .unwrap()
        .access_token;
    let caller = h.service.authenticate(&fresh).await.unwrap();
    h.service.logout(&Origin::default(), &caller).await.unwrap();
    assert!(h.service.authenticate(&fresh).await.is_err());
}

fn origin() -> Origin {
    Origin {
        ip: Some("203.0.113.9".parse().unwrap()),
    }
}

#[tokio::test]
async fn every_change_and_login_is_audited_without_secrets() {
    let h = harness();
    let organization = h
        .service
        .create_organization(&origin(), create_command("Acme", "a@acme.io"))
        .await
        .unwrap();
    let principal = Principal {
        user_id: organization.owner.id,
        organization_id: organization.id,
        role: crate::Role::Owner,
        token_version: 0,
        key: None,
    };
    let _ = h
        .service
        .login(
            &origin(),
            &email("a@acme.io"),
            &password("wrong guess"),
            None,
        )
        .await;
    h.service
        .login(
            &origin(),
            &email("a@acme.io"),
            &password("correct horse"),
            None,
        )
        .await
        .unwrap();
    let doc = h
        .service
        .insert_document(&origin(), &principal, body(json!({"x": 1})))
        .await
        .unwrap();
    h.service
        .replace_document(&origin(), &principal, doc.id, body(json!({"x": 2})))
        .await
        .unwrap();
    h.service
        .delete_document(&origin(), &principal, &doc.id)
        .await
        .unwrap();
    h.service
        .update_organization(
            &origin(),
            &principal,
            UpdateOrganization {
                password: Some(password("a new password")),
                current_password: Some(password("correct horse")),
                ..rename_to("Acme Two")
            },
        )
        .await
        .unwrap();
    let principal = Principal {
        token_version: 1,
        key: None,
        ..principal
    };
    h.service.logout(&origin(), &principal).await.unwrap();
    h.service
        .delete_organization(&origin(), &principal, &name("Acme Two"))
        .await
        .unwrap();

    let events = h.store.audit_events();
    let actions: Vec<AuditAction> = events.iter().map(|e| e.action).collect();
    assert_eq!(
        actions,
        [
            AuditAction::OrganizationCreated,
            AuditAction::LoginFailed,
            AuditAction::LoginSucceeded,
            AuditAction::DocumentCreated,
            AuditAction::DocumentReplaced,
            AuditAction::DocumentDeleted,
            AuditAction::OrganizationRenamed,
            AuditAction::CredentialsChanged,
            AuditAction::TokensRevoked,
            AuditAction::OrganizationDeleted,
        ]
    );
    for event in &events {
        assert_eq!(event.organization_id, Some(organization.id), "{event:?}");
        assert_eq!(event.actor, Some(organization.owner.id), "{event:?}");
        assert_eq!(event.ip, origin().ip);
        let details = serde_json::to_string(&event.details).unwrap();
        for secret in ["correct horse", "a new password", "wrong guess", "fake$"] {
            assert!(!details.contains(secret), "{details}");
        }
    }
    assert_eq!(events[1].outcome, Outcome::Failure);
    assert_eq!(events[6].details["from"], "Acme");
    assert_eq!(events[6].details["to"], "Acme Two");
}

#[tokio::test]
async fn the_audit_log_pages_newest_first() {
    let h = harness();
    let (_, principal) = create(&h, "Acme", "a@acme.io").await;
    for n in 0..5 {
        h.service
            .insert_document(&origin(), &principal, body(json!({ "n": n })))
            .await
            .unwrap();
    }
    let limit = PageLimit::new(4).unwrap();
    let first = h
        .service
        .list_audit_events(&principal, None, limit)
        .await
        .unwrap();
    assert_eq!(first.events.len(), 4);
    assert!(first.events.windows(2).all(|w| w[0].id > w[1].id));
    let second = h
        .service
        .list_audit_events(&principal, first.next, limit)
        .await
        .unwrap();
    assert_eq!(second.events.len(), 2);
    assert_eq!(second.next, None);
    assert_eq!(second.events[1].action, AuditAction::OrganizationCreated);
}

/// Role × operation → allowed or refused, decided in the domain by the permission table
/// (`roles`), whatever route the call came by. Every organization's creator is its owner; the
/// other roles are given to the caller here directly.
#[tokio::test]
async fn each_role_may_do_exactly_what_the_permission_table_says() {
    use crate::errors::{AuditLogError, DeleteOrganizationError, UpdateOrganizationError};
    use crate::Role;

    for role in Role::ALL {
        let h = harness();
        let (_, owner) = create(&h, "Acme", "a@acme.io").await;
        let caller = Principal { role, ..owner };

        let document = h
            .service
            .insert_document(&origin(), &caller, body(json!({"x": 1})))
            .await;
        assert!(document.is_ok(), "{role}: documents");
        let own_password = h
            .service
            .update_organization(
                &origin(),
                &caller,
                UpdateOrganization {
                    password: Some(password("a new password")),
                    current_password: Some(password("correct horse")),
                    ..rename_to("Acme")
                },
            )
            .await;
        assert!(own_password.is_ok(), "{role}: own password");

        let audit = h
            .service
            .list_audit_events(&caller, None, PageLimit::DEFAULT)
            .await;
        let rename = h
            .service
            .update_organization(&origin(), &caller, rename_to("Acme Two"))
            .await;
        let renamed = rename.is_ok();
        let current = if renamed { "Acme Two" } else { "Acme" };
        let delete = h
            .service
            .delete_organization(&origin(), &caller, &name(current))
            .await;
        match role {
            Role::Owner => {
                assert!(audit.is_ok() && renamed && delete.is_ok(), "owner");
            }
            Role::Admin => {
                assert!(audit.is_ok() && renamed, "admin");
                assert!(matches!(delete, Err(DeleteOrganizationError::Forbidden)));
            }
            Role::Member => {
                assert!(matches!(audit, Err(AuditLogError::Forbidden)));
                assert!(matches!(rename, Err(UpdateOrganizationError::Forbidden)));
                assert!(matches!(delete, Err(DeleteOrganizationError::Forbidden)));
            }
        }
        // A refused call changed nothing.
        let still = h.service.get_organization(&name(current)).await;
        assert_eq!(
            still.is_ok(),
            role != Role::Owner,
            "{role}: organization left"
        );
    }
}

/// A create for an email that has an account costs the hash a create for a free one does, so
/// the answer's timing does not tell which emails exist.
#[tokio::test]
async fn a_create_with_a_taken_email_pays_for_the_hash_like_a_free_one() {
    use std::sync::atomic::Ordering;
    let h = harness();
    create(&h, "Acme", "a@acme.io").await;
    let before = h.hasher.hashes.load(Ordering::SeqCst);
    let taken = h
        .service
        .create_organization(&Origin::default(), create_command("Globex", "a@acme.io"))
        .await;
    assert!(
        matches!(taken, Err(CreateOrganizationError::EmailTaken { .. })),
        "{taken:?}"
    );
    assert_eq!(h.hasher.hashes.load(Ordering::SeqCst), before + 1);
    h.service
        .create_organization(
            &Origin::default(),
            create_command("Initech", "i@initech.io"),
        )
        .await
        .unwrap();
    assert_eq!(h.hasher.hashes.load(Ordering::SeqCst), before + 2);
}
