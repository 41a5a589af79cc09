//! Facts about a query shape that candidate generation and selection share:
//! which catalog table a column reference belongs to, which columns of each
//! table a query uses (and how), which table a write statement writes, and
//! whether an expression is safe to index.

use std::collections::{BTreeMap, BTreeSet};

use pgpilot_sql::{
    BlockShape, ColumnRef, Distinct, Operand, PredicateKind, QueryShape, SelectItem, StatementKind,
    TableSource, Target,
};

use crate::{Catalog, TableInfo};

/// Functions whose result is not IMMUTABLE (so PostgreSQL refuses them in an
/// index expression or a partial-index predicate), plus aggregates and window
/// functions (which only appear in HAVING / ORDER BY, never in an index). This
/// is a first filter only: every expression or partial candidate is also
/// checked with [`crate::WhatIf::validate`] before it is evaluated.
const NOT_INDEXABLE_FUNCTIONS: &[&str] = &[
    // time and session dependent (STABLE or VOLATILE)
    "now",
    "current_timestamp",
    "current_date",
    "current_time",
    "localtime",
    "localtimestamp",
    "clock_timestamp",
    "statement_timestamp",
    "transaction_timestamp",
    "timeofday",
    "age",
    "current_user",
    "current_role",
    "session_user",
    "user",
    "current_schema",
    "current_database",
    "current_setting",
    "current_catalog",
    "pg_backend_pid",
    "txid_current",
    "pg_current_xact_id",
    "inet_client_addr",
    // random and sequences
    "random",
    "random_normal",
    "setseed",
    "gen_random_uuid",
    "uuid_generate_v1",
    "uuid_generate_v4",
    "nextval",
    "currval",
    "lastval",
    "setval",
    // aggregates and window functions
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "array_agg",
    "string_agg",
    "json_agg",
    "jsonb_agg",
    "json_object_agg",
    "jsonb_object_agg",
    "bool_and",
    "bool_or",
    "every",
    "bit_and",
    "bit_or",
    "stddev",
    "variance",
    "percentile_cont",
    "percentile_disc",
    "mode",
    "row_number",
    "rank",
    "dense_rank",
    "lag",
    "lead",
    "first_value",
    "last_value",
    "ntile",
];

/// Column types with no default B-tree operator class: never index keys.
const NO_BTREE_TYPES: &[&str] = &[
    "json", "xml", "point", "polygon", "box", "circle", "line", "lseg", "path",
];

/// Whether a column of type `type_name` can be a B-tree key.
pub(crate) fn btree_type(type_name: &str) -> bool {
    let base = type_name.trim_end_matches("[]");
    !NO_BTREE_TYPES.contains(&base)
}

/// Identifier-like words of `text` outside string literals, lowercased unless
/// double-quoted, each with whether an opening parenthesis follows it.
fn words(text: &str) -> Vec<(String, bool, std::ops::Range<usize>)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'\'' {
            i += 1;
            while i < b.len() {
                if b[i] == b'\'' {
                    if b.get(i + 1) == Some(&b'\'') {
                        i += 2;
                        continue;
                    }
                    break;
                }
                i += 1;
            }
            i += 1;
        } else if c == b'"' {
            let start = i;
            let mut name = String::new();
            i += 1;
            while i < b.len() {
                if b[i] == b'"' {
                    if b.get(i + 1) == Some(&b'"') {
                        name.push('"');
                        i += 2;
                        continue;
                    }
                    break;
                }
                let ch_end = next_char_end(text, i);
                name.push_str(&text[i..ch_end]);
                i = ch_end;
            }
            i += 1;
            let end = i.min(b.len());
            out.push((name, followed_by_paren(b, end), start..end));
        } else if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 {
            let start = i;
            while i < b.len()
                && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'$' || b[i] >= 0x80)
            {
                i += 1;
            }
            let word = text[start..i].to_ascii_lowercase();
            out.push((word, followed_by_paren(b, i), start..i));
        } else if c.is_ascii_digit() || c == b'$' {
            // numbers and `$n`: skip the whole token so `1e5` is not a word
            i += 1;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.') {
                i += 1;
            }
        } else {
            i += 1;
        }
    }
    out
}

fn next_char_end(text: &str, i: usize) -> usize {
    let mut j = i + 1;
    while j < text.len() && !text.is_char_boundary(j) {
        j += 1;
    }
    j
}

fn followed_by_paren(b: &[u8], mut i: usize) -> bool {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    b.get(i) == Some(&b'(')
}

/// Whether an expression looks IMMUTABLE enough to index: no function (or
/// SQL value function such as `CURRENT_DATE`) from the deny list, no subquery
/// and no parameter.
pub(crate) fn immutable_looking(text: &str) -> bool {
    if text.contains('$') {
        return false;
    }
    words(text)
        .iter()
        .all(|(w, _call, _)| w != "select" && !NOT_INDEXABLE_FUNCTIONS.contains(&w.as_str()))
}

/// Columns of `table` named in an expression or predicate text.
pub(crate) fn text_columns(text: &str, table: &TableInfo) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (w, call, _) in words(text) {
        if call {
            continue;
        }
        // Quoted words keep their case; unquoted ones were folded.
        if let Some(c) = table.columns.iter().find(|c| c.name == w) {
            if !out.contains(&c.name) {
                out.push(c.name.clone());
            }
        }
    }
    out
}

/// `text` with the table qualifiers of `columns` removed (`lower(u.email)` →
/// `lower(email)`), so the expression can be written in `CREATE INDEX … ON t`.
pub(crate) fn unqualify(text: &str, columns: &[ColumnRef]) -> String {
    let ws = words(text);
    let b = text.as_bytes();
    let mut cut: Vec<std::ops::Range<usize>> = Vec::new();
    for (k, (w, call, range)) in ws.iter().enumerate() {
        if *call || !columns.iter().any(|c| c.column.eq_ignore_ascii_case(w)) {
            continue;
        }
        // Walk back over `qualifier.` (at most schema.table.).
        let mut start = range.start;
        let mut j = k;
        for _ in 0..2 {
            if start == 0 || b[start - 1] != b'.' || j == 0 {
                break;
            }
            let prev = &ws[j - 1].2;
            if prev.end != start - 1 {
                break;
            }
            start = prev.start;
            j -= 1;
        }
        if start < range.start {
            cut.push(start..range.start);
        }
    }
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    for r in cut {
        // `s.t.t` where the middle word is also a column: its cut overlaps the
        // one already made.
        if r.start < pos {
            pos = pos.max(r.end);
            continue;
        }
        out.push_str(&text[pos..r.start]);
        pos = r.end;
    }
    out.push_str(&text[pos..]);
    out
}

/// The catalog table a column reference of `block` belongs to: its resolved
/// table when that is a real relation of the statement, else (unqualified in a
/// multi-table block) the only relation of the block whose catalog entry has a
/// column of that name.
pub(crate) fn resolve<'a>(
    shape: &QueryShape,
    block: &BlockShape,
    col: &ColumnRef,
    catalog: &'a Catalog,
) -> Option<&'a TableInfo> {
    match &col.table {
        Some(t) => {
            let relation = shape
                .blocks
                .iter()
                .flat_map(|b| &b.tables)
                .any(|r| r.source == TableSource::Relation && &r.qualified_name() == t);
            if !relation {
                return None;
            }
            catalog.table(t)
        }
        None => {
            let mut found = block
                .tables
                .iter()
                .filter(|r| r.source == TableSource::Relation)
                .filter_map(|r| catalog.table(&r.qualified_name()))
                .filter(|t| t.column(&col.column).is_some());
            let first = found.next()?;
            if found.any(|t| t.qualified_name() != first.qualified_name()) {
                return None;
            }
            Some(first)
        }
    }
}

/// The catalog tables of the relations of `block`, once each.
pub(crate) fn block_tables<'a>(block: &BlockShape, catalog: &'a Catalog) -> Vec<&'a TableInfo> {
    let mut out: Vec<&TableInfo> = Vec::new();
    for r in &block.tables {
        if r.source != TableSource::Relation {
            continue;
        }
        if let Some(t) = catalog.table(&r.qualified_name()) {
            if !out.iter().any(|o| o.qualified_name() == t.qualified_name()) {
                out.push(t);
            }
        }
    }
    out
}

/// Whether `block` reads at most one row of `table`, through an existing
/// valid, non-partial UNIQUE index (the primary key included) whose every key
/// is a plain column compared by a predicate of the block with `=` to one
/// constant or parameter, not under an OR and not negated. The planner then
/// fetches that row through the unique index: no new index on the table helps
/// the block (filtering, ordering or grouping a single row is free, and an
/// index-only scan would save one heap fetch at most).
///
/// Join keys, column-to-column comparisons, expressions, `IN` lists and
/// `= ANY (…)` (which the query shape does not tell apart from a one-element
/// `IN`) never count; nor does a table the block reads more than once (a
/// self-join: the column references do not say which instance they restrict).
pub(crate) fn fetches_one_row(
    shape: &QueryShape,
    block: &BlockShape,
    table: &TableInfo,
    catalog: &Catalog,
) -> bool {
    let name = table.qualified_name();
    let instances = block
        .tables
        .iter()
        .filter(|r| r.source == TableSource::Relation)
        .filter_map(|r| catalog.table(&r.qualified_name()))
        .filter(|t| t.qualified_name() == name)
        .count();
    if instances != 1 {
        return false;
    }
    let fixed: BTreeSet<&str> = block
        .predicates
        .iter()
        .filter(|p| {
            p.kind == PredicateKind::Eq
                && p.op == "="
                && !p.in_or
                && !p.negated
                && matches!(p.values[..], [Operand::Const(_) | Operand::Param(_)])
        })
        .filter_map(|p| match &p.target {
            Target::Column(c) => Some(c),
            Target::Expression { .. } => None,
        })
        .filter(|c| resolve(shape, block, c, catalog).is_some_and(|t| t.qualified_name() == name))
        .map(|c| c.column.as_str())
        .collect();
    if fixed.is_empty() {
        return false;
    }
    let unique = catalog.indexes_on(&name).any(|e| {
        (e.primary || e.def.unique)
            && e.def.predicate.is_none()
            && !e.def.keys.is_empty()
            && e.def
                .keys
                .iter()
                .all(|k| k.expr.column().is_some_and(|c| fixed.contains(c)))
    });
    unique
}

/// How one query uses one table.
#[derive(Debug, Clone, Default)]
pub(crate) struct TableUse {
    /// Columns an index could be used for: in predicates, join keys, ORDER BY,
    /// GROUP BY and DISTINCT ON.
    pub usable: BTreeSet<String>,
    /// Columns in predicates (a partial index needs its predicate's columns here).
    pub filtered: BTreeSet<String>,
    /// Every column read (select list too), for index-only scans.
    pub read: BTreeSet<String>,
    /// A `*` / `t.*` reads every column.
    pub star: bool,
}

/// What the advisor needs to know about how a query touches the catalog.
#[derive(Debug, Clone, Default)]
pub(crate) struct QueryFacts {
    /// Per catalog table (qualified name).
    pub tables: BTreeMap<String, TableUse>,
    /// For INSERT / UPDATE / DELETE: the written table, and for UPDATE the
    /// columns it sets.
    pub write: Option<WriteTarget>,
}

/// The table a write statement changes.
#[derive(Debug, Clone)]
pub(crate) struct WriteTarget {
    /// Catalog qualified name.
    pub table: String,
    /// INSERT, UPDATE or DELETE.
    pub kind: StatementKind,
    /// Columns set by UPDATE (or ON CONFLICT DO UPDATE).
    pub written: Vec<String>,
}

fn target_columns(t: &Target) -> Vec<&ColumnRef> {
    match t {
        Target::Column(c) => vec![c],
        Target::Expression { columns, .. } => columns.iter().collect(),
    }
}

/// Collects how `shape` uses each catalog table.
pub(crate) fn query_facts(shape: &QueryShape, catalog: &Catalog) -> QueryFacts {
    let mut facts = QueryFacts::default();
    for block in &shape.blocks {
        for t in block_tables(block, catalog) {
            facts.tables.entry(t.qualified_name()).or_default();
        }
        let mut stars: Vec<String> = Vec::new();
        let tables = &mut facts.tables;
        let mut note = |col: &ColumnRef, usable: bool, filtered: bool| {
            if let Some(t) = resolve(shape, block, col, catalog) {
                let u = tables.entry(t.qualified_name()).or_default();
                if usable {
                    u.usable.insert(col.column.clone());
                }
                if filtered {
                    u.filtered.insert(col.column.clone());
                }
                u.read.insert(col.column.clone());
            }
        };
        for p in &block.predicates {
            for c in target_columns(&p.target) {
                note(c, true, true);
            }
            for v in &p.values {
                if let pgpilot_sql::Operand::Column(c) = v {
                    note(c, true, true);
                }
            }
        }
        for j in &block.joins {
            note(&j.left, true, false);
            note(&j.right, true, false);
        }
        for o in &block.order_by {
            for c in target_columns(&o.target) {
                note(c, true, false);
            }
        }
        for g in &block.group_by {
            for c in target_columns(g) {
                note(c, true, false);
            }
        }
        if let Distinct::On(items) = &block.distinct {
            for i in items {
                for c in target_columns(i) {
                    note(c, true, false);
                }
            }
        }
        for s in &block.select_list {
            match s {
                SelectItem::Column(c) => note(c, false, false),
                SelectItem::Expression { columns, .. } => {
                    for c in columns {
                        note(c, false, false);
                    }
                }
                SelectItem::Star { table } => {
                    let star_tables: Vec<String> = match table {
                        Some(t) => resolve(
                            shape,
                            block,
                            &ColumnRef {
                                table: Some(t.clone()),
                                column: String::new(),
                            },
                            catalog,
                        )
                        .map(|t| vec![t.qualified_name()])
                        .unwrap_or_default(),
                        None => block_tables(block, catalog)
                            .iter()
                            .map(|t| t.qualified_name())
                            .collect(),
                    };
                    stars.extend(star_tables);
                }
            }
        }
        for t in stars {
            facts.tables.entry(t).or_default().star = true;
        }
    }
    if matches!(
        shape.kind,
        StatementKind::Insert | StatementKind::Update | StatementKind::Delete
    ) {
        let target = shape.blocks.first().and_then(|b| {
            b.tables
                .first()
                .filter(|r| r.source == TableSource::Relation)
                .and_then(|r| catalog.table(&r.qualified_name()))
                .map(|t| (t, b))
        });
        if let Some((t, b)) = target {
            let mut written = b.written_columns.clone();
            written.sort();
            written.dedup();
            facts.write = Some(WriteTarget {
                table: t.qualified_name(),
                kind: shape.kind,
                written,
            });
        }
    }
    facts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unqualifies_only_column_qualifiers() {
        let cols = vec![ColumnRef {
            table: Some("users".into()),
            column: "email".into(),
        }];
        assert_eq!(unqualify("lower(u.email)", &cols), "lower(email)");
        assert_eq!(
            unqualify("lower(public.users.email)", &cols),
            "lower(email)"
        );
        assert_eq!(unqualify("lower(email)", &cols), "lower(email)");
        // A table named like its column: the qualifier cuts overlap.
        let same = vec![ColumnRef {
            table: Some("status".into()),
            column: "status".into(),
        }];
        assert_eq!(
            unqualify("lower(public.status.status)", &same),
            "lower(status)"
        );
        assert_eq!(
            unqualify("pg_catalog.lower(u.email || 'u.email')", &cols),
            "pg_catalog.lower(email || 'u.email')"
        );
    }

    #[test]
    fn deny_list_catches_volatile_and_aggregates() {
        assert!(immutable_looking("lower(email)"));
        assert!(immutable_looking("(data ->> 'kind'::text)"));
        assert!(!immutable_looking("now() - created_at"));
        assert!(!immutable_looking("CURRENT_DATE - created_at::date"));
        assert!(!immutable_looking("sum(total)"));
        assert!(!immutable_looking("random() < x"));
        assert!(immutable_looking("lower('now()')"));
    }

    #[test]
    fn btree_types() {
        assert!(btree_type("bigint"));
        assert!(btree_type("jsonb"));
        assert!(!btree_type("json"));
        assert!(!btree_type("point[]"));
    }
}
