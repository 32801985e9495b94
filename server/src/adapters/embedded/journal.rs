//! The embedded store's journal: the durable record of the acknowledged writes that SQLite
//! has not yet made durable itself.
//!
//! Why a journal in front of SQLite: a SQLite commit with `synchronous = FULL` writes every
//! page the transaction touched to the WAL (16 pages of 4 KiB for one message: the row, its
//! indexes, the search index, the room, the outbox) and then fsyncs. On this kind of machine
//! that is 300 µs of CPU per send. A journal record is the write itself, a few hundred
//! bytes, and the group commit's batch goes out as one block-aligned write that is durable
//! when it returns (`O_DIRECT | O_DSYNC` into a preallocated file: measured at 20 µs of CPU
//! and 100 µs of wall time, against 55 µs and 300 µs for a buffered write and `fdatasync`).
//! SQLite then commits many batches at once without waiting for the disk, and fsyncs only
//! when the journal is to be started again.
//!
//! Layout: one file, `confab.journal`, grown in zero-filled steps (so the writes overwrite
//! allocated blocks and need no metadata journaling) and written from its start again each
//! time SQLite has made everything in it durable: a new *epoch*. A record is a 24-byte
//! header (magic, payload length, epoch, CRC-32 of epoch and payload) and its payload.
//! Records of one batch are packed; every batch starts on a fresh block, so a torn write can
//! only damage the batch being written, never one already acknowledged. Reading stops at
//! the first record that is not whole, valid and of the file's epoch: what follows is a
//! torn batch (never acknowledged) or the remains of an older epoch.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The unit of alignment and of a batch's padding: the page size, which is also a multiple
/// of every disk's logical block size, as `O_DIRECT` requires.
pub const BLOCK: u64 = 4096;
const HEADER: usize = 24;
const MAGIC: u32 = 0x434a_524e; // "CJRN"
/// How much the file grows by when it runs out of preallocated room.
const GROW: u64 = 1 << 20;

/// Where the journal stands: records of `epoch` before byte `offset` are covered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Position {
    pub epoch: u64,
    pub offset: u64,
}

/// Why a batch was not written.
#[derive(Debug)]
pub enum AppendError {
    /// The batch does not fit below the journal's largest size: SQLite must make the journal
    /// unnecessary (a durable commit) and the journal start again.
    Full,
    Io(io::Error),
}

/// The journal file, open for appending batches.
pub struct Journal {
    path: PathBuf,
    file: File,
    /// Writes are durable when they return (`O_DIRECT | O_DSYNC`); otherwise (a file system
    /// without direct I/O, such as an older tmpfs) every batch is followed by `fdatasync`.
    direct: bool,
    /// Bytes preallocated (written as zeros), and the most the file may grow to.
    allocated: u64,
    max: u64,
    position: Position,
    buffer: AlignedBuffer,
}

impl Journal {
    /// Opens (creating) the journal at `path`, at most `max` bytes, and reads the records
    /// written after `applied`, the position SQLite says it holds. The journal is then
    /// positioned at the start of a new epoch, above any epoch in the file or in `applied`:
    /// the caller replays the records, makes them durable, and records the new position.
    pub fn open(path: &Path, max: u64, applied: Position) -> io::Result<(Journal, Vec<Vec<u8>>)> {
        let max = max.max(GROW).div_ceil(BLOCK) * BLOCK;
        let plain = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let (live_epoch, records) = scan(&plain)?;
        let replay = match live_epoch {
            Some(epoch) if epoch == applied.epoch => records
                .into_iter()
                .filter(|(start, _)| *start >= applied.offset)
                .map(|(_, payload)| payload)
                .collect(),
            Some(epoch) if epoch > applied.epoch => {
                records.into_iter().map(|(_, payload)| payload).collect()
            }
            _ => Vec::new(),
        };
        let allocated = plain.metadata()?.len() / BLOCK * BLOCK;
        let epoch = applied.epoch.max(live_epoch.unwrap_or(0)) + 1;
        let (file, direct) = match OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_DIRECT | libc::O_DSYNC)
            .open(path)
        {
            Ok(file) => (file, true),
            Err(err) => {
                tracing::info!(error = %err, "the journal's file system has no direct I/O; each batch is followed by fdatasync");
                (plain, false)
            }
        };
        let mut journal = Journal {
            path: path.to_owned(),
            file,
            direct,
            allocated,
            max,
            position: Position { epoch, offset: 0 },
            buffer: AlignedBuffer::new(16 * BLOCK as usize),
        };
        if journal.allocated < GROW {
            journal.grow_to(GROW.min(max))?;
        }
        Ok((journal, replay))
    }

    /// Where the next batch goes: everything before it is written.
    pub fn position(&self) -> Position {
        self.position
    }

    /// Whether the journal has passed `fraction` of its largest size: time to start again.
    pub fn is_past(&self, fraction: f64) -> bool {
        self.position.offset as f64 >= self.max as f64 * fraction
    }

    /// Writes one batch of records; when this returns `Ok`, they are durable.
    pub fn append(&mut self, records: &[&[u8]]) -> Result<(), AppendError> {
        let len: usize = records.iter().map(|r| HEADER + r.len()).sum();
        let padded = (len as u64).div_ceil(BLOCK) * BLOCK;
        let end = self.position.offset + padded;
        if end > self.max {
            return Err(AppendError::Full);
        }
        if end > self.allocated {
            self.grow_to((end.div_ceil(GROW) * GROW).min(self.max))
                .map_err(AppendError::Io)?;
        }
        let padded = usize::try_from(padded).map_err(|_| AppendError::Full)?;
        let out = self.buffer.zeroed(padded);
        let mut at = 0;
        for record in records {
            let length = u32::try_from(record.len()).map_err(|_| AppendError::Full)?;
            let epoch = self.position.epoch.to_le_bytes();
            let mut crc = crc32fast::Hasher::new();
            crc.update(&epoch);
            crc.update(record);
            out[at..at + 4].copy_from_slice(&MAGIC.to_le_bytes());
            out[at + 4..at + 8].copy_from_slice(&length.to_le_bytes());
            out[at + 8..at + 16].copy_from_slice(&epoch);
            out[at + 16..at + 20].copy_from_slice(&crc.finalize().to_le_bytes());
            out[at + 24..at + 24 + record.len()].copy_from_slice(record);
            at += HEADER + record.len();
        }
        self.file
            .write_all_at(out, self.position.offset)
            .map_err(AppendError::Io)?;
        if !self.direct {
            self.file.sync_data().map_err(AppendError::Io)?;
        }
        self.position.offset = end;
        Ok(())
    }

    /// The position of a new epoch: once SQLite has made everything written so far durable
    /// (recording this position in the same commit), [`Journal::restart`] moves there.
    pub fn next_epoch(&self) -> Position {
        Position {
            epoch: self.position.epoch + 1,
            offset: 0,
        }
    }

    /// Starts writing from the beginning of the file again, in the next epoch.
    pub fn restart(&mut self) {
        self.position = self.next_epoch();
    }

    /// Preallocates the file up to `size` bytes with zeros, durably, so later batches
    /// overwrite allocated blocks.
    fn grow_to(&mut self, size: u64) -> io::Result<()> {
        let zeros = vec![0u8; GROW as usize];
        let file = OpenOptions::new().write(true).open(&self.path)?;
        let mut at = self.allocated;
        while at < size {
            let step = (size - at).min(GROW) as usize;
            file.write_all_at(&zeros[..step], at)?;
            at += step as u64;
        }
        file.sync_all()?;
        self.allocated = size;
        Ok(())
    }
}

/// A record's payload and the offset its header starts at.
type Located = (u64, Vec<u8>);

/// The records of the file's live epoch (the one of its first record), each with the offset
/// it starts at, up to the first that is not whole and valid.
fn scan(file: &File) -> io::Result<(Option<u64>, Vec<Located>)> {
    let size = file.metadata()?.len();
    let mut records = Vec::new();
    let mut epoch = None;
    let mut at = 0u64;
    let mut header = [0u8; HEADER];
    while at + HEADER as u64 <= size {
        file.read_exact_at(&mut header, at)?;
        let magic = u32::from_le_bytes(word(&header[0..4]));
        if magic == 0 && !at.is_multiple_of(BLOCK) {
            // The padding after a batch: the next batch starts on the next block.
            at = at.div_ceil(BLOCK) * BLOCK;
            continue;
        }
        if magic != MAGIC {
            break;
        }
        let length = u64::from(u32::from_le_bytes(word(&header[4..8])));
        let record_epoch = u64::from_le_bytes(double(&header[8..16]));
        let crc = u32::from_le_bytes(word(&header[16..20]));
        if epoch.is_some_and(|e| e != record_epoch) || at + HEADER as u64 + length > size {
            break;
        }
        let mut payload = vec![0u8; length as usize];
        file.read_exact_at(&mut payload, at + HEADER as u64)?;
        let mut check = crc32fast::Hasher::new();
        check.update(&record_epoch.to_le_bytes());
        check.update(&payload);
        if check.finalize() != crc {
            break;
        }
        epoch = Some(record_epoch);
        records.push((at, payload));
        at += HEADER as u64 + length;
    }
    Ok((epoch, records))
}

fn word(bytes: &[u8]) -> [u8; 4] {
    let mut out = [0u8; 4];
    out.copy_from_slice(bytes);
    out
}

fn double(bytes: &[u8]) -> [u8; 8] {
    let mut out = [0u8; 8];
    out.copy_from_slice(bytes);
    out
}

/// A buffer whose usable part starts on a `BLOCK` boundary of memory, as `O_DIRECT` needs:
/// a plain vector with the slack to find that boundary in it.
struct AlignedBuffer {
    storage: Vec<u8>,
    start: usize,
}

impl AlignedBuffer {
    fn new(len: usize) -> Self {
        let block = BLOCK as usize;
        let storage = vec![0u8; len + block];
        let start = (block - storage.as_ptr() as usize % block) % block;
        Self { storage, start }
    }

    /// The first `len` bytes, zeroed.
    fn zeroed(&mut self, len: usize) -> &mut [u8] {
        if self.storage.len() - self.start < len {
            *self = Self::new(len.next_power_of_two());
        }
        let out = &mut self.storage[self.start..self.start + len];
        out.fill(0);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &Path, applied: Position) -> (Journal, Vec<Vec<u8>>) {
        Journal::open(&dir.join("j"), 4 * GROW, applied).expect("opens")
    }

    #[test]
    fn records_come_back_after_what_sqlite_holds_and_a_new_epoch_begins() {
        let dir = tempfile::tempdir().expect("dir");
        let (mut journal, replay) = open(dir.path(), Position::default());
        assert!(replay.is_empty());
        let epoch = journal.position().epoch;
        journal.append(&[b"one", b"two"]).expect("writes");
        let after_two = journal.position();
        assert_eq!(after_two.offset, BLOCK);
        journal.append(&[b"three"]).expect("writes");
        drop(journal);

        // SQLite holds nothing of this epoch: everything comes back.
        let (journal, replay) = open(
            dir.path(),
            Position {
                epoch: epoch - 1,
                offset: 0,
            },
        );
        assert_eq!(
            replay,
            vec![b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]
        );
        assert!(journal.position().epoch > epoch);
        drop(journal);
        // SQLite holds the first batch: the rest comes back.
        let (_, replay) = open(dir.path(), after_two);
        assert_eq!(replay, vec![b"three".to_vec()]);
    }

    #[test]
    fn a_restarted_journal_forgets_the_old_epoch_and_stops_at_a_torn_record() {
        let dir = tempfile::tempdir().expect("dir");
        let (mut journal, _) = open(dir.path(), Position::default());
        journal.append(&[&[7u8; 5000], b"x"]).expect("writes");
        journal.append(&[b"y"]).expect("writes");
        let fresh = journal.next_epoch();
        journal.restart();
        // Nothing new written yet: the old epoch's records are all covered.
        drop(journal);
        let (mut journal, replay) = open(dir.path(), fresh);
        assert!(replay.is_empty());
        let epoch = journal.position();
        journal.append(&[b"new"]).expect("writes");
        journal.append(&[b"torn"]).expect("writes");
        drop(journal);
        // Damage the last batch's record: it is a batch never acknowledged.
        let file = OpenOptions::new()
            .write(true)
            .open(dir.path().join("j"))
            .expect("opens");
        file.write_all_at(b"!", BLOCK + HEADER as u64)
            .expect("writes");
        let (_, replay) = open(
            dir.path(),
            Position {
                epoch: epoch.epoch - 1,
                offset: 0,
            },
        );
        assert_eq!(replay, vec![b"new".to_vec()]);
    }

    #[test]
    fn a_full_journal_refuses_a_batch_and_big_batches_grow_the_file() {
        let dir = tempfile::tempdir().expect("dir");
        let (mut journal, _) = open(dir.path(), Position::default());
        let big = vec![1u8; 3 * GROW as usize];
        journal.append(&[&big]).expect("grows and writes");
        assert!(journal.is_past(0.5));
        assert!(matches!(journal.append(&[&big]), Err(AppendError::Full)));
        let (_, replay) = open(dir.path(), Position::default());
        assert_eq!(replay, vec![big]);
    }
}
