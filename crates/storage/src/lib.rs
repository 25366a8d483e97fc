//! Storage adapters for orgsvc: each implements the domain's five store ports
//! (`OrganizationStore`, `MemberStore`, `TenantStore`, `LoginAttempts`, `AuditLog`; together
//! `Store`) and is checked by the same contract test suite (`tests/contract`).
//!
//! - [`embedded`]: one redb file, zero setup; every lifecycle operation is one ACID transaction.
//! - [`mongo`]: a master database plus tenant collections on named clusters; multi-step
//!   operations are made crash-safe with intents and recovery.
//! - [`cached`] and [`instrumented`] wrap either: an in-process read-through cache, and
//!   metrics of every call.
//!
//! Adapters translate their driver's errors into the domain's error variants; no driver type
//! appears in a public signature of this crate.

pub mod cached;
mod decorate;
mod deletion;
pub mod embedded;
mod export_jobs;
pub mod files;
pub mod instrumented;
pub mod mongo;
mod roster;

pub use cached::Cached;
pub use embedded::{EmbeddedStore, OpenEmbeddedStoreError};
pub use instrumented::Instrumented;
pub use mongo::{ConnectMongoError, MongoSettings, MongoStore};
