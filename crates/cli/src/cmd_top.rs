//! `pgpilot top`: the top N problem queries of a workload captured from server
//! logs, from `pg_stat_statements`, or from saved workload files.

use std::io::BufWriter;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use pgpilot_db::ConnSpec;
use pgpilot_logs::{Format as LogFormat, Progress};
use pgpilot_report::Style;
use pgpilot_sql::Normalizer;
use pgpilot_workload::{pgss, workload_from_logs, BuildOptions, TopBy, TopReport, Workload};

use crate::interrupt::Interrupt;
use crate::output::{print, print_json, Format};
use crate::{progress, Outcome};

/// What to rank queries by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum By {
    /// Total time spent (calls × mean).
    Total,
    /// Mean time per call.
    Mean,
    /// 95th percentile latency.
    P95,
    /// Number of calls.
    Calls,
}

/// Format of log inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormatArg {
    /// Detect from the content.
    Auto,
    /// stderr logs with a log_line_prefix.
    Stderr,
    /// csvlog.
    Csv,
    /// jsonlog (PostgreSQL 15+).
    Json,
}

/// Arguments of `pgpilot top`.
#[derive(Debug, Args)]
pub struct TopArgs {
    /// Server log files or directories (plain, .gz or .zst; `-` for stdin).
    #[arg(long, num_args = 1..)]
    pub logs: Vec<PathBuf>,
    /// Saved workload files (from --save) to merge.
    #[arg(long = "workload", num_args = 1..)]
    pub workloads: Vec<PathBuf>,
    /// Database: alone, reads pg_stat_statements; with --logs, reads the server's log_line_prefix.
    #[arg(long)]
    pub db: Option<String>,
    /// Read pg_stat_statements (from --db, else DATABASE_URL / PG* variables), as in `advise`.
    #[arg(long, conflicts_with = "logs")]
    pub pg_stat_statements: bool,
    /// With --db alone: measure pg_stat_statements over this interval (e.g. 60s) instead of since its last reset.
    #[arg(long, value_parser = crate::output::parse_duration)]
    pub interval: Option<Duration>,
    /// log_line_prefix of stderr logs (default: from --db, else detected).
    #[arg(long)]
    pub prefix: Option<String>,
    /// Format of the logs.
    #[arg(long, value_enum, default_value = "auto")]
    pub log_format: LogFormatArg,
    /// Rank by.
    #[arg(long, value_enum, default_value = "total")]
    pub by: By,
    /// How many queries to show.
    #[arg(long, default_value_t = 10)]
    pub limit: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Save the whole workload (all queries, histograms, samples) to this file.
    #[arg(long)]
    pub save: Option<PathBuf>,
    /// Show real parameter values (literals) in the report; they are left out by default.
    #[arg(long)]
    pub show_params: bool,
    /// Parser threads (default: all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

/// `pgpilot top`.
pub async fn run(args: TopArgs, interrupt: &Interrupt) -> anyhow::Result<Outcome> {
    if args.logs.is_empty()
        && args.workloads.is_empty()
        && args.db.is_none()
        && !args.pg_stat_statements
    {
        bail!("nothing to read: give --logs PATH…, --workload FILE…, or --db URL for pg_stat_statements");
    }
    let sources = WorkloadSources {
        logs: &args.logs,
        workloads: &args.workloads,
        db: args.db.as_deref(),
        pgss: args.pg_stat_statements
            || (args.logs.is_empty() && args.workloads.is_empty() && args.db.is_some()),
        interval: args.interval,
        prefix: args.prefix.as_deref(),
        log_format: args.log_format,
        threads: args.threads,
    };
    let Some(workload) = load_workload(&sources, interrupt).await? else {
        bail!("no workload was read");
    };
    if let Some(path) = &args.save {
        let file = std::fs::File::create(path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        workload
            .to_writer(BufWriter::new(file))
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!(
            "saved the workload ({} statements) to {}",
            workload.queries.len(),
            path.display()
        );
    }
    let by = match args.by {
        By::Total => TopBy::Total,
        By::Mean => TopBy::Mean,
        By::P95 => TopBy::P95,
        By::Calls => TopBy::Calls,
    };
    let report = TopReport::new(&workload, by, args.limit, args.show_params);
    match args.format {
        Format::Json => print_json(&report)?,
        Format::Table => print(&pgpilot_report::top_report(&report, Style::Terminal))?,
        Format::Markdown => print(&pgpilot_report::top_report(&report, Style::Markdown))?,
    }
    Ok(Outcome::Ok)
}

/// Where a workload comes from (shared by `top` and `advise`).
#[derive(Debug, Clone, Copy)]
pub struct WorkloadSources<'a> {
    /// Server log files or directories.
    pub logs: &'a [PathBuf],
    /// Saved workload files.
    pub workloads: &'a [PathBuf],
    /// Database (for the log_line_prefix, and pg_stat_statements).
    pub db: Option<&'a str>,
    /// Read pg_stat_statements from `db`.
    pub pgss: bool,
    /// With `pgss`: measure over this interval.
    pub interval: Option<Duration>,
    /// log_line_prefix of stderr logs.
    pub prefix: Option<&'a str>,
    /// Format of the logs.
    pub log_format: LogFormatArg,
    /// Parser threads.
    pub threads: usize,
}

/// Reads and merges every source; `None` when no source was given.
pub async fn load_workload(
    src: &WorkloadSources<'_>,
    interrupt: &Interrupt,
) -> anyhow::Result<Option<Workload>> {
    let mut workload: Option<Workload> = None;
    let mut merge = |w: Workload| match workload.as_mut() {
        Some(all) => all.merge(&w),
        None => workload = Some(w),
    };
    for path in src.workloads {
        let file = std::fs::File::open(path)
            .with_context(|| format!("cannot read workload file {}", path.display()))?;
        let w = Workload::from_reader(std::io::BufReader::new(file))
            .with_context(|| format!("{}", path.display()))?;
        merge(w);
    }
    if !src.logs.is_empty() {
        let prefix = match (src.prefix, src.db) {
            (Some(p), _) => Some(p.to_string()),
            (None, Some(db)) => {
                let client = ConnSpec::resolve(Some(db))?.connect().await?;
                let s = pgpilot_db::log_settings(&client).await?;
                Some(s.log_line_prefix)
            }
            (None, None) => None,
        };
        merge(read_logs(src, prefix).await?);
    }
    if src.pgss {
        merge(read_pgss(src.db, src.interval, interrupt).await?);
    }
    Ok(workload)
}

/// Parses the logs on blocking threads, with a progress bar on a terminal.
async fn read_logs(args: &WorkloadSources<'_>, prefix: Option<String>) -> anyhow::Result<Workload> {
    for p in args.logs {
        if p.as_os_str() != "-" && !p.exists() {
            bail!("cannot read {}: no such file or directory", p.display());
        }
    }
    let live = Arc::new(Progress::default());
    let opts = pgpilot_logs::Options {
        format: match args.log_format {
            LogFormatArg::Auto => LogFormat::Auto,
            LogFormatArg::Stderr => LogFormat::Stderr,
            LogFormatArg::Csv => LogFormat::Csv,
            LogFormatArg::Json => LogFormat::Json,
        },
        prefix,
        threads: args.threads,
        progress: Some(live.clone()),
        ..pgpilot_logs::Options::default()
    };
    let total: u64 = pgpilot_logs::expand_sources(args.logs)
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok().map(|m| m.len()))
        .sum();
    let bar = (progress::interactive() && total > 16 << 20).then(|| {
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:30} {bytes}/{total_bytes} · {binary_bytes_per_sec} · {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let paths = args.logs.to_vec();
    let job = tokio::task::spawn_blocking(move || {
        workload_from_logs(&paths, &opts, &BuildOptions::default())
    });
    let started = Instant::now();
    tokio::pin!(job);
    let (workload, summary) = loop {
        tokio::select! {
            r = &mut job => break r?,
            _ = tokio::time::sleep(Duration::from_millis(200)) => {
                if let Some(bar) = &bar {
                    bar.set_position(live.bytes.load(Ordering::Relaxed));
                    let lines = live.lines.load(Ordering::Relaxed) as f64;
                    bar.set_message(format!("{:.0} lines/s", lines / started.elapsed().as_secs_f64().max(0.001)));
                }
            }
        }
    };
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if summary.inputs.is_empty() {
        match summary.errors.first() {
            Some(e) => bail!("{e}"),
            None => bail!("no log files found in {}", display_paths(args.logs)),
        }
    }
    for e in &summary.errors {
        eprintln!("warning: {e}");
    }
    for input in summary.inputs.iter().filter(|i| i.truncated) {
        let how = if input.compression == "none" {
            "it shrank while being read, e.g. rotated by copytruncate".to_string()
        } else {
            format!("truncated {}", input.compression)
        };
        eprintln!(
            "warning: {} ends early ({how}); what was readable was used",
            input.name
        );
    }
    let t = &summary.totals;
    if t.lines_read == 0 && summary.errors.is_empty() {
        eprintln!(
            "warning: {} held no log lines at all: is it the right file, or has the log rotated?",
            display_paths(args.logs)
        );
    }
    if t.lines_read > 0 && workload.total_calls() == 0 && workload.errors.is_empty() {
        let prefix = summary
            .inputs
            .iter()
            .find_map(|i| i.prefix.clone())
            .unwrap_or_default();
        eprintln!(
            "warning: no statements found in {} lines ({} skipped); statements are logged with log_min_duration_statement or log_statement, and stderr lines must match the prefix {prefix:?} (use --prefix)",
            t.lines_read,
            workload.source.lines_skipped_total()
        );
    }
    Ok(workload)
}

fn display_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A pg_stat_statements snapshot (since its last reset), or the delta over `--interval`.
async fn read_pgss(
    db: Option<&str>,
    interval: Option<Duration>,
    interrupt: &Interrupt,
) -> anyhow::Result<Workload> {
    let spec = ConnSpec::resolve(db)?;
    let client = spec.connect().await?;
    let before = pgpilot_db::pgss_snapshot(&client).await?;
    let mut normalizer = Normalizer::default();
    let source = format!("pg_stat_statements@{}", spec.target());
    let Some(interval) = interval else {
        return Ok(pgss::workload_from_pgss(
            &before.entries,
            &source,
            &mut normalizer,
        ));
    };
    eprintln!(
        "measuring pg_stat_statements for {} …",
        humantime::format_duration(interval)
    );
    tokio::select! {
        _ = tokio::time::sleep(interval) => {}
        _ = interrupt.wait() => { eprintln!("interrupted: using the interval so far"); }
    }
    let after = pgpilot_db::pgss_snapshot(&client).await?;
    let delta = pgss::delta(&before, &after);
    if delta.full_reset {
        eprintln!(
            "warning: pg_stat_statements was reset during the interval; counts are since the reset"
        );
    }
    if !delta.deallocated.is_empty() {
        eprintln!(
            "warning: {} statements were evicted from pg_stat_statements during the interval (raise pg_stat_statements.max); their activity is unknown",
            delta.deallocated.len()
        );
    }
    Ok(pgss::workload_from_delta(&delta, &source, &mut normalizer))
}
