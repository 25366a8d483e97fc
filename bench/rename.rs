//! How long renaming an organization takes, by storage path, measured in one run so the figures
//! compare with each other (these machines are shared; absolute times vary, ratios hold better).
//!
//!     cargo bench --bench rename --profile dev            # 20,000 documents
//!     ORGSVC_BENCH_DOCUMENTS=100000 cargo bench --bench rename --profile dev
//!
//! MongoDB figures use ORGSVC_TEST_MONGODB_URI, or a FerretDB started for the run.

#[path = "common.rs"]
mod common;

use std::time::{Duration, Instant};

use chrono::Utc;
use orgsvc_domain::ports::{OrganizationChange, OrganizationStore, TenantStore};
use orgsvc_domain::{
    Document, DocumentBody, DocumentId, Organization, OrganizationId, OrganizationName,
};
use orgsvc_storage::mongo::RenameMode;
use orgsvc_storage::{EmbeddedStore, MongoSettings, MongoStore};
use serde_json::json;

async fn organization_with_documents(
    store: &(impl OrganizationStore + TenantStore),
    documents: usize,
) -> Organization {
    let organization =
        common::create_organization(store, &OrganizationId::generate().to_string()).await;
    let id = organization.id;
    for n in 0..documents {
        let body = json!({"n": n, "title": "quarterly report", "tags": ["a", "b"]});
        let document = Document {
            id: DocumentId::generate(),
            body: DocumentBody::new(body.as_object().unwrap().clone()).unwrap(),
        };
        store.insert_document(&id, &document).await.unwrap();
    }
    organization
}

async fn time_rename(
    store: &(impl OrganizationStore + TenantStore),
    organization: &Organization,
) -> Duration {
    let change = OrganizationChange {
        organization_id: organization.id,
        admin_id: organization.admin.id,
        name: OrganizationName::new(&format!("{} renamed", organization.name)).unwrap(),
        email: None,
        password_hash: None,
        updated_at: Utc::now(),
    };
    let started = Instant::now();
    store.update_organization(&change).await.unwrap();
    started.elapsed()
}

fn mongo_settings(uri: &str, rename: RenameMode) -> MongoSettings {
    let mut settings = MongoSettings::for_uri(uri);
    settings.master_database = orgsvc_testkit::unique_name("bench_master");
    settings.tenant_database = orgsvc_testkit::unique_name("bench_tenants");
    settings.rename = rename;
    settings
}

#[tokio::main]
async fn main() {
    let documents: usize = std::env::var("ORGSVC_BENCH_DOCUMENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000);
    println!("renaming an organization holding {documents} documents");

    let dir = tempfile::tempdir().unwrap();
    let embedded = EmbeddedStore::open(&dir.path().join("bench.redb")).unwrap();
    let organization = organization_with_documents(&embedded, documents).await;
    let embedded_time = time_rename(&embedded, &organization).await;
    println!("  embedded (one redb transaction copies the table): {embedded_time:>10.1?}");

    let uri = match orgsvc_testkit::mongodb_uri() {
        Ok(uri) => uri,
        Err(e) => {
            println!("  MongoDB skipped: {e:?}");
            return;
        }
    };
    let renaming = MongoStore::connect(mongo_settings(uri, RenameMode::Auto))
        .await
        .unwrap();
    let organization = organization_with_documents(&renaming, documents).await;
    let rename_time = time_rename(&renaming, &organization).await;
    let copying = MongoStore::connect(mongo_settings(uri, RenameMode::Copy))
        .await
        .unwrap();
    let organization = organization_with_documents(&copying, documents).await;
    let copy_time = time_rename(&copying, &organization).await;
    println!("  MongoDB renameCollection:                        {rename_time:>10.1?}");
    println!("  MongoDB batched copy:                            {copy_time:>10.1?}");
    println!(
        "  copy / renameCollection = {:.1}x; copy throughput {:.0} documents/s",
        copy_time.as_secs_f64() / rename_time.as_secs_f64(),
        documents as f64 / copy_time.as_secs_f64()
    );
}
