use orgsvc_storage::{MongoSettings, MongoStore};
use orgsvc_testkit::{mongodb_or_skip, unique_name};

pub struct Mongo {
    pub store: MongoStore,
}

/// A store on the shared test server with databases of its own.
pub fn settings(uri: &str) -> MongoSettings {
    let mut settings = MongoSettings::for_uri(uri);
    settings.master_database = unique_name("master");
    settings.tenant_database = unique_name("tenants");
    settings.operation_timeout_ms = 5_000;
    settings.intent_lease_seconds = 2;
    settings
}

async fn make(test: &str) -> Option<Mongo> {
    let uri = mongodb_or_skip(test)?;
    let store = MongoStore::connect(settings(uri)).await.expect("connects");
    Some(Mongo { store })
}

all_contract_tests!(make);
