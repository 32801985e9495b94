//! Group commit: every write to the embedded store runs on one writer thread, and the writes
//! waiting when it is free share one batch and one trip to the disk.
//!
//! Two kinds of write:
//!
//! - **Journaled** writes (a message appended, a read marker moved, outbox entries cleared:
//!   the writes of every send and receipt) are applied inside a SQLite transaction that
//!   stays open across batches, and made durable by one journal write per batch
//!   (`journal`). SQLite commits them later, many batches at once and without waiting for
//!   the disk (`synchronous = NORMAL`): every `COMMIT_EVERY`, whenever a reader needs to see
//!   them (below), and durably (followed by `fdatasync` of the WAL) when the journal is to
//!   start again.
//!   After a crash the store replays the journal past the position its last surviving
//!   commit recorded, so every acknowledged write is there, in the order it was applied.
//! - **Committed** writes (everything else: accounts, rooms, members, media) commit the
//!   open transaction durably before they are answered, as every write did before the
//!   journal. They are rare next to sends.
//!
//! Replaying gives the same state because a journaled write's outcome depends only on the
//! store's state and the write itself (no clock, no randomness: ids and times are chosen
//! before it is submitted), and every committed write commits the journaled ones before it.
//!
//! Readers use another connection, which sees only committed data, so a read first asks
//! [`Writer::visible`]: when journaled writes have been answered and not yet committed, the
//! writer commits them (a `Flush`) before the read goes on. Nothing is acknowledged before
//! it is durable, so "durable before the ack" holds as before.
//!
//! Each write runs inside a savepoint: one that fails rolls back alone and reports its own
//! error. One writer also means the writes never contend for SQLite's lock, and the order
//! they were submitted in is the order they are applied and replayed.

use std::fs::{File, OpenOptions};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::{Semaphore, oneshot};

use super::journal::{AppendError, Journal, Position};
use crate::ports::{PortError, PortResult};

/// Writes one batch holds at most, so a long queue still answers in steps of bounded latency.
const MAX_BATCH: usize = 256;

/// Writes waiting for the writer before submitters wait for room (back-pressure).
const QUEUE: usize = 4096;

/// The longest journaled writes stay uncommitted in SQLite when nobody reads them. Each
/// commit (and each checkpoint) is a burst of writes that the next journal write's disk
/// flush waits behind: once a second, rather than ten times, took the p90 of a send at
/// 1000/s from 3.8 ms to 1.5 ms and its p99 from 9.5 ms to 5-8 ms (same minutes, same
/// machine).
const COMMIT_EVERY: Duration = Duration::from_secs(1);

/// The journal starts again (after a durable commit) once past this share of its size.
const RESTART_PAST: f64 = 0.5;

/// The journal's largest size. A batch takes at least one 4 KiB block, so at a thousand
/// batches a second it starts again every sixteen seconds, with a durable commit whose
/// fsync the checkpointer has mostly done already.
pub const JOURNAL_BYTES: u64 = 128 << 20;

/// Re-applies one journal record (a journaled write's `record`) after a crash or a rolled
/// back commit.
pub type Replay = fn(&Connection, &[u8]) -> rusqlite::Result<()>;

/// Work the store does in every transaction just before it commits (the search index of
/// the messages the transaction stored).
pub type BeforeCommit = fn(&Connection) -> rusqlite::Result<()>;

/// How a write becomes durable.
enum Durability {
    /// By a durable SQLite commit before it is answered.
    Commit,
    /// By this journal record, written before it is answered, if the write changed anything.
    Journal(Vec<u8>),
    /// Not a write: the answered journaled writes must become visible to readers.
    Flush,
}

/// One submitted write: run it inside the batch, then learn whether it is durable.
trait Write: Send {
    fn run(&mut self, conn: &Connection);
    fn durability(&self) -> &Durability;
    /// Whether `run` changed the store (a journaled write is journaled only then).
    fn changed(&self) -> bool;
    fn finish(self: Box<Self>, durable: Result<(), String>);
}

struct Job<T, F> {
    work: Option<F>,
    durability: Durability,
    outcome: Option<rusqlite::Result<(T, bool)>>,
    reply: oneshot::Sender<PortResult<T>>,
}

impl<T, F> Write for Job<T, F>
where
    T: Send,
    F: FnOnce(&Connection) -> rusqlite::Result<(T, bool)> + Send,
{
    fn run(&mut self, conn: &Connection) {
        if let Some(work) = self.work.take() {
            self.outcome = Some(in_savepoint(conn, work));
        }
    }

    fn durability(&self) -> &Durability {
        &self.durability
    }

    fn changed(&self) -> bool {
        matches!(self.outcome, Some(Ok((_, true))))
    }

    fn finish(self: Box<Self>, durable: Result<(), String>) {
        let answer = match (self.outcome, durable) {
            (Some(Err(err)), _) => Err(PortError::Other(err.into())),
            (Some(Ok((value, _))), Ok(())) => Ok(value),
            (Some(Ok(_)), Err(why)) | (None, Err(why)) => Err(PortError::Other(anyhow::anyhow!(
                "store commit failed: {why}"
            ))),
            (None, Ok(())) => Err(PortError::Other(anyhow::anyhow!("write never ran"))),
        };
        let _ = self.reply.send(answer);
    }
}

/// A `Flush`: nothing to run; answered once the journaled writes before it are committed.
struct FlushJob(oneshot::Sender<PortResult<()>>);

impl Write for FlushJob {
    fn run(&mut self, _: &Connection) {}
    fn durability(&self) -> &Durability {
        &Durability::Flush
    }
    fn changed(&self) -> bool {
        false
    }
    fn finish(self: Box<Self>, durable: Result<(), String>) {
        let _ =
            self.0
                .send(durable.map_err(|why| {
                    PortError::Other(anyhow::anyhow!("store commit failed: {why}"))
                }));
    }
}

fn in_savepoint<T>(
    conn: &Connection,
    work: impl FnOnce(&Connection) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    conn.prepare_cached("SAVEPOINT write")?.execute([])?;
    match work(conn) {
        Ok(value) => {
            conn.prepare_cached("RELEASE write")?.execute([])?;
            Ok(value)
        }
        Err(err) => {
            // The write's own changes go; the transaction stays open for the others.
            conn.execute_batch("ROLLBACK TO write; RELEASE write")?;
            Err(err)
        }
    }
}

/// How far journaled writes have gone: answered (durable in the journal) and committed in
/// SQLite (visible to readers), as counts of batches.
#[derive(Default)]
struct Progress {
    journaled: AtomicU64,
    committed: AtomicU64,
}

/// The handle writes are submitted through. Cloning shares the one writer; when the last
/// handle is dropped, the writer finishes its queue, commits durably and closes.
#[derive(Clone)]
pub struct Writer {
    queue: mpsc::Sender<Box<dyn Write>>,
    room: Arc<Semaphore>,
    progress: Arc<Progress>,
    /// Dropped with the last handle, which ends the checkpointer.
    _checkpoints: Arc<mpsc::Sender<()>>,
}

impl Writer {
    /// Starts the writer thread, which owns `conn` from now on. With a journal (at
    /// `journal`, made durable by `replay` after a crash) writes submitted with
    /// [`Writer::write_journaled`] are journaled; without one they commit like any write.
    /// The journal's records past the position SQLite holds are replayed first.
    /// `before_commit` runs in every transaction just before it commits.
    pub fn start(
        conn: Connection,
        journal: Option<(&Path, Replay)>,
        before_commit: BeforeCommit,
    ) -> anyhow::Result<Self> {
        Self::start_with(conn, journal, before_commit, COMMIT_EVERY)
    }

    /// [`Writer::start`] with journaled writes committed in SQLite every `commit_every`
    /// when nothing asks for them sooner.
    fn start_with(
        conn: Connection,
        journal: Option<(&Path, Replay)>,
        before_commit: BeforeCommit,
        commit_every: Duration,
    ) -> anyhow::Result<Self> {
        let wal = wal_file(&conn)?;
        let checkpoints = start_checkpointer(&conn)?;
        let journal = match journal {
            Some((path, replay)) => Some(recover(&conn, &wal, path, replay, before_commit)?),
            None => None,
        };
        let (queue, jobs) = mpsc::channel();
        let progress = Arc::new(Progress::default());
        let room = Arc::new(Semaphore::new(QUEUE));
        let state = State {
            conn,
            wal,
            before_commit,
            journal,
            commit_every,
            in_transaction: false,
            uncommitted: Vec::new(),
            last_commit: Instant::now(),
            batches: 0,
            failed: None,
            progress: Arc::clone(&progress),
            room: Arc::clone(&room),
        };
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || state.serve(jobs))?;
        Ok(Self {
            queue,
            room,
            progress,
            _checkpoints: Arc::new(checkpoints),
        })
    }

    /// Runs `work` in the next batch; answers once it is durable (or failed).
    pub async fn write<T, F>(&self, work: F) -> PortResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        self.submit(Durability::Commit, move |conn| Ok((work(conn)?, true)))
            .await
    }

    /// Runs `work`, which says whether it changed anything, in the next batch; answers once
    /// it is durable. When it changed something, `record` goes into the journal: replaying
    /// it (the `Replay` given to [`Writer::start`]) must do what `work` did.
    pub async fn write_journaled<T, F>(&self, record: Vec<u8>, work: F) -> PortResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<(T, bool)> + Send + 'static,
    {
        self.submit(Durability::Journal(record), work).await
    }

    /// Waits until every journaled write answered so far is visible to other connections.
    pub async fn visible(&self) -> PortResult<()> {
        let journaled = self.progress.journaled.load(Ordering::Acquire);
        if self.progress.committed.load(Ordering::Acquire) >= journaled {
            return Ok(());
        }
        let (reply, answer) = oneshot::channel();
        self.enqueue(Box::new(FlushJob(reply))).await?;
        answer.await.map_err(|_| stopped())?
    }

    async fn submit<T, F>(&self, durability: Durability, work: F) -> PortResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<(T, bool)> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.enqueue(Box::new(Job {
            work: Some(work),
            durability,
            outcome: None,
            reply,
        }))
        .await?;
        answer.await.map_err(|_| stopped())?
    }

    async fn enqueue(&self, job: Box<dyn Write>) -> PortResult<()> {
        // A permit per queued write, handed back by the writer once it is answered.
        self.room.acquire().await.map_err(|_| stopped())?.forget();
        self.queue.send(job).map_err(|_| stopped())
    }
}

fn stopped() -> PortError {
    PortError::Other(anyhow::anyhow!("the store's writer has stopped"))
}

/// How often the checkpointer copies committed pages from the WAL into the database, after
/// the commits (see `COMMIT_EVERY`): a disk flush (every journal write asks for one) waits
/// for everything written before it, so the writes of SQLite come in one burst a second.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// Starts the checkpointer: a thread with a connection of its own that moves committed
/// pages from the WAL into the database file (a `PASSIVE` checkpoint, which never blocks
/// the writer). SQLite would otherwise checkpoint inside a commit, on the writer thread, and
/// the checkpoint's two fsyncs held every send behind them (a p99 of 30 ms). It also keeps
/// the WAL synced, so the writer's own durable commits have little left to sync. It stops
/// when the returned sender is dropped.
fn start_checkpointer(conn: &Connection) -> anyhow::Result<mpsc::Sender<()>> {
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    let db = conn.path().unwrap_or_default().to_owned();
    let checkpointer = Connection::open(&db)?;
    checkpointer.pragma_update(None, "busy_timeout", 5000)?;
    let (stop, stopped) = mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(CHECKPOINT_EVERY)
            {
                let done = checkpointer.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
                    row.get::<_, i64>(0)
                });
                if let Err(err) = done {
                    tracing::warn!(error = %err, "WAL checkpoint failed");
                }
            }
        })?;
    Ok(stop)
}

/// Where SQLite says the journal stands: what its last commit held.
fn applied_position(conn: &Connection) -> rusqlite::Result<Position> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS journal_position (
             id INTEGER PRIMARY KEY CHECK (id = 1),
             epoch INTEGER NOT NULL,
             byte INTEGER NOT NULL
         )",
    )?;
    Ok(conn
        .query_row(
            "SELECT epoch, byte FROM journal_position WHERE id = 1",
            [],
            |row| {
                Ok(Position {
                    epoch: u64::try_from(row.get::<_, i64>(0)?).unwrap_or(0),
                    offset: u64::try_from(row.get::<_, i64>(1)?).unwrap_or(0),
                })
            },
        )
        .optional()?
        .unwrap_or_default())
}

fn record_position(conn: &Connection, position: Position) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO journal_position (id, epoch, byte) VALUES (1, ?1, ?2)
         ON CONFLICT (id) DO UPDATE SET epoch = ?1, byte = ?2",
    )?
    .execute(params![
        i64::try_from(position.epoch).unwrap_or(i64::MAX),
        i64::try_from(position.offset).unwrap_or(i64::MAX)
    ])?;
    Ok(())
}

/// Opens the journal and replays what SQLite lacks of it, durably, before anything else.
fn recover(
    conn: &Connection,
    wal: &File,
    path: &Path,
    replay: Replay,
    before_commit: BeforeCommit,
) -> anyhow::Result<(Journal, Replay)> {
    let applied = applied_position(conn)?;
    let (journal, records) = Journal::open(path, JOURNAL_BYTES, applied)
        .map_err(|err| anyhow::anyhow!("cannot open the journal {}: {err}", path.display()))?;
    conn.execute_batch("BEGIN IMMEDIATE")?;
    for (n, record) in records.iter().enumerate() {
        if let Err(err) = replay(conn, record) {
            let _ = conn.execute_batch("ROLLBACK");
            anyhow::bail!(
                "cannot replay record {n} of the journal {} ({err}); it is kept as it is",
                path.display()
            );
        }
    }
    before_commit(conn)?;
    record_position(conn, journal.position())?;
    conn.execute_batch("COMMIT")?;
    wal.sync_data()?;
    if !records.is_empty() {
        tracing::info!(
            writes = records.len(),
            "replayed the journal's writes that the last run had not committed"
        );
    }
    Ok((journal, replay))
}

/// The WAL file of `conn`'s database, for making a commit durable: SQLite commits with
/// `synchronous = NORMAL` (the setting cannot change inside the writer's long transaction),
/// and a durable commit is that commit followed by `fdatasync` of the WAL, which is what
/// `synchronous = FULL` does.
fn wal_file(conn: &Connection) -> anyhow::Result<File> {
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    let db = conn
        .path()
        .filter(|path| !path.is_empty())
        .ok_or_else(|| anyhow::anyhow!("the writer needs a database file"))?;
    // The WAL exists once the database is in WAL mode and a connection has it open; a
    // write makes sure of it.
    conn.execute_batch("BEGIN IMMEDIATE; COMMIT")?;
    let wal = format!("{db}-wal");
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&wal)
        .map_err(|err| anyhow::anyhow!("cannot open {wal}: {err}"))
}

/// The writer thread's state.
struct State {
    conn: Connection,
    before_commit: BeforeCommit,
    /// Synced after a durable commit (see `wal_file`).
    wal: File,
    journal: Option<(Journal, Replay)>,
    commit_every: Duration,
    in_transaction: bool,
    /// Journal records answered but not yet committed in SQLite, in order: what a rolled
    /// back transaction must apply again.
    uncommitted: Vec<Vec<u8>>,
    last_commit: Instant,
    /// Journaled batches answered so far (`Progress::journaled`).
    batches: u64,
    /// Set when the store could not be brought back after a failed commit: every write is
    /// refused until the node restarts (and replays the journal).
    failed: Option<String>,
    progress: Arc<Progress>,
    room: Arc<Semaphore>,
}

impl State {
    fn serve(mut self, jobs: mpsc::Receiver<Box<dyn Write>>) {
        let mut batch: Vec<Box<dyn Write>> = Vec::with_capacity(MAX_BATCH);
        loop {
            let first = if self.uncommitted.is_empty() {
                jobs.recv().ok()
            } else {
                let due = (self.last_commit + self.commit_every)
                    .saturating_duration_since(Instant::now());
                match jobs.recv_timeout(due) {
                    Ok(job) => Some(job),
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        let _ = self.commit(false);
                        continue;
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => None,
                }
            };
            let Some(first) = first else { break };
            batch.push(first);
            while batch.len() < MAX_BATCH {
                match jobs.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            let durable = self.run_batch(&mut batch);
            let answered = batch.len();
            for job in batch.drain(..) {
                job.finish(durable.clone());
            }
            self.room.add_permits(answered);
        }
        // Every handle is gone (or the thread is ending): refuse further submissions, and make
        // everything durable in SQLite, so the next start has nothing to replay.
        self.room.close();
        if self.in_transaction
            && let Err(err) = self.commit(true)
        {
            tracing::error!(error = %err, "store not committed at shutdown; the journal keeps it");
        }
    }

    /// Runs a batch and makes it durable: the answer for all of its writes.
    fn run_batch(&mut self, batch: &mut [Box<dyn Write>]) -> Result<(), String> {
        if let Some(why) = &self.failed {
            return Err(why.clone());
        }
        if !self.in_transaction {
            self.conn
                .execute_batch("BEGIN IMMEDIATE")
                .map_err(|e| e.to_string())?;
            self.in_transaction = true;
        }
        for job in batch.iter_mut() {
            job.run(&self.conn);
        }
        let mut records: Vec<&[u8]> = Vec::new();
        let (mut must_commit, mut flush) = (false, false);
        for job in batch.iter() {
            match job.durability() {
                Durability::Commit => must_commit |= job.changed(),
                Durability::Journal(record) if job.changed() => records.push(record),
                Durability::Journal(_) => {}
                Durability::Flush => flush = true,
            }
        }
        let restart_due = self
            .journal
            .as_ref()
            .is_none_or(|(journal, _)| journal.is_past(RESTART_PAST));
        if must_commit || (restart_due && !records.is_empty()) {
            // Durable by SQLite itself, this batch's journaled writes included.
            return self
                .commit(true)
                .inspect_err(|_| self.recover_uncommitted());
        }
        if !records.is_empty() {
            let written = match &mut self.journal {
                Some((journal, _)) => journal.append(&records),
                None => Err(AppendError::Full),
            };
            match written {
                Ok(()) => {
                    self.uncommitted.extend(records.iter().map(|r| r.to_vec()));
                    self.batches += 1;
                    self.progress
                        .journaled
                        .store(self.batches, Ordering::Release);
                }
                Err(err) => {
                    if let AppendError::Io(err) = &err {
                        tracing::warn!(error = %err, "journal write failed; committing instead");
                    }
                    return self
                        .commit(true)
                        .inspect_err(|_| self.recover_uncommitted());
                }
            }
        }
        if flush
            || (!self.uncommitted.is_empty() && self.last_commit.elapsed() >= self.commit_every)
        {
            // Answered writes are durable already; a failed commit only delays visibility.
            if let Err(err) = self.commit(false) {
                self.recover_uncommitted();
                if flush {
                    return Err(err);
                }
            }
        }
        Ok(())
    }

    /// Commits the open transaction, recording where the journal stands; `full` makes it
    /// durable (and the journal starts again).
    fn commit(&mut self, full: bool) -> Result<(), String> {
        if !self.in_transaction {
            return Ok(());
        }
        let position = match &self.journal {
            Some((journal, _)) if full => journal.next_epoch(),
            Some((journal, _)) => journal.position(),
            None => Position::default(),
        };
        let committed = (|| {
            (self.before_commit)(&self.conn)?;
            if self.journal.is_some() {
                record_position(&self.conn, position)?;
            }
            self.conn.execute_batch("COMMIT")
        })();
        self.in_transaction = false;
        if let Err(err) = committed {
            let _ = self.conn.execute_batch("ROLLBACK");
            tracing::error!(error = %err, full, "store commit failed");
            return Err(err.to_string());
        }
        if (full || self.journal.is_none())
            && let Err(err) = self.wal.sync_data()
        {
            // After a failed fsync nothing can be said of what the disk holds (the kernel
            // may have dropped the pages): stop taking writes, as PostgreSQL does, and let
            // a restart replay the journal, which is not started again.
            tracing::error!(error = %err, "store commit not made durable; refusing writes until a restart");
            self.uncommitted.clear();
            let why = format!("the store's disk failed and the node must be restarted: {err}");
            self.failed = Some(why.clone());
            return Err(why);
        }
        if full && let Some((journal, _)) = &mut self.journal {
            journal.restart();
        }
        self.uncommitted.clear();
        self.last_commit = Instant::now();
        self.progress
            .committed
            .store(self.batches, Ordering::Release);
        Ok(())
    }

    /// After a failed commit rolled the transaction back: applies again the journaled
    /// writes that were answered but not committed, so SQLite holds every acknowledged
    /// write again. If even that fails, the store refuses writes until a restart replays
    /// the journal.
    fn recover_uncommitted(&mut self) {
        if self.uncommitted.is_empty() {
            return;
        }
        let Some((_, replay)) = &self.journal else {
            return;
        };
        let replay = *replay;
        let reapplied = (|| -> rusqlite::Result<()> {
            self.conn.execute_batch("BEGIN IMMEDIATE")?;
            self.in_transaction = true;
            for record in &self.uncommitted {
                replay(&self.conn, record)?;
            }
            Ok(())
        })();
        if let Err(err) = reapplied {
            let why = format!("the store failed and must be restarted: {err}");
            tracing::error!(error = %err, "acknowledged writes not applied again after a failed commit; refusing writes until a restart replays the journal");
            self.failed = Some(why);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replay_insert(conn: &Connection, record: &[u8]) -> rusqlite::Result<()> {
        let key: i64 = std::str::from_utf8(record)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(-1);
        conn.execute("INSERT OR IGNORE INTO t (k) VALUES (?1)", [key])
            .map(drop)
    }

    fn open(dir: &Path) -> (Writer, Connection) {
        let path = dir.join("t.db");
        let conn = Connection::open(&path).expect("opens");
        conn.pragma_update(None, "journal_mode", "WAL")
            .expect("wal");
        conn.execute_batch("CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY)")
            .expect("schema");
        let reader = Connection::open(&path).expect("opens");
        let journal = dir.join("t.journal");
        let writer =
            Writer::start(conn, Some((&journal, replay_insert)), |_| Ok(())).expect("starts");
        (writer, reader)
    }

    fn count(conn: &Connection) -> i64 {
        conn.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .expect("counts")
    }

    async fn insert_journaled(writer: &Writer, key: i64) -> PortResult<()> {
        writer
            .write_journaled(key.to_string().into_bytes(), move |conn| {
                conn.execute("INSERT INTO t (k) VALUES (?1)", [key])
                    .map(|n| ((), n == 1))
            })
            .await
    }

    #[tokio::test]
    async fn concurrent_writes_all_commit_and_a_failing_one_fails_alone() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (writer, reader) = open(dir.path());
        let writes = (0..200).map(|k| {
            let writer = writer.clone();
            // Key 7 twice: the second insert fails on the primary key, and only it.
            let key = if k == 199 { 7 } else { k };
            async move {
                if k % 2 == 0 {
                    insert_journaled(&writer, key).await
                } else {
                    writer
                        .write(move |conn| {
                            conn.execute("INSERT INTO t (k) VALUES (?1)", [key])
                                .map(drop)
                        })
                        .await
                }
            }
        });
        let outcomes = futures_util::future::join_all(writes).await;
        assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 199);
        assert!(outcomes[199].is_err());
        writer.visible().await.expect("visible");
        assert_eq!(count(&reader), 199);
    }

    #[tokio::test]
    async fn a_write_that_fails_midway_leaves_nothing_of_itself() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (writer, reader) = open(dir.path());
        let failed = writer
            .write(|conn| {
                conn.execute("INSERT INTO t (k) VALUES (1)", [])?;
                conn.execute("INSERT INTO t (k) VALUES (1)", [])
            })
            .await;
        assert!(failed.is_err());
        writer
            .write(|conn| conn.execute("INSERT INTO t (k) VALUES (2)", []))
            .await
            .expect("a later write still commits");
        assert_eq!(count(&reader), 1);
    }

    #[tokio::test]
    async fn journaled_writes_are_visible_to_readers_once_asked_for() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (writer, reader) = open(dir.path());
        for key in 0..5 {
            insert_journaled(&writer, key).await.expect("written");
        }
        writer.visible().await.expect("visible");
        assert_eq!(count(&reader), 5);
    }

    /// A crash: the writer's transaction is lost with the process, the journal is not.
    #[test]
    fn journaled_writes_survive_a_crash_through_the_journal() {
        let dir = tempfile::tempdir().expect("temp dir");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let path = dir.path().join("t.db");
        {
            let conn = Connection::open(&path).expect("opens");
            conn.pragma_update(None, "journal_mode", "WAL")
                .expect("wal");
            conn.execute_batch("CREATE TABLE t (k INTEGER PRIMARY KEY)")
                .expect("schema");
            let journal = dir.path().join("t.journal");
            // Never committed by time: only the journal keeps these writes.
            let writer = Writer::start_with(
                conn,
                Some((&journal, replay_insert)),
                |_| Ok(()),
                Duration::from_secs(3600),
            )
            .expect("starts");
            runtime.block_on(async {
                for key in 0..20 {
                    insert_journaled(&writer, key).await.expect("written");
                }
            });
            // The writer thread is left running with its transaction open; copying the files
            // now is what a power cut leaves on disk.
            for name in ["t.db", "t.db-wal", "t.journal"] {
                let from = dir.path().join(name);
                if from.exists() {
                    std::fs::copy(&from, dir.path().join(format!("crashed-{name}"))).expect("copy");
                }
            }
        }
        let crashed = dir.path().join("crashed-t.db");
        let conn = Connection::open(&crashed).expect("opens");
        let before: i64 = conn
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .expect("counts");
        assert_eq!(before, 0, "SQLite had committed none of them");
        let journal = dir.path().join("crashed-t.journal");
        let writer =
            Writer::start(conn, Some((&journal, replay_insert)), |_| Ok(())).expect("restarts");
        let reader = Connection::open(&crashed).expect("opens");
        assert_eq!(count(&reader), 20);
        drop(writer);
    }
}
