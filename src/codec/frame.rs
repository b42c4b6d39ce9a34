//! File headers and checksummed records.
//!
//! A file starts with a 16-byte header: an 8-byte magic naming what the file holds, the
//! [`FORMAT_VERSION`] it was written with (u32, little-endian) and 4 reserved zero bytes.
//! Records follow, each framed as
//!
//! ```text
//! len: u32 LE | crc32(len bytes): u32 LE | crc32(payload): u32 LE | payload (len bytes)
//! ```
//!
//! The length has its own checksum, so a damaged length is caught as damage instead of being
//! read as a record that runs past the end of the file.
//!
//! **Torn tail or corruption.** A writer that dies mid-append leaves a prefix of its last
//! record: fewer than 12 header bytes, or a good header whose payload runs past the end of the
//! file. A last record whose payload is complete but fails its checksum, or a tail of zero
//! bytes (some file systems fill a file extended before a power loss with zeros), is treated
//! the same way. All of these are a *torn tail*: reported, and cut off by the caller. Anything
//! else that does not check — a bad length, a bad payload followed by more bytes — is
//! *corruption*, an error naming the offset, never skipped.

use super::FORMAT_VERSION;
use std::fmt;

/// Header bytes at the start of every file.
pub(crate) const FILE_HEADER: usize = 16;
/// Header bytes in front of every record.
pub(crate) const RECORD_HEADER: usize = 12;
/// The largest record payload accepted: larger lengths are corruption.
pub(crate) const MAX_RECORD: usize = 16 << 20;

/// Magic of a write-ahead log segment.
pub(crate) const LOG_MAGIC: [u8; 8] = *b"TROPALOG";
/// Magic of a snapshot.
pub(crate) const SNAP_MAGIC: [u8; 8] = *b"TROPASNP";

/// The header of a new file holding `magic`.
pub(crate) fn file_header(magic: [u8; 8]) -> [u8; FILE_HEADER] {
    let mut h = [0u8; FILE_HEADER];
    h[..8].copy_from_slice(&magic);
    h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h
}

/// Appends one framed record to `out`, its payload written in place by `write` (no copy).
/// A payload over [`MAX_RECORD`] is taken back off `out` and its length returned as the error:
/// a reader would take such a record for damage.
pub(crate) fn put_record_with(
    out: &mut Vec<u8>,
    write: impl FnOnce(&mut Vec<u8>),
) -> Result<(), usize> {
    let start = out.len();
    out.extend_from_slice(&[0; RECORD_HEADER]);
    write(out);
    let len = out.len() - start - RECORD_HEADER;
    if len > MAX_RECORD {
        out.truncate(start);
        return Err(len);
    }
    let len_bytes = (len as u32).to_le_bytes();
    let payload_crc = crc32fast::hash(&out[start + RECORD_HEADER..]);
    let header = &mut out[start..start + RECORD_HEADER];
    header[..4].copy_from_slice(&len_bytes);
    header[4..8].copy_from_slice(&crc32fast::hash(&len_bytes).to_le_bytes());
    header[8..].copy_from_slice(&payload_crc.to_le_bytes());
    Ok(())
}

/// Why a file's bytes cannot be read. Offsets are from the start of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FrameError {
    /// The file does not start with the expected magic (or is shorter than a header).
    BadMagic,
    /// Written by a newer tropa.
    NewerVersion(u32),
    /// A record does not check.
    Corrupt { offset: u64, what: String },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::BadMagic => write!(f, "not a tropa file of this kind (bad magic)"),
            FrameError::NewerVersion(v) => write!(
                f,
                "format version {v} is newer than this tropa reads ({FORMAT_VERSION})"
            ),
            FrameError::Corrupt { offset, what } => write!(f, "corrupt at byte {offset}: {what}"),
        }
    }
}

/// A file's records, read.
#[derive(Debug)]
pub(crate) struct Records<'a> {
    /// Each record's offset and payload, in file order.
    pub(crate) records: Vec<(u64, &'a [u8])>,
    /// Where the last good record ends: the length to cut the file to.
    pub(crate) valid_end: u64,
    /// A torn tail after `valid_end`: how many bytes it has.
    pub(crate) torn: Option<u64>,
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(b)
}

/// Reads a whole file of records written after a header with `magic`.
///
/// A file shorter than its header is a torn tail of zero records when `empty_ok` (a file
/// whose creation was cut short), else [`FrameError::BadMagic`].
pub(crate) fn read_records(
    bytes: &[u8],
    magic: [u8; 8],
    empty_ok: bool,
) -> Result<Records<'_>, FrameError> {
    if bytes.len() < FILE_HEADER {
        let prefix = file_header(magic);
        if empty_ok && bytes == &prefix[..bytes.len()] {
            return Ok(Records {
                records: Vec::new(),
                valid_end: 0,
                torn: Some(bytes.len() as u64),
            });
        }
        return Err(FrameError::BadMagic);
    }
    if bytes[..8] != magic {
        return Err(FrameError::BadMagic);
    }
    let version = u32_at(bytes, 8);
    if version > FORMAT_VERSION {
        return Err(FrameError::NewerVersion(version));
    }
    if version == 0 || u32_at(bytes, 12) != 0 {
        return Err(FrameError::Corrupt {
            offset: 8,
            what: "bad file header".into(),
        });
    }
    let mut records = Vec::new();
    let mut at = FILE_HEADER;
    loop {
        let rest = &bytes[at..];
        if rest.is_empty() {
            return Ok(Records {
                records,
                valid_end: at as u64,
                torn: None,
            });
        }
        let torn_here = Records {
            records: Vec::new(),
            valid_end: at as u64,
            torn: Some(rest.len() as u64),
        };
        if rest.len() < RECORD_HEADER || rest.iter().all(|&b| b == 0) {
            return Ok(Records {
                records,
                ..torn_here
            });
        }
        let len = u32_at(rest, 0);
        if crc32fast::hash(&rest[..4]) != u32_at(rest, 4) || len as usize > MAX_RECORD {
            return Err(FrameError::Corrupt {
                offset: at as u64,
                what: "bad record length".into(),
            });
        }
        let end = RECORD_HEADER + len as usize;
        if rest.len() < end {
            return Ok(Records {
                records,
                ..torn_here
            });
        }
        let payload = &rest[RECORD_HEADER..end];
        if crc32fast::hash(payload) != u32_at(rest, 8) {
            if rest.len() == end {
                return Ok(Records {
                    records,
                    ..torn_here
                });
            }
            return Err(FrameError::Corrupt {
                offset: at as u64,
                what: "record checksum mismatch".into(),
            });
        }
        records.push((at as u64, payload));
        at += end;
    }
}
