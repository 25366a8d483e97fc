//! Clients that mix every endpoint against one orgsvc and remember what each answer promised.
//!
//! Each client owns one organization, so nothing it reads may differ from what it was last
//! acknowledged (reads are checked during the run, not only at the end). An answer that says
//! nothing about the outcome (a transport error, or a 503 while a fault is being injected)
//! leaves the state open between the old and the new value; anything else is a definite
//! acknowledgement. Outside a fault window every 5xx and every transport error is a failure,
//! except a 503 `storage_unavailable` in the aftermath of a SIGKILL (see [`Target::aftermath`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

use crate::helpers::PASSWORD;

/// How long the end state may take to settle after a fault: past the longest time a server
/// keeps a dead client's transaction (MongoDB's default `transactionLifetimeLimitSeconds`).
const SETTLE: Duration = Duration::from_secs(75);

/// Where clients send requests, and whether a fault is being injected right now.
#[derive(Clone)]
pub struct Target {
    pub base: String,
    /// While set, 503s and transport errors are expected and outcomes are uncertain.
    pub fault: Arc<AtomicBool>,
    /// Until when a 503 `storage_unavailable` is still excused once the fault window has
    /// closed. A process killed inside a transaction leaves it open on the server, holding its
    /// records' locks until the server aborts it (DocumentDB: 30 s, reaped within 45 s;
    /// MongoDB: 60 s); the service answers 503 for what waits on them, which is right.
    pub aftermath: Arc<Mutex<Option<Instant>>>,
}

impl Target {
    pub fn new(base: String, fault: Arc<AtomicBool>) -> Self {
        Self {
            base,
            fault,
            aftermath: Arc::default(),
        }
    }

    /// Excuses 503 `storage_unavailable` from now until a dead client's transactions are
    /// certainly gone.
    pub fn open_aftermath(&self) {
        *self.aftermath.lock().unwrap() = Some(Instant::now() + SETTLE);
    }

    fn in_aftermath(&self) -> bool {
        self.aftermath
            .lock()
            .unwrap()
            .is_some_and(|until| Instant::now() < until)
    }
}

/// What a document is, as far as its client knows.
#[derive(Clone, Debug)]
enum Known {
    /// Definitely this body (`None`: definitely deleted).
    Is(Option<Value>),
    /// One of these; an unacknowledged change may or may not have happened.
    OneOf(Vec<Option<Value>>),
}

impl Known {
    fn allows(&self, seen: Option<&Value>) -> bool {
        match self {
            Self::Is(body) => body.as_ref() == seen,
            Self::OneOf(bodies) => bodies.iter().any(|body| body.as_ref() == seen),
        }
    }

    fn options(&self) -> Vec<Option<Value>> {
        match self {
            Self::Is(body) => vec![body.clone()],
            Self::OneOf(bodies) => bodies.clone(),
        }
    }
}

/// One client's view of its organization.
pub struct Model {
    pub email: String,
    /// Every name the organization may have now (one unless a rename went unanswered).
    pub names: Vec<String>,
    pub id: Option<String>,
    documents: HashMap<String, Known>,
    /// Bodies of inserts whose answer never came: each may or may not exist, under an id
    /// nobody learned.
    unanswered_inserts: Vec<Value>,
    renames: u32,
}

/// Everything the run measured and every broken promise it saw.
#[derive(Default)]
pub struct Report {
    pub started: Option<Instant>,
    pub statuses: BTreeMap<u16, u64>,
    pub transport_errors: u64,
    pub latencies: Vec<Duration>,
    pub violations: Vec<String>,
}

impl Report {
    fn violate(&mut self, what: String) {
        let at = self.started.map(|s| s.elapsed()).unwrap_or_default();
        self.violations
            .push(format!("[{:.1} s] {what}", at.as_secs_f64()));
    }

    pub fn requests(&self) -> u64 {
        self.statuses.values().sum::<u64>() + self.transport_errors
    }

    pub fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        sorted.get(index).copied().unwrap_or_default()
    }

    pub fn summary(&self, label: &str) -> String {
        format!(
            "{label}: {} requests, statuses {:?}, transport errors {}, p50 {:?}, p99 {:?}, violations {}",
            self.requests(),
            self.statuses,
            self.transport_errors,
            self.percentile(0.50),
            self.percentile(0.99),
            self.violations.len()
        )
    }
}

/// What one request came back with.
enum Answer {
    Status(StatusCode, Value),
    /// Nothing came back; the request may or may not have been carried out.
    Lost,
}

struct LoadClient {
    http: Client,
    target: Target,
    token: Option<String>,
    report: Arc<Mutex<Report>>,
    nonce: Arc<AtomicU64>,
}

impl LoadClient {
    async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let (answer, started, faulty) = self.exchange(request).await;
        self.account(&answer, started, faulty);
        answer
    }

    /// As [`Self::send`], for judging the end state once the fault is over: a 503 is asked
    /// again until [`SETTLE`] has passed, and only the last answer counts. After a SIGKILL
    /// inside a transaction, the server keeps that transaction's locks until it aborts it
    /// (DocumentDB: 30 s, reaped within 45 s; MongoDB: 60 s), and the service answers 503
    /// for what waits on them; what is judged is where the data settles.
    async fn send_settled(&self, request: &reqwest::RequestBuilder) -> Answer {
        let deadline = Instant::now() + SETTLE;
        loop {
            let attempt = request.try_clone().expect("no streamed bodies here");
            let (answer, started, faulty) = self.exchange(attempt).await;
            match answer {
                Answer::Status(StatusCode::SERVICE_UNAVAILABLE, _) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                answer => {
                    self.account(&answer, started, faulty);
                    return answer;
                }
            }
        }
    }

    /// One request: its answer, when it started, and whether a fault excuses it.
    async fn exchange(&self, request: reqwest::RequestBuilder) -> (Answer, Instant, bool) {
        let started = Instant::now();
        let faulty = self.target.fault.load(Ordering::SeqCst);
        let answer = match request.timeout(Duration::from_secs(20)).send().await {
            Ok(response) => {
                let status = response.status();
                let body = response.json().await.unwrap_or(Value::Null);
                Answer::Status(status, body)
            }
            Err(_) => Answer::Lost,
        };
        // A fault that began while the request was in flight excuses it too.
        (
            answer,
            started,
            faulty || self.target.fault.load(Ordering::SeqCst),
        )
    }

    fn account(&self, answer: &Answer, started: Instant, faulty: bool) {
        let mut report = self.report.lock().unwrap();
        match &answer {
            Answer::Status(status, body) => {
                *report.statuses.entry(status.as_u16()).or_default() += 1;
                let unavailable = *status == StatusCode::SERVICE_UNAVAILABLE;
                let excused =
                    faulty || (self.target.in_aftermath() && body["code"] == "storage_unavailable");
                if status.is_server_error() && !(unavailable && excused) {
                    report.violate(format!("{status} outside a fault window: {body}"));
                }
                if !faulty {
                    report.latencies.push(started.elapsed());
                }
            }
            Answer::Lost => {
                report.transport_errors += 1;
                if !faulty {
                    report.violate("a request got no answer outside a fault window".into());
                }
            }
        }
    }

    fn violation(&self, what: String) {
        self.report.lock().unwrap().violate(what);
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.target.base)
    }

    fn authed(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    async fn log_in(&mut self, email: &str) {
        let body = json!({"email": email, "password": PASSWORD});
        if let Answer::Status(StatusCode::OK, token) = self
            .send(self.http.post(self.url("/admin/login")).json(&body))
            .await
        {
            self.token = token["access_token"].as_str().map(str::to_owned);
        }
    }

    /// Creates the client's organization, asking again until the answer is definite: a 409
    /// after an unanswered attempt means that attempt created it.
    async fn create(&mut self, model: &mut Model, until: Instant) {
        let body = json!({"organization_name": model.names[0], "email": model.email, "password": PASSWORD});
        while Instant::now() < until {
            match self
                .send(self.http.post(self.url("/org/create")).json(&body))
                .await
            {
                Answer::Status(StatusCode::CREATED, org) => {
                    model.id = org["id"].as_str().map(str::to_owned);
                    return;
                }
                Answer::Status(StatusCode::CONFLICT, _) => return,
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    fn unique_body(&self, client: usize) -> Value {
        let n = self.nonce.fetch_add(1, Ordering::Relaxed);
        json!({"client": client, "n": n, "payload": {"list": [n, "x"], "nested": [[n]]}})
    }

    async fn step(&mut self, client: usize, model: &mut Model, roll: u64) {
        let ids: Vec<String> = model.documents.keys().cloned().collect();
        let pick = ids.get(roll as usize % ids.len().max(1)).cloned();
        match (roll % 100, pick) {
            (0..=29, _) | (_, None) => self.insert(client, model).await,
            (30..=49, Some(id)) => self.replace(client, model, &id).await,
            (50..=59, Some(id)) => self.delete(model, &id).await,
            (60..=79, Some(id)) => self.read(model, &id).await,
            (80..=89, _) => {
                let request = self.authed(self.http.get(self.url("/org/documents?limit=20")));
                self.send(request).await;
            }
            (90..=94, _) => self.read_organization(model).await,
            (95..=97, _) => self.rename(model).await,
            _ => {
                let request = self.authed(self.http.get(self.url("/org/audit?limit=5")));
                self.send(request).await;
            }
        }
    }

    async fn insert(&mut self, client: usize, model: &mut Model) {
        let body = self.unique_body(client);
        let request = self.authed(self.http.post(self.url("/org/documents")).json(&body));
        match self.send(request).await {
            Answer::Status(StatusCode::CREATED, created) => {
                let id = created["id"].as_str().unwrap_or_default().to_owned();
                model.documents.insert(id, Known::Is(Some(body)));
            }
            Answer::Status(status, _) if status.is_server_error() => {
                model.unanswered_inserts.push(body);
            }
            Answer::Lost => model.unanswered_inserts.push(body),
            Answer::Status(status, problem) => {
                self.violation(format!("insert answered {status}: {problem}"));
            }
        }
    }

    async fn replace(&mut self, client: usize, model: &mut Model, id: &str) {
        let body = self.unique_body(client);
        let request = self.authed(
            self.http
                .put(self.url(&format!("/org/documents/{id}")))
                .json(&body),
        );
        let before = model.documents[id].clone();
        match self.send(request).await {
            Answer::Status(StatusCode::OK, _) => {
                model.documents.insert(id.to_owned(), Known::Is(Some(body)));
            }
            Answer::Status(StatusCode::NOT_FOUND, _) if before.allows(None) => {
                model.documents.insert(id.to_owned(), Known::Is(None));
            }
            Answer::Lost => uncertain(model, id, &before, Some(body)),
            Answer::Status(status, _) if status.is_server_error() => {
                uncertain(model, id, &before, Some(body));
            }
            Answer::Status(status, problem) => {
                self.violation(format!("replace of {id} answered {status}: {problem}"));
            }
        }
    }

    async fn delete(&mut self, model: &mut Model, id: &str) {
        let request = self.authed(self.http.delete(self.url(&format!("/org/documents/{id}"))));
        let before = model.documents[id].clone();
        match self.send(request).await {
            Answer::Status(StatusCode::OK, _) => {
                model.documents.insert(id.to_owned(), Known::Is(None));
            }
            Answer::Status(StatusCode::NOT_FOUND, _) if before.allows(None) => {
                model.documents.insert(id.to_owned(), Known::Is(None));
            }
            Answer::Lost => uncertain(model, id, &before, None),
            Answer::Status(status, _) if status.is_server_error() => {
                uncertain(model, id, &before, None);
            }
            Answer::Status(status, problem) => {
                self.violation(format!("delete of {id} answered {status}: {problem}"));
            }
        }
    }

    async fn read(&mut self, model: &mut Model, id: &str) {
        let request = self.authed(self.http.get(self.url(&format!("/org/documents/{id}"))));
        let seen = match self.send(request).await {
            Answer::Status(StatusCode::OK, document) => Some(document["data"].clone()),
            Answer::Status(StatusCode::NOT_FOUND, _) => None,
            _ => return,
        };
        if !model.documents[id].allows(seen.as_ref()) {
            self.violation(format!(
                "read of {id} saw {seen:?}, acknowledged {:?}",
                model.documents[id]
            ));
        } else {
            // A read settles an uncertain document.
            model.documents.insert(id.to_owned(), Known::Is(seen));
        }
    }

    async fn read_organization(&mut self, model: &Model) {
        let name = model.names[0].clone();
        let request = self
            .http
            .get(self.url("/org/get"))
            .query(&[("organization_name", &name)]);
        if let Answer::Status(status, body) = self.send(request).await {
            let acknowledged = model.names.len() == 1;
            if acknowledged
                && status == StatusCode::OK
                && body["organization_name"] != name.as_str()
            {
                self.violation(format!("organization {name} read back as {body}"));
            }
            if acknowledged && status == StatusCode::NOT_FOUND {
                self.violation(format!("organization {name} is gone"));
            }
        }
    }

    async fn rename(&mut self, model: &mut Model) {
        model.renames += 1;
        let new = format!(
            "{} r{}",
            model.email.split('@').next().unwrap_or("org"),
            model.renames
        );
        let body = json!({"organization_name": new});
        let request = self.authed(self.http.put(self.url("/org/update")).json(&body));
        match self.send(request).await {
            Answer::Status(StatusCode::OK, _) => model.names = vec![new],
            // Recorded, finishing once the database answers (tests/api/rename_outage.rs holds
            // it to that): either name until then.
            Answer::Status(StatusCode::ACCEPTED, _) | Answer::Lost => model.names.insert(0, new),
            Answer::Status(status, _) if status.is_server_error() => model.names.insert(0, new),
            Answer::Status(status, problem) => {
                self.violation(format!("rename to {new} answered {status}: {problem}"));
            }
        }
    }
}

fn uncertain(model: &mut Model, id: &str, before: &Known, after: Option<Value>) {
    let mut options = before.options();
    options.push(after);
    model.documents.insert(id.to_owned(), Known::OneOf(options));
}

/// Runs `clients` clients for `duration`, then checks every client's organization and
/// documents against what it was told. Returns the report; the caller asserts on it.
pub async fn run(target: Target, clients: usize, duration: Duration) -> Report {
    let report = Arc::new(Mutex::new(Report {
        started: Some(Instant::now()),
        ..Report::default()
    }));
    let nonce = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + duration;
    let tasks: Vec<_> = (0..clients)
        .map(|n| {
            let mut client = LoadClient {
                http: Client::new(),
                target: target.clone(),
                token: None,
                report: Arc::clone(&report),
                nonce: Arc::clone(&nonce),
            };
            tokio::spawn(async move {
                let email = format!("load{n}@orgsvc.test");
                let mut model = Model {
                    names: vec![format!("load{n} org")],
                    email: email.clone(),
                    id: None,
                    documents: HashMap::new(),
                    unanswered_inserts: Vec::new(),
                    renames: 0,
                };
                client
                    .create(&mut model, until + Duration::from_secs(30))
                    .await;
                let mut roll: u64 = 0x9E37_79B9_7F4A_7C15 ^ (n as u64);
                while Instant::now() < until {
                    if client.token.is_none() {
                        client.log_in(&email).await;
                        if client.token.is_none() {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    }
                    // xorshift: a fixed, reproducible mix per client.
                    roll ^= roll << 13;
                    roll ^= roll >> 7;
                    roll ^= roll << 17;
                    client.step(n, &mut model, roll).await;
                }
                (client, model)
            })
        })
        .collect();
    let mut finished = Vec::new();
    for task in tasks {
        finished.push(task.await.expect("a client panicked"));
    }
    // The end state is judged once the fault is over (a restarting database can outlast the
    // load); whoever injects it closes the window.
    while target.fault.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for (client, model) in &mut finished {
        verify(client, model).await;
    }
    let report = std::mem::take(&mut *report.lock().unwrap());
    report
}

/// The end state against the model: the organization exists exactly once under a name it may
/// have, every document is what was acknowledged, and every document nobody was told about
/// is one of the client's unanswered inserts.
async fn verify(client: &mut LoadClient, model: &Model) {
    let mut organization = None;
    for name in &model.names {
        let request = client
            .http
            .get(client.url("/org/get"))
            .query(&[("organization_name", name)]);
        if let Answer::Status(StatusCode::OK, found) = client.send_settled(&request).await {
            if organization.replace(found).is_some() {
                client.violation(format!("{} exists under two names", model.email));
            }
        }
    }
    let Some(organization) = organization else {
        client.violation(format!(
            "the organization of {} is missing under {:?}",
            model.email, model.names
        ));
        return;
    };
    if let Some(id) = &model.id {
        if organization["id"] != id.as_str() {
            client.violation(format!("{} was created twice: {organization}", model.email));
        }
    }
    client.log_in(&model.email).await;
    let mut stored: HashMap<String, Value> = HashMap::new();
    let mut after: Option<String> = None;
    loop {
        let mut request = client.authed(client.http.get(client.url("/org/documents?limit=1000")));
        if let Some(after) = &after {
            request = request.query(&[("after", after)]);
        }
        let Answer::Status(StatusCode::OK, page) = client.send_settled(&request).await else {
            client.violation(format!("cannot list the documents of {}", model.email));
            return;
        };
        for document in page["documents"].as_array().into_iter().flatten() {
            let id = document["id"].as_str().unwrap_or_default().to_owned();
            stored.insert(id, document["data"].clone());
        }
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => break,
        }
    }
    for (id, known) in &model.documents {
        if !known.allows(stored.get(id)) {
            client.violation(format!(
                "document {id} of {} is {:?}, acknowledged {known:?}",
                model.email,
                stored.get(id)
            ));
        }
    }
    for (id, body) in &stored {
        if !model.documents.contains_key(id) && !model.unanswered_inserts.contains(body) {
            client.violation(format!(
                "document {id} of {} was never written: {body}",
                model.email
            ));
        }
    }
}
