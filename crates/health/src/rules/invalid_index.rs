//! `health.invalid_index`: an index left INVALID by a failed `CREATE INDEX
//! CONCURRENTLY` (or `REINDEX CONCURRENTLY`). Queries never use it, yet writes
//! still maintain it.

use pgpilot_findings::{Finding, Severity};

use super::{concurrent_create, ev, finding, human_bytes};
use crate::facts::HealthFacts;
use crate::ident::qualified;

/// Rule id.
pub(crate) const ID: &str = "health.invalid_index";

pub(crate) fn check(facts: &HealthFacts) -> Vec<Finding> {
    let mut out = Vec::new();
    for i in &facts.indexes {
        if i.valid || i.build_in_progress {
            continue;
        }
        let mut f = finding(
            ID,
            Severity::Warning,
            format!("Index {}.{} is INVALID", i.schema, i.name),
            format!(
                "A concurrent build of {} failed (a unique violation, a deadlock, a cancel) and \
                 left it INVALID: the planner never uses it, but every write to {} still \
                 updates it{}.",
                i.name,
                i.table_display(),
                if i.unique {
                    ", and it enforces no uniqueness"
                } else {
                    ""
                }
            ),
        );
        let drop = format!(
            "DROP INDEX CONCURRENTLY IF EXISTS {};",
            qualified(&i.schema, &i.name)
        );
        f.fix_sql = Some(match concurrent_create(&i.definition) {
            Some(create) => format!("{drop}\n{create}"),
            None => drop,
        });
        f.fix_hint = Some(if i.unique {
            "Run the two statements separately (neither can run in a transaction block). A \
             unique build fails again while duplicate values remain: find and remove them first."
                .into()
        } else {
            "Run the two statements separately (neither can run in a transaction block); if the \
             index is not needed, the DROP alone is enough."
                .into()
        });
        f.table = Some(i.table_display());
        f.columns = i.columns.iter().map(|c| c.expr.clone()).collect();
        ev(&mut f, "index", i.name.clone());
        ev(&mut f, "definition", i.definition.clone());
        ev(&mut f, "index_size", human_bytes(i.bytes));
        out.push(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{facts, index};

    #[test]
    fn fires_with_drop_and_concurrent_recreate() {
        let mut i = index("t", "t_a_idx", &["a"]);
        i.valid = false;
        i.unique = true;
        i.definition = "CREATE UNIQUE INDEX t_a_idx ON public.t USING btree (a)".into();
        let v = check(&facts(vec![], vec![i]));
        assert_eq!(v.len(), 1);
        assert_eq!(
            v[0].fix_sql.as_deref(),
            Some(
                "DROP INDEX CONCURRENTLY IF EXISTS public.t_a_idx;\n\
                 CREATE UNIQUE INDEX CONCURRENTLY t_a_idx ON public.t USING btree (a);"
            )
        );
    }

    #[test]
    fn quiet_on_valid_or_building_indexes() {
        let mut building = index("t", "b", &["a"]);
        building.valid = false;
        building.build_in_progress = true;
        assert!(check(&facts(vec![], vec![index("t", "ok", &["a"]), building])).is_empty());
    }
}
