//! Organizations run by several people: members and their roles, invitations, and switching
//! between one's organizations. Every change is a [`Roster`] edit (the rules live in
//! [`crate::members`]) written back against the version it read, retried when another change
//! won the race.

use std::future::Future;

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use crate::audit::{AuditAction, Origin, Outcome};
use crate::errors::{MemberError, SaveRosterError};
use crate::ids::{InvitationId, OrganizationId, UserId};
use crate::members::{Invitation, InvitationStatus, Member, Roster, RosterRule};
use crate::organization::{Organization, OrganizationName};
use crate::ports::prelude::*;
use crate::ports::{IssuedToken, Principal};
use crate::roles::Role;
use crate::secrets::InvitationToken;
use crate::service::audit::Subject;
use crate::service::{Ports, Service};
use crate::user::{EmailAddress, Password, User};

/// How many times a roster edit is re-read and retried after losing a race before the caller
/// is told to retry later.
const EDIT_ATTEMPTS: usize = 8;

/// A member as listed: who, in which role, since when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberView {
    pub user_id: UserId,
    pub email: EmailAddress,
    pub role: Role,
    pub joined_at: DateTime<Utc>,
}

impl MemberView {
    fn of(member: &Member, email: EmailAddress) -> Self {
        Self {
            user_id: member.user_id,
            email,
            role: member.role,
            joined_at: member.joined_at,
        }
    }
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
        user: &UserId,
        role: Role,
    ) -> impl Future<Output = Result<MemberView, MemberError>> + Send;

    /// # Errors
    /// `Rule(Forbidden | NoSuchMember | LastOwner)`.
    fn remove_member(
        &self,
        origin: &Origin,
        caller: &Principal,
        user: &UserId,
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
        user: &UserId,
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

fn view(invitation: &Invitation, now: DateTime<Utc>) -> InvitationView {
    InvitationView {
        invitation: invitation.clone(),
        status: invitation.status(now),
    }
}

impl<P: Ports> Service<P> {
    #[must_use]
    pub const fn with_invitation_policy(mut self, policy: InvitationPolicy) -> Self {
        self.invitation_policy = policy;
        self
    }

    fn invitation_expiry(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + Duration::from_std(self.invitation_policy.ttl).unwrap_or_else(|_| Duration::days(7))
    }

    pub(super) async fn roster(
        &self,
        organization: &OrganizationId,
    ) -> Result<Roster, MemberError> {
        self.store
            .find_roster(organization)
            .await?
            .ok_or(MemberError::OrganizationNotFound)
    }

    /// Reads the roster, applies `edit`, writes it back; again from a fresh read when another
    /// change won the race, so `edit` always decides on what is stored.
    pub(super) async fn edit_roster<R>(
        &self,
        organization: &OrganizationId,
        joining: Option<&User>,
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

    /// Ends every session of `user` whose membership just changed (role or removal). Without
    /// it a token refused now would be accepted again once the old role was given back or
    /// the user re-joined: the check compares the token's role with the roster's. The roster
    /// change is already stored when this runs; if it fails, the old tokens are refused all
    /// the same for as long as the role differs from theirs.
    async fn end_sessions(&self, user: &UserId) -> Result<(), MemberError> {
        Ok(self.store.revoke_tokens(user).await?)
    }

    async fn member_view(&self, member: &Member) -> Result<MemberView, MemberError> {
        let user = self
            .store
            .find_user_by_id(&member.user_id)
            .await?
            .ok_or(RosterRule::NoSuchMember)?;
        Ok(MemberView::of(member, user.email))
    }

    pub(super) async fn record(
        &self,
        origin: &Origin,
        subject: Subject,
        action: AuditAction,
        details: Value,
    ) {
        self.audit(origin, subject, action, Outcome::Success, details)
            .await;
    }
}

mod operations;

#[cfg(test)]
mod tests;
