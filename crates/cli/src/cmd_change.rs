//! `pgpilot verify`, `pgpilot apply` and `pgpilot rollback`: prove a plan's
//! indexes with real builds, apply the verified ones safely (only with
//! `--approve`), and undo them from the journal.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use pgpilot_db::apply::{ApplyOutcome, RollbackOutcome};
use pgpilot_db::{
    apply_plan_until, load_plan, rollback_until, verify_plan_until, ApplyOptions, ConnSpec,
    RollbackOptions, RollbackSelector, VerifyOptions,
};

use crate::cmd_advise::{now_rfc3339, parse_bytes, parse_fraction, write_plan};
use crate::interrupt::Interrupt;
use crate::output::{print, print_json, Format};
use crate::Outcome;

/// Arguments of `pgpilot verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Database the plan was made for (default: DATABASE_URL, then PG* variables).
    #[arg(long)]
    pub db: Option<String>,
    /// The plan file (pgpilot advise --out); updated in place with the measurements.
    #[arg(long)]
    pub plan: PathBuf,
    /// Build and measure on this copy of the database instead of the target.
    #[arg(long)]
    pub staging: Option<String>,
    /// Timed runs of each query, before and after.
    #[arg(long, default_value_t = 5)]
    pub runs: u32,
    /// Least real gain for `verified`, e.g. 10%.
    #[arg(long, value_parser = parse_fraction, default_value = "10%")]
    pub min_gain: f64,
    /// Largest table to build on in a rolled-back transaction on the target
    /// (the build holds a SHARE lock: writes to the table wait).
    #[arg(long, value_parser = parse_bytes, default_value = "2GB")]
    pub max_table_size: u64,
    /// Build on the target even above --max-table-size.
    #[arg(long)]
    pub force: bool,
    /// statement_timeout of each measured statement and build, e.g. 60s.
    #[arg(long, value_parser = crate::output::parse_duration, default_value = "60s")]
    pub timeout: Duration,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// Arguments of `pgpilot apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Database to change (default: DATABASE_URL, then PG* variables).
    #[arg(long)]
    pub db: Option<String>,
    /// The plan file (verified with pgpilot verify).
    #[arg(long)]
    pub plan: PathBuf,
    /// Really do it. Without it, only print what would be done.
    #[arg(long)]
    pub approve: bool,
    /// Also ANALYZE the tables whose statistics the plan found stale.
    #[arg(long)]
    pub analyze: bool,
    /// Also apply recommendations that were not verified (never no-gain or regressions).
    #[arg(long)]
    pub include_unverified: bool,
    /// Also drop the indexes the plan lists as unused, duplicate, redundant or invalid.
    #[arg(long)]
    pub include_drops: bool,
    /// Read each new index into shared_buffers with pg_prewarm (if installed), so the
    /// first queries do not pay cold reads.
    #[arg(long)]
    pub prewarm: bool,
    /// lock_timeout of each statement, e.g. 5s: a build waiting longer for a lock gives up and retries.
    #[arg(long, value_parser = crate::output::parse_duration, default_value = "5s")]
    pub lock_timeout: Duration,
    /// statement_timeout of each build (default: none).
    #[arg(long, value_parser = crate::output::parse_duration)]
    pub statement_timeout: Option<Duration>,
    /// Retries after a failed try (lock timeout, cancel, deadlock).
    #[arg(long, default_value_t = 3)]
    pub retries: u32,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// Arguments of `pgpilot rollback`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["change", "plan", "last"])))]
pub struct RollbackArgs {
    /// Database (default: DATABASE_URL, then PG* variables).
    #[arg(long)]
    pub db: Option<String>,
    /// Undo one journaled change by id.
    #[arg(long)]
    pub change: Option<i64>,
    /// Undo every change of a plan (a plan file or a plan id).
    #[arg(long)]
    pub plan: Option<String>,
    /// Undo the most recently applied plan.
    #[arg(long)]
    pub last: bool,
    /// Really do it. Without it, only print what would be done.
    #[arg(long)]
    pub approve: bool,
    /// lock_timeout of each DROP INDEX CONCURRENTLY, e.g. 5s.
    #[arg(long, value_parser = crate::output::parse_duration, default_value = "5s")]
    pub lock_timeout: Duration,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// `pgpilot verify`.
pub async fn run_verify(args: VerifyArgs, interrupt: &Interrupt) -> anyhow::Result<Outcome> {
    let mut plan = load_plan(&args.plan)?;
    let spec = ConnSpec::resolve(args.db.as_deref())?;
    let staging = args.staging.as_deref().map(ConnSpec::parse).transpose()?;
    if staging.is_none() {
        let client = spec.connect().await?;
        pgpilot_db::check_plan(&client, &plan).await?;
    }
    let options = VerifyOptions {
        runs: args.runs.max(1),
        min_gain: args.min_gain,
        max_table_bytes: args.max_table_size,
        force: args.force,
        statement_timeout: args.timeout,
        now: now_rfc3339(),
        ..VerifyOptions::default()
    };
    let mut progress = |e: pgpilot_db::VerifyEvent| eprintln!("{e}");
    let verified = verify_plan_until(
        &spec,
        staging.as_ref(),
        &mut plan,
        &options,
        &mut progress,
        interrupt.wait(),
    )
    .await;
    let summary = match verified {
        Err(pgpilot_db::DbError::Interrupted) => {
            eprintln!(
                "interrupted: the running statement was cancelled and rolled back{}; \
                 the plan file is left as it was",
                if staging.is_some() {
                    ", the indexes built on staging dropped"
                } else {
                    ""
                }
            );
            return Ok(Outcome::Interrupted);
        }
        other => other?,
    };
    write_plan(&args.plan, &plan)?;
    eprintln!(
        "verified {} · no gain {} · regression {} · skipped {} ({:.1} s, {}); measurements saved to {}",
        summary.verified,
        summary.no_gain,
        summary.regression,
        summary.skipped,
        summary.seconds,
        summary.method,
        args.plan.display()
    );
    match args.format {
        Format::Json => print_json(&plan)?,
        f => print(&pgpilot_report::advice_report(&plan, f.style(), false))?,
    }
    Ok(Outcome::Ok)
}

/// `pgpilot apply`.
pub async fn run_apply(args: ApplyArgs, interrupt: &Interrupt) -> anyhow::Result<Outcome> {
    let plan = load_plan(&args.plan)?;
    let spec = ConnSpec::resolve(args.db.as_deref())?;
    let options = ApplyOptions {
        dry_run: !args.approve,
        lock_timeout: Some(args.lock_timeout).filter(|d| !d.is_zero()),
        statement_timeout: args.statement_timeout.filter(|d| !d.is_zero()),
        max_retries: args.retries,
        analyze: args.analyze,
        only_verified: !args.include_unverified,
        include_drops: args.include_drops,
        prewarm: args.prewarm,
        ..ApplyOptions::default()
    };
    if !args.approve {
        eprintln!("dry run: nothing is changed without --approve");
    }
    let unverified = plan
        .recommendations
        .iter()
        .filter(|r| r.verification.is_none())
        .count();
    if unverified > 0 && !args.include_unverified {
        eprintln!(
            "note: {unverified} recommendation{} not verified (run pgpilot verify first, or pass --include-unverified)",
            if unverified == 1 { " is" } else { "s are" }
        );
    }
    let mut progress = |e: pgpilot_db::ApplyEvent| eprintln!("{e}");
    let applied = apply_plan_until(&spec, &plan, &options, &mut progress, interrupt.wait()).await;
    let report = match applied {
        Err(pgpilot_db::ApplyError::Db(pgpilot_db::DbError::Interrupted)) => {
            eprintln!("interrupted while waiting for another apply: nothing was changed");
            return Ok(Outcome::Interrupted);
        }
        other => other?,
    };
    match args.format {
        Format::Json => print_json(&report)?,
        _ => {
            let mut text = String::new();
            for item in &report.items {
                let tag = match item.outcome {
                    ApplyOutcome::WouldApply => "would apply",
                    ApplyOutcome::Applied => "applied",
                    ApplyOutcome::AlreadyPresent => "nothing to do",
                    ApplyOutcome::Skipped => "skipped",
                    ApplyOutcome::Failed => "FAILED",
                };
                text.push_str(&format!("{tag:>13}  {}\n", item.ddl));
                // "would run: <the DDL just shown>" says nothing new.
                let echo = item.message.strip_prefix("would run: ") == Some(item.ddl.as_str());
                if !item.message.is_empty() && !echo {
                    text.push_str(&format!("{:>13}  {}\n", "", item.message));
                }
            }
            if report.items.is_empty() {
                text.push_str("nothing to apply\n");
            }
            text.push_str(&format!(
                "\n{} applied, {} already present, {} skipped, {} failed in {:.1} s",
                report.count(ApplyOutcome::Applied),
                report.count(ApplyOutcome::AlreadyPresent),
                report.count(ApplyOutcome::Skipped),
                report.count(ApplyOutcome::Failed),
                report.elapsed_ms / 1000.0
            ));
            if report.count(ApplyOutcome::Applied) > 0 {
                text.push_str(&format!(
                    "\nundo with: pgpilot rollback --plan {} --approve",
                    report.plan_id
                ));
            }
            print(&text)?;
        }
    }
    if report.interrupted {
        eprintln!(
            "interrupted: the change running was cancelled and journaled, the rest not started; \
             see pgpilot.changes"
        );
        return Ok(Outcome::Interrupted);
    }
    if !report.succeeded() {
        bail!("some changes failed: see above and pgpilot.changes");
    }
    Ok(Outcome::Ok)
}

/// `pgpilot rollback`.
pub async fn run_rollback(args: RollbackArgs, interrupt: &Interrupt) -> anyhow::Result<Outcome> {
    let spec = ConnSpec::resolve(args.db.as_deref())?;
    let selector = if let Some(id) = args.change {
        RollbackSelector::Change(id)
    } else if let Some(p) = &args.plan {
        let path = PathBuf::from(p);
        if path.exists() {
            let plan = load_plan(&path)?;
            RollbackSelector::Plan(plan.id)
        } else if p.chars().all(|c| c.is_ascii_hexdigit()) && !p.is_empty() {
            RollbackSelector::Plan(p.clone())
        } else {
            bail!("--plan {p}: no such plan file, and not a plan id");
        }
    } else if args.last {
        RollbackSelector::Last
    } else {
        bail!("say what to roll back: --change ID, --plan FILE|ID or --last");
    };
    let options = RollbackOptions {
        dry_run: !args.approve,
        lock_timeout: Some(args.lock_timeout).filter(|d| !d.is_zero()),
        ..RollbackOptions::default()
    };
    if !args.approve {
        eprintln!("dry run: nothing is changed without --approve");
    }
    let mut progress = |e: pgpilot_db::ApplyEvent| eprintln!("{e}");
    let report =
        rollback_until(&spec, &selector, &options, &mut progress, interrupt.wait()).await?;
    match args.format {
        Format::Json => print_json(&report)?,
        _ => {
            let mut text = String::new();
            // Re-runs of apply journal one "already present" row each: one line for all.
            let nothing = report
                .items
                .iter()
                .filter(|i| i.outcome == RollbackOutcome::NothingToUndo)
                .count();
            for item in report
                .items
                .iter()
                .filter(|i| i.outcome != RollbackOutcome::NothingToUndo)
            {
                let tag = match item.outcome {
                    RollbackOutcome::WouldRollBack => "would undo",
                    RollbackOutcome::RolledBack => "undone",
                    RollbackOutcome::AlreadyUndone => "already gone",
                    RollbackOutcome::AlreadyRolledBack => "done before",
                    RollbackOutcome::NothingToUndo => "nothing to do",
                    RollbackOutcome::Failed => "FAILED",
                };
                text.push_str(&format!(
                    "{tag:>13}  #{} {}  {}\n",
                    item.change_id, item.name, item.message
                ));
            }
            if nothing > 0 {
                text.push_str(&format!(
                    "{:>13}  {nothing} journaled row{} with nothing to undo (ANALYZE, failed \
                     tries, indexes that were already in place)\n",
                    "nothing to do",
                    if nothing == 1 { "" } else { "s" }
                ));
            }
            if report.items.is_empty() {
                text.push_str("no journaled change matches\n");
            }
            print(&text)?;
        }
    }
    if report.interrupted {
        eprintln!(
            "interrupted: the change running was cancelled; the ones not undone stay \
             journaled as applied (run the rollback again to finish)"
        );
        return Ok(Outcome::Interrupted);
    }
    if !report.succeeded() {
        bail!("some changes could not be undone: see above");
    }
    Ok(Outcome::Ok)
}

/// Reads a saved bench report (`pgpilot bench --format json > f`).
pub fn load_bench(path: &std::path::Path) -> anyhow::Result<pgpilot_bench_model::BenchReport> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a pgpilot bench report (pgpilot bench --format json)",
            path.display()
        )
    })
}
