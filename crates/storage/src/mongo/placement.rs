//! Which cluster a new organization's data goes to (`storage.mongodb.placement`).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bson::doc;
use orgsvc_domain::errors::StoreError;
use orgsvc_domain::{OrganizationId, Placement};

use super::errors::timed;
use super::settings::PlacementPolicy;
use super::{MongoStore, DEFAULT_CLUSTER};

/// How long `least_loaded` trusts its last count of organizations per cluster. Counting reads
/// every cluster's entries of an index (13 ms for 10,000 organizations on DocumentDB, so more
/// than a second at a million), too much for every create; balance does not need the exact
/// figure, and this instance adds its own placements to the count meanwhile.
const RECOUNT_AFTER: Duration = Duration::from_secs(30);

/// Organizations per cluster as last counted, plus the ones this instance has placed since.
#[derive(Default)]
pub(super) struct Loads(Mutex<Option<(Instant, BTreeMap<String, u64>)>>);

impl Loads {
    /// The least loaded cluster by the current figures, counted as holding one more now; `None`
    /// when the figures are missing or older than [`RECOUNT_AFTER`].
    fn take_least(&self) -> Option<String> {
        let mut loads = self.0.lock().expect("not poisoned");
        let (counted_at, counts) = loads.as_mut()?;
        if counted_at.elapsed() >= RECOUNT_AFTER {
            return None;
        }
        // The first by name among the least loaded: the map is ordered by name.
        let (name, count) = counts
            .iter_mut()
            .reduce(|best, next| if next.1 < best.1 { next } else { best })?;
        *count += 1;
        Some(name.clone())
    }

    fn replace(&self, counts: BTreeMap<String, u64>) {
        *self.0.lock().expect("not poisoned") = Some((Instant::now(), counts));
    }
}

impl MongoStore {
    pub(super) async fn place(
        &self,
        organization: &OrganizationId,
    ) -> Result<Placement, StoreError> {
        let cluster = match self.inner.settings.placement {
            PlacementPolicy::Default => DEFAULT_CLUSTER.to_owned(),
            PlacementPolicy::RoundRobin => {
                let turn = self.inner.next_cluster.fetch_add(1, Ordering::Relaxed);
                self.inner
                    .clients
                    .keys()
                    .nth(turn % self.inner.clients.len())
                    .cloned()
                    .unwrap_or_else(|| DEFAULT_CLUSTER.to_owned())
            }
            PlacementPolicy::LeastLoaded => self.least_loaded().await?,
        };
        let model = self.inner.settings.tenancy;
        let location = self.new_location(organization, "", &cluster, model);
        Ok(Placement {
            cluster,
            database: location.database,
            model,
        })
    }

    async fn least_loaded(&self) -> Result<String, StoreError> {
        if let Some(cluster) = self.inner.loads.take_least() {
            return Ok(cluster);
        }
        self.ensure_ready().await?;
        let mut counts = BTreeMap::new();
        for name in self.inner.clients.keys() {
            let count = timed(
                self.op_timeout(),
                self.inner
                    .organizations
                    .count_documents(doc! {"connection.cluster": name}),
            )
            .await?;
            counts.insert(name.clone(), count);
        }
        self.inner.loads.replace(counts);
        Ok(self
            .inner
            .loads
            .take_least()
            .unwrap_or_else(|| DEFAULT_CLUSTER.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counted(at: Instant, counts: &[(&str, u64)]) -> Loads {
        let counts = counts.iter().map(|(n, c)| ((*n).to_owned(), *c)).collect();
        Loads(Mutex::new(Some((at, counts))))
    }

    #[test]
    fn fills_the_least_loaded_cluster_first_and_counts_its_own_placements() {
        let loads = counted(Instant::now(), &[("default", 1), ("eu", 3), ("us", 2)]);
        let placed: Vec<_> = (0..5).map(|_| loads.take_least().unwrap()).collect();
        // Ties go to the first by name.
        assert_eq!(placed, ["default", "default", "us", "default", "eu"]);
    }

    #[test]
    fn figures_missing_or_too_old_are_counted_again() {
        assert_eq!(Loads::default().take_least(), None);
        let old = counted(Instant::now() - RECOUNT_AFTER, &[("default", 0)]);
        assert_eq!(old.take_least(), None);
    }
}
