//! `pgpilot report`: the hand-off document (status, problems, changes and why,
//! metrics baseline vs after vs target, per-query before/after, rollback
//! procedure, next steps), as Markdown or a single offline HTML file.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use pgpilot_advisor::{ChangeRecord, ChangeStatus};
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
    /// Database: adds its health findings and the apply journal (pgpilot.changes);
    /// DATABASE_URL when not given. Without either, what was applied or rolled
    /// back is reported as unknown.
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
    /// The apply journal as read from the database (empty when it holds no
    /// change); [`HandoffInputs::render_without_journal`] renders when it
    /// could not be read.
    pub changes: Vec<ChangeRecord>,
    /// Findings.
    pub findings: Vec<Finding>,
}

impl HandoffInputs {
    /// Renders the document; [`HandoffInputs::changes`] is the journal as read.
    pub fn render(&self, format: ReportFormat, slow_ms: f64) -> String {
        self.render_journal(Some(&self.changes), format, slow_ms)
    }

    /// Renders the document when the journal was not read (no database): it
    /// then says what was applied or rolled back is unknown, instead of
    /// claiming nothing was. [`HandoffInputs::changes`] is ignored.
    pub fn render_without_journal(&self, format: ReportFormat, slow_ms: f64) -> String {
        self.render_journal(None, format, slow_ms)
    }

    fn render_journal(
        &self,
        changes: Option<&[ChangeRecord]>,
        format: ReportFormat,
        slow_ms: f64,
    ) -> String {
        let h = Handoff {
            title: "PostgreSQL performance hand-off".into(),
            database: self.database.clone(),
            generated_at: now_rfc3339(),
            plan: self.plan.as_ref(),
            baseline: self.baseline.as_ref(),
            after: self.after.as_ref(),
            changes,
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

/// One journal row per change. Running `apply` again on a plan journals an
/// `already_present` row for every index it made the first time, and a retried
/// failure leaves its `failed` row; the hand-off says where each change of a
/// plan stands, so of the rows with the same plan, action and statement it keeps
/// the newest that made or undid the change, else the newest `already_present`
/// one, else the newest.
fn collapse_reruns(changes: Vec<ChangeRecord>) -> Vec<ChangeRecord> {
    let rank = |s: ChangeStatus| match s {
        ChangeStatus::Applied | ChangeStatus::RolledBack => 2,
        ChangeStatus::AlreadyPresent => 1,
        ChangeStatus::Failed => 0,
    };
    let same = |a: &ChangeRecord, b: &ChangeRecord| {
        a.plan_id == b.plan_id && a.action == b.action && a.ddl.trim() == b.ddl.trim()
    };
    let mut kept: Vec<ChangeRecord> = Vec::new();
    for c in changes {
        match kept.iter_mut().find(|k| same(k, &c)) {
            Some(k) if (rank(c.status), c.id) > (rank(k.status), k.id) => *k = c,
            Some(_) => {}
            None => kept.push(c),
        }
    }
    kept
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
    // Like every command, the database may come from DATABASE_URL.
    let db = args
        .db
        .clone()
        .or_else(|| std::env::var("DATABASE_URL").ok().filter(|v| !v.is_empty()));
    if let Some(db) = &db {
        let spec = ConnSpec::resolve(Some(db))?;
        inputs.database = spec.dbname().to_string();
        let client = spec.connect().await?;
        let filter = JournalFilter {
            plan_id: inputs.plan.as_ref().map(|p| p.id.clone()),
            ..JournalFilter::default()
        };
        inputs.changes = collapse_reruns(pgpilot_db::journal(&client, &filter).await?);
        let (_, mut findings) = pgpilot_db::health_check(&client).await?;
        sort_findings(&mut findings);
        inputs.findings = findings;
    } else if let Some(p) = &inputs.plan {
        inputs.database = p.database.name.clone();
    }
    let text = if db.is_some() {
        inputs.render(args.format, args.slow_ms)
    } else {
        inputs.render_without_journal(args.format, args.slow_ms)
    };
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

#[cfg(test)]
mod tests {
    use super::*;
    use pgpilot_advisor::ChangeAction;

    fn row(id: i64, plan: &str, ddl: &str, status: ChangeStatus) -> ChangeRecord {
        ChangeRecord {
            id,
            applied_at: String::new(),
            applied_by: "postgres".into(),
            action: ChangeAction::CreateIndex,
            ddl: ddl.into(),
            rollback_ddl: String::new(),
            plan_id: plan.into(),
            status,
            detail: String::new(),
            before_ms: None,
            after_ms: None,
            rolled_back_at: None,
        }
    }

    #[test]
    fn reruns_of_apply_collapse_to_one_row_per_change() {
        use ChangeStatus::*;
        let a = "CREATE INDEX CONCURRENTLY IF NOT EXISTS a_idx ON t (a)";
        let b = "CREATE INDEX CONCURRENTLY IF NOT EXISTS b_idx ON t (b)";
        let c = "CREATE INDEX CONCURRENTLY IF NOT EXISTS c_idx ON t (c)";
        let kept = collapse_reruns(vec![
            row(1, "p1", a, Applied),
            row(2, "p1", b, Failed),
            row(3, "p1", c, AlreadyPresent),
            row(4, "p1", a, AlreadyPresent),
            row(5, "p1", b, Applied),
            row(6, "p1", c, AlreadyPresent),
            row(7, "p2", a, AlreadyPresent),
            row(8, "p1", a, AlreadyPresent),
        ]);
        let ids: Vec<(i64, ChangeStatus)> = kept.iter().map(|r| (r.id, r.status)).collect();
        assert_eq!(
            ids,
            vec![
                (1, Applied),
                (5, Applied),
                (6, AlreadyPresent),
                (7, AlreadyPresent)
            ]
        );
        // Applied, rolled back, applied again: the newest change counts.
        let kept = collapse_reruns(vec![
            row(1, "p1", a, RolledBack),
            row(2, "p1", a, Applied),
            row(3, "p1", a, AlreadyPresent),
        ]);
        assert_eq!(kept.len(), 1);
        assert_eq!((kept[0].id, kept[0].status), (2, Applied));
        // Only failures: the newest.
        let kept = collapse_reruns(vec![row(1, "p1", a, Failed), row(2, "p1", a, Failed)]);
        assert_eq!(kept.iter().map(|r| r.id).collect::<Vec<_>>(), vec![2]);
    }
}
