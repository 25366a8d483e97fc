//! Adds the organizations `Bench <from>` .. `Bench <to - 1>` to a store before bench/run
//! starts orgsvc on it, for its figures with 10 and with 10,000 organizations.
//!
//!     bench-seed embedded <path> <from> <to>
//!     bench-seed mongodb <uri> <from> <to>
//!
//! MongoDB databases are named as orgsvc would name them with the same environment
//! (`ORGSVC__STORAGE__MONGODB__MASTER_DATABASE`, `..__TENANT_DATABASE`).
//!
//! Embedded: through the storage port, 8 at a time (group commit makes that seconds).
//! MongoDB: in bulk (bulk.rs): one insert_many per batch instead of a create per organization.

#[path = "bulk.rs"]
mod bulk;
#[path = "common.rs"]
mod common;

use std::path::Path;

use orgsvc_storage::{EmbeddedStore, MongoSettings};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, backend, target, from, to] = args.as_slice() else {
        panic!("usage: bench-seed embedded|mongodb <path|uri> <from> <to>");
    };
    let number = |n: &str| n.parse::<usize>().expect("a number of organizations");
    let range = number(from)..number(to);
    match backend.as_str() {
        "embedded" => {
            let store = EmbeddedStore::open(Path::new(target)).expect("opens the store");
            bulk::concurrently(range, move |n| {
                let store = store.clone();
                async move {
                    common::create_organization(&store, &n.to_string()).await;
                }
            })
            .await;
        }
        "mongodb" => {
            let client = mongodb::Client::with_uri_str(target).await.expect("client");
            let mut settings = MongoSettings::for_uri(target);
            let named =
                |variable: &str| std::env::var(format!("ORGSVC__STORAGE__MONGODB__{variable}"));
            if let Ok(name) = named("MASTER_DATABASE") {
                settings.master_database = name;
            }
            if let Ok(name) = named("TENANT_DATABASE") {
                settings.tenant_database = name;
            }
            bulk::fill(&client, &settings, range)
                .await
                .expect("the server takes every organization");
        }
        other => panic!("unknown backend {other:?}"),
    }
}
