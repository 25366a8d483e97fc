//! The rules of invitations: who may invite whom, one pending invitation per email, single use,
//! expiry, and a bounded history.

use chrono::{DateTime, Utc};

use super::{
    Invitation, InvitationState, InvitationStatus, Member, Roster, RosterRule,
    KEPT_ENDED_INVITATIONS, MAX_MEMBERS, MAX_PENDING_INVITATIONS,
};
use crate::ids::{InvitationId, UserId};
use crate::roles::{Permission, Role};
use crate::user::EmailAddress;

impl Roster {
    /// `caller` invites `invitation.email` as `invitation.role`.
    ///
    /// # Errors
    /// `Forbidden` (role above the caller's), `AlreadyMember` (the email's user, `existing`,
    /// belongs here), `InvitationPending`, `Full`.
    pub fn invite(
        &mut self,
        caller: &UserId,
        invitation: Invitation,
        existing: Option<&UserId>,
        now: DateTime<Utc>,
    ) -> Result<(), RosterRule> {
        let mine = self.caller_role(caller, Permission::ManageMembers)?;
        if !mine.may_manage(invitation.role) {
            return Err(RosterRule::Forbidden);
        }
        if existing.is_some_and(|user| self.member(user).is_some()) {
            return Err(RosterRule::AlreadyMember);
        }
        if self.pending(&invitation.email, now).is_some() {
            return Err(RosterRule::InvitationPending);
        }
        let pending = self
            .invitations
            .iter()
            .filter(|i| i.status(now) == InvitationStatus::Pending)
            .count();
        if pending >= MAX_PENDING_INVITATIONS || self.members.len() >= MAX_MEMBERS {
            return Err(RosterRule::Full);
        }
        // An expired invitation for the same email is superseded.
        self.invitations
            .retain(|i| !(i.email == invitation.email && i.state == InvitationState::Pending));
        self.invitations.push(invitation);
        self.forget_old_invitations(now);
        Ok(())
    }

    fn pending(&self, email: &EmailAddress, now: DateTime<Utc>) -> Option<&Invitation> {
        self.invitations
            .iter()
            .find(|i| i.email == *email && i.status(now) == InvitationStatus::Pending)
    }

    /// The invitation `id` for `caller` to revoke or resend: managed by them, not ended.
    fn managed_invitation(
        &mut self,
        caller: &UserId,
        id: &InvitationId,
    ) -> Result<&mut Invitation, RosterRule> {
        let mine = self.caller_role(caller, Permission::ManageMembers)?;
        let invitation = self
            .invitations
            .iter_mut()
            .find(|i| i.id == *id)
            .ok_or(RosterRule::NoSuchInvitation)?;
        if !mine.may_manage(invitation.role) {
            return Err(RosterRule::Forbidden);
        }
        if invitation.state != InvitationState::Pending {
            return Err(RosterRule::InvitationGone);
        }
        Ok(invitation)
    }

    /// # Errors
    /// `Forbidden`, `NoSuchInvitation`, `InvitationGone` (accepted or revoked already).
    pub fn revoke_invitation(
        &mut self,
        caller: &UserId,
        id: &InvitationId,
        now: DateTime<Utc>,
    ) -> Result<Invitation, RosterRule> {
        let invitation = self.managed_invitation(caller, id)?;
        invitation.state = InvitationState::Revoked { at: now };
        let revoked = invitation.clone();
        self.forget_old_invitations(now);
        Ok(revoked)
    }

    /// A new secret (the old one stops working) and a new expiry, also for an expired one.
    ///
    /// # Errors
    /// `Forbidden`, `NoSuchInvitation`, `InvitationGone`.
    pub fn resend_invitation(
        &mut self,
        caller: &UserId,
        id: &InvitationId,
        secret_digest: String,
        expires_at: DateTime<Utc>,
    ) -> Result<Invitation, RosterRule> {
        let invitation = self.managed_invitation(caller, id)?;
        invitation.invited_by = *caller;
        invitation.secret_digest = secret_digest;
        invitation.expires_at = expires_at;
        Ok(invitation.clone())
    }

    /// The pending invitation `id` whose secret has `digest`.
    ///
    /// # Errors
    /// `NoSuchInvitation` for an unknown id; `InvitationGone` for a secret that is not (or no
    /// longer: resent) its own, for an expired or ended invitation, and for one whose inviter
    /// may no longer grant its role.
    pub fn usable_invitation(
        &self,
        id: &InvitationId,
        digest: &str,
        now: DateTime<Utc>,
    ) -> Result<&Invitation, RosterRule> {
        let invitation = self
            .invitations
            .iter()
            .find(|i| i.id == *id)
            .ok_or(RosterRule::NoSuchInvitation)?;
        // It grants what its inviter may still grant: one demoted or removed since cannot
        // hand out their former role (resending makes the resender its inviter).
        let vouched_for = self
            .member(&invitation.invited_by)
            .is_some_and(|inviter| inviter.role.may_manage(invitation.role));
        let usable = crate::secrets::digests_match(&invitation.secret_digest, digest)
            && invitation.status(now) == InvitationStatus::Pending
            && vouched_for;
        usable
            .then_some(invitation)
            .ok_or(RosterRule::InvitationGone)
    }

    /// `user` accepts the invitation `id` (already checked usable) and joins in its role.
    ///
    /// # Errors
    /// `InvitationGone`, `AlreadyMember`, `Full`.
    pub fn accept(
        &mut self,
        id: &InvitationId,
        digest: &str,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Role, RosterRule> {
        let role = self.usable_invitation(id, digest, now)?.role;
        if self.member(&user).is_some() {
            return Err(RosterRule::AlreadyMember);
        }
        if self.members.len() >= MAX_MEMBERS {
            return Err(RosterRule::Full);
        }
        if let Some(invitation) = self.invitations.iter_mut().find(|i| i.id == *id) {
            invitation.state = InvitationState::Accepted {
                at: now,
                user_id: user,
            };
        }
        self.members.push(Member {
            user_id: user,
            role,
            joined_at: now,
        });
        self.forget_old_invitations(now);
        Ok(role)
    }

    /// Keeps every pending invitation and the most recent [`KEPT_ENDED_INVITATIONS`] others.
    fn forget_old_invitations(&mut self, now: DateTime<Utc>) {
        let mut ended: Vec<DateTime<Utc>> = self
            .invitations
            .iter()
            .filter(|i| i.status(now) != InvitationStatus::Pending)
            .map(Invitation::ended_at)
            .collect();
        if ended.len() <= KEPT_ENDED_INVITATIONS {
            return;
        }
        ended.sort_unstable_by(|a, b| b.cmp(a));
        let oldest_kept = ended[KEPT_ENDED_INVITATIONS - 1];
        self.invitations
            .retain(|i| i.status(now) == InvitationStatus::Pending || i.ended_at() >= oldest_kept);
    }
}
