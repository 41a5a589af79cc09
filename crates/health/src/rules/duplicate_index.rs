//! `health.duplicate_index`: an index another index makes unnecessary — same key
//! columns, or a prefix of another's, with the same method and predicate (see
//! [`crate::redundancy`]).

use pgpilot_findings::{Finding, Severity};

use super::{concurrent_create, ev, finding, human_bytes};
use crate::facts::HealthFacts;
use crate::ident::qualified;
use crate::redundancy::{redundant_indexes, RedundancyKind};

/// Rule id.
pub(crate) const ID: &str = "health.duplicate_index";

pub(crate) fn check(facts: &HealthFacts) -> Vec<Finding> {
    let mut out = Vec::new();
    for r in redundant_indexes(&facts.indexes) {
        let (Some(i), Some(by)) = (facts.indexes.get(r.index), facts.indexes.get(r.covered_by))
        else {
            continue;
        };
        let cols: Vec<String> = i.columns.iter().map(|c| c.expr.clone()).collect();
        let by_cols: Vec<String> = by.columns.iter().map(|c| c.expr.clone()).collect();
        let (title, why) = match r.kind {
            RedundancyKind::Duplicate => (
                format!("Index {}.{} duplicates {}", i.schema, i.name, by.name),
                format!("{} has the same key columns ({})", by.name, cols.join(", ")),
            ),
            RedundancyKind::Redundant => (
                format!(
                    "Index {}.{} is redundant with {}",
                    i.schema, i.name, by.name
                ),
                format!(
                    "the key columns of {} ({}) start with all of its key columns ({})",
                    by.name,
                    by_cols.join(", "),
                    cols.join(", ")
                ),
            ),
        };
        let mut f = finding(
            ID,
            Severity::Warning,
            title,
            format!(
                "{why}, with the same access method and predicate, so it can serve every query \
                 {} serves. Dropping {} saves {} and the cost of maintaining it on every write.",
                i.name,
                i.name,
                human_bytes(i.bytes)
            ),
        );
        f.fix_sql = Some(format!(
            "DROP INDEX CONCURRENTLY {};",
            qualified(&i.schema, &i.name)
        ));
        if let Some(create) = concurrent_create(&i.definition) {
            f.fix_hint = Some(format!("To roll back: {create}"));
            ev(&mut f, "rollback_sql", create);
        }
        f.table = Some(i.table_display());
        f.columns = cols;
        ev(&mut f, "index", i.name.clone());
        ev(&mut f, "covered_by", by.name.clone());
        ev(&mut f, "covered_by_definition", by.definition.clone());
        ev(
            &mut f,
            "kind",
            match r.kind {
                RedundancyKind::Duplicate => "duplicate",
                RedundancyKind::Redundant => "redundant",
            },
        );
        ev(&mut f, "index_bytes", i.bytes);
        ev(&mut f, "scans", i.scans);
        out.push(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{facts, index};

    #[test]
    fn fires_on_a_prefix_index() {
        let v = check(&facts(
            vec![],
            vec![
                index("t", "t_a_idx", &["a"]),
                index("t", "t_a_b_idx", &["a", "b"]),
            ],
        ));
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].evidence["covered_by"], "t_a_b_idx");
        assert_eq!(
            v[0].fix_sql.as_deref(),
            Some("DROP INDEX CONCURRENTLY public.t_a_idx;")
        );
    }

    #[test]
    fn quiet_when_columns_differ() {
        let v = check(&facts(
            vec![],
            vec![
                index("t", "t_a_idx", &["a"]),
                index("t", "t_b_a_idx", &["b", "a"]),
            ],
        ));
        assert!(v.is_empty());
    }
}
