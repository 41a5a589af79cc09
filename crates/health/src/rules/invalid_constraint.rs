//! `health.invalid_constraint`: a foreign key or check constraint added NOT VALID
//! and never validated. New rows are checked, existing ones were not, and the
//! planner cannot rely on it.

use pgpilot_findings::{Finding, Severity};

use super::{ev, finding};
use crate::facts::HealthFacts;
use crate::ident::{qualified, quote_ident};

/// Rule id.
pub(crate) const ID: &str = "health.invalid_constraint";

pub(crate) fn check(facts: &HealthFacts) -> Vec<Finding> {
    facts
        .invalid_constraints
        .iter()
        .map(|c| {
            let table = format!("{}.{}", c.schema, c.table);
            let mut f = finding(
                ID,
                Severity::Warning,
                format!("Constraint {} on {table} is NOT VALID", c.name),
                format!(
                    "The {} constraint {} was added NOT VALID: rows written since are \
                     checked, but rows that existed before never were, so some may violate it.",
                    c.kind, c.name
                ),
            );
            f.fix_sql = Some(format!(
                "ALTER TABLE {} VALIDATE CONSTRAINT {};",
                qualified(&c.schema, &c.table),
                quote_ident(&c.name)
            ));
            f.fix_hint = Some(
                "VALIDATE takes a SHARE UPDATE EXCLUSIVE lock: reads and writes go on while it \
                 scans. It fails if a row violates the constraint; fix those rows first."
                    .into(),
            );
            f.table = Some(table);
            ev(&mut f, "constraint", c.name.clone());
            ev(&mut f, "kind", c.kind.clone());
            ev(&mut f, "definition", c.definition.clone());
            f
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::ConstraintFacts;

    #[test]
    fn fires_with_validate() {
        let f = HealthFacts {
            invalid_constraints: vec![ConstraintFacts {
                schema: "public".into(),
                table: "Orders".into(),
                name: "orders_user_fk".into(),
                kind: "foreign key".into(),
                definition: "FOREIGN KEY (user_id) REFERENCES users(id) NOT VALID".into(),
            }],
            ..HealthFacts::default()
        };
        let v = check(&f);
        assert_eq!(
            v[0].fix_sql.as_deref(),
            Some("ALTER TABLE public.\"Orders\" VALIDATE CONSTRAINT orders_user_fk;")
        );
    }

    #[test]
    fn quiet_without_invalid_constraints() {
        assert!(check(&HealthFacts::default()).is_empty());
    }
}
