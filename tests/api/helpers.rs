use std::path::{Path, PathBuf};

use orgsvc_app::settings::Profile;
use orgsvc_app::{Application, Settings, TenancyModel};
use orgsvc_storage::{MongoSettings, OpenEmbeddedStoreError};
use reqwest::{RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};
use tempfile::TempDir;

pub const PASSWORD: &str = "correct horse battery";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Embedded,
    /// With new organizations under this tenancy model.
    Mongodb(TenancyModel),
}

/// MongoDB with the default tenancy model.
pub const MONGODB: Backend = Backend::Mongodb(TenancyModel::Collection);

/// A running orgsvc and a client for it.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub data: PathBuf,
    settings: Settings,
    handle: actix_web::dev::ServerHandle,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    dir: TempDir,
}

/// Test settings on `data`: a free port, and for MongoDB databases no other test uses on the
/// shared test server. `None` when MongoDB is unavailable here (and the test must skip).
pub fn settings(data: &Path, backend: Backend, test: &str) -> Option<Settings> {
    let mut settings = Settings::load().expect("settings load");
    settings.profile = Profile::Development;
    settings.http.listen = "127.0.0.1:0".into();
    settings.http.workers = 2;
    settings.storage.embedded.path = data.join("orgsvc.redb");
    settings.auth.jwt_secret = None;
    settings.auth.jwt_secret_file = None;
    // Tests log in far more often than a person; the per-IP limit has tests of its own.
    settings.auth.login.per_ip_burst = 10_000;
    // Webhook receivers in tests listen on loopback, and a test should not wait long for them.
    settings.webhooks.allow_private_targets = true;
    settings.webhooks.poll_ms = 100;
    settings.webhooks.retry_first_ms = 200;
    settings.webhooks.retry_max_ms = 1_000;
    if let Backend::Mongodb(model) = backend {
        let mut mongodb = MongoSettings::for_uri(orgsvc_testkit::mongodb_or_skip(test)?);
        mongodb.master_database = orgsvc_testkit::unique_name("master");
        mongodb.tenant_database = orgsvc_testkit::unique_name("tenants");
        mongodb.tenancy = model;
        mongodb.operation_timeout_ms = 5_000;
        settings.storage.backend = orgsvc_app::settings::Backend::Mongodb;
        settings.storage.mongodb = mongodb;
    }
    Some(settings)
}

impl TestApp {
    /// A fresh app with empty storage; `None` when the backend is unavailable (test skips).
    pub async fn spawn(backend: Backend, test: &str) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let settings = settings(dir.path(), backend, test)?;
        Some(Self::spawn_with(settings, dir).await)
    }

    pub async fn spawn_with(settings: Settings, dir: TempDir) -> Self {
        log_errors();
        let application = build_when_released(settings.clone()).await;
        let address = format!("http://127.0.0.1:{}", application.port());
        let handle = application.handle();
        let server = tokio::spawn(application.run_until_stopped());
        Self {
            address,
            client: reqwest::Client::new(),
            data: dir.path().to_owned(),
            settings,
            handle,
            server,
            dir,
        }
    }

    /// The storage backend's name, as metrics label it.
    pub fn backend_name(&self) -> &'static str {
        match self.settings.storage.backend {
            orgsvc_app::settings::Backend::Embedded => "embedded",
            orgsvc_app::settings::Backend::Mongodb => "mongodb",
        }
    }

    /// The `connection` the new `organization` should report on this app's backend.
    pub fn expected_connection(&self, organization: &Value) -> Value {
        match self.settings.storage.backend {
            orgsvc_app::settings::Backend::Embedded => {
                json!({"cluster": "embedded", "database": "orgsvc", "model": "collection"})
            }
            orgsvc_app::settings::Backend::Mongodb => {
                let mongodb = &self.settings.storage.mongodb;
                let tenants = &mongodb.tenant_database;
                let database = match mongodb.tenancy {
                    TenancyModel::Database => {
                        let id = organization["id"].as_str().unwrap().replace('-', "");
                        format!("{tenants}_{id}")
                    }
                    TenancyModel::Collection | TenancyModel::Shared => tenants.clone(),
                };
                json!({"cluster": "default", "database": database, "model": mongodb.tenancy.as_str()})
            }
        }
    }

    /// Stops the server and starts a new one on the same storage and secret.
    pub async fn restart(self) -> Self {
        self.handle.stop(true).await;
        self.server.await.unwrap().unwrap();
        Self::spawn_with(self.settings, self.dir).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn send(&self, request: RequestBuilder) -> (StatusCode, Value) {
        let response: Response = request.send().await.expect("request sent");
        let status = response.status();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    pub async fn create_org(&self, name: &str, email: &str) -> (StatusCode, Value) {
        let body = json!({"organization_name": name, "email": email, "password": PASSWORD});
        self.send(self.client.post(self.url("/org/create")).json(&body))
            .await
    }

    pub async fn get_org(&self, name: &str) -> (StatusCode, Value) {
        self.send(
            self.client
                .get(self.url("/org/get"))
                .query(&[("organization_name", name)]),
        )
        .await
    }

    /// `GET /org/get` with a bearer token (its own organization's shows the admin).
    pub async fn get_org_as(&self, token: &str, name: &str) -> (StatusCode, Value) {
        self.send(
            self.client
                .get(self.url("/org/get"))
                .query(&[("organization_name", name)])
                .bearer_auth(token),
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str) -> (StatusCode, Value) {
        let body = json!({"email": email, "password": password});
        self.send(self.client.post(self.url("/admin/login")).json(&body))
            .await
    }

    /// Creates an organization and logs its admin in; returns the organization and a token.
    pub async fn org_with_token(&self, name: &str, email: &str) -> (Value, String) {
        let (status, org) = self.create_org(name, email).await;
        assert_eq!(status, StatusCode::CREATED, "{org}");
        let (status, token) = self.login(email, PASSWORD).await;
        assert_eq!(status, StatusCode::OK, "{token}");
        (org, token["access_token"].as_str().unwrap().to_owned())
    }

    pub async fn update_org(&self, token: &str, body: &Value) -> (StatusCode, Value) {
        self.send(
            self.client
                .put(self.url("/org/update"))
                .bearer_auth(token)
                .json(body),
        )
        .await
    }

    pub async fn delete_org(&self, token: &str, name: &str) -> (StatusCode, Value) {
        let request = self
            .client
            .delete(self.url("/org/delete"))
            .query(&[("organization_name", name)])
            .bearer_auth(token);
        self.send(request).await
    }

    pub async fn insert_doc(&self, token: &str, doc: &Value) -> (StatusCode, Value) {
        self.send(
            self.client
                .post(self.url("/org/documents"))
                .bearer_auth(token)
                .json(doc),
        )
        .await
    }

    pub async fn get_doc(&self, token: &str, id: &str) -> (StatusCode, Value) {
        self.send(
            self.client
                .get(self.url(&format!("/org/documents/{id}")))
                .bearer_auth(token),
        )
        .await
    }

    /// Every document of the token's organization, following the cursor.
    pub async fn all_docs(&self, token: &str) -> Vec<Value> {
        every_document(
            &self.client,
            &self.url("/org/documents"),
            token,
            |request| async {
                let (status, page) = self.send(request).await;
                assert_eq!(status, StatusCode::OK, "{page}");
                page
            },
        )
        .await
    }
}

/// Every document `GET <documents>` lists for the token's organization, page after page of
/// 100 following `next`; `fetch` sends one page's request and answers its body. Shared by the
/// in-process app and the child-process service.
pub async fn every_document<F, Fut>(
    client: &reqwest::Client,
    documents: &str,
    token: &str,
    fetch: F,
) -> Vec<Value>
where
    F: Fn(RequestBuilder) -> Fut,
    Fut: std::future::Future<Output = Value>,
{
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut request = client
            .get(documents)
            .bearer_auth(token)
            .query(&[("limit", "100")]);
        if let Some(after) = &after {
            request = request.query(&[("after", after)]);
        }
        let page = fetch(request).await;
        all.extend(
            page["documents"]
                .as_array()
                .expect("a page")
                .iter()
                .cloned(),
        );
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => return all,
        }
    }
}

/// Builds the app, waiting while a just-stopped app still holds the database file: actix's
/// worker threads drop their state (and with it redb's file lock) shortly after the server
/// future resolves.
async fn build_when_released(settings: Settings) -> Application {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match Application::build(settings.clone()).await {
            Ok(application) => return application,
            Err(e)
                if std::time::Instant::now() < deadline
                    && matches!(
                        e.downcast_ref::<OpenEmbeddedStoreError>(),
                        Some(OpenEmbeddedStoreError::Open { .. })
                    ) =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            Err(e) => panic!("app does not build: {e:?}"),
        }
    }
}

/// An organization as an anonymous `GET /org/get` shows it: without its admin.
pub fn anonymous(mut organization: Value) -> Value {
    if let Some(organization) = organization.as_object_mut() {
        organization.remove("admin");
        organization.remove("admin_email");
    }
    organization
}

/// Asserts a problem+json answer with the given status and code.
pub fn assert_problem(status: StatusCode, body: &Value, expected: u16, code: &str) {
    assert_eq!(status.as_u16(), expected, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], expected, "{body}");
}

/// A tool the project's `scripts/<script> install` provides (it prints the path to use);
/// `None`, after a loud line, where it cannot be had off CI. On CI a missing tool fails the test.
pub fn project_tool(script: &str) -> Option<PathBuf> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("scripts")
        .join(script);
    let output = std::process::Command::new(&path).arg("install").output();
    match output {
        Ok(output) if output.status.success() => Some(PathBuf::from(
            String::from_utf8_lossy(&output.stdout).trim().to_owned(),
        )),
        other => {
            assert!(
                std::env::var_os("CI").is_none(),
                "scripts/{script} could not install its tool on CI: {other:?}"
            );
            eprintln!(
                "\n!!! SKIPPED: scripts/{script} could not install its tool here: {other:?}\n"
            );
            None
        }
    }
}

/// Errors logged by the in-process apps go to stderr: a 500's body only says that it was
/// logged, and a run that fails on a busy machine should show why.
fn log_errors() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_max_level(tracing_subscriber::filter::LevelFilter::ERROR)
            .try_init();
    });
}
