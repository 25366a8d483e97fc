//! Organization API keys.

use chrono::{DateTime, Utc};
use orgsvc_domain::{ApiKey, ApiKeyId, ApiKeyName, IssuedApiKey, NewApiKey, Scope, Scopes};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::Fields;
use crate::problem::ApiError;

/// What a key may do. `documents:read` / `documents:write`: the organization's documents;
/// `organization:read`: its record with its admin (`GET /org/get`); `members:read`: its
/// members; `audit:read`: its audit log. Never more than the key's creator may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum ScopeDto {
    #[serde(rename = "documents:read")]
    DocumentsRead,
    #[serde(rename = "documents:write")]
    DocumentsWrite,
    #[serde(rename = "organization:read")]
    OrganizationRead,
    #[serde(rename = "members:read")]
    MembersRead,
    #[serde(rename = "audit:read")]
    AuditRead,
}

impl From<ScopeDto> for Scope {
    fn from(scope: ScopeDto) -> Self {
        match scope {
            ScopeDto::DocumentsRead => Self::DocumentsRead,
            ScopeDto::DocumentsWrite => Self::DocumentsWrite,
            ScopeDto::OrganizationRead => Self::OrganizationRead,
            ScopeDto::MembersRead => Self::MembersRead,
            ScopeDto::AuditRead => Self::AuditRead,
        }
    }
}

impl From<Scope> for ScopeDto {
    fn from(scope: Scope) -> Self {
        match scope {
            Scope::DocumentsRead => Self::DocumentsRead,
            Scope::DocumentsWrite => Self::DocumentsWrite,
            Scope::OrganizationRead => Self::OrganizationRead,
            Scope::MembersRead => Self::MembersRead,
            Scope::AuditRead => Self::AuditRead,
        }
    }
}

/// Create an API key.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "reporting job", "scopes": ["documents:read"]}))]
pub struct CreateApiKeyBody {
    /// 1 to 64 characters, for people to tell keys apart.
    #[schema(example = "reporting job")]
    pub name: String,
    /// At least one.
    #[schema(min_items = 1)]
    pub scopes: Vec<ScopeDto>,
    /// When the key stops working; never, when absent. Must be in the future.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
}

impl CreateApiKeyBody {
    /// # Errors
    /// A validation error for each bad field.
    pub fn try_into_domain(self) -> Result<NewApiKey, ApiError> {
        let mut fields = Fields::default();
        let name = fields.check("name", ApiKeyName::new(&self.name));
        let scopes: Scopes = self.scopes.iter().map(|s| Scope::from(*s)).collect();
        if scopes.is_empty() {
            fields.check::<(), _>("scopes", Err("must name at least one scope"));
        }
        fields.finish(|| {
            Some(NewApiKey {
                name: name?,
                scopes,
                expires_at: self.expires_at,
            })
        })
    }
}

/// An API key id in a path.
///
/// # Errors
/// A validation error naming `id`.
pub fn api_key_id(raw: &str) -> Result<ApiKeyId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::field("id", "must be an API key id (a UUID)"))
}

/// An API key of the caller's organization (never its secret, except once in `key`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyResponse {
    pub id: Uuid,
    #[schema(example = "reporting job")]
    pub name: String,
    pub scopes: Vec<ScopeDto>,
    /// The member who created it; the key never does more than they may.
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotated_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// Accurate to a minute.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<DateTime<Utc>>,
    /// The key itself (`osk_...`), to send as `Authorization: Bearer <key>`: only in the
    /// answer that created or rotated it, never again; orgsvc keeps only its digest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl From<ApiKey> for ApiKeyResponse {
    fn from(key: ApiKey) -> Self {
        Self {
            id: *key.id.as_uuid(),
            name: key.name.as_str().to_owned(),
            scopes: key.scopes.iter().map(ScopeDto::from).collect(),
            created_by: *key.created_by.as_uuid(),
            created_at: key.created_at,
            rotated_at: key.rotated_at,
            expires_at: key.expires_at,
            last_used_at: key.last_used_at,
            key: None,
        }
    }
}

impl From<IssuedApiKey> for ApiKeyResponse {
    fn from(issued: IssuedApiKey) -> Self {
        let mut response = Self::from(issued.key);
        response.key = Some(issued.secret.expose());
        response
    }
}

/// The organization's API keys, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeysResponse {
    pub api_keys: Vec<ApiKeyResponse>,
}
