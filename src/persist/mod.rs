//! Durability: the write-ahead log and snapshots of a data directory, and recovery from them.
//!
//! An engine opened on a directory ([`EngineBuilder::open`](crate::EngineBuilder::open))
//! writes every operation that changes its state — accepted events (erasures included),
//! [`Engine::advance_to`](crate::Engine::advance_to), rules put in force — to a write-ahead
//! log before acknowledging it, in the order it took them, and on the next open replays the
//! log to rebuild exactly that state. The bytes are made by the crate's `codec` module (a magic and
//! format version at the top of every file, a checksum on every record).
//!
//! # The directory
//!
//! `wal-00000001.log`, `wal-00000002.log`, …: log segments, replayed in number order. Each
//! open starts a new segment, so a segment is only ever appended to by one process run, and a
//! torn tail can only be at the end of the newest.
//!
//! `LOCK`: held (an advisory file lock) by the engine that has the directory open; a second
//! [`EngineBuilder::open`](crate::EngineBuilder::open) on it, in this process or another, is
//! refused with [`StoreError::Locked`]. The kernel releases it when the process ends, however
//! it ends.
//!
//! `snap-NNNNNNNN.snap`: a snapshot of the whole engine, the state after every record of the
//! segments before `wal-NNNNNNNN.log`. [`Engine::snapshot`](crate::Engine::snapshot) writes
//! one (atomically: a `.tmp` file, synced, renamed, the directory synced) while ingest goes on,
//! then removes the segments and snapshots it replaces; see the module docs of
//! `engine::snapshot` for how its cut is taken and what it holds. Snapshots are taken when the
//! embedding application asks — on a schedule, at shutdown, after erasures — since it knows
//! when a pause of the encoding's length suits it; until the next one the log grows.
//!
//! # Erasure on disk
//!
//! An `erase` event removes the person from memory at once, but their identifiers and events
//! are still in the log segments (and snapshot) written before it, and the `erase` record
//! itself names them. The next snapshot that completes is the point where they leave the
//! directory: it is written from the state after the erasure and removes every older segment
//! and snapshot. So after an erasure, call [`Engine::snapshot`](crate::Engine::snapshot) and
//! wait for it to return `Ok` — that is the call that forces it (tested by grepping every byte
//! of the directory). Blocks the file system freed may still hold the bytes until reused;
//! encrypting the volume covers that.
//!
//! # Durability modes
//!
//! * [`Durability::Sync`]: an ingest call returns only after its records are on disk
//!   (`fdatasync`). Concurrent calls share one sync (group commit): whoever finds no sync
//!   running writes out everything appended so far and syncs it, and every call whose records
//!   that covered returns. [`Engine::ingest_batch`](crate::Engine::ingest_batch) waits once,
//!   for its last record.
//! * [`Durability::Batched`]: records are written and synced by a background thread at the
//!   given interval; a crash loses at most about one interval of acknowledged events.
//! * [`Durability::None`]: records are written to the file whenever 1 MiB has gathered, and
//!   synced only by [`Engine::sync`](crate::Engine::sync) and on drop. A killed process loses
//!   what had not been written; a machine that loses power may lose more.
//!
//! In every mode what survives is a prefix of the log: recovery never sees an event without
//! the ones accepted before it.
//!
//! # Failures
//!
//! A failed write or sync stops the engine from taking more: every later ingest is refused
//! with [`IngestError::Storage`](crate::IngestError::Storage) and changes nothing, and the
//! calls that were waiting for the failed sync get the same error. Operations applied in
//! memory but not made durable are lost when the process ends; reopening the directory
//! recovers what reached the disk. (Retrying a sync after an `fsync` failure is not safe on
//! Linux: the kernel may have dropped the dirty pages.)
//!
//! # Recovery
//!
//! The newest snapshot is loaded (every record checked: see `engine::snapshot`), then the
//! segments from its cut on are replayed; without a snapshot, every segment. A snapshot that
//! does not check is an error, never skipped for an older one (the log behind it is gone).
//! Leftover `.tmp` files and files an interrupted snapshot had not yet removed are removed.
//! Every segment is read whole and checked. A torn tail of the newest segment (a record cut
//! short by a crash) is cut off and reported in [`Recovery::torn`]; any other bad byte is a
//! [`StoreError::Corrupt`] naming the file and offset, and nothing is skipped. Replay is
//! silent: signals of recovered operations were emitted by the run that took them, and no
//! subscriber can be attached before `open` returns.

mod dir;
mod log;

pub(crate) use dir::{cut_file, lock_dir, remove_all, snapshot_path, write_atomically, DirFiles};
pub(crate) use log::{Log, Lsn};

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// When an acknowledged operation is on disk (see the module docs of `persist`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Acknowledged only after `fdatasync`; concurrent ingests share one sync.
    Sync,
    /// Synced by a background thread every interval.
    Batched(Duration),
    /// Written when 1 MiB has gathered; synced only on request and on drop.
    None,
}

/// What [`EngineBuilder::open`](crate::EngineBuilder::open) found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// The snapshot the state was loaded from, if any.
    pub snapshot: Option<PathBuf>,
    /// Contacts that snapshot held.
    pub snapshot_contacts: u64,
    /// Settings that differ from those the snapshot was taken with (`"lateness"`,
    /// `"dedup_window"`, `"timeline_len"`, `"stage_windows"`, `"id_limits"`): the new values
    /// apply from now on (timelines longer than a new `timeline_len` are cut to it).
    pub settings_changed: Vec<&'static str>,
    /// Log segments replayed (those after the snapshot's cut, when there is one).
    pub segments: usize,
    /// Records replayed from them.
    pub records: u64,
    /// Of them, events.
    pub events: u64,
    /// A torn tail cut off the newest segment: the file, where the good records ended, and
    /// the bytes removed.
    pub torn: Option<TornTail>,
    /// The rules given to the builder differed from those recorded and were put in force
    /// (state they need was rebuilt as [`Engine::load_rules`](crate::Engine::load_rules)
    /// does).
    pub rules_changed: bool,
}

/// What [`Engine::snapshot`](crate::Engine::snapshot) wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// The snapshot file.
    pub file: PathBuf,
    /// Its size.
    pub bytes: u64,
    /// Live contacts it holds.
    pub contacts: u64,
    /// How long ingest was held back (the state was encoded meanwhile).
    pub paused: Duration,
    /// The whole call, writing and syncing included.
    pub took: Duration,
    /// Older snapshots and log segments it replaced, now removed.
    pub removed: usize,
}

/// A record cut short by a crash, removed on recovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// The segment.
    pub file: PathBuf,
    /// Where the last good record ended.
    pub offset: u64,
    /// Bytes cut off.
    pub bytes: u64,
}

/// A data-directory failure.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreError {
    /// An I/O call failed.
    Io {
        /// What was being done (`"write"`, `"sync"`, `"open"`, …).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The error's kind.
        kind: std::io::ErrorKind,
        /// The error's text.
        message: String,
    },
    /// Bytes that do not check: a bad record in the middle of a segment, a record that does
    /// not decode, or an operation the engine refuses on replay.
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Byte offset of the record (or header) at fault.
        offset: u64,
        /// What is wrong.
        what: String,
    },
    /// A logged operation the engine does not take again on replay: the directory was
    /// opened with settings (lateness, de-duplication window, identifier limits) other than
    /// those it was written with.
    Replay {
        /// The file.
        path: PathBuf,
        /// Byte offset of the record.
        offset: u64,
        /// What happened.
        what: String,
    },
    /// An operation whose log record would exceed the 16 MiB a record may hold (an event
    /// carrying megabytes of properties); it was refused and changed nothing.
    TooLarge {
        /// The encoded size.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// A file written by a newer tropa.
    NewerFormat {
        /// The file.
        path: PathBuf,
        /// Its format version.
        found: u32,
        /// The newest this build reads.
        supported: u32,
    },
    /// An earlier write or sync failed; the engine takes no more operations (see the module
    /// docs of `persist`).
    Stopped {
        /// The first failure, as text.
        cause: String,
    },
    /// The engine was built without a data directory: there is nowhere to write.
    NoDirectory,
    /// Another engine (in this process or another) has the directory open.
    Locked {
        /// The lock file.
        path: PathBuf,
    },
}

impl StoreError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, e: &std::io::Error) -> Self {
        StoreError::Io {
            op,
            path: path.into(),
            kind: e.kind(),
            message: e.to_string(),
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Io {
                op, path, message, ..
            } => write!(f, "{}: {op} failed: {message}", path.display()),
            StoreError::Corrupt { path, offset, what } => {
                write!(f, "{}: byte {offset}: {what}", path.display())
            }
            StoreError::Replay { path, offset, what } => write!(
                f,
                "{}: byte {offset}: does not replay under these settings: {what}",
                path.display()
            ),
            StoreError::TooLarge { bytes, max } => write!(
                f,
                "the operation takes {bytes} bytes in the log, over the {max} a record may hold"
            ),
            StoreError::NewerFormat {
                path,
                found,
                supported,
            } => write!(
                f,
                "{}: format version {found} is newer than this build reads ({supported})",
                path.display()
            ),
            StoreError::Stopped { cause } => {
                write!(f, "the data directory stopped taking writes after: {cause}")
            }
            StoreError::Locked { path } => write!(
                f,
                "{}: the data directory is in use by another engine",
                path.display()
            ),
            StoreError::NoDirectory => write!(
                f,
                "the engine has no data directory (open it with EngineBuilder::open)"
            ),
        }
    }
}

impl std::error::Error for StoreError {}
