//! How both adapters keep the record of a completed deletion (a redb value, the `record` of a
//! MongoDB document): ids as strings, times as RFC 3339.

use chrono::{DateTime, Utc};
use orgsvc_domain::deletion::{DeletionRecord, Removed, RosterTally};
use orgsvc_domain::errors::StoreError;
use orgsvc_domain::{Placement, TenancyModel};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DeletionFields {
    pub id: String,
    pub organization_id: String,
    pub organization_name: String,
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
    pub completed_at: DateTime<Utc>,
    pub cluster: String,
    pub database: String,
    pub collection: String,
    pub model: TenancyModel,
    pub documents: u64,
    pub members: u64,
    pub invitations: u64,
    pub api_keys: u64,
    pub webhooks: u64,
    pub users: u64,
    /// Absent in records of earlier versions (there were no exports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_export_sha256: Option<String>,
    pub expires_at: DateTime<Utc>,
}

impl DeletionFields {
    pub fn from_domain(record: &DeletionRecord) -> Self {
        let removed = &record.removed;
        Self {
            id: record.id.to_string(),
            organization_id: record.organization_id.to_string(),
            organization_name: record.organization_name.clone(),
            requested_by: record.requested_by.to_string(),
            requested_at: record.requested_at,
            completed_at: record.completed_at,
            cluster: removed.placement.cluster.clone(),
            database: removed.placement.database.clone(),
            collection: removed.collection.clone(),
            model: removed.placement.model,
            documents: removed.documents,
            members: removed.roster.members,
            invitations: removed.roster.invitations,
            api_keys: removed.roster.api_keys,
            webhooks: removed.roster.webhooks,
            users: removed.users,
            last_export_sha256: record.last_export_sha256.clone(),
            expires_at: record.expires_at,
        }
    }

    pub fn into_domain(self) -> Result<DeletionRecord, StoreError> {
        let id = |raw: &str| {
            raw.parse::<uuid::Uuid>()
                .map_err(|e| StoreError::Unknown(anyhow::anyhow!("corrupt deletion record: {e}")))
        };
        Ok(DeletionRecord {
            id: orgsvc_domain::DeletionReceiptId::from_uuid(id(&self.id)?),
            organization_id: orgsvc_domain::OrganizationId::from_uuid(id(&self.organization_id)?),
            organization_name: self.organization_name,
            requested_by: orgsvc_domain::UserId::from_uuid(id(&self.requested_by)?),
            requested_at: self.requested_at,
            completed_at: self.completed_at,
            removed: Removed {
                placement: Placement {
                    cluster: self.cluster,
                    database: self.database,
                    model: self.model,
                },
                collection: self.collection,
                documents: self.documents,
                roster: RosterTally {
                    members: self.members,
                    invitations: self.invitations,
                    api_keys: self.api_keys,
                    webhooks: self.webhooks,
                },
                users: self.users,
            },
            last_export_sha256: self.last_export_sha256,
            expires_at: self.expires_at,
        })
    }
}
