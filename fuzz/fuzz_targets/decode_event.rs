//! Any bytes as a JSON line: decoding never panics, and whatever decodes is valid and can be
//! ingested; whatever is refused leaves the engine empty. The line's own decoder (a borrowed
//! tree) and `decode_value` over a `serde_json::Value` give the same event or the same error.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let engine = tropa::Engine::builder().shards(2).build().unwrap();
    let decoded = tropa::decode_line(text);
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v) => assert_eq!(decoded, tropa::decode_value(&v)),
        Err(e) => assert_eq!(
            decoded.as_ref().err().map(|d| d.to_string()),
            Some(format!("not valid JSON: {e}"))
        ),
    }
    match decoded {
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
