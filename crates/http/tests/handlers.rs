//! The HTTP layer against a fake service: status codes, problem bodies, headers, and the
//! OpenAPI document. No storage, no crypto.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::http::{header, StatusCode};
use actix_web::{test, App};
use chrono::{TimeZone, Utc};
use orgsvc_domain::errors::{
    AuditLogError, AuthenticateError, CreateOrganizationError, DeleteOrganizationError,
    DocumentError, GetOrganizationError, LoginError, MemberError, StoreError,
    UpdateOrganizationError,
};
use orgsvc_domain::{
    AuditAction, AuditEvent, AuditEventId, AuditPage, CreateOrganization, Document, DocumentBody,
    DocumentId, DocumentPage, EmailAddress, IssuedToken, Organization, OrganizationId,
    OrganizationName, Origin, Outcome, OwnerSummary, PageLimit, Password, Placement, Principal,
    UpdateOrganization, UserId,
};
use orgsvc_domain::{
    InvitationId, InvitationView, IssuedInvitation, Joined, MemberView, Role, RosterRule, TeamApi,
};
use std::time::Duration;

use actix_web::web;
use orgsvc_http::{
    configure, openapi, security_headers, BodyLimit, HttpOptions, IpThrottle, IpThrottleSettings,
    Jwks, MetricsEndpoint,
};
use serde_json::{json, Value};

const GOOD_TOKEN: &str = "good-token";

/// The paging arguments the fake last received.
type PageArguments = Option<(Option<DocumentId>, PageLimit)>;
type AuditPageArguments = Option<(Option<AuditEventId>, PageLimit)>;

#[derive(Clone, Default)]
struct FakeApi {
    down: Arc<AtomicBool>,
    logged_out: Arc<AtomicBool>,
    last_update: Arc<Mutex<Option<UpdateOrganization>>>,
    last_page: Arc<Mutex<PageArguments>>,
    last_audit_page: Arc<Mutex<AuditPageArguments>>,
    last_origin: Arc<Mutex<Option<Origin>>>,
}

fn principal() -> Principal {
    Principal {
        user_id: UserId::from_uuid(uuid::Uuid::from_u128(1)),
        organization_id: OrganizationId::from_uuid(uuid::Uuid::from_u128(2)),
        role: orgsvc_domain::Role::Owner,
        token_version: 0,
        key: None,
    }
}

fn organization(name: &OrganizationName) -> Organization {
    let at = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
    Organization {
        id: principal().organization_id,
        name: name.clone(),
        placement: Placement {
            cluster: "default".into(),
            database: "tenants".into(),
            model: orgsvc_domain::TenancyModel::Collection,
        },
        owner: OwnerSummary {
            id: principal().user_id,
            email: EmailAddress::new("admin@acme.io").unwrap(),
        },
        created_at: at,
        updated_at: at,
    }
}

impl FakeApi {
    fn check_up(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            Err(StoreError::Unavailable(anyhow::anyhow!(
                "connection refused to 10.0.0.7:27017"
            )))
        } else {
            Ok(())
        }
    }
}

impl orgsvc_domain::OrganizationApi for FakeApi {
    async fn create_organization(
        &self,
        _origin: &Origin,
        command: CreateOrganization,
    ) -> Result<Organization, CreateOrganizationError> {
        self.check_up()?;
        match command.name.as_str() {
            "Taken" => Err(CreateOrganizationError::NameTaken {
                slug: command.name.slug().clone(),
            }),
            "Busy" => Err(CreateOrganizationError::Overloaded),
            "Slow" => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                Ok(organization(&command.name))
            }
            "Boom" => Err(CreateOrganizationError::Unknown(anyhow::anyhow!(
                "driver said: secret internal detail"
            ))),
            _ if command.email.as_str() == "taken@acme.io" => {
                Err(CreateOrganizationError::EmailTaken {
                    email: command.email,
                })
            }
            _ => Ok(organization(&command.name)),
        }
    }

    async fn create_organization_for(
        &self,
        _origin: &Origin,
        _caller: &Principal,
        name: OrganizationName,
    ) -> Result<Organization, CreateOrganizationError> {
        self.check_up()?;
        Ok(organization(&name))
    }

    async fn get_organization(
        &self,
        name: &OrganizationName,
    ) -> Result<Organization, GetOrganizationError> {
        self.check_up()?;
        if name.slug().as_str() == "acme" {
            Ok(organization(name))
        } else {
            Err(GetOrganizationError::NotFound)
        }
    }

    async fn update_organization(
        &self,
        _origin: &Origin,
        _caller: &Principal,
        command: UpdateOrganization,
    ) -> Result<Organization, UpdateOrganizationError> {
        let organization = organization(&command.name);
        *self.last_update.lock().unwrap() = Some(command);
        Ok(organization)
    }

    async fn delete_organization(
        &self,
        _origin: &Origin,
        _caller: &Principal,
        name: &OrganizationName,
    ) -> Result<orgsvc_domain::Deleted, DeleteOrganizationError> {
        match name.slug().as_str() {
            "acme" => Ok(orgsvc_domain::Deleted {
                organization: organization(name),
                receipt: receipt(),
            }),
            "other" => Err(DeleteOrganizationError::Forbidden),
            "pending" => Err(DeleteOrganizationError::Pending {
                receipt: receipt().id,
                cause: anyhow::anyhow!("the database stopped answering"),
            }),
            _ => Err(DeleteOrganizationError::NotFound),
        }
    }
}

fn receipt() -> orgsvc_domain::DeletionReceipt {
    orgsvc_domain::DeletionReceipt {
        id: "0193a3c2-8f1e-4c4e-9b7a-1f2e3d4c5b6a".parse().unwrap(),
        jws: "header.claims.signature".into(),
        claims: json!({"organization": {"name": "Acme"}}),
    }
}

impl orgsvc_domain::ReceiptApi for FakeApi {
    async fn deletion_receipt(
        &self,
        id: &orgsvc_domain::DeletionReceiptId,
    ) -> Result<orgsvc_domain::DeletionReceipt, orgsvc_domain::ReceiptError> {
        let known = receipt();
        if *id == known.id {
            Ok(known)
        } else {
            Err(orgsvc_domain::ReceiptError::NotFound)
        }
    }
}

/// Exports are tested end to end (`tests/api/exports.rs`); here only what the routes need.
impl orgsvc_domain::ExportApi for FakeApi {
    async fn request_export(
        &self,
        _origin: &Origin,
        _caller: &Principal,
    ) -> Result<orgsvc_domain::export::job::ExportJob, orgsvc_domain::ExportError> {
        Err(orgsvc_domain::ExportError::QueueFull)
    }

    async fn export_job(
        &self,
        _caller: &Principal,
        _id: &orgsvc_domain::ExportId,
    ) -> Result<orgsvc_domain::export::job::ExportJob, orgsvc_domain::ExportError> {
        Err(orgsvc_domain::ExportError::NotFound)
    }

    async fn open_bundle(
        &self,
        _origin: &Origin,
        _caller: &Principal,
        _id: &orgsvc_domain::ExportId,
    ) -> Result<orgsvc_domain::export::job::ExportJob, orgsvc_domain::ExportError> {
        Err(orgsvc_domain::ExportError::NotFound)
    }

    async fn bundle_chunk(
        &self,
        _job: &orgsvc_domain::export::job::ExportJob,
        _seq: u32,
    ) -> Result<Option<Vec<u8>>, orgsvc_domain::ExportError> {
        Ok(None)
    }
}

impl orgsvc_domain::SessionApi for FakeApi {
    async fn login(
        &self,
        origin: &Origin,
        email: &EmailAddress,
        password: &Password,
        organization: Option<&OrganizationName>,
    ) -> Result<IssuedToken, LoginError> {
        *self.last_origin.lock().unwrap() = Some(*origin);
        match email.as_str() {
            "two@acme.io" if organization.is_none() => Err(LoginError::OrganizationRequired {
                organizations: vec![
                    OrganizationName::new("Acme").unwrap(),
                    OrganizationName::new("Globex").unwrap(),
                ],
            }),
            "two@acme.io" => Ok(IssuedToken {
                access_token: GOOD_TOKEN.into(),
                expires_in_seconds: 3600,
            }),
            "admin@acme.io" if password.expose() == "correct horse" => Ok(IssuedToken {
                access_token: GOOD_TOKEN.into(),
                expires_in_seconds: 3600,
            }),
            "locked@acme.io" => Err(LoginError::Locked {
                retry_after_seconds: 42,
            }),
            "busy@acme.io" => Err(LoginError::Overloaded),
            _ => Err(LoginError::InvalidCredentials),
        }
    }

    async fn logout(&self, origin: &Origin, caller: &Principal) -> Result<(), StoreError> {
        assert_eq!(*caller, principal());
        assert!(origin.ip.is_some());
        self.logged_out.store(true, Ordering::SeqCst);
        Ok(())
    }

    async fn authenticate(&self, token: &str) -> Result<Principal, AuthenticateError> {
        self.check_up()?;
        if token == GOOD_TOKEN {
            Ok(principal())
        } else {
            Err(AuthenticateError::InvalidToken)
        }
    }
}

impl orgsvc_domain::DocumentApi for FakeApi {
    async fn insert_document(
        &self,
        _origin: &Origin,
        _caller: &Principal,
        body: DocumentBody,
    ) -> Result<Document, DocumentError> {
        Ok(Document {
            id: DocumentId::from_uuid(uuid::Uuid::from_u128(9)),
            body,
        })
    }

    async fn get_document(
        &self,
        _caller: &Principal,
        _id: &DocumentId,
    ) -> Result<Document, DocumentError> {
        Err(DocumentError::NotFound)
    }

    async fn list_documents(
        &self,
        _caller: &Principal,
        after: Option<DocumentId>,
        limit: PageLimit,
    ) -> Result<DocumentPage, DocumentError> {
        *self.last_page.lock().unwrap() = Some((after, limit));
        Ok(DocumentPage {
            documents: Vec::new(),
            next: None,
        })
    }

    async fn replace_document(
        &self,
        _origin: &Origin,
        _caller: &Principal,
        id: DocumentId,
        body: DocumentBody,
    ) -> Result<Document, DocumentError> {
        Ok(Document { id, body })
    }

    async fn delete_document(
        &self,
        _origin: &Origin,
        _caller: &Principal,
        _id: &DocumentId,
    ) -> Result<(), DocumentError> {
        Err(DocumentError::NotFound)
    }
}

impl orgsvc_domain::AuditApi for FakeApi {
    async fn list_audit_events(
        &self,
        caller: &Principal,
        after: Option<AuditEventId>,
        limit: PageLimit,
    ) -> Result<AuditPage, AuditLogError> {
        assert_eq!(*caller, principal());
        *self.last_audit_page.lock().unwrap() = Some((after, limit));
        Ok(AuditPage {
            events: vec![AuditEvent {
                id: AuditEventId::from_uuid(uuid::Uuid::from_u128(7)),
                at: Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap(),
                organization_id: Some(caller.organization_id),
                action: AuditAction::LoginFailed,
                outcome: Outcome::Failure,
                actor: None,
                ip: Some("203.0.113.9".parse().unwrap()),
                details: json!({"email": "admin@acme.io"})
                    .as_object()
                    .unwrap()
                    .clone(),
            }],
            next: None,
        })
    }
}

impl orgsvc_domain::StatusApi for FakeApi {
    async fn ready(&self) -> Result<(), StoreError> {
        self.check_up()
    }

    async fn organization_count(&self) -> Result<u64, StoreError> {
        self.check_up()?;
        Ok(3)
    }
}

struct Response {
    status: StatusCode,
    headers: header::HeaderMap,
    body: Value,
}

/// The key endpoints' answers, as for the team endpoints below.
impl orgsvc_domain::ApiKeyApi for FakeApi {
    async fn create_api_key(
        &self,
        _origin: &Origin,
        _caller: &Principal,
        _key: orgsvc_domain::NewApiKey,
    ) -> Result<orgsvc_domain::IssuedApiKey, MemberError> {
        Err(RosterRule::TooManyApiKeys.into())
    }

    async fn list_api_keys(
        &self,
        _caller: &Principal,
    ) -> Result<Vec<orgsvc_domain::ApiKey>, MemberError> {
        self.check_up()?;
        Ok(Vec::new())
    }

    async fn rotate_api_key(
        &self,
        _origin: &Origin,
        _caller: &Principal,
        _id: &orgsvc_domain::ApiKeyId,
    ) -> Result<orgsvc_domain::IssuedApiKey, MemberError> {
        Err(RosterRule::NoSuchApiKey.into())
    }

    async fn revoke_api_key(
        &self,
        _origin: &Origin,
        _caller: &Principal,
        _id: &orgsvc_domain::ApiKeyId,
    ) -> Result<(), MemberError> {
        Err(RosterRule::NoSuchApiKey.into())
    }
}

/// The webhook endpoints' answers, enough to check how outcomes are put on the wire; their
/// behaviour is tested end to end (`tests/api`).
impl orgsvc_domain::WebhookApi for FakeApi {
    async fn create_webhook(
        &self,
        _origin: &Origin,
        _caller: &Principal,
        _webhook: orgsvc_domain::NewWebhook,
    ) -> Result<orgsvc_domain::IssuedWebhook, MemberError> {
        Err(RosterRule::TooManyWebhooks.into())
    }

    async fn list_webhooks(
        &self,
        _caller: &Principal,
    ) -> Result<Vec<orgsvc_domain::webhooks::WebhookEndpoint>, MemberError> {
        self.check_up()?;
        Ok(Vec::new())
    }

    async fn update_webhook(
        &self,
        _origin: &Origin,
        _caller: &Principal,
        _id: &orgsvc_domain::WebhookId,
        _edit: orgsvc_domain::members::EndpointEdit,
    ) -> Result<orgsvc_domain::webhooks::WebhookEndpoint, MemberError> {
        Err(RosterRule::NoSuchWebhook.into())
    }

    async fn rotate_webhook_secret(
        &self,
        _origin: &Origin,
        _caller: &Principal,
        _id: &orgsvc_domain::WebhookId,
    ) -> Result<orgsvc_domain::IssuedWebhook, MemberError> {
        Err(RosterRule::NoSuchWebhook.into())
    }

    async fn delete_webhook(
        &self,
        _origin: &Origin,
        _caller: &Principal,
        _id: &orgsvc_domain::WebhookId,
    ) -> Result<(), MemberError> {
        Err(RosterRule::NoSuchWebhook.into())
    }

    async fn webhook_deliveries(
        &self,
        _caller: &Principal,
        _id: &orgsvc_domain::WebhookId,
    ) -> Result<orgsvc_domain::webhooks::EndpointProgress, MemberError> {
        Err(RosterRule::NoSuchWebhook.into())
    }

    async fn replay_webhook(
        &self,
        _origin: &Origin,
        _caller: &Principal,
        _id: &orgsvc_domain::WebhookId,
        _request: orgsvc_domain::ReplayRequest,
    ) -> Result<(), MemberError> {
        Err(MemberError::ReplaysQueued)
    }
}

/// The team endpoints' answers, enough to check how each outcome is put on the wire; their
/// behaviour is tested end to end against the real service (`tests/api`).
impl TeamApi for FakeApi {
    async fn list_members(&self, _caller: &Principal) -> Result<Vec<MemberView>, MemberError> {
        self.check_up()?;
        Ok(vec![MemberView {
            user_id: principal().user_id,
            email: EmailAddress::new("admin@acme.io").unwrap(),
            role: Role::Owner,
            joined_at: Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap(),
        }])
    }

    async fn change_member_role(
        &self,
        _origin: &Origin,
        _caller: &Principal,
        _user: &UserId,
        _role: Role,
    ) -> Result<MemberView, MemberError> {
        Err(RosterRule::LastOwner.into())
    }

    async fn remove_member(
        &self,
        _origin: &Origin,
        _caller: &Principal,
        _user: &UserId,
    ) -> Result<(), MemberError> {
        Err(RosterRule::NoSuchMember.into())
    }

    async fn leave_organization(
        &self,
        _origin: &Origin,
        _caller: &Principal,
    ) -> Result<(), MemberError> {
        Err(MemberError::Busy)
    }

    async fn transfer_ownership(
        &self,
        _origin: &Origin,
        _caller: &Principal,
        _user: &UserId,
    ) -> Result<(), MemberError> {
        Err(RosterRule::Forbidden.into())
    }

    async fn invite(
        &self,
        _origin: &Origin,
        _caller: &Principal,
        _email: EmailAddress,
        _role: Role,
    ) -> Result<IssuedInvitation, MemberError> {
        Err(RosterRule::InvitationPending.into())
    }

    async fn list_invitations(
        &self,
        _caller: &Principal,
    ) -> Result<Vec<InvitationView>, MemberError> {
        Ok(Vec::new())
    }

    async fn revoke_invitation(
        &self,
        _origin: &Origin,
        _caller: &Principal,
        _id: &InvitationId,
    ) -> Result<(), MemberError> {
        Err(RosterRule::NoSuchInvitation.into())
    }

    async fn resend_invitation(
        &self,
        _origin: &Origin,
        _caller: &Principal,
        _id: &InvitationId,
    ) -> Result<IssuedInvitation, MemberError> {
        Err(RosterRule::InvitationGone.into())
    }

    async fn accept_invitation(
        &self,
        _origin: &Origin,
        _token: &str,
        _password: Password,
    ) -> Result<Joined, MemberError> {
        Err(RosterRule::InvitationGone.into())
    }

    async fn switch_organization(
        &self,
        _origin: &Origin,
        _caller: &Principal,
        _name: &OrganizationName,
    ) -> Result<IssuedToken, MemberError> {
        Err(MemberError::NotAMember)
    }
}

fn options(per_ip_burst: u32) -> HttpOptions {
    HttpOptions {
        body: BodyLimit {
            max_bytes: 256,
            timeout: Duration::from_secs(10),
        },
        jwks: web::Data::new(Jwks(json!({"keys": []}))),
        throttle: web::Data::new(IpThrottle::new(IpThrottleSettings {
            burst: per_ip_burst,
            per_second: 0.001,
            trusted_proxies: Vec::new(),
        })),
        key_throttle: web::Data::new(orgsvc_http::KeyThrottle::new(10, 1.0)),
        email_answers: web::Data::default(),
        openapi: web::Data::new(openapi::ServedDocument::new("https://orgsvc.example.com")),
        metrics: None,
        webhook_targets: orgsvc_http::WebhookTargets::default(),
    }
}

async fn call(api: &FakeApi, request: test::TestRequest) -> Response {
    call_with(api, options(1000), request).await
}

async fn call_with(api: &FakeApi, options: HttpOptions, request: test::TestRequest) -> Response {
    let app = test::init_service(
        App::new()
            .wrap(security_headers())
            .configure(configure(api.clone(), options)),
    )
    .await;
    let request = request.peer_addr("192.0.2.10:40000".parse().unwrap());
    let response = test::call_service(&app, request.to_request()).await;
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = test::read_body(response).await;
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Response {
        status,
        headers,
        body,
    }
}

fn post_json(path: &str, body: &Value) -> test::TestRequest {
    test::TestRequest::post().uri(path).set_json(body)
}

fn create_body(name: &str, email: &str) -> Value {
    json!({"organization_name": name, "email": email, "password": "correct horse"})
}

fn assert_problem(response: &Response, status: u16, code: &str) {
    assert_eq!(response.status.as_u16(), status, "{}", response.body);
    assert_eq!(
        response.headers.get(header::CONTENT_TYPE).unwrap(),
        "application/problem+json"
    );
    assert_eq!(response.body["status"], status);
    assert_eq!(response.body["code"], code);
    assert_eq!(response.body["type"], format!("urn:orgsvc:problem:{code}"));
    assert!(response.body["title"].is_string());
    assert!(response.body["detail"].is_string());
}

fn with_token(request: test::TestRequest) -> test::TestRequest {
    request.insert_header((header::AUTHORIZATION, format!("Bearer {GOOD_TOKEN}")))
}

#[actix_web::test]
async fn a_created_organization_is_answered_with_201_and_its_full_shape() {
    let response = call(
        &FakeApi::default(),
        post_json("/org/create", &create_body("Acme", "admin@acme.io")),
    )
    .await;
    assert_eq!(response.status, StatusCode::CREATED);
    let body = response.body;
    assert_eq!(body["organization_name"], "Acme");
    assert_eq!(body["slug"], "acme");
    assert_eq!(body["collection_name"], "org_acme");
    assert_eq!(
        body["connection"],
        json!({"cluster": "default", "database": "tenants", "model": "collection"})
    );
    assert_eq!(body["admin"]["email"], "admin@acme.io");
    assert_eq!(body["created_at"], "2026-01-02T03:04:05Z");
    assert!(body["id"].is_string() && body["updated_at"].is_string());
    assert!(!body.to_string().contains("password"));
}

#[actix_web::test]
async fn taken_names_and_emails_are_409_with_distinct_codes() {
    let api = FakeApi::default();
    let name = call(
        &api,
        post_json("/org/create", &create_body("Taken", "a@acme.io")),
    )
    .await;
    assert_problem(&name, 409, "organization_exists");
    let email = call(
        &api,
        post_json("/org/create", &create_body("Fresh", "taken@acme.io")),
    )
    .await;
    assert_problem(&email, 409, "admin_email_taken");
    // The answer does not confirm whose email it is.
    assert!(
        !email.body.to_string().contains("taken@acme.io"),
        "{}",
        email.body
    );
}

#[actix_web::test]
async fn invalid_fields_are_422_and_each_is_named() {
    let body = json!({"organization_name": "a/b", "email": "nope", "password": "short"});
    let response = call(&FakeApi::default(), post_json("/org/create", &body)).await;
    assert_problem(&response, 422, "validation_failed");
    let fields: Vec<&str> = response.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["organization_name", "email", "password"]);
}

#[actix_web::test]
async fn missing_unknown_and_mistyped_fields_are_422_not_400() {
    let api = FakeApi::default();
    for (body, field) in [
        (
            json!({"email": "a@acme.io", "password": "correct horse"}),
            "organization_name",
        ),
        (
            json!({"organization_name": "A", "email": "a@acme.io", "password": "correct horse", "role": "root"}),
            "role",
        ),
        (
            json!({"organization_name": 7, "email": "a@acme.io", "password": "correct horse"}),
            "organization_name",
        ),
        (json!(["Acme", "a@acme.io", "correct horse"]), "body"),
    ] {
        let response = call(&api, post_json("/org/create", &body)).await;
        assert_problem(&response, 422, "validation_failed");
        assert_eq!(response.body["errors"][0]["field"], field, "{body}");
    }
}

#[actix_web::test]
async fn only_syntactically_invalid_json_is_400() {
    let request = test::TestRequest::post()
        .uri("/org/create")
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .set_payload("{\"organization_name\": ");
    let response = call(&FakeApi::default(), request).await;
    assert_problem(&response, 400, "malformed_body");
}

#[actix_web::test]
async fn a_body_over_the_limit_is_413_whether_declared_or_streamed() {
    let big = json!({"organization_name": "x".repeat(300), "email": "a@acme.io", "password": "p"});
    let declared = call(&FakeApi::default(), post_json("/org/create", &big)).await;
    assert_problem(&declared, 413, "payload_too_large");
    // A client that understates the length is caught while the body streams in.
    let understated = post_json("/org/create", &big).insert_header((header::CONTENT_LENGTH, "10"));
    assert_problem(
        &call(&FakeApi::default(), understated).await,
        413,
        "payload_too_large",
    );
}

#[actix_web::test]
async fn a_body_that_is_not_json_is_415() {
    let request = test::TestRequest::post()
        .uri("/org/create")
        .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
        .set_payload("organization_name=Acme");
    let response = call(&FakeApi::default(), request).await;
    assert_problem(&response, 415, "unsupported_media_type");
    let no_type = test::TestRequest::post()
        .uri("/org/create")
        .set_payload("{}");
    assert_problem(
        &call(&FakeApi::default(), no_type).await,
        415,
        "unsupported_media_type",
    );
}

#[actix_web::test]
async fn problem_json_content_types_are_accepted() {
    let request = test::TestRequest::post()
        .uri("/org/create")
        .insert_header((
            header::CONTENT_TYPE,
            "application/merge-patch+json; charset=utf-8",
        ))
        .set_payload(create_body("Acme", "admin@acme.io").to_string());
    let response = call(&FakeApi::default(), request).await;
    assert_eq!(response.status, StatusCode::CREATED);
}

#[actix_web::test]
async fn get_answers_404_for_an_unknown_name_and_422_without_one() {
    let api = FakeApi::default();
    let found = call(
        &api,
        test::TestRequest::get().uri("/org/get?organization_name=ACME"),
    )
    .await;
    assert_eq!(found.status, StatusCode::OK);
    let missing = call(
        &api,
        test::TestRequest::get().uri("/org/get?organization_name=Nope"),
    )
    .await;
    assert_problem(&missing, 404, "organization_not_found");
    let absent = call(&api, test::TestRequest::get().uri("/org/get")).await;
    assert_problem(&absent, 422, "validation_failed");
    assert_eq!(absent.body["errors"][0]["field"], "organization_name");
    let invalid = call(
        &api,
        test::TestRequest::get().uri("/org/get?organization_name=%24x"),
    )
    .await;
    assert_problem(&invalid, 422, "validation_failed");
}

#[actix_web::test]
async fn login_answers_a_bearer_token_or_401_invalid_credentials() {
    let api = FakeApi::default();
    let ok = call(
        &api,
        post_json(
            "/admin/login",
            &json!({"email": "ADMIN@acme.io", "password": "correct horse"}),
        ),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(
        ok.body,
        json!({"access_token": GOOD_TOKEN, "token_type": "Bearer", "expires_in": 3600})
    );
    let wrong = call(
        &api,
        post_json(
            "/admin/login",
            &json!({"email": "admin@acme.io", "password": "wrong horse"}),
        ),
    )
    .await;
    assert_problem(&wrong, 401, "invalid_credentials");
    let short = call(
        &api,
        post_json(
            "/admin/login",
            &json!({"email": "admin@acme.io", "password": "x"}),
        ),
    )
    .await;
    assert_problem(&short, 401, "invalid_credentials");
    assert_eq!(short.body, wrong.body);
    let malformed = call(
        &api,
        post_json("/admin/login", &json!({"email": "nope", "password": "x"})),
    )
    .await;
    assert_problem(&malformed, 422, "validation_failed");
}

#[actix_web::test]
async fn protected_endpoints_need_a_valid_bearer_token() {
    let api = FakeApi::default();
    let update = json!({"organization_name": "Acme"});
    for request in [
        test::TestRequest::put()
            .uri("/org/update")
            .set_json(&update),
        test::TestRequest::delete().uri("/org/delete?organization_name=Acme"),
        test::TestRequest::get().uri("/org/documents"),
        test::TestRequest::post()
            .uri("/org/documents")
            .set_json(json!({})),
        test::TestRequest::get().uri("/org/documents/00000000-0000-0000-0000-000000000000"),
    ] {
        let without = call(&api, request).await;
        assert_problem(&without, 401, "unauthorized");
        assert_eq!(
            without.headers.get(header::WWW_AUTHENTICATE).unwrap(),
            "Bearer"
        );
    }
    for bad in ["Bearer nope", "Basic YTpi", "Bearer", "good-token"] {
        let request = test::TestRequest::put()
            .uri("/org/update")
            .insert_header((header::AUTHORIZATION, bad))
            .set_json(&update);
        assert_problem(&call(&api, request).await, 401, "unauthorized");
    }
}

#[actix_web::test]
async fn update_passes_validated_values_to_the_service() {
    let api = FakeApi::default();
    let body = json!({"organization_name": "  New Name ", "email": "New@Acme.io"});
    let response = call(
        &api,
        with_token(test::TestRequest::put().uri("/org/update").set_json(&body)),
    )
    .await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.body["organization_name"], "New Name");
    let command = api.last_update.lock().unwrap().take().unwrap();
    assert_eq!(command.email.unwrap().as_str(), "new@acme.io");
    assert!(command.password.is_none());
    let bad = json!({"organization_name": "Ok", "password": "short"});
    let response = call(
        &api,
        with_token(test::TestRequest::put().uri("/org/update").set_json(&bad)),
    )
    .await;
    assert_problem(&response, 422, "validation_failed");
    assert_eq!(response.body["errors"][0]["field"], "password");
}

#[actix_web::test]
async fn delete_maps_forbidden_and_not_found() {
    let api = FakeApi::default();
    let ok = call(
        &api,
        with_token(test::TestRequest::delete().uri("/org/delete?organization_name=Acme")),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.body["deleted"], true);
    assert_eq!(ok.body["collection_name"], "org_acme");
    let other = call(
        &api,
        with_token(test::TestRequest::delete().uri("/org/delete?organization_name=Other")),
    )
    .await;
    assert_problem(&other, 403, "forbidden");
    let missing = call(
        &api,
        with_token(test::TestRequest::delete().uri("/org/delete?organization_name=Nope")),
    )
    .await;
    assert_problem(&missing, 404, "organization_not_found");
}

#[actix_web::test]
async fn a_delete_answers_its_receipt_and_a_pending_one_says_where_it_will_be() {
    let api = FakeApi::default();
    let ok = call(
        &api,
        with_token(test::TestRequest::delete().uri("/org/delete?organization_name=Acme")),
    )
    .await;
    let id = receipt().id.to_string();
    assert_eq!(ok.body["receipt"]["id"], id.as_str());
    assert_eq!(ok.body["receipt"]["jws"], "header.claims.signature");
    assert_eq!(ok.body["receipt"]["claims"]["organization"]["name"], "Acme");
    let pending = call(
        &api,
        with_token(test::TestRequest::delete().uri("/org/delete?organization_name=Pending")),
    )
    .await;
    assert_problem(&pending, 202, "operation_pending");
    assert_eq!(
        pending.headers.get(header::LOCATION).unwrap(),
        format!("/org/deletion-receipts/{id}").as_str()
    );
    // Fetched by its id alone, no token.
    let fetched = call(
        &api,
        test::TestRequest::get().uri(&format!("/org/deletion-receipts/{id}")),
    )
    .await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(fetched.body, ok.body["receipt"]);
    let unknown = format!("/org/deletion-receipts/{}", uuid::Uuid::new_v4());
    assert_problem(
        &call(&api, test::TestRequest::get().uri(&unknown)).await,
        404,
        "receipt_not_found",
    );
}

#[actix_web::test]
async fn document_endpoints_validate_ids_bodies_and_paging() {
    let api = FakeApi::default();
    let created = call(
        &api,
        with_token(
            test::TestRequest::post()
                .uri("/org/documents")
                .set_json(json!({"a": 1})),
        ),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(created.body["data"], json!({"a": 1}));
    let reserved = call(
        &api,
        with_token(
            test::TestRequest::post()
                .uri("/org/documents")
                .set_json(json!({"$set": 1})),
        ),
    )
    .await;
    assert_problem(&reserved, 422, "validation_failed");
    let array = call(
        &api,
        with_token(
            test::TestRequest::post()
                .uri("/org/documents")
                .set_json(json!([1])),
        ),
    )
    .await;
    assert_problem(&array, 422, "validation_failed");
    let bad_id = call(
        &api,
        with_token(test::TestRequest::get().uri("/org/documents/not-a-uuid")),
    )
    .await;
    assert_problem(&bad_id, 422, "validation_failed");
    assert_eq!(bad_id.body["errors"][0]["field"], "id");
    let missing = call(
        &api,
        with_token(
            test::TestRequest::get().uri("/org/documents/00000000-0000-0000-0000-000000000000"),
        ),
    )
    .await;
    assert_problem(&missing, 404, "document_not_found");
    for query in ["limit=0", "limit=1001", "limit=abc", "after=xyz"] {
        let response = call(
            &api,
            with_token(test::TestRequest::get().uri(&format!("/org/documents?{query}"))),
        )
        .await;
        assert_problem(&response, 422, "validation_failed");
    }
    let ok = call(
        &api,
        with_token(test::TestRequest::get().uri("/org/documents?limit=7")),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.body, json!({"documents": [], "next": null}));
    let (after, limit) = api.last_page.lock().unwrap().take().unwrap();
    assert_eq!((after, limit.get()), (None, 7));
}

#[actix_web::test]
async fn an_unavailable_store_is_503_with_retry_after_and_no_driver_detail() {
    let api = FakeApi::default();
    api.down.store(true, Ordering::SeqCst);
    let ready = call(&api, test::TestRequest::get().uri("/ready")).await;
    assert_problem(&ready, 503, "storage_unavailable");
    assert_eq!(ready.headers.get(header::RETRY_AFTER).unwrap(), "5");
    assert!(!ready.body.to_string().contains("10.0.0.7"));
    let create = call(
        &api,
        post_json("/org/create", &create_body("Acme", "admin@acme.io")),
    )
    .await;
    assert_problem(&create, 503, "storage_unavailable");
    let health = call(&api, test::TestRequest::get().uri("/health")).await;
    assert_eq!(health.status, StatusCode::OK);
}

#[actix_web::test]
async fn internal_errors_are_500_without_their_cause() {
    let response = call(
        &FakeApi::default(),
        post_json("/org/create", &create_body("Boom", "b@acme.io")),
    )
    .await;
    assert_problem(&response, 500, "internal_error");
    assert!(!response.body.to_string().contains("secret internal detail"));
}

#[actix_web::test]
async fn unknown_routes_and_methods_are_problems_too() {
    let api = FakeApi::default();
    assert_problem(
        &call(&api, test::TestRequest::get().uri("/nope")).await,
        404,
        "not_found",
    );
    let wrong_method = call(&api, test::TestRequest::get().uri("/org/create")).await;
    assert_problem(&wrong_method, 405, "method_not_allowed");
    assert_eq!(wrong_method.headers.get(header::ALLOW).unwrap(), "POST");
    let wrong_method = call(&api, test::TestRequest::patch().uri("/org/documents/x")).await;
    assert_eq!(
        wrong_method.headers.get(header::ALLOW).unwrap(),
        "GET, HEAD, PUT, DELETE"
    );
}

#[actix_web::test]
async fn head_works_wherever_get_does_and_sends_no_body() {
    let api = FakeApi::default();
    let app = test::init_service(App::new().configure(configure(api, options(1000)))).await;
    for uri in ["/health", "/ready", "/org/get?organization_name=acme"] {
        let response = test::call_service(
            &app,
            test::TestRequest::default()
                .method(actix_web::http::Method::HEAD)
                .uri(uri)
                .to_request(),
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK, "{uri}");
        assert_eq!(
            response.headers().get(header::CONTENT_TYPE).unwrap(),
            "application/json",
            "{uri}"
        );
    }
}

#[actix_web::test]
async fn every_response_forbids_sniffing_and_framing() {
    let api = FakeApi::default();
    for request in [
        test::TestRequest::get().uri("/health"),
        test::TestRequest::get().uri("/nope"),
        test::TestRequest::get().uri("/docs/"),
    ] {
        let response = call(&api, request).await;
        assert_eq!(
            response.headers.get("x-content-type-options").unwrap(),
            "nosniff"
        );
        assert_eq!(response.headers.get("x-frame-options").unwrap(), "DENY");
    }
}

#[actix_web::test]
async fn a_token_response_is_never_cached() {
    let body = json!({"email": "admin@acme.io", "password": "correct horse"});
    let response = call(&FakeApi::default(), post_json("/admin/login", &body)).await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(
        response.headers.get(header::CACHE_CONTROL).unwrap(),
        "no-store"
    );
}

#[actix_web::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let api = FakeApi::default();
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let response = call(
            &api,
            test::TestRequest::get()
                .uri("/org/documents")
                .insert_header((header::AUTHORIZATION, format!("{scheme} {GOOD_TOKEN}"))),
        )
        .await;
        assert_eq!(
            response.status,
            StatusCode::OK,
            "{scheme}: {}",
            response.body
        );
    }
}

#[actix_web::test]
async fn anonymous_callers_do_not_see_the_admin_but_the_organization_does() {
    let api = FakeApi::default();
    let anonymous = call(
        &api,
        test::TestRequest::get().uri("/org/get?organization_name=acme"),
    )
    .await;
    assert_eq!(anonymous.status, StatusCode::OK);
    assert!(anonymous.body["id"].is_string());
    assert!(anonymous.body.get("admin").is_none(), "{}", anonymous.body);
    assert!(!anonymous.body.to_string().contains("admin@acme.io"));
    let own = call(
        &api,
        test::TestRequest::get()
            .uri("/org/get?organization_name=acme")
            .insert_header((header::AUTHORIZATION, format!("Bearer {GOOD_TOKEN}"))),
    )
    .await;
    assert_eq!(own.body["admin"]["email"], "admin@acme.io");
    // A bad token is treated as no token on this public endpoint.
    let stale = call(
        &api,
        test::TestRequest::get()
            .uri("/org/get?organization_name=acme")
            .insert_header((header::AUTHORIZATION, "Bearer stale")),
    )
    .await;
    assert_eq!(stale.status, StatusCode::OK);
    assert!(stale.body.get("admin").is_none());
}

#[actix_web::test]
async fn a_locked_account_is_429_and_a_busy_hasher_503_both_with_retry_after() {
    let api = FakeApi::default();
    let locked = call(
        &api,
        post_json(
            "/admin/login",
            &json!({"email": "locked@acme.io", "password": "whatever1"}),
        ),
    )
    .await;
    assert_problem(&locked, 429, "too_many_requests");
    assert_eq!(locked.headers.get(header::RETRY_AFTER).unwrap(), "42");
    let busy = call(
        &api,
        post_json(
            "/admin/login",
            &json!({"email": "busy@acme.io", "password": "whatever1"}),
        ),
    )
    .await;
    assert_problem(&busy, 503, "overloaded");
    assert!(busy.headers.get(header::RETRY_AFTER).is_some());
    let busy = call(
        &api,
        post_json("/org/create", &create_body("Busy", "b@acme.io")),
    )
    .await;
    assert_problem(&busy, 503, "overloaded");
}

#[actix_web::test]
async fn one_client_address_gets_a_burst_of_password_requests_then_429() {
    let api = FakeApi::default();
    let options = options(3);
    let app =
        test::init_service(App::new().configure(configure(api.clone(), options.clone()))).await;
    let login = |peer: &str| {
        test::TestRequest::post()
            .uri("/admin/login")
            .peer_addr(peer.parse().unwrap())
            .set_json(json!({"email": "admin@acme.io", "password": "wrong password"}))
            .to_request()
    };
    for _ in 0..3 {
        let response = test::call_service(&app, login("192.0.2.1:1000")).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let limited = test::call_service(&app, login("192.0.2.1:1001")).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.headers().get(header::RETRY_AFTER).is_some());
    // Creating shares the bucket; another address has its own.
    let create = test::TestRequest::post()
        .uri("/org/create")
        .peer_addr("192.0.2.1:1002".parse().unwrap())
        .set_json(create_body("Acme", "admin@acme.io"))
        .to_request();
    assert_eq!(
        test::call_service(&app, create).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    let other = test::call_service(&app, login("192.0.2.2:1000")).await;
    assert_eq!(other.status(), StatusCode::UNAUTHORIZED);
}

/// "That email is taken" takes as long as a create that succeeds: its timing tells nothing.
#[actix_web::test]
async fn a_taken_email_is_answered_no_sooner_than_a_typical_create() {
    let api = FakeApi::default();
    let app = test::init_service(App::new().configure(configure(api.clone(), options(1000)))).await;
    let create = |name: &str, email: &str| {
        test::TestRequest::post()
            .uri("/org/create")
            .peer_addr("192.0.2.1:1000".parse().unwrap())
            .set_json(create_body(name, email))
            .to_request()
    };
    let slow = test::call_service(&app, create("Slow", "slow@acme.io")).await;
    assert_eq!(slow.status(), StatusCode::CREATED);
    let started = std::time::Instant::now();
    let taken = test::call_service(&app, create("Other", "taken@acme.io")).await;
    assert_eq!(taken.status(), StatusCode::CONFLICT);
    assert!(
        started.elapsed() >= Duration::from_millis(50),
        "{:?}",
        started.elapsed()
    );
}

/// An update that carries a password or an email is a password check (and answers whether an
/// email is taken), so it draws on the same per-address bucket; a plain rename does not.
#[actix_web::test]
async fn credential_changes_share_the_per_address_bucket_and_renames_do_not() {
    let api = FakeApi::default();
    let app = test::init_service(App::new().configure(configure(api.clone(), options(2)))).await;
    let update = |body: Value| {
        with_token(test::TestRequest::put().uri("/org/update"))
            .peer_addr("192.0.2.1:1000".parse().unwrap())
            .set_json(body)
            .to_request()
    };
    let change = || json!({"organization_name": "Acme", "email": "new@acme.io", "current_password": "correct horse"});
    for _ in 0..2 {
        let response = test::call_service(&app, update(change())).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let limited = test::call_service(&app, update(change())).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.headers().get(header::RETRY_AFTER).is_some());
    let guess = json!({"organization_name": "Acme", "password": "correct horse"});
    let limited = test::call_service(&app, update(guess)).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    for _ in 0..3 {
        let rename =
            test::call_service(&app, update(json!({"organization_name": "Acme Two"}))).await;
        assert_eq!(rename.status(), StatusCode::OK);
    }
}

#[actix_web::test]
async fn logout_revokes_through_the_service_and_needs_a_token() {
    let api = FakeApi::default();
    let unauthenticated = call(&api, test::TestRequest::post().uri("/admin/logout")).await;
    assert_problem(&unauthenticated, 401, "unauthorized");
    assert!(!api.logged_out.load(Ordering::SeqCst));
    let response = call(
        &api,
        test::TestRequest::post()
            .uri("/admin/logout")
            .insert_header((header::AUTHORIZATION, format!("Bearer {GOOD_TOKEN}"))),
    )
    .await;
    assert_eq!(response.status, StatusCode::NO_CONTENT);
    assert!(api.logged_out.load(Ordering::SeqCst));
}

/// Generated clients take their base URL from the document's server; Swagger UI calls the origin
/// it was loaded from, so its copy names none.
#[actix_web::test]
async fn the_served_document_names_the_public_url_as_its_server() {
    let api = FakeApi::default();
    let served = call(&api, test::TestRequest::get().uri("/openapi.json")).await;
    assert_eq!(
        served.body["servers"],
        json!([{"url": "https://orgsvc.example.com"}])
    );
    let swagger = call(&api, test::TestRequest::get().uri("/docs/openapi.json")).await;
    assert_eq!(swagger.status, StatusCode::OK);
    assert!(
        swagger.body.get("servers").is_none(),
        "{}",
        swagger.body["servers"]
    );
}

/// A 202 is documented with a schema of its own, not as the error type, and its example is the
/// body the service sends.
#[actix_web::test]
async fn pending_changes_have_their_own_schema_with_the_served_body_as_example() {
    let served = call(
        &FakeApi::default(),
        test::TestRequest::get().uri("/openapi.json"),
    )
    .await
    .body;
    for (path, method) in [("/org/update", "put"), ("/org/delete", "delete")] {
        let accepted = &served["paths"][path][method]["responses"]["202"]["content"];
        assert_eq!(
            accepted["application/problem+json"]["schema"]["$ref"],
            "#/components/schemas/OperationPending",
            "{path}"
        );
    }
    let body = serde_json::to_value(
        orgsvc_http::ApiError::OperationPending(anyhow::anyhow!("unreachable")).problem(),
    )
    .unwrap();
    assert_eq!(
        served["components"]["schemas"]["OperationPending"]["example"],
        body
    );
}

/// Generated clients turn these into enums: a name the server sends but the document leaves out
/// fails to parse on the client.
#[actix_web::test]
async fn the_audit_schema_lists_every_action_and_outcome() {
    let response = call(
        &FakeApi::default(),
        test::TestRequest::get().uri("/openapi.json"),
    )
    .await;
    let event = &response.body["components"]["schemas"]["AuditEventResponse"]["properties"];
    let listed = |field: &str| -> Vec<String> {
        event[field]["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("{field} has no enum: {}", event[field]))
            .iter()
            .map(|name| name.as_str().unwrap().to_owned())
            .collect()
    };
    let actions: Vec<String> = orgsvc_domain::AuditAction::ALL
        .iter()
        .map(|action| action.as_str().to_owned())
        .collect();
    assert_eq!(listed("action"), actions);
    for seen in [
        "organization_switched",
        "member_joined",
        "invitation_created",
    ] {
        assert!(actions.iter().any(|a| a == seen), "{seen}");
    }
    assert_eq!(listed("outcome"), ["success", "failure"]);
}

#[actix_web::test]
async fn the_openapi_document_describes_every_endpoint_and_the_bearer_scheme() {
    let response = call(
        &FakeApi::default(),
        test::TestRequest::get().uri("/openapi.json"),
    )
    .await;
    assert_eq!(response.status, StatusCode::OK);
    let doc = response.body;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for (path, method) in [
        ("/org/create", "post"),
        ("/org/get", "get"),
        ("/org/update", "put"),
        ("/org/delete", "delete"),
        ("/admin/login", "post"),
        ("/org/documents", "post"),
        ("/org/documents", "get"),
        ("/org/documents/{id}", "get"),
        ("/org/documents/{id}", "put"),
        ("/org/documents/{id}", "delete"),
        ("/health", "get"),
        ("/ready", "get"),
        ("/admin/logout", "post"),
        ("/org/audit", "get"),
        ("/.well-known/jwks.json", "get"),
    ] {
        let operation = &doc["paths"][path][method];
        assert!(operation.is_object(), "{method} {path} is missing");
        assert!(
            operation["summary"].is_string(),
            "{method} {path} has no summary"
        );
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert_eq!(
        doc["paths"]["/org/update"]["put"]["security"][0]["bearer"],
        json!([])
    );
    // Anonymous, or signed in to found another organization (create) or to see its admin (get):
    // Swagger UI's copy says so, and sends the token once authorized; generators are told of no
    // requirement, as openapi-python-client reads any as "a token is needed".
    let swagger = call(
        &FakeApi::default(),
        test::TestRequest::get().uri("/docs/openapi.json"),
    )
    .await
    .body;
    for (path, method) in [("/org/create", "post"), ("/org/get", "get")] {
        assert_eq!(
            swagger["paths"][path][method]["security"],
            json!([{}, {"bearer": []}])
        );
        assert!(doc["paths"][path][method].get("security").is_none());
    }
    // Every status an operation can answer is documented, every error as a problem.
    for (path, methods) in [&doc, &swagger]
        .into_iter()
        .flat_map(|doc| doc["paths"].as_object().unwrap())
    {
        for (method, operation) in methods.as_object().unwrap() {
            let responses = operation["responses"].as_object().unwrap();
            let mut expected: Vec<&str> = Vec::new();
            if operation.get("requestBody").is_some() {
                expected.extend(["400", "408", "413", "415", "422"]);
            }
            let security = operation["security"].as_array();
            let required = security.is_some_and(|s| s.iter().all(|r| r.get("bearer").is_some()));
            let optional = security.is_some_and(|s| s.iter().any(|r| r == &json!({})));
            if required {
                expected.push("401");
            } else if optional && path != "/org/create" {
                // Optional tokens that are not valid are read as none, except where a token
                // changes what the request means (creating as a signed-in user).
                assert!(
                    !responses.contains_key("401"),
                    "{method} {path} cannot answer 401"
                );
            }
            if !["/health", "/.well-known/jwks.json"].contains(&path.as_str()) {
                expected.push("503");
            }
            for status in expected {
                assert!(
                    responses.contains_key(status),
                    "{method} {path} lacks {status}"
                );
            }
            for (status, response) in responses {
                if !status.starts_with('2') && !status.starts_with('3') {
                    assert!(
                        response["content"]["application/problem+json"].is_object(),
                        "{method} {path} {status} is not a problem"
                    );
                }
            }
        }
    }
    let schemas = &doc["components"]["schemas"];
    for schema in [
        "CreateOrganizationBody",
        "OrganizationResponse",
        "Problem",
        "TokenResponse",
    ] {
        assert!(schemas[schema].is_object(), "{schema} schema missing");
    }
    assert!(schemas["CreateOrganizationBody"]["example"].is_object());
}

#[actix_web::test]
async fn swagger_ui_is_served_at_docs() {
    let api = FakeApi::default();
    let redirect = call(&api, test::TestRequest::get().uri("/docs")).await;
    assert!(redirect.status.is_redirection());
    let app = test::init_service(App::new().configure(configure(api, options(1000)))).await;
    let response =
        test::call_service(&app, test::TestRequest::get().uri("/docs/").to_request()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let html = String::from_utf8(test::read_body(response).await.to_vec()).unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
}

#[actix_web::test]
async fn the_audit_log_is_served_to_the_organizations_token_with_its_paging() {
    let api = FakeApi::default();
    let unauthenticated = call(&api, test::TestRequest::get().uri("/org/audit")).await;
    assert_problem(&unauthenticated, 401, "unauthorized");
    let auth = (header::AUTHORIZATION, format!("Bearer {GOOD_TOKEN}"));
    let page = call(
        &api,
        test::TestRequest::get()
            .uri("/org/audit?limit=10&after=00000000-0000-0000-0000-000000000009")
            .insert_header(auth.clone()),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(
        page.body,
        json!({"events": [{"id": "00000000-0000-0000-0000-000000000007", "at": "2026-01-02T03:04:05Z",
            "action": "login_failed", "outcome": "failure", "actor": null, "ip": "203.0.113.9",
            "details": {"email": "admin@acme.io"}}], "next": null})
    );
    let (after, limit) = api.last_audit_page.lock().unwrap().unwrap();
    assert_eq!(limit.get(), 10);
    assert_eq!(after.unwrap().as_uuid().as_u128(), 9);
    let bad = call(
        &api,
        test::TestRequest::get()
            .uri("/org/audit?limit=0&after=yesterday")
            .insert_header(auth),
    )
    .await;
    assert_problem(&bad, 422, "validation_failed");
    assert_eq!(bad.body["errors"].as_array().unwrap().len(), 2);
}

#[actix_web::test]
async fn the_client_address_comes_from_forwarded_for_only_through_a_trusted_proxy() {
    let api = FakeApi::default();
    let mut options = options(1000);
    options.throttle = web::Data::new(IpThrottle::new(IpThrottleSettings {
        burst: 1000,
        per_second: 1.0,
        trusted_proxies: vec!["10.0.0.5".parse().unwrap()],
    }));
    let app = test::init_service(App::new().configure(configure(api.clone(), options))).await;
    let login = |peer: &str| {
        test::TestRequest::post()
            .uri("/admin/login")
            .peer_addr(peer.parse().unwrap())
            .insert_header(("x-forwarded-for", "198.51.100.4"))
            .set_json(json!({"email": "admin@acme.io", "password": "correct horse"}))
            .to_request()
    };
    test::call_service(&app, login("10.0.0.5:1234")).await;
    let seen = api.last_origin.lock().unwrap().unwrap().ip.unwrap();
    assert_eq!(seen.to_string(), "198.51.100.4");
    test::call_service(&app, login("192.0.2.77:1234")).await;
    let seen = api.last_origin.lock().unwrap().unwrap().ip.unwrap();
    assert_eq!(seen.to_string(), "192.0.2.77");
}

#[actix_web::test]
async fn metrics_are_served_only_when_enabled_and_only_with_the_scrape_token_when_set() {
    let api = FakeApi::default();
    let off = call(&api, test::TestRequest::get().uri("/metrics")).await;
    assert_problem(&off, 404, "not_found");

    let with_token = || HttpOptions {
        metrics: Some(web::Data::new(MetricsEndpoint::new(
            || "# TYPE fake counter\nfake 1\n".to_owned(),
            Some("scrape-token".to_owned()),
        ))),
        ..options(1000)
    };
    for authorization in [None, Some("Bearer wrong-token"), Some("Basic scrape-token")] {
        let mut request = test::TestRequest::get().uri("/metrics");
        if let Some(value) = authorization {
            request = request.insert_header((header::AUTHORIZATION, value));
        }
        let refused = call_with(&api, with_token(), request).await;
        assert_problem(&refused, 401, "unauthorized");
    }
    let scraped = call_with(
        &api,
        with_token(),
        test::TestRequest::get()
            .uri("/metrics")
            .insert_header((header::AUTHORIZATION, "bearer scrape-token")),
    )
    .await;
    assert_eq!(scraped.status, StatusCode::OK);
    assert!(scraped
        .headers
        .get(header::CONTENT_TYPE)
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
}

#[actix_web::test]
async fn a_user_of_several_organizations_is_asked_to_choose_after_the_password() {
    let api = FakeApi::default();
    let body = json!({"email": "two@acme.io", "password": "correct horse"});
    let response = call(&api, post_json("/admin/login", &body)).await;
    assert_problem(&response, 409, "organization_required");
    assert_eq!(response.body["organizations"], json!(["Acme", "Globex"]));
    let chosen =
        json!({"email": "two@acme.io", "password": "correct horse", "organization_name": "Globex"});
    assert_eq!(
        call(&api, post_json("/admin/login", &chosen)).await.status,
        StatusCode::OK
    );
    let bad =
        json!({"email": "two@acme.io", "password": "correct horse", "organization_name": "a$b"});
    assert_problem(
        &call(&api, post_json("/admin/login", &bad)).await,
        422,
        "validation_failed",
    );
}

#[actix_web::test]
async fn creating_while_signed_in_takes_only_a_name_and_a_bad_token_is_not_ignored() {
    let api = FakeApi::default();
    let name_only = json!({"organization_name": "Globex"});
    let response = call(&api, with_token(post_json("/org/create", &name_only))).await;
    assert_eq!(response.status, StatusCode::CREATED);
    // An email (or password) asks for the original create, token or not: both are needed.
    let with_email = json!({"organization_name": "Globex", "email": "x@acme.io"});
    let response = call(&api, with_token(post_json("/org/create", &with_email))).await;
    assert_problem(&response, 422, "validation_failed");
    assert_eq!(response.body["errors"][0]["field"], "password");
    let full = json!({"organization_name": "Acme", "email": "a@b.co", "password": "correct horse"});
    let response = call(&api, with_token(post_json("/org/create", &full))).await;
    assert_eq!(
        response.status,
        StatusCode::CREATED,
        "the original create, token or not"
    );
    let forged = post_json("/org/create", &name_only)
        .insert_header((header::AUTHORIZATION, "Bearer forged"));
    assert_problem(&call(&api, forged).await, 401, "unauthorized");
    // Anonymous: email and password are required, each named.
    let response = call(&api, post_json("/org/create", &name_only)).await;
    assert_problem(&response, 422, "validation_failed");
    let fields: Vec<&str> = response.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["email", "password"]);
}

#[actix_web::test]
async fn team_outcomes_have_their_own_statuses_and_codes() {
    let api = FakeApi::default();
    let user = "/org/members/00000000-0000-0000-0000-000000000001";
    let cases = [
        (
            with_token(
                test::TestRequest::patch()
                    .uri(user)
                    .set_json(json!({"role": "admin"})),
            ),
            409,
            "last_owner",
        ),
        (
            with_token(
                test::TestRequest::patch()
                    .uri(user)
                    .set_json(json!({"role": "root"})),
            ),
            422,
            "validation_failed",
        ),
        (
            with_token(
                test::TestRequest::patch()
                    .uri("/org/members/nope")
                    .set_json(json!({"role": "admin"})),
            ),
            422,
            "validation_failed",
        ),
        (
            with_token(test::TestRequest::delete().uri(user)),
            404,
            "member_not_found",
        ),
        (
            with_token(test::TestRequest::post().uri("/org/leave")),
            503,
            "busy",
        ),
        (
            with_token(post_json(
                "/org/transfer-ownership",
                &json!({"user_id": "00000000-0000-0000-0000-000000000003"}),
            )),
            403,
            "forbidden",
        ),
        (
            with_token(post_json(
                "/org/invitations",
                &json!({"email": "a@b.co", "role": "member"}),
            )),
            409,
            "invitation_pending",
        ),
        (
            with_token(post_json(
                "/org/invitations",
                &json!({"email": "nope", "role": "member"}),
            )),
            422,
            "validation_failed",
        ),
        (
            with_token(
                test::TestRequest::delete()
                    .uri("/org/invitations/00000000-0000-0000-0000-000000000009"),
            ),
            404,
            "invitation_not_found",
        ),
        (
            with_token(
                test::TestRequest::post()
                    .uri("/org/invitations/00000000-0000-0000-0000-000000000009/resend"),
            ),
            410,
            "invitation_gone",
        ),
        (
            post_json(
                "/invitations/accept",
                &json!({"token": "x", "password": "correct horse"}),
            ),
            410,
            "invitation_gone",
        ),
        (
            post_json(
                "/invitations/accept",
                &json!({"token": "x", "password": "short"}),
            ),
            422,
            "validation_failed",
        ),
        (
            with_token(post_json(
                "/admin/switch",
                &json!({"organization_name": "Globex"}),
            )),
            403,
            "not_a_member",
        ),
        (
            test::TestRequest::get().uri("/org/members"),
            401,
            "unauthorized",
        ),
    ];
    for (request, status, code) in cases {
        let response = call(&api, request).await;
        assert_problem(&response, status, code);
    }
    let response = call(
        &api,
        with_token(test::TestRequest::get().uri("/org/members")),
    )
    .await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.body["members"][0]["role"], "owner");
    let busy = call(
        &api,
        with_token(test::TestRequest::post().uri("/org/leave")),
    )
    .await;
    assert!(busy.headers.contains_key(header::RETRY_AFTER));
}
