//! `health.fk_without_index`: a foreign key whose referencing columns lead no
//! valid, non-partial index. Every DELETE (or key UPDATE) on the parent then scans
//! the child table, and joins on the key cannot use an index.

use pgpilot_findings::{Finding, Severity};

use super::{ev, finding, human_bytes, new_index_name, table};
use crate::facts::{ForeignKeyFacts, HealthFacts, IndexFacts};
use crate::ident::{qualified, quote_ident};

/// Rule id.
pub(crate) const ID: &str = "health.fk_without_index";
/// Child tables with at least this many rows give a warning; smaller ones an info.
const WARN_ROWS: i64 = 1_000;

/// Whether a valid, non-partial index starts with exactly the key's columns (in
/// any order): what PostgreSQL needs to find the referencing rows.
/// Whether `i` can find the rows referencing a parent key of `fk`: a valid,
/// non-partial B-tree (or single-column hash) whose leading key columns are,
/// in any order, exactly the foreign key's columns.
pub(crate) fn index_serves_fk(i: &IndexFacts, fk: &ForeignKeyFacts) -> bool {
    let n = fk.columns.len();
    n > 0
        && i.schema == fk.schema
        && i.table == fk.table
        && i.valid
        && i.predicate.is_none()
        && (i.method == "btree" || (i.method == "hash" && n == 1))
        && i.columns.len() >= n
        && {
            let mut lead: Vec<&str> = i.columns[..n]
                .iter()
                .filter_map(|c| c.attname.as_deref())
                .collect();
            let mut want: Vec<&str> = fk.columns.iter().map(String::as_str).collect();
            lead.sort_unstable();
            want.sort_unstable();
            lead == want
        }
}

fn has_usable_index(facts: &HealthFacts, fk: &ForeignKeyFacts) -> bool {
    facts.indexes.iter().any(|i| index_serves_fk(i, fk))
}

pub(crate) fn check(facts: &HealthFacts) -> Vec<Finding> {
    let mut out = Vec::new();
    for fk in &facts.foreign_keys {
        if fk.columns.is_empty() || has_usable_index(facts, fk) {
            continue;
        }
        let child = table(facts, &fk.schema, &fk.table);
        let rows = child.map(|t| t.rows()).unwrap_or(0);
        let severity = if rows >= WARN_ROWS {
            Severity::Warning
        } else {
            Severity::Info
        };
        let cols = fk.columns.join(", ");
        let child_name = format!("{}.{}", fk.schema, fk.table);
        let parent_name = format!("{}.{}", fk.referenced_schema, fk.referenced_table);
        let mut f = finding(
            ID,
            severity,
            format!("Foreign key {child_name}({cols}) → {parent_name} has no index"),
            format!(
                "Every DELETE on {parent_name} (and every UPDATE of its key) must find the \
                 referencing rows of {child_name}; with no index on {child_name}({cols}) that \
                 is a sequential scan of {child_name} per parent row{}, and joins on {cols} \
                 cannot use an index either.",
                if fk.on_delete == "CASCADE" {
                    ", while locks are held (ON DELETE CASCADE)"
                } else {
                    ""
                }
            ),
        );
        let name = new_index_name(facts, &fk.schema, &fk.table, &fk.columns);
        let quoted_cols: Vec<String> = fk.columns.iter().map(|c| quote_ident(c)).collect();
        f.fix_sql = Some(format!(
            "CREATE INDEX CONCURRENTLY {} ON {} ({});",
            quote_ident(&name),
            qualified(&fk.schema, &fk.table),
            quoted_cols.join(", ")
        ));
        f.fix_hint = Some(
            "CREATE INDEX CONCURRENTLY does not block writes but cannot run inside a \
             transaction block; if it fails it leaves an INVALID index to drop before retrying."
                .into(),
        );
        f.table = Some(child_name);
        f.columns = fk.columns.clone();
        ev(&mut f, "constraint", fk.name.clone());
        ev(&mut f, "referenced_table", parent_name);
        ev(&mut f, "on_delete", fk.on_delete.clone());
        ev(&mut f, "child_rows", rows);
        if let Some(t) = child {
            ev(&mut f, "child_size", human_bytes(t.table_bytes));
        }
        out.push(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{facts, index, table};

    fn fk(cols: &[&str]) -> ForeignKeyFacts {
        ForeignKeyFacts {
            name: "profiles_user_id_fkey".into(),
            schema: "public".into(),
            table: "profiles".into(),
            columns: cols.iter().map(|c| c.to_string()).collect(),
            referenced_schema: "public".into(),
            referenced_table: "users".into(),
            referenced_columns: vec!["id".into()],
            on_delete: "CASCADE".into(),
        }
    }

    #[test]
    fn fires_on_an_unindexed_key() {
        let mut f = facts(
            vec![table("profiles", 10_000)],
            vec![index("profiles", "profiles_pkey", &["id"])],
        );
        f.foreign_keys.push(fk(&["user_id"]));
        let v = check(&f);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].severity, Severity::Warning);
        assert_eq!(v[0].columns, vec!["user_id".to_string()]);
        assert_eq!(
            v[0].fix_sql.as_deref(),
            Some("CREATE INDEX CONCURRENTLY profiles_user_id_idx ON public.profiles (user_id);")
        );
    }

    #[test]
    fn quiet_when_an_index_leads_with_the_key() {
        let mut f = facts(
            vec![table("profiles", 10_000)],
            vec![index(
                "profiles",
                "p_uid_created",
                &["created_at", "user_id"],
            )],
        );
        f.foreign_keys.push(fk(&["user_id", "created_at"]));
        assert!(
            check(&f).is_empty(),
            "column order within the key does not matter"
        );

        let mut partial = index("profiles", "p_uid", &["user_id"]);
        partial.predicate = Some("(user_id > 0)".into());
        let mut f = facts(vec![table("profiles", 10)], vec![partial]);
        f.foreign_keys.push(fk(&["user_id"]));
        let v = check(&f);
        assert_eq!(v.len(), 1, "a partial index does not count");
        assert_eq!(v[0].severity, Severity::Info, "small child table");
    }
}
