//! The lints, one per file. Statement lints read a [`LintInput`]; the N+1 lint
//! reads a workload's N+1 pairs.

use pgpilot_plan::Finding;

use crate::LintInput;

mod large_offset;
mod leading_wildcard;
mod n_plus_one;
mod needless_distinct;
mod non_sargable;
mod not_in_subquery;
mod select_star;

pub use n_plus_one::lint_n_plus_one;

/// Stable ids of all lints.
pub const LINT_IDS: &[&str] = &[
    needless_distinct::ID,
    non_sargable::ID,
    leading_wildcard::ID,
    not_in_subquery::ID,
    large_offset::ID,
    select_star::ID,
    n_plus_one::ID,
];

type Lint = fn(&LintInput<'_>) -> Vec<Finding>;

const STATEMENT_LINTS: &[Lint] = &[
    needless_distinct::check,
    non_sargable::check,
    leading_wildcard::check,
    not_in_subquery::check,
    large_offset::check,
    select_star::check,
];

/// Runs every statement lint (all but `lint.n_plus_one`) on one statement; most
/// severe first.
pub fn lint_query(input: &LintInput<'_>) -> Vec<Finding> {
    let mut out: Vec<Finding> = STATEMENT_LINTS.iter().flat_map(|l| l(input)).collect();
    out.sort_by(|a, b| b.severity.cmp(&a.severity).then_with(|| a.id.cmp(&b.id)));
    out
}

#[cfg(test)]
pub(crate) mod test_support {
    use pgpilot_plan::Finding;
    use pgpilot_sql::QueryShape;

    use crate::{CatalogFacts, LintConfig, LintInput};

    /// Findings of one lint on `sql`.
    pub fn run_with(
        sql: &str,
        catalog: &CatalogFacts,
        calls: Option<u64>,
        samples: &[Vec<Option<String>>],
        lint: super::Lint,
    ) -> Vec<Finding> {
        let shape = QueryShape::parse(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        let config = LintConfig::default();
        let input = LintInput {
            calls,
            samples,
            ..LintInput::new(sql, &shape, catalog, &config)
        };
        lint(&input)
    }

    /// Findings of one lint on `sql` with the ADX catalog.
    pub fn run(sql: &str, lint: super::Lint) -> Vec<Finding> {
        run_with(sql, &crate::util::test_support::adx(), None, &[], lint)
    }
}
