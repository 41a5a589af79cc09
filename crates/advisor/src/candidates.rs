//! Index candidates from query shapes.
//!
//! For every block of a query and every catalog table of the block (of at least
//! [`MIN_ROWS`] rows) the generator proposes B-tree key lists built the way a
//! DBA builds them: equality columns first (most selective first), then one
//! range column or the block's ORDER BY (with its directions), join keys (the
//! inner side of a nested loop), GROUP BY keys; then covering variants (INCLUDE
//! for an index-only scan), partial variants (when the workload always compares
//! a column with the same constant) and expression keys (`lower(email)`); and a
//! BRIN index for a range filter on a physically ordered column of a large table
//! (see [`BRIN_MIN_ROWS`], [`BRIN_MIN_CORRELATION`]), next to the B-trees. It
//! proposes; the what-if planner decides which ones pay.
//!
//! A table the block fetches by equality on every key of an existing unique
//! index (`WHERE id = $1 AND active` with a primary key on `id`) gets nothing
//! from that block: at most one row comes back, and no new index beats the
//! unique one at that. INCLUDE lists never repeat a key column or each other.

use std::collections::BTreeMap;

use pgpilot_findings::ident::{quote_ident, quote_literal};
use pgpilot_sql::{
    BlockShape, ColumnRef, NullsOrder, Operand, Predicate, PredicateKind, QueryShape,
    StatementKind, Target,
};

use crate::facts::{
    self, block_tables, btree_type, fetches_one_row, immutable_looking, resolve, unqualify,
};
use crate::{AdvisorQuery, Catalog, IndexDef, IndexKey, KeyExpr, TableInfo};

#[path = "candidates_brin.rs"]
mod brin;

pub use brin::{BRIN_MIN_CORRELATION, BRIN_MIN_ROWS};

/// Tables with fewer rows never get a candidate: a sequential scan of a page or
/// two always wins.
pub const MIN_ROWS: f64 = 100.0;

/// Most columns a covering variant adds as INCLUDE.
pub const MAX_INCLUDE: usize = 3;

/// Most range columns tried per block and table (one variant each).
const MAX_RANGES: usize = 2;

/// An index worth asking the planner about.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The index.
    pub index: IndexDef,
    /// Positions in the workload slice of the queries that produced it (`[0]`
    /// for [`candidates_for_query`]).
    pub queries: Vec<usize>,
    /// Why it was proposed, e.g. `equality on status, then ORDER BY last_login DESC`.
    pub origin: String,
}

/// Candidates for one query on its own. Partial variants use the query's own
/// constants (a column compared with one constant everywhere in this query).
pub fn candidates_for_query(
    query: &AdvisorQuery,
    catalog: &Catalog,
    max_columns: usize,
) -> Vec<Candidate> {
    let query = &with_constants(std::slice::from_ref(query), catalog)[0];
    let partial = PartialConstants::of(std::slice::from_ref(query), catalog);
    let mut out = Vec::new();
    generate(query, 0, catalog, max_columns, &partial, &mut out);
    dedup_and_suppress(out, catalog)
}

/// Candidates for a whole workload: deduplicated by index definition (the
/// producing queries merged), without the ones an existing valid index already
/// serves. Partial variants only for columns compared with the same constant in
/// every workload query that filters them.
pub fn workload_candidates(
    queries: &[AdvisorQuery],
    catalog: &Catalog,
    max_columns: usize,
) -> Vec<Candidate> {
    let queries = &with_constants(queries, catalog);
    let partial = PartialConstants::of(queries, catalog);
    let mut out = Vec::new();
    for (pos, q) in queries.iter().enumerate() {
        generate(q, pos, catalog, max_columns, &partial, &mut out);
    }
    dedup_and_suppress(out, catalog)
}

/// The queries as candidate generation sees them: with the constants the
/// workload binds to their parameters written in (see [`crate::constants`]).
fn with_constants(queries: &[AdvisorQuery], catalog: &Catalog) -> Vec<AdvisorQuery> {
    queries
        .iter()
        .map(
            |q| match crate::constants::shape_with_constants(q, catalog) {
                Some(shape) => AdvisorQuery { shape, ..q.clone() },
                None => q.clone(),
            },
        )
        .collect()
}

fn dedup_and_suppress(all: Vec<Candidate>, catalog: &Catalog) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = Vec::new();
    let mut seen: std::collections::HashMap<IndexDef, usize> = std::collections::HashMap::new();
    for c in all {
        if let Some(&i) = seen.get(&c.index) {
            for q in c.queries {
                if !out[i].queries.contains(&q) {
                    out[i].queries.push(q);
                }
            }
            continue;
        }
        if served_by_existing(&c.index, catalog) {
            continue;
        }
        seen.insert(c.index.clone(), out.len());
        out.push(c);
    }
    out
}

/// Whether an existing valid index already serves every scan `index` would:
/// its keys start with `index`'s keys (same method and predicate) and it stores
/// `index`'s INCLUDE columns.
pub fn served_by_existing(index: &IndexDef, catalog: &Catalog) -> bool {
    catalog.indexes_on(&index.qualified_table()).any(|e| {
        e.def.covers_prefix(index) && {
            let stored = e.def.stored_columns();
            index.include.iter().all(|c| stored.contains(&c.as_str()))
        }
    })
}

/// What the workload compares a column with, when it is always the same
/// constant (or always `IS NULL`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Fixed {
    Const(String),
    Null,
    Varies,
}

/// Columns (per catalog table) compared with one constant everywhere.
#[derive(Debug, Default)]
struct PartialConstants {
    fixed: BTreeMap<(String, String), Fixed>,
}

impl PartialConstants {
    fn of(queries: &[AdvisorQuery], catalog: &Catalog) -> Self {
        let mut fixed: BTreeMap<(String, String), Fixed> = BTreeMap::new();
        for q in queries {
            for b in &q.shape.blocks {
                for p in &b.predicates {
                    let Target::Column(c) = &p.target else {
                        // An expression over a column makes that column vary.
                        if let Target::Expression { columns, .. } = &p.target {
                            for c in columns {
                                if let Some(t) = resolve(&q.shape, b, c, catalog) {
                                    fixed.insert(
                                        (t.qualified_name(), c.column.clone()),
                                        Fixed::Varies,
                                    );
                                }
                            }
                        }
                        continue;
                    };
                    let Some(t) = resolve(&q.shape, b, c, catalog) else {
                        continue;
                    };
                    // A partial index pays on a status, a flag, a type: not on
                    // an id that one query happened to spell as a literal.
                    let low = t
                        .column(&c.column)
                        .and_then(|col| col.n_distinct)
                        .map(|nd| if nd < 0.0 { -nd * t.rows } else { nd })
                        .is_some_and(|nd| nd > 0.0 && nd <= crate::constants::LOW_CARDINALITY);
                    let this = match (p.kind, &p.values[..]) {
                        _ if p.in_or || p.negated => Fixed::Varies,
                        (PredicateKind::Eq, [Operand::Const(v)]) if low => Fixed::Const(v.clone()),
                        (PredicateKind::IsNull, []) => Fixed::Null,
                        _ => Fixed::Varies,
                    };
                    let key = (t.qualified_name(), c.column.clone());
                    let merged = match fixed.get(&key) {
                        None => this,
                        Some(prev) if *prev == this => this,
                        Some(_) => Fixed::Varies,
                    };
                    fixed.insert(key, merged);
                }
                // A column joined to another table is not a constant filter.
                for j in &b.joins {
                    for c in [&j.left, &j.right] {
                        if let Some(t) = resolve(&q.shape, b, c, catalog) {
                            fixed.insert((t.qualified_name(), c.column.clone()), Fixed::Varies);
                        }
                    }
                }
            }
        }
        Self { fixed }
    }

    /// The partial-index predicate for `column` of `table`, when it is fixed.
    fn predicate(&self, table: &str, column: &str) -> Option<String> {
        match self.fixed.get(&(table.to_string(), column.to_string()))? {
            Fixed::Const(v) => Some(format!("{} = {}", quote_ident(column), quote_literal(v))),
            Fixed::Null => Some(format!("{} IS NULL", quote_ident(column))),
            Fixed::Varies => None,
        }
    }
}

/// One key with what the generator knows about it.
#[derive(Debug, Clone)]
struct Part {
    key: IndexKey,
    label: String,
    /// Estimated distinct values (higher = more selective), for ordering equalities.
    distinct: f64,
}

/// The keys a block offers on one table.
#[derive(Debug, Default)]
struct Offer {
    eq: Vec<Part>,
    ranges: Vec<Part>,
    order: Vec<Part>,
    group: Vec<Part>,
    joins: Vec<Part>,
}

fn push_unique(parts: &mut Vec<Part>, p: Part) {
    if !parts.iter().any(|q| q.key.expr == p.key.expr) {
        parts.push(p);
    }
}

/// The key for a predicate/order target on `table`, when it is a column of the
/// table (with a B-tree type) or an indexable expression over its columns only.
fn key_for(
    shape: &QueryShape,
    block: &BlockShape,
    target: &Target,
    table: &TableInfo,
    catalog: &Catalog,
) -> Option<(IndexKey, String)> {
    let on_table = |c: &ColumnRef| {
        resolve(shape, block, c, catalog)
            .is_some_and(|t| t.qualified_name() == table.qualified_name())
    };
    match target {
        Target::Column(c) => {
            let info = table.column(&c.column)?;
            (on_table(c) && btree_type(&info.type_name))
                .then(|| (IndexKey::column(&c.column), c.column.clone()))
        }
        Target::Expression { text, columns } => {
            if columns.is_empty()
                || !columns
                    .iter()
                    .all(|c| on_table(c) && table.column(&c.column).is_some())
                || !immutable_looking(text)
            {
                return None;
            }
            let expr = unqualify(text, columns);
            Some((IndexKey::expression(&expr), expr))
        }
    }
}

fn distinct_of(table: &TableInfo, key: &IndexKey) -> f64 {
    let KeyExpr::Column(c) = &key.expr else {
        // An expression's selectivity is unknown: between the extremes.
        return table.rows.max(1.0).sqrt();
    };
    match table.column(c).and_then(|c| c.n_distinct) {
        Some(d) if d > 0.0 => d,
        Some(d) if d < 0.0 => -d * table.rows.max(1.0),
        _ => table.rows.max(1.0).sqrt(),
    }
}

fn offer(shape: &QueryShape, block: &BlockShape, table: &TableInfo, catalog: &Catalog) -> Offer {
    let mut o = Offer::default();
    for p in &block.predicates {
        if p.in_or {
            continue;
        }
        let Some((key, label)) = key_for(shape, block, &p.target, table, catalog) else {
            continue;
        };
        if let (PredicateKind::Eq, false, [Operand::Column(other)]) =
            (p.kind, p.negated, &p.values[..])
        {
            // Two columns of one table (`c.parent_id = p.id` in a self-join,
            // whose instances the shape names alike): join keys, not a constant.
            let other = key_for(shape, block, &Target::Column(other.clone()), table, catalog);
            for (key, label) in std::iter::once((key, label)).chain(other) {
                let distinct = 0.0;
                push_unique(
                    &mut o.joins,
                    Part {
                        key,
                        label,
                        distinct,
                    },
                );
            }
            continue;
        }
        if p.is_equality() {
            let list = match p.kind {
                PredicateKind::In => p.values.len().max(1) as f64,
                _ => 1.0,
            };
            // IS NULL keeps null_frac of the rows: as selective as 1 / null_frac values.
            let null_frac = key
                .expr
                .column()
                .and_then(|c| table.column(c))
                .and_then(|c| c.null_frac);
            let distinct = match (p.kind, null_frac) {
                (PredicateKind::IsNull, Some(f)) if f > 0.0 => 1.0 / f,
                (PredicateKind::IsNull, _) => 1.0,
                _ => distinct_of(table, &key) / list,
            };
            push_unique(
                &mut o.eq,
                Part {
                    key,
                    label,
                    distinct,
                },
            );
        } else if range_like(p) {
            push_unique(
                &mut o.ranges,
                Part {
                    key,
                    label,
                    distinct: 0.0,
                },
            );
        } else if p.kind == PredicateKind::InSubquery && !p.negated {
            push_unique(
                &mut o.joins,
                Part {
                    key,
                    label,
                    distinct: 0.0,
                },
            );
        }
    }
    o.ranges
        .retain(|r| !o.eq.iter().any(|e| e.key.expr == r.key.expr));
    o.ranges.truncate(MAX_RANGES);
    // Most selective equality first; ties keep the written order.
    o.eq.sort_by(|a, b| b.distinct.total_cmp(&a.distinct));

    let order: Option<Vec<Part>> = block
        .order_by
        .iter()
        .map(|item| {
            let (mut key, mut label) = key_for(shape, block, &item.target, table, catalog)?;
            key.descending = item.descending;
            key.nulls_first = match item.nulls {
                NullsOrder::Default => None,
                NullsOrder::First => (!item.descending).then_some(true),
                NullsOrder::Last => item.descending.then_some(false),
            };
            if item.descending {
                label.push_str(" DESC");
            }
            Some(Part {
                key,
                label,
                distinct: 0.0,
            })
        })
        .collect();
    for p in order.unwrap_or_default() {
        // A column fixed by an equality is constant: it does not order anything.
        if !o.eq.iter().any(|e| e.key.expr == p.key.expr) {
            push_unique(&mut o.order, p);
        }
    }
    let group: Option<Vec<Part>> = block
        .group_by
        .iter()
        .map(|g| match g {
            Target::Column(_) => {
                key_for(shape, block, g, table, catalog).map(|(key, label)| Part {
                    key,
                    label,
                    distinct: 0.0,
                })
            }
            Target::Expression { .. } => None,
        })
        .collect();
    for p in group.unwrap_or_default() {
        push_unique(&mut o.group, p);
    }
    for j in &block.joins {
        for (mine, other) in [(&j.left, &j.right), (&j.right, &j.left)] {
            let here = resolve(shape, block, mine, catalog)
                .is_some_and(|t| t.qualified_name() == table.qualified_name());
            let there = resolve(shape, block, other, catalog)
                .map_or(true, |t| t.qualified_name() != table.qualified_name());
            if !(here && there) {
                continue;
            }
            if let Some((key, label)) =
                key_for(shape, block, &Target::Column(mine.clone()), table, catalog)
            {
                push_unique(
                    &mut o.joins,
                    Part {
                        key,
                        label,
                        distinct: 0.0,
                    },
                );
            }
        }
    }
    o
}

fn range_like(p: &Predicate) -> bool {
    if p.negated {
        return false;
    }
    match p.kind {
        PredicateKind::Range => true,
        PredicateKind::Like => p.leading_wildcard == Some(false) && !p.case_insensitive,
        _ => false,
    }
}

fn labels(parts: &[Part]) -> String {
    parts
        .iter()
        .map(|p| p.label.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Key lists (with their reason) a block proposes on one table.
fn key_variants(o: &Offer) -> Vec<(Vec<Part>, String)> {
    let mut out: Vec<(Vec<Part>, String)> = Vec::new();
    let eq = &o.eq;
    let eq_label = if eq.is_empty() {
        String::new()
    } else {
        format!("equality on {}", labels(eq))
    };
    let then = |s: &str| {
        if eq.is_empty() {
            s.to_string()
        } else {
            format!("{eq_label}, then {s}")
        }
    };
    if !eq.is_empty() {
        out.push((eq.clone(), eq_label.clone()));
    }
    for r in &o.ranges {
        let mut keys = eq.clone();
        keys.push(r.clone());
        out.push((keys, then(&format!("range on {}", r.label))));
    }
    if !o.order.is_empty() {
        let mut keys = eq.clone();
        keys.extend(o.order.iter().cloned());
        let mut why = then(&format!("ORDER BY {}", labels(&o.order)));
        if let Some(r) = o
            .ranges
            .iter()
            .find(|r| !o.order.iter().any(|x| x.key.expr == r.key.expr))
        {
            keys.push(r.clone());
            why.push_str(&format!(" (range on {} checked in the index)", r.label));
        }
        out.push((keys, why));
    }
    if !o.group.is_empty() {
        let mut keys = eq.clone();
        keys.extend(o.group.iter().cloned());
        out.push((keys, then(&format!("GROUP BY {}", labels(&o.group)))));
    }
    for j in &o.joins {
        out.push((vec![j.clone()], format!("join key {}", j.label)));
        if !eq.is_empty() {
            let mut keys = eq.clone();
            keys.push(j.clone());
            out.push((keys, format!("{eq_label} and join key {}", j.label)));
        }
        if let Some(r) = o.ranges.first() {
            let mut keys = eq.clone();
            keys.push(j.clone());
            keys.push(r.clone());
            out.push((
                keys,
                format!("join key {}, then range on {}", j.label, r.label),
            ));
        }
    }
    out
}

/// Keys without repeats, cut to `max_columns`.
fn finish_keys(parts: &[Part], max_columns: usize) -> Vec<IndexKey> {
    let mut keys: Vec<IndexKey> = Vec::new();
    for p in parts {
        if keys.len() >= max_columns {
            break;
        }
        if !keys.iter().any(|k| k.expr == p.key.expr) {
            keys.push(p.key.clone());
        }
    }
    keys
}

/// Columns of `table` the block reads, or `None` when it reads them all (`*`)
/// or may read one it cannot attribute.
fn block_reads(
    shape: &QueryShape,
    block: &BlockShape,
    table: &TableInfo,
    catalog: &Catalog,
) -> Option<Vec<String>> {
    let one = facts::query_facts(
        &QueryShape {
            kind: shape.kind,
            blocks: vec![block.clone()],
        },
        catalog,
    );
    let mut reads: Vec<String> = Vec::new();
    let u = one.tables.get(&table.qualified_name())?;
    if u.star {
        return None;
    }
    reads.extend(u.read.iter().cloned());
    // Columns of this table used by other blocks (correlated subqueries).
    for other in &shape.blocks {
        for p in &other.predicates {
            for v in &p.values {
                if let Operand::Column(c) = v {
                    if resolve(shape, other, c, catalog)
                        .is_some_and(|t| t.qualified_name() == table.qualified_name())
                    {
                        reads.push(c.column.clone());
                    }
                }
            }
        }
        for j in &other.joins {
            for c in [&j.left, &j.right] {
                if c.table.is_some()
                    && resolve(shape, other, c, catalog)
                        .is_some_and(|t| t.qualified_name() == table.qualified_name())
                {
                    reads.push(c.column.clone());
                }
            }
        }
    }
    // Unattributed columns of a multi-table block might be this table's.
    let unresolved = block
        .select_list
        .iter()
        .flat_map(|s| match s {
            pgpilot_sql::SelectItem::Column(c) => vec![c],
            pgpilot_sql::SelectItem::Expression { columns, .. } => columns.iter().collect(),
            pgpilot_sql::SelectItem::Star { .. } => Vec::new(),
        })
        .any(|c| resolve(shape, block, c, catalog).is_none() && table.column(&c.column).is_some());
    if unresolved {
        return None;
    }
    reads.retain(|c| table.column(c).is_some());
    reads.sort_by_key(|c| table.columns.iter().position(|x| &x.name == c));
    reads.dedup();
    Some(reads)
}

fn generate(
    query: &AdvisorQuery,
    pos: usize,
    catalog: &Catalog,
    max_columns: usize,
    partial: &PartialConstants,
    out: &mut Vec<Candidate>,
) {
    let shape = &query.shape;
    if max_columns == 0 {
        return;
    }
    for (bi, block) in shape.blocks.iter().enumerate() {
        let write_target = bi == 0
            && matches!(
                shape.kind,
                StatementKind::Insert | StatementKind::Update | StatementKind::Delete
            );
        if write_target && shape.kind == StatementKind::Insert {
            continue;
        }
        for table in block_tables(block, catalog) {
            if table.rows < MIN_ROWS || fetches_one_row(shape, block, table, catalog) {
                continue;
            }
            let o = offer(shape, block, table, catalog);
            let reads = if write_target {
                None
            } else {
                block_reads(shape, block, table, catalog)
            };
            let mut local: Vec<(IndexDef, String)> = Vec::new();
            for (parts, why) in key_variants(&o) {
                let keys = finish_keys(&parts, max_columns);
                if keys.is_empty() {
                    continue;
                }
                let def = IndexDef::btree(&table.schema, &table.table, keys);
                variants_of(
                    def,
                    why,
                    table,
                    reads.as_deref(),
                    partial,
                    catalog,
                    &mut local,
                );
            }
            local.extend(brin::brin_candidates(shape, block, table, catalog));
            for (index, origin) in local {
                out.push(Candidate {
                    index,
                    queries: vec![pos],
                    origin,
                });
            }
        }
    }
}

/// `def` itself, its covering variant, and the partial variants of both.
fn variants_of(
    def: IndexDef,
    why: String,
    table: &TableInfo,
    reads: Option<&[String]>,
    partial: &PartialConstants,
    catalog: &Catalog,
    out: &mut Vec<(IndexDef, String)>,
) {
    let with_include = |d: &IndexDef| {
        if d.include.is_empty() {
            why.clone()
        } else {
            format!(
                "{why}; INCLUDE ({}) for an index-only scan",
                d.include.join(", ")
            )
        }
    };
    let mut base = vec![def.clone()];
    base.extend(covering(&def, reads));
    for d in base {
        if let Some(p) = partial_variant(&d, table, partial, catalog) {
            let pred = p.predicate.clone().unwrap_or_default();
            let w = with_include(&p);
            out.push((
                p,
                format!("{w}; partial WHERE {pred} (the same in every query)"),
            ));
        }
        let w = with_include(&d);
        out.push((d, w));
    }
}

/// Drops from `def`'s INCLUDE list the plain key columns and repeats (an index
/// stores a key column already; PostgreSQL would store it twice).
fn tidy_include(def: &mut IndexDef) {
    let mut kept: Vec<String> = Vec::new();
    for c in std::mem::take(&mut def.include) {
        let key = def.keys.iter().any(|k| k.expr.column() == Some(c.as_str()));
        if !key && !kept.contains(&c) {
            kept.push(c);
        }
    }
    def.include = kept;
}

fn covering(def: &IndexDef, reads: Option<&[String]>) -> Option<IndexDef> {
    let mut d = def.clone();
    d.include = reads?.to_vec();
    tidy_include(&mut d);
    (!d.include.is_empty() && d.include.len() <= MAX_INCLUDE).then_some(d)
}

/// The variant with the always-constant key columns moved into a WHERE.
fn partial_variant(
    def: &IndexDef,
    table: &TableInfo,
    partial: &PartialConstants,
    catalog: &Catalog,
) -> Option<IndexDef> {
    let t = table.qualified_name();
    let mut preds: Vec<(String, String)> = Vec::new();
    let mut keys: Vec<IndexKey> = Vec::new();
    for k in &def.keys {
        match k
            .expr
            .column()
            .and_then(|c| partial.predicate(&t, c).map(|p| (c, p)))
        {
            Some((c, p)) => preds.push((c.to_string(), p)),
            None => keys.push(k.clone()),
        }
    }
    if preds.is_empty() {
        return None;
    }
    if keys.is_empty() {
        // Nothing left to search on: key on the primary key (an ordered list of
        // the matching rows), else on the constant column itself.
        let pk = catalog
            .indexes_on(&t)
            .find(|i| i.primary)
            .map(|i| i.def.keys.clone());
        keys = pk.unwrap_or_else(|| vec![IndexKey::column(&preds[0].0)]);
    }
    preds.sort();
    let mut d = def.clone();
    d.keys = keys;
    d.include.retain(|c| !preds.iter().any(|(p, _)| p == c));
    // The primary key standing in for the keys may be one of the INCLUDEs; a
    // covering variant left with none is the plain variant's twin.
    tidy_include(&mut d);
    if !def.include.is_empty() && d.include.is_empty() {
        return None;
    }
    d.predicate = Some(
        preds
            .into_iter()
            .map(|(_, p)| p)
            .collect::<Vec<_>>()
            .join(" AND "),
    );
    Some(d)
}

#[cfg(test)]
#[path = "candidates_tests.rs"]
mod tests;
