//! Opening an engine on a data directory: recovery by replaying the write-ahead log, then
//! logging from there on (see [`crate::persist`] for the directory and the modes).
//!
//! The engine writes to the log on its ingest path, so `persist` sits below `engine` and
//! knows nothing of it; this file is where the two meet.

use super::config::ConfigError;
use super::{Engine, EngineBuilder, Ingested};
use crate::codec::frame::{read_records, FrameError, LOG_MAGIC};
use crate::codec::wire::{decode_log, Entry, LogRecord};
use crate::codec::FORMAT_VERSION;
use crate::persist::{
    cut_file, lock_dir, remove_all, DirFiles, Log, Recovery, StoreError, TornTail,
};
use std::fmt;
use std::fs;
use std::path::Path;

/// Why [`EngineBuilder::open`] failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpenError {
    /// A setting that cannot work.
    Config(ConfigError),
    /// The data directory cannot be read, written or recovered.
    Store(StoreError),
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::Config(e) => write!(f, "{e}"),
            OpenError::Store(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for OpenError {}

impl From<ConfigError> for OpenError {
    fn from(e: ConfigError) -> Self {
        OpenError::Config(e)
    }
}

impl From<StoreError> for OpenError {
    fn from(e: StoreError) -> Self {
        OpenError::Store(e)
    }
}

pub(super) fn frame_error(path: &Path, e: FrameError) -> StoreError {
    match e {
        FrameError::BadMagic => StoreError::Corrupt {
            path: path.into(),
            offset: 0,
            what: "not a tropa log segment (bad magic)".into(),
        },
        FrameError::NewerVersion(found) => StoreError::NewerFormat {
            path: path.into(),
            found,
            supported: FORMAT_VERSION,
        },
        FrameError::Corrupt { offset, what } => StoreError::Corrupt {
            path: path.into(),
            offset,
            what,
        },
    }
}

impl EngineBuilder {
    /// Opens the engine on data directory `dir` (created if missing): recovers the state of
    /// every operation its log holds, then logs every operation taken from now on, durable as
    /// [`EngineBuilder::durability`] says. See [`crate::persist`].
    ///
    /// Rules: when [`EngineBuilder::rules`] was given, those rules are in force after open —
    /// if they differ from the rules recorded, they are put in force after the replay as
    /// [`Engine::load_rules`] does (and recorded). Without it, the recorded rules stay in
    /// force. The other settings must be those the directory was written with; an operation
    /// that does not replay under them is a [`StoreError::Replay`].
    ///
    /// ```
    /// use tropa::{decode_line, persist::Durability, rules, Engine};
    /// let dir = tempfile::tempdir().unwrap();
    /// let plan = || rules::compile("segment buyers = count(purchase) >= 1").unwrap();
    /// {
    ///     let (engine, _) = Engine::builder().rules(plan()).open(dir.path()).unwrap();
    ///     let line = r#"{"ts":1,"ids":{"email":"a@x.pl"},"type":"purchase","order":"o","amount":5}"#;
    ///     engine.ingest(decode_line(line).unwrap()).unwrap(); // on disk when this returns
    /// }
    /// let (engine, recovery) = Engine::builder().rules(plan()).open(dir.path()).unwrap();
    /// assert_eq!((recovery.events, recovery.rules_changed), (1, false));
    /// assert_eq!(engine.segment_size("buyers"), Some(1));
    /// # let _ = Durability::Sync;
    /// ```
    pub fn open(self, dir: impl AsRef<Path>) -> Result<(Engine, Recovery), OpenError> {
        let dir = dir.as_ref();
        let mut cfg = self.into_config()?;
        let given = cfg.plan.take();
        let mode = cfg.durability;
        fs::create_dir_all(dir).map_err(|e| StoreError::io("create directory", dir, &e))?;
        let lock = lock_dir(dir)?;
        let files = DirFiles::scan(dir)?;
        let mut engine = Engine::from_config(cfg);
        let mut recovery = Recovery::default();
        let mut recorded: Option<Box<str>> = None;
        // The newest snapshot, then the log segments from its cut on.
        let mut from = 0;
        if let Some((n, path)) = files.snapshots.last() {
            let bytes = fs::read(path).map_err(|e| StoreError::io("read", path.as_path(), &e))?;
            let restored = engine.restore(path, &bytes)?;
            if restored.cut != *n {
                return Err(StoreError::Corrupt {
                    path: path.clone(),
                    offset: 0,
                    what: format!("the snapshot is of the cut before segment {}", restored.cut),
                }
                .into());
            }
            from = *n;
            recorded = restored.rules;
            recovery.snapshot = Some(path.clone());
            recovery.snapshot_contacts = restored.contacts;
            recovery.settings_changed = restored.settings_changed;
        }
        let segments: Vec<_> = files.segments.iter().filter(|(n, _)| *n >= from).collect();
        recovery.segments = segments.len();
        for (i, (_, path)) in segments.iter().enumerate() {
            let newest = i + 1 == segments.len();
            let bytes = fs::read(path).map_err(|e| StoreError::io("read", path.as_path(), &e))?;
            let read = read_records(&bytes, LOG_MAGIC, newest).map_err(|e| frame_error(path, e))?;
            if let (Some(_), false) = (read.torn, newest) {
                return Err(StoreError::Corrupt {
                    path: path.clone(),
                    offset: read.valid_end,
                    what: "record cut short in a segment that is not the newest".into(),
                }
                .into());
            }
            for (offset, payload) in read.records {
                let record = decode_log(payload).map_err(|e| StoreError::Corrupt {
                    path: path.clone(),
                    offset,
                    what: e.to_string(),
                })?;
                recovery.records += 1;
                recovery.events += u64::from(matches!(record, LogRecord::Event(_)));
                engine
                    .replay(record, &mut recorded)
                    .map_err(|what| StoreError::Replay {
                        path: path.clone(),
                        offset,
                        what,
                    })?;
            }
            if let Some(bytes) = read.torn {
                cut_file(path, read.valid_end)?;
                recovery.torn = Some(TornTail {
                    file: path.clone(),
                    offset: read.valid_end,
                    bytes,
                });
            }
        }
        // Replay applied everything on this thread; `drain` (not `flush`) fires no timer
        // that the run being recovered had not been asked to fire yet.
        engine.drain();
        let mut first = String::new();
        if let Some(plan) = given {
            if recorded.as_deref() != Some(plan.text()) {
                first = plan.text().to_owned();
                engine.load_rules(plan);
                recovery.rules_changed = true;
            }
        }
        let entries: Vec<Entry<'_>> = if recovery.rules_changed {
            vec![Entry::Rules(&first)]
        } else {
            Vec::new()
        };
        engine.log = Some(Log::create(
            dir,
            lock,
            files.next_segment(),
            mode,
            &entries,
        )?);
        // What a snapshot replaced but a crash left behind.
        remove_all(dir, &files.replaced_by(from))?;
        Ok((engine, recovery))
    }
}

impl Engine {
    /// Applies one recovered operation, as it was applied when it was logged.
    pub(super) fn replay(
        &self,
        record: LogRecord,
        rules: &mut Option<Box<str>>,
    ) -> Result<(), String> {
        match record {
            LogRecord::Event(event) => match self.ingest(event) {
                Ok(Ingested::Duplicate) => Err("the event is taken as a duplicate".into()),
                Ok(_) => Ok(()),
                Err(e) => Err(format!("the event is refused: {e}")),
            },
            LogRecord::Advance(t) => {
                self.advance_to(t);
                Ok(())
            }
            LogRecord::Rules(text) => {
                let plan = crate::rules::compile(&text)
                    .map_err(|e| format!("the recorded rules do not compile: {e}"))?;
                self.load_rules(plan);
                *rules = Some(text);
                Ok(())
            }
        }
    }
}
