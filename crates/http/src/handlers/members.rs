//! The caller's organization's members, and switching to another of one's organizations.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use orgsvc_domain::{OrgsvcApi, UserId};

use crate::auth::{Acting, Caller};
use crate::dto::{
    user_id, ChangeRoleBody, MemberResponse, MembersResponse, SwitchBody, TokenResponse,
    TransferOwnershipBody,
};
use crate::extract::JsonBody;
use crate::handlers::secret;
use crate::origin::ClientOrigin;
use crate::problem::{ApiError, Problem};

/// List your organization's members
///
/// Admins and owners only.
#[utoipa::path(
    get, path = "/org/members", operation_id = "list_members", tag = "members",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every member, in the order they joined", body = MembersResponse),
        (status = 403, description = "`forbidden`: members may not list members", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list<A: OrgsvcApi>(
    api: web::Data<A>,
    caller: Acting<A>,
) -> Result<HttpResponse, ApiError> {
    let members = api.list_members(&caller).await?;
    Ok(HttpResponse::Ok().json(MembersResponse {
        members: members.into_iter().map(MemberResponse::from).collect(),
    }))
}

/// Change a member's role
///
/// Admins manage admins and members; owners manage everyone. Nobody gives a role above their
/// own. The last owner cannot be demoted (409 `last_owner`). The member's tokens for this
/// organization stop working at once: they log in (or switch) again for one with the new role.
#[utoipa::path(
    patch, path = "/org/members/{user_id}", operation_id = "change_member_role", tag = "members",
    params(("user_id" = Uuid, Path, description = "The member's user id")),
    request_body = ChangeRoleBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The member as changed", body = MemberResponse),
        (status = 403, description = "`forbidden`: the role given or the member's role is above what the caller manages", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`member_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`last_owner`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn change_role<A: OrgsvcApi>(
    api: web::Data<A>,
    origin: ClientOrigin,
    caller: Caller<A>,
    path: web::Path<String>,
    body: JsonBody<ChangeRoleBody>,
) -> Result<HttpResponse, ApiError> {
    let user = user_id(&path)?;
    let member = api
        .change_member_role(&origin.0, &caller, &user, body.0.role.into())
        .await?;
    Ok(HttpResponse::Ok().json(MemberResponse::from(member)))
}

/// Remove a member
///
/// Admins remove admins and members; owners remove anyone, except the last owner (409
/// `last_owner`). The member's tokens for this organization stop working at once; a user who
/// belongs to no organization any more is deleted.
#[utoipa::path(
    delete, path = "/org/members/{user_id}", operation_id = "remove_member", tag = "members",
    params(("user_id" = Uuid, Path, description = "The member's user id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "`forbidden`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`member_not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`last_owner`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn remove<A: OrgsvcApi>(
    api: web::Data<A>,
    origin: ClientOrigin,
    caller: Caller<A>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user = user_id(&path)?;
    api.remove_member(&origin.0, &caller, &user).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Leave your organization
///
/// Anyone but the last owner (409 `last_owner`: make someone else an owner first). The token
/// stops working; a user who belongs to no organization any more is deleted.
#[utoipa::path(
    post, path = "/org/leave", operation_id = "leave_organization", tag = "members",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Left"),
        (status = 409, description = "`last_owner`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn leave<A: OrgsvcApi>(
    api: web::Data<A>,
    origin: ClientOrigin,
    caller: Caller<A>,
) -> Result<HttpResponse, ApiError> {
    api.leave_organization(&origin.0, &caller).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Transfer ownership
///
/// Owners only: the member named becomes an owner and the caller an admin, in one change.
/// Both tokens for this organization stop working; log in (or switch) again.
#[utoipa::path(
    post, path = "/org/transfer-ownership", operation_id = "transfer_ownership", tag = "members",
    request_body = TransferOwnershipBody,
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Transferred"),
        (status = 403, description = "`forbidden`: the caller is not an owner, or named themselves", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`member_not_found`", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn transfer<A: OrgsvcApi>(
    api: web::Data<A>,
    origin: ClientOrigin,
    caller: Caller<A>,
    body: JsonBody<TransferOwnershipBody>,
) -> Result<HttpResponse, ApiError> {
    let user = UserId::from_uuid(body.0.user_id);
    api.transfer_ownership(&origin.0, &caller, &user).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Switch to another of your organizations
///
/// A token for another organization you belong to, in your role there, without your password.
#[utoipa::path(
    post, path = "/admin/switch", operation_id = "switch_organization", tag = "admin",
    request_body = SwitchBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A token for that organization", body = TokenResponse),
        (status = 403, description = "`not_a_member`: no organization of yours has that name", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn switch<A: OrgsvcApi>(
    api: web::Data<A>,
    origin: ClientOrigin,
    caller: Caller<A>,
    body: JsonBody<SwitchBody>,
) -> Result<HttpResponse, ApiError> {
    let name = body.0.try_into_domain()?;
    let token = api.switch_organization(&origin.0, &caller, &name).await?;
    Ok(token_response(token))
}

/// A bearer token, which no browser or proxy may keep.
pub fn token_response(token: orgsvc_domain::IssuedToken) -> HttpResponse {
    secret(StatusCode::OK).json(TokenResponse {
        access_token: token.access_token,
        token_type: "Bearer",
        expires_in: token.expires_in_seconds,
    })
}
