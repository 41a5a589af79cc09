//! Parameter values to plan a query with: its captured samples when it has
//! some, else values drawn from the catalog's column statistics for the column
//! each `$n` is compared with. NULL only when nothing is known about a `$n`
//! that matters to the plan — a NULL hides selectivity and never matches a
//! partial index, so the result says when that happened.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use pgpilot_sql::{LimitValue, Operand, PredicateKind, Target};

use crate::facts::resolve;
use crate::{AdvisorQuery, Catalog};

/// `LIMIT $n` is planned with this many rows when no sample is known.
pub const DEFAULT_LIMIT: &str = "20";

/// An interval parameter (`now() - $1::interval`) with no sample: a guess,
/// reported as such ([`ParameterSets::guessed`]).
pub const DEFAULT_INTERVAL: &str = "1 day";

/// Where the values of a query's parameter sets come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamSource {
    /// The query has no `$n`: one empty set.
    NoParameters,
    /// Captured workload samples.
    Samples,
    /// Drawn from column statistics (most common values, histogram bounds).
    Statistics,
}

/// The parameter sets of one query.
#[derive(Debug, Clone, PartialEq)]
pub struct ParameterSets {
    /// Values for `$1..$n` (text, `None` = NULL), one vector per set; never empty.
    pub sets: Vec<Vec<Option<String>>>,
    /// Where they come from.
    pub source: ParamSource,
    /// `$n` numbers that matter to the plan (compared with a column, LIMIT) but
    /// got NULL because nothing was known about them.
    pub unbound: Vec<usize>,
    /// `$n` numbers given a type-based guess ([`DEFAULT_INTERVAL`]) rather than
    /// a sample or a statistic.
    pub guessed: Vec<usize>,
}

impl ParameterSets {
    /// Some plan-relevant parameter was planned as NULL or with a guess.
    pub fn made_up(&self) -> bool {
        !self.unbound.is_empty() || !self.guessed.is_empty()
    }
}

/// Most parameters a statement can have (the wire protocol's 16-bit count).
pub const MAX_PARAMS: usize = 65_535;

/// The highest `$n` in `sql` outside literals, quoted identifiers and comments
/// (at most [`MAX_PARAMS`]).
pub fn param_count(sql: &str) -> usize {
    let s = pgpilot_sql::scan(sql);
    s.literals
        .iter()
        .filter(|l| l.kind == pgpilot_sql::LiteralKind::Param)
        .filter_map(|l| l.raw(sql).trim_start_matches('$').parse::<usize>().ok())
        .map(|n| n.min(MAX_PARAMS))
        .max()
        .unwrap_or(0)
}

/// How a parameter is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Compared for equality (or anything else with one value).
    Point,
    /// `= ANY($n)`: an array.
    Array,
    /// Lower bound of a range.
    Lower,
    /// Upper bound of a range.
    Upper,
    /// LIMIT.
    Limit,
    /// OFFSET.
    Offset,
    /// An interval inside an expression (`now() - $1::interval`).
    Interval,
}

/// Whether `$n` is used as an interval in `text` (`$n::interval`, `INTERVAL $n`).
fn interval_param(text: &str, n: usize) -> bool {
    let t = text.to_ascii_lowercase();
    let p = format!("${n}");
    t.match_indices(&p).any(|(i, _)| {
        let after = &t[i + p.len()..];
        let digit_follows = after.starts_with(|c: char| c.is_ascii_digit());
        !digit_follows
            && (after.trim_start().starts_with("::interval")
                || t[..i].trim_end().ends_with("interval"))
    })
}

/// What is known about one `$n`: its role and the sample values of its column.
#[derive(Debug, Clone)]
struct Use {
    role: Role,
    column: Option<(String, String)>,
    values: Vec<String>,
}

fn params_in_text(text: &str) -> Vec<usize> {
    let s = pgpilot_sql::scan(text);
    s.literals
        .iter()
        .filter(|l| l.kind == pgpilot_sql::LiteralKind::Param)
        .filter_map(|l| l.raw(text).trim_start_matches('$').parse::<usize>().ok())
        .collect()
}

fn uses(query: &AdvisorQuery, catalog: &Catalog) -> BTreeMap<usize, Use> {
    let shape = &query.shape;
    let mut out: BTreeMap<usize, Use> = BTreeMap::new();
    for block in &shape.blocks {
        for p in &block.predicates {
            let col = match &p.target {
                Target::Column(c) => Some(c),
                Target::Expression { columns, .. } => columns.first(),
            };
            let info = col.and_then(|c| {
                let t = resolve(shape, block, c, catalog)?;
                let ci = t.column(&c.column)?;
                Some((
                    (t.qualified_name(), ci.name.clone()),
                    ci.sample_values.clone(),
                ))
            });
            let n_values = p.values.len();
            for (i, v) in p.values.iter().enumerate() {
                let role = match p.kind {
                    PredicateKind::In if n_values == 1 => Role::Array,
                    PredicateKind::Range if p.op == "between" => {
                        if i == 0 {
                            Role::Lower
                        } else {
                            Role::Upper
                        }
                    }
                    PredicateKind::Range if p.op.starts_with('>') => Role::Lower,
                    PredicateKind::Range if p.op.starts_with('<') => Role::Upper,
                    _ => Role::Point,
                };
                let numbers = match v {
                    Operand::Param(n) if *n > 0 => vec![(*n as usize, None)],
                    // `created_at > now() - $1::interval`: the parameter is not a
                    // value of the column; only its type may be known.
                    Operand::Expr(e) => params_in_text(e)
                        .into_iter()
                        .map(|n| (n, Some(interval_param(e, n))))
                        .collect(),
                    _ => Vec::new(),
                };
                for (n, inside) in numbers {
                    let entry = match inside {
                        None => Use {
                            role,
                            column: info.as_ref().map(|(k, _)| k.clone()),
                            values: info.as_ref().map(|(_, v)| v.clone()).unwrap_or_default(),
                        },
                        Some(interval) => Use {
                            role: if interval {
                                Role::Interval
                            } else {
                                Role::Point
                            },
                            column: None,
                            values: Vec::new(),
                        },
                    };
                    // Keep the first use that knows values.
                    match out.get(&n) {
                        Some(prev) if !prev.values.is_empty() || entry.values.is_empty() => {}
                        _ => {
                            out.insert(n, entry);
                        }
                    }
                }
            }
        }
        for (lv, role) in [(&block.limit, Role::Limit), (&block.offset, Role::Offset)] {
            if let Some(LimitValue::Param(n)) = lv {
                if *n > 0 {
                    out.entry(*n as usize).or_insert(Use {
                        role,
                        column: None,
                        values: Vec::new(),
                    });
                }
            }
        }
    }
    out
}

/// Compares two values of one column: numerically when both are numbers,
/// else as text (right for ISO dates and timestamps).
fn cmp_values(a: &str, b: &str) -> Ordering {
    match (a.trim().parse::<f64>(), b.trim().parse::<f64>()) {
        (Ok(x), Ok(y)) => x.total_cmp(&y),
        _ => a.cmp(b),
    }
}

/// An array literal `{a,b}` with elements quoted as PostgreSQL needs.
pub fn array_literal(values: &[String]) -> String {
    let items: Vec<String> = values
        .iter()
        .map(|v| {
            let plain = !v.is_empty()
                && !v.eq_ignore_ascii_case("null")
                && !v
                    .chars()
                    .any(|c| matches!(c, '{' | '}' | ',' | '"' | '\\') || c.is_whitespace());
            if plain {
                v.clone()
            } else {
                format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
            }
        })
        .collect();
    format!("{{{}}}", items.join(","))
}

/// Position `i` of `n` spread over `len` items.
fn spread(i: usize, n: usize, len: usize) -> usize {
    if len == 0 || n == 0 {
        return 0;
    }
    (i * len / n).min(len - 1)
}

/// The value of one parameter in set `i` of `n`, from statistics.
fn drawn(u: &Use, i: usize, n: usize, paired: bool) -> Option<String> {
    match u.role {
        Role::Limit => return Some(DEFAULT_LIMIT.to_string()),
        Role::Offset => return Some("0".to_string()),
        Role::Interval => return Some(DEFAULT_INTERVAL.to_string()),
        _ => {}
    }
    if u.values.is_empty() {
        return None;
    }
    let len = u.values.len();
    match u.role {
        Role::Point => Some(u.values[spread(i, n, len)].clone()),
        Role::Array => {
            let a = spread(i, n, len);
            let mut items = vec![u.values[a].clone()];
            if len > 1 {
                items.push(u.values[(a + 1) % len].clone());
            }
            Some(array_literal(&items))
        }
        Role::Lower | Role::Upper => {
            let mut sorted = u.values.clone();
            sorted.sort_by(|a, b| cmp_values(a, b));
            sorted.dedup();
            let len = sorted.len();
            if paired && len > 1 {
                // Both bounds: two neighbouring values, a narrow realistic range.
                let k = spread(i, n, len - 1);
                let v = if u.role == Role::Lower { k } else { k + 1 };
                Some(sorted[v].clone())
            } else {
                // One bound: from the middle outwards, never the extremes alone.
                let k = ((i + 1) * len / (n + 1)).min(len - 1);
                Some(sorted[k].clone())
            }
        }
        Role::Limit | Role::Offset | Role::Interval => None,
    }
}

/// Up to `max_sets` parameter sets for `query` (see the module docs).
pub fn parameter_sets(query: &AdvisorQuery, catalog: &Catalog, max_sets: usize) -> ParameterSets {
    let max_sets = max_sets.max(1);
    let shape_max = uses(query, catalog).keys().copied().max().unwrap_or(0);
    // More than the protocol allows cannot be planned anyway: planning reports
    // it, instead of this allocating a vector per absurd `$2000000000`.
    let count = param_count(&query.sql).max(shape_max).min(MAX_PARAMS);
    if count == 0 {
        return ParameterSets {
            sets: vec![Vec::new()],
            source: ParamSource::NoParameters,
            unbound: Vec::new(),
            guessed: Vec::new(),
        };
    }
    let uses = uses(query, catalog);
    let paired = |u: &Use| -> bool {
        let other = match u.role {
            Role::Lower => Role::Upper,
            Role::Upper => Role::Lower,
            _ => return false,
        };
        uses.values()
            .any(|x| x.role == other && x.column.is_some() && x.column == u.column)
    };
    let stats_sets = uses
        .values()
        .map(|u| u.values.len())
        .max()
        .unwrap_or(1)
        .clamp(1, max_sets);
    let stats_value = |n: usize, i: usize, sets: usize| -> Option<String> {
        let u = uses.get(&n)?;
        drawn(u, i, sets, paired(u))
    };
    let mut unbound: Vec<usize> = Vec::new();
    let (sets, source) = if query.samples.is_empty() {
        let sets: Vec<Vec<Option<String>>> = (0..stats_sets)
            .map(|i| (1..=count).map(|n| stats_value(n, i, stats_sets)).collect())
            .collect();
        (sets, ParamSource::Statistics)
    } else {
        let len = query.samples.len();
        let take = len.min(max_sets);
        let sets = (0..take)
            .map(|i| {
                let sample = &query.samples[spread(i, take, len)];
                (1..=count)
                    .map(|n| match sample.get(n - 1) {
                        Some(v) => v.clone(),
                        None => stats_value(n, i, take),
                    })
                    .collect()
            })
            .collect();
        (sets, ParamSource::Samples)
    };
    let mut guessed: Vec<usize> = Vec::new();
    for n in 1..=count {
        let from_guess = uses.get(&n).is_some_and(|u| u.role == Role::Interval);
        let sampled = source == ParamSource::Samples && query.samples.iter().all(|s| s.len() >= n);
        if from_guess && !sampled {
            guessed.push(n);
        }
        let relevant = uses.contains_key(&n);
        if relevant
            && sets
                .iter()
                .any(|s: &Vec<Option<String>>| s[n - 1].is_none())
        {
            let from_sample_null =
                source == ParamSource::Samples && query.samples.iter().all(|s| s.len() >= n);
            if !from_sample_null {
                unbound.push(n);
            }
        }
    }
    ParameterSets {
        sets,
        source,
        unbound,
        guessed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{adx_catalog, query};

    fn catalog() -> Catalog {
        let mut c = adx_catalog();
        for t in &mut c.tables {
            for col in &mut t.columns {
                col.sample_values = match (t.table.as_str(), col.name.as_str()) {
                    ("users", "status") => vec!["active".into(), "pending".into(), "banned".into()],
                    ("users", "created_at") => vec![
                        "2024-03-01".into(),
                        "2024-01-01".into(),
                        "2024-02-01".into(),
                        "2024-04-01".into(),
                    ],
                    ("orders", "total") => vec!["100".into(), "9".into(), "20".into()],
                    ("users", "name") => vec!["a b".into(), "c\"d".into()],
                    _ => Vec::new(),
                };
            }
        }
        c
    }

    #[test]
    fn counts_params_outside_literals() {
        assert_eq!(
            param_count("SELECT $1, '$5', \"$7\" -- $9\n FROM t WHERE a = $2"),
            2
        );
        assert_eq!(param_count("SELECT 1"), 0);
        assert_eq!(param_count("SELECT $$ $4 $$, $3"), 3);
    }

    #[test]
    fn no_params_gives_one_empty_set() {
        let p = parameter_sets(
            &query("SELECT * FROM users WHERE status = 'x'", 1.0),
            &catalog(),
            3,
        );
        assert_eq!(p.sets, vec![Vec::<Option<String>>::new()]);
        assert_eq!(p.source, ParamSource::NoParameters);
    }

    #[test]
    fn samples_are_spread_and_capped() {
        let mut q = query("SELECT * FROM users WHERE status = $1", 1.0);
        q.samples = (0..10).map(|i| vec![Some(format!("s{i}"))]).collect();
        let p = parameter_sets(&q, &catalog(), 3);
        assert_eq!(p.source, ParamSource::Samples);
        let got: Vec<&str> = p
            .sets
            .iter()
            .map(|s| s[0].as_deref().unwrap_or(""))
            .collect();
        assert_eq!(got, ["s0", "s3", "s6"]);
        assert!(!p.made_up());
    }

    #[test]
    fn statistics_fill_points_ranges_arrays_and_limits() {
        let q = query(
            "SELECT * FROM users u JOIN orders o ON o.user_id = u.id WHERE u.status = $1 \
             AND u.created_at BETWEEN $2 AND $3 AND o.total > $4 AND u.name = ANY($5) LIMIT $6",
            1.0,
        );
        let p = parameter_sets(&q, &catalog(), 2);
        assert_eq!(p.source, ParamSource::Statistics);
        assert_eq!(p.sets.len(), 2);
        for s in &p.sets {
            assert_eq!(s.len(), 6);
            assert!(s.iter().all(Option::is_some), "{s:?}");
            let lo = s[1].as_deref().unwrap_or("");
            let hi = s[2].as_deref().unwrap_or("");
            assert!(lo < hi, "{lo} < {hi}");
            assert_eq!(s[5].as_deref(), Some(DEFAULT_LIMIT));
        }
        assert_eq!(p.sets[0][0].as_deref(), Some("active"));
        assert_eq!(p.sets[1][0].as_deref(), Some("pending"));
        // Numeric order for a lone lower bound: the middle of 9, 20, 100.
        assert_eq!(p.sets[0][3].as_deref(), Some("20"));
        assert_eq!(p.sets[0][4].as_deref(), Some("{\"a b\",\"c\\\"d\"}"));
        assert!(!p.made_up());
    }

    #[test]
    fn unknown_columns_are_flagged_and_short_samples_filled() {
        let q = query("SELECT * FROM users WHERE email = $1 AND status = $2", 1.0);
        let p = parameter_sets(&q, &catalog(), 2);
        assert_eq!(p.unbound, [1]);
        assert!(p.made_up());
        assert!(p.sets.iter().all(|s| s[1].is_some()));
        let mut q = q;
        q.samples = vec![vec![Some("a@b".into())]];
        let p = parameter_sets(&q, &catalog(), 2);
        assert_eq!(
            p.sets,
            vec![vec![Some("a@b".into()), Some("active".into())]]
        );
        assert!(!p.made_up());
    }

    #[test]
    fn interval_parameters_inside_expressions_get_a_flagged_guess() {
        let q = query(
            "SELECT * FROM users WHERE created_at > now() - $1::interval AND status = $2",
            1.0,
        );
        let p = parameter_sets(&q, &catalog(), 1);
        assert_eq!(p.sets[0][0].as_deref(), Some(DEFAULT_INTERVAL));
        assert_eq!(p.sets[0][1].as_deref(), Some("active"));
        assert_eq!(p.guessed, [1]);
        assert!(p.made_up());
        // Not the column's values: they are timestamps, not intervals.
        let q = query("SELECT * FROM users WHERE created_at > $2 - $1 * 2", 1.0);
        let p = parameter_sets(&q, &catalog(), 1);
        assert_eq!(p.sets[0], vec![None, None]);
        assert_eq!(p.unbound, [1, 2]);
        assert!(!interval_param("now() - $12::interval", 1));
        assert!(interval_param("now() - INTERVAL $1", 1));
    }

    #[test]
    fn params_that_do_not_shape_the_plan_are_not_flagged() {
        let q = query("INSERT INTO orders (user_id, total) VALUES ($1, $2)", 1.0);
        let p = parameter_sets(&q, &catalog(), 2);
        assert_eq!(p.sets, vec![vec![None, None]]);
        assert!(!p.made_up());
    }
}
