//! Invitations to join the caller's organization, and accepting one.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use orgsvc_domain::OrgsvcApi;

use crate::auth::Caller;
use crate::dto::{
    invitation_id, AcceptInvitationBody, InvitationResponse, InvitationsResponse, InviteBody,
    JoinedResponse, OrganizationResponse,
};
use crate::extract::JsonBody;
use crate::handlers::secret;
use crate::origin::ClientOrigin;
use crate::problem::{ApiError, Problem};

/// Invite someone
///
/// Admins and owners, for a role not above their own. The answer holds the invitation's secret
/// `token`, shown this once: pass it to the invitee, who accepts with `POST
/// /invitations/accept`. It expires after `invitations.ttl_hours` (168 by default).
#[utoipa::path(
    post, path = "/org/invitations", operation_id = "invite", tag = "members",
    request_body = InviteBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Invited; `token` is shown only here", body = InvitationResponse),
        (status = 403, description = "`forbidden`: members may not invite, nobody invites above their role", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`already_member`, `invitation_pending` or `roster_full`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn invite<A: OrgsvcApi>(
    api: web::Data<A>,
    origin: ClientOrigin,
    caller: Caller<A>,
    body: JsonBody<InviteBody>,
) -> Result<HttpResponse, ApiError> {
    let (email, role) = body.0.try_into_domain()?;
    let issued = api.invite(&origin.0, &caller, email, role).await?;
    Ok(secret(StatusCode::CREATED).json(InvitationResponse::from(issued)))
}

/// List invitations
///
/// Pending ones first, then the most recent that ended (accepted, revoked, expired).
#[utoipa::path(
    get, path = "/org/invitations", operation_id = "list_invitations", tag = "members",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The invitations", body = InvitationsResponse),
        (status = 403, description = "`forbidden`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list<A: OrgsvcApi>(
    api: web::Data<A>,
    caller: Caller<A>,
) -> Result<HttpResponse, ApiError> {
    let invitations = api.list_invitations(&caller).await?;
    Ok(HttpResponse::Ok().json(InvitationsResponse {
        invitations: invitations
            .into_iter()
            .map(InvitationResponse::from)
            .collect(),
    }))
}

/// Revoke an invitation
#[utoipa::path(
    delete, path = "/org/invitations/{id}", operation_id = "revoke_invitation", tag = "members",
    params(("id" = Uuid, Path, description = "The invitation's id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Revoked: its token no longer works"),
        (status = 403, description = "`forbidden`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`invitation_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "`invitation_gone`: already accepted or revoked", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn revoke<A: OrgsvcApi>(
    api: web::Data<A>,
    origin: ClientOrigin,
    caller: Caller<A>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = invitation_id(&path)?;
    api.revoke_invitation(&origin.0, &caller, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Resend an invitation
///
/// A new secret token and a new expiry (also for an expired invitation); the old token stops
/// working.
#[utoipa::path(
    post, path = "/org/invitations/{id}/resend", operation_id = "resend_invitation", tag = "members",
    params(("id" = Uuid, Path, description = "The invitation's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Resent; `token` is shown only here", body = InvitationResponse),
        (status = 403, description = "`forbidden`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`invitation_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "`invitation_gone`: already accepted or revoked", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn resend<A: OrgsvcApi>(
    api: web::Data<A>,
    origin: ClientOrigin,
    caller: Caller<A>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = invitation_id(&path)?;
    let issued = api.resend_invitation(&origin.0, &caller, &id).await?;
    Ok(secret(StatusCode::OK).json(InvitationResponse::from(issued)))
}

/// Accept an invitation
///
/// With the invitation's token and a password: an email new to orgsvc gets an account with
/// that password; an existing account must give its own. Joins the organization in the invited
/// role and returns a token for it. A token works once; expired, revoked, resent or used ones
/// get 410 `invitation_gone`, as do tokens that name no invitation or carry a wrong secret.
#[utoipa::path(
    post, path = "/invitations/accept", operation_id = "accept_invitation", tag = "members",
    request_body = AcceptInvitationBody,
    responses(
        (status = 200, description = "Joined", body = JoinedResponse),
        (status = 401, description = "`invalid_credentials`: not the existing account's password", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`already_member` or `roster_full`", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "`invitation_gone`: expired, revoked, resent, used, or no such invitation", body = Problem, content_type = "application/problem+json",
            example = json!({"type": "urn:orgsvc:problem:invitation_gone", "title": "Invitation gone", "status": 410,
                "detail": "This invitation cannot be used: it expired, was revoked or resent, or was already accepted. Ask for a new one.",
                "code": "invitation_gone"})),
        (status = 429, description = "`too_many_requests`: the account is locked after repeated failures, or this client address made too many requests", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`overloaded`: password hashing is at capacity", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn accept<A: OrgsvcApi>(
    api: web::Data<A>,
    origin: ClientOrigin,
    body: JsonBody<AcceptInvitationBody>,
) -> Result<HttpResponse, ApiError> {
    let (token, password) = body.0.try_into_domain()?;
    let joined = api.accept_invitation(&origin.0, &token, password).await?;
    Ok(secret(StatusCode::OK).json(JoinedResponse {
        organization: OrganizationResponse::from(joined.organization),
        role: joined.role.into(),
        access_token: joined.token.access_token,
        token_type: "Bearer",
        expires_in: joined.token.expires_in_seconds,
    }))
}
