//! The team use cases: each a roster edit through [`Service::edit_roster`], then its audit
//! event.

use serde_json::json;

use super::{view, InvitationView, IssuedInvitation, Joined, MemberView, TeamApi};
use crate::api_keys::Scope;
use crate::audit::{AuditAction, Origin};
use crate::errors::MemberError;
use crate::ids::{InvitationId, UserId};
use crate::members::{Invitation, InvitationState, InvitationStatus, Membership, RosterRule};
use crate::organization::OrganizationName;
use crate::ports::prelude::*;
use crate::ports::{IssuedToken, Principal};
use crate::roles::{Permission, Role};
use crate::secrets::InvitationToken;
use crate::service::access::{authorize, authorize_scope};
use crate::service::audit::Subject;
use crate::service::auth::principal_of;
use crate::service::{Ports, Service};
use crate::user::{EmailAddress, Password, User};

impl<P: Ports> TeamApi for Service<P> {
    async fn list_members(&self, caller: &Principal) -> Result<Vec<MemberView>, MemberError> {
        authorize_scope(caller, Scope::MembersRead)?;
        let roster = self.roster(&caller.organization_id).await?;
        let ids: Vec<UserId> = roster.members.iter().map(|m| m.user_id).collect();
        let users = self.store.find_users(&ids).await?;
        Ok(roster
            .members
            .iter()
            .filter_map(|member| {
                let user = users.iter().find(|u| u.id == member.user_id)?;
                Some(MemberView::of(member, user.email.clone()))
            })
            .collect())
    }

    async fn change_member_role(
        &self,
        origin: &Origin,
        caller: &Principal,
        user: &UserId,
        role: Role,
    ) -> Result<MemberView, MemberError> {
        authorize(caller, Permission::ManageMembers)?;
        let (before, member) = self
            .edit_roster(&caller.organization_id, None, |roster| {
                let before = roster.role_of(user);
                roster.change_role(&caller.user_id, user, role)?;
                let member = roster.members.iter().find(|m| m.user_id == *user).cloned();
                Ok((before, member))
            })
            .await?;
        let member = member.ok_or(RosterRule::NoSuchMember)?;
        if before != Some(role) {
            self.end_sessions(user).await?;
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
        user: &UserId,
    ) -> Result<(), MemberError> {
        if *user == caller.user_id {
            return self.leave_organization(origin, caller).await;
        }
        authorize(caller, Permission::ManageMembers)?;
        let removed = self
            .edit_roster(&caller.organization_id, None, |roster| {
                Ok(roster.remove(&caller.user_id, user)?)
            })
            .await?;
        self.end_sessions(user).await?;
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
        authorize(caller, Permission::OwnCredentials)?;
        let left = self
            .edit_roster(&caller.organization_id, None, |roster| {
                Ok(roster.leave(&caller.user_id)?)
            })
            .await?;
        self.end_sessions(&caller.user_id).await?;
        let details = json!({"role": left.role.as_str()});
        self.record(origin, caller.into(), AuditAction::MemberLeft, details)
            .await;
        Ok(())
    }

    async fn transfer_ownership(
        &self,
        origin: &Origin,
        caller: &Principal,
        user: &UserId,
    ) -> Result<(), MemberError> {
        authorize(caller, Permission::ChangeOwners)?;
        self.edit_roster(&caller.organization_id, None, |roster| {
            Ok(roster.transfer_ownership(&caller.user_id, user)?)
        })
        .await?;
        self.end_sessions(&caller.user_id).await?;
        self.end_sessions(user).await?;
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
        let existing = self.store.find_user_by_email(&email).await?.map(|u| u.id);
        let id = InvitationId::generate();
        let token = InvitationToken::generate(caller.organization_id, id);
        let now = self.clock.now();
        let invitation = Invitation {
            id,
            email,
            role,
            secret_digest: token.digest(),
            invited_by: caller.user_id,
            created_at: now,
            expires_at: self.invitation_expiry(now),
            state: InvitationState::Pending,
        };
        self.edit_roster(&caller.organization_id, None, |roster| {
            Ok(roster.invite(&caller.user_id, invitation.clone(), existing.as_ref(), now)?)
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
                Ok(roster.revoke_invitation(&caller.user_id, id, now)?)
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
                Ok(roster.resend_invitation(&caller.user_id, id, token.digest(), expires_at)?)
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
        // Every token that cannot be used gets one answer: told apart, an unknown id and a
        // wrong secret would say which invitation ids exist.
        let unknown = || MemberError::Rule(RosterRule::InvitationGone);
        let gone = |rule: RosterRule| match rule {
            RosterRule::NoSuchInvitation => RosterRule::InvitationGone,
            other => other,
        };
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
            .usable_invitation(&token.invitation_id, &digest, now)
            .map_err(gone)?
            .email
            .clone();
        let existing = self.store.find_user_by_email(&email).await?;
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
                let user = User {
                    id: UserId::generate(),
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
                Ok(roster
                    .accept(&token.invitation_id, &digest, user.id, now)
                    .map_err(gone)?)
            })
            .await?;
        if joining.is_some() {
            self.forget_attempts_before_signup(origin, &email).await;
        }
        let organization = self
            .store
            .find_organization_by_id(&organization_id)
            .await?
            .ok_or(MemberError::OrganizationNotFound)?;
        let principal = principal_of(
            &user,
            &Membership {
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
        authorize(caller, Permission::OwnCredentials)?;
        let organization = self
            .store
            .find_organization_by_slug(name.slug())
            .await?
            .ok_or(MemberError::NotAMember)?;
        let role = self
            .store
            .role_in(&organization.id, &caller.user_id)
            .await?
            .ok_or(MemberError::NotAMember)?;
        let user = self
            .store
            .find_user_by_id(&caller.user_id)
            .await?
            .ok_or(MemberError::NotAMember)?;
        let principal = principal_of(
            &user,
            &Membership {
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
