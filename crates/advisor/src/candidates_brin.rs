//! BRIN candidates: a range filter on a column whose rows are stored in (or
//! against) its logical order — the timestamp or serial key of an append-only
//! log table. A BRIN index keeps the minimum and maximum of each range of heap
//! blocks, so when `pg_stats.correlation` is near ±1 every block range covers a
//! narrow slice of values and a range filter reads only the matching blocks,
//! from an index a few hundred times smaller than a B-tree. Equality-only and
//! ORDER BY-only uses get none (BRIN returns no order and a bitmap of whole
//! block ranges).

use pgpilot_sql::{BlockShape, Operand, PredicateKind, QueryShape, Target};

use crate::facts::resolve;
use crate::{Catalog, IndexDef, IndexKey, TableInfo};

/// Tables with fewer rows get no BRIN candidate: with 128 pages per block
/// range (the default), a smaller table has only a handful of ranges and a
/// B-tree or a sequential scan serves it as well.
pub const BRIN_MIN_ROWS: f64 = 100_000.0;

/// Least `|pg_stats.correlation|` of a BRIN candidate's column: below it the
/// block ranges' minimum–maximum intervals overlap too much to skip blocks.
pub const BRIN_MIN_CORRELATION: f64 = 0.9;

/// Types (as `format_type` prints them, without type modifiers) with a default
/// BRIN operator class (`minmax`, or `inclusion` for network addresses).
const BRIN_TYPES: &[&str] = &[
    "smallint",
    "integer",
    "bigint",
    "real",
    "double precision",
    "numeric",
    "date",
    "timestamp without time zone",
    "timestamp with time zone",
    "time without time zone",
    "time with time zone",
    "interval",
    "text",
    "character varying",
    "character",
    "\"char\"",
    "name",
    "bytea",
    "oid",
    "uuid",
    "inet",
    "cidr",
    "macaddr",
    "macaddr8",
    "pg_lsn",
    "bit",
    "bit varying",
];

/// Whether a column of type `type_name` has a default BRIN operator class.
pub(crate) fn brin_type(type_name: &str) -> bool {
    if type_name.ends_with("[]") {
        return false;
    }
    // `numeric(12,2)`, `timestamp(3) with time zone`, `character varying(40)`.
    let mut base = String::with_capacity(type_name.len());
    let mut depth = 0usize;
    for c in type_name.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ if depth == 0 => base.push(c),
            _ => {}
        }
    }
    let base = base.split_whitespace().collect::<Vec<_>>().join(" ");
    BRIN_TYPES.contains(&base.as_str())
}

/// BRIN candidates (with their reason) a block proposes on `table`: one per
/// column of the table that a range predicate (`<`, `<=`, `>`, `>=`,
/// `BETWEEN`, not negated, not under an OR, compared with something other than
/// a column of the same row) filters, when the table has at least
/// [`BRIN_MIN_ROWS`] rows and the column's known correlation is at least
/// [`BRIN_MIN_CORRELATION`] in absolute value. Plain column keys only, no
/// direction, INCLUDE or predicate (BRIN supports none of them usefully).
pub(super) fn brin_candidates(
    shape: &QueryShape,
    block: &BlockShape,
    table: &TableInfo,
    catalog: &Catalog,
) -> Vec<(IndexDef, String)> {
    let mut out: Vec<(IndexDef, String)> = Vec::new();
    if table.rows < BRIN_MIN_ROWS {
        return out;
    }
    for p in &block.predicates {
        if p.kind != PredicateKind::Range || p.negated || p.in_or {
            continue;
        }
        let Target::Column(c) = &p.target else {
            continue;
        };
        if p.values.is_empty()
            || p.values
                .iter()
                .any(|v| matches!(v, Operand::Column(_) | Operand::Null))
        {
            continue;
        }
        if !resolve(shape, block, c, catalog)
            .is_some_and(|t| t.qualified_name() == table.qualified_name())
        {
            continue;
        }
        let Some(info) = table.column(&c.column) else {
            continue;
        };
        let Some(corr) = info
            .correlation
            .filter(|r| r.is_finite() && r.abs() >= BRIN_MIN_CORRELATION)
        else {
            continue;
        };
        if !brin_type(&info.type_name) {
            continue;
        }
        let mut def = IndexDef::btree(
            &table.schema,
            &table.table,
            vec![IndexKey::column(&c.column)],
        );
        def.method = "brin".to_string();
        if out.iter().any(|(d, _)| *d == def) {
            continue;
        }
        let order = if corr < 0.0 {
            "physically in reverse order"
        } else {
            "physically ordered"
        };
        out.push((
            def,
            format!(
                "BRIN on {}: {order} (correlation {corr:.2}), range filter",
                c.column
            ),
        ));
    }
    out
}
