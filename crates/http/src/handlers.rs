//! Request handlers: extract, convert to domain values, call the service, map the result.
//! No storage or business logic lives here.

pub mod admin;
pub mod audit;
pub mod documents;
pub mod health;
pub mod invitations;
pub mod keys;
pub mod members;
pub mod organizations;
