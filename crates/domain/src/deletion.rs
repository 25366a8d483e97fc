//! What deleting an organization removed, as the store records it in the same write as the
//! removal, and the signed receipt the service makes of that record.

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use crate::ids::{DeletionReceiptId, OrganizationId, UserId};
use crate::members::Roster;
use crate::organization::Placement;

/// The JWS `typ` of a deletion receipt, so that no verifier can take one for an access token
/// (which also lacks `exp` and `aud`) or the other way round.
pub const RECEIPT_TYPE: &str = "orgsvc-deletion-receipt+jwt";

/// What a delete is asked with: the receipt's id is chosen before anything is removed, so a
/// deletion that a crash interrupts still ends with the receipt of that id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeletionRequest {
    pub receipt_id: DeletionReceiptId,
    pub requested_by: UserId,
    pub requested_at: DateTime<Utc>,
    /// How long the record is kept after the deletion completes.
    pub retention: Duration,
}

/// What a roster held when it was removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RosterTally {
    pub members: u64,
    /// Every invitation record, pending or ended.
    pub invitations: u64,
    pub api_keys: u64,
    pub webhooks: u64,
}

impl RosterTally {
    #[must_use]
    pub fn of(roster: &Roster) -> Self {
        Self {
            members: roster.members.len() as u64,
            invitations: roster.invitations.len() as u64,
            api_keys: roster.api_keys.len() as u64,
            webhooks: roster.webhooks.len() as u64,
        }
    }
}

/// Everything a deletion removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Removed {
    /// Where the documents were and how many there were.
    pub placement: Placement,
    /// The collection (or, for `database`, the database's one collection) they were in.
    pub collection: String,
    pub documents: u64,
    pub roster: RosterTally,
    /// Users who belonged to no other organization, removed with it.
    pub users: u64,
}

/// The stored record of a completed deletion: what its receipt states.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeletionRecord {
    pub id: DeletionReceiptId,
    pub organization_id: OrganizationId,
    pub organization_name: String,
    pub requested_by: UserId,
    pub requested_at: DateTime<Utc>,
    pub completed_at: DateTime<Utc>,
    pub removed: Removed,
    /// The SHA-256 of the organization's last completed export, if it had one: the bundle a
    /// receipt's holder can compare with what they kept.
    pub last_export_sha256: Option<String>,
    /// The record is gone after this.
    pub expires_at: DateTime<Utc>,
}

impl DeletionRecord {
    /// The receipt's claims (the signer adds `iss`): what was removed, and what was kept on
    /// purpose (the audit log, for `audit_retention_days`; `None`: for good).
    #[must_use]
    pub fn claims(&self, audit_retention_days: Option<u32>) -> Value {
        let removed = &self.removed;
        json!({
            "sub": self.organization_id.to_string(),
            "jti": self.id.to_string(),
            "iat": self.completed_at.timestamp(),
            "organization": {
                "id": self.organization_id.to_string(),
                "name": self.organization_name,
            },
            "requested_by": self.requested_by.to_string(),
            "requested_at": self.requested_at.to_rfc3339(),
            "completed_at": self.completed_at.to_rfc3339(),
            "removed": {
                "documents": [{
                    "cluster": removed.placement.cluster,
                    "database": removed.placement.database,
                    "collection": removed.collection,
                    "tenancy_model": removed.placement.model.as_str(),
                    "count": removed.documents,
                }],
                "members": removed.roster.members,
                "users": removed.users,
                "invitations": removed.roster.invitations,
                "api_keys": removed.roster.api_keys,
                "webhooks": removed.roster.webhooks,
            },
            "last_export_sha256": self.last_export_sha256,
            "kept": {
                "audit_events": {
                    "retention_days": audit_retention_days,
                    "why": "the audit log outlives the organization it describes",
                },
            },
        })
    }
}
