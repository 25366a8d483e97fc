//! The real `orgsvc` binary as a child process on MongoDB, for tests that kill it.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::TryStreamExt as _;
use mongodb::bson::{doc, Document};
use mongodb::{Client, Collection, Database};

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
    client: Client,
}

impl Deployment {
    pub async fn new(uri: &str) -> Self {
        Self {
            uri: uri.to_owned(),
            master: orgsvc_testkit::unique_name("master"),
            tenants: orgsvc_testkit::unique_name("tenants"),
            extra_env: Vec::new(),
            client: Client::with_uri_str(uri).await.unwrap(),
        }
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
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
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
        let organizations = find_all(&self.master_db().collection("organizations"), doc! {}).await;
        let admins = find_all(&self.master_db().collection("admins"), doc! {}).await;
        let collections = self.tenant_db().list_collection_names().await.unwrap();
        let mut referenced = Vec::new();
        for organization in &organizations {
            let id = organization.get_str("_id").unwrap();
            assert!(
                !organization.contains_key("intent"),
                "unfinished operation: {organization}"
            );
            let admin_id = organization.get_str("admin_id").unwrap();
            assert!(
                admins
                    .iter()
                    .any(|a| a.get_str("_id") == Ok(admin_id)
                        && a.get_str("organization_id") == Ok(id)),
                "organization without its admin: {organization}"
            );
            let connection = organization.get_document("connection").unwrap();
            let collection = connection.get_str("collection").unwrap().to_owned();
            assert!(
                collections.contains(&collection),
                "metadata points at a missing collection: {organization}"
            );
            referenced.push(collection);
        }
        for admin in &admins {
            let organization = admin.get_str("organization_id").unwrap();
            assert!(
                organizations
                    .iter()
                    .any(|o| o.get_str("_id") == Ok(organization)),
                "admin without an organization: {admin}"
            );
        }
        for collection in &collections {
            let owners = referenced.iter().filter(|c| *c == collection).count();
            assert_eq!(owners, 1, "collection {collection} has {owners} owners");
        }
    }
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
