//! The MongoDB store: a master database on the `default` cluster (`organizations`, `admins`
//! (the users), `rosters`, `login_counters`, `audit`, `schema`, `webhook_events`,
//! `webhook_outboxes`, `deletions`, `export_preimages`, `exports`, `export_chunks`) and each tenant's data on whichever named cluster the
//! placement policy chose (a collection, a database, or a share of one).
//!
//! Every multi-step operation (create, rename, move, delete) first records an
//! [`records::Intent`] in the organization document, raising its epoch, then runs idempotent
//! steps ([`machine`]) and removes the intent last. Only one process can start an operation on
//! an organization, and of all the processes that find an intent whose lease has expired, only
//! one takes it over: each is a conditional update of the record ([`claims`]).
//! So after a crash at any point no document is lost or duplicated, no collection is orphaned,
//! no user outlives every organization they belonged to, and the metadata names the collection holding the data.
//!
//! Any number of processes may serve the same databases: tenant writes check the epoch after
//! writing and put themselves right when an operation began meanwhile ([`tenant`]), and a
//! collection left behind by a writer that died at that moment is dropped by the sweep.

mod aliasing;
mod attempts;
mod audit;
mod claims;
mod collections;
mod deletions;
mod errors;
mod executor;
mod exports;
mod founding;
mod indexes;
mod lifecycle;
mod machine;
mod members;
mod nested_arrays;
mod outbox;
mod placement;
mod progress;
mod records;
mod renamer;
mod schema;
mod settings;
mod snapshots;
mod strays;
mod tenancy;
mod tenant;
mod topology;
mod transaction;

use orgsvc_domain::deletion::{DeletionRecord, DeletionRequest};
use orgsvc_domain::DeletionReceiptId;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bson::{doc, Document as BsonDocument};
use mongodb::options::ClientOptions;
use mongodb::{Client, Collection, Database};
use orgsvc_domain::errors::{
    CreateOrganizationError, DeleteOrganizationError, StoreError, UpdateOrganizationError,
};
use orgsvc_domain::ports::{Founder, OrganizationChange, OrganizationStore};
use orgsvc_domain::{EmailAddress, Organization, OrganizationId, Placement, Slug, User, UserId};
use tokio::sync::OnceCell;

use errors::{timed, DbError};
pub use progress::CopyProgress;
pub use records::Location;
use records::{Operation, OrganizationDoc, Phase, UserDoc};
pub use settings::{ClusterSettings, MongoSettings, PlacementPolicy, RenameMode, DEFAULT_CLUSTER};

#[derive(Clone)]
pub struct MongoStore {
    inner: Arc<Inner>,
}

struct Inner {
    clients: BTreeMap<String, Client>,
    master: Database,
    organizations: Collection<OrganizationDoc>,
    /// Users: the collection keeps the name `admins` that the first releases gave it.
    users: Collection<UserDoc>,
    rosters: Collection<members::RosterDoc>,
    login_counters: Collection<attempts::CounterDoc>,
    deletions: Collection<deletions::DeletionDoc>,
    preimages: Collection<snapshots::PreimageDoc>,
    exports: Collection<exports::ExportDoc>,
    export_chunks: Collection<exports::ChunkDoc>,
    /// Exports' cursors kept between their pages (see `snapshots`).
    scans: snapshots::Scans,
    schema: Collection<BsonDocument>,
    audit: Collection<audit::EventDoc>,
    audit_writer: audit::AuditWriter,
    webhook_events: Collection<outbox::EventDoc>,
    outboxes: Collection<outbox::OutboxDoc>,
    settings: MongoSettings,
    /// Identifies this process in the intents it owns: `<host>/<pid>/<uuid>`, so an operator
    /// (or a test) can tell which instance holds an operation.
    owner: String,
    /// The stray sweep's turn and findings (see `strays`).
    sweeps: Collection<BsonDocument>,
    /// (cluster, database) pairs whose shared collection and index this process made sure of.
    shared_ready: Mutex<BTreeSet<(String, String)>>,
    next_cluster: AtomicUsize,
    /// `least_loaded` placement's figures.
    loads: placement::Loads,
    /// Indexes created and interrupted operations recovered, once per process.
    ready: OnceCell<()>,
    validators: AtomicBool,
    /// The latest collection copy's progress (see [`MongoStore::copy_progress`]).
    copies: tokio::sync::watch::Sender<CopyProgress>,
}

impl std::fmt::Debug for MongoStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MongoStore")
            .field("clusters", &self.inner.clients.keys().collect::<Vec<_>>())
            .field("master_database", &self.inner.settings.master_database)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectMongoError {
    #[error("storage.mongodb needs a `default` cluster (storage.mongodb.uri or storage.mongodb.clusters.default.uri)")]
    NoDefaultCluster,
    #[error("invalid MongoDB connection string for cluster {cluster}")]
    InvalidUri {
        cluster: String,
        #[source]
        source: anyhow::Error,
    },
    #[error("preparing the master database failed")]
    Prepare(#[source] StoreError),
    #[error("storage.mongodb.tenancy: {0}")]
    Tenancy(String),
}

impl MongoStore {
    /// Builds one client per cluster and, if the servers answer, prepares the master database
    /// and recovers interrupted operations. If they do not answer yet, that happens on first
    /// use, so the service can start while the database is still coming up.
    ///
    /// # Errors
    /// When there is no `default` cluster, a connection string is invalid, or preparing the
    /// master database fails for a reason other than the servers being unreachable.
    pub async fn connect(settings: MongoSettings) -> Result<Self, ConnectMongoError> {
        let uris = settings.cluster_uris();
        if !uris.contains_key(DEFAULT_CLUSTER) {
            return Err(ConnectMongoError::NoDefaultCluster);
        }
        settings
            .check_model(settings.tenancy)
            .map_err(ConnectMongoError::Tenancy)?;
        let selection = Duration::from_millis(settings.server_selection_timeout_ms);
        let mut clients = BTreeMap::new();
        for (name, uri) in uris {
            let invalid = |source: anyhow::Error| ConnectMongoError::InvalidUri {
                cluster: name.clone(),
                source,
            };
            // Parsing may resolve SRV records; bound it like any other operation.
            let mut options = tokio::time::timeout(selection * 5, ClientOptions::parse(uri))
                .await
                .map_err(|_| invalid(anyhow::anyhow!("resolving the connection string timed out")))?
                .map_err(|e| invalid(e.into()))?;
            options.server_selection_timeout = Some(selection);
            options.connect_timeout = Some(selection);
            options.app_name = Some("orgsvc".into());
            let client = Client::with_options(options).map_err(|e| invalid(e.into()))?;
            clients.insert(name, client);
        }
        let master = clients[DEFAULT_CLUSTER].database(&settings.master_database);
        let store = Self {
            inner: Arc::new(Inner {
                organizations: master.collection("organizations"),
                users: master.collection("admins"),
                rosters: master.collection("rosters"),
                login_counters: master.collection("login_counters"),
                schema: master.collection("schema"),
                audit: master.collection("audit"),
                audit_writer: audit::AuditWriter::spawn(
                    master.collection("audit"),
                    Duration::from_millis(settings.operation_timeout_ms),
                ),
                webhook_events: master.collection("webhook_events"),
                outboxes: master.collection("webhook_outboxes"),
                deletions: master.collection("deletions"),
                preimages: master.collection("export_preimages"),
                exports: master.collection("exports"),
                export_chunks: master.collection("export_chunks"),
                sweeps: master.collection("sweeps"),
                master,
                clients,
                settings,
                owner: owner_id(),
                shared_ready: Mutex::new(BTreeSet::new()),
                next_cluster: AtomicUsize::new(0),
                loads: placement::Loads::default(),
                ready: OnceCell::new(),
                validators: AtomicBool::new(true),
                copies: tokio::sync::watch::Sender::new(CopyProgress::default()),
                scans: snapshots::Scans::default(),
            }),
        };
        store.spawn_recovery_sweep();
        match store.ensure_ready().await {
            Ok(()) => {}
            Err(StoreError::Unavailable(e)) => {
                tracing::warn!(
                    error = %e,
                    "MongoDB is not reachable yet: storage answers unavailable (HTTP 503, /ready \
                     503) until it is; check storage.mongodb.uri if this lasts"
                );
            }
            Err(e) => return Err(ConnectMongoError::Prepare(e)),
        }
        Ok(store)
    }

    /// The progress of this store's latest collection copy (a rename across databases, a move,
    /// or recovery finishing one), updated after every batch.
    #[must_use]
    pub fn copy_progress(&self) -> tokio::sync::watch::Receiver<CopyProgress> {
        self.inner.copies.subscribe()
    }

    /// Periodically recovers operations whose owner stopped renewing them, so an organization
    /// nobody touches does not stay half-renamed (and its old slug blocked) after a crash. The
    /// task ends when the store is dropped.
    fn spawn_recovery_sweep(&self) {
        let interval = self.inner.settings.recovery_interval_seconds;
        if interval == 0 {
            return;
        }
        let store = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(Duration::from_secs(interval));
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                let Some(inner) = store.upgrade() else { break };
                let store = Self { inner };
                if let Err(e) = store.recover_expired().await {
                    tracing::warn!(error = ?e, "recovery sweep failed; will retry");
                }
                if let Err(e) = store.clear_abandoned_exports().await {
                    tracing::warn!(error = ?e, "clearing abandoned exports failed; will retry");
                }
                if let Err(e) = store.sweep_strays().await {
                    tracing::warn!(error = ?e, "looking for stray collections failed; will retry");
                }
            }
        });
    }

    /// The client of the `default` cluster, which holds the master database.
    fn master_client(&self) -> &Client {
        &self.inner.clients[DEFAULT_CLUSTER]
    }

    fn op_timeout(&self) -> Duration {
        Duration::from_millis(self.inner.settings.operation_timeout_ms)
    }

    fn lease_until(&self) -> bson::DateTime {
        let lease =
            i64::try_from(self.inner.settings.intent_lease_seconds).unwrap_or(i64::MAX / 2000);
        bson::DateTime::from_millis(bson::DateTime::now().timestamp_millis() + lease * 1000)
    }

    fn client(&self, cluster: &str) -> Result<&Client, DbError> {
        self.inner.clients.get(cluster).ok_or_else(|| {
            DbError::Other(anyhow::anyhow!(
                "cluster {cluster} is not configured (storage.mongodb.clusters)"
            ))
        })
    }

    fn database(&self, location: &Location) -> Result<Database, DbError> {
        Ok(self.client(&location.cluster)?.database(&location.database))
    }

    fn collection(&self, location: &Location) -> Result<Collection<BsonDocument>, DbError> {
        Ok(self.database(location)?.collection(&location.collection))
    }

    /// Creates the master indexes and recovers operations interrupted by a crash, once.
    async fn ensure_ready(&self) -> Result<(), StoreError> {
        self.inner
            .ready
            .get_or_try_init(|| async {
                self.refuse_standalone().await?;
                self.refuse_aliased_clusters().await?;
                self.create_indexes().await?;
                self.recover_expired().await?;
                self.migrate().await?;
                Ok::<_, StoreError>(())
            })
            .await
            .map(|_| ())
    }

    async fn find_user(&self, filter: BsonDocument) -> Result<Option<User>, StoreError> {
        self.ensure_ready().await?;
        let found = timed(self.op_timeout(), self.inner.users.find_one(filter)).await?;
        found.map(UserDoc::into_domain).transpose()
    }

    /// The organization with its first owner's email, as the domain sees it. Until a rename
    /// switches, that is the email from before the rename, like the name.
    async fn assemble(&self, organization: OrganizationDoc) -> Result<Organization, StoreError> {
        let owner = self
            .roster_doc(&organization.id)
            .await?
            .and_then(|roster| {
                roster
                    .record
                    .members
                    .into_iter()
                    .find(|m| m.role == orgsvc_domain::Role::Owner.as_str())
                    .map(|m| m.user_id)
            })
            .unwrap_or_else(|| organization.admin_id.clone());
        let mut admin = timed(
            self.op_timeout(),
            self.inner.users.find_one(doc! {"_id": &owner}),
        )
        .await?
        .ok_or_else(|| {
            StoreError::Unknown(anyhow::anyhow!(
                "organization {} has no owner",
                organization.id
            ))
        })?;
        if let Some(intent) = &organization.intent {
            if let Operation::Rename {
                admin: Some(change),
                ..
            } = &intent.operation
            {
                if let (Some(previous), true) = (
                    &change.previous_email,
                    intent.phase < Phase::Switched && change.admin_id == owner,
                ) {
                    previous.clone_into(&mut admin.email);
                }
            }
        }
        organization.into_domain(&admin)
    }
}

impl OrganizationStore for MongoStore {
    async fn place_new_organization(
        &self,
        organization: &OrganizationId,
    ) -> Result<Placement, StoreError> {
        self.place(organization).await
    }

    async fn create_organization(
        &self,
        organization: &Organization,
        founder: Founder<'_>,
    ) -> Result<(), CreateOrganizationError> {
        self.ensure_ready().await?;
        self.create(organization, founder).await
    }

    async fn find_organization_by_slug(
        &self,
        slug: &Slug,
    ) -> Result<Option<Organization>, StoreError> {
        self.ensure_ready().await?;
        match self.visible_by_slug(slug.as_str()).await? {
            Some(organization) => self.assemble(organization).await.map(Some),
            None => Ok(None),
        }
    }

    async fn find_organization_by_id(
        &self,
        id: &OrganizationId,
    ) -> Result<Option<Organization>, StoreError> {
        self.ensure_ready().await?;
        match self.visible_by_id(&id.to_string()).await? {
            Some(organization) => self.assemble(organization).await.map(Some),
            None => Ok(None),
        }
    }

    async fn find_user_by_email(&self, email: &EmailAddress) -> Result<Option<User>, StoreError> {
        self.find_user(doc! {"email": email.as_str()}).await
    }

    async fn find_user_by_id(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        self.find_user(doc! {"_id": id.to_string()}).await
    }

    async fn update_organization(
        &self,
        change: &OrganizationChange,
    ) -> Result<Organization, UpdateOrganizationError> {
        self.ensure_ready().await?;
        self.update(change).await
    }

    async fn delete_organization(
        &self,
        id: &OrganizationId,
        request: &DeletionRequest,
    ) -> Result<DeletionRecord, DeleteOrganizationError> {
        self.ensure_ready().await?;
        self.delete(id, request).await
    }

    async fn deletion_record(
        &self,
        id: &DeletionReceiptId,
    ) -> Result<Option<DeletionRecord>, StoreError> {
        self.ensure_ready().await?;
        self.read_deletion(id).await
    }

    async fn revoke_tokens(&self, admin: &UserId) -> Result<(), StoreError> {
        self.ensure_ready().await?;
        timed(
            self.op_timeout(),
            self.inner.users.update_one(
                doc! {"_id": admin.to_string()},
                doc! {"$inc": {"token_version": 1_i64}},
            ),
        )
        .await?;
        Ok(())
    }

    async fn count_organizations(&self) -> Result<u64, StoreError> {
        // From the collection's metadata: no scan, whatever the number of organizations.
        let counted = timed(
            self.op_timeout(),
            self.inner.organizations.estimated_document_count(),
        )
        .await?;
        Ok(counted)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        timed(
            self.op_timeout(),
            self.inner.master.run_command(doc! {"ping": 1}),
        )
        .await?;
        // A server that is back after an outage may still need its indexes and recovery.
        self.ensure_ready().await
    }
}

/// `<host>/<pid>/<uuid>`: unique per process (the uuid), readable by people (host and pid).
fn owner_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into());
    format!("{host}/{}/{}", std::process::id(), uuid::Uuid::new_v4())
}
