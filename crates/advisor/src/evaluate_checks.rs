//! The pure checks of a draft index: what PostgreSQL is known to reject without
//! asking the server (missing columns, non-IMMUTABLE functions in a predicate or
//! expression, subqueries, options an access method lacks, too many columns, a
//! UNIQUE index over columns the statistics say are duplicated), and the index
//! model of a statement.

use pgpilot_sql::{IndexStatement, KeyTarget, SqlExpr};

use crate::{IndexDef, IndexKey, KeyExpr, TableInfo};

/// PostgreSQL's `INDEX_MAX_KEYS` (key and INCLUDE columns together).
const INDEX_MAX_KEYS: usize = 32;

/// Why a function makes an index predicate or expression non-IMMUTABLE.
fn mutability(name: &str) -> Option<&'static str> {
    let bare = name.strip_prefix("pg_catalog.").unwrap_or(name);
    Some(match bare {
        "now"
        | "current_timestamp"
        | "transaction_timestamp"
        | "statement_timestamp"
        | "clock_timestamp"
        | "timeofday"
        | "current_date"
        | "current_time"
        | "localtime"
        | "localtimestamp" => {
            "changes over time, so the set of rows in the index would silently go stale \
             (PostgreSQL evaluates it once, when a row is written, never again)"
        }
        "random" | "random_normal" | "setseed" | "gen_random_uuid" | "uuidv4" | "uuidv7"
        | "uuid_generate_v1" | "uuid_generate_v1mc" | "uuid_generate_v4" => {
            "returns a different value at every call, so the index could not be searched \
             consistently"
        }
        "nextval" | "currval" | "lastval" | "setval" => {
            "reads or advances a sequence, a different value at every call"
        }
        "current_user" | "session_user" | "current_role" | "user" | "current_schema"
        | "current_schemas" | "current_catalog" | "current_database" | "current_setting"
        | "pg_backend_pid" | "inet_client_addr" | "txid_current" | "pg_current_xact_id" => {
            "depends on the session that evaluates it, so rows written by different \
             sessions would be indexed inconsistently"
        }
        _ => return None,
    })
}

/// `NOW()`, `CURRENT_TIMESTAMP`: how the function is written in a message.
fn display_function(name: &str) -> String {
    let bare = name.strip_prefix("pg_catalog.").unwrap_or(name);
    let keyword = matches!(
        bare,
        "current_timestamp"
            | "current_date"
            | "current_time"
            | "localtime"
            | "localtimestamp"
            | "current_user"
            | "session_user"
            | "current_role"
            | "user"
            | "current_catalog"
    );
    if keyword {
        bare.to_uppercase()
    } else {
        format!("{}()", bare.to_uppercase())
    }
}

/// The first non-IMMUTABLE function of `expr`, with why it is rejected.
fn mutable_function(expr: &SqlExpr) -> Option<(String, &'static str)> {
    expr.functions
        .iter()
        .find_map(|f| mutability(f).map(|why| (display_function(f), why)))
}

/// What a built-in access method supports (PostgreSQL's `amcanunique`,
/// `amcaninclude`, `amcanmulticol`, `amcanorder`); `None` for extension methods,
/// which only the server can judge.
fn capabilities(method: &str) -> Option<(bool, bool, bool, bool)> {
    // (unique, include, multicolumn, order)
    Some(match method {
        "btree" => (true, true, true, true),
        "hash" => (false, false, false, false),
        "gist" => (false, true, true, false),
        "spgist" => (false, true, false, false),
        "gin" => (false, false, true, false),
        "brin" => (false, false, true, false),
        _ => return None,
    })
}

/// Why PostgreSQL would reject `stmt` on `table`, as far as can be told without
/// the server; `None` when nothing is known to be wrong.
pub(super) fn pure_check(stmt: &IndexStatement, table: &TableInfo) -> Option<String> {
    let tname = table.qualified_name();
    if stmt.keys.is_empty() {
        return Some("an index needs at least one key column".to_string());
    }
    // Subqueries, then non-IMMUTABLE functions, then columns (the server's order).
    if let Some(p) = &stmt.predicate {
        if p.has_subquery {
            return Some(format!(
                "cannot use subquery in index predicate ({}): an index predicate may only \
                 use the row's own columns and IMMUTABLE functions",
                p.text
            ));
        }
        if let Some((f, why)) = mutable_function(p) {
            return Some(format!(
                "functions in index predicate must be marked IMMUTABLE: {f} {why}; use a \
                 fixed cutoff literal (re-create the index when it should move) or no \
                 predicate — a plain index on the key columns serves `{}` as a range scan",
                p.text
            ));
        }
    }
    for k in &stmt.keys {
        if let KeyTarget::Expression(e) = &k.target {
            if e.has_subquery {
                return Some(format!(
                    "cannot use subquery in index expression ({})",
                    e.text
                ));
            }
            if let Some((f, why)) = mutable_function(e) {
                return Some(format!(
                    "functions in index expression must be marked IMMUTABLE: {f} {why}; \
                     index the column itself, or an IMMUTABLE expression of it",
                ));
            }
        }
    }
    let mut columns: Vec<&str> = Vec::new();
    for k in &stmt.keys {
        match &k.target {
            KeyTarget::Column(c) => columns.push(c),
            KeyTarget::Expression(e) => columns.extend(e.columns.iter().map(String::as_str)),
        }
    }
    columns.extend(stmt.include.iter().map(String::as_str));
    if let Some(p) = &stmt.predicate {
        columns.extend(p.columns.iter().map(String::as_str));
    }
    if let Some(missing) = columns.iter().find(|c| table.column(c).is_none()) {
        return Some(format!(
            "column \"{missing}\" does not exist in table {tname} (its columns: {})",
            column_list(table)
        ));
    }
    let total = stmt.keys.len() + stmt.include.len();
    if total > INDEX_MAX_KEYS {
        return Some(format!(
            "cannot use more than {INDEX_MAX_KEYS} columns in an index ({total} given)"
        ));
    }
    if let Some((unique, include, multi, order)) = capabilities(&stmt.method) {
        let m = &stmt.method;
        if stmt.unique && !unique {
            return Some(format!(
                "access method \"{m}\" does not support unique indexes"
            ));
        }
        if !stmt.include.is_empty() && !include {
            return Some(format!(
                "access method \"{m}\" does not support included columns"
            ));
        }
        if stmt.keys.len() > 1 && !multi {
            return Some(format!(
                "access method \"{m}\" does not support multicolumn indexes"
            ));
        }
        if !order {
            if stmt.keys.iter().any(|k| k.descending) {
                return Some(format!(
                    "access method \"{m}\" does not support ASC/DESC options"
                ));
            }
            if stmt.keys.iter().any(|k| k.nulls_first.is_some()) {
                return Some(format!(
                    "access method \"{m}\" does not support NULLS FIRST/LAST options"
                ));
            }
        }
    }
    duplicated_unique(stmt, table)
}

/// A UNIQUE index on one column whose statistics show many repeated values: the
/// build would fail on the duplicates.
fn duplicated_unique(stmt: &IndexStatement, table: &TableInfo) -> Option<String> {
    if !stmt.unique || stmt.keys.len() != 1 || stmt.predicate.is_some() || table.rows < 1000.0 {
        return None;
    }
    let KeyTarget::Column(c) = &stmt.keys[0].target else {
        return None;
    };
    let col = table.column(c)?;
    let nd = col.n_distinct?;
    let distinct = if nd < 0.0 { -nd * table.rows } else { nd };
    let null_frac = if stmt.nulls_not_distinct {
        0.0
    } else {
        col.null_frac.unwrap_or(0.0)
    };
    let non_null = table.rows * (1.0 - null_frac);
    (distinct > 0.0 && distinct < 0.5 * non_null).then(|| {
        format!(
            "could not create unique index: the statistics of {} estimate about {:.0} \
             distinct values of \"{c}\" across {:.0} rows, so the build would stop at the \
             first duplicated key (deduplicate the data or drop UNIQUE)",
            table.qualified_name(),
            distinct,
            non_null
        )
    })
}

fn column_list(table: &TableInfo) -> String {
    const SHOWN: usize = 12;
    let mut names: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
    if names.len() > SHOWN {
        names.truncate(SHOWN);
        names.push("…");
    }
    names.join(", ")
}

/// The index model of a statement on a resolved table.
pub(super) fn index_def(stmt: &IndexStatement, table: &TableInfo) -> IndexDef {
    let keys = stmt
        .keys
        .iter()
        .map(|k| IndexKey {
            expr: match &k.target {
                KeyTarget::Column(c) => KeyExpr::Column(c.clone()),
                KeyTarget::Expression(e) => KeyExpr::Expression(e.text.clone()),
            },
            descending: k.descending,
            // Written but equal to the direction's default: the same index.
            nulls_first: k.nulls_first.filter(|&f| f != k.descending),
        })
        .collect();
    IndexDef {
        schema: table.schema.clone(),
        table: table.table.clone(),
        method: stmt.method.clone(),
        keys,
        include: stmt.include.clone(),
        predicate: stmt.predicate.as_ref().map(|p| p.text.clone()),
        unique: stmt.unique,
    }
}

/// What of the statement the index model cannot carry into the what-if check.
pub(super) fn unmodelled(stmt: &IndexStatement) -> String {
    let mut parts = Vec::new();
    for k in &stmt.keys {
        if let Some(o) = &k.opclass {
            parts.push(format!("operator class {o}"));
        }
        if let Some(c) = &k.collation {
            parts.push(format!("collation \"{c}\""));
        }
    }
    parts.join(" and ")
}

/// `existing` makes `draft` pointless: same leading keys (as a prefix), method and
/// predicate, the draft's INCLUDE columns stored by it, and no UNIQUE constraint
/// that only the draft would enforce.
pub(super) fn duplicates(existing: &IndexDef, draft: &IndexDef) -> bool {
    existing.covers_prefix(draft)
        && draft
            .include
            .iter()
            .all(|c| existing.stored_columns().contains(&c.as_str()))
        && (!draft.unique || (existing.unique && existing.keys.len() == draft.keys.len()))
}

/// The same index (whatever its name).
pub(super) fn same_index(a: &IndexDef, b: &IndexDef) -> bool {
    a.keys.len() == b.keys.len() && a.covers_prefix(b) && a.include == b.include
}
