//! Any bytes as a snapshot: loading them gives an engine or an error, never a panic or an
//! allocation beyond what the bytes can back; a loaded engine answers queries.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    if let Some(file) = common::file(data, true) {
        let _ = tropa::fuzzing::read_snapshot(&file);
    }
});
