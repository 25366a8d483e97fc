//! The OpenAPI 3.1 document, served at `/openapi.json` and shown by Swagger UI at `/docs`.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::dto::{
    AdminResponse, AuditEventResponse, AuditPageResponse, ConnectionResponse,
    CreateOrganizationBody, DeletedDocumentResponse, DeletedOrganizationResponse,
    DocumentPageResponse, DocumentRequest, DocumentResponse, LoginBody, OrganizationResponse,
    StatusResponse, TokenResponse, UpdateOrganizationBody,
};
use crate::handlers::{admin, audit, documents, health, keys, organizations};
use crate::problem::{FieldError, Problem};

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
        audit::list,
        admin::login,
        admin::logout,
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
        ConnectionResponse, AdminResponse, DeletedOrganizationResponse, TokenResponse,
        DocumentRequest, DocumentResponse, DocumentPageResponse, DeletedDocumentResponse,
        StatusResponse, Problem, FieldError, AuditEventResponse, AuditPageResponse,
    )),
    modifiers(&BearerScheme, &CommonResponses),
    tags(
        (name = "organizations", description = "Create, find, rename and delete organizations"),
        (name = "admin", description = "Admin login"),
        (name = "documents", description = "Data in your organization's own collection"),
        (name = "operations", description = "Health checks"),
    )
)]
pub struct ApiDoc;

mod rules;

/// The OpenAPI document as served: what utoipa derives from the handlers, with the domain's
/// validation rules written in (`rules`). Built once per process.
#[must_use]
pub fn document() -> &'static str {
    static DOCUMENT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the document serializes");
        rules::apply(&mut doc);
        doc.to_string()
    })
}

/// Adds the answers every operation of a kind can give, so no operation forgets one: request
/// bodies can be malformed, slow, too large, of the wrong type or invalid; bearer-protected
/// operations can be unauthorized; anything that reads storage can find it unavailable.
struct CommonResponses;

/// (status, code, detail) for a problem response.
type Common = (&'static str, &'static str, &'static str);

const BODY_PROBLEMS: [Common; 5] = [
    (
        "400",
        "malformed_body",
        "The request body is not valid JSON: EOF while parsing an object",
    ),
    (
        "408",
        "request_timeout",
        "The request body was not received in time; send it without pausing.",
    ),
    (
        "413",
        "payload_too_large",
        "The request body is larger than the limit of 1048576 bytes.",
    ),
    (
        "415",
        "unsupported_media_type",
        "The request body must be sent as Content-Type: application/json.",
    ),
    (
        "422",
        "validation_failed",
        "organization_name: must not contain '$'",
    ),
];
const AUTH_PROBLEM: Common = (
    "401",
    "unauthorized",
    "A valid bearer token is required: log in at POST /admin/login and send 'Authorization: Bearer <access_token>'.",
);
const STORAGE_PROBLEM: Common = (
    "503",
    "storage_unavailable",
    "Storage is temporarily unavailable; retry in 5 seconds.",
);

/// Operations that touch no storage: nothing of theirs can be unavailable.
const WITHOUT_STORAGE: [&str; 2] = ["/health", "/.well-known/jwks.json"];

fn problem_response((status, code, detail): Common) -> utoipa::openapi::Response {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let title = code
        .split('_')
        .enumerate()
        .map(|(i, word)| {
            if i == 0 {
                let mut chars = word.chars();
                chars
                    .next()
                    .map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
            } else {
                word.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ");
    let example = serde_json::json!({
        "type": format!("urn:orgsvc:problem:{code}"), "title": title,
        "status": status.parse::<u16>().unwrap_or_default(), "detail": detail, "code": code,
    });
    ResponseBuilder::new()
        .description(format!("`{code}`"))
        .content(
            "application/problem+json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .example(Some(example))
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
                    common.extend(BODY_PROBLEMS);
                } else if operation
                    .parameters
                    .as_ref()
                    .is_some_and(|parameters| !parameters.is_empty())
                {
                    // A path or query parameter that does not parse.
                    common.push(BODY_PROBLEMS[4]);
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
                    common.push(AUTH_PROBLEM);
                }
                if !WITHOUT_STORAGE.contains(&path.as_str()) {
                    common.push(STORAGE_PROBLEM);
                }
                for problem in common {
                    operation
                        .responses
                        .responses
                        .entry(problem.0.to_owned())
                        .or_insert_with(|| problem_response(problem).into());
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
                    .description(Some("The access_token from POST /admin/login"))
                    .build(),
            ),
        );
    }
}
