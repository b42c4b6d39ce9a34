//! `tropa`: the command line (SPEC 8).
//!
//! ```text
//! tropa check RULES
//! tropa simulate --contacts N --days D --seed S [--brands B] [--out FILE]
//! tropa replay EVENTS.jsonl [--rules RULES] [--data-dir DIR] [--until TS] [--signals FILE] [--memberships FILE]
//!              [--profiles FILE] [--lateness MS]
//! tropa export --data-dir DIR TYPE:VALUE
//! ```

mod args;
mod replay;

use args::{ArgError, Args};
use std::io::{BufWriter, Write};
use std::process::ExitCode;
use tropa::sim::{SimConfig, Simulation};

const USAGE: &str = "usage:
  tropa check RULES [--plan]
      checks a rules file: prints ok and a summary (--plan: every term), or the errors (exit 1)
  tropa simulate --contacts N --days D --seed S [--brands B] [--out FILE]
      writes a simulated multi-brand, multi-channel JSON Lines stream (stdout by default)
  tropa replay EVENTS.jsonl [--rules RULES] [--data-dir DIR] [--until TS] [--signals FILE] [--memberships FILE]
               [--profiles FILE] [--lateness MS]
      ingests the events in file order ('-' reads stdin); prints a summary to stderr
      --rules RULES       evaluate the segments, tags and scores of a rules file
      --data-dir DIR      recover the state kept in DIR first, and keep this run's events
                          there (a second run on the rest of a file resumes the first)
      --until TS          advance engine time to TS (RFC 3339 or ms) at the end
      --signals FILE      write enter/exit/tagged/merged signals as JSON Lines
      --memberships FILE  write {segment: [primary ids, sorted]} for every segment
      --profiles FILE     write every profile as JSON Lines, sorted by primary id
      --lateness MS    lateness bound in milliseconds (default 3600000)
  tropa export --data-dir DIR TYPE:VALUE
      prints everything DIR holds about the contact owning the identifier as JSON
      (right of access); exit 1 when nobody owns it";

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let Some((cmd, rest)) = argv.split_first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let result = match cmd.as_str() {
        "check" => return check(Args::new(rest)),
        "simulate" => simulate(Args::new(rest)),
        "replay" => replay::run(Args::new(rest)),
        "export" => return export(Args::new(rest)),
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        other => Err(ArgError(format!("unknown command {other:?}"))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tropa: {}\n\n{USAGE}", e.0);
            ExitCode::from(2)
        }
    }
}

fn export(mut a: Args) -> ExitCode {
    let mut run = || -> Result<Option<String>, ArgError> {
        let dir = a
            .value("--data-dir")?
            .ok_or_else(|| ArgError("export needs --data-dir DIR".into()))?;
        let who = a.positional("TYPE:VALUE")?;
        std::mem::take(&mut a).finish()?;
        let id = tropa::Identifier::parse_pair(&who)
            .ok_or_else(|| ArgError(format!("{who:?} is not an identifier (TYPE:VALUE)")))?;
        let (engine, _) = tropa::Engine::builder()
            .durability(tropa::Durability::None)
            .open(&dir)
            .map_err(|e| ArgError(format!("--data-dir {dir}: {e}")))?;
        engine.flush();
        Ok(engine
            .export(&id)
            .map(|x| serde_json::to_string_pretty(&x).expect("an export serialises")))
    };
    match run() {
        Ok(Some(json)) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Ok(None) => {
            eprintln!("tropa: no contact owns that identifier");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("tropa: {}\n\n{USAGE}", e.0);
            ExitCode::from(2)
        }
    }
}

fn check(mut a: Args) -> ExitCode {
    let mut run = || -> Result<(String, bool), ArgError> {
        let show_plan = a.flag("--plan");
        let path = a.positional("RULES")?;
        std::mem::take(&mut a).finish()?;
        let src = std::fs::read_to_string(&path)
            .map_err(|e| ArgError(format!("cannot read {path}: {e}")))?;
        Ok(match tropa::rules::compile(&src) {
            Ok(plan) if show_plan => (format!("ok: {plan}"), true),
            Ok(plan) => (format!("ok: {}", plan.summary()), true),
            Err(errors) => {
                let n = errors.0.len();
                let text: Vec<String> = errors.0.iter().map(|e| format!("{path}:{e}")).collect();
                (
                    format!(
                        "{}\n{n} error{}",
                        text.join("\n"),
                        if n == 1 { "" } else { "s" }
                    ),
                    false,
                )
            }
        })
    };
    match run() {
        Ok((text, true)) => {
            println!("{}", text.trim_end());
            ExitCode::SUCCESS
        }
        Ok((text, false)) => {
            eprintln!("{text}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("tropa: {}\n\n{USAGE}", e.0);
            ExitCode::from(2)
        }
    }
}

fn simulate(mut a: Args) -> Result<(), ArgError> {
    let cfg = SimConfig {
        contacts: a.required_num("--contacts")?,
        days: a.required_num("--days")?,
        seed: a.required_num("--seed")?,
        brands: a.num("--brands")?.unwrap_or(3),
    };
    if cfg.brands == 0 || cfg.brands > 26 {
        return Err(ArgError("--brands must be between 1 and 26".into()));
    }
    let out = a.value("--out")?;
    a.finish()?;
    let sink: Box<dyn Write> = match &out {
        Some(path) => Box::new(
            std::fs::File::create(path)
                .map_err(|e| ArgError(format!("cannot create {path}: {e}")))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut w = BufWriter::with_capacity(1 << 20, sink);
    let write_err = |e: std::io::Error| ArgError(format!("cannot write the stream: {e}"));
    for line in Simulation::new(cfg) {
        w.write_all(line.as_bytes()).map_err(write_err)?;
        w.write_all(b"\n").map_err(write_err)?;
    }
    w.flush().map_err(write_err)
}
