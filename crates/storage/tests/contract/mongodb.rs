use orgsvc_domain::TenancyModel;
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

async fn make(test: &str, model: TenancyModel) -> Option<Mongo> {
    let uri = mongodb_or_skip(test)?;
    let mut settings = settings(uri);
    settings.tenancy = model;
    let store = MongoStore::connect(settings).await.expect("connects");
    Some(Mongo { store })
}

/// The whole contract once per tenancy model: each keeps every promise.
mod collection {
    use super::{make, TenancyModel};

    all_contract_tests!((|test: &'static str| make(test, TenancyModel::Collection)));
}

mod database {
    use super::{make, TenancyModel};

    all_contract_tests!((|test: &'static str| make(test, TenancyModel::Database)));
}

mod shared {
    use super::{make, TenancyModel};

    all_contract_tests!((|test: &'static str| make(test, TenancyModel::Shared)));
}
