//! `pgpilot health` and `pgpilot indexes`: the database's health audit with the SQL
//! that fixes each finding, and the inventory of its indexes.

use clap::{Args, ValueEnum};
use pgpilot_db::pgpilot_health::{fails_on, Severity};
use pgpilot_db::{health_check, index_inventory, ConnSpec};
use pgpilot_findings::Finding;
use serde::Serialize;

use crate::output::{print, print_json, Format};
use crate::Outcome;

/// The level of finding that makes `health` exit non-zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    /// Any warning or critical finding.
    Warning,
    /// Only critical findings.
    Critical,
}

/// Arguments of `pgpilot health`.
#[derive(Debug, Args)]
pub struct HealthArgs {
    /// Database: a postgres:// URL or a key=value string (default: DATABASE_URL, then PG* variables).
    #[arg(long)]
    pub db: Option<String>,
    /// Exit with code 4 when a finding of this level (or worse) is found.
    #[arg(long, value_enum)]
    pub fail_on: Option<FailOn>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// Arguments of `pgpilot indexes`.
#[derive(Debug, Args)]
pub struct IndexesArgs {
    /// Database: a postgres:// URL or a key=value string (default: DATABASE_URL, then PG* variables).
    #[arg(long)]
    pub db: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// Exit code of `health --fail-on` when findings reach the level.
pub const EXIT_FINDINGS: u8 = 4;

/// `pgpilot health --format json`.
#[derive(Debug, Serialize)]
struct HealthJson<'a> {
    findings: &'a [Finding],
    unavailable: &'a [pgpilot_db::pgpilot_health::Unavailable],
}

/// `pgpilot health`.
pub async fn run_health(args: HealthArgs) -> anyhow::Result<Outcome> {
    let client = ConnSpec::resolve(args.db.as_deref())?.connect().await?;
    let (facts, findings) = health_check(&client).await?;
    match args.format {
        Format::Json => print_json(&HealthJson {
            findings: &findings,
            unavailable: &facts.unavailable,
        })?,
        f => {
            let refs: Vec<&Finding> = findings.iter().collect();
            let mut text =
                pgpilot_report::findings_report(&refs, f.style(), "no findings: nothing to fix");
            text.push_str(&pgpilot_report::unavailable_note(&facts.unavailable));
            print(&text)?;
        }
    }
    let level = args.fail_on.map(|l| match l {
        FailOn::Warning => Severity::Warning,
        FailOn::Critical => Severity::Critical,
    });
    Ok(match level {
        Some(level) if fails_on(&findings, level) => Outcome::Findings,
        _ => Outcome::Ok,
    })
}

/// `pgpilot indexes`.
pub async fn run_indexes(args: IndexesArgs) -> anyhow::Result<Outcome> {
    let client = ConnSpec::resolve(args.db.as_deref())?.connect().await?;
    let inv = index_inventory(&client).await?;
    match args.format {
        Format::Json => print_json(&inv)?,
        f => print(&pgpilot_report::inventory_report(&inv, f.style()))?,
    }
    Ok(Outcome::Ok)
}
