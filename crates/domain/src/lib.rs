//! The heart of orgsvc: what an organization, an admin and a tenant document are, which rules they
//! obey, and what the service needs from the outside world (the ports in [`ports`]).
//!
//! This crate must never depend on a web framework, a database driver or an OpenAPI crate: adapters
//! (storage, crypto, http) depend on it, never the other way round. Every value that exists here has
//! already been validated, so services never re-check their inputs.

pub mod api_keys;
pub mod audit;
pub mod bundle;
pub mod deletion;
pub mod document;
pub mod errors;
pub mod export;
pub mod ids;
pub mod members;
pub mod organization;
pub mod ports;
pub mod roles;
pub mod secrets;
pub mod service;
pub mod user;
pub mod webhooks;

/// In-memory stand-ins for the driven ports, for the domain's own tests and, through the
/// `fakes` feature, for the storage contract suite, which checks them like any adapter.
#[cfg(any(test, feature = "fakes"))]
pub mod fakes;

pub use api_keys::{ApiKey, ApiKeyName, KeyGrant, Scope, Scopes};
pub use audit::{AuditAction, AuditEvent, AuditPage, Origin, Outcome};
pub use document::{
    Document, DocumentBody, DocumentBodyError, DocumentPage, PageLimit, PageLimitError,
};
pub use ids::{
    ApiKeyId, AuditEventId, DeletionReceiptId, DocumentId, ExportId, InvitationId, OrganizationId,
    UserId, WebhookId,
};
pub use members::{
    Invitation, InvitationState, InvitationStatus, Member, Membership, Roster, RosterRule,
};
pub use organization::{
    CollectionName, Organization, OrganizationName, OrganizationNameError, OwnerSummary, Placement,
    Slug, TenancyModel, UnknownTenancyModel,
};
pub use roles::{Permission, Role};
pub use secrets::{ApiKeySecret, InvitationToken};
pub use service::{
    ApiKeyApi, AuditLogError, AuthenticateError, CreateOrganization, CreateOrganizationError,
    DeleteOrganizationError, DocumentError, GetOrganizationError, InvitationPolicy, InvitationView,
    IssuedApiKey, IssuedInvitation, IssuedToken, Joined, LockPolicy, LoginError, LoginPolicy,
    MemberError, MemberView, NewApiKey, OrgsvcApi, Principal, Service, StoreError, TeamApi,
    UpdateOrganization, UpdateOrganizationError,
};
pub use service::{
    AuditApi, Deleted, DeletionPolicy, DeletionReceipt, DocumentApi, ExportApi, ExportError,
    ExportPolicy, Exporter, OrganizationApi, Ports, ReceiptApi, ReceiptError, SessionApi,
    StatusApi,
};
pub use service::{
    Deliverer, DeliveryPolicy, IssuedWebhook, NewWebhook, ReplayRequest, WebhookApi, Worked,
};
pub use user::{EmailAddress, EmailAddressError, Password, PasswordError, PasswordHash, User};
