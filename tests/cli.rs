//! The `tropa` command line: simulate, replay, and how it treats bad arguments.

use std::path::PathBuf;
use std::process::{Command, Output};

fn tropa(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tropa"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tropa-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn simulate_is_deterministic() {
    let a = tropa(&[
        "simulate",
        "--contacts",
        "300",
        "--days",
        "4",
        "--seed",
        "9",
    ]);
    let b = tropa(&[
        "simulate",
        "--contacts",
        "300",
        "--days",
        "4",
        "--seed",
        "9",
    ]);
    let c = tropa(&[
        "simulate",
        "--contacts",
        "300",
        "--days",
        "4",
        "--seed",
        "10",
    ]);
    assert!(a.status.success());
    assert!(!a.stdout.is_empty());
    assert_eq!(a.stdout, b.stdout, "same seed, same bytes");
    assert_ne!(a.stdout, c.stdout);
}

#[test]
fn replay_writes_profiles_and_a_summary() {
    let events = tmp("events.jsonl");
    let profiles = tmp("profiles.jsonl");
    let sim = tropa(&[
        "simulate",
        "--contacts",
        "500",
        "--days",
        "5",
        "--seed",
        "1",
        "--brands",
        "2",
        "--out",
        events.to_str().unwrap(),
    ]);
    assert!(sim.status.success());
    // Append a bad line and a late line: counted and reported, not fatal.
    let mut text = std::fs::read_to_string(&events).unwrap();
    text.push_str("{\"ts\":\"nope\"}\n");
    text.push_str("{\"ts\":0,\"ids\":{\"cookie\":\"x\"},\"type\":\"page_view\"}\n");
    std::fs::write(&events, text).unwrap();
    let out = tropa(&[
        "replay",
        events.to_str().unwrap(),
        "--until",
        "2026-07-01T00:00:00Z",
        "--profiles",
        profiles.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    for want in [
        "events read:",
        "accepted:",
        "duplicates:",
        "rejected: 2",
        "bad_time: 1",
        "late: 1",
        "contacts:",
        "merges:",
        "elapsed:",
        "events/s:",
    ] {
        assert!(stderr.contains(want), "summary lacks {want:?}:\n{stderr}");
    }
    let lines = std::fs::read_to_string(&profiles).unwrap();
    let ids: Vec<String> = lines
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert!(v["stage"].is_string() && v["ids"].is_object() && v["brands"].is_object());
            v["id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert!(!ids.is_empty());
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "profiles are sorted by primary id");
    // --until moved engine time past the dormancy window for the early buyers.
    assert!(lines.contains("\"stage\":\"dormant\""));
}

#[test]
fn unusable_arguments_exit_non_zero() {
    for args in [
        vec!["replay"],
        vec!["replay", "/no/such/file.jsonl"],
        vec!["replay", "x.jsonl", "--until", "someday"],
        vec!["replay", "x.jsonl", "--bogus"],
        vec![
            "simulate",
            "--contacts",
            "ten",
            "--days",
            "1",
            "--seed",
            "1",
        ],
        vec!["simulate", "--days", "1", "--seed", "1"],
        vec!["dance"],
        vec![],
    ] {
        let out = tropa(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("usage:"),
            "{args:?}"
        );
    }
}

#[test]
fn check_reports_ok_or_every_error() {
    let good = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/rules/spec_example.tropa"
    );
    let out = tropa(&["check", good]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "ok: 5 segments, 1 tags, 3 scores, 11 terms\n"
    );
    let out = tropa(&["check", "--plan", good]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("term 0: count(product_view"));

    let bad = tmp("bad.tropa");
    std::fs::write(
        &bad,
        "segment a = count(purchse) > 1\nsegment b = since(purchase) > 5\n",
    )
    .unwrap();
    let out = tropa(&["check", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let path = bad.to_str().unwrap();
    assert!(
        stderr.starts_with(&format!("{path}:1:19: unknown event kind \"purchse\"\n")),
        "{stderr}"
    );
    assert!(stderr.contains(&format!("{path}:2:31: since(…) can only be compared")));
    assert!(stderr.ends_with("2 errors\n"), "{stderr}");

    let out = tropa(&["check", "/no/such.tropa"]);
    assert_eq!(out.status.code(), Some(2));
}
