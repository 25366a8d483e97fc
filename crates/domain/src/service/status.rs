//! Whether the service can serve, and how much it holds: for probes and metrics.

use std::future::Future;

use crate::ports::prelude::*;
use crate::service::{Ports, Service, StoreError};

/// What health checks and metrics ask.
pub trait StatusApi: Clone + Send + Sync + 'static {
    /// Whether storage can serve requests now.
    ///
    /// # Errors
    /// `Unavailable` when it cannot.
    fn ready(&self) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// How many organizations exist (possibly an estimate; see the store port).
    ///
    /// # Errors
    /// Storage failures only.
    fn organization_count(&self) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

impl<P: Ports> StatusApi for Service<P> {
    async fn ready(&self) -> Result<(), StoreError> {
        self.store.ping().await
    }

    async fn organization_count(&self) -> Result<u64, StoreError> {
        self.store.count_organizations().await
    }
}
