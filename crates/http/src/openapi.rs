//! The OpenAPI 3.1 document, served at `/openapi.json` and shown by Swagger UI at `/docs`.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::dto::{
    AcceptInvitationBody, AdminResponse, ApiKeyResponse, ApiKeysResponse, AuditEventResponse,
    AuditPageResponse, ChangeRoleBody, ConnectionResponse, CreateApiKeyBody,
    CreateOrganizationBody, DeletedDocumentResponse, DeletedOrganizationResponse,
    DeletionReceiptResponse, DocumentPageResponse, DocumentRequest, DocumentResponse,
    InvitationResponse, InvitationStatusDto, InvitationsResponse, InviteBody, JoinedResponse,
    LoginBody, MemberResponse, MembersResponse, OrganizationResponse, RoleDto, ScopeDto,
    StatusResponse, SwitchBody, TokenResponse, TransferOwnershipBody, UpdateOrganizationBody,
};
use crate::dto::{
    AttemptOutcomeDto, CreateWebhookBody, DeliveriesResponse, DeliveryResponse, ExportResponse,
    ExportStateDto, ReplayBody, UpdateWebhookBody, WebhookResponse, WebhooksResponse,
};
use crate::handlers::{
    admin, api_keys, audit, documents, exports, health, invitations, keys, members, organizations,
    receipts, webhooks,
};
use actix_web::ResponseError as _;

use crate::problem::{ApiError, FieldError, OperationPending, Problem};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "orgsvc",
        description = "Multi-tenant organization management: each organization gets its own \
            collection and an admin who logs in for a bearer token.\n\n\
            Errors are RFC 9457 problem details (`application/problem+json`) with a stable `code`.\n\n\
            To try the protected endpoints: create an organization, log in with its admin, click \
            **Authorize** and paste the `access_token`.",
    ),
    paths(
        organizations::create,
        organizations::get,
        organizations::update,
        organizations::delete,
        receipts::get,
        exports::create,
        exports::get,
        exports::bundle,
        audit::list,
        admin::login,
        admin::logout,
        members::switch,
        members::list,
        members::change_role,
        members::remove,
        members::leave,
        members::transfer,
        invitations::invite,
        invitations::list,
        invitations::revoke,
        invitations::resend,
        invitations::accept,
        api_keys::create,
        api_keys::list,
        api_keys::rotate,
        api_keys::revoke,
        webhooks::create,
        webhooks::list,
        webhooks::update,
        webhooks::rotate,
        webhooks::delete,
        webhooks::deliveries,
        webhooks::replay,
        keys::jwks,
        documents::insert,
        documents::list,
        documents::get,
        documents::replace,
        documents::delete,
        health::health,
        health::ready,
    ),
    components(schemas(
        CreateOrganizationBody, UpdateOrganizationBody, LoginBody, OrganizationResponse,
        ConnectionResponse, AdminResponse, DeletedOrganizationResponse, DeletionReceiptResponse, TokenResponse,
        DocumentRequest, DocumentResponse, DocumentPageResponse, DeletedDocumentResponse,
        StatusResponse, Problem, OperationPending, FieldError, AuditEventResponse, AuditPageResponse,
        RoleDto, MemberResponse, MembersResponse, ChangeRoleBody, TransferOwnershipBody,
        InviteBody, InvitationStatusDto, InvitationResponse, InvitationsResponse,
        AcceptInvitationBody, JoinedResponse, SwitchBody, CreateApiKeyBody, ApiKeyResponse,
        ApiKeysResponse, ScopeDto, CreateWebhookBody, UpdateWebhookBody, ReplayBody,
        WebhookResponse, WebhooksResponse, DeliveriesResponse, DeliveryResponse,
        AttemptOutcomeDto, ExportResponse, ExportStateDto,
    )),
    modifiers(&BearerScheme, &CommonResponses),
    tags(
        (name = "organizations", description = "Create, find, rename and delete organizations"),
        (name = "admin", description = "Logging in, out, and switching organizations"),
        (name = "members", description = "Members, roles and invitations"),
        (name = "api-keys", description = "Keys that let client apps act for the organization"),
        (name = "webhooks", description = "Signed notifications of what changes in the organization"),
        (name = "documents", description = "Data in your organization's own collection"),
        (name = "operations", description = "Health checks"),
    )
)]
pub struct ApiDoc;

mod rules;

pub use rules::Dialect;

/// The OpenAPI document as served at `/openapi.json`: what utoipa derives from the handlers,
/// with the domain's validation rules written in (`rules`). Built once per process.
#[must_use]
pub fn document() -> &'static str {
    static DOCUMENT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DOCUMENT.get_or_init(|| build(Reader::Clients))
}

/// [`document`] with this deployment's URL as its one server, which generated clients take as
/// their base URL: what `/openapi.json` serves, built once and shared by every worker. (Swagger
/// UI's copy has none: it calls the origin it was loaded from, right however the browser
/// reached it.)
pub struct ServedDocument(actix_web::web::Bytes);

impl ServedDocument {
    #[must_use]
    pub fn new(public_url: &str) -> Self {
        let mut doc: serde_json::Value =
            serde_json::from_str(document()).expect("the document parses");
        doc["servers"] = serde_json::json!([{"url": public_url}]);
        Self(doc.to_string().into())
    }

    /// The JSON text (a shared buffer: cloning it copies nothing).
    #[must_use]
    pub fn body(&self) -> actix_web::web::Bytes {
        self.0.clone()
    }
}

/// The same document for Swagger UI (`/docs/openapi.json`): its patterns are written for a
/// regular-expression engine without Unicode mode (see [`Dialect::Utf16`]).
#[must_use]
pub fn swagger_ui_document() -> &'static str {
    static DOCUMENT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DOCUMENT.get_or_init(|| build(Reader::SwaggerUi))
}

/// Who reads a copy of the document. Both copies say the same of every operation, each in the
/// form its reader understands.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reader {
    /// SDK generators, fuzzers and anything else that fetches `/openapi.json`.
    Clients,
    /// Swagger UI at `/docs`.
    SwaggerUi,
}

fn build(reader: Reader) -> String {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the document serializes");
    match reader {
        Reader::Clients => {
            rules::apply(&mut doc, Dialect::Unicode);
            optional_tokens_as_no_requirement(&mut doc);
        }
        Reader::SwaggerUi => rules::apply(&mut doc, Dialect::Utf16),
    }
    doc.to_string()
}

/// An operation that takes a token but does not need one (`[{}, {"bearer": []}]`, as Swagger UI
/// understands it: it sends the token once authorized) lists no requirement for generators.
/// openapi-python-client reads any requirement as "needs a token" and types the operation for
/// an `AuthenticatedClient` only, which cannot be made without one. With none, both generated
/// clients call it anonymously, and a client configured with a token sends it everywhere.
fn optional_tokens_as_no_requirement(doc: &mut serde_json::Value) {
    let operations = doc["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(serde_json::Value::as_object_mut)
        .flat_map(|item| item.values_mut())
        .filter_map(serde_json::Value::as_object_mut);
    for operation in operations {
        let optional = operation
            .get("security")
            .and_then(serde_json::Value::as_array)
            .is_some_and(|requirements| requirements.contains(&serde_json::json!({})));
        if optional {
            operation.remove("security");
        }
    }
}

/// Adds the answers every operation of a kind can give, so no operation forgets one: request
/// bodies can be malformed, slow, too large, of the wrong type or invalid; bearer-protected
/// operations can be unauthorized; anything that reads storage can find it unavailable.
struct CommonResponses;

/// The errors a request body can run into, as served (the detail of 400 and 413 is an example).
fn body_problems() -> [ApiError; 5] {
    [
        ApiError::MalformedBody("EOF while parsing an object".into()),
        ApiError::RequestTimeout,
        ApiError::PayloadTooLarge { limit: 1_048_576 },
        ApiError::UnsupportedMediaType,
        unparsable_field(),
    ]
}

fn unparsable_field() -> ApiError {
    ApiError::field("organization_name", "must not contain '$'")
}

/// Operations that touch no storage: nothing of theirs can be unavailable.
const WITHOUT_STORAGE: [&str; 2] = ["/health", "/.well-known/jwks.json"];

/// A documented answer whose example is the very body the service sends for `error`.
fn problem_response(error: &ApiError) -> utoipa::openapi::Response {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let problem = error.problem();
    ResponseBuilder::new()
        .description(format!("`{}`", problem.code))
        .content(
            "application/problem+json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .example(serde_json::to_value(&problem).ok())
                .build(),
        )
        .build()
}

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in &mut openapi.paths.paths {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                let mut common = Vec::new();
                if operation.request_body.is_some() {
                    common.extend(body_problems());
                } else if operation
                    .parameters
                    .as_ref()
                    .is_some_and(|parameters| !parameters.is_empty())
                {
                    // A path or query parameter that does not parse.
                    common.push(unparsable_field());
                }
                // An empty requirement among them makes the token optional (GET /org/get):
                // such an operation never answers 401.
                let protected = operation.security.as_ref().is_some_and(|requirements| {
                    !requirements.is_empty()
                        && requirements.iter().all(|requirement| {
                            serde_json::to_value(requirement)
                                .is_ok_and(|value| value != serde_json::json!({}))
                        })
                });
                if protected {
                    common.push(ApiError::Unauthorized);
                }
                if !WITHOUT_STORAGE.contains(&path.as_str()) {
                    common.push(ApiError::StorageUnavailable(anyhow::anyhow!("unreachable")));
                }
                for error in &common {
                    operation
                        .responses
                        .responses
                        .entry(error.status_code().as_str().to_owned())
                        .or_insert_with(|| problem_response(error).into());
                }
            }
        }
    }
}

struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "The access_token from POST /admin/login, or an organization API key \
                         (osk_...) on the routes that take one",
                    ))
                    .build(),
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    #[test]
    fn every_operation_has_its_own_id_in_both_documents() {
        // Swagger UI builds a request from the operationId: two "get"s made "Execute" on GET
        // /org/get send GET /org/documents/{id}.
        for document in [super::document(), super::swagger_ui_document()] {
            let doc: Value = serde_json::from_str(document).unwrap();
            let ids: Vec<&str> = doc["paths"]
                .as_object()
                .unwrap()
                .values()
                .flat_map(|operations| operations.as_object().unwrap().values())
                .map(|operation| operation["operationId"].as_str().unwrap())
                .collect();
            let unique: BTreeSet<&str> = ids.iter().copied().collect();
            assert_eq!(unique.len(), ids.len(), "{ids:?}");
        }
    }
}
