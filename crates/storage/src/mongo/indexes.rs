//! The master database's indexes, created idempotently at startup (or on first use when the
//! server was not up yet).

use std::time::Duration;

use bson::{doc, Document as BsonDocument};
use mongodb::options::IndexOptions;
use mongodb::{Collection, IndexModel};
use orgsvc_domain::errors::StoreError;

use super::attempts;
use super::errors::{timed, DbError};
use super::MongoStore;

/// How long operation claims are kept: far longer than any operation or lease, so a claim is
/// never forgotten while it can still matter.
const CLAIMS_RETENTION: Duration = Duration::from_secs(24 * 60 * 60);

impl MongoStore {
    /// Deletes claims older than [`CLAIMS_RETENTION`] (the TTL index's job, done by the sweep
    /// on servers without TTL indexes).
    pub(super) async fn forget_old_claims(&self) -> Result<(), StoreError> {
        let retention = i64::try_from(CLAIMS_RETENTION.as_millis()).unwrap_or(i64::MAX);
        let cutoff =
            bson::DateTime::from_millis(bson::DateTime::now().timestamp_millis() - retention);
        timed(
            self.op_timeout(),
            self.inner.claims.delete_many(doc! {"at": {"$lt": cutoff}}),
        )
        .await?;
        Ok(())
    }

    pub(super) async fn create_indexes(&self) -> Result<(), StoreError> {
        let unique = |keys: BsonDocument, name: &str| {
            IndexModel::builder()
                .keys(keys)
                .options(
                    IndexOptions::builder()
                        .unique(true)
                        .name(name.to_owned())
                        .build(),
                )
                .build()
        };
        let limit = self.op_timeout();
        timed(
            limit,
            self.inner
                .organizations
                .create_index(unique(doc! {"slug": 1}, "slug_unique")),
        )
        .await?;
        timed(
            limit,
            self.inner
                .admins
                .create_index(unique(doc! {"email": 1}, "email_unique")),
        )
        .await?;
        // Which organizations a user belongs to (logins, and removing users nobody lists).
        let by_member = IndexModel::builder()
            .keys(doc! {"members.user_id": 1})
            .options(
                IndexOptions::builder()
                    .name("members_user_id".to_owned())
                    .build(),
            )
            .build();
        timed(limit, self.inner.rosters.create_index(by_member)).await?;
        // Finding an organization by its old name while a rename is under way.
        let by_old_slug = IndexModel::builder()
            .keys(doc! {"intent.from_slug": 1})
            .options(
                IndexOptions::builder()
                    .name("intent_from_slug".to_owned())
                    .build(),
            )
            .build();
        timed(limit, self.inner.organizations.create_index(by_old_slug)).await?;
        self.create_expiring_index(&self.inner.claims, CLAIMS_RETENTION)
            .await?;
        // Attempts are only ever read by `_id` (see attempts.rs): no index but the expiry one.
        let attempts = &self.inner.login_attempts;
        let retention = Duration::from_secs(attempts::ATTEMPTS_RETENTION_SECONDS);
        self.create_expiring_index(attempts, retention).await?;
        self.create_audit_indexes().await
    }

    /// An index on `at` that expires documents after `retention` (a TTL index), or, on
    /// servers without TTL indexes (FerretDB 1.x), a plain one: the recovery sweep then deletes
    /// what is older.
    pub(super) async fn create_expiring_index<T: Send + Sync>(
        &self,
        collection: &Collection<T>,
        retention: Duration,
    ) -> Result<(), StoreError> {
        let limit = self.op_timeout();
        let index = |ttl: Option<Duration>| {
            IndexModel::builder()
                .keys(doc! {"at": 1})
                .options(
                    IndexOptions::builder()
                        .name("at".to_owned())
                        .expire_after(ttl)
                        .build(),
                )
                .build()
        };
        match timed(limit, collection.create_index(index(Some(retention)))).await {
            Ok(_) => Ok(()),
            Err(DbError::NotImplemented(_)) => {
                timed(limit, collection.create_index(index(None))).await?;
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }
}
