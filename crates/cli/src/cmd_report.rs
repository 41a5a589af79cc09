//! `pgpilot report`: the hand-off document (status, problems, changes and why,
//! metrics baseline vs after vs target, per-query before/after, rollback
//! procedure, next steps), as Markdown or a single offline HTML file.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use pgpilot_advisor::ChangeRecord;
use pgpilot_bench_model::BenchReport;
use pgpilot_db::{ConnSpec, JournalFilter};
use pgpilot_findings::{sort_findings, Finding};
use pgpilot_report::Handoff;

use crate::cmd_advise::now_rfc3339;
use crate::cmd_change::load_bench;
use crate::Outcome;

/// Document format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ReportFormat {
    /// Markdown (for issues, wikis, pull requests).
    #[default]
    Markdown,
    /// One self-contained HTML file with charts (works offline).
    Html,
}

/// Arguments of `pgpilot report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Database: adds its health findings and the apply journal (pgpilot.changes).
    #[arg(long)]
    pub db: Option<String>,
    /// The plan file (advise --out, updated by verify).
    #[arg(long)]
    pub plan: Option<PathBuf>,
    /// Benchmark reports before and after (pgpilot bench --format json).
    #[arg(long, num_args = 2, value_names = ["BEFORE", "AFTER"])]
    pub bench: Vec<PathBuf>,
    /// Document format.
    #[arg(long, value_enum, default_value_t)]
    pub format: ReportFormat,
    /// Write to this file instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Queries above this average latency after the changes are listed as cache candidates (ms).
    #[arg(long, default_value_t = 100.0)]
    pub slow_ms: f64,
}

/// Everything a hand-off document is made of.
pub struct HandoffInputs {
    /// Redacted database.
    pub database: String,
    /// Plan.
    pub plan: Option<pgpilot_advisor::AdvicePlan>,
    /// Baseline bench.
    pub baseline: Option<BenchReport>,
    /// After bench.
    pub after: Option<BenchReport>,
    /// Journal.
    pub changes: Vec<ChangeRecord>,
    /// Findings.
    pub findings: Vec<Finding>,
}

impl HandoffInputs {
    /// Renders the document.
    pub fn render(&self, format: ReportFormat, slow_ms: f64) -> String {
        let h = Handoff {
            title: "PostgreSQL performance hand-off".into(),
            database: self.database.clone(),
            generated_at: now_rfc3339(),
            plan: self.plan.as_ref(),
            baseline: self.baseline.as_ref(),
            after: self.after.as_ref(),
            changes: &self.changes,
            findings: &self.findings,
            cache_candidates: self
                .after
                .as_ref()
                .map(|a| pgpilot_report::cache_candidates(a, slow_ms))
                .unwrap_or_default(),
        };
        match format {
            ReportFormat::Markdown => pgpilot_report::handoff_markdown(&h),
            ReportFormat::Html => pgpilot_report::handoff_html(&h),
        }
    }
}

/// `pgpilot report`.
pub async fn run(args: ReportArgs) -> anyhow::Result<Outcome> {
    let plan = args
        .plan
        .as_deref()
        .map(pgpilot_db::load_plan)
        .transpose()?;
    let (baseline, after) = match args.bench.as_slice() {
        [b, a] => (Some(load_bench(b)?), Some(load_bench(a)?)),
        _ => (None, None),
    };
    let mut inputs = HandoffInputs {
        database: String::new(),
        plan,
        baseline,
        after,
        changes: Vec::new(),
        findings: Vec::new(),
    };
    if let Some(db) = &args.db {
        let spec = ConnSpec::resolve(Some(db))?;
        inputs.database = spec.redacted_url();
        let client = spec.connect().await?;
        let filter = JournalFilter {
            plan_id: inputs.plan.as_ref().map(|p| p.id.clone()),
            ..JournalFilter::default()
        };
        inputs.changes = pgpilot_db::journal(&client, &filter).await?;
        let (_, mut findings) = pgpilot_db::health_check(&client).await?;
        sort_findings(&mut findings);
        inputs.findings = findings;
    } else if let Some(p) = &inputs.plan {
        inputs.database = p.database.name.clone();
    }
    let text = inputs.render(args.format, args.slow_ms);
    match &args.out {
        Some(path) => {
            std::fs::write(path, &text)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("wrote {}", path.display());
        }
        None => crate::output::print(&text)?,
    }
    Ok(Outcome::Ok)
}
