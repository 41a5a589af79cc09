//! The middle of `pgpilot demo`'s loop — diagnose, advise, verify, apply — each
//! a thin wiring of the same library calls the stand-alone commands make, so the
//! demo proves the commands a user would run.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use pgpilot_advisor::{AdvicePlan, ChangeRecord, VerifyStatus, WorkloadQueries};
use pgpilot_db::apply::ApplyOutcome;
use pgpilot_db::{
    apply_plan, diagnose_workload, verify_plan, ApplyOptions, ConnSpec, ExplainOptions,
    JournalFilter, VerifyOptions,
};
use pgpilot_findings::{sort_findings, Finding};
use pgpilot_workload::Workload;

use crate::advice_run::{run_advice, AdviceRequest, WhatIfBackend};
use crate::cmd_advise::{now_rfc3339, write_plan};
use crate::interrupt::Interrupt;

/// Statements explained with ANALYZE during the diagnosis (heaviest first).
const DIAGNOSE_TOP: usize = 6;

/// Health audit plus EXPLAIN ANALYZE of the heaviest statements.
pub async fn diagnose(
    spec: &ConnSpec,
    workload: &Workload,
    interrupt: &Interrupt,
) -> anyhow::Result<Vec<Finding>> {
    let client = spec.connect().await?;
    let (_, mut findings) = pgpilot_db::health_check(&client).await?;
    let opts = ExplainOptions {
        analyze: true,
        timeout: Duration::from_secs(20),
        ..ExplainOptions::default()
    };
    let wd = tokio::select! {
        d = diagnose_workload(&client, workload, DIAGNOSE_TOP, &opts) => d?,
        _ = interrupt.wait() => anyhow::bail!("interrupted"),
    };
    findings.extend(wd.queries.into_iter().flat_map(|d| d.findings));
    findings.extend(wd.n_plus_one);
    sort_findings(&mut findings);
    Ok(findings)
}

/// The advice step's result.
pub struct DemoAdvice {
    /// The plan (saved as plan.json).
    pub plan: AdvicePlan,
    /// One line for the progress display.
    pub summary: String,
}

/// Advice as a careful DBA does it: when the first pass finds stale statistics,
/// ANALYZE those tables (journaled, through `apply --analyze`), then advise again
/// on fresh statistics, since every what-if estimate depends on them.
pub async fn advise(
    spec: &ConnSpec,
    workload: &Workload,
    out: &Path,
    progress: impl Fn(String),
) -> anyhow::Result<DemoAdvice> {
    let request = |queries: WorkloadQueries| AdviceRequest {
        queries,
        budget_bytes: None,
        max_columns: 3,
        min_gain: 0.10,
        backend: WhatIfBackend::Hypopg,
        create_extension: false,
        draft: None,
    };
    progress("what-if on the current statistics".into());
    let first = run_advice(
        spec,
        request(WorkloadQueries::from_workload(workload, 500)),
        now_rfc3339(),
    )
    .await?;
    let mut analyzed = Vec::new();
    let outcome = if first.plan.analyze.is_empty() {
        first
    } else {
        progress(format!(
            "ANALYZE {} (stale statistics)",
            first.plan.analyze.join(", ")
        ));
        let mut stats_only = first.plan.clone();
        stats_only.recommendations.clear();
        stats_only.drops.clear();
        let options = ApplyOptions {
            dry_run: false,
            analyze: true,
            ..ApplyOptions::default()
        };
        let mut ignore = |_e: pgpilot_db::ApplyEvent| {};
        let report = apply_plan(spec, &stats_only, &options, &mut ignore).await?;
        if !report.succeeded() {
            anyhow::bail!("ANALYZE of the stale tables failed");
        }
        analyzed = first.plan.analyze.clone();
        progress("what-if again on fresh statistics".into());
        run_advice(
            spec,
            request(WorkloadQueries::from_workload(workload, 500)),
            now_rfc3339(),
        )
        .await?
    };
    let plan = outcome.plan;
    write_plan(&out.join("plan.json"), &plan)?;
    let cut = if plan.workload_cost_before > 0.0 {
        (1.0 - plan.workload_cost_after / plan.workload_cost_before) * 100.0
    } else {
        0.0
    };
    let summary = format!(
        "{}{} indexes, estimated workload cost −{cut:.1} % ({} what-if plans, {:.1} s)",
        if analyzed.is_empty() {
            String::new()
        } else {
            format!("analyzed {} tables; ", analyzed.len())
        },
        plan.recommendations.len(),
        plan.whatif_plans,
        plan.advise_seconds
    );
    Ok(DemoAdvice { plan, summary })
}

/// Builds each recommendation for real in a rolled-back transaction and times
/// its queries; the plan file is updated.
pub async fn verify(
    spec: &ConnSpec,
    plan: &mut AdvicePlan,
    out: &Path,
    progress: impl Fn(String) + Send + Sync,
) -> anyhow::Result<String> {
    let options = VerifyOptions {
        now: now_rfc3339(),
        ..VerifyOptions::default()
    };
    let mut on_event = |e: pgpilot_db::VerifyEvent| progress(e.to_string().trim().to_string());
    let summary = verify_plan(spec, None, plan, &options, &mut on_event).await?;
    write_plan(&out.join("plan.json"), plan)?;
    let mut gains: Vec<String> = plan
        .recommendations
        .iter()
        .filter_map(|r| {
            let v = r.verification.as_ref()?;
            (v.status == VerifyStatus::Verified)
                .then(|| format!("{} −{:.0} %", r.name, v.gain * 100.0))
        })
        .collect();
    gains.truncate(4);
    Ok(format!(
        "{} verified, {} no gain, {} regression, {} skipped ({:.0} s){}{}",
        summary.verified,
        summary.no_gain,
        summary.regression,
        summary.skipped,
        summary.seconds,
        if gains.is_empty() { "" } else { ": " },
        gains.join(", ")
    ))
}

/// Applies the verified recommendations (auto-approved: the demo's own cluster).
pub async fn apply(
    spec: &ConnSpec,
    plan: &AdvicePlan,
    progress: impl Fn(String) + Send + Sync,
) -> anyhow::Result<String> {
    let options = ApplyOptions {
        dry_run: false,
        prewarm: true,
        ..ApplyOptions::default()
    };
    let mut on_event = |e: pgpilot_db::ApplyEvent| progress(e.to_string().trim().to_string());
    let report = apply_plan(spec, plan, &options, &mut on_event)
        .await
        .context("apply")?;
    if !report.succeeded() {
        anyhow::bail!("some indexes could not be applied: see pgpilot.changes");
    }
    Ok(format!(
        "{} indexes created concurrently, {} skipped (not verified) in {:.1} s",
        report.count(ApplyOutcome::Applied),
        report.count(ApplyOutcome::Skipped),
        report.elapsed_ms / 1000.0
    ))
}

/// The journal of the demo database.
pub async fn changes(spec: &ConnSpec) -> anyhow::Result<Vec<ChangeRecord>> {
    let client = spec.connect().await?;
    Ok(pgpilot_db::journal(&client, &JournalFilter::default()).await?)
}
