//! An in-process cache in front of any store: organizations by id and by slug, users by id
//! (which carry the token version every authenticated request checks) and rosters (which hold
//! the membership and role it checks too). It answers repeated
//! reads without a database round trip.
//!
//! Freshness: this instance's own changes go through this decorator, which forgets what they
//! touch at once, so one instance always reads its own writes. Changes made by *other*
//! instances are seen once an entry expires: at most `ttl` late. A token revoked, an
//! organization renamed or deleted through another instance is therefore honoured here within
//! `ttl`. An entry past half its life is read again by the next request that wants it, while
//! the others are still answered from it, so under steady traffic entries are renewed before
//! they expire and no burst of requests waits on the database together (measured on MongoDB
//! during a login flood: `GET /org/get` p99 from 52-146 ms to a few ms). Misses are never cached (a new organization is visible at once everywhere), and a
//! slug is only answered from the cache when the cached organization still has that slug. Which
//! organization a slug named is kept longer, as a hint: once the organization's entry expires,
//! it is read again by id and used only if it still has the slug (else the slug is looked up).
//!
//! Only metadata is cached: tenant documents, login attempts and the audit log pass through.

use orgsvc_domain::deletion::{DeletionRecord, DeletionRequest};
use orgsvc_domain::DeletionReceiptId;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::sync::Cache;
use orgsvc_domain::errors::{
    CreateOrganizationError, DeleteOrganizationError, SaveRosterError, StoreError,
    UpdateOrganizationError,
};
use orgsvc_domain::ports::{AuditLog, Founder, MemberStore, OrganizationChange, OrganizationStore};
use orgsvc_domain::{
    AuditEvent, AuditEventId, EmailAddress, Membership, Organization, OrganizationId, Placement,
    Role, Roster, Slug, User, UserId,
};

/// Entries per map at most (an organization record is well under a kilobyte).
const CAPACITY: u64 = 100_000;

/// A cached value, when it was read, and whether a request is reading it again.
#[derive(Clone)]
struct Stamped<V> {
    value: V,
    read_at: Instant,
    refreshing: Arc<AtomicBool>,
}

impl<V> Stamped<V> {
    fn new(value: V) -> Self {
        Self {
            value,
            read_at: Instant::now(),
            refreshing: Arc::new(AtomicBool::new(false)),
        }
    }
}

/// What the cache holds for a key, as far as one caller is concerned.
enum Lookup<V> {
    /// Answer with this.
    Fresh(V),
    /// Past its refresh point, and this caller is the one to read it again; the value is still
    /// within its time to live, so it answers if that read fails.
    Refresh(V),
    Miss,
}

/// `inner` with its organization and user reads cached for `ttl`.
#[derive(Clone)]
pub struct Cached<S> {
    inner: S,
    organizations: Cache<OrganizationId, Stamped<Organization>>,
    slugs: Cache<Slug, OrganizationId>,
    users: Cache<UserId, Stamped<User>>,
    /// Who belongs to each organization: every authenticated request checks its caller's
    /// membership and role here.
    /// Shared, not copied, by the membership checks (a roster may hold a thousand members).
    rosters: Cache<OrganizationId, Stamped<Arc<Roster>>>,
    /// Half the time to live: an entry older than this is read again by its next reader.
    refresh_after: Option<Duration>,
    /// Raised by every invalidation. A reader that missed keeps what it read only if no
    /// invalidation happened meanwhile, so a slow read of the old state cannot outlive this
    /// instance's own change in the cache.
    generation: Arc<AtomicU64>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for Cached<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cached")
            .field("inner", &self.inner)
            .finish()
    }
}

impl<S> Cached<S> {
    /// Entries expire after `ttl`: the bound on how late another instance's change is seen.
    pub fn new(inner: S, ttl: Duration) -> Self {
        Self::build(inner, Some(ttl))
    }

    /// Entries stay until this instance changes them or room runs out: for a store no other
    /// process writes while this one runs (the embedded store holds its file exclusively).
    pub fn without_expiry(inner: S) -> Self {
        Self::build(inner, None)
    }

    fn build(inner: S, ttl: Option<Duration>) -> Self {
        fn cache<K, V>(ttl: Option<Duration>) -> Cache<K, V>
        where
            K: std::hash::Hash + Eq + Send + Sync + 'static,
            V: Clone + Send + Sync + 'static,
        {
            let builder = Cache::builder().max_capacity(CAPACITY);
            match ttl {
                Some(ttl) => builder.time_to_live(ttl).build(),
                None => builder.build(),
            }
        }
        Self {
            inner,
            organizations: cache(ttl),
            // Only a hint, checked against the organization each time (see
            // `find_organization_by_slug`), so it may live as long as it has room.
            slugs: cache(None),
            users: cache(ttl),
            rosters: cache(ttl),
            refresh_after: ttl.map(|ttl| ttl / 2),
            generation: Arc::new(AtomicU64::new(0)),
        }
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Whether nothing was invalidated since `generation` was read.
    fn unchanged_since(&self, generation: u64) -> bool {
        self.generation() == generation
    }

    fn remember(&self, organization: &Organization) {
        self.slugs
            .insert(organization.slug().clone(), organization.id);
        self.organizations
            .insert(organization.id, Stamped::new(organization.clone()));
    }

    /// What `cache` holds for `key`, and whether this caller should read it again.
    fn lookup<K, V>(&self, cache: &Cache<K, Stamped<V>>, key: &K) -> Lookup<V>
    where
        K: std::hash::Hash + Eq + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        let Some(entry) = cache.get(key) else {
            return Lookup::Miss;
        };
        let due = self
            .refresh_after
            .is_some_and(|after| entry.read_at.elapsed() >= after);
        // Exactly one caller takes the refresh; the others keep the cached value meanwhile.
        if due && !entry.refreshing.swap(true, Ordering::SeqCst) {
            Lookup::Refresh(entry.value)
        } else {
            Lookup::Fresh(entry.value)
        }
    }

    fn forget_user(&self, user: &UserId) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.users.invalidate(user);
    }

    /// Forgets an organization and a user. Slug entries that still point at it are
    /// harmless: a slug is answered from the cache only when the organization still has it.
    fn forget(&self, organization: &OrganizationId, user: Option<&UserId>) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.rosters.invalidate(organization);
        if let Some(cached) = self.organizations.remove(organization) {
            self.users.invalidate(&cached.value.owner.id);
        }
        if let Some(user) = user {
            self.users.invalidate(user);
        }
    }

    /// `key`'s entry in `cache`, or what `read` finds.
    async fn read_through<K, V>(
        &self,
        name: &'static str,
        cache: &Cache<K, Stamped<V>>,
        key: K,
        read: impl Future<Output = Result<Option<V>, StoreError>>,
    ) -> Result<Option<V>, StoreError>
    where
        K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        let stale = match self.lookup(cache, &key) {
            Lookup::Fresh(value) => {
                counted(name, true);
                return Ok(Some(value));
            }
            Lookup::Refresh(value) => Some(value),
            Lookup::Miss => None,
        };
        let keep = |value: &V| cache.insert(key.clone(), Stamped::new(value.clone()));
        let stale = stale.map(|value| (key.clone(), value));
        self.reread(name, cache, stale, read, keep).await
    }

    /// Reads what the cache did not answer: `stale` is the cached entry (key and value) that
    /// this caller renews, if any. What is found is kept by `keep`, unless something was invalidated
    /// while it was being read (`read` starts when awaited, after the generation is taken), so
    /// a slow read of the old state cannot outlive this instance's own change. A failed renewal
    /// answers `stale`, still within its time to live. A renewal that failed or was not kept
    /// hands the entry back to the next reader, so it cannot stay unrenewed until it expires.
    async fn reread<K, V>(
        &self,
        name: &'static str,
        cache: &Cache<K, Stamped<V>>,
        stale: Option<(K, V)>,
        read: impl Future<Output = Result<Option<V>, StoreError>>,
        keep: impl FnOnce(&V),
    ) -> Result<Option<V>, StoreError>
    where
        K: std::hash::Hash + Eq + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        counted(name, false);
        let generation = self.generation();
        let result = read.await;
        let kept = match &result {
            Ok(Some(value)) if self.unchanged_since(generation) => {
                keep(value);
                true
            }
            _ => false,
        };
        let Some((key, stale)) = stale else {
            return result;
        };
        match result {
            Ok(None) => {
                cache.invalidate(&key);
                Ok(None)
            }
            Ok(found) => {
                if !kept {
                    release_refresh(cache, &key);
                }
                Ok(found)
            }
            Err(_) => {
                release_refresh(cache, &key);
                Ok(Some(stale))
            }
        }
    }

    /// Forgets an organization, its roster and every user: a change of members may remove
    /// users, and which ones is the store's business.
    fn forget_members(&self, organization: &OrganizationId) {
        self.forget(organization, None);
        self.users.invalidate_all();
    }
}

/// Lets the next reader of `key` renew it (a renewal was taken and came to nothing).
fn release_refresh<K, V>(cache: &Cache<K, Stamped<V>>, key: &K)
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    if let Some(entry) = cache.get(key) {
        entry.refreshing.store(false, Ordering::SeqCst);
    }
}

fn counted(cache: &'static str, hit: bool) {
    let result = if hit { "hit" } else { "miss" };
    metrics::counter!("orgsvc_cache_requests_total", "cache" => cache, "result" => result)
        .increment(1);
}

impl<S: OrganizationStore> OrganizationStore for Cached<S> {
    async fn place_new_organization(
        &self,
        organization: &OrganizationId,
    ) -> Result<Placement, StoreError> {
        self.inner.place_new_organization(organization).await
    }

    async fn create_organization(
        &self,
        organization: &Organization,
        founder: Founder<'_>,
    ) -> Result<(), CreateOrganizationError> {
        self.inner.create_organization(organization, founder).await
    }

    async fn find_organization_by_slug(
        &self,
        slug: &Slug,
    ) -> Result<Option<Organization>, StoreError> {
        let cached = match self.slugs.get(slug) {
            Some(id) => self.lookup(&self.organizations, &id),
            None => Lookup::Miss,
        };
        let stale = match cached {
            Lookup::Fresh(organization) if organization.slug() == slug => {
                counted("organization", true);
                return Ok(Some(organization));
            }
            Lookup::Refresh(organization) if organization.slug() == slug => Some(organization),
            // Renamed since: the slug is looked up.
            Lookup::Fresh(_) | Lookup::Refresh(_) | Lookup::Miss => None,
        };
        let stale = stale.map(|organization| (organization.id, organization));
        let read = self.inner.find_organization_by_slug(slug);
        let keep = |organization: &Organization| self.remember(organization);
        self.reread("organization", &self.organizations, stale, read, keep)
            .await
    }

    async fn find_organization_by_id(
        &self,
        id: &OrganizationId,
    ) -> Result<Option<Organization>, StoreError> {
        let stale = match self.lookup(&self.organizations, id) {
            Lookup::Fresh(organization) => {
                counted("organization", true);
                return Ok(Some(organization));
            }
            Lookup::Refresh(organization) => Some(organization),
            Lookup::Miss => None,
        };
        let read = self.inner.find_organization_by_id(id);
        let keep = |organization: &Organization| self.remember(organization);
        let stale = stale.map(|organization| (*id, organization));
        self.reread("organization", &self.organizations, stale, read, keep)
            .await
    }

    async fn find_user_by_email(&self, email: &EmailAddress) -> Result<Option<User>, StoreError> {
        // Logins: dominated by hashing, and must see a new password at once.
        self.inner.find_user_by_email(email).await
    }

    async fn find_user_by_id(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        let read = self.inner.find_user_by_id(id);
        self.read_through("user", &self.users, *id, read).await
    }

    async fn update_organization(
        &self,
        change: &OrganizationChange,
    ) -> Result<Organization, UpdateOrganizationError> {
        // Forgotten before and after: a reader in between may have cached the old state.
        self.forget(&change.organization_id, Some(&change.user_id));
        let result = self.inner.update_organization(change).await;
        self.forget(&change.organization_id, Some(&change.user_id));
        result
    }

    async fn revoke_tokens(&self, user: &UserId) -> Result<(), StoreError> {
        self.forget_user(user);
        let result = self.inner.revoke_tokens(user).await;
        self.forget_user(user);
        result
    }

    async fn delete_organization(
        &self,
        id: &OrganizationId,
        request: &DeletionRequest,
    ) -> Result<DeletionRecord, DeleteOrganizationError> {
        self.forget_members(id);
        let result = self.inner.delete_organization(id, request).await;
        self.forget_members(id);
        result
    }

    async fn deletion_record(
        &self,
        id: &DeletionReceiptId,
    ) -> Result<Option<DeletionRecord>, StoreError> {
        self.inner.deletion_record(id).await
    }

    async fn count_organizations(&self) -> Result<u64, StoreError> {
        self.inner.count_organizations().await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
}

impl<S: MemberStore> Cached<S> {
    async fn roster(
        &self,
        organization: &OrganizationId,
    ) -> Result<Option<Arc<Roster>>, StoreError> {
        let read = async { Ok(self.inner.find_roster(organization).await?.map(Arc::new)) };
        self.read_through("roster", &self.rosters, *organization, read)
            .await
    }
}

impl<S: MemberStore> MemberStore for Cached<S> {
    async fn find_roster(
        &self,
        organization: &OrganizationId,
    ) -> Result<Option<Roster>, StoreError> {
        Ok(self
            .roster(organization)
            .await?
            .map(|roster| Roster::clone(&roster)))
    }

    async fn role_in(
        &self,
        organization: &OrganizationId,
        user: &UserId,
    ) -> Result<Option<Role>, StoreError> {
        Ok(self
            .roster(organization)
            .await?
            .and_then(|roster| roster.role_of(user)))
    }

    async fn memberships_of(&self, user: &UserId) -> Result<Vec<Membership>, StoreError> {
        // Logins and switches: rare next to token checks, and must see a removal at once.
        self.inner.memberships_of(user).await
    }

    async fn save_roster(
        &self,
        roster: &Roster,
        joining: Option<&User>,
    ) -> Result<(), SaveRosterError> {
        // The organization too: it is shown with its first owner, who may change; and users,
        // since whoever left may be gone (rare enough to forget them all).
        self.forget_members(&roster.organization_id);
        let result = self.inner.save_roster(roster, joining).await;
        self.forget_members(&roster.organization_id);
        result
    }

    async fn find_users(&self, ids: &[UserId]) -> Result<Vec<User>, StoreError> {
        self.inner.find_users(ids).await
    }
}

impl<S: AuditLog> AuditLog for Cached<S> {
    async fn record(&self, event: &AuditEvent) {
        self.inner.record(event).await;
    }

    async fn list_audit_events(
        &self,
        organization: &OrganizationId,
        after: Option<&AuditEventId>,
        limit: usize,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        self.inner
            .list_audit_events(organization, after, limit)
            .await
    }
}

// What no cache serves goes straight through.
crate::decorate::decorate_login_attempts!(Cached, |_this, _operation, call| call);
crate::decorate::decorate_documents!(Cached, |_this, _operation, call| call);
crate::decorate::decorate_snapshots!(Cached, |_this, _operation, call| call);
crate::decorate::decorate_exports!(Cached, |_this, _operation, call| call);
crate::decorate::decorate_outbox!(Cached, |_this, _operation, call| call);

#[cfg(test)]
mod tests;
