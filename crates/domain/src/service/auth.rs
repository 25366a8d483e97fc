//! Logging in and checking tokens.

use std::future::Future;

use serde_json::json;

use crate::audit::{AuditAction, Origin, Outcome};
use crate::ids::UserId;
use crate::members::Membership;
use crate::organization::OrganizationName;
use crate::ports::prelude::*;
use crate::ports::{IssuedToken, Principal};
use crate::secrets::ApiKeySecret;
use crate::service::audit::Subject;
use crate::service::{AuthenticateError, LoginError, Ports, Service, StoreError};
use crate::user::{EmailAddress, Password, User};

/// Logging in and out, and who a bearer token or API key belongs to.
pub trait SessionApi: Clone + Send + Sync + 'static {
    /// A token for the user's organization: their only one, or the one `organization` names.
    ///
    /// # Errors
    /// `InvalidCredentials` for an unknown email or a wrong password alike; `Locked` after too
    /// many failures (unknown emails lock the same way); `Overloaded` when hashing is at
    /// capacity; after the password checked out, `OrganizationRequired` when the user belongs
    /// to several and none is named, `NotAMember` when the one named is not theirs.
    fn login(
        &self,
        origin: &Origin,
        email: &EmailAddress,
        password: &Password,
        organization: Option<&OrganizationName>,
    ) -> impl Future<Output = Result<IssuedToken, LoginError>> + Send;

    /// Revokes every token of the caller (the one in use included).
    ///
    /// # Errors
    /// Storage failures only.
    fn logout(
        &self,
        origin: &Origin,
        caller: &Principal,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Checks a bearer token, that its admin and organization still exist and that it was not
    /// revoked.
    ///
    /// # Errors
    /// `InvalidToken` when either check fails.
    fn authenticate(
        &self,
        token: &str,
    ) -> impl Future<Output = Result<Principal, AuthenticateError>> + Send;
}

impl<P: Ports> SessionApi for Service<P> {
    async fn login(
        &self,
        origin: &Origin,
        email: &EmailAddress,
        password: &Password,
        organization: Option<&OrganizationName>,
    ) -> Result<IssuedToken, LoginError> {
        let admin = self.store.find_user_by_email(email).await?;
        // Unknown emails go through the same steps (memberships read for an id nobody has,
        // throttle, then a verification against no hash, which costs the same), so neither the
        // answer nor its timing tells which emails have accounts.
        let user = admin.as_ref().map_or_else(UserId::generate, |a| a.id);
        let memberships = self.store.memberships_of(&user).await?;
        let named = match organization {
            Some(name) => self.store.find_organization_by_slug(name.slug()).await?,
            None => None,
        };
        let chosen = match (&named, memberships.as_slice()) {
            (Some(named), _) => memberships
                .iter()
                .find(|m| m.organization_id == named.id)
                .copied(),
            (None, [only]) if organization.is_none() => Some(*only),
            _ => None,
        };
        let subject = Subject {
            organization: chosen.map(|m| m.organization_id),
            actor: admin.as_ref().map(|a| a.id),
        };
        self.check_password(origin, email, admin.as_ref(), password, subject)
            .await?;
        // A user who belongs to no organization (left by an interrupted change) has no account
        // to log in to.
        let admin = admin
            .filter(|_| !memberships.is_empty())
            .ok_or(LoginError::InvalidCredentials)?;
        let membership = match chosen {
            Some(membership) => membership,
            None if organization.is_some() => return Err(LoginError::NotAMember),
            None => {
                return Err(LoginError::OrganizationRequired {
                    organizations: self.names_of(&memberships).await?,
                })
            }
        };
        let principal = principal_of(&admin, &membership);
        let token = self
            .tokens
            .issue(&principal, self.clock.now())
            .map_err(LoginError::Unknown)?;
        self.audit(
            origin,
            Subject::from(&principal),
            AuditAction::LoginSucceeded,
            Outcome::Success,
            json!({}),
        )
        .await;
        Ok(token)
    }

    async fn logout(&self, origin: &Origin, caller: &Principal) -> Result<(), StoreError> {
        self.store.revoke_tokens(&caller.user_id).await?;
        self.audit(
            origin,
            caller.into(),
            AuditAction::TokensRevoked,
            Outcome::Success,
            json!({}),
        )
        .await;
        Ok(())
    }

    async fn authenticate(&self, token: &str) -> Result<Principal, AuthenticateError> {
        if ApiKeySecret::looks_like_one(token) {
            return self.check_api_key(token).await;
        }
        let principal = self
            .tokens
            .verify(token)
            .ok_or(AuthenticateError::InvalidToken)?;
        // A valid signature is not enough: the user may have been deleted, the token revoked
        // by a credential change or a logout, or the membership it was issued for ended or
        // changed role (the organization's roster goes with the organization).
        let Some(admin) = self.store.find_user_by_id(&principal.user_id).await? else {
            return Err(AuthenticateError::InvalidToken);
        };
        let role = self
            .store
            .role_in(&principal.organization_id, &admin.id)
            .await?;
        match role {
            Some(role)
                if principal_of(
                    &admin,
                    &Membership {
                        organization_id: principal.organization_id,
                        role,
                    },
                ) == principal =>
            {
                Ok(principal)
            }
            _ => Err(AuthenticateError::InvalidToken),
        }
    }
}

impl<P: Ports> Service<P> {
    /// The names of these organizations (those that still exist), sorted.
    async fn names_of(
        &self,
        memberships: &[Membership],
    ) -> Result<Vec<OrganizationName>, StoreError> {
        let mut names = Vec::with_capacity(memberships.len());
        for membership in memberships {
            if let Some(organization) = self
                .store
                .find_organization_by_id(&membership.organization_id)
                .await?
            {
                names.push(organization.name);
            }
        }
        names.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        Ok(names)
    }
}

/// Who a token for `admin` in `membership`'s organization is issued to, at the admin's current
/// token version.
pub(super) const fn principal_of(admin: &User, membership: &Membership) -> Principal {
    Principal {
        user_id: admin.id,
        organization_id: membership.organization_id,
        role: membership.role,
        token_version: admin.token_version,
        key: None,
    }
}
