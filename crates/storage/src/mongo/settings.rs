//! How the MongoDB adapter is configured (the `[storage.mongodb]` settings).

use std::collections::BTreeMap;

use orgsvc_domain::TenancyModel;
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;

/// The cluster that holds the master database and, by default, new tenants.
pub const DEFAULT_CLUSTER: &str = "default";

#[derive(Clone, Debug, Deserialize)]
pub struct MongoSettings {
    /// Database of the `organizations` and `admins` collections, on the `default` cluster.
    pub master_database: String,
    /// Database that tenant collections are created in, on whichever cluster they are placed.
    pub tenant_database: String,
    /// Shorthand for a lone `clusters.default.uri`.
    #[serde(default)]
    pub uri: Option<SecretString>,
    /// Named clusters; URIs may carry credentials, so they are secrets and never stored in
    /// organization documents (those name the cluster only).
    #[serde(default)]
    pub clusters: BTreeMap<String, ClusterSettings>,
    pub placement: PlacementPolicy,
    /// How long to look for a usable server before answering "unavailable".
    pub server_selection_timeout_ms: u64,
    /// Upper bound of any single database operation.
    pub operation_timeout_ms: u64,
    /// How long an operation's intent stays claimed without being renewed; after that, recovery
    /// may take it over.
    pub intent_lease_seconds: u64,
    /// How often to look for operations whose owner died (besides at startup and when a request
    /// touches the organization); 0 turns the sweep off.
    pub recovery_interval_seconds: u64,
    /// How often one instance (whichever's turn it is) looks for collections no organization
    /// points at; it reads every organization's location, so not often. Checked at each
    /// recovery sweep.
    #[serde(default = "default_stray_sweep_seconds")]
    pub stray_sweep_seconds: u64,
    /// Documents per batch when a collection is copied.
    pub copy_batch_size: usize,
    /// `auto`: rename within a database with `renameCollection`; `copy`: always copy.
    pub rename: RenameMode,
    /// The tenancy model of new organizations.
    #[serde(default)]
    pub tenancy: TenancyModel,
    /// Days audit events are kept; set from `audit.retention_days`, not from this section.
    #[serde(skip, default = "default_audit_retention_days")]
    pub audit_retention_days: u32,
}

const fn default_audit_retention_days() -> u32 {
    90
}

#[derive(Clone, Debug, Deserialize)]
pub struct ClusterSettings {
    pub uri: SecretString,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlacementPolicy {
    /// Every new organization on the `default` cluster.
    Default,
    /// New organizations on each listed cluster in turn.
    RoundRobin,
    /// Each new organization on the cluster holding the fewest organizations.
    LeastLoaded,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RenameMode {
    Auto,
    Copy,
}

const fn default_stray_sweep_seconds() -> u64 {
    600
}

impl MongoSettings {
    /// Settings for one server at `uri`, with the documented defaults.
    #[must_use]
    pub fn for_uri(uri: &str) -> Self {
        Self {
            master_database: "orgsvc_master".into(),
            tenant_database: "orgsvc_tenants".into(),
            uri: Some(SecretString::from(uri.to_owned())),
            clusters: BTreeMap::new(),
            placement: PlacementPolicy::Default,
            server_selection_timeout_ms: 2_000,
            operation_timeout_ms: 10_000,
            intent_lease_seconds: 30,
            recovery_interval_seconds: 30,
            stray_sweep_seconds: default_stray_sweep_seconds(),
            copy_batch_size: 1_000,
            rename: RenameMode::Auto,
            tenancy: TenancyModel::Collection,
            audit_retention_days: default_audit_retention_days(),
        }
    }

    /// Refuses a tenant database name too long to name organizations' own databases after
    /// (MongoDB allows 63 bytes; the id adds 33), when `model` needs them.
    pub(crate) fn check_model(&self, model: TenancyModel) -> Result<(), String> {
        let longest = super::tenancy::own_database(&self.tenant_database, &"0".repeat(32));
        if model == TenancyModel::Database && longest.len() > 63 {
            return Err(format!(
                "tenant_database {:?} is too long for databases of their own ({} bytes with the \
                 organization id; at most 63)",
                self.tenant_database,
                longest.len()
            ));
        }
        Ok(())
    }

    /// Every cluster by name, with `uri` as the `default` one when given.
    pub(crate) fn cluster_uris(&self) -> BTreeMap<String, String> {
        let mut clusters: BTreeMap<String, String> = self
            .clusters
            .iter()
            .map(|(name, cluster)| (name.clone(), cluster.uri.expose_secret().to_owned()))
            .collect();
        if let Some(uri) = &self.uri {
            clusters.insert(DEFAULT_CLUSTER.to_owned(), uri.expose_secret().to_owned());
        }
        clusters
    }
}
