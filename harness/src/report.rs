//! The results table: printed, and written as JSON and Markdown.

use serde::Serialize;
use std::fmt::Write as _;
use std::path::Path;

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub engine: String,
    pub measure: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events_per_s: Option<f64>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub note: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<(String, f64)>,
}

impl Row {
    pub fn new(engine: &str, measure: &str) -> Row {
        Row {
            engine: engine.into(),
            measure: measure.into(),
            events_per_s: None,
            note: String::new(),
            values: Vec::new(),
        }
    }

    pub fn rate(mut self, r: f64) -> Row {
        self.events_per_s = Some(r);
        self
    }

    pub fn note(mut self, n: &str) -> Row {
        self.note = n.into();
        self
    }

    pub fn value(mut self, k: &str, v: f64) -> Row {
        self.values.push((k.into(), v));
        self
    }
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub contacts: u32,
    pub days: u32,
    pub events: usize,
    pub quick: bool,
    pub machine: String,
    pub rows: Vec<Row>,
    pub ratio_vs_naive: f64,
    pub ratio_vs_dd_equal_freshness: f64,
    pub ratio_vs_dd_large_batches: f64,
    pub memberships_agree: bool,
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // The engine asks for huge pages for its contact slots (and glibc for its heap, when
    // told to), so the speed at a million contacts depends on the kernel's setting: the
    // one in brackets is in force.
    let thp = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
        .ok()
        .and_then(|s| Some(s.split('[').nth(1)?.split(']').next()?.to_string()))
        .unwrap_or_else(|| "unknown".into());
    let tunables = std::env::var("GLIBC_TUNABLES").unwrap_or_default();
    let tunables = if tunables.is_empty() {
        String::new()
    } else {
        format!(", GLIBC_TUNABLES={tunables}")
    };
    format!("{cpu}, {cores} cores available, transparent huge pages: {thp}{tunables}")
}

impl Report {
    pub fn new(contacts: u32, days: u32, events: usize, quick: bool) -> Report {
        Report {
            contacts,
            days,
            events,
            quick,
            machine: machine(),
            rows: Vec::new(),
            ratio_vs_naive: 0.0,
            ratio_vs_dd_equal_freshness: 0.0,
            ratio_vs_dd_large_batches: 0.0,
            memberships_agree: false,
        }
    }

    pub fn row(&mut self, r: Row) {
        eprintln!(
            "  {:<22} {:<58} {}",
            r.engine,
            r.measure,
            r.events_per_s.map_or(r.note.clone(), |e| format!(
                "{:>12.0} events/s {}",
                e, r.note
            ))
        );
        self.rows.push(r);
    }

    /// Records the ratios; called once every contender agreed on the memberships.
    pub fn ratios(&mut self, tropa: f64, naive: f64, dd_fresh: f64, dd_batched: f64) {
        self.ratio_vs_naive = tropa / naive;
        self.ratio_vs_dd_equal_freshness = tropa / dd_fresh;
        self.ratio_vs_dd_large_batches = tropa / dd_batched;
        self.memberships_agree = true;
    }

    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{} contacts, {} days, {} events{}; {}\n",
            self.contacts,
            self.days,
            self.events,
            if self.quick { " (--quick)" } else { "" },
            self.machine
        );
        let _ = writeln!(s, "| engine | measure | events/s | notes |");
        let _ = writeln!(s, "| --- | --- | ---: | --- |");
        for r in &self.rows {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} |",
                r.engine,
                r.measure,
                r.events_per_s.map_or(String::new(), |e| format!("{e:.0}")),
                r.note
            );
        }
        let _ = writeln!(
            s,
            "\ntropa (50 segments, 1 thread) vs naive: {:.1}x; vs differential-dataflow stepped every 100 events: {:.1}x; vs differential-dataflow in batches of 100,000: {:.1}x. Memberships at the end agree: {}.",
            self.ratio_vs_naive,
            self.ratio_vs_dd_equal_freshness,
            self.ratio_vs_dd_large_batches,
            self.memberships_agree
        );
        s
    }

    pub fn print(&self) {
        println!("{}", self.markdown());
    }

    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let json = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(dir.join("harness.json"), json)?;
        std::fs::write(dir.join("harness.md"), self.markdown())
    }
}
