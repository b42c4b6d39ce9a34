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
    let sim = |seed: &str| {
        tropa(&[
            "simulate",
            "--contacts",
            "300",
            "--days",
            "4",
            "--seed",
            seed,
        ])
    };
    let (a, b, c) = (sim("9"), sim("9"), sim("10"));
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

#[test]
fn replay_with_rules_writes_signals_and_memberships() {
    let events = tmp("events-rules.jsonl");
    let signals = tmp("signals.jsonl");
    let memberships = tmp("memberships.json");
    let profiles = tmp("profiles-rules.jsonl");
    assert!(tropa(&[
        "simulate",
        "--contacts",
        "400",
        "--days",
        "6",
        "--seed",
        "3",
        "--out",
        events.to_str().unwrap()
    ])
    .status
    .success());
    let rules = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/rules/shop.tropa");
    let out = tropa(&[
        "replay",
        events.to_str().unwrap(),
        "--rules",
        rules,
        "--until",
        "2026-04-01T00:00:00Z",
        "--signals",
        signals.to_str().unwrap(),
        "--memberships",
        memberships.to_str().unwrap(),
        "--profiles",
        profiles.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("segment going_quiet:"), "{stderr}");
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&memberships).unwrap()).unwrap();
    let m = m.as_object().unwrap();
    assert_eq!(m.len(), 10, "every segment is present, even when empty");
    for ids in m.values() {
        let ids: Vec<&str> = ids
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
    }
    let lines = std::fs::read_to_string(&signals).unwrap();
    let mut kinds = std::collections::BTreeSet::new();
    for l in lines.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        kinds.insert(v["signal"].as_str().unwrap().to_owned());
        assert!(v["at"].is_i64());
        if v["signal"] == "exit" {
            assert!(v["reason"].is_string());
        }
    }
    for k in ["enter", "exit", "tagged", "merged"] {
        assert!(kinds.contains(k), "no {k} signal in {kinds:?}");
    }
    // Memberships agree with the profiles' segments.
    let quiet = m["going_quiet"].as_array().unwrap().len();
    let in_profiles = std::fs::read_to_string(&profiles)
        .unwrap()
        .lines()
        .filter(|l| l.contains("\"going_quiet\""))
        .count();
    assert_eq!(quiet, in_profiles);

    let bad = tmp("bad-rules.tropa");
    std::fs::write(&bad, "segment x = count(nope) > 1\n").unwrap();
    let out = tropa(&[
        "replay",
        events.to_str().unwrap(),
        "--rules",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown event kind \"nope\""));
}

#[test]
fn replay_in_two_halves_with_a_data_dir_equals_one_run() {
    let events = tmp("events-halves.jsonl");
    assert!(tropa(&[
        "simulate",
        "--contacts",
        "300",
        "--days",
        "6",
        "--seed",
        "11",
        "--out",
        events.to_str().unwrap()
    ])
    .status
    .success());
    let text = std::fs::read_to_string(&events).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let (a, b) = lines.split_at(lines.len() / 2);
    let (first, second) = (tmp("first-half.jsonl"), tmp("second-half.jsonl"));
    std::fs::write(&first, a.join("\n") + "\n").unwrap();
    std::fs::write(&second, b.join("\n") + "\n").unwrap();
    let rules = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/rules/shop.tropa");
    let dir = tmp("data-dir");
    let _ = std::fs::remove_dir_all(&dir);
    let run = |input: &PathBuf, name: &str, extra: &[&str]| -> (String, String, Vec<String>) {
        let (m, p, s) = (
            tmp(&format!("{name}-m.json")),
            tmp(&format!("{name}-p.jsonl")),
            tmp(&format!("{name}-s.jsonl")),
        );
        let mut args = vec![
            "replay",
            input.to_str().unwrap(),
            "--until",
            "2026-04-01T00:00:00Z",
            "--memberships",
            m.to_str().unwrap(),
            "--profiles",
            p.to_str().unwrap(),
            "--signals",
            s.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let out = tropa(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut signals: Vec<String> = std::fs::read_to_string(&s)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        signals.sort();
        (
            std::fs::read_to_string(&m).unwrap(),
            std::fs::read_to_string(&p).unwrap(),
            signals,
        )
    };
    let whole = run(&events, "whole", &["--rules", rules]);
    // The first half without --until (time only moves with its events), then the rest.
    let out = tropa(&[
        "replay",
        first.to_str().unwrap(),
        "--rules",
        rules,
        "--data-dir",
        dir.to_str().unwrap(),
        "--signals",
        tmp("half-1-s.jsonl").to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("snapshot: "), "{stderr}");
    let halves = run(&second, "half-2", &["--data-dir", dir.to_str().unwrap()]);
    assert_eq!(halves.0, whole.0, "memberships");
    assert_eq!(halves.1, whole.1, "profiles");
    let mut signals: Vec<String> = std::fs::read_to_string(tmp("half-1-s.jsonl"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .chain(halves.2)
        .collect();
    signals.sort();
    assert_eq!(
        signals, whole.2,
        "signals of both runs are the signals of one"
    );

    // Right of access: everything the directory holds about one contact.
    let first_profile: serde_json::Value =
        serde_json::from_str(halves.1.lines().next().unwrap()).unwrap();
    let who = first_profile["id"].as_str().unwrap();
    let out = tropa(&["export", "--data-dir", dir.to_str().unwrap(), who]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let export: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(export["profile"]["id"], who);
    assert!(export["events"].as_array().is_some_and(|e| !e.is_empty()));
    let out = tropa(&[
        "export",
        "--data-dir",
        dir.to_str().unwrap(),
        "email:nobody@x.pl",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let out = tropa(&["export", "--data-dir", dir.to_str().unwrap(), "no-colon"]);
    assert_eq!(out.status.code(), Some(2));

    // A directory that cannot be used is an unusable argument.
    let file = tmp("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let out = tropa(&[
        "replay",
        second.to_str().unwrap(),
        "--data-dir",
        file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--data-dir"));
}
