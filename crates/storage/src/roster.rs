//! How both adapters write an organization's roster: one record (a redb value, a MongoDB
//! document) with its members, invitations, API keys and webhook endpoints, ids as strings,
//! roles, scopes and event types by name. Fields added after the first release
//! (`invitations`, `api_keys`, `webhooks`) read as empty where
//! older releases wrote none, and older releases' MongoDB writes leave them be (they `$set`
//! only the fields they know), so no schema version was needed for them.

use chrono::{DateTime, Utc};
use orgsvc_domain::errors::StoreError;
use orgsvc_domain::{
    ApiKey, ApiKeyId, ApiKeyName, EmailAddress, Invitation, InvitationId, InvitationState, Member,
    OrganizationId, Role, Roster, Scope, Scopes, UserId,
};
use serde::{Deserialize, Serialize};

mod webhooks;

pub use webhooks::WebhookRecord;

fn corrupt(error: impl std::fmt::Display) -> StoreError {
    StoreError::Unknown(anyhow::anyhow!("corrupt roster: {error}"))
}

fn id<T: std::str::FromStr<Err = uuid::Error>>(raw: &str) -> Result<T, StoreError> {
    raw.parse().map_err(corrupt)
}

fn role(raw: &str) -> Result<Role, StoreError> {
    Role::parse(raw).ok_or_else(|| corrupt(format!("unknown role {raw:?}")))
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RosterRecord {
    pub version: i64,
    pub members: Vec<MemberRecord>,
    #[serde(default)]
    pub invitations: Vec<InvitationRecord>,
    #[serde(default)]
    pub api_keys: Vec<ApiKeyRecord>,
    #[serde(default)]
    pub webhooks: Vec<WebhookRecord>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    pub id: String,
    pub name: String,
    pub scopes: Vec<String>,
    /// SHA-256 of the secret, hex.
    pub secret_digest: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotated_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<DateTime<Utc>>,
}

impl ApiKeyRecord {
    fn from_domain(key: &ApiKey) -> Self {
        Self {
            id: key.id.to_string(),
            name: key.name.as_str().to_owned(),
            scopes: key.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
            secret_digest: key.secret_digest.clone(),
            created_by: key.created_by.to_string(),
            created_at: key.created_at,
            rotated_at: key.rotated_at,
            expires_at: key.expires_at,
            last_used_at: key.last_used_at,
        }
    }

    fn into_domain(self) -> Result<ApiKey, StoreError> {
        let scopes = self
            .scopes
            .iter()
            .map(|raw| Scope::parse(raw).ok_or_else(|| corrupt(format!("unknown scope {raw:?}"))))
            .collect::<Result<Scopes, _>>()?;
        Ok(ApiKey {
            id: id::<ApiKeyId>(&self.id)?,
            name: ApiKeyName::new(&self.name).map_err(corrupt)?,
            scopes,
            secret_digest: self.secret_digest,
            created_by: id(&self.created_by)?,
            created_at: self.created_at,
            rotated_at: self.rotated_at,
            expires_at: self.expires_at,
            last_used_at: self.last_used_at,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MemberRecord {
    pub user_id: String,
    pub role: String,
    pub joined_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InvitationRecord {
    pub id: String,
    pub email: String,
    pub role: String,
    pub secret_digest: String,
    pub invited_by: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// `pending`, `accepted` or `revoked`.
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_by: Option<String>,
}

impl RosterRecord {
    /// The record of `roster` as it is stored: at `version`.
    pub fn from_domain(roster: &Roster, version: u64) -> Self {
        Self {
            version: i64::try_from(version).unwrap_or(i64::MAX),
            members: roster
                .members
                .iter()
                .map(|m| MemberRecord {
                    user_id: m.user_id.to_string(),
                    role: m.role.as_str().to_owned(),
                    joined_at: m.joined_at,
                })
                .collect(),
            invitations: roster
                .invitations
                .iter()
                .map(InvitationRecord::from_domain)
                .collect(),
            api_keys: roster
                .api_keys
                .iter()
                .map(ApiKeyRecord::from_domain)
                .collect(),
            webhooks: roster
                .webhooks
                .iter()
                .map(WebhookRecord::from_domain)
                .collect(),
        }
    }

    /// Who is in it, as stored.
    pub fn user_ids(&self) -> impl Iterator<Item = &str> {
        self.members.iter().map(|m| m.user_id.as_str())
    }

    pub fn into_domain(self, organization_id: OrganizationId) -> Result<Roster, StoreError> {
        Ok(Roster {
            organization_id,
            version: u64::try_from(self.version).map_err(corrupt)?,
            members: self
                .members
                .into_iter()
                .map(|m| {
                    Ok(Member {
                        user_id: id::<UserId>(&m.user_id)?,
                        role: role(&m.role)?,
                        joined_at: m.joined_at,
                    })
                })
                .collect::<Result<_, StoreError>>()?,
            invitations: self
                .invitations
                .into_iter()
                .map(InvitationRecord::into_domain)
                .collect::<Result<_, _>>()?,
            api_keys: self
                .api_keys
                .into_iter()
                .map(ApiKeyRecord::into_domain)
                .collect::<Result<_, _>>()?,
            webhooks: self
                .webhooks
                .into_iter()
                .map(WebhookRecord::into_domain)
                .collect::<Result<_, _>>()?,
        })
    }
}

impl InvitationRecord {
    fn from_domain(invitation: &Invitation) -> Self {
        let (state, ended_at, accepted_by) = match &invitation.state {
            InvitationState::Pending => ("pending", None, None),
            InvitationState::Accepted { at, user_id } => {
                ("accepted", Some(*at), Some(user_id.to_string()))
            }
            InvitationState::Revoked { at } => ("revoked", Some(*at), None),
        };
        Self {
            id: invitation.id.to_string(),
            email: invitation.email.as_str().to_owned(),
            role: invitation.role.as_str().to_owned(),
            secret_digest: invitation.secret_digest.clone(),
            invited_by: invitation.invited_by.to_string(),
            created_at: invitation.created_at,
            expires_at: invitation.expires_at,
            state: state.to_owned(),
            ended_at,
            accepted_by,
        }
    }

    fn into_domain(self) -> Result<Invitation, StoreError> {
        let ended = || {
            self.ended_at
                .ok_or_else(|| corrupt("an ended invitation without its time"))
        };
        let state = match self.state.as_str() {
            "pending" => InvitationState::Pending,
            "accepted" => InvitationState::Accepted {
                at: ended()?,
                user_id: id(self
                    .accepted_by
                    .as_deref()
                    .ok_or_else(|| corrupt("an accepted invitation without its user"))?)?,
            },
            "revoked" => InvitationState::Revoked { at: ended()? },
            other => return Err(corrupt(format!("unknown invitation state {other:?}"))),
        };
        Ok(Invitation {
            id: id::<InvitationId>(&self.id)?,
            email: EmailAddress::new(&self.email).map_err(corrupt)?,
            role: role(&self.role)?,
            secret_digest: self.secret_digest,
            invited_by: id(&self.invited_by)?,
            created_at: self.created_at,
            expires_at: self.expires_at,
            state,
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    #[test]
    fn a_roster_an_older_release_wrote_reads_with_no_invitations_or_keys() {
        let older = serde_json::json!({
            "version": 3,
            "members": [{"user_id": UserId::generate().to_string(), "role": "owner",
                         "joined_at": "2026-01-02T03:04:05Z"}],
        });
        let record: RosterRecord = serde_json::from_value(older).unwrap();
        let roster = record.into_domain(OrganizationId::generate()).unwrap();
        assert!(roster.invitations.is_empty() && roster.api_keys.is_empty());
        assert!(roster.webhooks.is_empty());
        assert_eq!(roster.members.len(), 1);
    }

    #[test]
    fn a_roster_reads_back_as_written_in_every_invitation_state_with_its_keys() {
        let at = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let owner = UserId::generate();
        let mut roster = Roster::founded(OrganizationId::generate(), owner, at);
        roster.version = 7;
        for state in [
            InvitationState::Pending,
            InvitationState::Accepted {
                at,
                user_id: UserId::generate(),
            },
            InvitationState::Revoked { at },
        ] {
            roster.invitations.push(Invitation {
                id: InvitationId::generate(),
                email: EmailAddress::new("a@b.co").unwrap(),
                role: Role::Admin,
                secret_digest: "ab".repeat(32),
                invited_by: owner,
                created_at: at,
                expires_at: at,
                state,
            });
        }
        roster.api_keys.push(ApiKey {
            id: ApiKeyId::generate(),
            name: ApiKeyName::new("ci").unwrap(),
            scopes: [Scope::DocumentsRead, Scope::AuditRead]
                .into_iter()
                .collect(),
            secret_digest: "cd".repeat(32),
            created_by: owner,
            created_at: at,
            rotated_at: Some(at),
            expires_at: None,
            last_used_at: Some(at),
        });
        let secret = |expires_at| orgsvc_domain::webhooks::EndpointSecret {
            secret: orgsvc_domain::webhooks::WebhookSecret::generate(),
            created_at: at,
            expires_at,
        };
        roster
            .webhooks
            .push(orgsvc_domain::webhooks::WebhookEndpoint {
                id: orgsvc_domain::WebhookId::generate(),
                url: orgsvc_domain::webhooks::WebhookUrl::stored(
                    "https://hooks.example.com/".into(),
                ),
                events: [orgsvc_domain::webhooks::EventType::MemberJoined]
                    .into_iter()
                    .collect(),
                enabled: false,
                secrets: vec![secret(None), secret(Some(at))],
                created_by: owner,
                created_at: at,
                updated_at: at,
                disabled_reason: Some("failing".into()),
            });
        let record = RosterRecord::from_domain(&roster, roster.version);
        let json = serde_json::to_vec(&record).unwrap();
        let back: RosterRecord = serde_json::from_slice(&json).unwrap();
        assert_eq!(back.into_domain(roster.organization_id).unwrap(), roster);
    }
}
