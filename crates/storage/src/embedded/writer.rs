//! Group commit: every small write of the embedded store (tenant documents, audit events, login
//! attempts) goes to one writer thread, which applies whatever is queued in one redb write
//! transaction and commits it with one fsync. Each caller is answered only after the commit
//! that holds its write, so an acknowledged write is as durable as before; what is shared is
//! the fsync, which is what made every write cost a disk round trip of its own.
//!
//! A job that fails may have written half of its changes into the shared transaction, so a
//! failure aborts the whole batch, and its jobs run again one transaction each: every job then
//! commits or fails on its own, exactly as if it had been alone.
//!
//! Audit events are *submitted*: queued like any write, committed with the next batch, but
//! nobody waits for that commit (a failure is logged). A document write and its audit event
//! would otherwise wait for two commits one after the other. Jobs commit in queue order, so
//! [`Writer::flush`] (a write of nothing) returns once everything submitted before it is
//! committed: reads of the audit log flush first and see every event of the calls before.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Weak};
use std::time::Duration;

use orgsvc_domain::errors::StoreError;
use redb::{Database, WriteTransaction};
use tokio::sync::{mpsc, oneshot};

use super::db_err;

/// Jobs waiting for the writer. A full queue means the disk is behind: callers wait for room
/// up to [`QUEUE_WAIT`], then get "unavailable" (HTTP 503 with Retry-After), so memory stays
/// bounded (at most this many documents, each within the request body limit).
const QUEUE: usize = 256;
const QUEUE_WAIT: Duration = Duration::from_secs(10);
/// Jobs sharing one transaction at most.
const MAX_BATCH: usize = 256;

/// Runs a job's work; a panic becomes its error, so one bad job cannot stop the writer.
fn unwound<T, E: From<StoreError>>(work: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
    catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|_| {
        Err(E::from(StoreError::Unknown(anyhow::anyhow!(
            "an embedded write panicked"
        ))))
    })
}

/// One queued write, type-erased for the writer thread.
trait Job: Send {
    /// Applies the job's writes to `txn`; `false` when the job failed (its error is kept).
    fn apply(&mut self, txn: &WriteTransaction) -> bool;
    /// Answers the caller: a failure of the transaction's commit overrides the job's own result.
    fn answer(self: Box<Self>, committed: Result<(), StoreError>);
}

struct Work<T, E, F> {
    work: F,
    result: Option<Result<T, E>>,
    reply: oneshot::Sender<Result<T, E>>,
}

impl<T, E, F> Job for Work<T, E, F>
where
    T: Send,
    E: From<StoreError> + Send,
    F: FnMut(&WriteTransaction) -> Result<T, E> + Send,
{
    fn apply(&mut self, txn: &WriteTransaction) -> bool {
        let result = unwound(|| (self.work)(txn));
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn answer(self: Box<Self>, committed: Result<(), StoreError>) {
        let answer = match (committed, self.result) {
            (Err(e), _) => Err(E::from(e)),
            (Ok(()), Some(result)) => result,
            (Ok(()), None) => Err(E::from(StoreError::Unknown(anyhow::anyhow!(
                "an embedded write was never applied"
            )))),
        };
        // A caller that went away needs no answer.
        let _ = self.reply.send(answer);
    }
}

/// A write nobody waits for; its failure is logged as `what`.
struct Detached<F> {
    work: F,
    failed: Option<StoreError>,
    what: &'static str,
}

impl<F> Job for Detached<F>
where
    F: FnMut(&WriteTransaction) -> Result<(), StoreError> + Send,
{
    fn apply(&mut self, txn: &WriteTransaction) -> bool {
        self.failed = unwound(|| (self.work)(txn)).err();
        self.failed.is_none()
    }

    fn answer(self: Box<Self>, committed: Result<(), StoreError>) {
        if let Some(error) = committed.err().or(self.failed) {
            tracing::error!(error = ?error, "{}", self.what);
        }
    }
}

/// The last job of a closing store: holds the database open for the jobs before it.
struct Last {
    db: Option<Arc<Database>>,
    done: std::sync::mpsc::Sender<()>,
}

impl Job for Last {
    fn apply(&mut self, _: &WriteTransaction) -> bool {
        true
    }

    fn answer(mut self: Box<Self>, _: Result<(), StoreError>) {
        // Let go of the database before saying so: the file can be opened again at once.
        self.db.take();
        let _ = self.done.send(());
    }
}

/// The submitting side; the thread ends when the last clone is dropped.
#[derive(Clone, Debug)]
pub(super) struct Writer {
    queue: mpsc::Sender<Box<dyn Job>>,
}

impl Writer {
    /// Starts the writer thread. It holds the database weakly, so the file is released as soon
    /// as the store is dropped.
    pub(super) fn start(db: &Arc<Database>) -> std::io::Result<Self> {
        let (queue, jobs) = mpsc::channel(QUEUE);
        let db = Arc::downgrade(db);
        std::thread::Builder::new()
            .name("redb-writer".into())
            .spawn(move || run(&db, jobs))?;
        Ok(Self { queue })
    }

    /// Runs `work` in a write transaction, committed (possibly with other writes) before the
    /// answer comes back. `work` may run more than once, each time in a fresh transaction whose
    /// earlier attempt was aborted, so it must derive everything from what it reads in `txn`.
    pub(super) async fn write<T, E, F>(&self, work: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnMut(&WriteTransaction) -> Result<T, E> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.enqueue(Box::new(Work {
            work,
            result: None,
            reply,
        }))
        .await?;
        answer.await.map_err(|_| E::from(stopped()))?
    }

    /// Queues `work` to be committed with the next batch, without waiting for that commit;
    /// a failure is logged as `what`. Waits only for room in the queue.
    pub(super) async fn submit<F>(&self, what: &'static str, work: F) -> Result<(), StoreError>
    where
        F: FnMut(&WriteTransaction) -> Result<(), StoreError> + Send + 'static,
    {
        self.enqueue(Box::new(Detached {
            work,
            failed: None,
            what,
        }))
        .await
    }

    /// Returns once every write queued before it is committed.
    pub(super) async fn flush(&self) -> Result<(), StoreError> {
        self.write(|_| Ok::<_, StoreError>(())).await
    }

    /// Blocks until everything queued is committed, keeping `db` open until then: what the last
    /// handle on the store does as it goes, so that no submitted write is lost to the close.
    pub(super) fn close(&self, db: Arc<Database>) {
        let (done, finished) = std::sync::mpsc::channel();
        let last = Box::new(Last { db: Some(db), done });
        if self.queue.try_send(last).is_ok() {
            let _ = finished.recv_timeout(QUEUE_WAIT);
        }
    }

    async fn enqueue(&self, job: Box<dyn Job>) -> Result<(), StoreError> {
        match tokio::time::timeout(QUEUE_WAIT, self.queue.send(job)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(stopped()),
            Err(_) => Err(StoreError::Unavailable(anyhow::anyhow!(
                "the embedded write queue stayed full for {QUEUE_WAIT:?}"
            ))),
        }
    }
}

fn stopped() -> StoreError {
    StoreError::Unknown(anyhow::anyhow!("the embedded writer has stopped"))
}

/// A job with the outcome of its transaction, to be answered.
type Outcome = (Box<dyn Job>, Result<(), StoreError>);

fn run(db: &Weak<Database>, mut jobs: mpsc::Receiver<Box<dyn Job>>) {
    while let Some(first) = jobs.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let outcomes = match db.upgrade() {
            Some(db) => commit_batch(&db, batch),
            None => batch.into_iter().map(|job| (job, Err(stopped()))).collect(),
        };
        // Answered only once the database is let go of: a caller that drops the store after
        // its last write can open the file again at once.
        for (job, committed) in outcomes {
            job.answer(committed);
        }
    }
}

fn commit_batch(db: &Database, mut batch: Vec<Box<dyn Job>>) -> Vec<Outcome> {
    if batch.len() == 1 {
        return vec![commit_alone(db, batch.pop().expect("one job"))];
    }
    let txn = match db.begin_write() {
        Ok(txn) => txn,
        Err(e) => return fail_all(batch, &db_err(e)),
    };
    if batch.iter_mut().all(|job| job.apply(&txn)) {
        match txn.commit() {
            Ok(()) => batch.into_iter().map(|job| (job, Ok(()))).collect(),
            Err(e) => fail_all(batch, &db_err(e)),
        }
    } else {
        // Someone failed, possibly half-way: forget the lot, then let each job stand alone.
        let _ = txn.abort();
        batch.into_iter().map(|job| commit_alone(db, job)).collect()
    }
}

fn commit_alone(db: &Database, mut job: Box<dyn Job>) -> Outcome {
    let txn = match db.begin_write() {
        Ok(txn) => txn,
        Err(e) => return (job, Err(db_err(e))),
    };
    if job.apply(&txn) {
        let committed = txn.commit().map_err(db_err);
        (job, committed)
    } else {
        let _ = txn.abort();
        // Its own error is its answer.
        (job, Ok(()))
    }
}

/// `StoreError` is not `Clone` (it carries its cause); every job gets the same message.
fn fail_all(batch: Vec<Box<dyn Job>>, error: &StoreError) -> Vec<Outcome> {
    let mut message = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(e) = cause {
        message = format!("{message}: {e}");
        cause = e.source();
    }
    batch
        .into_iter()
        .map(|job| {
            (
                job,
                Err(StoreError::Unknown(anyhow::anyhow!(message.clone()))),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc as std_mpsc;

    use redb::{ReadableTable as _, TableDefinition};

    use super::*;

    const T: TableDefinition<u64, u64> = TableDefinition::new("t");

    fn insert(txn: &WriteTransaction, key: u64) -> Result<(), StoreError> {
        txn.open_table(T)
            .map_err(db_err)?
            .insert(key, key)
            .map_err(db_err)?;
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_job_in_a_batch_costs_the_others_nothing_and_leaves_no_trace() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(Database::create(dir.path().join("w.redb")).unwrap());
        let writer = Writer::start(&db).unwrap();

        // Hold the writer in a first job until every other job is queued, so they share one
        // batch (and one transaction).
        let (release, held) = std_mpsc::channel::<()>();
        let held = std::sync::Mutex::new(held);
        let (entered, inside) = oneshot::channel::<()>();
        let mut entered = Some(entered);
        let gate = {
            let writer = writer.clone();
            tokio::spawn(async move {
                writer
                    .write(move |txn| {
                        if let Some(entered) = entered.take() {
                            let _ = entered.send(());
                        }
                        let _ = held.lock().unwrap().recv();
                        insert(txn, 0)
                    })
                    .await
            })
        };
        inside.await.unwrap();
        let mut jobs = Vec::new();
        for key in 1..=40u64 {
            let writer = writer.clone();
            jobs.push(tokio::spawn(async move {
                writer
                    .write(move |txn| {
                        insert(txn, key)?;
                        if key == 20 {
                            // Half-way written, then failing: 1000 must not survive.
                            insert(txn, 1000)?;
                            return Err(StoreError::Unknown(anyhow::anyhow!("job 20 fails")));
                        }
                        Ok(key)
                    })
                    .await
            }));
        }
        while writer.queue.capacity() > QUEUE - 40 {
            tokio::task::yield_now().await;
        }
        release.send(()).unwrap();
        gate.await.unwrap().unwrap();
        for (n, job) in jobs.into_iter().enumerate() {
            let key = n as u64 + 1;
            match job.await.unwrap() {
                Ok(answered) => assert_eq!(answered, key),
                Err(e) => assert_eq!(key, 20, "{e}"),
            }
        }
        let txn = db.begin_read().unwrap();
        let table = txn.open_table(T).unwrap();
        let keys: Vec<u64> = table
            .iter()
            .unwrap()
            .map(|entry| entry.unwrap().0.value())
            .collect();
        let expected: Vec<u64> = (0..=40).filter(|k| *k != 20).collect();
        assert_eq!(keys, expected);
    }

    #[tokio::test]
    async fn the_file_is_released_when_the_store_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.redb");
        let db = Arc::new(Database::create(&path).unwrap());
        let writer = Writer::start(&db).unwrap();
        writer.write(|txn| insert(txn, 1)).await.unwrap();
        drop(db);
        // The writer holds the database weakly: it can be opened again at once.
        let reopened = Database::create(&path).unwrap();
        let txn = reopened.begin_read().unwrap();
        assert_eq!(
            txn.open_table(T).unwrap().get(1).unwrap().unwrap().value(),
            1
        );
        drop(writer);
    }
}
