//! `health.sequence_exhaustion`: PgHero's rule — a sequence that has used more than
//! 90 % of its range, counting the range of the column it feeds (a `bigint`
//! sequence behind an `integer` column runs out at 2 147 483 647).

use pgpilot_findings::{Finding, Severity};

use super::{ev, finding, round1};
use crate::facts::{HealthFacts, SequenceFacts};
use crate::ident::{qualified, quote_ident};

/// Rule id.
pub(crate) const ID: &str = "health.sequence_exhaustion";
/// PgHero's threshold, share of the range used.
const WARN_SHARE: f64 = 0.90;
/// Critical above this share.
const CRITICAL_SHARE: f64 = 0.99;

fn type_range(t: &str) -> Option<(i64, i64)> {
    match t {
        "smallint" | "int2" => Some((i16::MIN as i64, i16::MAX as i64)),
        "integer" | "int" | "int4" => Some((i32::MIN as i64, i32::MAX as i64)),
        "bigint" | "int8" => Some((i64::MIN, i64::MAX)),
        _ => None,
    }
}

/// Share of the usable range consumed, and whether the column is the limit.
fn used(s: &SequenceFacts) -> Option<(f64, bool)> {
    let last = s.last_value?;
    let col = s.owned_by.as_ref().and_then(|o| type_range(&o.data_type));
    let (lo, hi) = (s.min_value, s.max_value);
    let (col_lo, col_hi) = col.unwrap_or((lo, hi));
    if s.increment >= 0 {
        let limit = hi.min(col_hi);
        let span = (limit as f64) - (lo as f64);
        (span > 0.0).then(|| (((last as f64) - (lo as f64)) / span, col_hi < hi))
    } else {
        let limit = lo.max(col_lo);
        let span = (hi as f64) - (limit as f64);
        (span > 0.0).then(|| (((hi as f64) - (last as f64)) / span, col_lo > lo))
    }
}

pub(crate) fn check(facts: &HealthFacts) -> Vec<Finding> {
    let mut out = Vec::new();
    for s in &facts.sequences {
        if s.cycle {
            continue;
        }
        let Some((share, column_limits)) = used(s) else {
            continue;
        };
        if share <= WARN_SHARE {
            continue;
        }
        let severity = if share > CRITICAL_SHARE {
            Severity::Critical
        } else {
            Severity::Warning
        };
        let name = format!("{}.{}", s.schema, s.name);
        let mut f = finding(
            ID,
            severity,
            format!(
                "Sequence {name} has used {:.1} % of its range",
                share * 100.0
            ),
            format!(
                "When {name} runs out, every INSERT that draws from it fails. {}",
                if column_limits {
                    "The column it feeds is the limit: its type is narrower than the sequence's."
                } else {
                    "The sequence's own maximum is the limit."
                }
            ),
        );
        let mut fix = Vec::new();
        if let Some(o) = &s.owned_by {
            if o.data_type != "bigint" {
                fix.push(format!(
                    "ALTER TABLE {} ALTER COLUMN {} TYPE bigint;",
                    qualified(&o.schema, &o.table),
                    quote_ident(&o.column)
                ));
            }
            f.table = Some(format!("{}.{}", o.schema, o.table));
            f.columns = vec![o.column.clone()];
        }
        if s.data_type != "bigint" {
            fix.push(format!(
                "ALTER SEQUENCE {} AS bigint;",
                qualified(&s.schema, &s.name)
            ));
        }
        if fix.is_empty() {
            f.fix_hint = Some(
                "The sequence and its column are already bigint: raise MAXVALUE if it was \
                 lowered, or review why ids are consumed so fast."
                    .into(),
            );
        } else {
            f.fix_sql = Some(fix.join("\n"));
            f.fix_hint = Some(
                "Changing a column's type rewrites the table under an ACCESS EXCLUSIVE lock \
                 (and its indexes and referencing columns): plan a maintenance window, or \
                 migrate through a new column."
                    .into(),
            );
        }
        ev(&mut f, "sequence", name);
        ev(&mut f, "last_value", s.last_value);
        ev(&mut f, "max_value", s.max_value);
        ev(&mut f, "used_percent", round1(share * 100.0));
        out.push(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::SequenceOwner;

    fn seq(last: i64, col_type: &str) -> SequenceFacts {
        SequenceFacts {
            schema: "public".into(),
            name: "orders_id_seq".into(),
            data_type: "bigint".into(),
            last_value: Some(last),
            min_value: 1,
            max_value: i64::MAX,
            increment: 1,
            cycle: false,
            owned_by: Some(SequenceOwner {
                schema: "public".into(),
                table: "orders".into(),
                column: "id".into(),
                data_type: col_type.into(),
            }),
        }
    }

    #[test]
    fn fires_when_the_integer_column_is_nearly_full() {
        let f = HealthFacts {
            sequences: vec![seq(2_100_000_000, "integer")],
            ..HealthFacts::default()
        };
        let v = check(&f);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].severity, Severity::Warning);
        assert_eq!(
            v[0].fix_sql.as_deref(),
            Some("ALTER TABLE public.orders ALTER COLUMN id TYPE bigint;")
        );
    }

    #[test]
    fn quiet_with_room_or_no_value() {
        let mut never = seq(0, "integer");
        never.last_value = None;
        let f = HealthFacts {
            sequences: vec![seq(2_100_000_000, "bigint"), never],
            ..HealthFacts::default()
        };
        assert!(check(&f).is_empty());
    }
}
