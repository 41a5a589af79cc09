//! `pgpilot demo`: build the slow ADX Core database on a throwaway cluster and
//! run the whole loop on it: baseline → capture → diagnose → advise (after
//! fixing stale statistics) → verify → apply → the same benchmark again → the
//! hand-off report. Changes are auto-approved only here, on the demo's own cluster.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use pgpilot_advisor::{AdvicePlan, ChangeRecord};
use pgpilot_bench::{RunOptions, Script};
use pgpilot_bench_model::{BenchReport, SloTargets};
use pgpilot_cluster::{Cluster, ClusterOptions};
use pgpilot_db::ConnSpec;
use pgpilot_demo::{DemoConfig, LoadStep, StepKind};
use pgpilot_findings::Finding;
use pgpilot_workload::{workload_from_logs, BuildOptions, TopBy, TopReport, Workload};
use serde::Serialize;

use crate::cmd_bench::{run_with_progress, BenchPlan};
use crate::cmd_report::{HandoffInputs, ReportFormat};
use crate::demo_loop;
use crate::interrupt::Interrupt;
use crate::output::{print, print_json, Format};
use crate::progress::Step;
use crate::Outcome;

/// The demo database's name on its cluster.
const DEMO_DB: &str = "adx";
const STEPS: usize = 10;

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
    #[arg(long, value_parser = crate::output::parse_duration, default_value = "30s")]
    pub duration: Duration,
    /// Warm-up before measuring (both benchmarks), e.g. 20s: long enough for the
    /// indexes the after run uses at random (primary keys the baseline never read,
    /// every index a non-HOT update touches) to be in the buffer cache, so both runs
    /// measure a steady state rather than the first minutes after a change.
    #[arg(long, value_parser = crate::output::parse_duration, default_value = "20s")]
    pub warmup: Duration,
    /// Leave the demo server running and print how to connect to and stop it.
    #[arg(long)]
    pub keep: bool,
    /// Port for the demo server (default: a free one).
    #[arg(long)]
    pub port: Option<u16>,
    /// `shared_buffers` of the demo server (default: 1 GB per unit of scale, at least
    /// 128 MB — sized for the data set, as a production server would be: the ADX
    /// Core database is ~2.2 GB at scale 1).
    #[arg(long)]
    pub shared_buffers: Option<String>,
    /// End the loop after this step (with --keep the database stays in that state).
    #[arg(long, value_enum)]
    pub stop_after: Option<StopAfter>,
    /// Directory for the plan, the benchmark reports and the hand-off report.
    #[arg(long, default_value = "pgpilot-demo")]
    pub out: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// Where `--stop-after` ends the loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopAfter {
    /// After the baseline benchmark.
    Baseline,
    /// After capture and diagnosis.
    Diagnose,
    /// After the advice (and the statistics fix).
    Advise,
    /// After verification.
    Verify,
    /// After apply (no second benchmark).
    Apply,
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
    after: Option<&'a BenchReport>,
    capture: Option<&'a TopReport>,
    changes: &'a [ChangeRecord],
    plan: Option<String>,
    report: Option<String>,
    stopped_after: Option<StopAfter>,
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
        extensions: vec![
            "pg_stat_statements".into(),
            "hypopg".into(),
            "pg_prewarm".into(),
        ],
        shared_buffers: args
            .shared_buffers
            .clone()
            .unwrap_or_else(|| default_shared_buffers(cfg.scale)),
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
    let bench = BenchPlan {
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
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    // Log every statement of the baseline, as a DBA capturing a workload would.
    cluster.set_setting("log_min_duration_statement", "0")?;
    let log_from = std::fs::metadata(cluster.log_path()).map_or(0, |m| m.len());
    let baseline = run_with_progress(&spec, &bench, interrupt, "baseline").await?;
    cluster.set_setting("log_min_duration_statement", "-1")?;
    write_json(&args.out.join("baseline.json"), &baseline)?;
    step.finish(&format!(
        "{} statements, {:.0}/s, {} of {} targets missed",
        baseline.summary.statements,
        baseline.summary.throughput_qps,
        baseline.slo.iter().filter(|c| !c.pass).count(),
        baseline.slo.len()
    ));
    let mut state = LoopState::default();
    let stop = args.stop_after;
    let cluster_ref = &cluster;
    let outcome = async {
        if baseline.interrupted || stop == Some(StopAfter::Baseline) {
            return Ok::<_, anyhow::Error>(None);
        }
        let step = Step::start(4, STEPS, "capture: the workload from the server log");
        cluster_ref.flush_log(Duration::from_secs(30))?;
        let workload = capture_log(&cluster_ref.log_path(), log_from).await?;
        let capture = TopReport::new(&workload, TopBy::Total, 10, false);
        step.finish(&format!(
            "{} executions of {} statements, {} N+1 patterns",
            capture.total_calls,
            capture.fingerprints,
            capture.n_plus_one.len()
        ));
        state.capture = Some(capture);

        let step = Step::start(
            5,
            STEPS,
            "diagnose: health audit and EXPLAIN ANALYZE of the top queries",
        );
        state.findings = demo_loop::diagnose(&spec, &workload, interrupt).await?;
        step.finish(&format!("{} findings", state.findings.len()));
        if stop == Some(StopAfter::Diagnose) {
            return Ok(None);
        }

        let step = Step::start(
            6,
            STEPS,
            "advise: statistics first, then what-if index selection",
        );
        let advice = demo_loop::advise(&spec, &workload, &args.out, |m| step.message(m)).await?;
        step.finish(&advice.summary);
        state.plan = Some(advice.plan);
        state.changes = demo_loop::changes(&spec).await?;
        if stop == Some(StopAfter::Advise) {
            return Ok(None);
        }

        let step = Step::start(
            7,
            STEPS,
            "verify: each index built for real in a rolled-back transaction",
        );
        let plan = state.plan.as_mut().context("no plan")?;
        let note = demo_loop::verify(&spec, plan, &args.out, |m| step.message(m)).await?;
        step.finish(&note);
        if stop == Some(StopAfter::Verify) {
            return Ok(None);
        }

        let step = Step::start(
            8,
            STEPS,
            "apply: CREATE INDEX CONCURRENTLY of the verified indexes (auto-approved on the demo)",
        );
        let plan = state.plan.as_ref().context("no plan")?;
        let note = demo_loop::apply(&spec, plan, |m| step.message(m)).await?;
        state.changes = demo_loop::changes(&spec).await?;
        step.finish(&note);
        if stop == Some(StopAfter::Apply) {
            return Ok(None);
        }

        let step = Step::start(9, STEPS, "after: the same benchmark again");
        cluster_ref.set_setting("log_min_duration_statement", "0")?;
        let after = run_with_progress(&spec, &bench, interrupt, "after").await?;
        cluster_ref.set_setting("log_min_duration_statement", "-1")?;
        write_json(&args.out.join("after.json"), &after)?;
        step.finish(&format!(
            "{} statements, {:.0}/s, {} of {} targets met",
            after.summary.statements,
            after.summary.throughput_qps,
            after.slo.iter().filter(|c| c.pass).count(),
            after.slo.len()
        ));
        Ok(Some(after))
    }
    .await;
    let after = match outcome {
        Ok(a) => a,
        Err(e) => {
            drop(cluster);
            return Err(e);
        }
    };

    let step = Step::start(10, STEPS, "report");
    let inputs = HandoffInputs {
        database: spec.redacted_url(),
        plan: state.plan.clone(),
        baseline: Some(baseline.clone()),
        after: after.clone(),
        changes: state.changes.clone(),
        findings: state.findings.clone(),
    };
    let md = args.out.join("report.md");
    let html = args.out.join("report.html");
    std::fs::write(&md, inputs.render(ReportFormat::Markdown, 100.0))
        .with_context(|| format!("cannot write {}", md.display()))?;
    std::fs::write(&html, inputs.render(ReportFormat::Html, 100.0))
        .with_context(|| format!("cannot write {}", html.display()))?;
    let db_url = cluster.url(DEMO_DB);
    let log_path = cluster.log_path();
    let kept = if args.keep {
        Some(cluster.keep())
    } else {
        drop(cluster);
        None
    };
    step.finish(&format!("{} and {}", md.display(), html.display()));

    match args.format {
        Format::Json => print_json(&DemoJson {
            db_url: db_url.clone(),
            scale: cfg.scale,
            seed: cfg.seed,
            kept: kept.is_some(),
            load_seconds,
            server_log: log_path.display().to_string(),
            baseline: &baseline,
            after: after.as_ref(),
            capture: state.capture.as_ref(),
            changes: &state.changes,
            plan: state
                .plan
                .as_ref()
                .map(|_| args.out.join("plan.json").display().to_string()),
            report: Some(html.display().to_string()),
            stopped_after: stop,
        })?,
        Format::Table | Format::Markdown => {
            let style = args.format.style();
            let mut runs: Vec<(&str, &BenchReport)> = vec![("baseline", &baseline)];
            if let Some(a) = &after {
                runs.push(("after", a));
            }
            let mut text = format!("\nADX Core at scale {}\n\n", cfg.scale);
            text.push_str(&pgpilot_report::slo_comparison(&runs, style));
            if let Some(a) = &after {
                let met = a.slo.iter().filter(|c| c.pass).count();
                text.push_str(&format!(
                    "\nafter: {met} of {} targets met; average {:.1} ms → {:.1} ms ({:.1}× faster)\n",
                    a.slo.len(),
                    baseline.summary.avg_ms,
                    a.summary.avg_ms,
                    baseline.summary.avg_ms / a.summary.avg_ms.max(1e-9)
                ));
            }
            if let Some(plan) = &state.plan {
                text.push('\n');
                text.push_str(&pgpilot_report::advice_report(plan, style, false));
            }
            if let Some(a) = &after {
                text.push('\n');
                text.push_str(&pgpilot_report::bench_report(a, style));
            } else {
                text.push('\n');
                text.push_str(&pgpilot_report::bench_report(&baseline, style));
                if let Some(c) = &state.capture {
                    text.push_str("\nCaptured from the server log\n");
                    text.push_str(&pgpilot_report::top_report(c, style));
                }
            }
            text.push_str(&format!(
                "\nhand-off report: {} (and {})\n",
                html.display(),
                md.display()
            ));
            print(&text)?;
        }
    }
    if let Some(kept) = kept {
        eprintln!("\nthe demo server keeps running: {db_url}");
        eprintln!("  connect: psql '{db_url}'");
        eprintln!("  stop:    {}", kept.stop_command);
        eprintln!("  log:     {} (pgpilot top --logs …)", log_path.display());
    }
    let interrupted = baseline.interrupted || after.as_ref().is_some_and(|a| a.interrupted);
    Ok(if interrupted {
        Outcome::Interrupted
    } else {
        Outcome::Ok
    })
}

/// What the loop produced so far.
#[derive(Default)]
struct LoopState {
    capture: Option<TopReport>,
    findings: Vec<Finding>,
    plan: Option<AdvicePlan>,
    changes: Vec<ChangeRecord>,
}

/// 1 GB of shared_buffers per unit of scale, at least 128 MB: the working set of
/// the scenario's OLTP queries (their tables' hot pages and indexes) then stays in
/// the buffer cache while the reports scan audit_logs, as on a server sized for
/// its data. With far less, every 90-day report evicts the indexes and the index
/// hit ratio measures the cache size rather than the indexes.
fn default_shared_buffers(scale: f64) -> String {
    let mb = ((1024.0 * scale).round() as u64).max(128);
    format!("{mb}MB")
}

fn write_json<T: Serialize>(path: &std::path::Path, value: &T) -> anyhow::Result<()> {
    std::fs::write(path, serde_json::to_string_pretty(value)? + "\n")
        .with_context(|| format!("cannot write {}", path.display()))
}

/// The workload of the baseline, read back from the server log from byte
/// `from` on (what was logged before belongs to the load).
async fn capture_log(log: &std::path::Path, from: u64) -> anyhow::Result<Workload> {
    let log = log.to_path_buf();
    tokio::task::spawn_blocking(move || -> anyhow::Result<Workload> {
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
        Ok(workload)
    })
    .await?
}
