//! The master database's indexes, created idempotently at startup (or on first use when the
//! server was not up yet), all of a collection's in one `createIndexes`: DocumentDB builds an
//! index on a collection that already exists in the background and answers only when it is
//! done (measured: 2.0 s each, even empty), but builds every index named with the collection's
//! creation at once. Builds get a limit of their own for the same reason, and because MongoDB's
//! build of a new index over a large collection takes as long as the collection is large.

use std::time::Duration;

use bson::{doc, Document as BsonDocument};
use mongodb::options::IndexOptions;
use mongodb::{Collection, IndexModel};
use orgsvc_domain::errors::StoreError;

use super::attempts;
use super::errors::timed;
use super::MongoStore;

/// The least time index builds are given, whatever `operation_timeout_ms` is.
const INDEX_BUILD_LIMIT: Duration = Duration::from_secs(120);

fn index(keys: BsonDocument, name: &str) -> IndexModel {
    IndexModel::builder()
        .keys(keys)
        .options(IndexOptions::builder().name(name.to_owned()).build())
        .build()
}

fn sparse(keys: BsonDocument, name: &str) -> IndexModel {
    let options = IndexOptions::builder()
        .sparse(true)
        .name(name.to_owned())
        .build();
    IndexModel::builder().keys(keys).options(options).build()
}

fn unique(keys: BsonDocument, name: &str) -> IndexModel {
    let options = IndexOptions::builder()
        .unique(true)
        .name(name.to_owned())
        .build();
    IndexModel::builder().keys(keys).options(options).build()
}

/// Unique among the documents that have the field.
fn unique_sparse(keys: BsonDocument, name: &str) -> IndexModel {
    let options = IndexOptions::builder()
        .unique(true)
        .sparse(true)
        .name(name.to_owned())
        .build();
    IndexModel::builder().keys(keys).options(options).build()
}

/// An index on `at` that expires documents after `retention` (a TTL index: the server deletes
/// them, within a minute or so of their time on MongoDB and on DocumentDB).
fn expiring(retention: Duration) -> IndexModel {
    let options = IndexOptions::builder()
        .name("at".to_owned())
        .expire_after(retention)
        .build();
    IndexModel::builder()
        .keys(doc! {"at": 1})
        .options(options)
        .build()
}

/// The keys of an index on the place (collection, database, cluster) at `prefix`.
fn place(prefix: &str) -> BsonDocument {
    doc! {
        format!("{prefix}.collection"): 1,
        format!("{prefix}.database"): 1,
        format!("{prefix}.cluster"): 1,
    }
}

/// A TTL index on `expires_at`: each document goes at the time it names.
fn at_their_time() -> IndexModel {
    let options = IndexOptions::builder()
        .name("expires_at".to_owned())
        .expire_after(Duration::ZERO)
        .build();
    IndexModel::builder()
        .keys(doc! {"expires_at": 1})
        .options(options)
        .build()
}

impl MongoStore {
    pub(super) async fn create_indexes(&self) -> Result<(), StoreError> {
        let counters = Duration::from_secs(attempts::COUNTER_RETENTION_SECONDS);
        let audit =
            Duration::from_secs(u64::from(self.inner.settings.audit_retention_days) * 86_400);
        let inner = &self.inner;
        self.build(
            &inner.organizations,
            [
                unique(doc! {"slug": 1}, "slug_unique"),
                // Finding an organization by its old name while a rename is under way.
                index(doc! {"intent.from_slug": 1}, "intent_from_slug"),
                // `least_loaded` placement counts each cluster's organizations.
                index(doc! {"connection.cluster": 1}, "cluster"),
                // Whether anyone else keeps or moves data in a collection before it is dropped:
                // whole places, since under the database model every collection has one name.
                index(place("connection"), "place"),
                index(place("intent.to"), "intent_to_place"),
                index(place("intent.from"), "intent_from_place"),
                // The recovery sweep's operations whose process stopped renewing them.
                index(doc! {"intent.lease_until": 1}, "intent_lease"),
                // And its exports that stopped reading; only records with a mark are in it.
                sparse(doc! {"export.until": 1}, "export_until"),
            ],
        )
        .await?;
        self.build(&inner.users, [unique(doc! {"email": 1}, "email_unique")])
            .await?;
        // Which organizations a user belongs to (logins, and removing users nobody lists).
        self.build(
            &inner.rosters,
            [index(doc! {"members.user_id": 1}, "members_user_id")],
        )
        .await?;
        // Counters are only ever read by `_id` (the email): no index but the expiry one.
        self.build(&inner.login_counters, [expiring(counters)])
            .await?;
        // One organization's events newest first, by `_id` (a UUIDv7).
        self.build(
            &inner.audit,
            [
                index(doc! {"organization_id": 1, "_id": -1}, "organization_id"),
                expiring(audit),
            ],
        )
        .await?;
        let events = Duration::from_secs(
            u64::try_from(orgsvc_domain::webhooks::EVENT_RETENTION_DAYS).unwrap_or(7) * 86_400,
        );
        // An organization's webhook events in order, and by time (replays since a time).
        self.build(
            &inner.webhook_events,
            [
                unique(doc! {"org": 1, "seq": 1}, "org_seq"),
                index(doc! {"org": 1, "at": 1}, "org_at"),
                expiring(events),
            ],
        )
        .await?;
        // Deletion records and preimages of exports that never closed go at their own time.
        self.build(&inner.deletions, [at_their_time()]).await?;
        self.build(&inner.preimages, [at_their_time()]).await?;
        // Export jobs: one active per organization; claims in the order they fall due; the
        // purge's expired ones; a deleted organization's.
        self.build(
            &inner.exports,
            [
                unique_sparse(doc! {"active_org": 1}, "active_org_unique"),
                index(doc! {"until_ms": 1, "_id": 1}, "until"),
                sparse(doc! {"expires_at_ms": 1}, "expires_at"),
                index(doc! {"organization_id": 1}, "organization_id"),
            ],
        )
        .await?;
        self.build(&inner.export_chunks, [index(doc! {"export": 1}, "export")])
            .await?;
        // The due outboxes, earliest first.
        self.build(&inner.outboxes, [index(doc! {"due_at": 1}, "due_at")])
            .await
    }

    /// Creates `indexes` on `collection` (and the collection, if it is not there yet).
    pub(super) async fn build<T: Send + Sync>(
        &self,
        collection: &Collection<T>,
        indexes: impl IntoIterator<Item = IndexModel>,
    ) -> Result<(), StoreError> {
        let limit = self.op_timeout().max(INDEX_BUILD_LIMIT);
        timed(limit, collection.create_indexes(indexes)).await?;
        Ok(())
    }
}
