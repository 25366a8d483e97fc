//! The use cases of orgsvc, behind the driving ports bundled as [`OrgsvcApi`] that the HTTP layer
//! calls and fakes in its own tests, implemented by [`Service`] over the driven [`Ports`].

use crate::ports::{Clock, PasswordHasher, Store, TokenCodec};

pub use crate::errors::{
    AuditLogError, AuthenticateError, CreateOrganizationError, DeleteOrganizationError,
    DocumentError, ExportError, GetOrganizationError, LoginError, MemberError, ReceiptError,
    StoreError, UpdateOrganizationError,
};
pub use crate::ports::{IssuedToken, Principal};
pub use api_keys::{ApiKeyApi, IssuedApiKey, NewApiKey};
pub use audit::AuditApi;
pub use auth::SessionApi;
pub use documents::DocumentApi;
pub use exports::{Attempted, ExportApi, ExportPolicy, Exporter};
pub use lockout::{LockPolicy, LoginPolicy};
pub use organizations::{CreateOrganization, Deleted, OrganizationApi, UpdateOrganization};
pub use receipts::{DeletionPolicy, DeletionReceipt, ReceiptApi};
pub use status::StatusApi;
pub use teams::{InvitationPolicy, InvitationView, IssuedInvitation, Joined, MemberView, TeamApi};
pub use webhooks::{
    Deliverer, DeliveryPolicy, IssuedWebhook, NewWebhook, ReplayRequest, WebhookApi, Worked,
};

mod access;
mod api_keys;
mod audit;
mod auth;
mod documents;
mod exports;
mod lockout;
mod organizations;
mod receipts;
mod status;
mod teams;
#[cfg(test)]
mod tests;
mod webhooks;

/// Everything orgsvc can be asked to do: one trait per concern, each implemented whole in the
/// module of its name. The HTTP layer is generic over this bundle.
pub trait OrgsvcApi:
    OrganizationApi
    + SessionApi
    + DocumentApi
    + ExportApi
    + AuditApi
    + ReceiptApi
    + StatusApi
    + TeamApi
    + ApiKeyApi
    + WebhookApi
{
}

impl<A> OrgsvcApi for A where
    A: OrganizationApi
        + SessionApi
        + DocumentApi
        + ExportApi
        + AuditApi
        + ReceiptApi
        + StatusApi
        + TeamApi
        + ApiKeyApi
        + WebhookApi
{
}

/// The driven ports a [`Service`] runs on, as one type parameter: a tuple
/// `(store, hasher, token codec, clock)`.
pub trait Ports: Clone + Send + Sync + 'static {
    type Store: Store;
    type Hasher: PasswordHasher;
    type Tokens: TokenCodec;
    type Clock: Clock;
}

impl<S: Store, H: PasswordHasher, T: TokenCodec, C: Clock> Ports for (S, H, T, C) {
    type Store = S;
    type Hasher = H;
    type Tokens = T;
    type Clock = C;
}

/// The implementation of [`OrgsvcApi`] over the driven ports.
#[derive(Clone)]
pub struct Service<P: Ports> {
    store: P::Store,
    hasher: P::Hasher,
    tokens: P::Tokens,
    clock: P::Clock,
    login_policy: LoginPolicy,
    invitation_policy: InvitationPolicy,
    deletion_policy: DeletionPolicy,
    export_policy: ExportPolicy,
}

impl<P: Ports> std::fmt::Debug for Service<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("login_policy", &self.login_policy)
            .field("invitation_policy", &self.invitation_policy)
            .field("deletion_policy", &self.deletion_policy)
            .field("export_policy", &self.export_policy)
            .finish_non_exhaustive()
    }
}

impl<S: Store, H: PasswordHasher, T: TokenCodec, C: Clock> Service<(S, H, T, C)> {
    pub fn new(store: S, hasher: H, tokens: T, clock: C) -> Self {
        Self {
            store,
            hasher,
            tokens,
            clock,
            login_policy: LoginPolicy::default(),
            invitation_policy: InvitationPolicy::default(),
            deletion_policy: DeletionPolicy::default(),
            export_policy: ExportPolicy::default(),
        }
    }
}

impl<P: Ports> Service<P> {
    #[must_use]
    pub const fn with_login_policy(mut self, policy: LoginPolicy) -> Self {
        self.login_policy = policy;
        self
    }

    #[must_use]
    pub const fn with_deletion_policy(mut self, policy: DeletionPolicy) -> Self {
        self.deletion_policy = policy;
        self
    }
}
