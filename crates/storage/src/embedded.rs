//! The embedded store: master tables and one table per tenant collection in a single redb file.
//!
//! Create, update (including a rename, which moves every document to the new table) and delete
//! each run in one redb write transaction, so a crash at any moment leaves the old state or the
//! new one, never a mix. redb runs one write transaction at a time, which is also what makes
//! concurrent creates of one name yield exactly one winner.

use orgsvc_domain::deletion::{DeletionRecord, DeletionRequest};
use orgsvc_domain::DeletionReceiptId;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use orgsvc_domain::errors::{
    CreateOrganizationError, DeleteOrganizationError, StoreError, UpdateOrganizationError,
};
use orgsvc_domain::ports::{
    Clock as _, Founder, OrganizationChange, OrganizationStore, SystemClock,
};
use orgsvc_domain::{
    EmailAddress, Organization, OrganizationId, Placement, Roster, Slug, TenancyModel, User, UserId,
};
use redb::{Database, ReadableTable, ReadableTableMetadata};
use tokio::sync::Semaphore;

mod attempts;
mod audit;
mod deletions;
mod exports;
mod members;
mod outbox;
mod records;
mod rosters;
mod schema;
mod snapshots;
mod tables;
mod tenant;
mod users;
mod writer;

use records::{OrganizationRecord, UserRecord};
use tables::{tenant_table, ORGANIZATIONS, ORGANIZATION_SLUGS};
use users::USER_EMAILS;

use crate::roster::RosterRecord;

/// The page cache of [`EmbeddedStore::open`]: 64 MiB.
pub const DEFAULT_CACHE_BYTES: usize = 64 * 1024 * 1024;

/// The cluster name the embedded store reports in an organization's placement.
pub const EMBEDDED_CLUSTER: &str = "embedded";

#[derive(Clone, Debug)]
pub struct EmbeddedStore {
    db: Arc<Database>,
    placement: Placement,
    /// Bounds the redb calls running at once. Each actix worker has its own tokio runtime
    /// with a blocking pool of up to 512 threads, so without this a read flood grew the
    /// process to ~100 threads; callers beyond the bound wait here, as futures, not threads.
    blocking: Arc<Semaphore>,
    /// Small writes, committed in groups (see `writer`).
    writer: writer::Writer,
    /// Read transactions held open for exports (see `snapshots`).
    snapshots: snapshots::Snapshots,
    /// Dropped with the last handle: commits what is still queued before the file closes.
    _closing: Arc<Closing>,
}

#[derive(Debug)]
struct Closing {
    db: Arc<Database>,
    writer: writer::Writer,
}

impl Drop for Closing {
    fn drop(&mut self) {
        self.writer.close(Arc::clone(&self.db));
    }
}

/// redb calls in flight at once: enough to keep both the disk and every core busy.
fn blocking_permits() -> usize {
    std::thread::available_parallelism().map_or(2, std::num::NonZero::get) * 2
}

#[derive(Debug, thiserror::Error)]
pub enum OpenEmbeddedStoreError {
    #[error("cannot create the data directory {path}")]
    CreateDirectory {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot make the embedded database {path} private (mode 0600)")]
    Permissions {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot bring the embedded database {path} up to date")]
    Migrate {
        path: PathBuf,
        #[source]
        source: StoreError,
    },
    #[error(
        "the embedded database {path} is at schema version {found}, and this orgsvc knows \
         versions up to {known}: run the newer orgsvc that wrote it"
    )]
    Newer {
        path: PathBuf,
        found: u64,
        known: u64,
    },
    #[error("cannot start the embedded database's writer thread")]
    Writer(#[source] std::io::Error),
    #[error("cannot open the embedded database {path} (is another orgsvc using it?)")]
    Open {
        path: PathBuf,
        #[source]
        source: Box<redb::Error>,
    },
}

impl EmbeddedStore {
    /// Opens (creating if needed) the database file at `path` and its master tables, with a
    /// page cache of [`DEFAULT_CACHE_BYTES`].
    ///
    /// # Errors
    /// When the directory cannot be created or the file cannot be opened, for instance because
    /// another process holds it.
    pub fn open(path: &Path) -> Result<Self, OpenEmbeddedStoreError> {
        Self::open_with_cache(path, DEFAULT_CACHE_BYTES)
    }

    /// [`EmbeddedStore::open`] with a page cache of `cache_bytes` (redb's own default is 1 GiB;
    /// pages beyond the cache are still in the operating system's file cache).
    ///
    /// # Errors
    /// As [`EmbeddedStore::open`].
    pub fn open_with_cache(
        path: &Path,
        cache_bytes: usize,
    ) -> Result<Self, OpenEmbeddedStoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::files::create_private_dir(dir).map_err(|source| {
                OpenEmbeddedStoreError::CreateDirectory {
                    path: dir.to_owned(),
                    source,
                }
            })?;
        }
        let open_error = |source: redb::Error| OpenEmbeddedStoreError::Open {
            path: path.to_owned(),
            source: Box::new(source),
        };
        let db = redb::Builder::new()
            .set_cache_size(cache_bytes)
            .create(path)
            .map_err(|e| open_error(e.into()))?;
        let txn = db.begin_write().map_err(|e| open_error(e.into()))?;
        schema::prepare(&txn).map_err(|e| match e {
            schema::SchemaError::Newer { found } => OpenEmbeddedStoreError::Newer {
                path: path.to_owned(),
                found,
                known: schema::CURRENT,
            },
            schema::SchemaError::Store(source) => OpenEmbeddedStoreError::Migrate {
                path: path.to_owned(),
                source,
            },
        })?;
        txn.commit().map_err(|e| open_error(e.into()))?;
        let database = path
            .file_stem()
            .map_or_else(|| "orgsvc".to_owned(), |s| s.to_string_lossy().into_owned());
        restrict_permissions(path).map_err(|source| OpenEmbeddedStoreError::Permissions {
            path: path.to_owned(),
            source,
        })?;
        let db = Arc::new(db);
        let writer = writer::Writer::start(&db).map_err(OpenEmbeddedStoreError::Writer)?;
        Ok(Self {
            blocking: Arc::new(Semaphore::new(blocking_permits())),
            _closing: Arc::new(Closing {
                db: Arc::clone(&db),
                writer: writer.clone(),
            }),
            writer,
            snapshots: snapshots::Snapshots::default(),
            db,
            placement: Placement {
                cluster: EMBEDDED_CLUSTER.to_owned(),
                database,
                model: TenancyModel::Collection,
            },
        })
    }

    /// Runs blocking redb work on the blocking pool.
    async fn run<T, E>(
        &self,
        work: impl FnOnce(&Database) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let permit = Arc::clone(&self.blocking)
            .acquire_owned()
            .await
            .map_err(|e| E::from(StoreError::Unknown(e.into())))?;
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work(&db)
        })
        .await
        .map_err(|e| E::from(StoreError::Unknown(e.into())))?
    }
}

/// The file holds password hashes and every tenant's data: owner only.
fn restrict_permissions(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Any redb failure is an internal one: the file is local, so there is no "unavailable".
fn db_err(error: impl Into<redb::Error>) -> StoreError {
    StoreError::Unknown(error.into().into())
}

fn corrupt(what: &str, error: impl std::fmt::Display) -> StoreError {
    StoreError::Unknown(anyhow::anyhow!("corrupt {what} record: {error}"))
}

impl OrganizationStore for EmbeddedStore {
    async fn place_new_organization(
        &self,
        _organization: &OrganizationId,
    ) -> Result<Placement, StoreError> {
        Ok(self.placement.clone())
    }

    async fn create_organization(
        &self,
        organization: &Organization,
        founder: Founder<'_>,
    ) -> Result<(), CreateOrganizationError> {
        let org = OrganizationRecord::from_domain(organization);
        let new_admin = match founder {
            Founder::New(admin) => Some(UserRecord::from_domain(admin)),
            Founder::Existing(_) => None,
        };
        let roster = RosterRecord::from_domain(
            &Roster::founded(organization.id, *founder.id(), organization.created_at),
            0,
        );
        let founder = founder.id().as_uuid().as_u128();
        let slug = organization.slug().clone();
        let created = orgsvc_domain::webhooks::NewEvent::organization_created(organization);
        self.run(move |db| {
            let txn = db.begin_write().map_err(db_err)?;
            {
                let mut slugs = txn.open_table(ORGANIZATION_SLUGS).map_err(db_err)?;
                if slugs.get(slug.as_str()).map_err(db_err)?.is_some() {
                    return Err(CreateOrganizationError::NameTaken { slug });
                }
                slugs.insert(slug.as_str(), org.id).map_err(db_err)?;
                match &new_admin {
                    Some(adm) => {
                        if !users::insert_user(&txn, adm)? {
                            return Err(CreateOrganizationError::EmailTaken {
                                email: adm.email()?,
                            });
                        }
                    }
                    None => {
                        if users::read_user(&txn, founder)?.is_none() {
                            return Err(CreateOrganizationError::FounderGone);
                        }
                    }
                }
                txn.open_table(ORGANIZATIONS)
                    .map_err(db_err)?
                    .insert(org.id, records::to_bytes(&org).as_slice())
                    .map_err(db_err)?;
                rosters::write_roster(&txn, org.id, &roster, None)?;
                outbox::append(&txn, org.id, vec![created])?;
                let name = slug.collection_name();
                let tenant = txn
                    .open_table(tenant_table(name.as_str()))
                    .map_err(db_err)?;
                if !tenant.is_empty().map_err(db_err)? {
                    // Cannot happen while every lifecycle change is one transaction; refuse
                    // rather than hand an old tenant's documents to a new organization.
                    return Err(CreateOrganizationError::Unknown(anyhow::anyhow!(
                        "tenant table {name} already holds documents"
                    )));
                }
            }
            txn.commit().map_err(db_err)?;
            Ok(())
        })
        .await
    }

    async fn find_organization_by_slug(
        &self,
        slug: &Slug,
    ) -> Result<Option<Organization>, StoreError> {
        let slug = slug.clone();
        self.run(move |db| {
            let txn = db.begin_read().map_err(db_err)?;
            tables::lookup(&txn, ORGANIZATION_SLUGS, slug.as_str())?
                .map_or(Ok(None), |id| tables::read_organization(&txn, id))
        })
        .await
    }

    async fn find_organization_by_id(
        &self,
        id: &OrganizationId,
    ) -> Result<Option<Organization>, StoreError> {
        let id = id.as_uuid().as_u128();
        self.run(move |db| {
            let txn = db.begin_read().map_err(db_err)?;
            tables::read_organization(&txn, id)
        })
        .await
    }

    async fn find_user_by_email(&self, email: &EmailAddress) -> Result<Option<User>, StoreError> {
        let email = email.clone();
        self.run(move |db| {
            let txn = db.begin_read().map_err(db_err)?;
            tables::lookup(&txn, USER_EMAILS, email.as_str())?
                .map_or(Ok(None), |id| users::read_user(&txn, id))
        })
        .await
    }

    async fn find_user_by_id(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        let id = id.as_uuid().as_u128();
        self.run(move |db| {
            let txn = db.begin_read().map_err(db_err)?;
            users::read_user(&txn, id)
        })
        .await
    }

    async fn update_organization(
        &self,
        change: &OrganizationChange,
    ) -> Result<Organization, UpdateOrganizationError> {
        let change = change.clone();
        self.run(move |db| {
            let txn = db.begin_write().map_err(db_err)?;
            let updated = tables::apply_change(&txn, &change)?;
            txn.commit().map_err(db_err)?;
            Ok(updated)
        })
        .await
    }

    async fn delete_organization(
        &self,
        id: &OrganizationId,
        request: &DeletionRequest,
    ) -> Result<DeletionRecord, DeleteOrganizationError> {
        let organization = *id;
        let id = id.as_uuid().as_u128();
        let request = request.clone();
        let record = self
            .run(move |db| {
                let txn = db.begin_write().map_err(db_err)?;
                let record = tables::remove_organization(&txn, id, &request, SystemClock.now())?
                    .ok_or(DeleteOrganizationError::NotFound)?;
                txn.commit().map_err(db_err)?;
                Ok::<_, DeleteOrganizationError>(record)
            })
            .await?;
        self.snapshots.forget(&organization);
        Ok(record)
    }

    async fn deletion_record(
        &self,
        id: &DeletionReceiptId,
    ) -> Result<Option<DeletionRecord>, StoreError> {
        let id = *id;
        self.run(move |db| {
            let txn = db.begin_read().map_err(db_err)?;
            deletions::read(&txn, &id, SystemClock.now())
        })
        .await
    }

    async fn revoke_tokens(&self, user: &UserId) -> Result<(), StoreError> {
        let id = user.as_uuid().as_u128();
        self.run(move |db| {
            let txn = db.begin_write().map_err(db_err)?;
            if users::revoke_tokens(&txn, id)? {
                txn.commit().map_err(db_err)?;
            }
            Ok(())
        })
        .await
    }

    async fn count_organizations(&self) -> Result<u64, StoreError> {
        self.run(|db| {
            let txn = db.begin_read().map_err(db_err)?;
            tables::count_organizations(&txn)
        })
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.run(|db| db.begin_read().map(|_| ()).map_err(db_err))
            .await
    }
}

impl EmbeddedStore {
    /// Runs `work` in a write transaction, committed (with whatever other small writes are
    /// queued: group commit) before this returns. `work` may run again in a fresh transaction
    /// (see `writer`), so it must not consume what it captured.
    async fn write<T: Send + 'static>(
        &self,
        work: impl FnMut(&redb::WriteTransaction) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.writer.write(work).await
    }
}
