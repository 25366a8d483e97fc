//! Organizations run by several people: members and their roles, invitations, and switching
//! between one's organizations. Every change is a [`Roster`] edit (the rules live in
//! [`crate::members`]) written back against the version it read, retried when another change
//! won the race.

use std::future::Future;

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use crate::admin::{Admin, EmailAddress, Password};
use crate::audit::{AuditAction, Origin, Outcome};
use crate::errors::{MemberError, SaveRosterError};
use crate::ids::{AdminId, InvitationId, OrganizationId};
use crate::members::{Invitation, InvitationState, InvitationStatus, Member, Roster, RosterRule};
use crate::organization::{Organization, OrganizationName};
use crate::ports::{Clock, IssuedToken, PasswordHasher, Principal, Store, TokenCodec};
use crate::roles::{Permission, Role};
use crate::secrets::InvitationToken;
use crate::service::access::authorize;
use crate::service::audit::Subject;
use crate::service::auth::{principal_of, Refusal};
use crate::service::Service;

/// How many times a roster edit is re-read and retried after losing a race before the caller
/// is told to retry later.
const EDIT_ATTEMPTS: usize = 8;

/// A member as listed: who, in which role, since when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberView {
    pub user_id: AdminId,
    pub email: EmailAddress,
    pub role: Role,
    pub joined_at: DateTime<Utc>,
}

/// An invitation with its status at the time it was read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvitationView {
    pub invitation: Invitation,
    pub status: InvitationStatus,
}

/// A new or resent invitation and its secret token, which is shown this once.
#[derive(Clone, Debug)]
pub struct IssuedInvitation {
    pub invitation: InvitationView,
    pub token: InvitationToken,
}

/// What accepting an invitation gives: a place in the organization and a token for it.
#[derive(Clone, Debug)]
pub struct Joined {
    pub organization: Organization,
    pub role: Role,
    pub token: IssuedToken,
}

/// How long invitations stay usable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvitationPolicy {
    pub ttl: std::time::Duration,
}

impl InvitationPolicy {
    /// The default lifetime: 168 hours.
    pub const DEFAULT_TTL_HOURS: u64 = 168;
    /// The longest lifetime allowed: 720 hours.
    pub const MAX_TTL_HOURS: u64 = 720;
}

impl Default for InvitationPolicy {
    fn default() -> Self {
        Self {
            ttl: std::time::Duration::from_secs(Self::DEFAULT_TTL_HOURS * 3600),
        }
    }
}

/// The team operations. Permission checks happen here (through [`crate::members`] and
/// [`authorize`]), never in a handler.
pub trait TeamApi: Clone + Send + Sync + 'static {
    /// # Errors
    /// `Rule(Forbidden)` below admin.
    fn list_members(
        &self,
        caller: &Principal,
    ) -> impl Future<Output = Result<Vec<MemberView>, MemberError>> + Send;

    /// # Errors
    /// `Rule(Forbidden | NoSuchMember | LastOwner)`.
    fn change_member_role(
        &self,
        origin: &Origin,
        caller: &Principal,
        user: &AdminId,
        role: Role,
    ) -> impl Future<Output = Result<MemberView, MemberError>> + Send;

    /// # Errors
    /// `Rule(Forbidden | NoSuchMember | LastOwner)`.
    fn remove_member(
        &self,
        origin: &Origin,
        caller: &Principal,
        user: &AdminId,
    ) -> impl Future<Output = Result<(), MemberError>> + Send;

    /// # Errors
    /// `Rule(LastOwner)`.
    fn leave_organization(
        &self,
        origin: &Origin,
        caller: &Principal,
    ) -> impl Future<Output = Result<(), MemberError>> + Send;

    /// The caller (an owner) makes `user` an owner and becomes an admin.
    ///
    /// # Errors
    /// `Rule(Forbidden | NoSuchMember)`.
    fn transfer_ownership(
        &self,
        origin: &Origin,
        caller: &Principal,
        user: &AdminId,
    ) -> impl Future<Output = Result<(), MemberError>> + Send;

    /// # Errors
    /// `Rule(Forbidden | AlreadyMember | InvitationPending | Full)`.
    fn invite(
        &self,
        origin: &Origin,
        caller: &Principal,
        email: EmailAddress,
        role: Role,
    ) -> impl Future<Output = Result<IssuedInvitation, MemberError>> + Send;

    /// Every invitation kept (pending first, then the most recent ended ones), newest first
    /// within each.
    ///
    /// # Errors
    /// `Rule(Forbidden)` below admin.
    fn list_invitations(
        &self,
        caller: &Principal,
    ) -> impl Future<Output = Result<Vec<InvitationView>, MemberError>> + Send;

    /// # Errors
    /// `Rule(Forbidden | NoSuchInvitation | InvitationGone)`.
    fn revoke_invitation(
        &self,
        origin: &Origin,
        caller: &Principal,
        id: &InvitationId,
    ) -> impl Future<Output = Result<(), MemberError>> + Send;

    /// # Errors
    /// `Rule(Forbidden | NoSuchInvitation | InvitationGone)`.
    fn resend_invitation(
        &self,
        origin: &Origin,
        caller: &Principal,
        id: &InvitationId,
    ) -> impl Future<Output = Result<IssuedInvitation, MemberError>> + Send;

    /// Joins the invitation's organization in its role: as a new user with `password`, or as
    /// the existing user of the invited email, whose password it must be.
    ///
    /// # Errors
    /// `Rule(NoSuchInvitation)` for a token that names no invitation (malformed, unknown);
    /// `Rule(InvitationGone)` for an expired, revoked, resent or used one;
    /// `InvalidCredentials` / `Locked` for an existing user's wrong password;
    /// `Rule(AlreadyMember)`.
    fn accept_invitation(
        &self,
        origin: &Origin,
        token: &str,
        password: Password,
    ) -> impl Future<Output = Result<Joined, MemberError>> + Send;

    /// A token for another organization of the caller's, without the password.
    ///
    /// # Errors
    /// `NotAMember` when the organization named is not the caller's (or does not exist).
    fn switch_organization(
        &self,
        origin: &Origin,
        caller: &Principal,
        name: &OrganizationName,
    ) -> impl Future<Output = Result<IssuedToken, MemberError>> + Send;
}

impl From<super::access::Forbidden> for MemberError {
    fn from(_: super::access::Forbidden) -> Self {
        Self::Rule(RosterRule::Forbidden)
    }
}

impl From<Refusal> for MemberError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Wrong { .. } => Self::InvalidCredentials,
            Refusal::Locked {
                retry_after_seconds,
            } => Self::Locked {
                retry_after_seconds,
            },
            Refusal::Overloaded => Self::Overloaded,
            Refusal::Store(e) => Self::Store(e),
            Refusal::Failed(e) => Self::Unknown(e),
        }
    }
}

fn view(invitation: &Invitation, now: DateTime<Utc>) -> InvitationView {
    InvitationView {
        invitation: invitation.clone(),
        status: invitation.status(now),
    }
}

impl<S: Store, H: PasswordHasher, T: TokenCodec, C: Clock> Service<S, H, T, C> {
    #[must_use]
    pub const fn with_invitation_policy(mut self, policy: InvitationPolicy) -> Self {
        self.invitation_policy = policy;
        self
    }

    fn invitation_expiry(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + Duration::from_std(self.invitation_policy.ttl).unwrap_or_else(|_| Duration::days(7))
    }

    async fn roster(&self, organization: &OrganizationId) -> Result<Roster, MemberError> {
        self.store
            .find_roster(organization)
            .await?
            .ok_or(MemberError::OrganizationNotFound)
    }

    /// Reads the roster, applies `edit`, writes it back; again from a fresh read when another
    /// change won the race, so `edit` always decides on what is stored.
    async fn edit_roster<R>(
        &self,
        organization: &OrganizationId,
        joining: Option<&Admin>,
        mut edit: impl FnMut(&mut Roster) -> Result<R, MemberError>,
    ) -> Result<R, MemberError> {
        for _ in 0..EDIT_ATTEMPTS {
            let mut roster = self.roster(organization).await?;
            let answer = edit(&mut roster)?;
            match self.store.save_roster(&roster, joining).await {
                Ok(()) => return Ok(answer),
                Err(SaveRosterError::Conflict) => {}
                Err(SaveRosterError::EmailTaken { .. }) => {
                    // Another acceptance of the same email created the user first.
                    return Err(RosterRule::InvitationGone.into());
                }
                Err(SaveRosterError::Store(e)) => return Err(e.into()),
            }
        }
        Err(MemberError::Busy)
    }

    async fn member_view(&self, member: &Member) -> Result<MemberView, MemberError> {
        let user = self
            .store
            .find_admin_by_id(&member.user_id)
            .await?
            .ok_or(RosterRule::NoSuchMember)?;
        Ok(MemberView {
            user_id: member.user_id,
            email: user.email,
            role: member.role,
            joined_at: member.joined_at,
        })
    }

    async fn record(&self, origin: &Origin, subject: Subject, action: AuditAction, details: Value) {
        self.audit(origin, subject, action, Outcome::Success, details)
            .await;
    }
}

impl<S: Store, H: PasswordHasher, T: TokenCodec, C: Clock> TeamApi for Service<S, H, T, C> {
    async fn list_members(&self, caller: &Principal) -> Result<Vec<MemberView>, MemberError> {
        authorize(caller, Permission::ManageMembers)?;
        let roster = self.roster(&caller.organization_id).await?;
        let ids: Vec<AdminId> = roster.members.iter().map(|m| m.user_id).collect();
        let users = self.store.find_admins(&ids).await?;
        Ok(roster
            .members
            .iter()
            .filter_map(|member| {
                let user = users.iter().find(|u| u.id == member.user_id)?;
                Some(MemberView {
                    user_id: member.user_id,
                    email: user.email.clone(),
                    role: member.role,
                    joined_at: member.joined_at,
                })
            })
            .collect())
    }

    async fn change_member_role(
        &self,
        origin: &Origin,
        caller: &Principal,
        user: &AdminId,
        role: Role,
    ) -> Result<MemberView, MemberError> {
        authorize(caller, Permission::ManageMembers)?;
        let (before, member) = self
            .edit_roster(&caller.organization_id, None, |roster| {
                let before = roster.role_of(user);
                roster.change_role(&caller.admin_id, user, role)?;
                let member = roster.members.iter().find(|m| m.user_id == *user).cloned();
                Ok((before, member))
            })
            .await?;
        let member = member.ok_or(RosterRule::NoSuchMember)?;
        if before != Some(role) {
            let details = json!({"user_id": user.to_string(), "from": before.map(Role::as_str), "to": role.as_str()});
            self.record(
                origin,
                caller.into(),
                AuditAction::MemberRoleChanged,
                details,
            )
            .await;
        }
        self.member_view(&member).await
    }

    async fn remove_member(
        &self,
        origin: &Origin,
        caller: &Principal,
        user: &AdminId,
    ) -> Result<(), MemberError> {
        if *user == caller.admin_id {
            return self.leave_organization(origin, caller).await;
        }
        authorize(caller, Permission::ManageMembers)?;
        let removed = self
            .edit_roster(&caller.organization_id, None, |roster| {
                Ok(roster.remove(&caller.admin_id, user)?)
            })
            .await?;
        let details = json!({"user_id": user.to_string(), "role": removed.role.as_str()});
        self.record(origin, caller.into(), AuditAction::MemberRemoved, details)
            .await;
        Ok(())
    }

    async fn leave_organization(
        &self,
        origin: &Origin,
        caller: &Principal,
    ) -> Result<(), MemberError> {
        let left = self
            .edit_roster(&caller.organization_id, None, |roster| {
                Ok(roster.leave(&caller.admin_id)?)
            })
            .await?;
        let details = json!({"role": left.role.as_str()});
        self.record(origin, caller.into(), AuditAction::MemberLeft, details)
            .await;
        Ok(())
    }

    async fn transfer_ownership(
        &self,
        origin: &Origin,
        caller: &Principal,
        user: &AdminId,
    ) -> Result<(), MemberError> {
        authorize(caller, Permission::ChangeOwners)?;
        self.edit_roster(&caller.organization_id, None, |roster| {
            Ok(roster.transfer_ownership(&caller.admin_id, user)?)
        })
        .await?;
        let details = json!({"to": user.to_string()});
        self.record(
            origin,
            caller.into(),
            AuditAction::OwnershipTransferred,
            details,
        )
        .await;
        Ok(())
    }

    async fn invite(
        &self,
        origin: &Origin,
        caller: &Principal,
        email: EmailAddress,
        role: Role,
    ) -> Result<IssuedInvitation, MemberError> {
        authorize(caller, Permission::ManageMembers)?;
        let existing = self.store.find_admin_by_email(&email).await?.map(|u| u.id);
        let id = InvitationId::generate();
        let token = InvitationToken::generate(caller.organization_id, id);
        let now = self.clock.now();
        let invitation = Invitation {
            id,
            email,
            role,
            secret_digest: token.digest(),
            invited_by: caller.admin_id,
            created_at: now,
            expires_at: self.invitation_expiry(now),
            state: InvitationState::Pending,
        };
        self.edit_roster(&caller.organization_id, None, |roster| {
            Ok(roster.invite(&caller.admin_id, invitation.clone(), existing.as_ref(), now)?)
        })
        .await?;
        let details = json!({
            "invitation_id": id.to_string(),
            "email": invitation.email.as_str(),
            "role": role.as_str(),
        });
        self.record(
            origin,
            caller.into(),
            AuditAction::InvitationCreated,
            details,
        )
        .await;
        Ok(IssuedInvitation {
            invitation: view(&invitation, now),
            token,
        })
    }

    async fn list_invitations(
        &self,
        caller: &Principal,
    ) -> Result<Vec<InvitationView>, MemberError> {
        authorize(caller, Permission::ManageMembers)?;
        let roster = self.roster(&caller.organization_id).await?;
        let now = self.clock.now();
        // Newest first (the roster keeps them in the order they were made, so ties of one
        // millisecond keep that order reversed), pending ones before the rest.
        let mut views: Vec<InvitationView> = roster
            .invitations
            .iter()
            .rev()
            .map(|i| view(i, now))
            .collect();
        views.sort_by_key(|v| {
            (
                v.status != InvitationStatus::Pending,
                std::cmp::Reverse(v.invitation.created_at),
            )
        });
        Ok(views)
    }

    async fn revoke_invitation(
        &self,
        origin: &Origin,
        caller: &Principal,
        id: &InvitationId,
    ) -> Result<(), MemberError> {
        authorize(caller, Permission::ManageMembers)?;
        let now = self.clock.now();
        let revoked = self
            .edit_roster(&caller.organization_id, None, |roster| {
                Ok(roster.revoke_invitation(&caller.admin_id, id, now)?)
            })
            .await?;
        let details = json!({"invitation_id": id.to_string(), "email": revoked.email.as_str()});
        self.record(
            origin,
            caller.into(),
            AuditAction::InvitationRevoked,
            details,
        )
        .await;
        Ok(())
    }

    async fn resend_invitation(
        &self,
        origin: &Origin,
        caller: &Principal,
        id: &InvitationId,
    ) -> Result<IssuedInvitation, MemberError> {
        authorize(caller, Permission::ManageMembers)?;
        let token = InvitationToken::generate(caller.organization_id, *id);
        let now = self.clock.now();
        let expires_at = self.invitation_expiry(now);
        let resent = self
            .edit_roster(&caller.organization_id, None, |roster| {
                Ok(roster.resend_invitation(&caller.admin_id, id, token.digest(), expires_at)?)
            })
            .await?;
        let details = json!({"invitation_id": id.to_string(), "email": resent.email.as_str()});
        self.record(
            origin,
            caller.into(),
            AuditAction::InvitationResent,
            details,
        )
        .await;
        Ok(IssuedInvitation {
            invitation: view(&resent, now),
            token,
        })
    }

    async fn accept_invitation(
        &self,
        origin: &Origin,
        token: &str,
        password: Password,
    ) -> Result<Joined, MemberError> {
        // Nothing that names no invitation tells more than that.
        let unknown = || MemberError::Rule(RosterRule::NoSuchInvitation);
        let token = InvitationToken::parse(token).ok_or_else(unknown)?;
        let digest = token.digest();
        let organization_id = token.organization_id;
        let roster = self
            .store
            .find_roster(&organization_id)
            .await?
            .ok_or_else(unknown)?;
        let now = self.clock.now();
        let email = roster
            .usable_invitation(&token.invitation_id, &digest, now)?
            .email
            .clone();
        let existing = self.store.find_admin_by_email(&email).await?;
        let subject = Subject {
            organization: Some(organization_id),
            actor: existing.as_ref().map(|u| u.id),
        };
        let (user, joining) = match existing {
            Some(user) => {
                self.check_password(origin, &email, Some(&user), &password, subject)
                    .await?;
                (user, None)
            }
            None => {
                let user = Admin {
                    id: AdminId::generate(),
                    email: email.clone(),
                    password_hash: self.hasher.hash(&password).await?,
                    created_at: now,
                    token_version: 0,
                };
                (user.clone(), Some(user))
            }
        };
        let role = self
            .edit_roster(&organization_id, joining.as_ref(), |roster| {
                Ok(roster.accept(&token.invitation_id, &digest, user.id, now)?)
            })
            .await?;
        let organization = self
            .store
            .find_organization_by_id(&organization_id)
            .await?
            .ok_or(MemberError::OrganizationNotFound)?;
        let principal = principal_of(
            &user,
            &crate::members::Membership {
                organization_id,
                role,
            },
        );
        let issued = self
            .tokens
            .issue(&principal, now)
            .map_err(MemberError::Unknown)?;
        let details = json!({
            "invitation_id": token.invitation_id.to_string(),
            "email": email.as_str(),
            "role": role.as_str(),
            "new_user": joining.is_some(),
        });
        self.record(
            origin,
            (&principal).into(),
            AuditAction::MemberJoined,
            details,
        )
        .await;
        Ok(Joined {
            organization,
            role,
            token: issued,
        })
    }

    async fn switch_organization(
        &self,
        origin: &Origin,
        caller: &Principal,
        name: &OrganizationName,
    ) -> Result<IssuedToken, MemberError> {
        let organization = self
            .store
            .find_organization_by_slug(name.slug())
            .await?
            .ok_or(MemberError::NotAMember)?;
        let role = self
            .store
            .find_roster(&organization.id)
            .await?
            .and_then(|roster| roster.role_of(&caller.admin_id))
            .ok_or(MemberError::NotAMember)?;
        let user = self
            .store
            .find_admin_by_id(&caller.admin_id)
            .await?
            .ok_or(MemberError::NotAMember)?;
        let principal = principal_of(
            &user,
            &crate::members::Membership {
                organization_id: organization.id,
                role,
            },
        );
        let issued = self
            .tokens
            .issue(&principal, self.clock.now())
            .map_err(MemberError::Unknown)?;
        let details = json!({"from": caller.organization_id.to_string()});
        self.record(
            origin,
            (&principal).into(),
            AuditAction::OrganizationSwitched,
            details,
        )
        .await;
        Ok(issued)
    }
}

#[cfg(test)]
mod tests;
