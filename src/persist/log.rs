//! The write-ahead log: appending in order, group commit, and the segment files.

use super::dir::{create_synced, segment_path};
use super::{Durability, StoreError};
use crate::codec::frame::{file_header, put_record_with, LOG_MAGIC, MAX_RECORD};
use crate::codec::wire::{encode_log, Entry};
use crossbeam::channel::{bounded, RecvTimeoutError, Sender};
use parking_lot::{Mutex, MutexGuard};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Bytes gathered in memory before an appending thread writes them out itself (modes other
/// than `Sync`, which writes on every acknowledgement).
const WRITE_OUT: usize = 1 << 20;

/// Records appended, not yet handed to the file. Its lock orders the log: the engine takes
/// its admission decisions and appends under it ([`Log::order`]).
pub(crate) struct Pending {
    bytes: Vec<u8>,
    /// Number of the last record appended (records are numbered from 1).
    last: u64,
}

/// A position in the log: everything up to this record number.
pub(crate) type Lsn = u64;

struct Segment {
    file: File,
    path: PathBuf,
    /// Its number in the directory.
    number: u64,
    /// The buffer swapped in for `Pending::bytes` at each write-out (keeps its capacity).
    spare: Vec<u8>,
}

struct Shared {
    mode: Durability,
    pending: Mutex<Pending>,
    segment: Mutex<Segment>,
    /// Bytes in `pending` (a hint, read without its lock).
    gathered: AtomicUsize,
    written: AtomicU64,
    synced: AtomicU64,
    stopped: AtomicBool,
    failure: Mutex<Option<StoreError>>,
}

/// An open write-ahead log segment.
pub(crate) struct Log {
    shared: Arc<Shared>,
    ticker: Option<(Sender<()>, JoinHandle<()>)>,
    dir: PathBuf,
    /// The directory's lock, held while the log is open.
    _lock: File,
}

/// Creates segment file `path` (which must not exist) holding `bytes`, synced with its
/// directory entry.
fn new_segment(path: &Path, bytes: &[u8]) -> Result<File, StoreError> {
    create_synced(path, &[bytes], true)
}

/// The order lock, held: append records while deciding what they are.
pub(crate) struct Order<'a> {
    pending: MutexGuard<'a, Pending>,
    shared: &'a Shared,
}

impl Order<'_> {
    /// Appends a record framed beforehand (see [`Log::frame`]); returns its number.
    pub(crate) fn append(&mut self, framed: &[u8]) -> Lsn {
        self.pending.bytes.extend_from_slice(framed);
        self.appended()
    }

    /// Frames `entry` straight into the log (for the rare entries that are not events, which
    /// are framed before the lock is taken); returns its number.
    pub(crate) fn append_entry(&mut self, entry: Entry<'_>) -> Result<Lsn, StoreError> {
        Log::frame(entry, &mut self.pending.bytes)?;
        Ok(self.appended())
    }

    fn appended(&mut self) -> Lsn {
        self.pending.last += 1;
        self.shared
            .gathered
            .store(self.pending.bytes.len(), Ordering::Relaxed);
        self.pending.last
    }

    /// Stops the log with `cause` (an entry that could not be logged must not be applied
    /// either, and nothing after it may be).
    pub(crate) fn stop(&self, cause: StoreError) {
        self.shared.fail(cause);
    }

    /// The failure that stopped the log, if any.
    pub(crate) fn stopped(&self) -> Option<StoreError> {
        self.shared.stopped_error()
    }
}

impl Shared {
    fn stopped_error(&self) -> Option<StoreError> {
        if !self.stopped.load(Ordering::Acquire) {
            return None;
        }
        let cause = self
            .failure
            .lock()
            .as_ref()
            .map_or_else(String::new, ToString::to_string);
        Some(StoreError::Stopped { cause })
    }

    fn fail(&self, e: StoreError) -> StoreError {
        let mut f = self.failure.lock();
        if f.is_none() {
            *f = Some(e.clone());
        }
        self.stopped.store(true, Ordering::Release);
        e
    }

    /// Writes out everything appended up to at least record `upto` (everything appended so
    /// far), and syncs it when `sync`. One thread at a time (the segment lock); appends go on
    /// meanwhile.
    fn write_out(&self, upto: Lsn, sync: bool) -> Result<(), StoreError> {
        let done = if sync { &self.synced } else { &self.written };
        if done.load(Ordering::Acquire) >= upto {
            return Ok(());
        }
        let mut seg = self.segment.lock();
        if done.load(Ordering::Acquire) >= upto {
            return Ok(()); // another thread's write-out covered us while we waited
        }
        if let Some(e) = self.stopped_error() {
            return Err(e);
        }
        let Segment {
            file, path, spare, ..
        } = &mut *seg;
        let last = {
            let mut p = self.pending.lock();
            std::mem::swap(&mut p.bytes, spare);
            self.gathered.store(0, Ordering::Relaxed);
            p.last
        };
        if !spare.is_empty() {
            let r = file.write_all(spare);
            spare.clear();
            r.map_err(|e| self.fail(StoreError::io("write", path.as_path(), &e)))?;
        }
        self.written.fetch_max(last, Ordering::AcqRel);
        if sync {
            file.sync_data()
                .map_err(|e| self.fail(StoreError::io("sync", path.as_path(), &e)))?;
            self.synced.fetch_max(last, Ordering::AcqRel);
        }
        Ok(())
    }
}

impl Log {
    /// Creates segment `number` of `dir` (which must not exist), writes its header and
    /// `first` records, syncs file and directory, and starts the log in `mode`, holding the
    /// directory's `lock` until it is dropped.
    pub(crate) fn create(
        dir: &Path,
        lock: File,
        number: u64,
        mode: Durability,
        first: &[Entry<'_>],
    ) -> Result<Log, StoreError> {
        let path = segment_path(dir, number);
        let mut bytes = file_header(LOG_MAGIC).to_vec();
        for &entry in first {
            Log::frame(entry, &mut bytes)?;
        }
        let file = new_segment(&path, &bytes)?;
        let shared = Arc::new(Shared {
            mode,
            pending: Mutex::new(Pending {
                bytes: Vec::new(),
                last: 0,
            }),
            segment: Mutex::new(Segment {
                file,
                path,
                number,
                spare: Vec::new(),
            }),
            gathered: AtomicUsize::new(0),
            written: AtomicU64::new(0),
            synced: AtomicU64::new(0),
            stopped: AtomicBool::new(false),
            failure: Mutex::new(None),
        });
        let ticker = match mode {
            Durability::Batched(every) => {
                let (stop, stopped) = bounded::<()>(0);
                let s = Arc::clone(&shared);
                let handle = std::thread::Builder::new()
                    .name("tropa-wal-sync".into())
                    .spawn(move || loop {
                        match stopped.recv_timeout(every) {
                            Err(RecvTimeoutError::Timeout) => {
                                let last = s.pending.lock().last;
                                // A failure stops the log; ingest reports it.
                                let _ = s.write_out(last, true);
                            }
                            _ => return,
                        }
                    })
                    .map_err(|e| StoreError::io("spawn sync thread", Path::new(""), &e))?;
                Some((stop, handle))
            }
            _ => None,
        };
        Ok(Log {
            shared,
            ticker,
            dir: dir.to_owned(),
            _lock: lock,
        })
    }

    /// The data directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Ends the current segment and starts the next: everything appended so far is written
    /// and synced to the current one, and what is appended from now on goes to the new one,
    /// whose number is returned. The caller keeps appends out meanwhile (a snapshot's cut);
    /// a failure stops the log.
    pub(crate) fn rotate(&self) -> Result<u64, StoreError> {
        let s = &*self.shared;
        let mut seg = s.segment.lock();
        if let Some(e) = s.stopped_error() {
            return Err(e);
        }
        let mut pending = s.pending.lock();
        let Segment {
            file, path, number, ..
        } = &mut *seg;
        file.write_all(&pending.bytes)
            .and_then(|()| file.sync_data())
            .map_err(|e| s.fail(StoreError::io("write", path.as_path(), &e)))?;
        pending.bytes.clear();
        s.gathered.store(0, Ordering::Relaxed);
        s.written.fetch_max(pending.last, Ordering::AcqRel);
        s.synced.fetch_max(pending.last, Ordering::AcqRel);
        let next = *number + 1;
        let next_path = segment_path(&self.dir, next);
        *file = new_segment(&next_path, &file_header(LOG_MAGIC)).map_err(|e| s.fail(e))?;
        *path = next_path;
        *number = next;
        Ok(next)
    }

    /// Encodes and frames an entry onto `out`; an entry over the record limit is refused
    /// and `out` left as it was.
    pub(crate) fn frame(entry: Entry<'_>, out: &mut Vec<u8>) -> Result<(), StoreError> {
        put_record_with(out, |buf| encode_log(entry, buf)).map_err(|bytes| StoreError::TooLarge {
            bytes,
            max: MAX_RECORD,
        })
    }

    /// The failure that stopped the log, if any.
    pub(crate) fn stopped(&self) -> Option<StoreError> {
        self.shared.stopped_error()
    }

    /// Takes the order lock.
    pub(crate) fn order(&self) -> Order<'_> {
        Order {
            pending: self.shared.pending.lock(),
            shared: &self.shared,
        }
    }

    /// After appends that ended at record `lsn` (the order lock released): waits until it is
    /// synced (`Sync`), or writes out the gathered records when they have grown large.
    pub(crate) fn settle(&self, lsn: Lsn) -> Result<(), StoreError> {
        match self.shared.mode {
            Durability::Sync => self.shared.write_out(lsn, true),
            _ if self.shared.gathered.load(Ordering::Relaxed) >= WRITE_OUT => {
                self.shared.write_out(lsn, false)
            }
            _ => Ok(()),
        }
    }

    /// Writes out and syncs everything appended so far, whatever the mode.
    pub(crate) fn sync(&self) -> Result<(), StoreError> {
        let last = self.shared.pending.lock().last;
        match self.shared.stopped_error() {
            Some(e) => Err(e),
            None => self.shared.write_out(last, true),
        }
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        if let Some((stop, handle)) = self.ticker.take() {
            drop(stop);
            let _ = handle.join();
        }
        // Nothing to report a failure to here; `Engine::sync` is the call that reports.
        let _ = self.sync();
    }
}
