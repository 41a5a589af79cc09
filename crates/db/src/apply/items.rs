//! Turning a plan into items: which recommendations are selected (verified
//! only by default; `no_gain` and `regression` never), the checked DDL of each
//! (a single concurrent index creation naming the recommended index), the
//! statement that undoes it, and the measured before/after times to journal.

use pgpilot_advisor::{AdvicePlan, ChangeAction, Recommendation, VerifyStatus};

use super::partitioned::is_partitioned;
use super::session::Session;
use super::steps::{quoted, IndexTarget, Op};
use super::{ApplyItem, ApplyOptions, ApplyOutcome};
use crate::error::DbError;

/// An item with what to run for it (`None` = skipped).
pub(crate) struct Planned {
    pub item: ApplyItem,
    pub step: Option<(Op, IndexTarget)>,
}

fn item(action: ChangeAction, name: String, table: &str, ddl: String) -> ApplyItem {
    ApplyItem {
        action,
        name,
        table: table.to_string(),
        ddl,
        rollback_ddl: String::new(),
        outcome: ApplyOutcome::WouldApply,
        message: String::new(),
        tries: Vec::new(),
        elapsed_ms: 0.0,
        change_id: None,
        before_ms: None,
        after_ms: None,
    }
}

/// Why a recommendation is not selected, if it is not.
fn not_selected(rec: &Recommendation, options: &ApplyOptions) -> Option<String> {
    let v = rec.verification.as_ref();
    match v.map(|v| v.status) {
        Some(VerifyStatus::Verified) => None,
        Some(VerifyStatus::NoGain) => Some(format!(
            "not applied: verify measured no real gain ({:.0} %){}",
            v.map(|v| v.gain * 100.0).unwrap_or(0.0),
            v.filter(|v| !v.note.is_empty())
                .map(|v| format!(": {}", v.note))
                .unwrap_or_default()
        )),
        Some(VerifyStatus::Regression) => Some(format!(
            "not applied: verify measured a regression{}",
            v.filter(|v| !v.note.is_empty())
                .map(|v| format!(": {}", v.note))
                .unwrap_or_default()
        )),
        Some(VerifyStatus::Skipped) | None if options.only_verified => Some(
            "not applied: not verified by a real measurement (run pgpilot verify, or pass \
             --include-unverified)"
                .to_string(),
        ),
        Some(VerifyStatus::Skipped) | None => None,
    }
}

/// Calls-weighted mean of the measured medians before and after.
fn measured(rec: &Recommendation) -> (Option<f64>, Option<f64>) {
    let Some(v) = rec.verification.as_ref().filter(|v| !v.queries.is_empty()) else {
        return (None, None);
    };
    let total: f64 = v.queries.iter().map(|q| q.calls.max(0.0)).sum();
    let weight = |c: f64| {
        if total > 0.0 {
            c.max(0.0) / total
        } else {
            1.0 / v.queries.len() as f64
        }
    };
    let before = v
        .queries
        .iter()
        .map(|q| weight(q.calls) * q.before.median_ms)
        .sum();
    let after = v
        .queries
        .iter()
        .map(|q| weight(q.calls) * q.after.median_ms)
        .sum();
    (Some(before), Some(after))
}

/// The first words of a statement, upper-cased, with their end offsets.
fn leading_words(sql: &str, n: usize) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    let mut rest = sql;
    let mut offset = 0;
    while out.len() < n {
        let trimmed = rest.trim_start();
        offset += rest.len() - trimmed.len();
        if trimmed.is_empty() {
            break;
        }
        let len = trimmed.find(char::is_whitespace).unwrap_or(trimmed.len());
        out.push((trimmed[..len].to_uppercase(), offset + len));
        offset += len;
        rest = &trimmed[len..];
    }
    out
}

/// `CREATE [UNIQUE] INDEX …` made concurrent; `None` when it is not an index
/// creation.
pub(crate) fn concurrent_create(ddl: &str) -> Option<String> {
    let words = leading_words(ddl, 4);
    let w = |i: usize| words.get(i).map(|(s, _)| s.as_str());
    let index_at = match (w(0), w(1), w(2)) {
        (Some("CREATE"), Some("INDEX"), _) => 1,
        (Some("CREATE"), Some("UNIQUE"), Some("INDEX")) => 2,
        _ => return None,
    };
    if w(index_at + 1) == Some("CONCURRENTLY") {
        return Some(ddl.trim().to_string());
    }
    let cut = words[index_at].1;
    Some(
        format!("{} CONCURRENTLY{}", ddl[..cut].trim_start(), &ddl[cut..])
            .trim()
            .to_string(),
    )
}

/// The plan's creation DDL, checked: one concurrent index creation naming the
/// recommended index.
fn create_ddl(rec: &Recommendation) -> Result<String, String> {
    let ddl = if rec.ddl.trim().is_empty() {
        rec.index.create_sql(&rec.name, true, true)
    } else {
        rec.ddl.trim().trim_end_matches(';').to_string()
    };
    match concurrent_create(&ddl) {
        Some(c) if c == ddl => {}
        Some(_) => {
            return Err(
                "its DDL is a CREATE INDEX without CONCURRENTLY, which would block \
                        writes to the table while it runs"
                    .into(),
            )
        }
        None => return Err("its DDL is not a CREATE INDEX CONCURRENTLY statement".into()),
    }
    if !ddl.contains(&rec.name) {
        return Err(format!(
            "its DDL does not create an index named {}",
            rec.name
        ));
    }
    Ok(ddl)
}

/// What is shown and journaled for an index on a partitioned table (which is
/// built from the recommended definition: `ON ONLY` the parent, then each
/// partition concurrently), checked against the plan's DDL: an edited DDL is
/// not silently replaced.
fn partitioned_ddl(rec: &Recommendation, ddl: &str) -> Result<String, String> {
    if rec.index.qualified_table() != rec.table {
        return Err(format!(
            "the recommended index is on {}, not on {}",
            rec.index.qualified_table(),
            rec.table
        ));
    }
    let normal = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    if normal(ddl) != normal(&rec.index.create_sql(&rec.name, true, true)) {
        return Err(format!(
            "{} is partitioned, so the index is built from the recommended definition \
             (ON ONLY the parent, then each partition concurrently), but the plan's DDL \
             was edited and differs from it",
            rec.table
        ));
    }
    let mut parent = rec.index.create_sql(&rec.name, false, true);
    let table = qualified_sql(&rec.index);
    let on = format!(" ON {table}");
    if let Some(at) = parent.rfind(&on).filter(|_| !table.is_empty()) {
        parent.insert_str(at + 4, "ONLY ");
    }
    Ok(format!(
        "{parent}; then on each partition CREATE INDEX CONCURRENTLY and ALTER INDEX … ATTACH PARTITION"
    ))
}

/// `schema.table` as [`IndexDef::create_sql`] writes it.
fn qualified_sql(def: &pgpilot_advisor::IndexDef) -> String {
    let sql = def.create_sql("x", false, false);
    let body = def.body_sql();
    sql.strip_prefix(if def.unique {
        "CREATE UNIQUE INDEX x ON "
    } else {
        "CREATE INDEX x ON "
    })
    .and_then(|rest| rest.strip_suffix(&body))
    .map(|t| t.trim().to_string())
    .unwrap_or_default()
}

/// The schema of index `name` on `table`, else the table's schema.
async fn drop_schema(sess: &Session, name: &str, table: &str) -> Result<String, DbError> {
    let row = sess
        .client
        .query_opt(
            "SELECT coalesce((SELECT n.nspname::text FROM pg_index i \
                    JOIN pg_class c ON c.oid = i.indexrelid \
                    JOIN pg_namespace n ON n.oid = c.relnamespace \
                    WHERE c.relname = $1 AND i.indrelid = t.oid LIMIT 1), tn.nspname::text) \
             FROM pg_class t JOIN pg_namespace tn ON tn.oid = t.relnamespace \
             WHERE tn.nspname || '.' || t.relname = $2",
            &[&name, &table],
        )
        .await
        .map_err(|e| DbError::query(format!("looking up index {name}"), e))?;
    Ok(row
        .map(|r| r.get(0))
        .unwrap_or_else(|| table.split('.').next().unwrap_or("public").to_string()))
}

/// Everything the plan holds, selected or not, in the order it is handled.
pub(crate) async fn plan_items(
    sess: &Session,
    plan: &AdvicePlan,
    options: &ApplyOptions,
) -> Result<Vec<Planned>, DbError> {
    let mut out = Vec::new();
    for rec in &plan.recommendations {
        let schema = rec.index.schema.clone();
        let mut it = item(
            ChangeAction::CreateIndex,
            format!("{schema}.{}", rec.name),
            &rec.table,
            rec.ddl.clone(),
        );
        (it.before_ms, it.after_ms) = measured(rec);
        let reason = not_selected(rec, options);
        let step = match (reason, create_ddl(rec)) {
            (Some(why), _) => {
                it.outcome = ApplyOutcome::Skipped;
                it.message = why;
                None
            }
            (None, Err(why)) => {
                it.outcome = ApplyOutcome::Skipped;
                it.message = format!("not applied: {why}");
                None
            }
            (None, Ok(ddl)) => {
                let target = IndexTarget {
                    schema: schema.clone(),
                    name: rec.name.clone(),
                    table: rec.table.clone(),
                };
                let q = quoted(sess, &schema, &rec.name).await?;
                if is_partitioned(&sess.client, &rec.index.schema, &rec.index.table).await? {
                    match partitioned_ddl(rec, &ddl) {
                        Ok(parent) => {
                            it.ddl = parent;
                            // Not CONCURRENTLY: PostgreSQL cannot drop a
                            // partitioned index concurrently.
                            it.rollback_ddl = format!("DROP INDEX IF EXISTS {q}");
                            let index = Box::new(rec.index.clone());
                            Some((Op::CreatePartitioned { index }, target))
                        }
                        Err(why) => {
                            it.outcome = ApplyOutcome::Skipped;
                            it.message = format!("not applied: {why}");
                            None
                        }
                    }
                } else {
                    it.ddl = ddl.clone();
                    it.rollback_ddl = format!("DROP INDEX CONCURRENTLY IF EXISTS {q}");
                    Some((Op::Create { ddl }, target))
                }
            }
        };
        out.push(Planned { item: it, step });
    }
    for d in &plan.drops {
        let schema = drop_schema(sess, &d.name, &d.table).await?;
        let q = quoted(sess, &schema, &d.name).await?;
        let mut it = item(
            ChangeAction::DropIndex,
            format!("{schema}.{}", d.name),
            &d.table,
            format!("DROP INDEX CONCURRENTLY IF EXISTS {q}"),
        );
        it.rollback_ddl = concurrent_create(&d.recreate_ddl).unwrap_or_default();
        let step = if options.include_drops {
            let target = IndexTarget {
                schema,
                name: d.name.clone(),
                table: d.table.clone(),
            };
            Some((Op::Drop, target))
        } else {
            it.outcome = ApplyOutcome::Skipped;
            it.message = format!(
                "not applied: drops only on request ({}: {})",
                d.reason, d.detail
            );
            None
        };
        out.push(Planned { item: it, step });
    }
    for table in &plan.analyze {
        let mut it = item(
            ChangeAction::Analyze,
            table.clone(),
            table,
            format!("ANALYZE {table}"),
        );
        let step = if options.analyze {
            let target = IndexTarget {
                schema: String::new(),
                name: String::new(),
                table: table.clone(),
            };
            Some((Op::Analyze, target))
        } else {
            it.outcome = ApplyOutcome::Skipped;
            it.message = "not applied: ANALYZE only on request (statistics are stale)".into();
            None
        };
        out.push(Planned { item: it, step });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creation_statements_are_made_concurrent() {
        assert_eq!(
            concurrent_create("CREATE INDEX t_a_idx ON public.t USING btree (a)").as_deref(),
            Some("CREATE INDEX CONCURRENTLY t_a_idx ON public.t USING btree (a)")
        );
        assert_eq!(
            concurrent_create("create unique index  u ON t (a)").as_deref(),
            Some("create unique index CONCURRENTLY  u ON t (a)")
        );
        assert_eq!(
            concurrent_create("CREATE INDEX CONCURRENTLY x ON t (a)").as_deref(),
            Some("CREATE INDEX CONCURRENTLY x ON t (a)")
        );
        assert_eq!(concurrent_create("DROP TABLE t"), None);
        assert_eq!(concurrent_create("CREATE TABLE t (a int)"), None);
    }

    fn rec(ddl: &str, status: Option<VerifyStatus>) -> Recommendation {
        let index = pgpilot_advisor::IndexDef::btree(
            "public",
            "t",
            vec![pgpilot_advisor::IndexKey::column("a")],
        );
        Recommendation {
            ddl: ddl.into(),
            rollback_ddl: String::new(),
            name: "t_a_idx".into(),
            table: "public.t".into(),
            columns: vec!["a".into()],
            kind: index.kind(),
            index,
            size_bytes: 0,
            queries: Vec::new(),
            benefit: 0.0,
            write_overhead: 0.0,
            reason: String::new(),
            alternatives: Vec::new(),
            verification: status.map(|status| pgpilot_advisor::Verification {
                status,
                method: String::new(),
                real_size_bytes: 0,
                build_ms: 0.0,
                queries: Vec::new(),
                gain: 0.02,
                write_slowdown: None,
                verified_at: String::new(),
                note: "q7 got 3x slower".into(),
            }),
        }
    }

    #[test]
    fn only_concurrent_creations_of_the_named_index_are_run() {
        let ok = rec(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_a_idx ON public.t (a);",
            None,
        );
        assert_eq!(
            create_ddl(&ok).as_deref(),
            Ok("CREATE INDEX CONCURRENTLY IF NOT EXISTS t_a_idx ON public.t (a)")
        );
        let generated = rec("", None);
        assert_eq!(
            create_ddl(&generated).as_deref(),
            Ok("CREATE INDEX CONCURRENTLY IF NOT EXISTS t_a_idx ON public.t (a)")
        );
        let blocking = rec("CREATE INDEX t_a_idx ON public.t (a)", None);
        assert!(create_ddl(&blocking).is_err_and(|e| e.contains("without CONCURRENTLY")));
        let other = rec("DROP TABLE public.t", None);
        assert!(create_ddl(&other).is_err_and(|e| e.contains("not a CREATE INDEX")));
        let renamed = rec("CREATE INDEX CONCURRENTLY other_idx ON public.t (a)", None);
        assert!(create_ddl(&renamed).is_err_and(|e| e.contains("named t_a_idx")));
    }

    #[test]
    fn selection_follows_the_verdict() {
        let strict = ApplyOptions::default();
        let loose = ApplyOptions {
            only_verified: false,
            ..ApplyOptions::default()
        };
        let verified = rec("", Some(VerifyStatus::Verified));
        assert_eq!(not_selected(&verified, &strict), None);
        for status in [None, Some(VerifyStatus::Skipped)] {
            let r = rec("", status);
            assert!(not_selected(&r, &strict).is_some_and(|m| m.contains("not verified")));
            assert_eq!(not_selected(&r, &loose), None);
        }
        let no_gain = rec("", Some(VerifyStatus::NoGain));
        assert!(not_selected(&no_gain, &loose).is_some_and(|m| m.contains("no real gain (2 %)")));
        let regression = rec("", Some(VerifyStatus::Regression));
        assert_eq!(
            not_selected(&regression, &loose).as_deref(),
            Some("not applied: verify measured a regression: q7 got 3x slower")
        );
    }
}
