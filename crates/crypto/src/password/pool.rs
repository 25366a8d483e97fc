//! The hashing pool: a fixed number of threads, each owning one argon2 memory block that it
//! reuses for every job, fed by a bounded queue.
//!
//! Why not `spawn_blocking`: tokio's blocking pool grows to 512 threads, so a login flood ran
//! dozens of 19 MiB hashes at once; and allocating a fresh block per hash lets glibc raise its
//! mmap threshold after the first free, so later blocks land in heap arenas that are never
//! returned (measured: 4.5 GiB resident after a 64-client flood, kept after it ended). A few
//! long-lived blocks bound memory at `workers x m_cost` whatever the load, and a thread that
//! has been idle for [`IDLE_RELEASE`] gives its block back to the operating system.

use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, ParamsString, PasswordHash as PhcHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use orgsvc_domain::errors::HashError;
use tokio::sync::oneshot;

/// Lowers the calling thread's scheduling priority (nice 10) on Linux. A login flood keeps every
/// hashing thread busy; at the default priority they took the cores from the request workers
/// and the database's processes alike, so a cached `GET /org/get` waited behind hashes. Niced,
/// they still get every cycle nobody else wants. Elsewhere it does nothing.
fn yield_to_requests() {
    // With `PRIO_PROCESS`, Linux sets the nice value of the one thread whose id it is given.
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::process::setpriority_process(Some(rustix::thread::gettid()), 10) {
        tracing::debug!(error = %e, "could not lower the hashing thread's priority");
    }
}

/// One unit of work and where its answer goes.
enum Job {
    Hash {
        password: String,
        reply: oneshot::Sender<Result<String, HashError>>,
    },
    Verify {
        password: String,
        phc: Arc<str>,
        reply: oneshot::Sender<Result<bool, HashError>>,
    },
}

/// A hashing thread idle this long frees its memory block (allocated again on its next job).
pub const IDLE_RELEASE: Duration = Duration::from_secs(10);

/// Blocks reserved at least, per thread: just over 32 MiB, the ceiling of glibc's dynamic mmap
/// threshold on 64-bit. A smaller block freed once raises that threshold to its size, after
/// which same-sized blocks come from heap arenas that are never given back (measured: resident
/// memory stuck at 93 MiB after a second flood, instead of falling back).
const RESERVED_BLOCKS: usize = 32 * 1024 + 1;

/// The submitting side of the pool; cloned cheaply, and the workers stop once the last clone
/// is dropped.
#[derive(Clone)]
pub struct HashPool {
    queue: Sender<Job>,
    workers: usize,
}

impl HashPool {
    /// Starts `workers` threads behind a queue of at most `max_queued` waiting jobs.
    ///
    /// # Errors
    /// When the operating system refuses a thread.
    pub fn start(params: &Params, workers: usize, max_queued: usize) -> std::io::Result<Self> {
        let (queue, jobs) = crossbeam_channel::bounded(max_queued);
        let workers = workers.max(1);
        for n in 0..workers {
            let worker = Worker {
                params: params.clone(),
                memory: Vec::new(),
            };
            let jobs = jobs.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(move || worker.run(&jobs))?;
        }
        Ok(Self { queue, workers })
    }

    /// Jobs waiting for a worker right now.
    #[must_use]
    pub fn queue_depth(&self) -> usize {
        self.queue.len()
    }

    #[must_use]
    pub const fn workers(&self) -> usize {
        self.workers
    }

    pub async fn hash(&self, password: &str) -> Result<String, HashError> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Hash {
            password: password.to_owned(),
            reply,
        })?;
        answer.await.map_err(|_| stopped())?
    }

    pub async fn verify(&self, password: &str, phc: Arc<str>) -> Result<bool, HashError> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Verify {
            password: password.to_owned(),
            phc,
            reply,
        })?;
        answer.await.map_err(|_| stopped())?
    }

    /// Queues `job`, or refuses at once when the queue is full: the caller answers 503 rather
    /// than wait, so a flood cannot pile up work (or memory) behind the workers.
    fn submit(&self, job: Job) -> Result<(), HashError> {
        match self.queue.try_send(job) {
            Ok(()) => {
                queue_depth(self.queue.len());
                Ok(())
            }
            Err(TrySendError::Full(_)) => {
                metrics::counter!("orgsvc_password_hash_rejected_total").increment(1);
                Err(HashError::Overloaded)
            }
            Err(TrySendError::Disconnected(_)) => Err(stopped()),
        }
    }
}

/// Metrics: `orgsvc_password_hash_queue_depth` (jobs waiting), `orgsvc_password_hash_busy_workers`
/// (jobs running), `orgsvc_password_hash_rejected_total` (refused because the queue was full).
#[allow(clippy::cast_precision_loss)] // a queue holds far fewer than 2^52 jobs
fn queue_depth(depth: usize) {
    metrics::gauge!("orgsvc_password_hash_queue_depth").set(depth as f64);
}

fn stopped() -> HashError {
    HashError::Failed(anyhow::anyhow!("the hashing workers have stopped"))
}

struct Worker {
    /// Parameters for new hashes; verification uses the ones recorded in the stored hash.
    params: Params,
    /// Reused by every job; grows only for a stored hash that needs more memory.
    memory: Vec<Block>,
}

impl Worker {
    fn run(mut self, jobs: &Receiver<Job>) {
        yield_to_requests();
        loop {
            let job = match jobs.recv_timeout(IDLE_RELEASE) {
                Ok(job) => job,
                Err(RecvTimeoutError::Timeout) => {
                    self.memory = Vec::new();
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => return,
            };
            queue_depth(jobs.len());
            let busy = metrics::gauge!("orgsvc_password_hash_busy_workers");
            busy.increment(1.0);
            match job {
                // A request that went away (client disconnected, timed out) needs no answer.
                Job::Hash { reply, .. } if reply.is_closed() => {}
                Job::Verify { reply, .. } if reply.is_closed() => {}
                Job::Hash { password, reply } => {
                    let _ = reply.send(self.hash(password.as_bytes()));
                }
                Job::Verify {
                    password,
                    phc,
                    reply,
                } => {
                    let _ = reply.send(self.verify(password.as_bytes(), &phc));
                }
            }
            busy.decrement(1.0);
        }
    }

    fn blocks(&mut self, count: usize) -> &mut [Block] {
        if self.memory.capacity() < count {
            // Reserved above glibc's largest mmap threshold, so the block is always its own
            // mapping, returned to the OS when freed; only the pages argon2 writes (the first
            // `count` blocks) ever become resident.
            self.memory = Vec::with_capacity(count.max(RESERVED_BLOCKS));
        }
        if self.memory.len() < count {
            self.memory.resize(count, Block::default());
        }
        &mut self.memory[..count]
    }

    fn hash(&mut self, password: &[u8]) -> Result<String, HashError> {
        let salt = SaltString::generate(&mut OsRng);
        let mut salt_bytes = [0u8; 64];
        let salt_bytes = salt.as_salt().decode_b64(&mut salt_bytes).map_err(failed)?;
        let params = self.params.clone();
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
        let blocks = self.blocks(params.block_count());
        argon2
            .hash_password_into_with_memory(password, salt_bytes, &mut out, blocks)
            .map_err(failed)?;
        let phc = PhcHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&params).map_err(failed)?,
            salt: Some(salt.as_salt()),
            hash: Some(Output::new(&out).map_err(failed)?),
        };
        Ok(phc.to_string())
    }

    fn verify(&mut self, password: &[u8], phc: &str) -> Result<bool, HashError> {
        let stored = PhcHash::new(phc).map_err(|e| {
            HashError::Failed(anyhow::anyhow!("stored password hash is malformed: {e}"))
        })?;
        let algorithm = Algorithm::try_from(stored.algorithm).map_err(failed)?;
        let version = stored
            .version
            .map_or(Ok(Version::V0x13), Version::try_from)
            .map_err(failed)?;
        let params = Params::try_from(&stored).map_err(failed)?;
        let (Some(salt), Some(expected)) = (stored.salt, stored.hash) else {
            return Err(HashError::Failed(anyhow::anyhow!(
                "stored password hash has no salt or no hash"
            )));
        };
        let mut salt_bytes = [0u8; 64];
        let salt_bytes = salt.decode_b64(&mut salt_bytes).map_err(failed)?;
        let mut out = vec![0u8; expected.len()];
        let argon2 = Argon2::new(algorithm, version, params.clone());
        let blocks = self.blocks(params.block_count());
        argon2
            .hash_password_into_with_memory(password, salt_bytes, &mut out, blocks)
            .map_err(failed)?;
        // `Output`'s equality is constant-time.
        Ok(Output::new(&out).map_err(failed)? == expected)
    }
}

fn failed(error: impl std::fmt::Display) -> HashError {
    HashError::Failed(anyhow::anyhow!("argon2: {error}"))
}
