//! `pgpilot explain`: EXPLAIN (ANALYZE, BUFFERS) with real parameter values, turned
//! into plan findings and query lints — for one query or a workload's top ones,
//! plus the auto_explain plans a captured workload carries.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use pgpilot_db::{diagnose_query, diagnose_workload, ConnSpec, ExplainOptions};
use pgpilot_findings::{sort_findings, Finding};
use pgpilot_workload::Workload;
use serde::Serialize;

use crate::interrupt::Interrupt;
use crate::output::{print, print_json, Format};
use crate::Outcome;

/// Arguments of `pgpilot explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// Database: a postgres:// URL or a key=value string (default: DATABASE_URL, then PG* variables).
    #[arg(long)]
    pub db: Option<String>,
    /// One statement to explain (use $1, $2… with --param).
    #[arg(long, conflicts_with = "workload")]
    pub query: Option<String>,
    /// The statement, given without --query.
    #[arg(value_name = "SQL", conflicts_with_all = ["query", "workload"])]
    pub sql: Option<String>,
    /// A value for the next $n of the statement (repeatable; NULL for a null).
    #[arg(long = "param")]
    pub params: Vec<String>,
    /// A saved workload (pgpilot top --save): explain its top statements with their real parameter samples.
    #[arg(long)]
    pub workload: Option<PathBuf>,
    /// With --workload: how many statements (by total time).
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// Plain EXPLAIN: plan only, nothing is executed (for production servers).
    #[arg(long)]
    pub no_analyze: bool,
    /// statement_timeout for each EXPLAIN ANALYZE, e.g. 30s.
    #[arg(long, value_parser = crate::output::parse_duration, default_value = "30s")]
    pub timeout: Duration,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// One statement's outcome in the JSON output.
#[derive(Debug, Serialize)]
struct QueryOutcome {
    query: String,
    outcome: String,
    findings: usize,
}

/// `pgpilot explain --format json`.
#[derive(Debug, Serialize)]
struct ExplainJson<'a> {
    queries: Vec<QueryOutcome>,
    findings: Vec<&'a Finding>,
}

/// `pgpilot explain`.
pub async fn run(mut args: ExplainArgs, interrupt: &Interrupt) -> anyhow::Result<Outcome> {
    if args.query.is_none() {
        args.query = args.sql.take();
    }
    if args.query.is_none() && args.workload.is_none() {
        bail!(
            "nothing to explain: give --query SQL (with --param V for each $n) or --workload FILE"
        );
    }
    if args.query.is_none() && !args.params.is_empty() {
        bail!("--param goes with a statement (--query SQL), not with --workload");
    }
    let spec = ConnSpec::resolve(args.db.as_deref())?;
    let client = spec.connect().await?;
    let opts = ExplainOptions {
        analyze: !args.no_analyze,
        timeout: args.timeout,
        ..ExplainOptions::default()
    };
    let mut outcomes = Vec::new();
    let mut findings: Vec<Finding> = Vec::new();
    if let Some(sql) = &args.query {
        let params: Vec<Option<String>> = args
            .params
            .iter()
            .map(|p| (!p.eq_ignore_ascii_case("null")).then(|| p.clone()))
            .collect();
        let d = tokio::select! {
            d = diagnose_query(&client, sql, &params, &opts) => d?,
            _ = interrupt.wait() => return Ok(Outcome::Interrupted),
        };
        outcomes.push(QueryOutcome {
            query: d.query.clone(),
            outcome: d.outcome.summary(),
            findings: d.findings.len(),
        });
        findings.extend(d.findings);
    }
    if let Some(path) = &args.workload {
        let file = std::fs::File::open(path)
            .with_context(|| format!("cannot read workload file {}", path.display()))?;
        let workload = Workload::from_reader(std::io::BufReader::new(file))
            .with_context(|| format!("{}", path.display()))?;
        let wd = tokio::select! {
            d = diagnose_workload(&client, &workload, args.top, &opts) => d?,
            _ = interrupt.wait() => return Ok(Outcome::Interrupted),
        };
        if wd.unparsable > 0 {
            eprintln!(
                "note: {} statements could not be parsed and were not explained",
                wd.unparsable
            );
        }
        for d in &wd.queries {
            outcomes.push(QueryOutcome {
                query: d.query.clone(),
                outcome: d.outcome.summary(),
                findings: d.findings.len(),
            });
        }
        findings.extend(wd.queries.into_iter().flat_map(|d| d.findings));
        findings.extend(wd.n_plus_one);
        findings.extend(auto_explain_findings(&workload));
    }
    sort_findings(&mut findings);
    let refs: Vec<&Finding> = findings.iter().collect();
    match args.format {
        Format::Json => print_json(&ExplainJson {
            queries: outcomes,
            findings: refs,
        })?,
        Format::Table | Format::Markdown => {
            let style = args.format.style();
            let mut text = String::new();
            for o in &outcomes {
                text.push_str(&format!(
                    "{} — {}, {} finding{}\n",
                    pgpilot_report::one_line_sql(&o.query, 90),
                    o.outcome,
                    o.findings,
                    if o.findings == 1 { "" } else { "s" }
                ));
            }
            text.push('\n');
            text.push_str(&pgpilot_report::findings_report(
                &refs,
                style,
                "no findings",
            ));
            print(&text)?;
        }
    }
    Ok(Outcome::Ok)
}

/// Plan findings of the auto_explain plans captured with a workload's statements
/// (no database needed: the plans were executed by the application).
fn auto_explain_findings(workload: &Workload) -> Vec<Finding> {
    let mut out = Vec::new();
    for q in workload.queries.values() {
        for sample in &q.plans {
            let Ok(plan) = pgpilot_plan::Plan::parse(&sample.plan) else {
                continue;
            };
            for mut f in pgpilot_plan::analyze(&plan, &pgpilot_plan::Context::default()) {
                f.query.get_or_insert_with(|| q.query.clone());
                f.evidence.insert(
                    "source".into(),
                    serde_json::Value::String("auto_explain".into()),
                );
                out.push(f);
            }
        }
    }
    out
}
