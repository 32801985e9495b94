//! Password hashing on a fixed pool of threads, one per core, each with its own Argon2
//! memory.
//!
//! Why a pool and not the blocking pool: Argon2id needs 19 MiB per hash. On tokio's blocking
//! pool a burst of sign-ups ran one hash per request at once, each on its own thread with its
//! own fresh 19 MiB; glibc's malloc keeps freed blocks of that size in per-thread arenas, so a
//! node grew to gigabytes and never shrank. Here at most one hash per core runs at a time
//! (more would only queue on the CPU anyway), and each worker fills the same memory every
//! time: a node's hashing memory is `cores × 19 MiB`, allocated once, whatever the load.
//! Requests beyond the pool wait in a bounded queue and are refused with `unavailable` when
//! it is full, rather than piling up.

use std::sync::mpsc;
use std::thread;

use argon2::password_hash::{Output, ParamsString, PasswordHash, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::oneshot;

/// Hashes waiting for a worker before new ones are refused: a few seconds of work at
/// ~50 ms a hash per core.
const QUEUE_PER_WORKER: usize = 64;

/// The most memory a stored hash may ask a worker for (64 MiB); a larger `m` is refused
/// rather than allocated.
const MAX_MEMORY_KIB: u32 = 64 * 1024;

/// Why a hash could not be made or checked.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("too many password checks at once")]
    Busy,
    #[error("password hashing failed: {0}")]
    Failed(String),
}

enum Job {
    Hash {
        password: String,
        done: oneshot::Sender<Result<String, HashError>>,
    },
    Verify {
        password: String,
        stored: String,
        done: oneshot::Sender<bool>,
    },
}

/// The pool. Cheap to share behind an `Arc`; dropping it stops the workers once their queue
/// is empty.
pub struct PasswordHashers {
    jobs: mpsc::SyncSender<Job>,
}

impl PasswordHashers {
    /// A pool of one worker per available core.
    pub fn new() -> Self {
        let workers = thread::available_parallelism().map_or(2, |n| n.get());
        Self::with_workers(workers)
    }

    pub fn with_workers(workers: usize) -> Self {
        let workers = workers.max(1);
        let (jobs, queue) = mpsc::sync_channel::<Job>(workers * QUEUE_PER_WORKER);
        let queue = std::sync::Arc::new(std::sync::Mutex::new(queue));
        for n in 0..workers {
            let queue = std::sync::Arc::clone(&queue);
            let spawned = thread::Builder::new()
                .name(format!("password-{n}"))
                .spawn(move || work(&queue));
            if let Err(err) = spawned {
                tracing::error!(error = %err, "cannot start a password hashing thread");
            }
        }
        Self { jobs }
    }

    /// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`) of `password` with a fresh salt.
    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        let (done, answer) = oneshot::channel();
        self.submit(Job::Hash { password, done })?;
        answer
            .await
            .map_err(|_| HashError::Failed("worker stopped".into()))?
    }

    /// Whether `password` matches the PHC string `stored`.
    pub async fn verify(&self, password: String, stored: String) -> Result<bool, HashError> {
        let (done, answer) = oneshot::channel();
        self.submit(Job::Verify {
            password,
            stored,
            done,
        })?;
        answer
            .await
            .map_err(|_| HashError::Failed("worker stopped".into()))
    }

    fn submit(&self, job: Job) -> Result<(), HashError> {
        self.jobs.try_send(job).map_err(|err| match err {
            mpsc::TrySendError::Full(_) => HashError::Busy,
            mpsc::TrySendError::Disconnected(_) => HashError::Failed("no workers".into()),
        })
    }
}

impl Default for PasswordHashers {
    fn default() -> Self {
        Self::new()
    }
}

/// One worker: takes jobs until the pool is dropped, reusing one block of Argon2 memory.
fn work(queue: &std::sync::Mutex<mpsc::Receiver<Job>>) {
    let mut memory: Vec<Block> = Vec::new();
    loop {
        let job = {
            let queue = queue
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            queue.recv()
        };
        match job {
            Ok(Job::Hash { password, done }) => {
                let _ = done.send(hash(&password, &mut memory));
            }
            Ok(Job::Verify {
                password,
                stored,
                done,
            }) => {
                let _ = done.send(verify(&password, &stored, &mut memory));
            }
            Err(_) => return,
        }
    }
}

/// Argon2id with the crate's defaults (19 MiB, 2 passes): OWASP's recommended floor.
fn hash(password: &str, memory: &mut Vec<Block>) -> Result<String, HashError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| HashError::Failed(format!("no randomness: {e}")))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| HashError::Failed(e.to_string()))?;
    let params = Params::default();
    let output = compute(password, salt.as_salt(), &params, memory)?;
    let phc = PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| HashError::Failed(e.to_string()))?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(phc.to_string())
}

/// Recomputes the hash with the stored salt and parameters and compares in constant time.
fn verify(password: &str, stored: &str, memory: &mut Vec<Block>) -> bool {
    let Ok(phc) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (phc.salt, phc.hash) else {
        return false;
    };
    if phc.algorithm != argon2::ARGON2ID_IDENT
        || phc.version.is_some_and(|v| v != u32::from(Version::V0x13))
    {
        return false;
    }
    let Ok(params) = Params::try_from(&phc) else {
        return false;
    };
    if params.m_cost() > MAX_MEMORY_KIB || params.output_len() != Some(expected.len()) {
        return false;
    }
    compute(password, salt, &params, memory).is_ok_and(|output| output == expected)
}

fn compute(
    password: &str,
    salt: Salt<'_>,
    params: &Params,
    memory: &mut Vec<Block>,
) -> Result<Output, HashError> {
    let mut salt_bytes = [0u8; 64];
    let salt = salt
        .decode_b64(&mut salt_bytes)
        .map_err(|e| HashError::Failed(e.to_string()))?;
    if memory.len() < params.block_count() {
        memory.resize(params.block_count(), Block::default());
    }
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    Output::init_with(len, |out| {
        argon
            .hash_password_into_with_memory(password.as_bytes(), salt, out, &mut memory[..])
            .map_err(|_| argon2::password_hash::Error::Crypto)
    })
    .map_err(|e| HashError::Failed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn passwords_verify_only_against_their_own_hash() {
        let pool = PasswordHashers::with_workers(1);
        let hash = pool.hash("correct horse".into()).await.expect("hashes");
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(
            pool.verify("correct horse".into(), hash.clone())
                .await
                .expect("runs")
        );
        assert!(!pool.verify("wrong horse".into(), hash).await.expect("runs"));
        assert!(
            !pool
                .verify("x".into(), "not a hash".into())
                .await
                .expect("runs")
        );
    }

    #[tokio::test]
    async fn hashes_made_by_the_argon2_crate_itself_still_verify() {
        use argon2::password_hash::PasswordHasher;
        let salt = SaltString::encode_b64(&[7u8; 16]).expect("salt");
        let stored = Argon2::default()
            .hash_password(b"old password", &salt)
            .expect("hashes")
            .to_string();
        let pool = PasswordHashers::with_workers(1);
        assert!(
            pool.verify("old password".into(), stored)
                .await
                .expect("runs")
        );
    }

    #[tokio::test]
    async fn a_stored_hash_asking_for_too_much_memory_is_refused_unrun() {
        let pool = PasswordHashers::with_workers(1);
        let greedy = "$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHRzYWx0$\
                      AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        assert!(!pool.verify("x".into(), greedy.into()).await.expect("runs"));
    }

    #[tokio::test]
    async fn a_full_queue_is_refused_not_queued_without_bound() {
        let pool = PasswordHashers::with_workers(1);
        let waiting: Vec<_> = (0..QUEUE_PER_WORKER + 8)
            .map(|_| pool.hash("p".into()))
            .collect();
        let outcomes = futures_util::future::join_all(waiting).await;
        assert!(outcomes.iter().any(|o| matches!(o, Err(HashError::Busy))));
        assert!(outcomes.iter().any(Result::is_ok));
    }
}
