//! One advice run, shared by `pgpilot advise` and `pgpilot demo`: read the
//! catalog, open a what-if backend, select indexes for the workload, judge drop
//! candidates and an optional draft, and assemble the plan file.

use std::time::Instant;

use anyhow::Context;
use pgpilot_advisor::advise::{advise, AdviseOptions};
use pgpilot_advisor::evaluate::{evaluate_draft, EvaluateOptions};
use pgpilot_advisor::plan_file::PLAN_FORMAT_VERSION;
use pgpilot_advisor::{
    AdvicePlan, AdviseSettings, Catalog, DropRecommendation, Evaluation, ExistingIndex, PlanQuery,
    WhatIf, WorkloadQueries,
};
use pgpilot_db::pgpilot_health::IndexFlag;
use pgpilot_db::whatif::{HypoWhatIf, RealTxWhatIf, WhatIfOptions};
use pgpilot_db::ConnSpec;
use pgpilot_findings::ident::qualified;

/// Which what-if backend to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum WhatIfBackend {
    /// HypoPG hypothetical indexes (no locks, nothing built).
    #[default]
    Hypopg,
    /// Real indexes inside a transaction that is always rolled back. It builds
    /// them for real and holds a SHARE lock on each table until the end: writes wait.
    RealTx,
}

/// What to advise with.
#[derive(Debug, Clone)]
pub struct AdviceRequest {
    /// The workload.
    pub queries: WorkloadQueries,
    /// Storage budget in bytes.
    pub budget_bytes: Option<u64>,
    /// Most key columns per index.
    pub max_columns: usize,
    /// Least relative gain.
    pub min_gain: f64,
    /// Backend.
    pub backend: WhatIfBackend,
    /// Create the hypopg extension when it is available but not created.
    pub create_extension: bool,
    /// A draft DDL file's text to judge.
    pub draft: Option<String>,
}

/// What an advice run produced.
#[derive(Debug)]
pub struct AdviceOutcome {
    /// The plan (recommendations, drops, analyze list, queries).
    pub plan: AdvicePlan,
    /// The draft's judgement, when one was given.
    pub evaluations: Option<Vec<Evaluation>>,
    /// Notes for the user (stale statistics, budget, skipped).
    pub notes: Vec<String>,
}

/// Relative cost rise over which a drop candidate is kept: some workload query
/// would get slower without it.
const DROP_COST_RISE: f64 = 0.05;

/// Runs the advice against `spec`.
pub async fn run_advice(
    spec: &ConnSpec,
    request: AdviceRequest,
    now_rfc3339: String,
) -> anyhow::Result<AdviceOutcome> {
    let started = Instant::now();
    let client = spec.connect().await?;
    let mut tables: Vec<String> = request
        .queries
        .queries
        .iter()
        .flat_map(|q| q.shape.relations().into_iter().map(|t| t.qualified_name()))
        .collect();
    tables.sort();
    tables.dedup();
    let catalog = pgpilot_db::advisor_catalog(&client, &tables).await?;
    let identity = pgpilot_db::plan_identity::database_identity(&client).await?;
    let inventory = pgpilot_db::index_inventory(&client).await?;
    drop(client);

    let spec2 = spec.clone();
    let backend = request.backend;
    let create_extension = request.create_extension;
    let catalog2 = catalog.clone();
    let job = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let options = WhatIfOptions {
            create_extension,
            ..WhatIfOptions::default()
        };
        let mut whatif: Box<dyn WhatIf> = match backend {
            WhatIfBackend::Hypopg => Box::new(HypoWhatIf::connect(&spec2, options)?),
            WhatIfBackend::RealTx => {
                eprintln!(
                    "note: --whatif real-tx builds real indexes inside a transaction that is always \
                     rolled back; each indexed table is locked against writes (SHARE) until advice ends"
                );
                Box::new(RealTxWhatIf::connect(&spec2, options)?)
            }
        };
        let options = AdviseOptions {
            budget_bytes: request.budget_bytes,
            max_columns: request.max_columns,
            min_gain: request.min_gain,
            ..AdviseOptions::default()
        };
        let mut report = |msg: &str| tracing::info!("{msg}");
        let advice = advise(
            &request.queries.queries,
            &catalog2,
            whatif.as_mut(),
            &options,
            &mut report,
        )?;
        let drops = judge_drops(&catalog2, &inventory, &request.queries, whatif.as_mut());
        let evaluations = match &request.draft {
            Some(draft) => {
                let better: Vec<_> = advice
                    .recommendations
                    .iter()
                    .map(|r| r.index.clone())
                    .collect();
                Some(evaluate_draft(
                    draft,
                    &request.queries.queries,
                    &catalog2,
                    whatif.as_mut(),
                    &better,
                    &EvaluateOptions::default(),
                )?)
            }
            None => None,
        };
        let plans = whatif.plans_made();
        Ok((advice, drops, evaluations, plans, request.queries))
    });
    let (advice, drops, evaluations, plans, queries) =
        job.await.context("the advice thread failed")??;

    let touched: Vec<String> = {
        let mut t: Vec<String> = advice
            .recommendations
            .iter()
            .map(|r| r.table.clone())
            .chain(drops.iter().map(|d| d.table.clone()))
            .collect();
        t.sort();
        t.dedup();
        t
    };
    let client = spec.connect().await?;
    let signatures = pgpilot_db::plan_identity::table_signatures(&client, &touched).await?;
    let analyze = stale_tables(&catalog);
    let mut notes = advice.notes.clone();
    if queries.beyond_limit > 0 {
        notes.push(format!(
            "{} lighter statements beyond the limit were not considered",
            queries.beyond_limit
        ));
    }
    let served: std::collections::BTreeSet<&str> = advice
        .recommendations
        .iter()
        .flat_map(|r| r.queries.iter().map(|q| q.id.as_str()))
        .collect();
    let plan_queries = queries
        .queries
        .iter()
        .filter(|q| served.contains(q.id.as_str()) || is_write(q))
        .map(|q| PlanQuery {
            id: q.id.clone(),
            sql: q.sql.clone(),
            calls: q.calls,
            samples: q.samples.clone(),
        })
        .collect();
    let mut skipped = queries.skipped.clone();
    skipped.extend(advice.skipped.iter().cloned());
    let mut plan = AdvicePlan {
        version: PLAN_FORMAT_VERSION,
        id: String::new(),
        created_at: now_rfc3339,
        database: identity,
        tables: signatures,
        settings: AdviseSettings {
            budget_bytes: request.budget_bytes,
            max_columns: request.max_columns,
            min_gain: request.min_gain,
            whatif: match backend {
                WhatIfBackend::Hypopg => "hypopg".into(),
                WhatIfBackend::RealTx => "real-tx".into(),
            },
        },
        workload_cost_before: advice.workload_cost_before,
        workload_cost_after: advice.workload_cost_after,
        whatif_plans: plans,
        advise_seconds: started.elapsed().as_secs_f64(),
        recommendations: advice.recommendations,
        drops,
        analyze,
        skipped,
        queries: plan_queries,
    };
    plan.id = plan_id(&plan);
    Ok(AdviceOutcome {
        plan,
        evaluations,
        notes,
    })
}

/// A content id: hex of a hash over the DDL of the plan and its database.
pub fn plan_id(plan: &AdvicePlan) -> String {
    let mut text = format!(
        "{}|{}|",
        plan.database.name, plan.database.system_identifier
    );
    for r in &plan.recommendations {
        text.push_str(&r.ddl);
        text.push('\n');
    }
    for d in &plan.drops {
        text.push_str(&d.ddl);
        text.push('\n');
    }
    text.push_str(&plan.created_at);
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(text.as_bytes()))
}

fn is_write(q: &pgpilot_advisor::AdvisorQuery) -> bool {
    matches!(
        q.shape.kind,
        pgpilot_sql::StatementKind::Insert
            | pgpilot_sql::StatementKind::Update
            | pgpilot_sql::StatementKind::Delete
    )
}

/// Tables of the workload whose statistics are stale (more than 10 % of rows
/// changed since the last ANALYZE): every what-if estimate depends on them.
fn stale_tables(catalog: &Catalog) -> Vec<String> {
    catalog
        .tables
        .iter()
        .filter(|t| t.rows > 0.0 && t.mod_since_analyze > 0.10 * t.rows)
        .map(|t| t.qualified_name())
        .collect()
}

/// Drop candidates from the index inventory (unused, duplicate, redundant,
/// invalid), kept only when no workload query would get costlier without them
/// (see [`pgpilot_advisor::drop_check`]).
fn judge_drops(
    catalog: &Catalog,
    inventory: &pgpilot_db::pgpilot_health::IndexInventory,
    queries: &WorkloadQueries,
    whatif: &mut dyn WhatIf,
) -> Vec<DropRecommendation> {
    let mut out = Vec::new();
    for ix in &inventory.indexes {
        if ix.primary || ix.flags.is_empty() {
            continue;
        }
        let table = format!("{}.{}", ix.schema, ix.table);
        let existing: Option<&ExistingIndex> = catalog
            .indexes
            .iter()
            .find(|e| e.name == ix.name && e.def.qualified_table() == table);
        if existing.is_some_and(|e| e.constraint) {
            continue;
        }
        let reason = if ix.flags.contains(&IndexFlag::Invalid) {
            "invalid"
        } else if ix.flags.contains(&IndexFlag::Duplicate) {
            "duplicate"
        } else if ix.flags.contains(&IndexFlag::Redundant) {
            "redundant"
        } else {
            "unused"
        };
        let mut detail = match (&ix.covered_by, reason) {
            (Some(by), "duplicate") => format!("same keys as {by}"),
            (Some(by), "redundant") => format!("its keys are a prefix of {by}"),
            (_, "invalid") => {
                "left INVALID by a failed build: maintained on every write, never used".into()
            }
            _ => format!("{} scans since the statistics were reset", ix.scans),
        };
        if reason != "invalid" {
            use pgpilot_advisor::drop_check::{check_drop, DropCheck};
            match check_drop(&ix.name, &table, catalog, queries, whatif, DROP_COST_RISE) {
                Ok(DropCheck::Needed {
                    query,
                    cost_with,
                    cost_without,
                }) => {
                    tracing::info!(
                        "keeping {} ({reason}): without it `{}` would cost {cost_without:.0} instead of {cost_with:.0}",
                        ix.name,
                        pgpilot_report::one_line_sql(&query, 60)
                    );
                    continue;
                }
                Ok(DropCheck::UsedByPlan { query }) => {
                    tracing::info!(
                        "keeping {} ({reason}): the plan of `{}` uses it",
                        ix.name,
                        pgpilot_report::one_line_sql(&query, 60)
                    );
                    continue;
                }
                Ok(DropCheck::NotNeeded {
                    hidden_checked: true,
                    ..
                }) => detail.push_str("; no workload query's plan needs it"),
                Ok(DropCheck::NotNeeded {
                    hidden_checked: false,
                    ..
                }) => detail.push_str(
                    "; no workload query's plan uses it (plans without it were not costed: \
                     hiding an index needs HypoPG 1.4+)",
                ),
                Err(e) => {
                    detail.push_str(&format!("; not checked against the workload's plans ({e})"))
                }
            }
        }
        out.push(DropRecommendation {
            name: ix.name.clone(),
            table: table.clone(),
            reason: reason.to_string(),
            detail,
            ddl: format!(
                "DROP INDEX CONCURRENTLY IF EXISTS {}",
                qualified(&ix.schema, &ix.name)
            ),
            recreate_ddl: concurrently(&ix.definition),
            size_bytes: ix.bytes.max(0) as u64,
        });
    }
    // Judged one by one, a set can still drop an index with its copy, or the
    // last index of a foreign key.
    let names: Vec<String> = out.iter().map(|d| d.name.clone()).collect();
    for keep in pgpilot_db::pgpilot_health::drop_safety::must_keep(inventory, &names) {
        eprintln!("note: not proposing to drop {}: {}", keep.name, keep.reason);
        out.retain(|d| d.name != keep.name);
    }
    out
}

/// `CREATE [UNIQUE] INDEX name …` → `CREATE [UNIQUE] INDEX CONCURRENTLY IF NOT EXISTS name …`.
fn concurrently(def: &str) -> String {
    for head in ["CREATE UNIQUE INDEX ", "CREATE INDEX "] {
        if let Some(rest) = def.strip_prefix(head) {
            return format!("{head}CONCURRENTLY IF NOT EXISTS {rest}");
        }
    }
    def.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recreate_statements_are_concurrent() {
        assert_eq!(
            concurrently("CREATE UNIQUE INDEX a ON public.t USING btree (x)"),
            "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS a ON public.t USING btree (x)"
        );
    }
}
