//! Create, rename, move and delete as requests and the operator start them, and how requests
//! find organizations while operations are under way. Each operation is a state machine
//! ([`machine`]) run by the executor; this is where it begins and how its end is answered.

use std::time::{Duration, Instant};

use bson::doc;
use futures_util::TryStreamExt as _;
use orgsvc_domain::deletion::{DeletionRecord, DeletionRequest};
use orgsvc_domain::errors::{
    CreateOrganizationError, DeleteOrganizationError, StoreError, UpdateOrganizationError,
};
use orgsvc_domain::ports::{Founder, OrganizationChange};
use orgsvc_domain::webhooks::NewEvent;
use orgsvc_domain::{CollectionName, Organization, OrganizationId, OrganizationName, TenancyModel};

use super::claims::BeginError;
use super::deletions::DeletionProgress;
use super::errors::{timed, DbError};
use super::executor::{admin_update, busy, to_bson, Ended, Live};
use super::machine::found_by_slug;
use super::records::{AdminChange, Intent, Location, Operation, OrganizationDoc, Phase};
use super::renamer::{GuardedUpdate, RenameFailure, Renamed};
use super::tenancy::renamed;
use super::MongoStore;

/// The operation is recorded and will be finished (by this process when the database answers
/// again, or by another one), but it was not over when the request had to be answered.
fn pending(what: &str) -> StoreError {
    StoreError::Pending(anyhow::anyhow!(
        "the {what} is recorded and finishes as soon as the database answers"
    ))
}

fn expired(intent: &Intent) -> bool {
    intent.lease_until < bson::DateTime::now()
}

/// Whether `record` holds an operation whose process stopped renewing it.
fn abandoned(record: &OrganizationDoc) -> bool {
    record.intent.as_ref().is_some_and(expired)
}

impl MongoStore {
    /// How long a request waits for its operation before answering "accepted": two operation
    /// timeouts, enough for a step to fail on a dead connection and be retried on a new one.
    fn request_wait(&self) -> Duration {
        self.op_timeout() * 2
    }

    pub(super) fn new_intent(&self, operation: Operation) -> Intent {
        Intent {
            operation,
            phase: Phase::Started,
            owner: self.inner.owner.clone(),
            lease_until: self.lease_until(),
        }
    }

    // ---- Reading records for requests and for operations ----

    /// The record with this `_id`, an expired operation on it recovered first where that can
    /// be done now (see [`Self::try_recover`]).
    pub(super) async fn current(&self, id: &str) -> Result<Option<OrganizationDoc>, StoreError> {
        let limit = self.op_timeout();
        let mut found = timed(limit, self.inner.organizations.find_one(doc! {"_id": id})).await?;
        if let Some(organization) = found.take_if(|o| abandoned(o)) {
            self.try_recover(organization).await;
            found = timed(limit, self.inner.organizations.find_one(doc! {"_id": id})).await?;
        }
        Ok(found)
    }

    /// Recovers an operation whose process's lease ran out. One that cannot be finished now
    /// is left to the next request or the sweep, and its record (read again by the caller,
    /// since a recovery may have taken steps before it stopped) is answered as for an
    /// operation under way: readers find the organization where the phase says, writers are
    /// told to come back. The usual cause is the dead process's own transaction, which keeps
    /// the record locked until the server aborts it (MongoDB: `transactionLifetimeLimitSeconds`,
    /// 60 s; DocumentDB: `TransactionTimeoutSecs`, 30 s, reaped within half as long again);
    /// failing reads for that long would turn one crash into a minute of 503s.
    async fn try_recover(&self, record: OrganizationDoc) {
        let id = record.id.clone();
        if let Err(e) = self.recover(record).await {
            tracing::warn!(organization = %id, error = ?e,
                "an interrupted operation could not be recovered now; retried by the next request");
        }
    }

    /// The organization with this id as requests see it: none while it is created or deleted.
    pub(super) async fn visible_by_id(
        &self,
        id: &str,
    ) -> Result<Option<OrganizationDoc>, StoreError> {
        Ok(self.current(id).await?.filter(|o| {
            !matches!(
                o.intent.as_ref().map(|i| &i.operation),
                Some(Operation::Create | Operation::Delete)
            )
        }))
    }

    /// The organization known by `slug` (see [`machine::found_by_slug`]).
    pub(super) async fn visible_by_slug(
        &self,
        slug: &str,
    ) -> Result<Option<OrganizationDoc>, StoreError> {
        let mut found = self.records_by_slug(slug).await?;
        let stale: Vec<_> = found.iter().filter(|o| abandoned(o)).cloned().collect();
        if !stale.is_empty() {
            for organization in stale {
                self.try_recover(organization).await;
            }
            found = self.records_by_slug(slug).await?;
        }
        Ok(found.into_iter().find(|o| found_by_slug(o, slug)))
    }

    /// The records that hold `slug` as their name or as the old name of a rename in progress.
    /// Two indexed lookups rather than one `$or`: MongoDB answers that `$or` from both indexes,
    /// but DocumentDB plans it as a scan of every organization (10 ms with 10,000 of them,
    /// against 0.1 ms). The name first: a rename claimed in between moves `slug` to the old
    /// name, where the second lookup finds it; if that rename also switched meanwhile, the name
    /// was given up during this lookup and not finding it is right.
    async fn records_by_slug(&self, slug: &str) -> Result<Vec<OrganizationDoc>, StoreError> {
        let find = |filter| async {
            timed(self.op_timeout(), async {
                self.inner
                    .organizations
                    .find(filter)
                    .limit(4)
                    .await?
                    .try_collect::<Vec<_>>()
                    .await
            })
            .await
        };
        let mut found = find(doc! {"slug": slug}).await?;
        let settled = found
            .iter()
            .any(|o| found_by_slug(o, slug) && !abandoned(o));
        if !settled {
            for renaming in find(doc! {"intent.from_slug": slug}).await? {
                if found.iter().all(|o| o.id != renaming.id) {
                    found.push(renaming);
                }
            }
        }
        Ok(found)
    }

    /// Whether the record holding `slug`, which a create found taken, gives it back. A create
    /// or delete in progress decides that when it ends (recovered here once its process's
    /// lease ran out), so a create retried after a crash is never told "taken" for a name
    /// whose interrupted create recovery then undoes. `busy` when still undecided at
    /// `deadline`.
    async fn slug_given_back(&self, slug: &str, deadline: Instant) -> Result<bool, StoreError> {
        let mut pause = Duration::from_millis(20);
        loop {
            let find = self.inner.organizations.find_one(doc! {"slug": slug});
            let Some(holder) = timed(self.op_timeout(), find).await? else {
                return Ok(true);
            };
            match &holder.intent {
                Some(intent)
                    if matches!(intent.operation, Operation::Create | Operation::Delete) =>
                {
                    if expired(intent) {
                        self.recover(holder).await?;
                        continue;
                    }
                }
                _ => return Ok(false),
            }
            if Instant::now() + pause > deadline {
                return Err(busy());
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(500));
        }
    }

    /// The organization for a lifecycle change: `busy` while another operation holds it.
    async fn settled(&self, id: &str) -> Result<Option<OrganizationDoc>, StoreError> {
        match self.current(id).await? {
            Some(organization) => match organization.intent.as_ref().map(|i| &i.operation) {
                None => Ok(Some(organization)),
                Some(Operation::Create | Operation::Delete) => Ok(None),
                Some(_) => Err(busy()),
            },
            None => Ok(None),
        }
    }

    // ---- The operations ----

    pub(super) async fn create(
        &self,
        organization: &Organization,
        founder: Founder<'_>,
    ) -> Result<(), CreateOrganizationError> {
        let placement = &organization.placement;
        let location = self.new_location(
            &organization.id,
            organization.collection_name().as_str(),
            &placement.cluster,
            placement.model,
        );
        let record = OrganizationDoc::new(
            organization,
            location.clone(),
            self.new_intent(Operation::Create),
        );
        self.database(&location).map_err(StoreError::from)?;
        let taken = || CreateOrganizationError::NameTaken {
            slug: organization.slug().clone(),
        };
        let deadline = Instant::now() + self.request_wait();
        loop {
            let insert = self.inner.organizations.insert_one(&record);
            match timed(self.op_timeout(), insert).await {
                Ok(_) => break,
                // Given back, then taken again by another create meanwhile: that one is
                // waited for in turn, within the same deadline.
                Err(DbError::Duplicate) if Instant::now() < deadline => {
                    if !self
                        .slug_given_back(organization.slug().as_str(), deadline)
                        .await?
                    {
                        return Err(taken());
                    }
                }
                Err(DbError::Duplicate) => return Err(busy().into()),
                Err(e) => return Err(StoreError::from(e).into()),
            }
        }
        let outcome = async {
            // Taken: the collection of an organization renaming away from this slug.
            if !self.prepare_tenant(&location, &record.id).await? {
                return Err(taken());
            }
            self.found(organization, founder, &record.id).await
        }
        .await;
        if outcome.is_err() {
            // Undone before the answer when the database lets us; otherwise as soon as it
            // answers again. Either way the organization was never visible.
            if let Err(undo) = self
                .drive(record, Live::default(), Some(self.request_wait()))
                .await
            {
                tracing::warn!(error = ?undo, "undoing a failed create failed; recovery will");
            }
        }
        outcome
    }

    pub(super) async fn update(
        &self,
        change: &OrganizationChange,
    ) -> Result<Organization, UpdateOrganizationError> {
        let id = change.organization_id.to_string();
        let admin_id = change.user_id.to_string();
        let limit = self.op_timeout();
        let organization = self
            .settled(&id)
            .await?
            .ok_or(UpdateOrganizationError::NotFound)?;
        let member = self
            .roster_doc(&id)
            .await?
            .is_some_and(|r| r.record.user_ids().any(|u| u == admin_id));
        let admin = timed(limit, self.inner.users.find_one(doc! {"_id": &admin_id}))
            .await
            .map_err(StoreError::from)?
            .filter(|_| member)
            .ok_or(UpdateOrganizationError::NotFound)?;
        let email = change.email.as_ref().filter(|e| e.as_str() != admin.email);
        if let Some(email) = email {
            let holder = timed(
                limit,
                self.inner.users.find_one(doc! {"email": email.as_str()}),
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
            previous_email: email.map(|_| admin.email.clone()),
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
            // Another spelling of the same name, and the caller's credentials, together.
            let respelled = change.name.as_str() != organization.name;
            let written = self
                .update_record_guarded(GuardedUpdate {
                    organization: &id,
                    renamer: respelled.then_some(admin_change.admin_id.as_str()),
                    filter: doc! {"_id": &id},
                    update: doc! {"$set": {"name": change.name.as_str(), "updated_at": updated_at}},
                    admin: admin_update(&admin_change).map(|u| (admin_change.admin_id.as_str(), u)),
                    events: if respelled {
                        vec![NewEvent::organization_renamed(
                            &organization.name,
                            change.name.as_str(),
                        )]
                    } else {
                        Vec::new()
                    },
                })
                .await;
            match written {
                Ok(Renamed::Matched(_)) => {}
                Ok(Renamed::NotAllowed) => return Err(UpdateOrganizationError::Forbidden),
                Err(RenameFailure::Duplicate) => return Err(email_taken()),
                Err(RenameFailure::Store(e)) => return Err(e.into()),
            }
        } else {
            let operation = Operation::Rename {
                from: organization.connection.clone(),
                to: renamed(
                    &organization.connection,
                    new_slug.collection_name().as_str(),
                ),
                from_slug: Some(organization.slug.clone()),
                new_name: change.name.as_str().to_owned(),
                admin: credentials_change.then_some(admin_change),
                updated_at: Some(updated_at),
                copied_until: None,
            };
            let started = match self
                .begin(
                    &organization,
                    operation,
                    doc! {"slug": new_slug.as_str()},
                    Some(&change.user_id.to_string()),
                )
                .await
            {
                Ok(started) => started,
                Err(BeginError::SlugTaken) => {
                    return Err(UpdateOrganizationError::NameTaken {
                        slug: new_slug.clone(),
                    })
                }
                Err(BeginError::NotAllowed) => return Err(UpdateOrganizationError::Forbidden),
                Err(BeginError::Busy) => return Err(busy().into()),
                Err(BeginError::Store(e)) => return Err(e.into()),
            };
            let live = Live {
                admin_before: Some(admin),
            };
            match self.drive(started, live, Some(self.request_wait())).await? {
                Some(Ended::Done) => {}
                Some(Ended::EmailTaken) => return Err(email_taken()),
                Some(Ended::TargetBusy) => {
                    return Err(UpdateOrganizationError::NameTaken {
                        slug: new_slug.clone(),
                    })
                }
                None => return Err(pending("rename").into()),
            }
        }
        // Done: if it cannot be read back now, the client must not think it failed.
        let done = |e: StoreError| match e {
            StoreError::Unavailable(_) => pending("rename"),
            other => other,
        };
        let record = timed(limit, self.inner.organizations.find_one(doc! {"_id": &id}))
            .await
            .map_err(|e| done(e.into()))?
            .ok_or(UpdateOrganizationError::NotFound)?;
        Ok(self.assemble(record).await.map_err(done)?)
    }

    /// Moves an organization's documents to another cluster and/or tenancy model (an
    /// operator's action; `None` keeps the current one), copying them while the service keeps
    /// serving reads. Waits for the end, however long the copy.
    ///
    /// # Errors
    /// When the organization or cluster does not exist, the target is in use, or the database
    /// fails; an interrupted move is finished by recovery.
    pub async fn move_organization(
        &self,
        name: &OrganizationName,
        cluster: Option<&str>,
        model: Option<TenancyModel>,
    ) -> Result<Location, StoreError> {
        self.ensure_ready().await?;
        if let Some(cluster) = cluster.filter(|c| !self.inner.clients.contains_key(*c)) {
            return Err(StoreError::Unknown(anyhow::anyhow!(
                "cluster {cluster} is not configured"
            )));
        }
        if let Some(model) = model {
            self.inner
                .settings
                .check_model(model)
                .map_err(|e| StoreError::Unknown(anyhow::anyhow!(e)))?;
        }
        let missing = || StoreError::Unknown(anyhow::anyhow!("no organization named {name}"));
        let found = self
            .visible_by_slug(name.slug().as_str())
            .await?
            .ok_or_else(missing)?;
        let organization = self.settled(&found.id).await?.ok_or_else(missing)?;
        let from = &organization.connection;
        let id = organization
            .id
            .parse::<OrganizationId>()
            .map_err(|e| StoreError::Unknown(anyhow::anyhow!("corrupt organization id: {e}")))?;
        let to = self.new_location(
            &id,
            &format!("{}{}", CollectionName::PREFIX, organization.slug),
            cluster.unwrap_or(&from.cluster),
            model.unwrap_or(from.model),
        );
        if to == organization.connection {
            return Ok(to);
        }
        let operation = Operation::Move {
            from: organization.connection.clone(),
            to: to.clone(),
            copied_until: None,
        };
        let started = match self.begin(&organization, operation, doc! {}, None).await {
            Ok(started) => started,
            // Not guarded by a renamer, so never `NotAllowed`.
            Err(BeginError::Busy | BeginError::SlugTaken | BeginError::NotAllowed) => {
                return Err(busy())
            }
            Err(BeginError::Store(e)) => return Err(e),
        };
        match self.drive(started, Live::default(), None).await? {
            Some(Ended::Done) => Ok(to),
            Some(Ended::TargetBusy) => Err(StoreError::Unknown(anyhow::anyhow!(
                "the target collection {}.{} on {} is in use",
                to.database,
                to.collection,
                to.cluster
            ))),
            Some(Ended::EmailTaken) | None => Err(pending("move")),
        }
    }

    pub(super) async fn delete(
        &self,
        id: &OrganizationId,
        request: &DeletionRequest,
    ) -> Result<DeletionRecord, DeleteOrganizationError> {
        let id = id.to_string();
        let organization = self
            .settled(&id)
            .await?
            .ok_or(DeleteOrganizationError::NotFound)?;
        let progress = DeletionProgress::new(request);
        let set = doc! {"deletion": to_bson(&progress)?};
        let mut started = match self
            .begin(&organization, Operation::Delete, set, None)
            .await
        {
            Ok(started) => started,
            Err(BeginError::Busy | BeginError::SlugTaken | BeginError::NotAllowed) => {
                return Err(busy().into())
            }
            Err(BeginError::Store(e)) => return Err(e.into()),
        };
        started.deletion = Some(progress);
        match self
            .drive(started, Live::default(), Some(self.request_wait()))
            .await?
        {
            Some(_) => Ok(self
                .read_deletion(&request.receipt_id)
                .await?
                .ok_or_else(|| {
                    StoreError::Unknown(anyhow::anyhow!("a completed deletion left no record"))
                })?),
            None => Err(pending("deletion").into()),
        }
    }
}
