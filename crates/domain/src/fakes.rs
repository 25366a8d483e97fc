//! In-memory fakes of the driven ports, for the service's unit tests. The storage contract
//! suite checks [`FakeStore`] like every real adapter (`crates/storage/tests/contract/fake.rs`).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeZone, Utc};

use crate::audit::AuditEvent;
use crate::deletion::{DeletionRecord, DeletionRequest, Removed, RosterTally};
use crate::document::{Document, DocumentBody, DocumentPage};
use crate::errors::{
    CreateOrganizationError, DeleteOrganizationError, DocumentError, HashError, SnapshotError,
    StoreError, UpdateOrganizationError,
};
use crate::ids::{AuditEventId, DeletionReceiptId, DocumentId, ExportId, OrganizationId, UserId};
use crate::members::Roster;
use crate::organization::OwnerSummary;
use crate::organization::{Organization, Placement, Slug, TenancyModel};
use crate::ports::{
    Admission, AttemptKey, AuditLog, Clock, DocumentSnapshots, Founder, IssuedToken, LoginAttempts,
    OrganizationChange, OrganizationStore, PasswordHasher, Principal, SystemClock, TenantStore,
    TokenCodec,
};
use crate::user::{EmailAddress, Password, PasswordHash, User};
use crate::webhooks::NewEvent;

mod exports;
mod members;
mod outbox;

#[derive(Default)]
struct State {
    organizations: HashMap<OrganizationId, Organization>,
    rosters: HashMap<OrganizationId, Roster>,
    admins: HashMap<UserId, User>,
    tenants: HashMap<OrganizationId, BTreeMap<DocumentId, DocumentBody>>,
    /// Open snapshots: a copy of the documents as they were.
    snapshots: HashMap<OrganizationId, (ExportId, BTreeMap<DocumentId, DocumentBody>)>,
    last_exports: HashMap<OrganizationId, String>,
    exports: BTreeMap<ExportId, crate::export::job::ExportJob>,
    /// (job, attempt, seq) -> chunk.
    export_chunks: BTreeMap<(ExportId, u32, u32), Vec<u8>>,
    login_attempts: HashMap<AttemptKey, Attempts>,
    audit: Vec<AuditEvent>,
    outboxes: HashMap<OrganizationId, outbox::FakeOutbox>,
    deletions: HashMap<DeletionReceiptId, DeletionRecord>,
}

#[derive(Clone, Copy, Default)]
struct Attempts {
    count: u32,
    locks: u32,
    last_at: Option<DateTime<Utc>>,
    locked_until: Option<DateTime<Utc>>,
}

/// A store in a `HashMap`, honouring the port contracts (checked by the storage contract suite),
/// with a switch that makes every call fail as if the backend were down.
#[derive(Clone, Default)]
pub struct FakeStore {
    state: Arc<Mutex<State>>,
    down: Arc<std::sync::atomic::AtomicBool>,
}

impl FakeStore {
    pub fn go_down(&self) {
        self.down.store(true, Ordering::SeqCst);
    }

    fn state(&self) -> Result<std::sync::MutexGuard<'_, State>, StoreError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable(anyhow::anyhow!(
                "fake store is down"
            )));
        }
        Ok(self.state.lock().expect("fake store lock"))
    }

    pub fn document_count(&self, organization: &OrganizationId) -> Option<usize> {
        self.state()
            .ok()?
            .tenants
            .get(organization)
            .map(BTreeMap::len)
    }

    pub fn admin_count(&self) -> usize {
        self.state().map(|s| s.admins.len()).unwrap_or_default()
    }
}

fn slug_taken(state: &State, slug: &Slug, except: Option<OrganizationId>) -> bool {
    state
        .organizations
        .values()
        .any(|o| o.slug() == slug && Some(o.id) != except)
}

/// The organization as readers see it: shown with its first owner.
fn shown(state: &State, organization: &Organization) -> Organization {
    let mut organization = organization.clone();
    let owner = state
        .rosters
        .get(&organization.id)
        .and_then(Roster::first_owner)
        .and_then(|owner| state.admins.get(&owner.user_id));
    if let Some(owner) = owner {
        organization.owner = OwnerSummary {
            id: owner.id,
            email: owner.email.clone(),
        };
    }
    organization
}

fn belongs_nowhere(state: &State, user: &UserId) -> bool {
    state.rosters.values().all(|r| r.role_of(user).is_none())
}

fn email_taken(state: &State, email: &EmailAddress, except: Option<UserId>) -> bool {
    state
        .admins
        .values()
        .any(|a| &a.email == email && Some(a.id) != except)
}

impl OrganizationStore for FakeStore {
    async fn place_new_organization(
        &self,
        _organization: &OrganizationId,
    ) -> Result<Placement, StoreError> {
        drop(self.state()?);
        Ok(Placement {
            cluster: "default".into(),
            database: "tenants".into(),
            model: TenancyModel::Collection,
        })
    }

    async fn create_organization(
        &self,
        organization: &Organization,
        founder: Founder<'_>,
    ) -> Result<(), CreateOrganizationError> {
        let mut state = self.state()?;
        if slug_taken(&state, organization.slug(), None) {
            return Err(CreateOrganizationError::NameTaken {
                slug: organization.slug().clone(),
            });
        }
        match founder {
            Founder::New(admin) => {
                if email_taken(&state, &admin.email, None) {
                    return Err(CreateOrganizationError::EmailTaken {
                        email: admin.email.clone(),
                    });
                }
                state.admins.insert(admin.id, admin.clone());
            }
            Founder::Existing(id) => {
                if !state.admins.contains_key(id) {
                    return Err(CreateOrganizationError::FounderGone);
                }
            }
        }
        state
            .organizations
            .insert(organization.id, organization.clone());
        state.rosters.insert(
            organization.id,
            Roster::founded(organization.id, *founder.id(), organization.created_at),
        );
        state.tenants.insert(organization.id, BTreeMap::new());
        let created = NewEvent::organization_created(organization);
        outbox::append(&mut state, organization.id, vec![created]);
        Ok(())
    }

    async fn find_organization_by_slug(
        &self,
        slug: &Slug,
    ) -> Result<Option<Organization>, StoreError> {
        let state = self.state()?;
        Ok(state
            .organizations
            .values()
            .find(|o| o.slug() == slug)
            .map(|o| shown(&state, o)))
    }

    async fn find_organization_by_id(
        &self,
        id: &OrganizationId,
    ) -> Result<Option<Organization>, StoreError> {
        let state = self.state()?;
        Ok(state.organizations.get(id).map(|o| shown(&state, o)))
    }

    async fn find_user_by_email(&self, email: &EmailAddress) -> Result<Option<User>, StoreError> {
        let state = self.state()?;
        Ok(state.admins.values().find(|a| &a.email == email).cloned())
    }

    async fn find_user_by_id(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        Ok(self.state()?.admins.get(id).cloned())
    }

    async fn update_organization(
        &self,
        change: &OrganizationChange,
    ) -> Result<Organization, UpdateOrganizationError> {
        let mut state = self.state()?;
        let Some(mut organization) = state.organizations.get(&change.organization_id).cloned()
        else {
            return Err(UpdateOrganizationError::NotFound);
        };
        let role = state
            .rosters
            .get(&organization.id)
            .and_then(|r| r.role_of(&change.user_id));
        let Some(mut admin) = state
            .admins
            .get(&change.user_id)
            .filter(|_| role.is_some())
            .cloned()
        else {
            return Err(UpdateOrganizationError::NotFound);
        };
        if organization.name != change.name
            && !role.is_some_and(|r| r.allows(crate::Permission::RenameOrganization))
        {
            return Err(UpdateOrganizationError::Forbidden);
        }
        if slug_taken(&state, change.name.slug(), Some(organization.id)) {
            return Err(UpdateOrganizationError::NameTaken {
                slug: change.name.slug().clone(),
            });
        }
        let mut credentials_changed = change.password_hash.is_some();
        if let Some(email) = change.email.as_ref().filter(|email| **email != admin.email) {
            credentials_changed = true;
            if email_taken(&state, email, Some(admin.id)) {
                return Err(UpdateOrganizationError::EmailTaken {
                    email: email.clone(),
                });
            }
            admin.email = email.clone();
        }
        if let Some(hash) = &change.password_hash {
            admin.password_hash = hash.clone();
        }
        if credentials_changed {
            admin.token_version += 1;
        }
        if organization.name != change.name {
            let renamed =
                NewEvent::organization_renamed(organization.name.as_str(), change.name.as_str());
            outbox::append(&mut state, organization.id, vec![renamed]);
        }
        organization.name = change.name.clone();
        organization.updated_at = change.updated_at;
        state.admins.insert(admin.id, admin);
        state
            .organizations
            .insert(organization.id, organization.clone());
        Ok(shown(&state, &organization))
    }

    async fn delete_organization(
        &self,
        id: &OrganizationId,
        request: &DeletionRequest,
    ) -> Result<DeletionRecord, DeleteOrganizationError> {
        let mut state = self.state()?;
        let Some(organization) = state.organizations.remove(id) else {
            return Err(DeleteOrganizationError::NotFound);
        };
        let roster = state
            .rosters
            .remove(id)
            .expect("every organization has a roster");
        let tally = RosterTally::of(&roster);
        let endpoints = roster.webhooks.clone();
        outbox::deleted(
            &mut state,
            *id,
            organization.name.as_str(),
            &request.receipt_id,
            endpoints,
        );
        let mut users = 0;
        for member in roster.members {
            if belongs_nowhere(&state, &member.user_id) {
                state.admins.remove(&member.user_id);
                users += 1;
            }
        }
        let documents = state.tenants.remove(id).map_or(0, |t| t.len() as u64);
        state.snapshots.remove(id);
        let last_export_sha256 = state.last_exports.remove(id);
        let completed_at = SystemClock.now();
        let record = DeletionRecord {
            id: request.receipt_id,
            organization_id: *id,
            organization_name: organization.name.as_str().to_owned(),
            requested_by: request.requested_by,
            requested_at: request.requested_at,
            completed_at,
            removed: Removed {
                collection: organization.collection_name().as_str().to_owned(),
                placement: organization.placement,
                documents,
                roster: tally,
                users,
            },
            last_export_sha256,
            expires_at: completed_at + request.retention,
        };
        state.deletions.insert(record.id, record.clone());
        Ok(record)
    }

    async fn deletion_record(
        &self,
        id: &DeletionReceiptId,
    ) -> Result<Option<DeletionRecord>, StoreError> {
        let state = self.state()?;
        Ok(state
            .deletions
            .get(id)
            .filter(|r| r.expires_at > Utc::now())
            .cloned())
    }

    async fn revoke_tokens(&self, admin: &UserId) -> Result<(), StoreError> {
        if let Some(admin) = self.state()?.admins.get_mut(admin) {
            admin.token_version += 1;
        }
        Ok(())
    }

    async fn count_organizations(&self) -> Result<u64, StoreError> {
        Ok(self.state()?.organizations.len() as u64)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.state().map(|_| ())
    }
}

impl FakeStore {
    /// Every recorded audit event, oldest first.
    pub fn audit_events(&self) -> Vec<AuditEvent> {
        self.state.lock().expect("fake store lock").audit.clone()
    }
}

impl AuditLog for FakeStore {
    async fn record(&self, event: &AuditEvent) {
        // Best-effort, like the real adapters: a store that is down loses the line.
        if let Ok(mut state) = self.state() {
            state.audit.push(event.clone());
        }
    }

    async fn list_audit_events(
        &self,
        organization: &OrganizationId,
        after: Option<&AuditEventId>,
        limit: usize,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let state = self.state()?;
        Ok(state
            .audit
            .iter()
            .rev()
            .filter(|e| e.organization_id.as_ref() == Some(organization))
            .filter(|e| after.is_none_or(|after| e.id < *after))
            .take(limit)
            .cloned()
            .collect())
    }
}

impl LoginAttempts for FakeStore {
    async fn begin_login_attempt(
        &self,
        key: &AttemptKey,
        now: DateTime<Utc>,
    ) -> Result<Admission, StoreError> {
        let mut state = self.state()?;
        let attempts = state.login_attempts.entry(key.clone()).or_default();
        if let Some(until) = attempts.locked_until.filter(|until| *until > now) {
            return Ok(Admission::Locked { until });
        }
        let previous_at = attempts.last_at.replace(now);
        attempts.count += 1;
        Ok(Admission::Admitted {
            attempt: attempts.count,
            locks: attempts.locks,
            previous_at,
        })
    }

    async fn lock_login(&self, key: &AttemptKey, until: DateTime<Utc>) -> Result<(), StoreError> {
        let mut state = self.state()?;
        let attempts = state.login_attempts.entry(key.clone()).or_default();
        attempts.count = 0;
        attempts.last_at = None;
        attempts.locks += 1;
        attempts.locked_until = Some(until);
        Ok(())
    }

    async fn release_login_attempts(&self, keys: &[AttemptKey]) -> Result<(), StoreError> {
        let mut state = self.state()?;
        for key in keys {
            if let Some(attempts) = state.login_attempts.get_mut(key) {
                attempts.count = attempts.count.saturating_sub(1);
            }
        }
        Ok(())
    }

    async fn clear_login_attempts(&self, keys: &[AttemptKey]) -> Result<(), StoreError> {
        let mut state = self.state()?;
        for key in keys {
            state.login_attempts.remove(key);
        }
        Ok(())
    }
}

impl DocumentSnapshots for FakeStore {
    async fn open_snapshot(
        &self,
        organization: &OrganizationId,
        export: &ExportId,
    ) -> Result<u64, SnapshotError> {
        let mut state = self.state()?;
        match state.snapshots.get(organization) {
            Some((open, documents)) if open == export => return Ok(documents.len() as u64),
            Some(_) => return Err(SnapshotError::Busy),
            None => {}
        }
        let documents = state
            .tenants
            .get(organization)
            .ok_or(SnapshotError::OrganizationNotFound)?
            .clone();
        let count = documents.len() as u64;
        state.snapshots.insert(*organization, (*export, documents));
        Ok(count)
    }

    async fn snapshot_page(
        &self,
        organization: &OrganizationId,
        export: &ExportId,
        after: Option<&DocumentId>,
        limit: usize,
    ) -> Result<DocumentPage, SnapshotError> {
        let state = self.state()?;
        if !state.tenants.contains_key(organization) {
            return Err(SnapshotError::OrganizationNotFound);
        }
        let documents = match state.snapshots.get(organization) {
            Some((open, documents)) if open == export => documents,
            _ => return Err(SnapshotError::Lost),
        };
        let documents: Vec<Document> = documents
            .iter()
            .filter(|(id, _)| after.is_none_or(|after| *id > after))
            .take(limit)
            .map(|(id, body)| Document {
                id: *id,
                body: body.clone(),
            })
            .collect();
        Ok(DocumentPage::read_with(documents, limit))
    }

    async fn record_export(
        &self,
        organization: &OrganizationId,
        sha256: &str,
    ) -> Result<(), StoreError> {
        let mut state = self.state()?;
        if state.organizations.contains_key(organization) {
            state.last_exports.insert(*organization, sha256.to_owned());
        }
        Ok(())
    }

    async fn close_snapshot(
        &self,
        organization: &OrganizationId,
        export: &ExportId,
    ) -> Result<(), StoreError> {
        let mut state = self.state()?;
        if state
            .snapshots
            .get(organization)
            .is_some_and(|(open, _)| open == export)
        {
            state.snapshots.remove(organization);
        }
        Ok(())
    }
}

impl TenantStore for FakeStore {
    async fn insert_document(
        &self,
        organization: &OrganizationId,
        document: &Document,
    ) -> Result<(), DocumentError> {
        let mut state = self.state()?;
        let tenant = state
            .tenants
            .get_mut(organization)
            .ok_or(DocumentError::OrganizationNotFound)?;
        tenant.insert(document.id, document.body.clone());
        Ok(())
    }

    async fn get_document(
        &self,
        organization: &OrganizationId,
        id: &DocumentId,
    ) -> Result<Option<Document>, DocumentError> {
        let state = self.state()?;
        let tenant = state
            .tenants
            .get(organization)
            .ok_or(DocumentError::OrganizationNotFound)?;
        Ok(tenant.get(id).map(|body| Document {
            id: *id,
            body: body.clone(),
        }))
    }

    async fn list_documents(
        &self,
        organization: &OrganizationId,
        after: Option<&DocumentId>,
        limit: usize,
    ) -> Result<Vec<Document>, DocumentError> {
        let state = self.state()?;
        let tenant = state
            .tenants
            .get(organization)
            .ok_or(DocumentError::OrganizationNotFound)?;
        Ok(tenant
            .iter()
            .filter(|(id, _)| after.is_none_or(|after| *id > after))
            .take(limit)
            .map(|(id, body)| Document {
                id: *id,
                body: body.clone(),
            })
            .collect())
    }

    async fn replace_document(
        &self,
        organization: &OrganizationId,
        document: &Document,
    ) -> Result<(), DocumentError> {
        let mut state = self.state()?;
        let tenant = state
            .tenants
            .get_mut(organization)
            .ok_or(DocumentError::OrganizationNotFound)?;
        let slot = tenant
            .get_mut(&document.id)
            .ok_or(DocumentError::NotFound)?;
        *slot = document.body.clone();
        Ok(())
    }

    async fn delete_document(
        &self,
        organization: &OrganizationId,
        id: &DocumentId,
    ) -> Result<(), DocumentError> {
        let mut state = self.state()?;
        let tenant = state
            .tenants
            .get_mut(organization)
            .ok_or(DocumentError::OrganizationNotFound)?;
        tenant.remove(id).map(|_| ()).ok_or(DocumentError::NotFound)
    }
}

/// "Hashes" by prefixing, and counts verifications so tests can see that unknown emails are
/// verified too.
#[derive(Clone, Default)]
pub struct FakeHasher {
    pub hashes: Arc<AtomicUsize>,
    pub verifications: Arc<AtomicUsize>,
    /// When set, every call answers as a hasher whose queue is full.
    pub overloaded: Arc<AtomicBool>,
}

impl FakeHasher {
    fn check_capacity(&self) -> Result<(), HashError> {
        if self.overloaded.load(Ordering::SeqCst) {
            Err(HashError::Overloaded)
        } else {
            Ok(())
        }
    }
}

impl PasswordHasher for FakeHasher {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, HashError> {
        self.check_capacity()?;
        self.hashes.fetch_add(1, Ordering::SeqCst);
        Ok(PasswordHash::from_phc(format!(
            "fake${}",
            password.expose()
        )))
    }

    async fn verify(
        &self,
        password: &Password,
        hash: Option<&PasswordHash>,
    ) -> Result<bool, HashError> {
        self.check_capacity()?;
        self.verifications.fetch_add(1, Ordering::SeqCst);
        Ok(hash.is_some_and(|h| h.as_phc() == format!("fake${}", password.expose())))
    }
}

/// Tokens are `admin:org:version` in plain text: enough to test the service's use of the port.
#[derive(Clone, Default)]
pub struct FakeTokens;

impl TokenCodec for FakeTokens {
    fn issue(
        &self,
        principal: &Principal,
        _now: DateTime<Utc>,
    ) -> Result<IssuedToken, anyhow::Error> {
        Ok(IssuedToken {
            access_token: format!(
                "{}:{}:{}:{}",
                principal.user_id,
                principal.organization_id,
                principal.role,
                principal.token_version
            ),
            expires_in_seconds: 3600,
        })
    }

    fn sign(
        &self,
        typ: &str,
        mut claims: serde_json::Value,
    ) -> Result<(String, serde_json::Value), anyhow::Error> {
        claims["iss"] = serde_json::Value::from("fake");
        Ok((format!("{typ}:{claims}"), claims))
    }

    fn verify(&self, token: &str) -> Option<Principal> {
        let mut parts = token.split(':');
        Some(Principal {
            user_id: parts.next()?.parse().ok()?,
            organization_id: parts.next()?.parse().ok()?,
            role: crate::Role::parse(parts.next()?)?,
            token_version: parts.next()?.parse().ok()?,
            key: None,
        })
    }
}

/// A clock that stands still until a test moves it; clones share the time.
#[derive(Clone)]
pub struct FixedClock(Arc<Mutex<DateTime<Utc>>>);

impl Default for FixedClock {
    fn default() -> Self {
        Self(Arc::new(Mutex::new(
            Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap(),
        )))
    }
}

impl FixedClock {
    /// Moves the time forward by `by`.
    ///
    /// # Panics
    /// When another thread panicked while holding the time.
    pub fn advance(&self, by: chrono::Duration) {
        *self.0.lock().unwrap() += by;
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
