//! The files of a data directory: naming, listing, atomic replacement.

use super::StoreError;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The path of log segment `n` in `dir`.
pub(crate) fn segment_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("wal-{n:08}.log"))
}

/// The path of the snapshot whose log continues at segment `n`.
pub(crate) fn snapshot_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("snap-{n:08}.snap"))
}

/// What a data directory holds, each list in number order.
#[derive(Debug, Default)]
pub(crate) struct DirFiles {
    /// Log segments `wal-NNNNNNNN.log`.
    pub(crate) segments: Vec<(u64, PathBuf)>,
    /// Snapshots `snap-NNNNNNNN.snap`: the state before log segment `NNNNNNNN`.
    pub(crate) snapshots: Vec<(u64, PathBuf)>,
    /// Snapshots whose writing did not finish (`*.tmp`): never read, removed on open.
    pub(crate) unfinished: Vec<PathBuf>,
}

fn numbered(name: &str, prefix: &str, suffix: &str) -> Option<u64> {
    name.strip_prefix(prefix)
        .and_then(|r| r.strip_suffix(suffix))
        .filter(|n| n.len() == 8 && n.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|n| n.parse().ok())
}

impl DirFiles {
    /// Lists `dir`; files tropa did not name are left alone.
    pub(crate) fn scan(dir: &Path) -> Result<DirFiles, StoreError> {
        let mut found = DirFiles::default();
        let entries = fs::read_dir(dir).map_err(|e| StoreError::io("read_dir", dir, &e))?;
        for entry in entries {
            let entry = entry.map_err(|e| StoreError::io("read_dir", dir, &e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some(n) = numbered(name, "wal-", ".log") {
                found.segments.push((n, entry.path()));
            } else if let Some(n) = numbered(name, "snap-", ".snap") {
                found.snapshots.push((n, entry.path()));
            } else if numbered(name, "snap-", ".snap.tmp").is_some() {
                found.unfinished.push(entry.path());
            }
        }
        found.segments.sort();
        found.snapshots.sort();
        Ok(found)
    }

    /// The segments and snapshots that a snapshot of the cut before segment `cut` replaces,
    /// and unfinished snapshots: what may be removed once that snapshot is durable.
    pub(crate) fn replaced_by(&self, cut: u64) -> Vec<PathBuf> {
        self.segments
            .iter()
            .chain(&self.snapshots)
            .filter(|(n, _)| *n < cut)
            .map(|(_, p)| p.clone())
            .chain(self.unfinished.iter().cloned())
            .collect()
    }

    /// The number for a new log segment: after every segment and snapshot.
    pub(crate) fn next_segment(&self) -> u64 {
        let seg = self.segments.last().map_or(0, |(n, _)| *n);
        let snap = self.snapshots.last().map_or(0, |(n, _)| *n);
        seg.max(snap) + 1
    }
}

/// Takes the directory's lock (`LOCK`, an advisory lock on the file, released by the
/// kernel when the process ends): one engine at a time may use a data directory. The lock
/// lasts as long as the returned file is open.
pub(crate) fn lock_dir(dir: &Path) -> Result<File, StoreError> {
    let path = dir.join("LOCK");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| StoreError::io("open", &path, &e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Locked { path }),
        Err(std::fs::TryLockError::Error(e)) => Err(StoreError::io("lock", &path, &e)),
    }
}

/// Fsyncs a directory, so that a file created, renamed or removed in it survives a crash.
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io("sync directory", dir, &e))
}

/// Creates file `path` holding `pieces` one after the other, synced, with its directory
/// entry synced too; returns it open for appending. `exclusive`: the file must not exist
/// (otherwise it is replaced).
pub(crate) fn create_synced(
    path: &Path,
    pieces: &[&[u8]],
    exclusive: bool,
) -> Result<File, StoreError> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(!exclusive)
        .truncate(!exclusive)
        .create_new(exclusive)
        .open(path)
        .map_err(|e| StoreError::io("create", path, &e))?;
    pieces
        .iter()
        .try_for_each(|p| file.write_all(p))
        .and_then(|()| file.sync_all())
        .map_err(|e| StoreError::io("write", path, &e))?;
    sync_parent(path)?;
    Ok(file)
}

fn sync_parent(path: &Path) -> Result<(), StoreError> {
    match path.parent() {
        Some(dir) => sync_dir(dir),
        None => Ok(()),
    }
}

/// Writes `pieces`, one after the other, as `path`, all or nothing: into `path.tmp` first,
/// synced, renamed over `path`, then the directory synced. A crash leaves either no `path`
/// or the whole of it (and perhaps a `.tmp` file, which readers ignore).
pub(crate) fn write_atomically(path: &Path, pieces: &[&[u8]]) -> Result<(), StoreError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    drop(create_synced(&tmp, pieces, false)?);
    fs::rename(&tmp, path).map_err(|e| StoreError::io("rename", &tmp, &e))?;
    sync_parent(path)
}

/// Cuts `path` to `len` bytes (removing it when `len` is 0), synced with its directory.
pub(crate) fn cut_file(path: &Path, len: u64) -> Result<(), StoreError> {
    if len == 0 {
        fs::remove_file(path).map_err(|e| StoreError::io("remove", path, &e))?;
    } else {
        let file = fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| StoreError::io("open", path, &e))?;
        file.set_len(len)
            .and_then(|()| file.sync_all())
            .map_err(|e| StoreError::io("truncate", path, &e))?;
    }
    sync_parent(path)
}

/// Removes files that a newer snapshot replaced, then syncs the directory.
pub(crate) fn remove_all(dir: &Path, files: &[PathBuf]) -> Result<(), StoreError> {
    if files.is_empty() {
        return Ok(());
    }
    for f in files {
        match fs::remove_file(f) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::io("remove", f.as_path(), &e)),
        }
    }
    sync_dir(dir)
}
