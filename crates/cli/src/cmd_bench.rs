//! `pgpilot bench`: drive a workload file against a database.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use pgpilot_bench::{run, BenchError, Progress, RunOptions, Script};
use pgpilot_bench_model::{BenchReport, SloTargets};
use pgpilot_db::ConnSpec;
use pgpilot_report::Style;

use crate::interrupt::Interrupt;
use crate::output::{print, print_json, Format};
use crate::{progress, Outcome};

/// Arguments of `pgpilot bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Database: a postgres:// URL or a key=value string (default: DATABASE_URL, then PG* variables).
    #[arg(long)]
    pub db: Option<String>,
    /// Workload file (TOML) to run.
    #[arg(long)]
    pub workload: PathBuf,
    /// Concurrent client connections.
    #[arg(long, default_value_t = 8)]
    pub clients: u32,
    /// How long to measure (after warm-up), e.g. 30s, 2m.
    #[arg(long, value_parser = crate::output::parse_duration, conflicts_with = "transactions")]
    pub duration: Option<Duration>,
    /// Stop after this many top-level queries or sequences (over all clients).
    #[arg(long)]
    pub transactions: Option<u64>,
    /// Time to run before measuring, e.g. 5s (0s to measure from the start).
    #[arg(long, value_parser = crate::output::parse_duration, default_value = "5s")]
    pub warmup: Duration,
    /// SLO targets (TOML); with it, missing a target exits with code 3.
    #[arg(long)]
    pub slo: Option<PathBuf>,
    /// Override a workload variable, e.g. --var users=5000 (repeatable).
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
    pub vars: Vec<(String, String)>,
    /// Seed of the parameter generators.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

fn parse_var(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("expected NAME=VALUE, got {s:?}")),
    }
}

/// Everything one benchmark needs besides the connection.
pub struct BenchPlan {
    /// The parsed workload.
    pub script: Script,
    /// Runner options.
    pub options: RunOptions,
}

/// Runs a benchmark with a progress bar on a terminal; returns the report, which is
/// partial (`interrupted`) after Ctrl-C or a lost connection.
pub async fn run_with_progress(
    spec: &ConnSpec,
    plan: &BenchPlan,
    interrupt: &Interrupt,
    label: &str,
) -> anyhow::Result<BenchReport> {
    let bar = progress::interactive().then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {prefix} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar.set_prefix(label.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    });
    let total = plan.options.duration;
    let on_progress = |p: &Progress| {
        if let Some(bar) = &bar {
            if p.warming_up {
                bar.set_message("warming up…".to_string());
            } else {
                let of = total
                    .map(|t| format!(" / {:.0} s", t.as_secs_f64()))
                    .unwrap_or_default();
                bar.set_message(format!(
                    "{:.0} s{of} · {} statements · {:.0}/s{}",
                    p.elapsed.as_secs_f64(),
                    p.statements,
                    p.qps,
                    if p.errors > 0 {
                        format!(" · {} errors", p.errors)
                    } else {
                        String::new()
                    }
                ));
            }
        }
    };
    let result = run(
        spec,
        &plan.script,
        &plan.options,
        Some(&on_progress),
        interrupt.wait(),
    )
    .await;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    match result {
        Ok(report) => Ok(report),
        Err(BenchError::Aborted { reason, mut report }) => {
            report.interrupted = true;
            report.aborted_reason.get_or_insert(reason);
            Ok(*report)
        }
        Err(e) => Err(e.into()),
    }
}

/// `pgpilot bench`.
pub async fn run_command(args: BenchArgs, interrupt: &Interrupt) -> anyhow::Result<Outcome> {
    let spec = ConnSpec::resolve(args.db.as_deref())?;
    let script = Script::load(&args.workload, &args.vars)?;
    let slo = match &args.slo {
        Some(path) => SloTargets::load(path)?,
        None => SloTargets::default(),
    };
    let duration = match (args.duration, args.transactions) {
        (None, None) => Some(Duration::from_secs(30)),
        (d, _) => d,
    };
    let plan = BenchPlan {
        script,
        options: RunOptions {
            clients: args.clients,
            duration,
            transactions: args.transactions,
            warmup: args.warmup,
            seed: args.seed,
            slo,
            ..RunOptions::default()
        },
    };
    let report = run_with_progress(&spec, &plan, interrupt, "bench")
        .await
        .with_context(|| format!("benchmark of {}", args.workload.display()))?;
    match args.format {
        Format::Json => print_json(&report)?,
        Format::Table => print(&pgpilot_report::bench_report(&report, Style::Terminal))?,
        Format::Markdown => print(&pgpilot_report::bench_report(&report, Style::Markdown))?,
    }
    if let Some(reason) = &report.aborted_reason {
        anyhow::bail!("the benchmark was aborted: {reason} (the figures above cover what was measured until then)");
    }
    Ok(if report.interrupted {
        Outcome::Interrupted
    } else if args.slo.is_some() && !report.slo_passed() {
        Outcome::SloMissed
    } else {
        Outcome::Ok
    })
}
