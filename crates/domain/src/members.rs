//! Who belongs to an organization, in which role, who is invited and which API keys act for
//! it: the roster, and the rules every change to it obeys. The roster is one value per
//! organization, written back as a whole against the version it was read at (see
//! [`crate::ports::MemberStore::save_roster`]), so every rule below holds even when changes
//! race: the second writer re-reads and re-checks.

use chrono::{DateTime, Utc};
use thiserror::Error;

use crate::api_keys::{ApiKey, MAX_API_KEYS};
use crate::ids::{InvitationId, OrganizationId, UserId};
use crate::roles::{Permission, Role};
use crate::user::EmailAddress;
use crate::webhooks::{WebhookEndpoint, MAX_ENDPOINTS};

/// Most members an organization can have (a roster is read whole, so it is bounded).
pub const MAX_MEMBERS: usize = 1_000;
/// Most invitations an organization can have pending at once.
pub const MAX_PENDING_INVITATIONS: usize = 100;
/// How many ended (accepted, revoked, expired) invitations are kept for the listing; older ones
/// are forgotten as new ones end.
pub const KEPT_ENDED_INVITATIONS: usize = 100;

/// One user's place in one organization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub user_id: UserId,
    pub role: Role,
    pub joined_at: DateTime<Utc>,
}

/// What became of an invitation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InvitationState {
    Pending,
    Accepted { at: DateTime<Utc>, user_id: UserId },
    Revoked { at: DateTime<Utc> },
}

/// An invitation to join an organization. Its secret is given to the inviter once; only its
/// digest is kept ([`crate::secrets`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invitation {
    pub id: InvitationId,
    pub email: EmailAddress,
    pub role: Role,
    pub secret_digest: String,
    pub invited_by: UserId,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub state: InvitationState,
}

/// An invitation's state as callers see it: pending ones past their expiry are expired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvitationStatus {
    Pending,
    Accepted,
    Revoked,
    Expired,
}

impl Invitation {
    #[must_use]
    pub fn status(&self, now: DateTime<Utc>) -> InvitationStatus {
        match self.state {
            InvitationState::Accepted { .. } => InvitationStatus::Accepted,
            InvitationState::Revoked { .. } => InvitationStatus::Revoked,
            InvitationState::Pending if self.expires_at <= now => InvitationStatus::Expired,
            InvitationState::Pending => InvitationStatus::Pending,
        }
    }

    /// When it stopped being usable (for keeping the most recent ended ones).
    fn ended_at(&self) -> DateTime<Utc> {
        match self.state {
            InvitationState::Accepted { at, .. } | InvitationState::Revoked { at } => at,
            InvitationState::Pending => self.expires_at,
        }
    }
}

/// One organization's members and invitations, at the version they were read at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Roster {
    pub organization_id: OrganizationId,
    /// Raised by one with every write; a write names the version it read.
    pub version: u64,
    /// In the order they joined.
    pub members: Vec<Member>,
    pub invitations: Vec<Invitation>,
    pub api_keys: Vec<ApiKey>,
    pub webhooks: Vec<WebhookEndpoint>,
}

/// One organization a user belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Membership {
    pub organization_id: OrganizationId,
    pub role: Role,
}

/// Why a change to the roster is refused.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum RosterRule {
    #[error("the caller's role does not allow this")]
    Forbidden,
    #[error("no such member")]
    NoSuchMember,
    #[error("the organization must keep at least one owner")]
    LastOwner,
    #[error("already a member")]
    AlreadyMember,
    #[error("an invitation for this email is already pending")]
    InvitationPending,
    #[error("no such invitation")]
    NoSuchInvitation,
    #[error("the invitation is no longer usable")]
    InvitationGone,
    #[error("the organization has {MAX_MEMBERS} members or {MAX_PENDING_INVITATIONS} pending invitations")]
    Full,
    #[error("no such API key")]
    NoSuchApiKey,
    #[error("the organization has {MAX_API_KEYS} API keys")]
    TooManyApiKeys,
    #[error("no such webhook endpoint")]
    NoSuchWebhook,
    #[error("the organization has {MAX_ENDPOINTS} webhook endpoints")]
    TooManyWebhooks,
    #[error("the webhook endpoint is disabled")]
    WebhookDisabled,
}

impl Roster {
    /// The roster of a new organization: its creator as the one owner.
    #[must_use]
    pub fn founded(organization_id: OrganizationId, owner: UserId, at: DateTime<Utc>) -> Self {
        Self {
            organization_id,
            version: 0,
            members: vec![Member {
                user_id: owner,
                role: Role::Owner,
                joined_at: at,
            }],
            invitations: Vec::new(),
            api_keys: Vec::new(),
            webhooks: Vec::new(),
        }
    }

    #[must_use]
    pub fn role_of(&self, user: &UserId) -> Option<Role> {
        self.member(user).map(|m| m.role)
    }

    fn member(&self, user: &UserId) -> Option<&Member> {
        self.members.iter().find(|m| m.user_id == *user)
    }

    fn member_mut(&mut self, user: &UserId) -> Result<&mut Member, RosterRule> {
        self.members
            .iter_mut()
            .find(|m| m.user_id == *user)
            .ok_or(RosterRule::NoSuchMember)
    }

    /// The longest-standing owner: who the organization shows as its admin.
    #[must_use]
    pub fn first_owner(&self) -> Option<&Member> {
        self.members.iter().find(|m| m.role == Role::Owner)
    }

    fn owners(&self) -> usize {
        self.members
            .iter()
            .filter(|m| m.role == Role::Owner)
            .count()
    }

    /// The caller's role here, which must allow `permission`.
    fn caller_role(&self, caller: &UserId, permission: Permission) -> Result<Role, RosterRule> {
        match self.role_of(caller) {
            Some(role) if role.allows(permission) => Ok(role),
            _ => Err(RosterRule::Forbidden),
        }
    }

    /// `caller` gives `target` the role `role`: both the target's current role and the new one
    /// must be ones the caller may manage, and an owner is left.
    ///
    /// # Errors
    /// `Forbidden`, `NoSuchMember`, `LastOwner`.
    pub fn change_role(
        &mut self,
        caller: &UserId,
        target: &UserId,
        role: Role,
    ) -> Result<(), RosterRule> {
        let mine = self.caller_role(caller, Permission::ManageMembers)?;
        let current = self.role_of(target).ok_or(RosterRule::NoSuchMember)?;
        if !mine.may_manage(current) || !mine.may_manage(role) {
            return Err(RosterRule::Forbidden);
        }
        if current == Role::Owner && role != Role::Owner && self.owners() == 1 {
            return Err(RosterRule::LastOwner);
        }
        self.member_mut(target)?.role = role;
        Ok(())
    }

    /// `caller` hands ownership to `target` and becomes an admin, in one change.
    ///
    /// # Errors
    /// `Forbidden` (the caller is not an owner, or names themselves), `NoSuchMember`.
    pub fn transfer_ownership(
        &mut self,
        caller: &UserId,
        target: &UserId,
    ) -> Result<(), RosterRule> {
        self.caller_role(caller, Permission::ChangeOwners)?;
        if caller == target {
            return Err(RosterRule::Forbidden);
        }
        self.member_mut(target)?.role = Role::Owner;
        self.member_mut(caller)?.role = Role::Admin;
        Ok(())
    }

    /// `caller` removes `target` (themselves too: that is leaving).
    ///
    /// # Errors
    /// `Forbidden`, `NoSuchMember`, `LastOwner`.
    pub fn remove(&mut self, caller: &UserId, target: &UserId) -> Result<Member, RosterRule> {
        if caller == target {
            return self.leave(caller);
        }
        let mine = self.caller_role(caller, Permission::ManageMembers)?;
        let current = self.role_of(target).ok_or(RosterRule::NoSuchMember)?;
        if !mine.may_manage(current) {
            return Err(RosterRule::Forbidden);
        }
        self.take(target)
    }

    /// `user` leaves; anyone may, except the last owner.
    ///
    /// # Errors
    /// `NoSuchMember`, `LastOwner`.
    pub fn leave(&mut self, user: &UserId) -> Result<Member, RosterRule> {
        self.take(user)
    }

    fn take(&mut self, user: &UserId) -> Result<Member, RosterRule> {
        let index = self
            .members
            .iter()
            .position(|m| m.user_id == *user)
            .ok_or(RosterRule::NoSuchMember)?;
        if self.members[index].role == Role::Owner && self.owners() == 1 {
            return Err(RosterRule::LastOwner);
        }
        Ok(self.members.remove(index))
    }
}

mod api_keys;
mod invitations;
mod webhooks;

pub use webhooks::EndpointEdit;

#[cfg(test)]
mod tests;
