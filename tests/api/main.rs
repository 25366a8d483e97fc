//! End-to-end tests: the real application on a free port with a temporary data directory,
//! driven over HTTP. One test binary with modules keeps link times down.

mod helpers;

mod auth;
mod concurrency;
mod delete;
mod documents;
mod durability;
mod operations;
mod organizations;
mod update;
