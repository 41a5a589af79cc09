//! `pgpilot`: the command-line front end. It parses arguments, wires the library
//! crates together, shows progress on a terminal and turns outcomes into exit
//! codes; the work itself lives in the libraries.

mod advice_run;
mod cmd_advise;
mod cmd_bench;
mod cmd_change;
mod cmd_demo;
mod cmd_explain;
mod cmd_health;
mod cmd_report;
mod cmd_top;
mod demo_loop;
mod interrupt;
mod output;
mod progress;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit code when a run worked but missed its SLO targets.
pub const EXIT_SLO_MISSED: u8 = 3;
/// Exit code after Ctrl-C (what was measured is still printed).
pub const EXIT_INTERRUPTED: u8 = 130;

/// pgpilot — a PostgreSQL performance autopilot: capture, diagnose, advise, prove.
#[derive(Debug, Parser)]
#[command(name = "pgpilot", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build the slow ADX Core demo database on a throwaway server and fix it end to end, with numbers.
    Demo(cmd_demo::DemoArgs),
    /// Drive a workload file against a database and report latency and SLOs.
    Bench(cmd_bench::BenchArgs),
    /// The top problem queries from server logs, pg_stat_statements or saved workloads.
    Top(cmd_top::TopArgs),
    /// EXPLAIN ANALYZE with real parameters, turned into findings with the SQL that fixes them.
    Explain(cmd_explain::ExplainArgs),
    /// Health audit (PgHero's checks and more), each finding with the SQL that fixes it.
    Health(cmd_health::HealthArgs),
    /// Every index with its size, use and flags (unused, duplicate, redundant, invalid).
    Indexes(cmd_health::IndexesArgs),
    /// Workload-level index recommendations (what-if with HypoPG), or judge a draft with --evaluate.
    Advise(cmd_advise::AdviseArgs),
    /// Build each recommended index for real (rolled back, or on --staging) and measure it.
    Verify(cmd_change::VerifyArgs),
    /// Create the verified indexes with CREATE INDEX CONCURRENTLY (only with --approve), journaled.
    Apply(cmd_change::ApplyArgs),
    /// Undo applied changes from the journal (only with --approve).
    Rollback(cmd_change::RollbackArgs),
    /// The hand-off report: problems, changes and why, metrics before/after/target, rollback, next steps.
    Report(cmd_report::ReportArgs),
}

/// What a command ended with, beyond plain success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything worked.
    Ok,
    /// The run worked but SLO targets were missed (only when asked to check).
    SloMissed,
    /// Ctrl-C: partial results were printed.
    Interrupted,
    /// Findings reached the `--fail-on` level.
    Findings,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let interrupt = interrupt::Interrupt::install();
        match cli.command {
            Command::Demo(args) => cmd_demo::run(args, &interrupt).await,
            Command::Bench(args) => cmd_bench::run_command(args, &interrupt).await,
            Command::Top(args) => cmd_top::run(args, &interrupt).await,
            Command::Explain(args) => cmd_explain::run(args, &interrupt).await,
            Command::Health(args) => cmd_health::run_health(args).await,
            Command::Indexes(args) => cmd_health::run_indexes(args).await,
            Command::Advise(args) => cmd_advise::run(args, &interrupt).await,
            Command::Verify(args) => cmd_change::run_verify(args, &interrupt).await,
            Command::Apply(args) => cmd_change::run_apply(args, &interrupt).await,
            Command::Rollback(args) => cmd_change::run_rollback(args, &interrupt).await,
            Command::Report(args) => cmd_report::run(args).await,
        }
    });
    // Clusters still owned (an error path) are stopped before exiting.
    pgpilot_cluster::stop_all();
    match result {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::SloMissed) => ExitCode::from(EXIT_SLO_MISSED),
        Ok(Outcome::Interrupted) => ExitCode::from(EXIT_INTERRUPTED),
        Ok(Outcome::Findings) => ExitCode::from(cmd_health::EXIT_FINDINGS),
        Err(e) if output::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, without repeating a cause that the
/// message above it already quotes.
fn one_line(err: &anyhow::Error) -> String {
    let mut out = err.to_string();
    for cause in err.chain().skip(1) {
        let c = cause.to_string();
        if !out.contains(&c) {
            out.push_str(": ");
            out.push_str(&c);
        }
    }
    out
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PGPILOT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .try_init();
}
