//! Any bytes as a log segment: reading and replaying them gives records or an error, never a
//! panic or an allocation beyond what the bytes can back.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    if let Some(file) = common::file(data, false) {
        let _ = tropa::fuzzing::read_segment(&file);
    }
});
