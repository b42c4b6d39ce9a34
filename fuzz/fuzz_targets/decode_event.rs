//! Any bytes as a JSON line: decoding never panics, and whatever decodes is valid and can be
//! ingested; whatever is refused leaves the engine empty.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let engine = tropa::Engine::builder().shards(2).build().unwrap();
    match tropa::decode_line(text) {
        Ok(event) => {
            assert!(event.validate().is_ok());
            let _ = engine.ingest(event);
            engine.flush();
            for p in engine.profiles() {
                serde_json::to_string(&p).unwrap();
            }
        }
        Err(e) => {
            assert!(!e.to_string().is_empty());
            assert_eq!(engine.contact_count(), 0);
        }
    }
    // The same bytes as a JSON Lines stream.
    let report = engine.ingest_jsonl(data).unwrap();
    assert_eq!(report.read, report.accepted + report.duplicates + report.rejected_total());
});
