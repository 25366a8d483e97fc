use chrono::{TimeZone as _, Utc};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use super::write_bundle;
use crate::bundle::{Line, Part, Written};
use crate::errors::SnapshotError;
use crate::fakes::{FakeHasher, FakeStore, FakeTokens, FixedClock};
use crate::ports::{DocumentSnapshots as _, MemberStore as _, OrganizationStore as _, Principal};
use crate::service::{
    ApiKeyApi as _, DocumentApi as _, NewApiKey, NewWebhook, OrganizationApi as _, TeamApi as _,
    WebhookApi as _,
};
use crate::webhooks::{TargetPolicy, WebhookUrl};
use crate::{
    ApiKeyName, CreateOrganization, DocumentBody, EmailAddress, ExportId, Organization,
    OrganizationName, Origin, Password, Role, Scope, Service,
};

type TestService = Service<(FakeStore, FakeHasher, FakeTokens, FixedClock)>;

async fn organization(service: &TestService, name: &str, email: &str) -> (Organization, Principal) {
    let organization = service
        .create_organization(
            &Origin::default(),
            CreateOrganization {
                name: OrganizationName::new(name).unwrap(),
                email: EmailAddress::new(email).unwrap(),
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
    (organization, owner)
}

fn body(value: Value) -> DocumentBody {
    DocumentBody::new(value.as_object().unwrap().clone()).unwrap()
}

async fn export(store: &FakeStore, organization: &Organization) -> (Vec<u8>, Written) {
    let at = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
    write_bundle(
        store,
        organization,
        ExportId::generate(),
        at,
        Vec::new(),
        |_, _| {},
    )
    .await
    .unwrap()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What the tests below set up: an organization with documents, a second member's
/// invitation, a key, a webhook; and another organization with a document of its own.
struct World {
    store: FakeStore,
    acme: Organization,
    documents: Vec<crate::Document>,
    secrets: Vec<String>,
}

async fn world() -> World {
    let store = FakeStore::default();
    let service = Service::new(
        store.clone(),
        FakeHasher::default(),
        FakeTokens,
        FixedClock::default(),
    );
    let origin = Origin::default();
    let (acme, owner) = organization(&service, "Acme", "owner@acme.io").await;
    let (_, globex) = organization(&service, "Globex", "owner@globex.io").await;
    service
        .insert_document(&origin, &globex, body(json!({"secret": "globex-only"})))
        .await
        .unwrap();
    let mut documents = Vec::new();
    for n in 0..450 {
        let document = service
            .insert_document(&origin, &owner, body(json!({"n": n, "tags": ["a", [n]]})))
            .await
            .unwrap();
        documents.push(document);
    }
    let invited = service
        .invite(
            &origin,
            &owner,
            EmailAddress::new("new@acme.io").unwrap(),
            Role::Member,
        )
        .await
        .unwrap();
    let key = service
        .create_api_key(
            &origin,
            &owner,
            NewApiKey {
                name: ApiKeyName::new("ci").unwrap(),
                scopes: [Scope::DocumentsRead].into_iter().collect(),
                expires_at: None,
            },
        )
        .await
        .unwrap();
    let policy = TargetPolicy {
        allow_private_targets: true,
    };
    let hook = service
        .create_webhook(
            &origin,
            &owner,
            NewWebhook {
                url: WebhookUrl::new("http://127.0.0.1:9/hook", policy).unwrap(),
                events: crate::webhooks::EventFilter::default(),
                enabled: true,
            },
        )
        .await
        .unwrap();
    let admin = store
        .find_user_by_email(&EmailAddress::new("owner@acme.io").unwrap())
        .await
        .unwrap()
        .unwrap();
    let roster = store.find_roster(&acme.id).await.unwrap().unwrap();
    let mut secrets = vec![
        admin.password_hash.as_phc().to_owned(),
        invited.token.expose(),
        invited.token.digest(),
        key.secret.expose(),
        key.secret.digest(),
        hook.secret.expose().to_owned(),
        "globex-only".to_owned(),
        "correct horse".to_owned(),
    ];
    secrets.extend(roster.invitations.iter().map(|i| i.secret_digest.clone()));
    secrets.extend(roster.api_keys.iter().map(|k| k.secret_digest.clone()));
    World {
        store,
        acme,
        documents,
        secrets,
    }
}

#[tokio::test]
async fn a_bundle_holds_each_part_in_order_with_digests_that_check() {
    let world = world().await;
    let (bytes, written) = export(&world.store, &world.acme).await;
    assert_eq!(written.bytes, bytes.len() as u64);
    assert_eq!(written.sha256, hex(&Sha256::digest(&bytes)));
    let verified = crate::bundle::verify(bytes.as_slice()).unwrap();
    assert_eq!(
        (&verified.parts, &verified.sha256),
        (&written.parts, &written.sha256)
    );
    let lines: Vec<&[u8]> = bytes.split_inclusive(|b| *b == b'\n').collect();
    let parsed: Vec<Line> = lines
        .iter()
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    let Line::Header(header) = &parsed[0] else {
        panic!("a bundle begins with its header")
    };
    assert_eq!(header.organization.id, world.acme.id);
    assert_eq!(header.organization.collection, "org_acme");
    assert_eq!(header.parts, Part::ALL);
    let Some(Line::Trailer(trailer)) = parsed.last() else {
        panic!("a bundle ends with its trailer")
    };
    // Each part's lines, in order, counted and hashed as the trailer says.
    let mut at = 1;
    for summary in &trailer.parts {
        let part = &lines[at..at + summary.lines as usize];
        assert!(parsed[at..at + part.len()]
            .iter()
            .all(|l| l.part() == Some(summary.name)));
        assert_eq!(summary.sha256, hex(&Sha256::digest(part.concat())));
        at += part.len();
    }
    assert_eq!(
        at,
        lines.len() - 1,
        "nothing between the parts and the trailer"
    );
    let count = |part| trailer.parts.iter().find(|p| p.name == part).unwrap().lines;
    assert_eq!(
        trailer.parts.iter().map(|p| p.name).collect::<Vec<_>>(),
        Part::ALL
    );
    assert_eq!(count(Part::Documents), 450);
    assert_eq!(count(Part::Members), 1);
    assert_eq!(count(Part::Invitations), 1);
    assert_eq!(count(Part::ApiKeys), 1);
    assert_eq!(count(Part::Webhooks), 1);
    assert!(count(Part::AuditEvents) >= 450, "every insert was audited");
    // The documents exactly, in id order.
    let exported: Vec<Line> = parsed[1..451].to_vec();
    let expected: Vec<Line> = world.documents.iter().map(Line::document).collect();
    assert_eq!(exported, expected);
    let Line::Member(owner) = &parsed[451] else {
        panic!("members follow the documents")
    };
    assert_eq!(
        (owner.email.as_str(), owner.role.as_str()),
        ("owner@acme.io", "owner")
    );
}

#[tokio::test]
async fn a_bundle_holds_no_secret_no_password_hash_and_nothing_of_another_organization() {
    let world = world().await;
    let (bytes, _) = export(&world.store, &world.acme).await;
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.contains("new@acme.io") && text.contains("http://127.0.0.1:9/hook"));
    for secret in &world.secrets {
        assert!(!secret.is_empty());
        assert!(
            !text.contains(secret.as_str()),
            "the bundle holds {secret:?}"
        );
    }
}

#[tokio::test]
async fn one_export_at_a_time_and_each_closes_its_snapshot() {
    let world = world().await;
    let running = ExportId::generate();
    world
        .store
        .open_snapshot(&world.acme.id, &running)
        .await
        .unwrap();
    let at = Utc::now();
    let busy = write_bundle(
        &world.store,
        &world.acme,
        ExportId::generate(),
        at,
        Vec::new(),
        |_, _| {},
    )
    .await;
    assert!(matches!(busy, Err(SnapshotError::Busy)));
    world
        .store
        .close_snapshot(&world.acme.id, &running)
        .await
        .unwrap();
    let mut seen = Vec::new();
    let done = write_bundle(
        &world.store,
        &world.acme,
        ExportId::generate(),
        at,
        Vec::new(),
        |n, total| {
            seen.push((n, total));
        },
    )
    .await;
    assert!(done.is_ok());
    assert_eq!(
        seen.last(),
        Some(&(450, 450)),
        "progress counts the documents"
    );
    // The export's own snapshot is closed: the next one opens.
    world
        .store
        .open_snapshot(&world.acme.id, &ExportId::generate())
        .await
        .unwrap();
}
