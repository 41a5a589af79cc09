//! `pgpilot demo`: build the slow ADX Core database on a throwaway cluster and
//! measure its baseline against the scenario's targets.

use std::time::Duration;

use anyhow::Context;
use clap::Args;
use pgpilot_bench::{RunOptions, Script};
use pgpilot_bench_model::{BenchReport, SloTargets};
use pgpilot_cluster::{Cluster, ClusterOptions};
use pgpilot_db::ConnSpec;
use pgpilot_demo::{DemoConfig, LoadStep, StepKind};
use pgpilot_report::Style;
use pgpilot_workload::{workload_from_logs, BuildOptions, TopBy, TopReport};
use serde::Serialize;

use crate::cmd_bench::{run_with_progress, BenchPlan};
use crate::interrupt::Interrupt;
use crate::output::{print, print_json, Format};
use crate::progress::Step;
use crate::Outcome;

/// The demo database's name on its cluster.
const DEMO_DB: &str = "adx";
const STEPS: usize = 5;

/// Arguments of `pgpilot demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Data size: 1 = 1 M users and profiles, 5 M audit log rows, 1 M sessions.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub scale: f64,
    /// Seed of the generated data and of the workload's parameters.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Concurrent benchmark clients.
    #[arg(long, default_value_t = 8)]
    pub clients: u32,
    /// How long to measure the workload, e.g. 30s.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30s")]
    pub duration: Duration,
    /// Warm-up before measuring, e.g. 5s.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5s")]
    pub warmup: Duration,
    /// Leave the demo server running and print how to connect to and stop it.
    #[arg(long)]
    pub keep: bool,
    /// Port for the demo server (default: a free one).
    #[arg(long)]
    pub port: Option<u16>,
    /// `shared_buffers` of the demo server.
    #[arg(long, default_value = "256MB")]
    pub shared_buffers: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// `pgpilot demo --format json`.
#[derive(Debug, Serialize)]
struct DemoJson<'a> {
    db_url: String,
    scale: f64,
    seed: u64,
    kept: bool,
    load_seconds: f64,
    server_log: String,
    baseline: &'a BenchReport,
    capture: &'a TopReport,
}

/// `pgpilot demo`.
pub async fn run(args: DemoArgs, interrupt: &Interrupt) -> anyhow::Result<Outcome> {
    let cfg = DemoConfig {
        scale: args.scale,
        seed: args.seed,
    };
    cfg.validate()?;
    let script = Script::parse(
        pgpilot_demo::WORKLOAD_TOML,
        "adx-core.toml",
        &pgpilot_demo::workload_vars(&cfg),
    )
    .context("the built-in ADX Core workload")?;

    let step = Step::start(1, STEPS, "starting a throwaway PostgreSQL cluster");
    let opts = ClusterOptions {
        port: args.port,
        shared_buffers: args.shared_buffers.clone(),
        ..ClusterOptions::default()
    };
    let cluster = tokio::task::spawn_blocking(move || Cluster::start(opts)).await??;
    cluster.create_database(DEMO_DB)?;
    let spec = ConnSpec::parse(&cluster.url(DEMO_DB))?;
    step.finish(&format!(
        "PostgreSQL {} on port {}",
        cluster.binaries().major,
        cluster.port()
    ));

    let counts = cfg.row_counts();
    let step = Step::start(
        2,
        STEPS,
        &format!(
            "loading ADX Core at scale {} ({} users, {} audit log rows, {} sessions)",
            cfg.scale, counts.users, counts.audit_logs, counts.sessions
        ),
    );
    let on_step = |s: &LoadStep| {
        let what = match s.kind {
            StepKind::Schema => "schema".to_string(),
            StepKind::Insert => format!("{}: {} / {} rows", s.table, s.rows_done, s.rows_total),
            StepKind::Analyze => "early ANALYZE (statistics go stale)".into(),
            StepKind::Keys => format!("{}: primary key and unique constraints", s.table),
            StepKind::ForeignKeys => "foreign keys".into(),
            StepKind::Finish => "finishing".into(),
        };
        step.message(what);
    };
    let load = tokio::select! {
        r = pgpilot_demo::load(&spec, &cfg, &on_step) => r?,
        _ = interrupt.wait() => {
            drop(cluster);
            return Ok(Outcome::Interrupted);
        }
    };
    let load_seconds = load.total_seconds;
    step.finish(&format!("loaded {} tables", load.tables.len()));

    let step = Step::start(
        3,
        STEPS,
        &format!(
            "baseline: {} clients, {:.0} s after {:.0} s warm-up",
            args.clients,
            args.duration.as_secs_f64(),
            args.warmup.as_secs_f64()
        ),
    );
    let plan = BenchPlan {
        script,
        options: RunOptions {
            clients: args.clients,
            duration: Some(args.duration),
            transactions: None,
            warmup: args.warmup,
            seed: args.seed,
            slo: SloTargets::default(),
            application_name: "pgpilot-demo-bench".into(),
            ..RunOptions::default()
        },
    };
    // Log every statement of the baseline, as a DBA capturing a workload would.
    cluster.set_setting("log_min_duration_statement", "0")?;
    let log_from = std::fs::metadata(cluster.log_path()).map_or(0, |m| m.len());
    let baseline = run_with_progress(&spec, &plan, interrupt, "baseline").await?;
    cluster.set_setting("log_min_duration_statement", "-1")?;
    step.finish(&format!(
        "{} statements, {:.0}/s",
        baseline.summary.statements, baseline.summary.throughput_qps
    ));

    let step = Step::start(
        4,
        STEPS,
        "capture: top queries and N+1 patterns from the server log",
    );
    let capture = capture_log(&cluster.log_path(), log_from).await?;
    step.finish(&format!(
        "{} executions of {} statements, {} N+1 patterns",
        capture.total_calls,
        capture.fingerprints,
        capture.n_plus_one.len()
    ));

    let step = Step::start(5, STEPS, "report");
    let db_url = cluster.url(DEMO_DB);
    let log_path = cluster.log_path();
    let kept = if args.keep {
        let kept = cluster.keep();
        Some(kept)
    } else {
        drop(cluster);
        None
    };
    step.finish("done");

    match args.format {
        Format::Json => print_json(&DemoJson {
            db_url: db_url.clone(),
            scale: cfg.scale,
            seed: cfg.seed,
            kept: kept.is_some(),
            load_seconds,
            server_log: log_path.display().to_string(),
            baseline: &baseline,
            capture: &capture,
        })?,
        Format::Table | Format::Markdown => {
            let style = if args.format == Format::Markdown {
                Style::Markdown
            } else {
                Style::Terminal
            };
            let missed = baseline.slo.iter().filter(|c| !c.pass).count();
            print(&format!(
                "\nADX Core at scale {} — baseline ({} of {} targets missed)\n\n{}\n{}\nCaptured from the server log\n{}",
                cfg.scale,
                missed,
                baseline.slo.len(),
                pgpilot_report::slo_comparison(&[("baseline", &baseline)], style),
                pgpilot_report::bench_report(&baseline, style),
                pgpilot_report::top_report(&capture, style),
            ))?;
        }
    }
    if let Some(kept) = kept {
        eprintln!("\nthe demo server keeps running: {db_url}");
        eprintln!("  connect: psql '{db_url}'");
        eprintln!("  stop:    {}", kept.stop_command);
        eprintln!("  log:     {} (pgpilot top --logs …)", log_path.display());
    }
    Ok(if baseline.interrupted {
        Outcome::Interrupted
    } else {
        Outcome::Ok
    })
}

/// The workload of the baseline, read back from the server log from byte
/// `from` on (what was logged before belongs to the load).
async fn capture_log(log: &std::path::Path, from: u64) -> anyhow::Result<TopReport> {
    let log = log.to_path_buf();
    tokio::task::spawn_blocking(move || -> anyhow::Result<TopReport> {
        use std::io::{Read, Seek, SeekFrom};
        let mut file = std::fs::File::open(&log)
            .with_context(|| format!("cannot read the server log {}", log.display()))?;
        file.seek(SeekFrom::Start(from))?;
        let mut tail = Vec::new();
        file.read_to_end(&mut tail)?;
        let part = log.with_extension("baseline.log");
        std::fs::write(&part, &tail)?;
        let opts = pgpilot_logs::Options {
            prefix: Some(pgpilot_cluster::LOG_LINE_PREFIX.to_string()),
            ..pgpilot_logs::Options::default()
        };
        let (workload, _) = workload_from_logs(&[part], &opts, &BuildOptions::default());
        Ok(TopReport::new(&workload, TopBy::Total, 10, false))
    })
    .await?
}
