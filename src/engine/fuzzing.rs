//! Entry points for the fuzz targets (`fuzz/`): the readers of a data directory's files,
//! without a file system. Not part of the supported API.

use super::Engine;
use crate::codec::frame::{file_header, put_record_with, read_records, LOG_MAGIC, SNAP_MAGIC};
use crate::codec::wire::decode_log;
use std::path::Path;

fn engine() -> Engine {
    Engine::builder()
        .shards(2)
        .build()
        .expect("the default settings are valid")
}

/// Reads `bytes` as the newest log segment of a directory and replays it into a new engine,
/// as recovery does; returns the records replayed or why it stopped.
pub fn read_segment(bytes: &[u8]) -> Result<u64, String> {
    let read = read_records(bytes, LOG_MAGIC, true).map_err(|e| e.to_string())?;
    let engine = engine();
    let mut rules = None;
    let mut n = 0;
    for (_, payload) in read.records {
        let record = decode_log(payload).map_err(|e| e.to_string())?;
        engine.replay(record, &mut rules)?;
        n += 1;
    }
    engine.flush();
    Ok(n)
}

/// Loads `bytes` as a snapshot into a new engine, as recovery does; returns the contacts
/// loaded or why it stopped.
pub fn read_snapshot(bytes: &[u8]) -> Result<u64, String> {
    let mut engine = engine();
    let restored = engine
        .restore(Path::new("fuzz.snap"), bytes)
        .map_err(|e| e.to_string())?;
    engine.flush();
    let _ = engine.profiles();
    Ok(restored.contacts)
}

/// A whole file of `records` (payloads), with valid header and checksums: a snapshot when
/// `snapshot`, else a log segment. Lets a fuzzer reach past the checksums.
pub fn frame_file(snapshot: bool, records: &[&[u8]]) -> Vec<u8> {
    let mut out = file_header(if snapshot { SNAP_MAGIC } else { LOG_MAGIC }).to_vec();
    for r in records {
        // A payload over the record limit is dropped: the reader would call it damage.
        let _ = put_record_with(&mut out, |buf| buf.extend_from_slice(r));
    }
    out
}

/// The record payloads of a valid file (to turn real files into fuzzer seeds).
pub fn records_of(bytes: &[u8], snapshot: bool) -> Option<Vec<Vec<u8>>> {
    let magic = if snapshot { SNAP_MAGIC } else { LOG_MAGIC };
    let read = read_records(bytes, magic, false).ok()?;
    Some(read.records.iter().map(|(_, p)| p.to_vec()).collect())
}
