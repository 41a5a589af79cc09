//! `lint.large_offset`: `OFFSET n` with a large n (a constant, or the sampled
//! values of its parameter). PostgreSQL produces and throws away the first n
//! rows on every call, so deep pages get slower linearly; keyset pagination
//! (`WHERE (sort key) > (last seen) … LIMIT k`) costs the same on every page.

use pgpilot_plan::{Finding, Severity};
use pgpilot_sql::{LimitValue, Target};
use serde_json::Value;

use crate::util::finding;
use crate::LintInput;

pub(crate) const ID: &str = "lint.large_offset";

fn parse_count(s: &str) -> Option<u64> {
    s.trim().parse::<u64>().ok().or_else(|| {
        s.trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite() && *f >= 0.0)
            .map(|f| f as u64)
    })
}

pub(crate) fn check(input: &LintInput<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for b in &input.shape.blocks {
        let (offset, source) = match &b.offset {
            Some(LimitValue::Const(c)) => match parse_count(c) {
                Some(n) => (n, "constant".to_string()),
                None => continue,
            },
            Some(LimitValue::Param(n)) => {
                match input.param_values(*n).filter_map(parse_count).max() {
                    Some(v) => (v, format!("largest sampled value of ${n}")),
                    None => continue,
                }
            }
            _ => continue,
        };
        if offset < input.config.large_offset {
            continue;
        }
        let keys: Vec<(String, bool)> = b
            .order_by
            .iter()
            .map(|o| {
                let name = match &o.target {
                    Target::Column(c) => c.column.clone(),
                    Target::Expression { text, .. } => text.clone(),
                };
                (name, o.descending)
            })
            .collect();
        let table = b
            .order_by
            .iter()
            .find_map(|o| o.target.column().and_then(|c| c.table.clone()))
            .or_else(|| b.tables.first().map(|t| t.qualified_name()));
        let severity = if offset >= 10 * input.config.large_offset {
            Severity::Warning
        } else {
            Severity::Info
        };
        let mut f = finding(
            ID,
            severity,
            format!("OFFSET {offset}: {offset} rows are produced and discarded on every call"),
            format!(
                "OFFSET {offset} ({source}) makes PostgreSQL compute, sort and then throw away \
                 {offset} rows before returning the page, so each deeper page costs more than \
                 the previous one. Keyset pagination remembers the sort key of the last row of \
                 the previous page and asks for the rows after it, which an index on the sort \
                 key answers in constant time."
            ),
            Some(input),
        );
        let hint = if keys.is_empty() {
            "Add an ORDER BY on a unique key and paginate with `WHERE key > $last ORDER BY key \
             LIMIT n` instead of OFFSET."
                .to_string()
        } else {
            let cols: Vec<&str> = keys.iter().map(|(c, _)| c.as_str()).collect();
            let last: Vec<String> = (1..=cols.len()).map(|i| format!("$last{i}")).collect();
            let op = if keys.iter().all(|(_, d)| *d) {
                "<"
            } else {
                ">"
            };
            format!(
                "Replace OFFSET by keyset pagination: `WHERE ({}) {op} ({}) ORDER BY … LIMIT n` \
                 with the values of the last row already shown (add a unique column to the \
                 ORDER BY if it is not unique, and index the ORDER BY columns).",
                cols.join(", "),
                last.join(", ")
            )
        };
        f.fix_hint = Some(hint);
        f.table = table;
        f.columns = keys.into_iter().map(|(c, _)| c).collect();
        f.evidence.insert("offset".into(), Value::from(offset));
        f.evidence.insert("source".into(), Value::from(source));
        out.push(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lints::test_support::{run, run_with};
    use crate::util::test_support::adx;

    #[test]
    fn fires_on_large_constant_and_sampled_offsets() {
        let f = run(
            "SELECT id FROM audit_logs ORDER BY \"timestamp\" DESC LIMIT 20 OFFSET 50000",
            check,
        );
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].evidence["offset"], 50000);
        assert_eq!(f[0].severity, Severity::Warning);
        assert_eq!(f[0].columns, ["timestamp"]);
        let samples = vec![
            vec![Some("20".into()), Some("40".into())],
            vec![Some("20".into()), Some("2000".into())],
        ];
        let f = run_with(
            "SELECT id FROM users ORDER BY id LIMIT $1 OFFSET $2",
            &adx(),
            None,
            &samples,
            check,
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].evidence["offset"], 2000);
    }

    #[test]
    fn quiet_on_small_or_unknown_offsets() {
        assert!(run("SELECT id FROM users ORDER BY id LIMIT 20 OFFSET 40", check).is_empty());
        assert!(run("SELECT id FROM users ORDER BY id LIMIT 20 OFFSET $1", check).is_empty());
        assert!(run("SELECT id FROM users LIMIT 20", check).is_empty());
    }
}
