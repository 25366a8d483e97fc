use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError as _};
use std::time::Instant;

use orgsvc_domain::{
    CreateOrganizationError, DeleteOrganizationError, OrgsvcApi, Scope, UpdateOrganizationError,
};

use crate::auth::{bearer_credentials, Acting, Caller};
use crate::dto::{
    CreateOrganizationBody, DeletedOrganizationResponse, OrganizationNameQuery,
    OrganizationResponse, UpdateOrganizationBody,
};
use crate::extract::{JsonBody, NamedOrganization};
use crate::origin::ClientOrigin;
use crate::problem::{ApiError, OperationPending, Problem};
use crate::throttle;
use crate::timing::EmailAnswers;

/// Create an organization
///
/// Records the organization and its admin (its first owner) in the master database and creates
/// its own empty collection, `org_<slug>`. Log in with the admin's email and password
/// afterwards. Signed in (a bearer token), send only `organization_name`: you become the owner
/// of the new organization, and log in to it with the password you have. With `email` and
/// `password` a new user is created, token or not.
#[utoipa::path(
    post, path = "/org/create", operation_id = "create_organization", tag = "organizations",
    request_body = CreateOrganizationBody,
    security((), ("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = OrganizationResponse),
        (status = 401, description = "`unauthorized`: a bearer token was sent and is not valid", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`organization_exists` or `admin_email_taken`", body = Problem, content_type = "application/problem+json",
            example = json!({"type": "urn:orgsvc:problem:organization_exists", "title": "Organization exists", "status": 409,
                "detail": "An organization whose name normalizes to 'acme_corp' already exists.", "code": "organization_exists"})),
        (status = 429, description = "`too_many_requests`: this client address made too many requests (see `Retry-After`)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`overloaded` (password hashing at capacity) or `storage_unavailable`; see `Retry-After`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create<A: OrgsvcApi>(
    api: web::Data<A>,
    origin: ClientOrigin,
    request: HttpRequest,
    timing: web::Data<EmailAnswers>,
    caller: Option<Caller<A>>,
    body: JsonBody<CreateOrganizationBody>,
) -> Result<HttpResponse, ApiError> {
    let started = Instant::now();
    let body = body.0;
    // With an email or a password, the original create, token or not; with only a name, the
    // signed-in user's (a token that was sent must be valid: it is not silently ignored).
    let signed_in = body.email.is_none() && body.password.is_none();
    let organization = match caller {
        Some(caller) if signed_in => {
            let name = body.try_into_name()?;
            api.create_organization_for(&origin.0, &caller, name)
                .await?
        }
        None if signed_in && bearer_credentials(&request).is_some() => {
            return Err(ApiError::Unauthorized)
        }
        _ => {
            let command = body.try_into_domain()?;
            match api.create_organization(&origin.0, command).await {
                Ok(organization) => {
                    timing.create.record(started);
                    organization
                }
                Err(error @ CreateOrganizationError::EmailTaken { .. }) => {
                    timing.create.hold(started).await;
                    return Err(error.into());
                }
                Err(error) => return Err(error.into()),
            }
        }
    };
    Ok(HttpResponse::Created().json(OrganizationResponse::from(organization)))
}

/// Get an organization by name
///
/// Any spelling that normalizes to the same slug finds the organization. Its admin (id and
/// email) is included only for a bearer token of this organization. Clients of the original assignment may
/// send `{"organization_name": ...}` as a JSON body instead of the query parameter.
#[utoipa::path(
    get, path = "/org/get", operation_id = "get_organization", tag = "organizations",
    params(OrganizationNameQuery),
    security((), ("bearer" = [])),
    responses(
        (status = 200, description = "Found", body = OrganizationResponse),
        (status = 404, description = "`organization_not_found`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get<A: OrgsvcApi>(
    api: web::Data<A>,
    caller: Option<Acting<A>>,
    NamedOrganization(name): NamedOrganization,
) -> Result<HttpResponse, ApiError> {
    let organization = api.get_organization(&name).await?;
    let own = caller.is_some_and(|caller| {
        caller.organization_id == organization.id && caller.grants(Scope::OrganizationRead)
    });
    let response = OrganizationResponse::from(organization);
    // Anyone else does not learn who administers an organization, not even their user id.
    Ok(HttpResponse::Ok().json(if own {
        response
    } else {
        response.for_outsiders()
    }))
}

/// Rename your organization, change your email or password
///
/// Acts on the organization of the bearer token. When the new name normalizes to a different
/// slug, every document moves to the new collection `org_<new slug>` and the old collection is
/// removed, in one step that cannot be half done. The organization id and existing tokens stay
/// valid across a rename. Changing the email or password needs `current_password` and revokes
/// every token issued before (log in again); sending the current email or password is no change.
///
/// Two forms: `{"organization_name": "<new name>", ...}`, or the original assignment's
/// `{"organization_name": "<current name>", "new_organization_name": "<new name>", ...}`, where the
/// current name must be the caller's organization (403 `forbidden` otherwise).
#[utoipa::path(
    put, path = "/org/update", operation_id = "update_organization", tag = "organizations",
    request_body = UpdateOrganizationBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Updated", body = OrganizationResponse),
        (status = 202, description = "`operation_pending`: the rename is recorded, but the database stopped answering before it was complete; it completes as soon as the database answers (GET /org/get shows the outcome)", body = OperationPending, content_type = "application/problem+json"),
        (status = 403, description = "`current_password_required`: an email or password change without the right `current_password`; `forbidden`: `organization_name` beside `new_organization_name` is not the caller's organization, or a rename by a role that may not (members)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`organization_exists` or `admin_email_taken`", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`too_many_requests`: locked after repeated wrong passwords, or a body with a password or an email past the client address's limit (see `Retry-After`)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`overloaded` (password hashing at capacity) or `storage_unavailable`; see `Retry-After`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn update<A: OrgsvcApi>(
    req: HttpRequest,
    api: web::Data<A>,
    origin: ClientOrigin,
    timing: web::Data<EmailAnswers>,
    caller: Caller<A>,
    body: JsonBody<UpdateOrganizationBody>,
) -> Result<HttpResponse, ApiError> {
    let started = Instant::now();
    let command = body.0.try_into_domain()?;
    // A password or an email in the body means a password check (and a new email means an
    // answer that tells whether someone else has it): limited per address like a login. A
    // plain rename is not.
    if command.email.is_some() || command.password.is_some() || command.current_password.is_some() {
        throttle::take_for(&req)?;
    }
    let changes_email = command.email.is_some();
    let organization = match api.update_organization(&origin.0, &caller, command).await {
        Ok(organization) => organization,
        Err(error @ UpdateOrganizationError::EmailTaken { .. }) => {
            timing.update.hold(started).await;
            return Err(error.into());
        }
        Err(error) => return Err(error.into()),
    };
    // Only a change of email is the answer a "taken" one must look like; resending the
    // current email is no change but costs the same checks.
    if changes_email {
        timing.update.record(started);
    }
    Ok(HttpResponse::Ok().json(OrganizationResponse::from(organization)))
}

/// Delete your organization
///
/// Removes the organization, its roster, the users who belonged nowhere else and its
/// documents, and answers a signed receipt of what went (also kept at
/// `/org/deletion-receipts/{id}`). Only an owner may do so; afterwards its tokens are refused. Clients of the
/// original assignment may send `{"organization_name": ...}` as a JSON body instead of the query
/// parameter.
#[utoipa::path(
    delete, path = "/org/delete", operation_id = "delete_organization", tag = "organizations",
    params(OrganizationNameQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Deleted", body = DeletedOrganizationResponse),
        (status = 202, description = "`operation_pending`: the deletion is recorded (the organization is already gone for every request), but the database stopped answering before it was complete; it completes as soon as the database answers, and its receipt is then at the URL in `Location`", body = OperationPending, content_type = "application/problem+json", headers(("Location" = String, description = "Where the deletion's receipt will be"))),
        (status = 403, description = "`forbidden`: the token belongs to another organization, or its role is not owner", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`organization_not_found`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn delete<A: OrgsvcApi>(
    api: web::Data<A>,
    origin: ClientOrigin,
    caller: Caller<A>,
    NamedOrganization(name): NamedOrganization,
) -> Result<HttpResponse, ApiError> {
    match api.delete_organization(&origin.0, &caller, &name).await {
        Ok(deleted) => Ok(HttpResponse::Ok().json(DeletedOrganizationResponse::from(deleted))),
        // The receipt recovery will issue, where it will be.
        Err(DeleteOrganizationError::Pending { receipt, cause }) => {
            let mut response = ApiError::OperationPending(cause).error_response();
            let location = format!("/org/deletion-receipts/{receipt}");
            if let Ok(value) = header::HeaderValue::from_str(&location) {
                response.headers_mut().insert(header::LOCATION, value);
            }
            Ok(response)
        }
        Err(e) => Err(e.into()),
    }
}
