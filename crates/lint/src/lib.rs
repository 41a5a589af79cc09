//! `pgpilot-lint` finds problems in the text of a query, before or without running
//! it: a `DISTINCT` that cannot remove anything, a function wrapped around an
//! indexed column, a `LIKE '%x'`, `NOT IN (subquery)`, a large `OFFSET`, `SELECT *`
//! on a wide table in a hot query, and N+1 patterns of a captured workload. Each
//! lint lives in its own file under `lints/`, has a stable id (`lint.needless_distinct`,
//! …) and produces the same [`Finding`] as the plan rules of `pgpilot-plan`, with the
//! evidence, a plain-language explanation and the SQL (or the rewritten query) that
//! fixes it. Lints read a statement's [`QueryShape`] (from `pgpilot-sql`) and
//! [`CatalogFacts`] (unique keys, indexes, column counts, read by `pgpilot-db`).
//! It is pure: no I/O, no database, no panics on any input.
//!
//! ```
//! use pgpilot_lint::{lint_sql, CatalogFacts, LintConfig};
//! let findings = lint_sql(
//!     "SELECT * FROM users WHERE name LIKE '%son'",
//!     &CatalogFacts::default(),
//!     &LintConfig::default(),
//! )
//! .expect("parses");
//! assert_eq!(findings[0].id, "lint.leading_wildcard");
//! ```

mod catalog;
mod lints;
mod util;
mod workload;

use serde::{Deserialize, Serialize};

pub use catalog::{normalize_expr, CatalogFacts, IndexFacts, IndexKey, TableCatalog, UniqueKey};
pub use lints::{lint_n_plus_one, lint_query, LINT_IDS};
pub use pgpilot_plan::{Finding, Severity};
pub use pgpilot_sql::QueryShape;
pub use workload::{lint_workload, lint_workload_with, WorkloadLints};

/// Why a statement could not be linted.
#[derive(Debug, thiserror::Error)]
pub enum LintError {
    /// PostgreSQL's parser rejected the statement.
    #[error("cannot lint the statement: {0}")]
    Parse(#[from] pgpilot_sql::SqlError),
}

/// Thresholds of the lints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LintConfig {
    /// `lint.select_star`: a table with at least this many columns is wide.
    pub wide_table_columns: usize,
    /// `lint.select_star`: a statement called at least this often is hot.
    pub hot_query_calls: u64,
    /// `lint.large_offset`: an OFFSET at least this large is flagged.
    pub large_offset: u64,
}

impl Default for LintConfig {
    fn default() -> Self {
        LintConfig {
            wide_table_columns: 15,
            hot_query_calls: 1000,
            large_offset: 1000,
        }
    }
}

/// One statement to lint, with what is known about it.
#[derive(Debug, Clone, Copy)]
pub struct LintInput<'a> {
    /// The statement's text (copied into each finding's `query`).
    pub query: &'a str,
    /// Its parsed shape.
    pub shape: &'a QueryShape,
    /// Catalog facts of its tables (missing tables make the lints that need them quiet).
    pub catalog: &'a CatalogFacts,
    /// Calls, when known from a workload; `None` for a single ad-hoc query.
    pub calls: Option<u64>,
    /// Sampled `$1..$n` values of real executions (for OFFSET and LIKE parameters).
    pub samples: &'a [Vec<Option<String>>],
    /// Thresholds.
    pub config: &'a LintConfig,
}

impl<'a> LintInput<'a> {
    /// An input with no calls and no samples.
    pub fn new(
        query: &'a str,
        shape: &'a QueryShape,
        catalog: &'a CatalogFacts,
        config: &'a LintConfig,
    ) -> Self {
        LintInput {
            query,
            shape,
            catalog,
            calls: None,
            samples: &[],
            config,
        }
    }

    /// Sampled values of parameter `$n` (1-based), NULLs skipped.
    pub(crate) fn param_values(&self, n: i32) -> impl Iterator<Item = &'a str> + 'a {
        let i = usize::try_from(n).ok().and_then(|n| n.checked_sub(1));
        self.samples
            .iter()
            .filter_map(move |s| i.and_then(|i| s.get(i)))
            .filter_map(|v| v.as_deref())
    }
}

/// Parses `sql` and runs every statement lint on it (no calls, no samples).
pub fn lint_sql(
    sql: &str,
    catalog: &CatalogFacts,
    config: &LintConfig,
) -> Result<Vec<Finding>, LintError> {
    let shape = QueryShape::parse(sql)?;
    Ok(lint_query(&LintInput::new(sql, &shape, catalog, config)))
}
