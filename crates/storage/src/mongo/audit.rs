//! The audit log in the master database's `audit` collection: `_id` is the event id (UUIDv7,
//! time-ordered), indexed with the organization so one organization's events page in `_id`
//! order. Old events go after `audit_retention_days`, by TTL index.

use std::time::Duration;

use bson::{doc, Document as BsonDocument};
use futures_util::TryStreamExt as _;
use mongodb::Collection;
use orgsvc_domain::errors::StoreError;
use orgsvc_domain::ports::AuditLog;
use orgsvc_domain::{AuditAction, AuditEvent, AuditEventId, OrganizationId, Outcome};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use super::errors::timed;
use super::MongoStore;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EventDoc {
    #[serde(rename = "_id")]
    pub id: String,
    pub organization_id: Option<String>,
    pub at: bson::DateTime,
    pub action: String,
    pub outcome: String,
    pub actor: Option<String>,
    pub ip: Option<String>,
    pub details: BsonDocument,
}

fn corrupt(error: impl std::fmt::Display) -> StoreError {
    StoreError::Unknown(anyhow::anyhow!("corrupt audit event: {error}"))
}

impl EventDoc {
    fn from_domain(event: &AuditEvent) -> Result<Self, StoreError> {
        Ok(Self {
            id: event.id.to_string(),
            organization_id: event.organization_id.map(|id| id.to_string()),
            at: bson::DateTime::from_chrono(event.at),
            action: event.action.as_str().to_owned(),
            outcome: event.outcome.as_str().to_owned(),
            actor: event.actor.map(|id| id.to_string()),
            ip: event.ip.map(|ip| ip.to_string()),
            details: bson::to_document(&event.details)
                .map_err(|e| StoreError::Unknown(e.into()))?,
        })
    }

    fn into_domain(self) -> Result<AuditEvent, StoreError> {
        Ok(AuditEvent {
            id: AuditEventId::from_uuid(self.id.parse().map_err(corrupt)?),
            at: self.at.to_chrono(),
            organization_id: self
                .organization_id
                .map(|id| id.parse())
                .transpose()
                .map_err(corrupt)?,
            action: AuditAction::parse(&self.action).ok_or_else(|| corrupt(&self.action))?,
            outcome: Outcome::parse(&self.outcome).ok_or_else(|| corrupt(&self.outcome))?,
            actor: self
                .actor
                .map(|id| id.parse())
                .transpose()
                .map_err(corrupt)?,
            ip: self.ip.map(|ip| ip.parse()).transpose().map_err(corrupt)?,
            details: bson::from_document(self.details).map_err(corrupt)?,
        })
    }
}

/// Writes audit events in batches, as the embedded store's group commit does: under load, the
/// events of many requests go to the database in one `insert_many`, one commit instead of one
/// each, and a request does not wait for its event's commit (appending is best effort by
/// contract). A read of the log first waits for everything queued before it. The queue is
/// bounded: a caller that finds it full waits, at most the operation timeout, and a crash loses
/// at most the events queued or in flight.
pub(super) struct AuditWriter {
    queue: mpsc::Sender<Queued>,
}

enum Queued {
    Event(Box<EventDoc>),
    /// Answered once every event queued before it has been written (or given up on).
    Flush(oneshot::Sender<()>),
}

/// Events and flushes waiting for a batch at most.
const QUEUE: usize = 1024;
/// Events in one `insert_many` at most.
const BATCH: usize = 128;

impl AuditWriter {
    /// Starts the task that writes the batches; it ends when the writer is dropped, after
    /// writing what is queued.
    pub(super) fn spawn(audit: Collection<EventDoc>, limit: Duration) -> Self {
        let (queue, mut incoming) = mpsc::channel(QUEUE);
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(BATCH);
            while incoming.recv_many(&mut batch, BATCH).await > 0 {
                let mut events = Vec::new();
                let mut flushes = Vec::new();
                for queued in batch.drain(..) {
                    match queued {
                        Queued::Event(event) => events.push(*event),
                        Queued::Flush(done) => flushes.push(done),
                    }
                }
                let count = events.len();
                if count > 0 {
                    let written = timed(limit, audit.insert_many(events).ordered(false)).await;
                    if let Err(e) = written {
                        tracing::error!(error = ?e, count, "audit events lost");
                    }
                }
                for done in flushes {
                    let _ = done.send(());
                }
            }
        });
        Self { queue }
    }

    async fn queue(&self, queued: Queued, limit: Duration) -> Result<(), StoreError> {
        tokio::time::timeout(limit, self.queue.send(queued))
            .await
            .map_err(|_| unavailable(format!("the audit queue stayed full for {limit:?}")))?
            .map_err(|_| unavailable("the audit writer has stopped".into()))
    }

    /// Waits until every event queued so far has been written.
    async fn flush(&self, limit: Duration) -> Result<(), StoreError> {
        let (done, flushed) = oneshot::channel();
        self.queue(Queued::Flush(done), limit).await?;
        tokio::time::timeout(limit, flushed)
            .await
            .map_err(|_| unavailable(format!("the audit log was not written within {limit:?}")))?
            .map_err(|_| unavailable("the audit writer has stopped".into()))
    }
}

fn unavailable(why: String) -> StoreError {
    StoreError::Unavailable(anyhow::anyhow!(why))
}

impl AuditLog for MongoStore {
    async fn record(&self, event: &AuditEvent) {
        let queued = async {
            self.ensure_ready().await?;
            let document = Box::new(EventDoc::from_domain(event)?);
            self.inner
                .audit_writer
                .queue(Queued::Event(document), self.op_timeout())
                .await
        }
        .await;
        if let Err(e) = queued {
            tracing::error!(error = ?e, action = event.action.as_str(), "audit event lost");
        }
    }

    async fn list_audit_events(
        &self,
        organization: &OrganizationId,
        after: Option<&AuditEventId>,
        limit: usize,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        self.ensure_ready().await?;
        self.inner.audit_writer.flush(self.op_timeout()).await?;
        let mut filter = doc! {"organization_id": organization.to_string()};
        if let Some(after) = after {
            filter.insert("_id", doc! {"$lt": after.to_string()});
        }
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let found: Vec<EventDoc> = timed(self.op_timeout(), async {
            self.inner
                .audit
                .find(filter)
                .sort(doc! {"_id": -1})
                .limit(limit)
                .await?
                .try_collect()
                .await
        })
        .await?;
        found.into_iter().map(EventDoc::into_domain).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use mongodb::event::command::CommandEvent;
    use mongodb::event::EventHandler;
    use mongodb::options::ClientOptions;
    use mongodb::Client;

    use super::*;

    fn event(n: usize) -> EventDoc {
        EventDoc {
            id: format!("event-{n:04}"),
            organization_id: None,
            at: bson::DateTime::now(),
            action: "document.created".into(),
            outcome: "success".into(),
            actor: None,
            ip: None,
            details: BsonDocument::new(),
        }
    }

    /// Many requests' events at once go to the database in a few inserts, and a flush answers
    /// once all of them are stored.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_events_are_written_in_batches_and_all_kept() {
        let Some(uri) = orgsvc_testkit::mongodb_or_skip("audit batches") else {
            return;
        };
        let inserts = Arc::new(AtomicUsize::new(0));
        let mut options = ClientOptions::parse(uri).await.unwrap();
        let counted = Arc::clone(&inserts);
        options.command_event_handler = Some(EventHandler::callback(move |event| {
            if let CommandEvent::Started(started) = event {
                if started.command_name == "insert" {
                    counted.fetch_add(1, Ordering::SeqCst);
                }
            }
        }));
        let database = Client::with_options(options)
            .unwrap()
            .database(&orgsvc_testkit::unique_name("audit"));
        let audit: Collection<EventDoc> = database.collection("audit");
        let writer = Arc::new(AuditWriter::spawn(audit.clone(), Duration::from_secs(30)));

        let events = 400;
        let writes = (0..events).map(|n| {
            let writer = Arc::clone(&writer);
            let queued = Queued::Event(Box::new(event(n)));
            tokio::spawn(async move { writer.queue(queued, Duration::from_secs(30)).await })
        });
        for queued in futures_util::future::join_all(writes).await {
            queued.unwrap().unwrap();
        }
        writer.flush(Duration::from_secs(30)).await.unwrap();

        let stored = audit.count_documents(doc! {}).await.unwrap();
        assert_eq!(stored, events as u64);
        let inserts = inserts.load(Ordering::SeqCst);
        assert!(
            inserts < events / 4,
            "{inserts} inserts for {events} events"
        );
        database.drop().await.unwrap();
    }
}
