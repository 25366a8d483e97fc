//! The roster's rules for API keys: who may hold which keys, and how a key's use is checked.

use chrono::{DateTime, Duration, Utc};

use super::{Roster, RosterRule};
use crate::api_keys::{ApiKey, KeyGrant, LAST_USED_PRECISION_SECONDS, MAX_API_KEYS};
use crate::ids::{ApiKeyId, UserId};
use crate::roles::{Permission, Role};
use crate::secrets::{digests_match, ApiKeySecret};

impl Roster {
    /// The caller's role, which must allow managing keys and everything `key`'s scopes do.
    fn key_manager(&self, caller: &UserId, key: &ApiKey) -> Result<Role, RosterRule> {
        let role = self.caller_role(caller, Permission::ManageApiKeys)?;
        if key.scopes.within(role) {
            Ok(role)
        } else {
            Err(RosterRule::Forbidden)
        }
    }

    /// `caller` adds `key`.
    ///
    /// # Errors
    /// `Forbidden` (the caller may not manage keys, or not do all the key would),
    /// `TooManyApiKeys`.
    pub fn add_api_key(&mut self, caller: &UserId, key: ApiKey) -> Result<(), RosterRule> {
        self.key_manager(caller, &key)?;
        if self.api_keys.len() >= MAX_API_KEYS {
            return Err(RosterRule::TooManyApiKeys);
        }
        self.api_keys.push(key);
        Ok(())
    }

    #[must_use]
    pub fn api_key(&self, id: &ApiKeyId) -> Option<&ApiKey> {
        self.api_keys.iter().find(|k| k.id == *id)
    }

    /// Where key `id` is, once the caller may manage it.
    fn managed_key(&self, caller: &UserId, id: &ApiKeyId) -> Result<usize, RosterRule> {
        let index = self
            .api_keys
            .iter()
            .position(|k| k.id == *id)
            .ok_or(RosterRule::NoSuchApiKey)?;
        self.key_manager(caller, &self.api_keys[index])?;
        Ok(index)
    }

    /// The keys a member in `caller`'s place may see: all of them, for those who manage keys.
    ///
    /// # Errors
    /// `Forbidden`.
    pub fn api_keys_for(&self, caller: &UserId) -> Result<&[ApiKey], RosterRule> {
        self.caller_role(caller, Permission::ManageApiKeys)?;
        Ok(&self.api_keys)
    }

    /// `caller` gives key `id` a new secret (its digest); the old one stops working at once.
    ///
    /// # Errors
    /// `Forbidden`, `NoSuchApiKey`.
    pub fn rotate_api_key(
        &mut self,
        caller: &UserId,
        id: &ApiKeyId,
        secret_digest: String,
        at: DateTime<Utc>,
    ) -> Result<ApiKey, RosterRule> {
        let index = self.managed_key(caller, id)?;
        let key = &mut self.api_keys[index];
        key.secret_digest = secret_digest;
        key.rotated_at = Some(at);
        Ok(key.clone())
    }

    /// `caller` removes key `id`; it stops working at once.
    ///
    /// # Errors
    /// `Forbidden`, `NoSuchApiKey`.
    pub fn revoke_api_key(&mut self, caller: &UserId, id: &ApiKeyId) -> Result<ApiKey, RosterRule> {
        let index = self.managed_key(caller, id)?;
        Ok(self.api_keys.remove(index))
    }

    /// What a request presenting `secret` may do, with the role of the key's creator: `None`
    /// unless the key exists, its secret matches, it has not expired, and its creator is still
    /// a member whose role allows all its scopes.
    #[must_use]
    pub fn grant_for(
        &self,
        secret: &ApiKeySecret,
        now: DateTime<Utc>,
    ) -> Option<(KeyGrant, UserId, Role)> {
        let key = self.api_key(&secret.key_id)?;
        if !digests_match(&key.secret_digest, &secret.digest()) || key.expired(now) {
            return None;
        }
        let role = self.role_of(&key.created_by)?;
        key.scopes.within(role).then_some((
            KeyGrant {
                id: key.id,
                scopes: key.scopes,
            },
            key.created_by,
            role,
        ))
    }

    /// Records that key `id` was used at `now`, if what is recorded is older than the
    /// precision kept; whether anything changed.
    pub fn touch_api_key(&mut self, id: &ApiKeyId, now: DateTime<Utc>) -> bool {
        let precision = Duration::seconds(LAST_USED_PRECISION_SECONDS);
        match self.api_keys.iter_mut().find(|k| k.id == *id) {
            Some(key) if key.last_used_at.is_none_or(|at| at + precision <= now) => {
                key.last_used_at = Some(now);
                true
            }
            _ => false,
        }
    }
}
