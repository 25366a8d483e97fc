//! Two cluster names for one deployment: refused before anything else is prepared.

use bson::{doc, Document as BsonDocument};
use mongodb::Client;
use orgsvc_domain::errors::StoreError;

use super::errors::timed;
use super::MongoStore;

impl MongoStore {
    /// Refuses two cluster names that reach the same deployment: every cluster holds tenants
    /// under the same database names, so a move between them would copy an organization's
    /// collection onto itself and then drop it. Each client writes a document of its own under
    /// a fresh id; if another client can read it, they are one deployment.
    pub(super) async fn refuse_aliased_clusters(&self) -> Result<(), StoreError> {
        if self.inner.clients.len() < 2 {
            return Ok(());
        }
        let limit = self.op_timeout();
        let probes = |client: &Client| {
            client
                .database(&self.inner.settings.tenant_database)
                .collection::<BsonDocument>("orgsvc_cluster_probes")
        };
        let nonce = uuid::Uuid::new_v4();
        for (name, client) in &self.inner.clients {
            let probe = doc! {"_id": format!("{name}|{nonce}"), "at": bson::DateTime::now()};
            timed(limit, probes(client).insert_one(probe)).await?;
        }
        let mut aliased = None;
        'search: for (name, client) in &self.inner.clients {
            for other in self.inner.clients.keys().filter(|other| *other != name) {
                let id = format!("{other}|{nonce}");
                if timed(limit, probes(client).find_one(doc! {"_id": id}))
                    .await?
                    .is_some()
                {
                    aliased = Some((name.clone(), other.clone()));
                    break 'search;
                }
            }
        }
        // Cleared away, so tenant databases hold tenants only. Another instance's check running
        // at the same moment may lose its probe to the drop and find nothing: only a start that
        // races another on aliased settings can miss them.
        for (name, client) in &self.inner.clients {
            let id = format!("{name}|{nonce}");
            let _ = timed(limit, probes(client).delete_one(doc! {"_id": id})).await;
            if let Ok(0) = timed(limit, probes(client).count_documents(doc! {})).await {
                let _ = timed(limit, probes(client).drop()).await;
            }
        }
        match aliased {
            None => Ok(()),
            Some((one, other)) => Err(StoreError::Unknown(anyhow::anyhow!(
                "storage.mongodb.clusters: {one:?} and {other:?} reach the same deployment (a \
                 document written through one is read through the other); a move between them \
                 would copy a tenant's collection onto itself and drop it. Give each cluster a \
                 deployment of its own"
            ))),
        }
    }
}
