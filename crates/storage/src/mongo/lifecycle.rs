//! Create, rename, move and delete as intent-guarded step sequences, and the recovery that
//! finishes them after a crash. Every step is idempotent, so running a sequence again from any
//! point converges on the same end state.

use bson::{doc, Document as BsonDocument};
use futures_util::TryStreamExt as _;
use orgsvc_domain::errors::{
    CreateOrganizationError, DeleteOrganizationError, StoreError, UpdateOrganizationError,
};
use orgsvc_domain::ports::OrganizationChange;
use orgsvc_domain::{Admin, Organization, OrganizationId, OrganizationName};

use super::errors::{timed, DbError};
use super::progress::RunningCopy;
use super::records::{AdminChange, AdminDoc, Intent, IntentOp, Location, OrganizationDoc, Phase};
use super::{MongoStore, RenameMode};

/// Why a move could not proceed.
#[derive(Debug)]
pub(super) enum MoveError {
    /// The target collection holds another organization's data (it is still moving away).
    TargetBusy,
    Store(StoreError),
}

impl<E: Into<StoreError>> From<E> for MoveError {
    fn from(error: E) -> Self {
        Self::Store(error.into())
    }
}

fn expired(intent: &Intent) -> bool {
    intent.lease_until < bson::DateTime::now()
}

fn busy() -> StoreError {
    StoreError::Unavailable(anyhow::anyhow!(
        "another operation on this organization is in progress"
    ))
}

fn to_bson<T: serde::Serialize>(value: &T) -> Result<bson::Bson, StoreError> {
    bson::to_bson(value).map_err(|e| StoreError::Unknown(e.into()))
}

impl MongoStore {
    /// The organization matching `filter` as requests should see it: an expired intent is
    /// recovered first; one being created or deleted does not exist.
    pub(super) async fn visible(
        &self,
        filter: BsonDocument,
    ) -> Result<Option<OrganizationDoc>, StoreError> {
        let limit = self.op_timeout();
        let mut found = timed(limit, self.inner.organizations.find_one(filter.clone())).await?;
        if let Some(organization) = found.take_if(|o| o.intent.as_ref().is_some_and(expired)) {
            self.recover(organization).await?;
            found = timed(limit, self.inner.organizations.find_one(filter)).await?;
        }
        Ok(found.filter(|o| {
            !matches!(
                o.intent.as_ref().map(|i| i.op),
                Some(IntentOp::Create | IntentOp::Delete)
            )
        }))
    }

    /// The organization for a lifecycle change, with its lock held: recovered if an intent
    /// expired, `busy` if another process is working on it.
    async fn settled(&self, id: &str) -> Result<Option<OrganizationDoc>, StoreError> {
        let limit = self.op_timeout();
        let mut found = timed(limit, self.inner.organizations.find_one(doc! {"_id": id})).await?;
        if let Some(organization) = found.take_if(|o| o.intent.as_ref().is_some_and(expired)) {
            self.recover_locked(organization).await?;
            found = timed(limit, self.inner.organizations.find_one(doc! {"_id": id})).await?;
        }
        match found {
            Some(organization) if organization.intent.is_some() => {
                match organization.intent.as_ref().map(|i| i.op) {
                    Some(IntentOp::Create | IntentOp::Delete) => Ok(None),
                    _ => Err(busy()),
                }
            }
            other => Ok(other),
        }
    }

    pub(super) async fn create(
        &self,
        organization: &Organization,
        admin: &Admin,
    ) -> Result<(), CreateOrganizationError> {
        let record = OrganizationDoc::new(organization, self.new_intent(IntentOp::Create));
        let _guard = self.lock(&record.id).write().await;
        let location = record.connection.clone();
        self.database(&location).map_err(StoreError::from)?;
        match timed(
            self.op_timeout(),
            self.inner.organizations.insert_one(&record),
        )
        .await
        {
            Ok(_) => {}
            Err(DbError::Duplicate) => {
                return Err(CreateOrganizationError::NameTaken {
                    slug: organization.slug().clone(),
                })
            }
            Err(e) => return Err(StoreError::from(e).into()),
        }
        let mut created_collection = false;
        let outcome = async {
            match self.create_tenant_collection(&location).await {
                Ok(()) => created_collection = true,
                // The collection of an organization that is being renamed away from this slug.
                Err(DbError::NamespaceExists) => {
                    return Err(CreateOrganizationError::NameTaken {
                        slug: organization.slug().clone(),
                    })
                }
                Err(e) => return Err(StoreError::from(e).into()),
            }
            let admin_record = AdminDoc::from_domain(admin);
            match timed(
                self.op_timeout(),
                self.inner.admins.insert_one(&admin_record),
            )
            .await
            {
                Ok(_) => Ok(()),
                Err(DbError::Duplicate) => Err(CreateOrganizationError::EmailTaken {
                    email: admin.email.clone(),
                }),
                Err(e) => Err(StoreError::from(e).into()),
            }
        }
        .await;
        match outcome {
            Ok(()) => {
                self.clear_intent(&record.id).await?;
                Ok(())
            }
            Err(error) => {
                if let Err(undo) = self.undo_create(&record, created_collection).await {
                    // The intent stays; recovery finishes the undo once its lease expires.
                    tracing::warn!(organization = %record.id, error = ?undo, "undoing a failed create failed");
                }
                Err(error)
            }
        }
    }

    /// Removes whatever a create left. The collection is dropped only when this create made
    /// it, or (after a crash, when nobody knows) when no other organization uses it.
    async fn undo_create(
        &self,
        record: &OrganizationDoc,
        created_collection: bool,
    ) -> Result<(), StoreError> {
        let drop =
            created_collection || !self.used_by_another(&record.connection, &record.id).await?;
        self.remove_organization(record, drop).await
    }

    pub(super) async fn update(
        &self,
        change: &OrganizationChange,
    ) -> Result<Organization, UpdateOrganizationError> {
        let id = change.organization_id.to_string();
        let admin_id = change.admin_id.to_string();
        let limit = self.op_timeout();
        let _guard = self.lock(&id).write().await;
        let organization = self
            .settled(&id)
            .await?
            .ok_or(UpdateOrganizationError::NotFound)?;
        let admin = timed(
            limit,
            self.inner
                .admins
                .find_one(doc! {"_id": &admin_id, "organization_id": &id}),
        )
        .await
        .map_err(StoreError::from)?
        .ok_or(UpdateOrganizationError::NotFound)?;
        let email = change.email.as_ref().filter(|e| e.as_str() != admin.email);
        if let Some(email) = email {
            let holder = timed(
                limit,
                self.inner.admins.find_one(doc! {"email": email.as_str()}),
            )
            .await
            .map_err(StoreError::from)?;
            if holder.is_some() {
                return Err(UpdateOrganizationError::EmailTaken {
                    email: email.clone(),
                });
            }
        }
        let credentials_change = email.is_some() || change.password_hash.is_some();
        let admin_change = AdminChange {
            admin_id,
            email: email.map(|e| e.as_str().to_owned()),
            password_hash: change.password_hash.as_ref().map(|h| h.as_phc().to_owned()),
            token_version: credentials_change.then_some(admin.token_version + 1),
        };
        let email_taken = || UpdateOrganizationError::EmailTaken {
            email: change
                .email
                .clone()
                .expect("only an email change can collide"),
        };
        let updated_at = bson::DateTime::from_chrono(change.updated_at);
        let new_slug = change.name.slug();

        if new_slug.as_str() == organization.slug {
            match self.apply_admin_change(&admin_change).await {
                Err(DbError::Duplicate) => return Err(email_taken()),
                other => other.map_err(StoreError::from)?,
            }
            timed(
                limit,
                self.inner.organizations.update_one(
                    doc! {"_id": &id},
                    doc! {"$set": {"name": change.name.as_str(), "updated_at": updated_at}},
                ),
            )
            .await
            .map_err(StoreError::from)?;
        } else {
            let mut intent = self.new_intent(IntentOp::Rename);
            intent.from = Some(organization.connection.clone());
            intent.to = Some(Location {
                collection: new_slug.collection_name().as_str().to_owned(),
                ..organization.connection.clone()
            });
            intent.new_name = Some(change.name.as_str().to_owned());
            intent.admin = Some(admin_change.clone());
            intent.updated_at = Some(updated_at);
            // Taking the new slug and recording the intent is one atomic update.
            let claimed = timed(
                limit,
                self.inner.organizations.update_one(
                    doc! {"_id": &id, "intent": {"$exists": false}},
                    doc! {"$set": {"slug": new_slug.as_str(), "intent": to_bson(&intent)?}},
                ),
            )
            .await;
            match claimed {
                Err(DbError::Duplicate) => {
                    return Err(UpdateOrganizationError::NameTaken {
                        slug: new_slug.clone(),
                    })
                }
                Err(e) => return Err(StoreError::from(e).into()),
                Ok(result) if result.matched_count == 0 => return Err(busy().into()),
                Ok(_) => {}
            }
            // The admin change goes first, so a taken email cancels the rename before any
            // document moves.
            if let Err(error) = self.apply_admin_change(&admin_change).await {
                self.abandon_rename(&id, &organization.slug).await?;
                return Err(match error {
                    DbError::Duplicate => email_taken(),
                    other => StoreError::from(other).into(),
                });
            }
            let record = timed(limit, self.inner.organizations.find_one(doc! {"_id": &id}))
                .await
                .map_err(StoreError::from)?
                .ok_or(UpdateOrganizationError::NotFound)?;
            match self.finish_move(record).await {
                Ok(()) => {}
                Err(MoveError::TargetBusy) => {
                    // All or nothing: the admin's credentials go back first. A crash between
                    // the two leaves the intent, and recovery then completes the whole rename.
                    self.restore_admin(&admin).await?;
                    self.abandon_rename(&id, &organization.slug).await?;
                    return Err(UpdateOrganizationError::NameTaken {
                        slug: new_slug.clone(),
                    });
                }
                Err(MoveError::Store(e)) => return Err(e.into()),
            }
        }
        let record = timed(limit, self.inner.organizations.find_one(doc! {"_id": &id}))
            .await
            .map_err(StoreError::from)?
            .ok_or(UpdateOrganizationError::NotFound)?;
        Ok(self.assemble(record).await?)
    }

    /// Puts an admin's credentials back as they were read before a change.
    async fn restore_admin(&self, before: &AdminDoc) -> Result<(), StoreError> {
        timed(
            self.op_timeout(),
            self.inner.admins.update_one(
                doc! {"_id": &before.id},
                doc! {"$set": {
                    "email": &before.email,
                    "password_hash": &before.password_hash,
                    "token_version": before.token_version,
                }},
            ),
        )
        .await?;
        Ok(())
    }

    /// Gives up a rename before any document moved: back to the old slug, intent removed. The
    /// caller has put back the admin's credentials if they were changed.
    async fn abandon_rename(&self, id: &str, old_slug: &str) -> Result<(), StoreError> {
        timed(
            self.op_timeout(),
            self.inner.organizations.update_one(
                doc! {"_id": id, "intent.owner": &self.inner.owner},
                doc! {"$set": {"slug": old_slug}, "$unset": {"intent": ""}},
            ),
        )
        .await?;
        Ok(())
    }

    async fn apply_admin_change(&self, change: &AdminChange) -> Result<(), DbError> {
        let mut set = BsonDocument::new();
        if let Some(email) = &change.email {
            set.insert("email", email);
        }
        if let Some(hash) = &change.password_hash {
            set.insert("password_hash", hash);
        }
        if set.is_empty() {
            return Ok(());
        }
        let mut update = doc! {"$set": set};
        if let Some(version) = change.token_version {
            update.insert("$max", doc! {"token_version": version});
        }
        timed(
            self.op_timeout(),
            self.inner
                .admins
                .update_one(doc! {"_id": &change.admin_id}, update),
        )
        .await
        .map(|_| ())
    }

    /// Moves an organization's collection to another cluster (an operator's action), copying
    /// it while the service keeps serving reads.
    ///
    /// # Errors
    /// When the organization or cluster does not exist, the target is in use, or the database
    /// fails; an interrupted move is finished by recovery.
    pub async fn move_organization(
        &self,
        name: &OrganizationName,
        cluster: &str,
    ) -> Result<Location, StoreError> {
        self.ensure_ready().await?;
        if !self.inner.clients.contains_key(cluster) {
            return Err(StoreError::Unknown(anyhow::anyhow!(
                "cluster {cluster} is not configured"
            )));
        }
        let limit = self.op_timeout();
        let found = timed(
            limit,
            self.inner
                .organizations
                .find_one(doc! {"slug": name.slug().as_str()}),
        )
        .await?;
        let id = found
            .map(|o| o.id)
            .ok_or_else(|| StoreError::Unknown(anyhow::anyhow!("no organization named {name}")))?;
        let _guard = self.lock(&id).write().await;
        let organization = self
            .settled(&id)
            .await?
            .ok_or_else(|| StoreError::Unknown(anyhow::anyhow!("no organization named {name}")))?;
        let to = Location {
            cluster: cluster.to_owned(),
            database: self.inner.settings.tenant_database.clone(),
            collection: organization.connection.collection.clone(),
        };
        if to == organization.connection {
            return Ok(to);
        }
        let mut intent = self.new_intent(IntentOp::Move);
        intent.from = Some(organization.connection.clone());
        intent.to = Some(to.clone());
        let claimed = timed(
            limit,
            self.inner.organizations.update_one(
                doc! {"_id": &id, "intent": {"$exists": false}},
                doc! {"$set": {"intent": to_bson(&intent)?}},
            ),
        )
        .await?;
        if claimed.matched_count == 0 {
            return Err(busy());
        }
        let record = timed(limit, self.inner.organizations.find_one(doc! {"_id": &id}))
            .await?
            .ok_or_else(|| StoreError::Unknown(anyhow::anyhow!("organization vanished")))?;
        match self.finish_move(record).await {
            Ok(()) => Ok(to),
            Err(MoveError::TargetBusy) => Err(StoreError::Unknown(anyhow::anyhow!(
                "the target collection {}.{} on {} is in use",
                to.database,
                to.collection,
                to.cluster
            ))),
            Err(MoveError::Store(e)) => Err(e),
        }
    }

    /// Carries a rename or move from wherever it stands to its end: data at `to`, metadata
    /// pointing there, source dropped, intent gone. The caller holds the lock and owns the intent.
    pub(super) async fn finish_move(&self, record: OrganizationDoc) -> Result<(), MoveError> {
        let intent = record
            .intent
            .clone()
            .ok_or_else(|| StoreError::Unknown(anyhow::anyhow!("no intent to finish")))?;
        let (Some(from), Some(to)) = (intent.from.clone(), intent.to.clone()) else {
            return Err(
                StoreError::Unknown(anyhow::anyhow!("move intent without locations")).into(),
            );
        };
        let limit = self.op_timeout();
        if intent.phase != Phase::Switched {
            if let Some(change) = &intent.admin {
                // Re-applying is harmless; an email taken since the crash is skipped.
                if let Err(e) = self.apply_admin_change(change).await {
                    match e {
                        DbError::Duplicate => {
                            tracing::warn!(organization = %record.id, "email change skipped: taken meanwhile")
                        }
                        other => return Err(other.into()),
                    }
                }
            }
            if self.renames_in_place(&intent) {
                self.rename_collection(&record, &intent, &from, &to).await?;
            } else {
                self.copy_collection(&record, &intent, &from, &to).await?;
            }
            let mut set =
                doc! {"connection": to_bson(&to)?, "intent.phase": to_bson(&Phase::Switched)?};
            if let Some(name) = &intent.new_name {
                set.insert("name", name);
            }
            if let Some(at) = intent.updated_at {
                set.insert("updated_at", at);
            }
            self.update_owned(&record.id, set).await?;
        }
        if from != to {
            self.drop_collection(&from).await?;
        }
        timed(
            limit,
            self.inner.organizations.update_one(
                doc! {"_id": &record.id, "intent.owner": &self.inner.owner},
                doc! {"$unset": {"intent": ""}},
            ),
        )
        .await?;
        Ok(())
    }

    /// Whether `intent` moves its collection with one server-side renameCollection (within a
    /// database, `rename = "auto"`) rather than by copying: then the data changes place at one
    /// instant that nobody records, and the source is empty afterwards.
    pub(super) fn renames_in_place(&self, intent: &Intent) -> bool {
        match (&intent.from, &intent.to) {
            (Some(from), Some(to)) => {
                from.cluster == to.cluster
                    && from.database == to.database
                    && self.inner.settings.rename == RenameMode::Auto
            }
            _ => false,
        }
    }

    /// `$set`s fields on an organization whose intent this process owns; losing the claim
    /// (another process recovered it meanwhile) stops the operation.
    async fn update_owned(&self, id: &str, mut set: BsonDocument) -> Result<(), StoreError> {
        set.insert("intent.lease_until", self.lease_until());
        let result = timed(
            self.op_timeout(),
            self.inner.organizations.update_one(
                doc! {"_id": id, "intent.owner": &self.inner.owner},
                doc! {"$set": set},
            ),
        )
        .await?;
        if result.matched_count == 0 {
            return Err(StoreError::Unavailable(anyhow::anyhow!(
                "lost the claim on organization {id}'s operation"
            )));
        }
        Ok(())
    }

    /// One server-side step within a database. Re-running after it happened is a no-op.
    async fn rename_collection(
        &self,
        record: &OrganizationDoc,
        intent: &Intent,
        from: &Location,
        to: &Location,
    ) -> Result<(), MoveError> {
        let command = doc! {
            "renameCollection": format!("{}.{}", from.database, from.collection),
            "to": format!("{}.{}", to.database, to.collection),
        };
        let admin = self.database(&Location {
            database: "admin".into(),
            ..from.clone()
        })?;
        match timed(self.op_timeout(), admin.run_command(command)).await {
            Ok(_) => Ok(()),
            Err(DbError::NamespaceNotFound) => {
                // Renamed before a crash (or the source never got created): make sure the
                // target exists and carry on.
                match self.create_tenant_collection(to).await {
                    Ok(()) | Err(DbError::NamespaceExists) => Ok(()),
                    Err(e) => Err(e.into()),
                }
            }
            Err(DbError::NamespaceExists) => {
                if self.used_by_another(to, &record.id).await? {
                    return Err(MoveError::TargetBusy);
                }
                // A target left by an earlier attempt: merge into it by copying.
                self.copy_collection(record, intent, from, to).await
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Copies `from` into `to` in `_id` order, batch by batch, recording progress in the intent
    /// so a restart resumes where it stopped. Inserting by `_id` makes a repeated batch harmless.
    async fn copy_collection(
        &self,
        record: &OrganizationDoc,
        intent: &Intent,
        from: &Location,
        to: &Location,
    ) -> Result<(), MoveError> {
        let limit = self.op_timeout();
        if intent.phase == Phase::Started {
            // Writes that other processes began before they could see the intent finish
            // within one operation timeout; only then is the source complete.
            tokio::time::sleep(limit).await;
            self.update_owned(&record.id, doc! {"intent.phase": to_bson(&Phase::Copying)?})
                .await?;
        }
        match self.create_tenant_collection(to).await {
            Ok(()) => {}
            Err(DbError::NamespaceExists) => {
                if self.used_by_another(to, &record.id).await? {
                    return Err(MoveError::TargetBusy);
                }
            }
            Err(e) => return Err(e.into()),
        }
        let source = self.collection(from)?;
        let target = self.collection(to)?;
        let batch_size = self.inner.settings.copy_batch_size.max(1);
        // One sorted cursor for the whole copy (a query per batch would sort again each time
        // on servers that do not walk the _id index); progress is still saved per batch.
        let filter = intent
            .copied_until
            .as_ref()
            .map_or_else(BsonDocument::new, |after| doc! {"_id": {"$gt": after}});
        let remaining = timed(limit, source.count_documents(filter.clone())).await?;
        let mut progress = RunningCopy::start(&self.inner.copies, intent.op, &record.id, remaining);
        let mut cursor = timed(
            limit,
            source
                .find(filter)
                .sort(doc! {"_id": 1})
                .batch_size(u32::try_from(batch_size).unwrap_or(u32::MAX)),
        )
        .await?;
        loop {
            let batch: Vec<BsonDocument> = timed(limit, async {
                let mut batch = Vec::with_capacity(batch_size);
                while batch.len() < batch_size {
                    match cursor.try_next().await? {
                        Some(document) => batch.push(document),
                        None => break,
                    }
                }
                Ok(batch)
            })
            .await?;
            let Some(last) = batch
                .last()
                .and_then(|d| d.get_str("_id").ok())
                .map(str::to_owned)
            else {
                break;
            };
            let documents = batch.len() as u64;
            match timed(limit, target.insert_many(batch).ordered(false)).await {
                Ok(_) | Err(DbError::Duplicate) => {}
                Err(e) => return Err(e.into()),
            }
            progress.copied(documents);
            self.update_owned(&record.id, doc! {"intent.copied_until": &last})
                .await?;
        }
        let copied = timed(limit, target.count_documents(doc! {})).await?;
        let original = timed(limit, source.count_documents(doc! {})).await?;
        if copied != original {
            return Err(StoreError::Unknown(anyhow::anyhow!(
                "copy of {}.{} has {copied} documents, the source {original}",
                from.database,
                from.collection
            ))
            .into());
        }
        Ok(())
    }

    pub(super) async fn delete(&self, id: &OrganizationId) -> Result<(), DeleteOrganizationError> {
        let id = id.to_string();
        let _guard = self.lock(&id).write().await;
        self.settled(&id)
            .await?
            .ok_or(DeleteOrganizationError::NotFound)?;
        let intent = self.new_intent(IntentOp::Delete);
        let claimed = timed(
            self.op_timeout(),
            self.inner.organizations.update_one(
                doc! {"_id": &id, "intent": {"$exists": false}},
                doc! {"$set": {"intent": to_bson(&intent)?}},
            ),
        )
        .await
        .map_err(StoreError::from)?;
        if claimed.matched_count == 0 {
            return Err(DeleteOrganizationError::NotFound);
        }
        let record = timed(
            self.op_timeout(),
            self.inner.organizations.find_one(doc! {"_id": &id}),
        )
        .await
        .map_err(StoreError::from)?
        .ok_or(DeleteOrganizationError::NotFound)?;
        self.finish_delete(&record).await?;
        Ok(())
    }

    async fn finish_delete(&self, record: &OrganizationDoc) -> Result<(), StoreError> {
        self.remove_organization(record, true).await
    }

    /// Admins first (so nobody logs in to a half-removed organization), then the collection if
    /// asked, then the record that held the intent (this process's, so the filter names it).
    async fn remove_organization(
        &self,
        record: &OrganizationDoc,
        drop_collection: bool,
    ) -> Result<(), StoreError> {
        let limit = self.op_timeout();
        timed(
            limit,
            self.inner
                .admins
                .delete_many(doc! {"organization_id": &record.id}),
        )
        .await?;
        if drop_collection {
            self.drop_collection(&record.connection).await?;
        }
        timed(
            limit,
            self.inner
                .organizations
                .delete_one(doc! {"_id": &record.id, "intent.owner": &self.inner.owner}),
        )
        .await?;
        Ok(())
    }

    async fn clear_intent(&self, id: &str) -> Result<(), StoreError> {
        timed(
            self.op_timeout(),
            self.inner.organizations.update_one(
                doc! {"_id": id, "intent.owner": &self.inner.owner},
                doc! {"$unset": {"intent": ""}},
            ),
        )
        .await?;
        Ok(())
    }

    /// Whether an organization other than `except` keeps data at `location`, or is moving there.
    async fn used_by_another(&self, location: &Location, except: &str) -> Result<bool, StoreError> {
        let at = |prefix: &str| {
            doc! {
                format!("{prefix}.cluster"): &location.cluster,
                format!("{prefix}.database"): &location.database,
                format!("{prefix}.collection"): &location.collection,
            }
        };
        let filter = doc! {
            "_id": {"$ne": except},
            "$or": [at("connection"), at("intent.to"), at("intent.from")],
        };
        let count = timed(
            self.op_timeout(),
            self.inner.organizations.count_documents(filter),
        )
        .await?;
        Ok(count > 0)
    }

    pub(super) async fn create_tenant_collection(
        &self,
        location: &Location,
    ) -> Result<(), DbError> {
        use std::sync::atomic::Ordering;
        let database = self.database(location)?;
        let limit = self.op_timeout();
        if self.inner.validators.load(Ordering::Relaxed) {
            let schema = doc! {"$jsonSchema": {
                "bsonType": "object",
                "required": ["_id"],
                "properties": {"_id": {"bsonType": "string", "description": "a UUID assigned by orgsvc"}},
            }};
            match timed(
                limit,
                database
                    .create_collection(&location.collection)
                    .validator(schema),
            )
            .await
            {
                Ok(()) => return Ok(()),
                Err(DbError::Other(e) | DbError::NotImplemented(e)) => {
                    // FerretDB (and some hosted servers) have no schema validation.
                    tracing::info!(error = %e, "creating collections without a JSON schema validator");
                    self.inner.validators.store(false, Ordering::Relaxed);
                }
                Err(e) => return Err(e),
            }
        }
        timed(limit, database.create_collection(&location.collection)).await
    }

    async fn drop_collection(&self, location: &Location) -> Result<(), StoreError> {
        match timed(self.op_timeout(), self.collection(location)?.drop()).await {
            Ok(()) | Err(DbError::NamespaceNotFound) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Finishes (or for a create, undoes) an interrupted operation, taking the lock.
    pub(super) async fn recover(&self, record: OrganizationDoc) -> Result<(), StoreError> {
        let _guard = self.lock(&record.id).write().await;
        self.recover_locked(record).await
    }

    async fn recover_locked(&self, record: OrganizationDoc) -> Result<(), StoreError> {
        let Some(stale) = &record.intent else {
            return Ok(());
        };
        // Claim it: only one process may finish it, and only if nobody renewed it meanwhile.
        let claimed = timed(
            self.op_timeout(),
            self.inner.organizations.find_one_and_update(
                doc! {"_id": &record.id, "intent.owner": &stale.owner, "intent.lease_until": stale.lease_until},
                doc! {"$set": {"intent.owner": &self.inner.owner, "intent.lease_until": self.lease_until()}},
            )
            .return_document(mongodb::options::ReturnDocument::After),
        )
        .await?;
        let Some(claimed) = claimed else {
            return Ok(());
        };
        tracing::warn!(organization = %record.id, op = ?stale.op, phase = ?stale.phase, "recovering an interrupted operation");
        match stale.op {
            IntentOp::Create => self.undo_create(&claimed, false).await,
            IntentOp::Delete => self.finish_delete(&claimed).await,
            IntentOp::Rename | IntentOp::Move => match self.finish_move(claimed).await {
                Ok(()) => Ok(()),
                // Left for a later attempt: the other organization is still moving away.
                Err(MoveError::TargetBusy) => Err(busy()),
                Err(MoveError::Store(e)) => Err(e),
            },
        }
    }

    /// Recovers every operation whose owner stopped renewing it (run once at startup).
    pub(super) async fn recover_expired(&self) -> Result<(), StoreError> {
        let filter = doc! {"intent": {"$exists": true}, "intent.lease_until": {"$lt": bson::DateTime::now()}};
        let stale: Vec<OrganizationDoc> = timed(self.op_timeout(), async {
            self.inner
                .organizations
                .find(filter)
                .await?
                .try_collect()
                .await
        })
        .await?;
        for record in stale {
            self.recover(record).await?;
        }
        Ok(())
    }
}
