//! Workload constants hidden behind parameters.
//!
//! A captured workload is normalized: `WHERE status = 'pending'` and
//! `attrs ->> 'brand' = 'acme'` arrive as `status = $1` and `attrs ->> $1 = $2`.
//! Parsed like that, no partial index (`WHERE status = 'pending'`) or
//! expression index (`(attrs ->> 'brand')`) can be proposed: the predicate is
//! not a constant and the expression has a parameter in it. When every
//! captured sample binds the same value to such a parameter, the workload
//! really does use one constant there; candidate generation then sees the
//! query with that value written in.
//!
//! Only two uses are inlined: an equality on a low-cardinality column (where a
//! partial index pays: a status, a flag, a type), and a parameter inside an
//! expression compared to something (a JSON key, a `date_trunc` unit). A
//! parameter that merely happened to repeat (`id = $1` run twice with the same
//! id) stays a parameter.

use std::collections::BTreeMap;

use pgpilot_findings::ident::quote_literal;
use pgpilot_sql::{LiteralKind, Operand, PredicateKind, QueryShape, Target};

use crate::facts::resolve;
use crate::{AdvisorQuery, Catalog};

/// Most distinct values a column may have for an equality on it to become a
/// partial-index predicate.
pub const LOW_CARDINALITY: f64 = 200.0;

/// The value every sample binds to `$n`, by `n`: only non-NULL values shared by
/// all samples (and at least one sample).
fn constant_params(q: &AdvisorQuery) -> BTreeMap<usize, String> {
    let mut out = BTreeMap::new();
    let Some(first) = q.samples.first() else {
        return out;
    };
    for (i, v) in first.iter().enumerate() {
        let Some(v) = v else { continue };
        if q.samples.iter().all(|s| s.get(i) == Some(&Some(v.clone()))) {
            out.insert(i + 1, v.clone());
        }
    }
    out
}

/// `$n` numbers in `text`.
fn params_in(text: &str) -> Vec<usize> {
    let scanned = pgpilot_sql::scan(text);
    scanned
        .literals
        .iter()
        .filter(|l| l.kind == LiteralKind::Param)
        .filter_map(|l| l.raw(text).trim_start_matches('$').parse().ok())
        .collect()
}

/// The parameters worth inlining (see the module docs).
fn worth_inlining(
    q: &AdvisorQuery,
    catalog: &Catalog,
    constants: &BTreeMap<usize, String>,
) -> Vec<usize> {
    let mut out = Vec::new();
    for block in &q.shape.blocks {
        for p in &block.predicates {
            if p.in_or || p.negated {
                continue;
            }
            match (&p.target, p.kind, &p.values[..]) {
                (Target::Column(c), PredicateKind::Eq, [Operand::Param(n)]) => {
                    let Ok(n) = usize::try_from(*n) else { continue };
                    let low = resolve(&q.shape, block, c, catalog)
                        .and_then(|t| {
                            let nd = t.column(&c.column)?.n_distinct?;
                            Some(if nd < 0.0 { -nd * t.rows } else { nd })
                        })
                        .is_some_and(|nd| nd > 0.0 && nd <= LOW_CARDINALITY);
                    if low && constants.contains_key(&n) {
                        out.push(n);
                    }
                }
                (Target::Expression { text, .. }, _, _) => {
                    out.extend(
                        params_in(text)
                            .into_iter()
                            .filter(|n| constants.contains_key(n)),
                    );
                }
                _ => {}
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// The shape of `q` with the workload's constants written in, when it has
/// any worth it; `None` otherwise (use `q.shape`).
pub(crate) fn shape_with_constants(q: &AdvisorQuery, catalog: &Catalog) -> Option<QueryShape> {
    let constants = constant_params(q);
    if constants.is_empty() {
        return None;
    }
    let inline = worth_inlining(q, catalog, &constants);
    if inline.is_empty() {
        return None;
    }
    let scanned = pgpilot_sql::scan(&q.sql);
    let mut sql = String::with_capacity(q.sql.len());
    let mut at = 0;
    for l in scanned
        .literals
        .iter()
        .filter(|l| l.kind == LiteralKind::Param)
    {
        let Some(n) = l.raw(&q.sql).trim_start_matches('$').parse::<usize>().ok() else {
            continue;
        };
        if !inline.contains(&n) || l.span.start < at {
            continue;
        }
        let value = constants.get(&n)?;
        sql.push_str(q.sql.get(at..l.span.start)?);
        sql.push_str(&quote_literal(value));
        at = l.span.end;
    }
    sql.push_str(q.sql.get(at..)?);
    QueryShape::parse(&sql).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{adx_catalog, query};
    use pgpilot_sql::Operand;

    fn sampled(sql: &str, samples: &[&[&str]]) -> AdvisorQuery {
        let mut q = query(sql, 100.0);
        q.samples = samples
            .iter()
            .map(|s| s.iter().map(|v| Some(v.to_string())).collect())
            .collect();
        q
    }

    fn consts(shape: &QueryShape) -> Vec<String> {
        shape
            .blocks
            .iter()
            .flat_map(|b| &b.predicates)
            .flat_map(|p| &p.values)
            .filter_map(|v| match v {
                Operand::Const(c) => Some(c.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_status_always_bound_to_one_value_becomes_a_constant() {
        let catalog = adx_catalog();
        let q = sampled(
            "SELECT * FROM users WHERE status = $1 AND created_at > $2",
            &[&["pending", "2024-01-01"], &["pending", "2024-02-01"]],
        );
        let shape = shape_with_constants(&q, &catalog).expect("inlined");
        assert_eq!(consts(&shape), vec!["pending".to_string()]);
    }

    #[test]
    fn a_repeated_id_or_a_varying_status_stays_a_parameter() {
        let catalog = adx_catalog();
        let id = sampled("SELECT * FROM users WHERE id = $1", &[&["42"], &["42"]]);
        assert!(shape_with_constants(&id, &catalog).is_none());
        let varying = sampled(
            "SELECT * FROM users WHERE status = $1",
            &[&["pending"], &["active"]],
        );
        assert!(shape_with_constants(&varying, &catalog).is_none());
        let unsampled = query("SELECT * FROM users WHERE status = $1", 10.0);
        assert!(shape_with_constants(&unsampled, &catalog).is_none());
    }

    #[test]
    fn a_constant_inside_an_expression_is_written_in() {
        let catalog = adx_catalog();
        let q = sampled(
            "SELECT * FROM users WHERE lower(email) = $1 AND date_trunc($2, created_at) = $3",
            &[&["a@x", "day", "2024-01-01"], &["b@x", "day", "2024-01-02"]],
        );
        let shape = shape_with_constants(&q, &catalog).expect("inlined");
        let targets: Vec<String> = shape
            .blocks
            .iter()
            .flat_map(|b| &b.predicates)
            .filter_map(|p| match &p.target {
                Target::Expression { text, .. } => Some(text.clone()),
                _ => None,
            })
            .collect();
        assert!(targets.iter().any(|t| t.contains("'day'")), "{targets:?}");
        // The compared values still vary: they stay parameters.
        assert!(consts(&shape).is_empty(), "{:?}", consts(&shape));
    }

    #[test]
    fn candidates_get_the_partial_and_expression_indexes_a_dba_would_write() {
        let mut catalog = adx_catalog();
        catalog.tables.push(crate::testkit::table(
            "products",
            50_000.0,
            vec![
                crate::testkit::col("id", "bigint", Some(-1.0)),
                crate::testkit::col("attrs", "jsonb", Some(-0.9)),
            ],
        ));
        let queries = vec![
            sampled(
                "SELECT * FROM users WHERE status = $1 ORDER BY created_at LIMIT 20",
                &[&["pending"], &["pending"], &["pending"]],
            ),
            sampled(
                "SELECT id FROM products WHERE attrs ->> $1 = $2",
                &[&["brand", "acme"], &["brand", "zeta"]],
            ),
        ];
        let all = crate::candidates::workload_candidates(&queries, &catalog, 3);
        let shown: Vec<String> = all
            .iter()
            .map(|c| c.index.create_sql("x", false, false))
            .collect();
        assert!(
            shown
                .iter()
                .any(|s| s.contains("(created_at)") && s.contains("WHERE status = 'pending'")),
            "{shown:#?}"
        );
        assert!(
            shown.iter().any(|s| s.contains("attrs ->> 'brand'")),
            "{shown:#?}"
        );
    }

    #[test]
    fn a_literal_on_a_high_cardinality_column_gives_no_partial_index() {
        let catalog = adx_catalog();
        let q = query(
            "SELECT * FROM users WHERE org_id = 42 AND created_at > $1",
            100.0,
        );
        let all = crate::candidates::workload_candidates(&[q], &catalog, 3);
        assert!(
            all.iter().all(|c| c.index.predicate.is_none()),
            "{:#?}",
            all.iter()
                .map(|c| c.index.create_sql("x", false, false))
                .collect::<Vec<_>>()
        );
        // A status literal still does.
        let q = query(
            "SELECT * FROM users WHERE status = 'pending' AND created_at > $1",
            100.0,
        );
        let all = crate::candidates::workload_candidates(&[q], &catalog, 3);
        assert!(all.iter().any(|c| c.index.predicate.is_some()));
    }
}
