//! `pgpilot advise`: workload-level index recommendations with what-if planning,
//! the plan file for verify / apply, a migration, and the judging of a draft.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Args;
use pgpilot_advisor::{AdvicePlan, Evaluation, WorkloadQueries};
use pgpilot_db::ConnSpec;
use serde::Serialize;

use crate::advice_run::{run_advice, AdviceRequest, WhatIfBackend};
use crate::cmd_top::{load_workload, LogFormatArg, WorkloadSources};
use crate::interrupt::Interrupt;
use crate::output::{print, print_json, Format};
use crate::Outcome;

/// Arguments of `pgpilot advise`.
#[derive(Debug, Args)]
pub struct AdviseArgs {
    /// Database: a postgres:// URL or a key=value string (default: DATABASE_URL, then PG* variables).
    #[arg(long)]
    pub db: Option<String>,
    /// Saved workload files (pgpilot top --save).
    #[arg(long = "workload", num_args = 1..)]
    pub workloads: Vec<PathBuf>,
    /// Server log files or directories.
    #[arg(long, num_args = 1..)]
    pub logs: Vec<PathBuf>,
    /// Read the workload from pg_stat_statements (parameters are then drawn from pg_stats).
    #[arg(long)]
    pub pg_stat_statements: bool,
    /// log_line_prefix of stderr logs (default: read from --db).
    #[arg(long)]
    pub prefix: Option<String>,
    /// Format of the logs.
    #[arg(long, value_enum, default_value = "auto")]
    pub log_format: LogFormatArg,
    /// Storage budget for the new indexes, e.g. 500MB or 2GB.
    #[arg(long, value_parser = parse_bytes)]
    pub budget: Option<u64>,
    /// Most key columns per index.
    #[arg(long, default_value_t = 3)]
    pub max_columns: usize,
    /// Least cost cut for an index to be recommended, on the queries it serves (e.g. 10%).
    #[arg(long, value_parser = parse_fraction, default_value = "10%")]
    pub min_gain: f64,
    /// At most this many statements (heaviest first).
    #[arg(long, default_value_t = 500)]
    pub max_queries: usize,
    /// What-if backend; `real-tx` builds real indexes in a rolled-back transaction and
    /// blocks writes to those tables while it runs (for servers without HypoPG).
    #[arg(long, value_enum, default_value_t)]
    pub whatif: WhatIfBackend,
    /// Create the hypopg extension if it is installed on the server but not in this database.
    #[arg(long)]
    pub create_extension: bool,
    /// Judge a draft DDL file statement by statement instead of printing recommendations.
    #[arg(long)]
    pub evaluate: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Write the plan (input of verify / apply) to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write up.sql and down.sql migrations into this directory.
    #[arg(long)]
    pub migration: Option<PathBuf>,
}

/// `pgpilot advise --evaluate … --format json`.
#[derive(Debug, Serialize)]
struct EvaluateJson<'a> {
    evaluated: &'a [Evaluation],
}

/// `pgpilot advise`.
pub async fn run(args: AdviseArgs, interrupt: &Interrupt) -> anyhow::Result<Outcome> {
    if args.workloads.is_empty() && args.logs.is_empty() && !args.pg_stat_statements {
        bail!("no workload: give --workload FILE, --logs PATH… or --pg-stat-statements");
    }
    if args.max_columns == 0 {
        bail!("--max-columns must be at least 1");
    }
    let draft = match &args.evaluate {
        Some(path) => Some(read_draft(path)?),
        None => None,
    };
    let spec = ConnSpec::resolve(args.db.as_deref())?;
    let sources = WorkloadSources {
        logs: &args.logs,
        workloads: &args.workloads,
        db: args.db.as_deref(),
        pgss: args.pg_stat_statements,
        interval: None,
        prefix: args.prefix.as_deref(),
        log_format: args.log_format,
        threads: 0,
    };
    let Some(workload) = load_workload(&sources, interrupt).await? else {
        bail!("no workload was read");
    };
    let queries = WorkloadQueries::from_workload(&workload, args.max_queries);
    if queries.queries.is_empty() {
        bail!(
            "the workload has no statement to advise on ({} utility, {} unparsable)",
            queries.utility,
            queries.skipped.len()
        );
    }
    let request = AdviceRequest {
        queries,
        budget_bytes: args.budget,
        max_columns: args.max_columns,
        min_gain: args.min_gain,
        backend: args.whatif,
        create_extension: args.create_extension,
        draft,
    };
    let outcome = tokio::select! {
        o = run_advice(&spec, request, now_rfc3339()) => o?,
        _ = interrupt.wait() => return Ok(Outcome::Interrupted),
    };
    for note in &outcome.notes {
        eprintln!("note: {note}");
    }
    if let Some(path) = &args.out {
        write_plan(path, &outcome.plan)?;
        eprintln!("wrote the plan to {}", path.display());
    }
    if let Some(dir) = &args.migration {
        // A partitioned table has no concurrent build: its steps come from the
        // database's partition tree.
        let mut partitioned = std::collections::HashMap::new();
        if !outcome.plan.recommendations.is_empty() {
            let client = spec.connect().await?;
            for r in &outcome.plan.recommendations {
                if let Some(script) =
                    pgpilot_db::partitioned_index_script(&client, &r.index, &r.name).await?
                {
                    partitioned.insert(r.name.clone(), script);
                }
            }
        }
        write_migration(dir, &outcome.plan, &partitioned)?;
        eprintln!("wrote up.sql and down.sql to {}", dir.display());
    }
    let style = args.format.style();
    if let Some(evals) = &outcome.evaluations {
        match args.format {
            Format::Json => print_json(&EvaluateJson { evaluated: evals })?,
            _ => print(&pgpilot_report::evaluation_report(evals, style))?,
        }
        return Ok(Outcome::Ok);
    }
    match args.format {
        Format::Json => print_json(&outcome.plan)?,
        _ => print(&pgpilot_report::advice_report(&outcome.plan, style, false))?,
    }
    Ok(Outcome::Ok)
}

/// Reads a draft file, refusing binary junk with a clear message.
fn read_draft(path: &Path) -> anyhow::Result<String> {
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read the draft {}", path.display()))?;
    match String::from_utf8(bytes) {
        Ok(s) => Ok(s),
        Err(e) => bail!(
            "{} is not UTF-8 text (invalid byte at offset {}): give a SQL file",
            path.display(),
            e.utf8_error().valid_up_to()
        ),
    }
}

/// Writes the plan as pretty JSON.
pub fn write_plan(path: &Path, plan: &AdvicePlan) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(plan)?;
    std::fs::write(path, text + "\n").with_context(|| format!("cannot write {}", path.display()))
}

/// Writes `up.sql` (create, then drop) and `down.sql` (the reverse);
/// `partitioned` holds, by index name, the steps (and the undo) of the
/// recommendations on partitioned tables.
pub fn write_migration(
    dir: &Path,
    plan: &AdvicePlan,
    partitioned: &std::collections::HashMap<String, (Vec<String>, String)>,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut up = format!(
        "-- pgpilot plan {} ({}), database {}\n\
         -- CREATE/DROP INDEX CONCURRENTLY cannot run inside a transaction block:\n\
         -- run this file with psql without --single-transaction.\n\
         SET lock_timeout = '5s';\n\n",
        plan.id, plan.created_at, plan.database.name
    );
    let mut down = up.clone();
    for r in &plan.recommendations {
        match partitioned.get(&r.name) {
            Some((steps, _)) => {
                up.push_str(&format!(
                    "-- {}\n-- {} is partitioned: built ON ONLY the parent, then concurrently \
                     on each partition and attached.\n",
                    r.reason, r.table
                ));
                for s in steps {
                    up.push_str(&format!("{s};\n"));
                }
                up.push('\n');
            }
            None => up.push_str(&format!("-- {}\n{};\n\n", r.reason, r.ddl)),
        }
    }
    for d in &plan.drops {
        up.push_str(&format!("-- {} ({})\n{};\n\n", d.reason, d.detail, d.ddl));
    }
    for d in plan.drops.iter().rev() {
        down.push_str(&format!("{};\n", d.recreate_ddl));
    }
    for r in plan.recommendations.iter().rev() {
        match partitioned.get(&r.name) {
            Some((_, undo)) => down.push_str(&format!("{undo};\n")),
            None => down.push_str(&format!("{};\n", r.rollback_ddl)),
        }
    }
    std::fs::write(dir.join("up.sql"), up)
        .with_context(|| format!("cannot write {}", dir.join("up.sql").display()))?;
    std::fs::write(dir.join("down.sql"), down)
        .with_context(|| format!("cannot write {}", dir.join("down.sql").display()))?;
    Ok(())
}

/// The current time as RFC 3339 UTC (seconds).
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// `500MB`, `2GB`, `1.5GiB`, `1024` (bytes).
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size: use e.g. 500MB or 2GB"))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" | "tib" => 1024.0_f64.powi(4),
        other => return Err(format!("unknown size unit {other:?}: use kB, MB, GB or TB")),
    };
    Ok((n * mult) as u64)
}

/// `10%` or `0.1`.
pub fn parse_fraction(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let v = if let Some(p) = t.strip_suffix('%') {
        p.trim().parse::<f64>().map(|v| v / 100.0)
    } else {
        t.parse::<f64>()
    }
    .map_err(|_| format!("{s:?} is not a fraction: use e.g. 10% or 0.1"))?;
    if !(0.0..1.0).contains(&v) {
        return Err(format!("{s:?} must be between 0% and 100%"));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_fractions_parse() {
        assert_eq!(parse_bytes("2GB"), Ok(2 << 30));
        assert_eq!(parse_bytes("500 MB"), Ok(500 << 20));
        assert_eq!(parse_bytes("1024"), Ok(1024));
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("5 parsecs").is_err());
        assert_eq!(parse_fraction("10%"), Ok(0.1));
        assert_eq!(parse_fraction("0.25"), Ok(0.25));
        assert!(parse_fraction("150%").is_err());
    }
}
