//! Ingesting a JSON Lines stream, with a report of what happened to each line.

use super::{Engine, IngestError, IngestLineError, Ingested};
use crate::event::{decode_line, EventError, EventErrorKind};
use std::collections::BTreeMap;
use std::io::BufRead;

/// What a JSON Lines ingest did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JsonlReport {
    /// Non-blank lines read.
    pub read: u64,
    /// Lines accepted (applied, or erase requests).
    pub accepted: u64,
    /// Lines acknowledged as duplicates.
    pub duplicates: u64,
    /// Lines refused, by reason (see [`IngestError::reason_name`]).
    pub rejected: BTreeMap<&'static str, u64>,
    /// The first refusals, with line numbers (at most [`JsonlReport::KEEP_ERRORS`]).
    pub errors: Vec<IngestLineError>,
}

impl JsonlReport {
    /// How many refusals are kept with their full message.
    pub const KEEP_ERRORS: usize = 20;

    /// All refused lines.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }

    fn reject(&mut self, line: u64, e: IngestError) {
        *self.rejected.entry(e.reason_name()).or_default() += 1;
        if self.errors.len() < Self::KEEP_ERRORS {
            self.errors.push(e.at_line(line));
        }
    }
}

impl Engine {
    /// Reads JSON Lines and ingests each event in order. Blank lines are skipped; a line that
    /// cannot be decoded or is refused is counted and reported with its line number, and the
    /// rest of the stream goes on. Only an I/O error stops the read.
    ///
    /// ```
    /// let engine = tropa::Engine::builder().build().unwrap();
    /// let input = "{\"ts\":1000,\"ids\":{\"cookie\":\"c\"},\"type\":\"app_open\"}\n\
    ///              {\"ts\":1000,\"type\":\"app_open\"}\n";
    /// let report = engine.ingest_jsonl(input.as_bytes()).unwrap();
    /// assert_eq!((report.read, report.accepted, report.rejected_total()), (2, 1, 1));
    /// assert_eq!(report.errors[0].to_string(), "line 2: field `ids`: required but missing");
    /// ```
    pub fn ingest_jsonl(&self, mut input: impl BufRead) -> std::io::Result<JsonlReport> {
        let mut report = JsonlReport::default();
        let mut buf = Vec::new();
        let mut line_no = 0u64;
        loop {
            buf.clear();
            if input.read_until(b'\n', &mut buf)? == 0 {
                break;
            }
            line_no += 1;
            let text = match std::str::from_utf8(&buf) {
                Ok(t) => t.trim(),
                Err(e) => {
                    report.read += 1;
                    let err = EventError {
                        line: Some(line_no),
                        field: None,
                        kind: EventErrorKind::Syntax(format!("not UTF-8: {e}")),
                    };
                    report.reject(line_no, IngestError::Invalid(err));
                    continue;
                }
            };
            if text.is_empty() {
                continue;
            }
            report.read += 1;
            let outcome = decode_line(text)
                .map_err(|e| IngestError::Invalid(e.at_line(line_no)))
                .and_then(|ev| self.ingest(ev));
            match outcome {
                Ok(Ingested::Duplicate) => report.duplicates += 1,
                Ok(_) => report.accepted += 1,
                Err(e) => report.reject(line_no, e),
            }
        }
        Ok(report)
    }
}
