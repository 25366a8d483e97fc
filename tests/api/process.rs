//! The real `orgsvc` binary as a child process (on MongoDB, or on an embedded file), for tests
//! that kill it.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::TryStreamExt as _;
use mongodb::bson::{doc, Document};
use mongodb::{Client, Collection, Database};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{every_document, PASSWORD};

pub const LEASE_SECONDS: u64 = 2;

/// Every document of `collection` matching `filter`.
pub async fn find_all(collection: &Collection<Document>, filter: Document) -> Vec<Document> {
    collection
        .find(filter)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap()
}

/// Settings shared by every start of the service in one test: its own databases.
pub struct Deployment {
    pub uri: String,
    pub master: String,
    pub tenants: String,
    pub extra_env: Vec<(String, String)>,
    /// The embedded store's file instead of MongoDB.
    embedded: Option<std::path::PathBuf>,
    client: Client,
    /// Every cluster by name, `default` included.
    clusters: BTreeMap<String, Client>,
}

impl Deployment {
    pub async fn new(uri: &str) -> Self {
        let client = Client::with_uri_str(uri).await.unwrap();
        Self {
            uri: uri.to_owned(),
            master: orgsvc_testkit::unique_name("master"),
            tenants: orgsvc_testkit::unique_name("tenants"),
            extra_env: Vec::new(),
            embedded: None,
            client: client.clone(),
            clusters: BTreeMap::from([("default".to_owned(), client)]),
        }
    }

    /// The service on the embedded store in `file` (the MongoDB helpers are not for it).
    pub async fn embedded(file: std::path::PathBuf) -> Self {
        // The driver connects lazily: this client is never used.
        let mut deployment = Self::new("mongodb://127.0.0.1:1").await;
        deployment.embedded = Some(file);
        deployment
    }

    /// Another named cluster for tenants.
    pub async fn add_cluster(&mut self, name: &str, uri: &str) {
        self.extra_env.push((
            format!(
                "ORGSVC__STORAGE__MONGODB__CLUSTERS__{}__URI",
                name.to_uppercase()
            ),
            uri.to_owned(),
        ));
        self.clusters
            .insert(name.to_owned(), Client::with_uri_str(uri).await.unwrap());
    }

    pub fn master_db(&self) -> Database {
        self.client.database(&self.master)
    }

    pub fn tenant_db(&self) -> Database {
        self.client.database(&self.tenants)
    }

    fn command(&self, port: u16) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_orgsvc"));
        command
            .env_remove("ORGSVC_CONFIG")
            .env("ORGSVC__HTTP__LISTEN", format!("127.0.0.1:{port}"))
            .env("ORGSVC__HTTP__WORKERS", "2")
            .env("ORGSVC__STORAGE__BACKEND", "mongodb")
            .env("ORGSVC__STORAGE__MONGODB__URI", &self.uri)
            .env("ORGSVC__STORAGE__MONGODB__MASTER_DATABASE", &self.master)
            .env("ORGSVC__STORAGE__MONGODB__TENANT_DATABASE", &self.tenants)
            .env(
                "ORGSVC__STORAGE__MONGODB__INTENT_LEASE_SECONDS",
                LEASE_SECONDS.to_string(),
            )
            .env("ORGSVC__STORAGE__MONGODB__OPERATION_TIMEOUT_MS", "2000")
            .env(
                "ORGSVC__AUTH__JWT_SECRET",
                "crash-test-secret-crash-test-secret-0123456789",
            )
            .env("ORGSVC__LOG__FILTER", "warn")
            .stdin(Stdio::null())
            // The service logs to stdout: shown with ORGSVC_TEST_SERVICE_LOGS=1.
            .stdout(if std::env::var_os("ORGSVC_TEST_SERVICE_LOGS").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .stderr(Stdio::inherit());
        if let Some(file) = &self.embedded {
            command
                .env("ORGSVC__STORAGE__BACKEND", "embedded")
                .env("ORGSVC__STORAGE__EMBEDDED__PATH", file);
        }
        for (key, value) in &self.extra_env {
            command.env(key, value);
        }
        command
    }

    /// Starts the service and waits until it answers.
    pub async fn start(&self) -> Service {
        let port = free_port();
        let child = self.command(port).spawn().expect("orgsvc starts");
        let service = Service {
            child,
            address: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while service
            .client
            .get(service.url("/health"))
            .send()
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "orgsvc did not come up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        service
    }

    /// Runs an operator subcommand in the background; await the handle for its output.
    pub fn run(&self, args: &[&str]) -> tokio::task::JoinHandle<std::process::Output> {
        let child = self
            .command(free_port())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("orgsvc runs");
        tokio::task::spawn_blocking(move || child.wait_with_output().expect("orgsvc finishes"))
    }

    /// Organization documents still carrying an intent.
    pub async fn pending_intents(&self) -> u64 {
        self.master_db()
            .collection::<Document>("organizations")
            .count_documents(doc! {"intent": {"$exists": true}})
            .await
            .unwrap()
    }

    /// The storage invariants that must hold whenever no operation is in progress.
    pub async fn assert_consistent(&self) {
        let broken = self.inconsistencies().await;
        assert!(broken.is_empty(), "{}", broken.join("\n"));
    }

    /// What breaks the storage invariants right now (empty when they hold).
    pub async fn inconsistencies(&self) -> Vec<String> {
        let organizations = find_all(&self.master_db().collection("organizations"), doc! {}).await;
        let admins = find_all(&self.master_db().collection("admins"), doc! {}).await;
        let rosters = find_all(&self.master_db().collection("rosters"), doc! {}).await;
        let collections = self.collections().await;
        let mut broken = Vec::new();
        let mut referenced = Vec::new();
        let members = |roster: &Document| -> Vec<(String, String)> {
            roster
                .get_array("members")
                .unwrap()
                .iter()
                .map(|m| {
                    let m = m.as_document().unwrap();
                    (
                        m.get_str("user_id").unwrap().to_owned(),
                        m.get_str("role").unwrap().to_owned(),
                    )
                })
                .collect()
        };
        for organization in &organizations {
            let id = organization.get_str("_id").unwrap();
            if organization.contains_key("intent") {
                broken.push(format!("unfinished operation: {organization}"));
            }
            match rosters.iter().find(|r| r.get_str("_id") == Ok(id)) {
                None => broken.push(format!("organization without its roster: {organization}")),
                Some(roster) => {
                    let members = members(roster);
                    if !members.iter().any(|(_, role)| role == "owner") {
                        broken.push(format!("organization without an owner: {roster}"));
                    }
                    for (user, _) in &members {
                        if !admins.iter().any(|a| a.get_str("_id") == Ok(user)) {
                            broken.push(format!("member {user} without a user: {roster}"));
                        }
                    }
                }
            }
            let location = location_of(organization);
            if !collections.contains(&location) {
                broken.push(format!(
                    "metadata points at a missing collection: {organization}"
                ));
            }
            referenced.push(location);
        }
        for roster in &rosters {
            let id = roster.get_str("_id").unwrap();
            if !organizations.iter().any(|o| o.get_str("_id") == Ok(id)) {
                broken.push(format!("roster without an organization: {roster}"));
            }
        }
        for admin in &admins {
            let id = admin.get_str("_id").unwrap();
            if !rosters
                .iter()
                .any(|r| members(r).iter().any(|(user, _)| user == id))
            {
                broken.push(format!("user in no organization: {admin}"));
            }
        }
        for collection in &collections {
            let owners = referenced.iter().filter(|c| *c == collection).count();
            // The shared collection has any number of owners, none included.
            if owners != 1 && collection.2 != SHARED {
                broken.push(format!("collection {collection:?} has {owners} owners"));
            }
        }
        broken
    }

    /// Every tenant collection as (cluster, database, name): in the tenant database, and in
    /// organizations' own databases.
    pub async fn collections(&self) -> Vec<Place> {
        let mut collections = Vec::new();
        for (cluster, client) in &self.clusters {
            let own = format!("{}_", self.tenants);
            for database in client.list_database_names().await.unwrap() {
                if database != self.tenants && !database.starts_with(&own) {
                    continue;
                }
                let names = client.database(&database).list_collection_names().await;
                for name in names.unwrap() {
                    collections.push((cluster.clone(), database.clone(), name));
                }
            }
        }
        collections
    }

    /// The documents at `place`, as stored.
    pub async fn documents_at(&self, place: &Place) -> Vec<Document> {
        let (cluster, database, collection) = place;
        let database = self.clusters[cluster].database(database);
        find_all(&database.collection(collection), doc! {}).await
    }
}

/// The shared collection of the `shared` tenancy model.
pub const SHARED: &str = "tenant_documents";

/// Where documents are: (cluster, database, collection).
pub type Place = (String, String, String);

/// Where an organization record says its documents are.
pub fn location_of(organization: &Document) -> Place {
    let connection = organization.get_document("connection").unwrap();
    (
        connection.get_str("cluster").unwrap().to_owned(),
        connection.get_str("database").unwrap().to_owned(),
        connection.get_str("collection").unwrap().to_owned(),
    )
}

pub struct Service {
    child: Child,
    pub address: String,
    pub client: reqwest::Client,
}

impl Service {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Sends `request` and reads its JSON body.
    pub async fn json(&self, request: reqwest::RequestBuilder) -> serde_json::Value {
        request.send().await.unwrap().json().await.unwrap()
    }

    /// `POST /org/create` with the test password: its status and body; 503 when the service
    /// did not answer (as when it is killed meanwhile).
    pub async fn create_org(&self, name: &str, email: &str) -> (StatusCode, Value) {
        let body = json!({"organization_name": name, "email": email, "password": PASSWORD});
        match self
            .client
            .post(self.url("/org/create"))
            .json(&body)
            .send()
            .await
        {
            Ok(response) => {
                let status = response.status();
                (status, response.json().await.unwrap_or(Value::Null))
            }
            Err(_) => (StatusCode::SERVICE_UNAVAILABLE, Value::Null),
        }
    }

    /// A token of the admin `email` (logged in with the test password).
    pub async fn token(&self, email: &str) -> String {
        let body = json!({"email": email, "password": PASSWORD});
        let login = self
            .json(self.client.post(self.url("/admin/login")).json(&body))
            .await;
        login["access_token"]
            .as_str()
            .expect("logged in")
            .to_owned()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The ids `GET /org/documents` lists for the token's organization, following the cursor.
    pub async fn document_ids(&self, token: &str) -> std::collections::BTreeSet<String> {
        let url = self.url("/org/documents");
        every_document(&self.client, &url, token, |request| self.json(request))
            .await
            .iter()
            .map(|d| d["id"].as_str().unwrap().to_owned())
            .collect()
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Sends `signal` (STOP, CONT...) to a process.
pub fn signal(pid: u32, signal: &str) {
    let sent = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success(), "kill -{signal} {pid}");
}
