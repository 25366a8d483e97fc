//! End-to-end tests: the real application on a free port with a temporary data directory,
//! driven over HTTP. One test binary with modules keeps link times down.

mod helpers;

/// Runs each named `async fn(TestApp)` once per storage backend, and on MongoDB once per
/// tenancy model: `embedded::name`, `mongodb::name` (collection), `mongodb_database::name`,
/// `mongodb_shared::name` (MongoDB skips, loudly, only where no server can be had off CI).
macro_rules! on_both_backends {
    ($($test:ident),+ $(,)?) => {
        mod embedded {
            $(
                #[tokio::test]
                async fn $test() {
                    let app = crate::helpers::TestApp::spawn(crate::helpers::Backend::Embedded, stringify!($test)).await;
                    super::$test(app.expect("embedded always runs")).await;
                }
            )+
        }
        on_mongodb!(mongodb, Collection; $($test),+);
        on_mongodb!(mongodb_database, Database; $($test),+);
        on_mongodb!(mongodb_shared, Shared; $($test),+);
    };
}

macro_rules! on_mongodb {
    ($module:ident, $model:ident; $($test:ident),+) => {
        mod $module {
            $(
                #[tokio::test]
                async fn $test() {
                    let backend = crate::helpers::Backend::Mongodb(orgsvc_app::TenancyModel::$model);
                    if let Some(app) = crate::helpers::TestApp::spawn(backend, stringify!($test)).await {
                        super::$test(app).await;
                    }
                }
            )+
        }
    };
}

mod api_keys;
mod assignment;
mod auth;
mod browser;
mod cli;
mod clusters;
mod concurrency;
mod crash;
mod delete;
mod documents;
mod durability;
mod exports;
mod fuzz;
mod hardening;
mod instances;
mod load;
mod metrics;
mod operations;
mod organizations;
mod packaging;
mod process;
mod proxy;
mod races;
mod receipts;
mod rename_outage;
mod scale_out;
mod sdk;
mod teams;
mod tenancy;
mod update;
mod webhooks;
