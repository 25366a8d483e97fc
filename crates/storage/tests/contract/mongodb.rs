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

/// Two cluster names for one deployment would let a move copy a tenant's collection onto itself
/// and then drop it: the store refuses to start on such settings, and starts once the second
/// name reaches a deployment of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_cluster_names_for_one_deployment_are_refused() {
    use orgsvc_storage::mongo::ClusterSettings;

    let Some(uri) = mongodb_or_skip("two_cluster_names_for_one_deployment_are_refused") else {
        return;
    };
    let mut aliased = settings(uri);
    aliased.clusters.insert(
        "eu".into(),
        ClusterSettings {
            uri: uri.to_owned().into(),
        },
    );
    let refused = MongoStore::connect(aliased).await.unwrap_err();
    let message = format!("{:#}", anyhow::Error::from(refused));
    assert!(
        message.contains("\"default\" and \"eu\" reach the same deployment"),
        "{message}"
    );

    let eu = orgsvc_testkit::FerretDb::start().unwrap();
    let mut distinct = settings(uri);
    distinct.clusters.insert(
        "eu".into(),
        ClusterSettings {
            uri: eu.uri().into(),
        },
    );
    MongoStore::connect(distinct).await.unwrap();
}
