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
    modifiers(&BearerScheme),
    tags(
        (name = "organizations", description = "Create, find, rename and delete organizations"),
        (name = "admin", description = "Admin login"),
        (name = "documents", description = "Data in your organization's own collection"),
        (name = "operations", description = "Health checks"),
    )
)]
pub struct ApiDoc;

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
