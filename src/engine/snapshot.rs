//! Snapshots: the whole engine state in one file, so that recovery replays only the log
//! written after it, and so that what an erasure removed leaves the disk.
//!
//! # Taking one
//!
//! [`Engine::snapshot`] takes the *gate* exclusively. Every logged operation holds the gate
//! shared from its admission until it is handed to the shards, so once the gate is held no
//! operation is half done; the snapshot then applies everything handed in (without firing
//! timers that nobody asked for yet), ends the current log segment and starts the next (the
//! *cut*: the snapshot is the state after exactly the records before it), and encodes the
//! state into memory — the shards' contacts on as many threads as there are cores, identity
//! and the rest on the calling thread meanwhile. Then it lets ingest go on and writes the bytes to
//! `snap-NNNNNNNN.snap.tmp`, syncs it, renames it to `snap-NNNNNNNN.snap` (`NNNNNNNN`: the
//! first segment after the cut) and syncs the directory. Only then are the segments before the
//! cut and older snapshots removed. Ingest is held back for the encoding alone
//! ([`SnapshotInfo::paused`](crate::SnapshotInfo::paused)); the file system work runs while
//! it goes on. The encoded bytes are held in memory until written: a snapshot needs about
//! its file's size in free memory.
//!
//! A crash at any point leaves a directory that recovers to the same state: before the
//! rename there is no new snapshot (a `.tmp` file is ignored and removed), and after it the
//! old segments are merely redundant until removed.
//!
//! # What the file holds
//!
//! After the file header (magic `TROPASNP`), checksummed records, each a tag and a value:
//! the header (cut, clock, arrival counter, contact-id counter, counters, the rules as
//! canonical text, and the settings it was taken with), the interned names, the identity
//! records, the de-duplication memory, the contacts (profile and evaluation state), and an
//! end record with the count of each, so a file cut short is never taken for a whole one.
//! Bitmaps, the timer queue, the identifier index and manual-tag sets are rebuilt from these on
//! load rather than stored twice.
//!
//! # Reading one
//!
//! Everything read is checked before it is used: a bad checksum, an undecodable record, a
//! contact that names a string never interned, a term state that does not fit the recorded
//! rules, counts that do not match the end record — each is a
//! [`StoreError::Corrupt`] naming the file and the record's offset. A snapshot is never
//! skipped in favour of an older one: the log behind it is gone.

use super::durable::frame_error;
use super::shard::{Contact, StoredContact};
use super::{Config, Engine, NOT_STARTED};
use crate::codec::frame::{file_header, put_record_with, read_records, MAX_RECORD, SNAP_MAGIC};
use crate::codec::wire::{decode_tagged, encode_tagged, split_tagged};
use crate::eval::{EvalState, Evaluator};
use crate::event::{IdType, Ts};
use crate::identity::{ContactId, Record};
use crate::persist::{
    remove_all, snapshot_path, write_atomically, DirFiles, SnapshotInfo, StoreError,
};
use bincode::Encode;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

const HEADER: u8 = 0;
const SYMBOLS: u8 = 1;
const IDENTITIES: u8 = 2;
const DEDUP: u8 = 3;
const CONTACTS: u8 = 4;
const END: u8 = 5;

/// Contacts per record at most, and the heap bytes after which a record is closed early.
const CONTACTS_PER_RECORD: usize = 512;
const BYTES_PER_RECORD: usize = 1 << 20;

/// The settings that shape state, recorded so that a reopen with other values is reported.
#[derive(Debug, Clone, PartialEq, Eq, bincode::Encode, bincode::Decode)]
struct Settings {
    lateness: i64,
    dedup_window: i64,
    timeline_len: u64,
    dormancy: i64,
    post_purchase: i64,
    id_limits: Vec<(IdType, u32)>,
}

impl Settings {
    fn of(cfg: &Config) -> Settings {
        Settings {
            lateness: cfg.lateness,
            dedup_window: cfg.dedup_window,
            timeline_len: cfg.state.timeline_capacity as u64,
            dormancy: cfg.state.stage.dormancy,
            post_purchase: cfg.state.stage.post_purchase,
            id_limits: cfg.id_limits.entries(),
        }
    }

    /// Names of the settings that differ.
    fn differences(&self, now: &Settings) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.lateness != now.lateness {
            v.push("lateness");
        }
        if self.dedup_window != now.dedup_window {
            v.push("dedup_window");
        }
        if self.timeline_len != now.timeline_len {
            v.push("timeline_len");
        }
        if (self.dormancy, self.post_purchase) != (now.dormancy, now.post_purchase) {
            v.push("stage_windows");
        }
        if self.id_limits != now.id_limits {
            v.push("id_limits");
        }
        v
    }
}

#[derive(Debug, bincode::Encode, bincode::Decode)]
struct Header {
    /// The first log segment after the cut.
    cut: u64,
    now: Option<Ts>,
    seq: u64,
    next_contact: u32,
    counters: Vec<u64>,
    timers_fired: u64,
    rules: Option<String>,
    settings: Settings,
}

#[derive(Debug, Default, PartialEq, Eq, bincode::Encode, bincode::Decode)]
struct End {
    symbols: u64,
    identities: u64,
    dedup: u64,
    contacts: u64,
}

/// What [`Engine::restore`] loaded.
pub(super) struct Restored {
    /// The first log segment to replay.
    pub(super) cut: u64,
    pub(super) rules: Option<Box<str>>,
    pub(super) contacts: u64,
    pub(super) settings_changed: Vec<&'static str>,
}

fn put<T: Encode>(out: &mut Vec<u8>, tag: u8, value: &T) -> Result<(), StoreError> {
    put_record_with(out, |buf| encode_tagged(tag, value, buf)).map_err(|bytes| {
        StoreError::TooLarge {
            bytes,
            max: MAX_RECORD,
        }
    })
}

impl Engine {
    /// Writes a snapshot of the whole engine to the data directory and removes the log
    /// segments and older snapshots it replaces (see the module docs of `engine::snapshot`):
    /// recovery then starts from it, and nothing an erasure removed before this call is left
    /// in the directory. Ingest from other threads is held back only while the state is
    /// encoded. Call it on a schedule (the log grows until the next snapshot), and after
    /// erasures that must reach the disk.
    ///
    /// Errors: [`StoreError::NoDirectory`] for an engine built without one; an I/O failure
    /// (the directory keeps what it had, and recovery is unaffected); [`StoreError::TooLarge`]
    /// when one contact's state exceeds a record.
    ///
    /// ```
    /// use tropa::{decode_line, rules, Engine};
    /// let dir = tempfile::tempdir().unwrap();
    /// let plan = rules::compile("segment buyers = count(purchase) >= 1").unwrap();
    /// let (engine, _) = Engine::builder().rules(plan).open(dir.path()).unwrap();
    /// let line = r#"{"ts":1,"ids":{"email":"a@x.pl"},"type":"purchase","order":"o","amount":5}"#;
    /// engine.ingest(decode_line(line).unwrap()).unwrap();
    /// let snap = engine.snapshot().unwrap();
    /// assert_eq!(snap.contacts, 1);
    /// drop(engine);
    /// let (engine, recovery) = Engine::builder().open(dir.path()).unwrap();
    /// assert_eq!((recovery.snapshot, recovery.events), (Some(snap.file), 0));
    /// assert_eq!(engine.segment_size("buyers"), Some(1));
    /// ```
    pub fn snapshot(&self) -> Result<SnapshotInfo, StoreError> {
        let log = self.log.as_ref().ok_or(StoreError::NoDirectory)?;
        let _one = self.snapshotting.lock();
        let start = Instant::now();
        let (pieces, cut, contacts) = {
            let _gate = self.gate.write();
            if let Some(e) = log.stopped() {
                return Err(e);
            }
            self.drain();
            let cut = log.rotate()?;
            let (pieces, contacts) = self.encode_snapshot(cut)?;
            (pieces, cut, contacts)
        };
        let paused = start.elapsed();
        let dir = log.dir();
        let file = snapshot_path(dir, cut);
        let slices: Vec<&[u8]> = pieces.iter().map(Vec::as_slice).collect();
        write_atomically(&file, &slices)?;
        let stale = DirFiles::scan(dir)?.replaced_by(cut);
        remove_all(dir, &stale)?;
        Ok(SnapshotInfo {
            file,
            bytes: pieces.iter().map(|p| p.len() as u64).sum(),
            contacts,
            paused,
            took: start.elapsed(),
            removed: stale.len(),
        })
    }

    /// The state as snapshot bytes, in pieces to be written in order, and the contacts in it;
    /// the caller holds the gate and has drained the shards.
    fn encode_snapshot(&self, cut: u64) -> Result<(Vec<Vec<u8>>, u64), StoreError> {
        let workers = std::thread::available_parallelism()
            .map_or(1, usize::from)
            .clamp(1, self.shards.len());
        let (head, shards) = std::thread::scope(|s| {
            let handles: Vec<_> = (0..workers)
                .map(|w| s.spawn(move || self.encode_contacts(w, workers)))
                .collect();
            let head = self.encode_head(cut);
            let shards: Vec<_> = handles
                .into_iter()
                .map(|h| h.join().expect("encoding contacts does not panic"))
                .collect();
            (head, shards)
        });
        let (head, mut end) = head?;
        let mut pieces = vec![head];
        for part in shards {
            let (bytes, contacts) = part?;
            end.contacts += contacts;
            pieces.push(bytes);
        }
        let mut tail = Vec::new();
        put(&mut tail, END, &end)?;
        pieces.push(tail);
        Ok((pieces, end.contacts))
    }

    /// Contacts of the shards `first`, `first + step`, …, as `CONTACTS` records; and their
    /// number.
    fn encode_contacts(&self, first: usize, step: usize) -> Result<(Vec<u8>, u64), StoreError> {
        let mut out = Vec::new();
        let mut count = 0;
        let n = self.shards.len();
        for i in (first..n).step_by(step) {
            let st = self.shards[i].state.lock();
            let ev = st.eval.as_deref();
            let mut chunk: Vec<(u32, StoredContact<'_>)> = Vec::with_capacity(CONTACTS_PER_RECORD);
            let mut heap = 0;
            for (c, contact) in st.live_contacts(i, n) {
                chunk.push((c.0, contact.stored(ev)));
                heap += contact.state.heap_bytes() + 256;
                if chunk.len() == CONTACTS_PER_RECORD || heap >= BYTES_PER_RECORD {
                    put(&mut out, CONTACTS, &chunk)?;
                    count += chunk.len() as u64;
                    chunk.clear();
                    heap = 0;
                }
            }
            if !chunk.is_empty() {
                put(&mut out, CONTACTS, &chunk)?;
                count += chunk.len() as u64;
            }
        }
        Ok((out, count))
    }

    /// The file header and every record but the contacts and the end: the snapshot header,
    /// interned names, identity and de-duplication memory; with their counts so far.
    fn encode_head(&self, cut: u64) -> Result<(Vec<u8>, End), StoreError> {
        let rules = self.rules.read();
        let mut out = file_header(SNAP_MAGIC).to_vec();
        let mut end = End::default();
        let header = Header {
            cut,
            now: self.now(),
            seq: self.seq.load(Ordering::Acquire),
            next_contact: self.identity.allocated(),
            counters: self.counters.values(),
            timers_fired: self.timers_fired(),
            rules: rules.as_ref().map(|e| e.plan.text().to_owned()),
            settings: Settings::of(&self.cfg),
        };
        put(&mut out, HEADER, &header)?;
        let names = self.syms.names();
        for chunk in names.chunks(4096) {
            let v: Vec<&str> = chunk.iter().map(|s| &**s).collect();
            put(&mut out, SYMBOLS, &v)?;
            end.symbols += v.len() as u64;
        }
        let mut failed = Ok(());
        self.identity.records_chunked(1024, |chunk| {
            if failed.is_ok() {
                failed = put(&mut out, IDENTITIES, &chunk);
                end.identities += chunk.len() as u64;
            }
        });
        failed?;
        let seen = self.dedup.entries(self.now());
        for chunk in seen.chunks(4096) {
            put(&mut out, DEDUP, &chunk)?;
            end.dedup += chunk.len() as u64;
        }
        Ok((out, end))
    }

    /// Loads snapshot `bytes` (read from `path`) into this engine, which is new and empty.
    /// On an error the engine is left half loaded and must be dropped.
    pub(super) fn restore(&mut self, path: &Path, bytes: &[u8]) -> Result<Restored, StoreError> {
        let corrupt = |offset: u64, what: &str| StoreError::Corrupt {
            path: path.into(),
            offset,
            what: what.into(),
        };
        let read = read_records(bytes, SNAP_MAGIC, false).map_err(|e| frame_error(path, e))?;
        if read.torn.is_some() {
            return Err(corrupt(
                read.valid_end,
                "the snapshot ends in a cut-short record",
            ));
        }
        let mut records = read.records.into_iter();
        let (at, first) = records
            .next()
            .ok_or_else(|| corrupt(read.valid_end, "the snapshot has no header"))?;
        let header: Header = match split_tagged(first) {
            Some((HEADER, body)) => decode_tagged(body).map_err(|e| corrupt(at, &e.to_string()))?,
            _ => return Err(corrupt(at, "the first record is not the snapshot header")),
        };
        let shards = self.shards.len();
        let capacity = self.cfg.state.timeline_capacity;
        // The engine time of the snapshot: every contact was last evaluated at or before it.
        let clock = header.now.unwrap_or(Ts::MIN);
        let mut counted = End::default();
        let mut end = None;
        let mut eval: Option<Arc<Evaluator>> = None;
        let mut past_symbols = false;
        for (at, payload) in records {
            let fail = |what: &str| corrupt(at, what);
            let decode_err = |e: crate::codec::CodecError| corrupt(at, &e.to_string());
            if end.is_some() {
                return Err(fail("a record after the end record"));
            }
            let Some((tag, body)) = split_tagged(payload) else {
                return Err(fail("an empty record"));
            };
            if tag != SYMBOLS && !past_symbols {
                past_symbols = true;
                eval = self
                    .install_recorded(header.rules.as_deref())
                    .map_err(|e| fail(&e))?;
            }
            match tag {
                SYMBOLS if !past_symbols => {
                    let names: Vec<String> = decode_tagged(body).map_err(decode_err)?;
                    counted.symbols += names.len() as u64;
                    self.syms.restore(names).map_err(fail)?;
                }
                IDENTITIES => {
                    let list: Vec<(ContactId, Record)> = decode_tagged(body).map_err(decode_err)?;
                    counted.identities += list.len() as u64;
                    for (c, r) in list {
                        self.identity
                            .restore(c, r, header.next_contact)
                            .map_err(fail)?;
                    }
                }
                DEDUP => {
                    let list: Vec<(crate::Text, Ts, u32)> =
                        decode_tagged(body).map_err(decode_err)?;
                    if list
                        .iter()
                        .any(|e| e.2 != u32::MAX && e.2 >= header.next_contact)
                    {
                        return Err(fail("a remembered event id names an unknown contact"));
                    }
                    counted.dedup += list.len() as u64;
                    self.dedup.restore(list);
                }
                CONTACTS => {
                    let list: Vec<(u32, Contact)> = decode_tagged(body).map_err(decode_err)?;
                    counted.contacts += list.len() as u64;
                    let symbols = self.syms.len() as u32;
                    for (c, mut contact) in list {
                        let id = ContactId(c);
                        if self.identity.record(id).is_none() {
                            return Err(fail("a contact without an identity record"));
                        }
                        contact.state.check(symbols, capacity).map_err(fail)?;
                        match &eval {
                            Some(ev) => ev.restore_state(&mut contact.eval, clock).map_err(fail)?,
                            None if contact.eval != EvalState::default() => {
                                return Err(fail("rule state without rules"))
                            }
                            None => {}
                        }
                        let shard = self.shard_of(id);
                        self.shards[shard]
                            .state
                            .get_mut()
                            .restore(id, contact, shards)
                            .map_err(fail)?;
                    }
                }
                END => end = Some(decode_tagged::<End>(body).map_err(decode_err)?),
                SYMBOLS => return Err(fail("interned names after other records")),
                _ => return Err(fail("an unknown snapshot record")),
            }
        }
        let Some(end) = end else {
            return Err(corrupt(read.valid_end, "the snapshot has no end record"));
        };
        if !past_symbols {
            self.install_recorded(header.rules.as_deref())
                .map_err(|e| corrupt(read.valid_end, &e))?;
        }
        if end != counted || counted.contacts != counted.identities {
            return Err(corrupt(
                read.valid_end,
                "the end record's counts do not match the records",
            ));
        }
        self.identity.set_next(header.next_contact);
        self.now
            .store(header.now.unwrap_or(NOT_STARTED), Ordering::Release);
        self.seq.store(header.seq, Ordering::Release);
        self.counters.set(&header.counters);
        for (i, shard) in self.shards.iter_mut().enumerate() {
            let fired = if i == 0 { header.timers_fired } else { 0 };
            shard.state.get_mut().rebuild(i, shards, fired);
        }
        Ok(Restored {
            cut: header.cut,
            rules: header.rules.map(Into::into),
            contacts: counted.contacts,
            settings_changed: header.settings.differences(&Settings::of(&self.cfg)),
        })
    }

    /// Puts the recorded rules in force in an engine without contacts (their names are
    /// interned by now, so each keeps its symbol); returns the evaluator.
    fn install_recorded(&mut self, text: Option<&str>) -> Result<Option<Arc<Evaluator>>, String> {
        let Some(text) = text else {
            return Ok(None);
        };
        let plan = crate::rules::compile(text)
            .map_err(|e| format!("the recorded rules do not compile: {e}"))?;
        let ev = Arc::new(Evaluator::new(plan, &self.syms, self.cfg.state.stage));
        for shard in self.shards.iter_mut() {
            shard.state.get_mut().eval = Some(Arc::new((*ev).clone()));
        }
        *self.rules.get_mut() = Some(Arc::clone(&ev));
        self.has_rules.store(true, Ordering::Release);
        Ok(Some(ev))
    }
}
