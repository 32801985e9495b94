//! Group commit: every write to the embedded store runs on one writer thread, and the writes
//! waiting when it is free share one transaction and one fsync.
//!
//! Why: with `synchronous = FULL` each commit waits for the disk, and that wait, not the SQL,
//! is what a send costs. One transaction per send made a busy node queue sends behind each
//! other's fsyncs; here a burst of a hundred sends costs one. Nothing is acknowledged before
//! its batch's `COMMIT` returns, so "durable before the ack" holds as before.
//!
//! Each write runs inside a savepoint of the batch: a write that fails rolls back alone and
//! reports its own error, and the others still commit. If the commit itself fails, every
//! write of the batch reports it. One writer also means the writes never contend for
//! SQLite's lock, and the order they were submitted in is the order they are applied.

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::ports::{StoreError, StoreResult};

/// Writes one transaction holds at most, so a long queue still commits (and answers) in
/// steps of bounded latency.
const MAX_BATCH: usize = 256;

/// Writes waiting for the writer before submitters wait for room (back-pressure).
const QUEUE: usize = 4096;

/// One submitted write: run it inside the batch, then learn whether the batch committed.
trait Write: Send {
    fn run(&mut self, conn: &Connection);
    fn finish(self: Box<Self>, committed: Result<(), String>);
}

struct Job<T, F> {
    work: Option<F>,
    outcome: Option<rusqlite::Result<T>>,
    reply: oneshot::Sender<StoreResult<T>>,
}

impl<T, F> Write for Job<T, F>
where
    T: Send,
    F: FnOnce(&Connection) -> rusqlite::Result<T> + Send,
{
    fn run(&mut self, conn: &Connection) {
        if let Some(work) = self.work.take() {
            self.outcome = Some(in_savepoint(conn, work));
        }
    }

    fn finish(self: Box<Self>, committed: Result<(), String>) {
        let answer = match (self.outcome, committed) {
            (Some(Err(err)), _) => Err(StoreError::Other(err.into())),
            (Some(Ok(value)), Ok(())) => Ok(value),
            (Some(Ok(_)), Err(why)) | (None, Err(why)) => Err(StoreError::Other(anyhow::anyhow!(
                "store commit failed: {why}"
            ))),
            (None, Ok(())) => Err(StoreError::Other(anyhow::anyhow!("write never ran"))),
        };
        let _ = self.reply.send(answer);
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
            // The write's own changes go; the batch's transaction stays open for the others.
            conn.execute_batch("ROLLBACK TO write; RELEASE write")?;
            Err(err)
        }
    }
}

/// The handle writes are submitted through. Cloning shares the one writer; when the last
/// handle is dropped, the writer finishes its queue and closes its connection.
#[derive(Clone)]
pub struct Writer {
    queue: mpsc::Sender<Box<dyn Write>>,
}

impl Writer {
    /// Starts the writer thread, which owns `conn` from now on.
    pub fn start(conn: Connection) -> anyhow::Result<Self> {
        let (queue, jobs) = mpsc::channel(QUEUE);
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || write_batches(conn, jobs))?;
        Ok(Self { queue })
    }

    /// Runs `work` in the next batch; answers once that batch is durable (or failed).
    pub async fn write<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(Job {
            work: Some(work),
            outcome: None,
            reply,
        });
        self.queue
            .send(job)
            .await
            .map_err(|_| StoreError::Other(anyhow::anyhow!("the store's writer has stopped")))?;
        answer
            .await
            .map_err(|_| StoreError::Other(anyhow::anyhow!("the store's writer has stopped")))?
    }
}

fn write_batches(conn: Connection, mut jobs: mpsc::Receiver<Box<dyn Write>>) {
    let mut batch: Vec<Box<dyn Write>> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = jobs.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let committed = commit_batch(&conn, &mut batch);
        if let Err(why) = &committed {
            tracing::error!(error = %why, writes = batch.len(), "store batch not committed");
        }
        for job in batch.drain(..) {
            job.finish(committed.clone());
        }
    }
}

fn commit_batch(conn: &Connection, batch: &mut [Box<dyn Write>]) -> Result<(), String> {
    conn.execute_batch("BEGIN IMMEDIATE")
        .map_err(|e| e.to_string())?;
    for job in batch.iter_mut() {
        job.run(conn);
    }
    conn.execute_batch("COMMIT").map_err(|err| {
        let _ = conn.execute_batch("ROLLBACK");
        err.to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer() -> (tempfile::TempDir, Writer, Connection) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("t.db");
        let conn = Connection::open(&path).expect("opens");
        conn.pragma_update(None, "journal_mode", "WAL")
            .expect("wal");
        conn.execute_batch("CREATE TABLE t (k INTEGER PRIMARY KEY)")
            .expect("schema");
        let reader = Connection::open(&path).expect("opens");
        (dir, Writer::start(conn).expect("starts"), reader)
    }

    fn count(conn: &Connection) -> i64 {
        conn.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .expect("counts")
    }

    #[tokio::test]
    async fn concurrent_writes_all_commit_and_a_failing_one_fails_alone() {
        let (_dir, writer, reader) = writer();
        let writes = (0..200).map(|k| {
            let writer = writer.clone();
            // Key 7 twice: the second insert fails on the primary key, and only it.
            let key = if k == 199 { 7 } else { k };
            async move {
                writer
                    .write(move |conn| conn.execute("INSERT INTO t (k) VALUES (?1)", [key]))
                    .await
            }
        });
        let outcomes = futures_util::future::join_all(writes).await;
        assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 199);
        assert!(outcomes[199].is_err());
        assert_eq!(count(&reader), 199);
    }

    #[tokio::test]
    async fn a_write_that_fails_midway_leaves_nothing_of_itself() {
        let (_dir, writer, reader) = writer();
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
}
