//! `lint.needless_distinct`: a `SELECT DISTINCT` whose rows are already distinct.
//!
//! Rows of a join are distinct when the select list contains a unique (NOT NULL)
//! key of every table, or when each table whose key is not selected is joined on
//! its whole unique key to tables whose rows are already identified (or pinned to
//! one row by `key = constant`): such a join matches at most one row and cannot
//! multiply rows. Then DISTINCT only adds a sort or a hash over the whole result.

use pgpilot_plan::{Finding, Severity};
use pgpilot_sql::{
    BlockOrigin, BlockShape, ColumnRef, Distinct, Operand, PredicateKind, SelectItem, TableSource,
};
use serde_json::Value;

use crate::catalog::UniqueKey;
use crate::util::{finding, relations};
use crate::LintInput;

pub(crate) const ID: &str = "lint.needless_distinct";

/// Why a table's rows cannot repeat in the result.
enum Reason {
    /// Its key is in the select list.
    Selected(Vec<String>),
    /// Joined on its whole key to identified tables (or constants).
    JoinedOnKey(Vec<String>),
}

fn selected(block: &BlockShape, table: &str, column: &str) -> bool {
    let rels: Vec<String> = relations(block).map(|t| t.qualified_name()).collect();
    block.select_list.iter().any(|item| match item {
        SelectItem::Star { table: None } => true,
        SelectItem::Star { table: Some(t) } => t == table,
        SelectItem::Column(c) => {
            c.column == column
                && match &c.table {
                    Some(t) => t == table,
                    None => rels.len() == 1,
                }
        }
        SelectItem::Expression { .. } => false,
    })
}

/// The column on the other side when `table.column` is equated to a column of
/// another table that is already identified.
fn joined_to_identified(
    block: &BlockShape,
    table: &str,
    column: &str,
    identified: &[String],
) -> Option<String> {
    let is = |c: &ColumnRef, t: &str| c.table.as_deref() == Some(t) && c.column == column;
    block.joins.iter().find_map(|j| {
        let other = if is(&j.left, table) {
            &j.right
        } else if is(&j.right, table) {
            &j.left
        } else {
            return None;
        };
        let t = other.table.as_deref()?;
        identified
            .iter()
            .any(|i| i == t)
            .then(|| format!("{t}.{}", other.column))
    })
}

/// `table.column = constant` (a single row at most when the key is fully pinned).
fn pinned(block: &BlockShape, table: &str, column: &str) -> bool {
    block.predicates_on(table).any(|p| {
        p.kind == PredicateKind::Eq
            && !p.in_or
            && !p.negated
            && p.target.column().is_some_and(|c| c.column == column)
            && matches!(
                p.values.as_slice(),
                [Operand::Const(_) | Operand::Param(_) | Operand::Expr(_)]
            )
    })
}

fn check_block(input: &LintInput<'_>, block: &BlockShape) -> Option<Finding> {
    if block.distinct != Distinct::All || !block.group_by.is_empty() {
        return None;
    }
    if block.tables.is_empty()
        || block
            .tables
            .iter()
            .any(|t| t.source != TableSource::Relation)
    {
        return None;
    }
    let names: Vec<String> = block.tables.iter().map(|t| t.qualified_name()).collect();
    let mut keys: Vec<(String, Vec<&UniqueKey>)> = Vec::new();
    for n in &names {
        let facts = input.catalog.table(n)?;
        keys.push((n.clone(), facts.row_keys().collect()));
    }
    let mut identified: Vec<String> = Vec::new();
    let mut reasons: Vec<(String, Reason)> = Vec::new();
    for (t, ks) in &keys {
        if let Some(k) = ks
            .iter()
            .find(|k| k.columns.iter().all(|c| selected(block, t, c)))
        {
            identified.push(t.clone());
            reasons.push((t.clone(), Reason::Selected(k.columns.clone())));
        }
    }
    // Tables joined on their whole key to identified ones, until nothing changes.
    loop {
        let mut changed = false;
        for (t, ks) in &keys {
            if identified.contains(t) {
                continue;
            }
            for k in ks {
                let sides: Option<Vec<String>> = k
                    .columns
                    .iter()
                    .map(|c| {
                        joined_to_identified(block, t, c, &identified)
                            .map(|o| format!("{t}.{c} = {o}"))
                            .or_else(|| pinned(block, t, c).then(|| format!("{t}.{c} = constant")))
                    })
                    .collect();
                if let Some(sides) = sides {
                    identified.push(t.clone());
                    reasons.push((t.clone(), Reason::JoinedOnKey(sides)));
                    changed = true;
                    break;
                }
            }
        }
        if !changed {
            break;
        }
    }
    if identified.len() != names.len()
        || !reasons
            .iter()
            .any(|(_, r)| matches!(r, Reason::Selected(_)))
    {
        return None;
    }
    let mut why: Vec<String> = Vec::new();
    let mut evidence_keys: Vec<Value> = Vec::new();
    for (t, r) in &reasons {
        match r {
            Reason::Selected(cols) => {
                why.push(format!(
                    "the select list contains {t}'s unique key ({})",
                    cols.join(", ")
                ));
                evidence_keys.push(Value::from(format!("{t} ({})", cols.join(", "))));
            }
            Reason::JoinedOnKey(sides) => {
                why.push(format!(
                    "{t} is joined on its whole unique key ({}), so it matches at most one row",
                    sides.join(" AND ")
                ));
                evidence_keys.push(Value::from(format!(
                    "{t} joined on {}",
                    sides.join(" AND ")
                )));
            }
        }
    }
    let mut f = finding(
        ID,
        Severity::Warning,
        format!("DISTINCT cannot remove any row ({})", names.join(", ")),
        format!(
            "Every row of this SELECT is already distinct: {}. DISTINCT therefore removes \
             nothing, but PostgreSQL still sorts or hashes the whole result to find \
             duplicates (and cannot stop early under a LIMIT). Remove it.",
            why.join("; ")
        ),
        Some(input),
    );
    f.table = reasons.first().map(|(t, _)| t.clone());
    f.columns = match reasons.first() {
        Some((_, Reason::Selected(c))) => c.clone(),
        _ => Vec::new(),
    };
    f.evidence
        .insert("keys".into(), Value::Array(evidence_keys));
    if block.origin == BlockOrigin::Statement {
        if let Some(q) = without_distinct(input.query) {
            f.fix_sql = Some(q);
        }
    }
    f.fix_hint = Some(
        "Drop the DISTINCT keyword; the result is identical. If duplicates were \
         expected, a join is missing a condition."
            .to_string(),
    );
    Some(f)
}

/// The query with its only `SELECT DISTINCT` turned into `SELECT` (`None` when
/// there is not exactly one plain `SELECT DISTINCT` outside quotes).
fn without_distinct(sql: &str) -> Option<String> {
    let lower = sql.to_ascii_lowercase();
    let bytes = lower.as_bytes();
    let mut hits: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    let mut quote: Option<u8> = None;
    while i < bytes.len() {
        let c = bytes[i];
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        if c == b'\'' || c == b'"' {
            quote = Some(c);
            i += 1;
            continue;
        }
        let word_start = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        if word_start && bytes[i..].starts_with(b"select") {
            let mut j = i + 6;
            let ws = j;
            while j < bytes.len() && bytes[j].is_ascii_whitespace() {
                j += 1;
            }
            if j > ws && bytes[j..].starts_with(b"distinct") {
                let end = j + 8;
                let boundary = bytes.get(end).is_none_or_ws_or_punct();
                let mut k = end;
                while k < bytes.len() && bytes[k].is_ascii_whitespace() {
                    k += 1;
                }
                let on = bytes[k..].starts_with(b"on") && bytes.get(k + 2).is_none_or_ws_or_punct();
                if boundary && !on {
                    hits.push((ws, k));
                }
            }
        }
        i += 1;
    }
    match hits.as_slice() {
        [(from, to)] => Some(
            format!("{} {}", &sql[..*from], &sql[*to..])
                .trim()
                .to_string(),
        ),
        _ => None,
    }
}

trait ByteBoundary {
    fn is_none_or_ws_or_punct(&self) -> bool;
}

impl ByteBoundary for Option<&u8> {
    fn is_none_or_ws_or_punct(&self) -> bool {
        match self {
            None => true,
            Some(b) => !(b.is_ascii_alphanumeric() || **b == b'_'),
        }
    }
}

pub(crate) fn check(input: &LintInput<'_>) -> Vec<Finding> {
    input
        .shape
        .blocks
        .iter()
        .filter_map(|b| check_block(input, b))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lints::test_support::run;

    const ADX: &str = "SELECT DISTINCT u.id, u.email, u.name, u.status, r.role_name FROM users u \
         JOIN roles r ON r.id = u.role_id WHERE u.created_at > NOW() - INTERVAL '7 days' \
         AND u.status = $1 ORDER BY u.id";

    #[test]
    fn fires_on_adx_recent_signups() {
        let f = run(ADX, check);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].id, ID);
        assert_eq!(f[0].table.as_deref(), Some("users"));
        assert_eq!(f[0].columns, ["id"]);
        assert!(
            f[0].explanation.contains("users's unique key (id)"),
            "{}",
            f[0].explanation
        );
        let fix = f[0].fix_sql.as_deref().expect("rewritten query");
        assert!(fix.starts_with("SELECT u.id, u.email"), "{fix}");
        assert!(!fix.to_ascii_lowercase().contains("distinct"));
    }

    #[test]
    fn fires_when_a_table_is_joined_on_its_primary_key() {
        let f = run(
            "SELECT DISTINCT u.id, r.description FROM users u JOIN roles r ON r.id = u.role_id",
            check,
        );
        assert_eq!(f.len(), 1, "{f:#?}");
        assert!(
            f[0].explanation
                .contains("roles is joined on its whole unique key (roles.id = users.role_id)"),
            "{}",
            f[0].explanation
        );
    }

    #[test]
    fn fires_with_a_selected_email_key_and_a_single_table() {
        assert_eq!(
            run("SELECT DISTINCT email, name FROM users", check).len(),
            1
        );
        assert_eq!(
            run("select distinct * from roles where id > 3", check).len(),
            1
        );
    }

    #[test]
    fn quiet_when_rows_can_repeat() {
        // Joined on a non-key column of roles: a user row can match many roles.
        assert!(run(
            "SELECT DISTINCT u.id, r.description FROM users u JOIN roles r ON r.description = u.name",
            check
        )
        .is_empty());
        // No key of users selected.
        assert!(run("SELECT DISTINCT u.status FROM users u", check).is_empty());
        // profiles joined on user_id (not a key of profiles) multiplies users.
        assert!(run(
            "SELECT DISTINCT u.id FROM users u JOIN profiles p ON p.user_id = u.id",
            check
        )
        .is_empty());
        // DISTINCT ON is a different thing; unknown tables are not judged.
        assert!(run("SELECT DISTINCT ON (id) id FROM users", check).is_empty());
        assert!(run("SELECT DISTINCT id FROM unknown_table", check).is_empty());
        assert!(run("SELECT id FROM users", check).is_empty());
    }

    #[test]
    fn rewrite_keeps_everything_else() {
        assert_eq!(
            without_distinct("select  Distinct a from t where b = 'select distinct'").as_deref(),
            Some("select a from t where b = 'select distinct'")
        );
        assert_eq!(without_distinct("SELECT DISTINCT ON (a) a FROM t"), None);
        assert_eq!(
            without_distinct("SELECT DISTINCT a FROM t UNION SELECT DISTINCT b FROM u"),
            None
        );
    }
}
