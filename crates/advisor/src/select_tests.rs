//! Selection tests with the synthetic what-if (see `synthetic.rs` for its model).

use std::collections::HashSet;

use crate::advise::{advise, Advice, AdviseOptions};
use crate::synthetic::Synthetic;
use crate::testkit::{adx_catalog, col, existing, query, table};
use crate::{AdviseError, AdvisorQuery, Catalog, IndexDef, IndexKey};

/// t: 1M rows; a (10 000 distinct), b (1 000), c (1.25: ~80 % of rows share a
/// value), x, y; u: 1M rows, k (100 000 distinct); w: 1M rows, a.
fn catalog() -> Catalog {
    let with_samples = |name: &str, t: &str, nd: f64| {
        let mut c = col(name, t, Some(nd));
        c.sample_values = vec!["1".into(), "2".into(), "3".into()];
        c
    };
    let t = table(
        "t",
        1_000_000.0,
        vec![
            with_samples("id", "bigint", -1.0),
            with_samples("a", "bigint", 10_000.0),
            with_samples("b", "bigint", 1_000.0),
            with_samples("c", "bigint", 1.25),
            with_samples("x", "bigint", -0.5),
            with_samples("y", "bigint", -0.5),
        ],
    );
    let u = table(
        "u",
        1_000_000.0,
        vec![
            with_samples("id", "bigint", -1.0),
            with_samples("k", "bigint", 100_000.0),
            with_samples("v", "bigint", -0.5),
        ],
    );
    let w = table(
        "w",
        1_000_000.0,
        vec![
            with_samples("id", "bigint", -1.0),
            with_samples("a", "bigint", 10_000.0),
            with_samples("x", "bigint", -0.5),
        ],
    );
    Catalog {
        tables: vec![t, u, w],
        indexes: vec![
            existing("t_pkey", "t", &["id"], true),
            existing("u_pkey", "u", &["id"], true),
            existing("w_pkey", "w", &["id"], true),
        ],
    }
}

fn run(
    queries: &[AdvisorQuery],
    catalog: &Catalog,
    options: &AdviseOptions,
) -> (Advice, Synthetic) {
    let mut w = Synthetic::new(catalog.clone());
    let advice = advise(queries, catalog, &mut w, options, &mut |_| {}).expect("advice");
    (advice, w)
}

fn keys(d: &IndexDef) -> String {
    let mut s = format!("{}({})", d.table, d.key_labels().join(","));
    if !d.include.is_empty() {
        s.push_str(&format!(" INCLUDE({})", d.include.join(",")));
    }
    if let Some(p) = &d.predicate {
        s.push_str(&format!(" WHERE {p}"));
    }
    s
}

fn chosen(a: &Advice) -> Vec<String> {
    a.recommendations.iter().map(|r| keys(&r.index)).collect()
}

#[test]
fn picks_the_obviously_best_index() {
    let qs = [
        query("SELECT * FROM t WHERE a = $1", 100.0),
        query("SELECT * FROM u WHERE v <> $1", 1.0),
    ];
    let (a, _) = run(&qs, &catalog(), &AdviseOptions::default());
    assert_eq!(chosen(&a), ["t(a)"]);
    let r = &a.recommendations[0];
    assert_eq!(r.queries.len(), 1);
    assert_eq!(r.queries[0].query, qs[0].sql);
    assert!(r.queries[0].cost_after < r.queries[0].cost_before / 100.0);
    assert!(r.benefit > 0.0);
    assert_eq!(r.name, "t_a_idx");
    assert_eq!(
        r.ddl,
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_a_idx ON public.t (a)"
    );
    assert_eq!(
        r.rollback_ddl,
        "DROP INDEX CONCURRENTLY IF EXISTS public.t_a_idx"
    );
    assert!(
        r.reason.starts_with("Serves 1 statement (100 calls)"),
        "{}",
        r.reason
    );
    assert!(a.workload_cost_after < a.workload_cost_before);
    assert!(a.skipped.is_empty());
    assert!(a.notes.is_empty(), "{:?}", a.notes);
}

#[test]
fn respects_the_budget_and_says_when_nothing_fits() {
    let qs = [
        query("SELECT * FROM t WHERE a = $1", 100.0),
        query("SELECT * FROM u WHERE k = $1", 50.0),
    ];
    let (free, _) = run(&qs, &catalog(), &AdviseOptions::default());
    assert_eq!(free.recommendations.len(), 2, "{:?}", chosen(&free));
    let one = free.recommendations[0]
        .size_bytes
        .max(free.recommendations[1].size_bytes);
    let budget = one + one / 2;
    let opts = AdviseOptions {
        budget_bytes: Some(budget),
        ..AdviseOptions::default()
    };
    let (tight, _) = run(&qs, &catalog(), &opts);
    assert_eq!(tight.recommendations.len(), 1, "{:?}", chosen(&tight));
    assert!(
        tight
            .recommendations
            .iter()
            .map(|r| r.size_bytes)
            .sum::<u64>()
            <= budget
    );
    // The heavier query's index wins the budget.
    assert_eq!(chosen(&tight), ["t(a)"]);

    let opts = AdviseOptions {
        budget_bytes: Some(1000),
        ..AdviseOptions::default()
    };
    let (none, _) = run(&qs, &catalog(), &opts);
    assert!(none.recommendations.is_empty());
    assert!(
        none.notes.iter().any(|n| n
            .starts_with("budget too small for any index: smallest useful candidate is public.")),
        "{:?}",
        none.notes
    );
}

#[test]
fn min_gain_prunes_a_marginal_index() {
    // c = $1 keeps ~80 % of the rows: an index saves ~4 %.
    let qs = [query("SELECT * FROM t WHERE c = $1", 10.0)];
    let (a, _) = run(&qs, &catalog(), &AdviseOptions::default());
    assert!(a.recommendations.is_empty(), "{:?}", chosen(&a));
    let low = AdviseOptions {
        min_gain: 0.02,
        ..AdviseOptions::default()
    };
    let (a, _) = run(&qs, &catalog(), &low);
    assert_eq!(chosen(&a), ["t(c)"]);
}

#[test]
fn write_penalty_keeps_indexes_off_write_heavy_tables() {
    let select = query("SELECT * FROM w WHERE a = $1", 1.0);
    let heavy = [
        select.clone(),
        query("INSERT INTO w (a, x) VALUES ($1, $2)", 1_000_000.0),
    ];
    let (a, _) = run(&heavy, &catalog(), &AdviseOptions::default());
    assert!(a.recommendations.is_empty(), "{:?}", chosen(&a));
    let light = [
        select.clone(),
        query("INSERT INTO w (a, x) VALUES ($1, $2)", 1_000.0),
    ];
    let (a, _) = run(&light, &catalog(), &AdviseOptions::default());
    assert_eq!(chosen(&a), ["w(a)"]);
    assert!(
        a.recommendations[0].reason.contains("upkeep"),
        "{}",
        a.recommendations[0].reason
    );
    // UPDATEs that do not touch indexed columns stay HOT: no penalty.
    let hot = [
        select.clone(),
        query("UPDATE w SET x = $1 WHERE id = $2", 1_000_000.0),
    ];
    let (a, _) = run(&hot, &catalog(), &AdviseOptions::default());
    assert_eq!(chosen(&a), ["w(a)"]);
    // … but an UPDATE of the indexed column pays for every entry.
    let cold = [
        select,
        query("UPDATE w SET a = $1 WHERE id = $2", 1_000_000.0),
    ];
    let (a, _) = run(&cold, &catalog(), &AdviseOptions::default());
    assert!(a.recommendations.is_empty(), "{:?}", chosen(&a));
}

#[test]
fn write_overhead_in_bytes_per_second() {
    let mut cat = catalog();
    cat.tables[0].writes_per_sec = 100.0;
    let qs = [query("SELECT * FROM t WHERE a = $1", 100.0)];
    let (a, _) = run(&qs, &cat, &AdviseOptions::default());
    let r = &a.recommendations[0];
    // (8 bytes of a + 8) × 100 rows/s.
    assert!(
        (r.write_overhead - 1600.0).abs() < 1e-6,
        "{}",
        r.write_overhead
    );
    assert!(
        r.reason.contains("entry 16 B, 22 % of a 72 B row"),
        "{}",
        r.reason
    );
}

#[test]
fn pruning_drops_an_index_a_later_one_made_useless() {
    let cat = catalog();
    let qs = [query("SELECT a, b FROM t WHERE a = $1", 10.0)];
    let mut w = Synthetic::new(cat.clone());
    let mut engine = crate::select::Engine::new(&qs, &cat, &mut w, 2);
    engine.plan_base().expect("base");
    let plain = engine.intern(
        IndexDef::btree("public", "t", vec![IndexKey::column("a")]),
        "",
        true,
    );
    let mut cov = IndexDef::btree("public", "t", vec![IndexKey::column("a")]);
    cov.include = vec!["b".into()];
    let covering = engine.intern(cov, "", true);
    let (kept, evals) = engine.prune(vec![plain, covering]).expect("prune");
    assert_eq!(kept, [covering]);
    assert_eq!(
        evals[0].as_ref().map(|e| e.uses.clone()),
        Some(vec![covering])
    );
    // And the full advice never keeps an index no final plan uses.
    let (a, _) = run(&qs, &cat, &AdviseOptions::default());
    let got = chosen(&a);
    assert!(got == ["t(a) INCLUDE(b)"] || got == ["t(a,b)"], "{got:?}");
}

#[test]
fn extend_replaces_an_index_by_its_extension_serving_two_queries() {
    // q1's own candidate is (b, a) (b is more selective); q2 wants (a).
    let mut cat = catalog();
    cat.tables[0].columns[1].n_distinct = Some(100.0); // a
    cat.tables[0].columns[2].n_distinct = Some(10_000.0); // b
    let qs = [
        query("SELECT * FROM t WHERE a = $1 AND b = $2", 1000.0),
        query("SELECT * FROM t WHERE a = $1", 2000.0),
    ];
    let cands = crate::candidates::workload_candidates(&qs, &cat, 3);
    let labels: Vec<String> = cands.iter().map(|c| keys(&c.index)).collect();
    assert_eq!(labels, ["t(b,a)", "t(a)"]);
    let (a, _) = run(&qs, &cat, &AdviseOptions::default());
    assert_eq!(chosen(&a), ["t(a,b)"]);
    let r = &a.recommendations[0];
    assert_eq!(r.queries.len(), 2);
    assert!(
        r.alternatives
            .iter()
            .any(|x| x.starts_with("extended from public.t (a)")),
        "{:?}",
        r.alternatives
    );
    assert!(
        r.alternatives
            .iter()
            .any(|x| x.starts_with("public.t (a): cost")),
        "{:?}",
        r.alternatives
    );
}

#[test]
fn plans_are_memoized_per_relevant_configuration() {
    let qs = [
        query("SELECT * FROM t WHERE a = $1", 100.0),
        query("SELECT * FROM t WHERE b = $1 ORDER BY x LIMIT 10", 50.0),
        query("SELECT x FROM t WHERE a = $1 AND y > $2", 20.0),
        query("SELECT * FROM u WHERE k = $1", 80.0),
        query("SELECT v FROM u WHERE k = $1 AND v < $2", 10.0),
        query("SELECT * FROM w WHERE x > $1 ORDER BY a LIMIT 5", 5.0),
    ];
    let (a, w) = run(&qs, &catalog(), &AdviseOptions::default());
    assert!(a.recommendations.len() >= 3, "{:?}", chosen(&a));
    assert_eq!(a.whatif_plans, w.plans);
    // Never the same statement, parameters and relevant indexes twice.
    let mut seen = HashSet::new();
    for c in &w.calls {
        assert!(seen.insert(c.clone()), "planned twice: {c:?}");
    }
    // The u statements are never re-planned for choices on t or w: planned under
    // the existing indexes and then only under configurations of u indexes.
    let naive = a.candidates_considered * qs.len() * 2 * (a.recommendations.len() + 1);
    assert!(
        (w.plans as usize) * 4 < naive,
        "{} plans vs naive {naive}",
        w.plans
    );
    let u_plans = w.plans_of("FROM u WHERE k = $1");
    let u_configs: HashSet<&Vec<String>> = w
        .calls
        .iter()
        .filter(|c| c.0.contains("FROM u WHERE k = $1"))
        .map(|c| &c.2)
        .collect();
    assert!(
        u_plans <= u_configs.len() * 2 * 2,
        "{u_plans} plans for {} configs",
        u_configs.len()
    );
}

#[test]
fn unplannable_queries_are_skipped_and_fatal_errors_abort() {
    let qs = [
        query("SELECT * FROM t WHERE a = $1", 100.0),
        query("SELECT * FROM gone WHERE z = 1", 100.0),
    ];
    let (a, _) = run(&qs, &catalog(), &AdviseOptions::default());
    assert_eq!(a.skipped.len(), 1);
    assert_eq!(a.skipped[0].query, qs[1].sql);
    assert!(
        a.skipped[0].reason.contains("does not exist"),
        "{}",
        a.skipped[0].reason
    );
    assert_eq!(chosen(&a), ["t(a)"]);

    let cat = catalog();
    let mut w = Synthetic::new(cat.clone());
    w.fatal.push("FROM t".into());
    let err = advise(&qs, &cat, &mut w, &AdviseOptions::default(), &mut |_| {}).expect_err("fatal");
    assert!(matches!(err, AdviseError::WhatIf(_)), "{err:?}");
    let err = advise(&[], &cat, &mut w, &AdviseOptions::default(), &mut |_| {}).expect_err("empty");
    assert!(matches!(err, AdviseError::Empty(_)), "{err:?}");
}

#[test]
fn notes_stale_statistics_and_made_up_parameters() {
    let mut cat = catalog();
    cat.tables[1].mod_since_analyze = 300_000.0;
    cat.tables[0].columns[1].sample_values.clear();
    let qs = [
        query("SELECT * FROM t WHERE a = $1", 100.0),
        query("SELECT * FROM u WHERE k = 5", 1.0),
    ];
    let (a, _) = run(&qs, &cat, &AdviseOptions::default());
    assert!(
        a.notes.iter().any(|n| n
            .starts_with("what-if estimates for public.u rely on stale statistics")
            && n.ends_with("ANALYZE public.u first")),
        "{:?}",
        a.notes
    );
    assert!(
        !a.notes.iter().any(|n| n.contains("public.t rely")),
        "{:?}",
        a.notes
    );
    assert!(
        a.notes.iter().any(|n| n.contains("planned with NULL")),
        "{:?}",
        a.notes
    );
}

#[test]
fn names_avoid_existing_indexes_and_invalid_candidates_are_dropped() {
    let mut cat = catalog();
    cat.indexes.push(existing("t_a_idx", "t", &["x"], false));
    let qs = [query("SELECT * FROM t WHERE a = $1", 100.0)];
    let (a, _) = run(&qs, &cat, &AdviseOptions::default());
    assert_eq!(a.recommendations[0].name, "t_a_idx_2");

    // Expression keys are advised …
    let qs = [query("SELECT * FROM t WHERE (a + 1) = $1", 100.0)];
    let (a, _) = run(&qs, &cat, &AdviseOptions::default());
    assert_eq!(chosen(&a), ["t(a + 1)"]);
    assert_eq!(a.recommendations[0].kind, crate::IndexKind::Expression);
    // … unless the server rejects them (the synthetic one refuses `::date`):
    // dropped with a note.
    let qs = [query("SELECT * FROM t WHERE x::date = $1", 100.0)];
    let (a, _) = run(&qs, &cat, &AdviseOptions::default());
    assert!(a.recommendations.is_empty(), "{:?}", chosen(&a));
    assert!(
        a.notes.iter().any(|n| n
            .starts_with("1 candidate(s) PostgreSQL would reject were dropped")
            && n.contains("IMMUTABLE")),
        "{:?}",
        a.notes
    );
}

#[test]
fn adx_dashboard_gets_ordered_users_index_and_profiles_join_index() {
    let cat = adx_catalog();
    let qs = [
        query(
            "SELECT u.*, p.*, r.role_name FROM users u LEFT JOIN profiles p ON u.id = p.user_id \
             LEFT JOIN roles r ON u.role_id = r.id WHERE u.created_at > NOW() - INTERVAL '30 days' \
             ORDER BY u.last_login DESC LIMIT 50",
            500.0,
        ),
        query(
            "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE expires_at < now() LIMIT 500)",
            10.0,
        ),
    ];
    let (a, _) = run(&qs, &cat, &AdviseOptions::default());
    let got = chosen(&a);
    assert!(
        got.iter().any(|c| c.starts_with("users(last_login DESC")),
        "{got:?}"
    );
    assert!(got.contains(&"profiles(user_id)".to_string()), "{got:?}");
    assert!(
        got.iter().any(|c| c.starts_with("sessions(expires_at)")),
        "{got:?}"
    );
    let names: HashSet<&str> = a.recommendations.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names.len(), a.recommendations.len());
    for w in a.recommendations.windows(2) {
        assert!(w[0].benefit >= w[1].benefit);
    }
}

/// 100 distinct statements over 10 tables (with 60 useful indexes — more than
/// a real workload usually has): the plan count must stay well below what 30 s
/// at ~2–3 ms a plan allows (10 000–15 000). With the memo alone (no bounded
/// lazy re-evaluation, relevance on any key column) it was about 20 000.
#[test]
fn hundred_statements_on_ten_tables_need_few_plans() {
    let mut tables = Vec::new();
    let mut indexes = Vec::new();
    for n in 0..10 {
        let mut cols = vec![col("id", "bigint", Some(-1.0))];
        for c in 1..=6 {
            let mut ci = col(&format!("c{c}"), "bigint", Some(10f64.powi(c)));
            ci.sample_values = vec!["1".into(), "7".into(), "42".into()];
            cols.push(ci);
        }
        tables.push(table(&format!("t{n}"), 500_000.0, cols));
        indexes.push(existing(
            &format!("t{n}_pkey"),
            &format!("t{n}"),
            &["id"],
            true,
        ));
    }
    let cat = Catalog { tables, indexes };
    let mut qs = Vec::new();
    for i in 0..100usize {
        let t = i % 10;
        let a = 1 + (i / 10) % 6;
        let b = 1 + (i / 10 + 2) % 6;
        let m = (t + 1) % 10;
        let sql = match i % 5 {
            0 => format!("SELECT * FROM t{t} WHERE c{a} = $1 AND id > {i}"),
            1 => format!("SELECT c{a}, c{b} FROM t{t} WHERE c{a} = $1 AND c{b} > $2 AND id <> {i}"),
            2 => format!("SELECT * FROM t{t} WHERE c{a} = $1 ORDER BY c{b} DESC LIMIT {}", 10 + i),
            3 => format!(
                "SELECT count(*) FROM t{t} x JOIN t{m} y ON y.c{a} = x.id WHERE x.c{b} = $1 AND x.id > {i}"
            ),
            _ => format!("UPDATE t{t} SET c{b} = $1 WHERE c{a} = $2 AND id > {i}"),
        };
        qs.push(query(&sql, 10.0 + i as f64));
    }
    let started = std::time::Instant::now();
    let (a, w) = run(&qs, &cat, &AdviseOptions::default());
    let elapsed = started.elapsed();
    eprintln!(
        "100 statements: {} candidates, {} plans, {} indexes, {:?}",
        a.candidates_considered,
        w.plans,
        a.recommendations.len(),
        elapsed
    );
    assert!(a.recommendations.len() >= 10, "{:?}", chosen(&a));
    assert!(w.plans < 7_000, "{} plans", w.plans);
    assert!(a.workload_cost_after < a.workload_cost_before / 5.0);
}
