//! Members, invitations and switching organizations.

use chrono::{DateTime, Utc};
use orgsvc_domain::{
    EmailAddress, InvitationId, InvitationState, InvitationView, IssuedInvitation, MemberView,
    OrganizationName, Password, Role, UserId,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Fields, OrganizationResponse};
use crate::problem::ApiError;

/// A role in an organization: `owner` (everything, including deleting it and changing owners),
/// `admin` (renames, members and invitations below owner, the audit log, documents) or
/// `member` (documents only).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RoleDto {
    Owner,
    Admin,
    Member,
}

impl From<RoleDto> for Role {
    fn from(role: RoleDto) -> Self {
        match role {
            RoleDto::Owner => Self::Owner,
            RoleDto::Admin => Self::Admin,
            RoleDto::Member => Self::Member,
        }
    }
}

impl From<Role> for RoleDto {
    fn from(role: Role) -> Self {
        match role {
            Role::Owner => Self::Owner,
            Role::Admin => Self::Admin,
            Role::Member => Self::Member,
        }
    }
}

/// A user id in a path.
///
/// # Errors
/// A validation error naming `user_id`.
pub fn user_id(raw: &str) -> Result<UserId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::field("user_id", "must be a user id (a UUID)"))
}

/// An invitation id in a path.
///
/// # Errors
/// A validation error naming `id`.
pub fn invitation_id(raw: &str) -> Result<InvitationId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::field("id", "must be an invitation id (a UUID)"))
}

/// A member of the caller's organization.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberResponse {
    pub user_id: Uuid,
    #[schema(example = "ada@acme.example")]
    pub email: String,
    pub role: RoleDto,
    pub joined_at: DateTime<Utc>,
}

impl From<MemberView> for MemberResponse {
    fn from(member: MemberView) -> Self {
        Self {
            user_id: *member.user_id.as_uuid(),
            email: member.email.to_string(),
            role: member.role.into(),
            joined_at: member.joined_at,
        }
    }
}

/// Every member, in the order they joined.
#[derive(Debug, Serialize, ToSchema)]
pub struct MembersResponse {
    pub members: Vec<MemberResponse>,
}

/// Give a member another role.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"role": "admin"}))]
pub struct ChangeRoleBody {
    pub role: RoleDto,
}

/// Hand ownership to another member (who becomes an owner; the caller becomes an admin).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferOwnershipBody {
    pub user_id: Uuid,
}

/// Invite someone by email.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ada@acme.example", "role": "member"}))]
pub struct InviteBody {
    pub email: String,
    /// Not above the inviter's own role.
    pub role: RoleDto,
}

impl InviteBody {
    /// # Errors
    /// A validation error for the email.
    pub fn try_into_domain(self) -> Result<(EmailAddress, Role), ApiError> {
        let email = EmailAddress::new(&self.email).map_err(|e| ApiError::field("email", e))?;
        Ok((email, self.role.into()))
    }
}

/// `pending`, `accepted`, `revoked` or `expired`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum InvitationStatusDto {
    Pending,
    Accepted,
    Revoked,
    Expired,
}

/// An invitation to join the caller's organization.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationResponse {
    pub id: Uuid,
    #[schema(example = "ada@acme.example")]
    pub email: String,
    pub role: RoleDto,
    pub status: InvitationStatusDto,
    /// The user who invited.
    pub invited_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// When it was accepted or revoked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<DateTime<Utc>>,
    /// The secret to pass on to the invitee (for `POST /invitations/accept`): only in the
    /// answer that created or resent it, never again; orgsvc keeps only its digest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl From<InvitationView> for InvitationResponse {
    fn from(view: InvitationView) -> Self {
        use orgsvc_domain::InvitationStatus as S;
        let invitation = view.invitation;
        let ended_at = match invitation.state {
            InvitationState::Pending => None,
            InvitationState::Accepted { at, .. } | InvitationState::Revoked { at } => Some(at),
        };
        Self {
            id: *invitation.id.as_uuid(),
            email: invitation.email.to_string(),
            role: invitation.role.into(),
            status: match view.status {
                S::Pending => InvitationStatusDto::Pending,
                S::Accepted => InvitationStatusDto::Accepted,
                S::Revoked => InvitationStatusDto::Revoked,
                S::Expired => InvitationStatusDto::Expired,
            },
            invited_by: *invitation.invited_by.as_uuid(),
            created_at: invitation.created_at,
            expires_at: invitation.expires_at,
            ended_at,
            token: None,
        }
    }
}

impl From<IssuedInvitation> for InvitationResponse {
    fn from(issued: IssuedInvitation) -> Self {
        let mut response = Self::from(issued.invitation);
        response.token = Some(issued.token.expose());
        response
    }
}

/// Pending invitations first, then those that ended (the most recent 100), newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationsResponse {
    pub invitations: Vec<InvitationResponse>,
}

/// Accept an invitation.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitationBody {
    /// The invitation's token, as the inviter received it.
    pub token: String,
    /// For an email new to orgsvc, the password of the account this creates (8 to 128
    /// characters); for an existing account, its password.
    #[schema(format = Password, min_length = 8, max_length = 128)]
    pub password: String,
}

impl AcceptInvitationBody {
    /// A password that could never have been set is wrong for an existing account and too
    /// short or long for a new one: either way a field error.
    ///
    /// # Errors
    /// A validation error naming `password`.
    pub fn try_into_domain(self) -> Result<(String, Password), ApiError> {
        let password = Password::new(self.password).map_err(|e| ApiError::field("password", e))?;
        Ok((self.token, password))
    }
}

/// The organization joined, the role in it, and a token for it.
#[derive(Debug, Serialize, ToSchema)]
pub struct JoinedResponse {
    pub organization: OrganizationResponse,
    pub role: RoleDto,
    pub access_token: String,
    /// Always `Bearer`.
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    pub expires_in: u64,
}

/// Another of the caller's organizations.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"organization_name": "Globex"}))]
pub struct SwitchBody {
    pub organization_name: String,
}

impl SwitchBody {
    /// # Errors
    /// A validation error for the name.
    pub fn try_into_domain(self) -> Result<OrganizationName, ApiError> {
        let mut fields = Fields::default();
        let name = fields.check(
            "organization_name",
            OrganizationName::new(&self.organization_name),
        );
        fields.finish(|| name)
    }
}
