//! Organization API keys: created, listed, rotated and revoked by owners and admins, each a
//! roster edit (see [`crate::members`]), and checked when a request presents one.

use std::future::Future;

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::api_keys::{ApiKey, ApiKeyName, Scopes};
use crate::audit::{AuditAction, Origin};
use crate::errors::{AuthenticateError, MemberError};
use crate::ids::ApiKeyId;
use crate::ports::prelude::*;
use crate::ports::Principal;
use crate::secrets::ApiKeySecret;
use crate::service::access::authorize;
use crate::service::{Ports, Service};
use crate::Permission;

/// What a new key is to be.
#[derive(Clone, Debug)]
pub struct NewApiKey {
    pub name: ApiKeyName,
    /// Not empty (a key that may do nothing is refused before it gets here).
    pub scopes: Scopes,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A key with its secret, which is shown this once.
#[derive(Clone, Debug)]
pub struct IssuedApiKey {
    pub key: ApiKey,
    pub secret: ApiKeySecret,
}

/// The API key operations, for owners and admins (never for a key itself).
pub trait ApiKeyApi: Clone + Send + Sync + 'static {
    /// # Errors
    /// `Rule(Forbidden)` below admin or for scopes beyond the caller's role,
    /// `Rule(TooManyApiKeys)`.
    fn create_api_key(
        &self,
        origin: &Origin,
        caller: &Principal,
        key: NewApiKey,
    ) -> impl Future<Output = Result<IssuedApiKey, MemberError>> + Send;

    /// # Errors
    /// `Rule(Forbidden)` below admin.
    fn list_api_keys(
        &self,
        caller: &Principal,
    ) -> impl Future<Output = Result<Vec<ApiKey>, MemberError>> + Send;

    /// A new secret for the key; the old one stops working at once.
    ///
    /// # Errors
    /// `Rule(Forbidden | NoSuchApiKey)`.
    fn rotate_api_key(
        &self,
        origin: &Origin,
        caller: &Principal,
        id: &ApiKeyId,
    ) -> impl Future<Output = Result<IssuedApiKey, MemberError>> + Send;

    /// # Errors
    /// `Rule(Forbidden | NoSuchApiKey)`.
    fn revoke_api_key(
        &self,
        origin: &Origin,
        caller: &Principal,
        id: &ApiKeyId,
    ) -> impl Future<Output = Result<(), MemberError>> + Send;
}

fn details(key: &ApiKey) -> serde_json::Value {
    let scopes: Vec<&str> = key.scopes.iter().map(|s| s.as_str()).collect();
    json!({"api_key_id": key.id.to_string(), "name": key.name.as_str(), "scopes": scopes})
}

impl<P: Ports> ApiKeyApi for Service<P> {
    async fn create_api_key(
        &self,
        origin: &Origin,
        caller: &Principal,
        new: NewApiKey,
    ) -> Result<IssuedApiKey, MemberError> {
        authorize(caller, Permission::ManageApiKeys)?;
        let now = self.clock.now();
        if new.expires_at.is_some_and(|at| at <= now) {
            return Err(MemberError::Invalid {
                field: "expires_at",
                message: "must be in the future",
            });
        }
        let id = ApiKeyId::generate();
        let secret = ApiKeySecret::generate(caller.organization_id, id);
        let key = ApiKey {
            id,
            name: new.name,
            scopes: new.scopes,
            secret_digest: secret.digest(),
            created_by: caller.user_id,
            created_at: now,
            rotated_at: None,
            expires_at: new.expires_at,
            last_used_at: None,
        };
        self.edit_roster(&caller.organization_id, None, |roster| {
            Ok(roster.add_api_key(&caller.user_id, key.clone())?)
        })
        .await?;
        self.record(
            origin,
            caller.into(),
            AuditAction::ApiKeyCreated,
            details(&key),
        )
        .await;
        Ok(IssuedApiKey { key, secret })
    }

    async fn list_api_keys(&self, caller: &Principal) -> Result<Vec<ApiKey>, MemberError> {
        authorize(caller, Permission::ManageApiKeys)?;
        let roster = self.roster(&caller.organization_id).await?;
        Ok(roster.api_keys_for(&caller.user_id)?.to_vec())
    }

    async fn rotate_api_key(
        &self,
        origin: &Origin,
        caller: &Principal,
        id: &ApiKeyId,
    ) -> Result<IssuedApiKey, MemberError> {
        authorize(caller, Permission::ManageApiKeys)?;
        let secret = ApiKeySecret::generate(caller.organization_id, *id);
        let now = self.clock.now();
        let key = self
            .edit_roster(&caller.organization_id, None, |roster| {
                Ok(roster.rotate_api_key(&caller.user_id, id, secret.digest(), now)?)
            })
            .await?;
        self.record(
            origin,
            caller.into(),
            AuditAction::ApiKeyRotated,
            details(&key),
        )
        .await;
        Ok(IssuedApiKey { key, secret })
    }

    async fn revoke_api_key(
        &self,
        origin: &Origin,
        caller: &Principal,
        id: &ApiKeyId,
    ) -> Result<(), MemberError> {
        authorize(caller, Permission::ManageApiKeys)?;
        let key = self
            .edit_roster(&caller.organization_id, None, |roster| {
                Ok(roster.revoke_api_key(&caller.user_id, id)?)
            })
            .await?;
        self.record(
            origin,
            caller.into(),
            AuditAction::ApiKeyRevoked,
            details(&key),
        )
        .await;
        Ok(())
    }
}

impl<P: Ports> Service<P> {
    /// The principal an API key acts as, checked against the organization's roster as stored
    /// (or as cached, for at most the cache's lifetime): its creator, in their current role,
    /// limited to the key's scopes.
    pub(super) async fn check_api_key(&self, raw: &str) -> Result<Principal, AuthenticateError> {
        let secret = ApiKeySecret::parse(raw).ok_or(AuthenticateError::InvalidToken)?;
        let Some(mut roster) = self.store.find_roster(&secret.organization_id).await? else {
            return Err(AuthenticateError::InvalidToken);
        };
        let now = self.clock.now();
        let (grant, creator, role) = roster
            .grant_for(&secret, now)
            .ok_or(AuthenticateError::InvalidToken)?;
        // Best effort, at most once a minute per key: a lost race with another roster change
        // leaves the older time, and never undoes that change (the write names the version
        // it read).
        if roster.touch_api_key(&grant.id, now) {
            let _ = self.store.save_roster(&roster, None).await;
        }
        Ok(Principal {
            user_id: creator,
            organization_id: secret.organization_id,
            role,
            token_version: 0,
            key: Some(grant),
        })
    }
}

#[cfg(test)]
mod tests;
