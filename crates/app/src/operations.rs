//! Operator commands, run by the binary instead of the server.

use anyhow::Context as _;
use orgsvc_domain::OrganizationName;
use orgsvc_storage::MongoStore;

use crate::settings::{Backend, Settings};

/// `orgsvc move-org --org NAME --to-cluster CLUSTER`: moves an organization's collection to
/// another cluster while running services keep serving it (writes to it answer 503 for the
/// duration). Safe to interrupt: the move is finished by recovery.
///
/// # Errors
/// When the backend is not MongoDB, the organization or cluster does not exist, or the move fails.
pub async fn move_organization(
    settings: &Settings,
    organization: &str,
    cluster: &str,
) -> anyhow::Result<String> {
    if settings.storage.backend != Backend::Mongodb {
        anyhow::bail!(
            "move-org needs storage.backend = \"mongodb\" (ORGSVC__STORAGE__BACKEND=mongodb)"
        );
    }
    let name = OrganizationName::new(organization).context("invalid organization name")?;
    let store = MongoStore::connect(settings.storage.mongodb.clone()).await?;
    let location = store.move_organization(&name, cluster).await?;
    Ok(format!(
        "{name} now lives in {}.{} on cluster {}",
        location.database, location.collection, location.cluster
    ))
}
