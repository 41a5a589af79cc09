//! [`diagnose_query`] and [`diagnose_workload`]: EXPLAIN, plan findings and query
//! lints of statements in one call, ready to render.

use pgpilot_lint::{lint_n_plus_one, lint_query, CatalogFacts, LintConfig, LintInput};
use pgpilot_plan::{analyze, Finding, Plan};
use pgpilot_sql::QueryShape;
use pgpilot_workload::{TopBy, Workload};
use serde::{Deserialize, Serialize};
use tokio_postgres::Client;

use super::index_advice::{index_advice, merge};
use super::{
    catalog_facts, explain_shaped, table_facts, ExplainFailure, ExplainOptions, ExplainOutcome,
    FailureKind,
};
use crate::DbError;

/// Everything pgpilot found about one statement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diagnosis {
    /// The statement, as given.
    pub query: String,
    /// The parameter values used (`None` = NULL).
    pub params: Vec<Option<String>>,
    /// What EXPLAIN did.
    pub outcome: ExplainOutcome,
    /// The parsed plan, when EXPLAIN produced one.
    pub plan: Option<Plan>,
    /// Why the plan output could not be read, if it could not.
    pub plan_error: Option<String>,
    /// Plan findings and query lints, most severe first, then by impact. Every
    /// finding's `query` is the statement.
    pub findings: Vec<Finding>,
}

/// The statements of a workload that were diagnosed, plus its N+1 patterns.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkloadDiagnosis {
    /// One per statement explained (the top ones by total time), in that order.
    pub queries: Vec<Diagnosis>,
    /// `lint.n_plus_one` findings of the workload's N+1 pairs.
    pub n_plus_one: Vec<Finding>,
    /// Statements skipped because PostgreSQL's parser rejected their text.
    pub unparsable: usize,
}

impl WorkloadDiagnosis {
    /// Every finding (each statement's, then the N+1 ones), most severe first.
    pub fn all_findings(&self) -> Vec<&Finding> {
        let mut v: Vec<&Finding> = self
            .queries
            .iter()
            .flat_map(|d| &d.findings)
            .chain(&self.n_plus_one)
            .collect();
        v.sort_by(|a, b| {
            b.severity.cmp(&a.severity).then(
                b.impact_ms
                    .unwrap_or(0.0)
                    .total_cmp(&a.impact_ms.unwrap_or(0.0)),
            )
        });
        v
    }
}

fn sort(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(
                b.impact_ms
                    .unwrap_or(0.0)
                    .total_cmp(&a.impact_ms.unwrap_or(0.0)),
            )
            .then_with(|| a.id.cmp(&b.id))
    });
}

/// Explains one statement with `params` (see [`super::explain`]), reads the
/// statistics freshness and catalog facts of its tables, and returns the plan
/// findings (with stale statistics named) together with the query lints. Lints
/// run even when EXPLAIN fails or is refused. `Err` only when the connection is lost.
///
/// When the statement is a SELECT, UPDATE or DELETE that was explained and the
/// `hypopg` extension is created in the database, the index advisor is run on it
/// with HypoPG's hypothetical indexes on the same connection (a few hundred
/// milliseconds at most, nothing built or left behind): an index that cuts its
/// estimated cost becomes one `plan.index_advice` finding with its DDL, which
/// replaces the plan rules' own `CREATE INDEX` suggestions on that table.
pub async fn diagnose_query(
    client: &Client,
    sql: &str,
    params: &[Option<String>],
    opts: &ExplainOptions,
) -> Result<Diagnosis, DbError> {
    diagnose_one(client, sql, params, opts, None, &LintConfig::default()).await
}

async fn diagnose_one(
    client: &Client,
    sql: &str,
    params: &[Option<String>],
    opts: &ExplainOptions,
    calls: Option<u64>,
    config: &LintConfig,
) -> Result<Diagnosis, DbError> {
    let shape = match QueryShape::parse(sql) {
        Ok(s) => s,
        Err(e) => {
            return Ok(Diagnosis {
                query: sql.to_string(),
                params: params.to_vec(),
                outcome: ExplainOutcome::Failed(ExplainFailure {
                    kind: FailureKind::Syntax,
                    sqlstate: Some("42601".into()),
                    message: e.to_string(),
                    detail: None,
                }),
                plan: None,
                plan_error: None,
                findings: Vec::new(),
            })
        }
    };
    let tables: Vec<String> = shape
        .relations()
        .iter()
        .map(|t| t.qualified_name())
        .collect();
    let (ctx, catalog) = if tables.is_empty() {
        (pgpilot_plan::Context::default(), CatalogFacts::default())
    } else {
        (
            table_facts(client, &tables).await?,
            catalog_facts(client, &tables).await?,
        )
    };
    let outcome = explain_shaped(client, sql, shape.kind, params, opts).await?;
    let mut findings = Vec::new();
    let mut plan = None;
    let mut plan_error = None;
    if let Some(p) = outcome.plan() {
        match Plan::parse(&p.plan_json) {
            Ok(parsed) => {
                findings.extend(analyze(&parsed, &ctx));
                plan = Some(parsed);
            }
            Err(e) => plan_error = Some(e.to_string()),
        }
        // After the EXPLAIN transaction ended: what-if advice with HypoPG, when
        // it is there; never an error.
        let advice = index_advice(client, sql, &shape, params, plan.as_ref()).await;
        merge(&mut findings, advice);
    }
    let samples: Vec<Vec<Option<String>>> = if params.is_empty() {
        Vec::new()
    } else {
        vec![params.to_vec()]
    };
    let input = LintInput {
        calls,
        samples: &samples,
        ..LintInput::new(sql, &shape, &catalog, config)
    };
    findings.extend(lint_query(&input));
    let q = sql.trim().to_string();
    for f in &mut findings {
        f.query = Some(q.clone());
    }
    sort(&mut findings);
    Ok(Diagnosis {
        query: sql.to_string(),
        params: params.to_vec(),
        outcome,
        plan,
        plan_error,
        findings,
    })
}

/// Diagnoses the `top` statements of a captured workload by total time, each with
/// the first sampled parameter set of a real execution (never made-up values: a
/// statement with parameters and no sample gets the labelled generic plan, or
/// [`ExplainOutcome::NoSamples`] when `opts.generic_fallback` is off), and turns
/// the workload's N+1 pairs into `lint.n_plus_one` findings. Each statement gets
/// the `plan.index_advice` of [`diagnose_query`] too (with its sample as the
/// advisor's values). A failing statement does not stop the others; `Err` only
/// when the connection is lost.
pub async fn diagnose_workload(
    client: &Client,
    workload: &Workload,
    top: usize,
    opts: &ExplainOptions,
) -> Result<WorkloadDiagnosis, DbError> {
    let mut out = WorkloadDiagnosis::default();
    let config = LintConfig::default();
    let mut chosen = 0usize;
    for q in workload.top(TopBy::Total, workload.queries.len()) {
        if chosen >= top {
            break;
        }
        if q.parse_error.is_some() || QueryShape::parse(&q.query).is_err() {
            out.unparsable += 1;
            continue;
        }
        chosen += 1;
        let params: Vec<Option<String>> = q
            .samples
            .samples
            .first()
            .map(|s| s.values.clone())
            .unwrap_or_default();
        let mut d = diagnose_one(client, &q.query, &params, opts, Some(q.calls), &config).await?;
        for f in &mut d.findings {
            f.evidence
                .entry("fingerprint".to_string())
                .or_insert_with(|| q.fingerprint.to_string().into());
        }
        out.queries.push(d);
    }
    out.n_plus_one = lint_n_plus_one(&workload.n_plus_one, &CatalogFacts::default());
    Ok(out)
}
