//! The composition root of orgsvc: loads [`Settings`], builds the adapters they ask for, wires
//! them into the domain service and serves it over HTTP ([`Application`]).
//!
//! This is the only crate that knows every other one; nothing depends on it but the binary and
//! the end-to-end tests.

pub mod background;
pub mod exports;
pub mod operations;
mod secret;
pub mod settings;
mod startup;
pub mod telemetry;
pub mod webhooks;

pub use orgsvc_domain::TenancyModel;
pub use settings::Settings;
pub use startup::Application;
