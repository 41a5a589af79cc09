use super::*;
use crate::testkit::{adx_catalog, col, existing, query, table};

/// Unique-key fetches and INCLUDE lists, on a shop schema.
#[path = "candidates_tests_shop.rs"]
mod shop;

/// `table(key, key DESC) INCLUDE (a) WHERE p` (`table USING brin(key)` for
/// another method) for compact assertions.
fn label(d: &IndexDef) -> String {
    let method = if d.method == "btree" {
        String::new()
    } else {
        format!(" USING {}", d.method)
    };
    let mut s = format!("{}{method}({})", d.table, d.key_labels().join(", "));
    if !d.include.is_empty() {
        s.push_str(&format!(" INCLUDE ({})", d.include.join(", ")));
    }
    if let Some(p) = &d.predicate {
        s.push_str(&format!(" WHERE {p}"));
    }
    s
}

fn labels_of(c: &[Candidate]) -> Vec<String> {
    c.iter().map(|c| label(&c.index)).collect()
}

fn one(sql: &str) -> Vec<String> {
    labels_of(&candidates_for_query(&query(sql, 1.0), &adx_catalog(), 3))
}

fn has(all: &[String], want: &str) {
    assert!(all.iter().any(|l| l == want), "missing {want} in {all:#?}");
}

fn lacks(all: &[String], unwanted: &str) {
    assert!(
        !all.iter().any(|l| l == unwanted),
        "unexpected {unwanted} in {all:#?}"
    );
}

#[test]
fn adx_dashboard_query() {
    let all = one(
        "SELECT u.*, p.*, r.role_name FROM users u LEFT JOIN profiles p ON u.id = p.user_id \
         LEFT JOIN roles r ON u.role_id = r.id WHERE u.created_at > NOW() - INTERVAL '30 days' \
         ORDER BY u.last_login DESC LIMIT 50",
    );
    has(&all, "users(last_login DESC, created_at)");
    has(&all, "users(created_at)");
    has(&all, "profiles(user_id)");
    // roles is tiny; users.id and roles.id have primary keys.
    assert!(all.iter().all(|l| !l.starts_with("roles(")), "{all:#?}");
    lacks(&all, "users(id)");
    // `u.*` reads every column: no covering variant.
    assert!(all.iter().all(|l| !l.contains("INCLUDE")), "{all:#?}");
}

#[test]
fn equality_range_and_order_variants_with_selectivity_order() {
    // org_id (500 distinct) is more selective than status (4 distinct).
    let all = one(
        "SELECT * FROM users WHERE status = $1 AND org_id = $2 AND created_at >= $3 \
         ORDER BY last_login DESC LIMIT 20",
    );
    has(&all, "users(org_id, status)");
    has(&all, "users(org_id, status, created_at)");
    // The ORDER BY variant is cut at max_columns (3): the trailing range falls off.
    has(&all, "users(org_id, status, last_login DESC)");
    let wide = labels_of(&candidates_for_query(
        &query(
            "SELECT * FROM users WHERE status = $1 AND org_id = $2 AND created_at >= $3 \
             ORDER BY last_login DESC LIMIT 20",
            1.0,
        ),
        &adx_catalog(),
        4,
    ));
    has(&wide, "users(org_id, status, last_login DESC, created_at)");
    let narrow = labels_of(&candidates_for_query(
        &query("SELECT * FROM users WHERE status = $1 AND org_id = $2", 1.0),
        &adx_catalog(),
        1,
    ));
    assert_eq!(narrow, ["users(org_id)"]);
}

#[test]
fn multi_column_order_keeps_directions_and_nulls() {
    let all =
        one("SELECT * FROM orders WHERE user_id = $1 ORDER BY created_at DESC, id ASC NULLS FIRST");
    has(&all, "orders(user_id, created_at DESC, id)");
    let c = candidates_for_query(
        &query(
            "SELECT * FROM orders WHERE user_id = $1 ORDER BY created_at DESC, id ASC NULLS FIRST",
            1.0,
        ),
        &adx_catalog(),
        3,
    );
    let d = c
        .iter()
        .find(|c| c.index.keys.len() == 3)
        .expect("order variant");
    assert_eq!(d.index.keys[2].nulls_first, Some(true));
    assert_eq!(
        d.index.body_sql(),
        "(user_id, created_at DESC, id NULLS FIRST)"
    );
    assert!(
        d.origin.contains("ORDER BY created_at DESC"),
        "{}",
        d.origin
    );
    // An ORDER BY over two tables gives no sort candidate.
    let all = one(
        "SELECT * FROM orders o JOIN users u ON u.id = o.user_id ORDER BY u.name, o.created_at",
    );
    assert!(
        all.iter()
            .all(|l| !l.contains("name") && !l.contains("created_at")),
        "{all:#?}"
    );
}

#[test]
fn in_lists_and_any_are_equalities() {
    let all = one("SELECT id FROM orders WHERE status IN ('new', 'paid') AND user_id = ANY($1)");
    has(&all, "orders(user_id, status)");
    let all = one("SELECT * FROM orders WHERE status NOT IN ('new') AND total > 10");
    has(&all, "orders(total)");
    assert!(all.iter().all(|l| !l.contains("status")), "{all:#?}");
}

#[test]
fn or_and_negation_give_no_keys() {
    let all = one("SELECT * FROM orders WHERE status = 'a' OR user_id = 5");
    assert!(all.is_empty(), "{all:#?}");
    let all = one("SELECT * FROM orders WHERE total NOT BETWEEN 1 AND 5 AND user_id <> 3");
    assert!(all.is_empty(), "{all:#?}");
}

#[test]
fn join_keys_alone_and_with_equalities() {
    let all = one(
        "SELECT o.id FROM users u JOIN orders o ON o.user_id = u.id \
         WHERE u.email = $1 AND o.status = 'paid'",
    );
    has(&all, "orders(user_id)");
    has(&all, "orders(status, user_id)");
    has(&all, "users(email)");
    let all = one(
        "SELECT * FROM users u WHERE EXISTS (SELECT 1 FROM orders o WHERE o.user_id = u.id AND o.total > 100)",
    );
    has(&all, "orders(user_id)");
    has(&all, "orders(user_id, total)");
}

#[test]
fn group_by_keys() {
    let all = one("SELECT user_id, count(*) FROM orders WHERE status = 'paid' GROUP BY user_id");
    has(&all, "orders(status, user_id)");
}

#[test]
fn covering_variant_for_small_select_lists() {
    let all = one("SELECT id, total FROM orders WHERE user_id = $1");
    has(&all, "orders(user_id)");
    has(&all, "orders(user_id) INCLUDE (id, total)");
    // Too many extra columns: no INCLUDE.
    let all = one("SELECT id, total, status, created_at FROM orders WHERE user_id = $1");
    assert!(all.iter().all(|l| !l.contains("INCLUDE")), "{all:#?}");
    // Writes fetch the row anyway.
    let all = one("UPDATE orders SET status = 'x' WHERE user_id = $1");
    assert_eq!(all, ["orders(user_id)"]);
}

#[test]
fn partial_only_for_the_same_constant_across_the_workload() {
    let cat = adx_catalog();
    let same = [
        query(
            "SELECT * FROM orders WHERE status = 'pending' ORDER BY created_at LIMIT 10",
            1.0,
        ),
        query(
            "SELECT count(*) FROM orders WHERE status = 'pending' AND user_id = $1",
            1.0,
        ),
    ];
    let all = labels_of(&workload_candidates(&same, &cat, 3));
    has(&all, "orders(created_at) WHERE status = 'pending'");
    has(&all, "orders(user_id) WHERE status = 'pending'");
    has(&all, "orders(status, created_at)");

    let different = [
        query(
            "SELECT * FROM orders WHERE status = 'pending' ORDER BY created_at LIMIT 10",
            1.0,
        ),
        query(
            "SELECT * FROM orders WHERE status = 'shipped' ORDER BY created_at LIMIT 10",
            1.0,
        ),
    ];
    let all = labels_of(&workload_candidates(&different, &cat, 3));
    assert!(all.iter().all(|l| !l.contains("WHERE")), "{all:#?}");

    let param = [
        query(
            "SELECT * FROM orders WHERE status = 'pending' ORDER BY created_at LIMIT 10",
            1.0,
        ),
        query("SELECT * FROM orders WHERE status = $1", 1.0),
    ];
    let all = labels_of(&workload_candidates(&param, &cat, 3));
    assert!(all.iter().all(|l| !l.contains("WHERE")), "{all:#?}");

    // A comparison with now() is never a partial predicate (not immutable).
    let all = one("SELECT * FROM sessions WHERE expires_at < now() AND user_id = $1");
    assert!(all.iter().all(|l| !l.contains("WHERE")), "{all:#?}");

    // IS NULL everywhere: partial on it, keyed on the primary key when nothing else.
    let all = one("SELECT id FROM sessions WHERE token IS NULL");
    has(&all, "sessions(id) WHERE token IS NULL");
    has(&all, "sessions(token)");

    // Per query, the constant must be the same in every block too.
    let all = one(
        "SELECT * FROM orders WHERE status = 'a' AND user_id IN (SELECT user_id FROM orders WHERE status = 'b')",
    );
    assert!(all.iter().all(|l| !l.contains("WHERE")), "{all:#?}");
}

#[test]
fn partial_predicates_are_quoted() {
    let c = candidates_for_query(
        &query(
            "SELECT * FROM orders WHERE status = 'it''s' AND user_id = $1",
            1.0,
        ),
        &adx_catalog(),
        3,
    );
    assert!(
        c.iter()
            .any(|c| c.index.predicate.as_deref() == Some("status = 'it''s'")),
        "{c:#?}"
    );
}

#[test]
fn expression_keys_for_immutable_functions_only() {
    let all = one("SELECT id FROM users u WHERE lower(u.email) = $1");
    has(&all, "users(lower(email))");
    let c = candidates_for_query(
        &query("SELECT id FROM users u WHERE lower(u.email) = $1", 1.0),
        &adx_catalog(),
        3,
    );
    let d = &c[0].index;
    assert_eq!(d.body_sql(), "((lower(email)))");
    assert_eq!(d.kind(), crate::IndexKind::Expression);
    // Index-only would need email itself: the covering variant includes it.
    has(&all, "users(lower(email)) INCLUDE (id, email)");
    let all = one("SELECT * FROM users WHERE date_part('day', now() - created_at) < 3");
    assert!(all.is_empty(), "{all:#?}");
    let all = one("SELECT * FROM users WHERE random() < 0.1");
    assert!(all.is_empty(), "{all:#?}");
}

#[test]
fn like_prefix_is_a_range_but_not_leading_wildcards_or_ilike() {
    let all = one("SELECT * FROM users WHERE name LIKE 'abc%'");
    has(&all, "users(name)");
    let all = one("SELECT * FROM users WHERE name LIKE '%abc'");
    assert!(all.is_empty(), "{all:#?}");
    let all = one("SELECT * FROM users WHERE name ILIKE 'abc%'");
    assert!(all.is_empty(), "{all:#?}");
}

#[test]
fn types_without_btree_and_unknown_tables_are_skipped() {
    let all = one("SELECT * FROM users WHERE meta = $1 AND status = 'x'");
    assert_eq!(all, ["users(id) WHERE status = 'x'", "users(status)"]);
    let all = one("SELECT * FROM nowhere WHERE a = 1");
    assert!(all.is_empty());
    // roles is under MIN_ROWS.
    let all = one("SELECT * FROM roles WHERE role_name = $1");
    assert!(all.is_empty());
}

#[test]
fn existing_indexes_suppress_what_they_serve() {
    let mut cat = adx_catalog();
    cat.indexes.push(existing(
        "orders_user_created",
        "orders",
        &["user_id", "created_at"],
        false,
    ));
    let q = query(
        "SELECT * FROM orders WHERE user_id = $1 AND created_at > $2",
        1.0,
    );
    let all = labels_of(&candidates_for_query(&q, &cat, 3));
    lacks(&all, "orders(user_id)");
    lacks(&all, "orders(user_id, created_at)");
    // A covering variant still adds something the existing index lacks.
    let q = query(
        "SELECT total FROM orders WHERE user_id = $1 AND created_at > $2",
        1.0,
    );
    let all = labels_of(&candidates_for_query(&q, &cat, 3));
    has(&all, "orders(user_id, created_at) INCLUDE (total)");
    // An invalid index serves nothing.
    cat.indexes.last_mut().expect("pushed").valid = false;
    let q = query(
        "SELECT * FROM orders WHERE user_id = $1 AND created_at > $2",
        1.0,
    );
    let all = labels_of(&candidates_for_query(&q, &cat, 3));
    has(&all, "orders(user_id, created_at)");
}

#[test]
fn writes_insert_none_delete_subquery_some() {
    assert!(one("INSERT INTO orders (user_id, total) VALUES ($1, $2)").is_empty());
    let all = one(
        "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE expires_at < now() LIMIT 500)",
    );
    has(&all, "sessions(expires_at)");
    let all = one("UPDATE sessions SET token = $1 WHERE user_id = $2");
    assert_eq!(all, ["sessions(user_id)"]);
    let all = one("INSERT INTO audit_logs (user_id, action) SELECT user_id, 'x' FROM sessions WHERE expires_at < $1");
    has(&all, "sessions(expires_at)");
}

#[test]
fn workload_dedup_merges_queries() {
    let cat = adx_catalog();
    let qs = [
        query(
            "SELECT * FROM audit_logs WHERE created_at BETWEEN $1 AND $2",
            5.0,
        ),
        query("SELECT count(*) FROM users WHERE status = $1", 1.0),
        query(
            "SELECT action, count(*) FROM audit_logs WHERE created_at >= $1 GROUP BY action",
            1.0,
        ),
    ];
    let c = workload_candidates(&qs, &cat, 3);
    let ac: Vec<&Candidate> = c
        .iter()
        .filter(|c| label(&c.index) == "audit_logs(created_at)")
        .collect();
    assert_eq!(ac.len(), 1);
    assert_eq!(ac[0].queries, [0, 2]);
    has(&labels_of(&c), "audit_logs(created_at) INCLUDE (action)");
    has(&labels_of(&c), "users(status)");
    // Every definition appears once.
    let mut defs: Vec<String> = labels_of(&c);
    let n = defs.len();
    defs.sort();
    defs.dedup();
    assert_eq!(defs.len(), n);
}

/// An append-only log of `rows` rows whose "timestamp" has correlation `corr`
/// (`ok` and `payload` are just as ordered, but BRIN has no operator class for
/// them); `small_log` has 10 000 rows ordered the same way.
fn log_catalog(rows: f64, corr: Option<f64>) -> Catalog {
    let ordered = |name: &str, t: &str, nd: f64| {
        let mut c = col(name, t, Some(nd));
        c.correlation = corr;
        c
    };
    let columns = || {
        vec![
            ordered("id", "bigint", -1.0),
            col("user_id", "bigint", Some(100_000.0)),
            col("action", "text", Some(30.0)),
            ordered("timestamp", "timestamp(3) with time zone", -0.9),
            ordered("ok", "boolean", 2.0),
            ordered("payload", "jsonb", -1.0),
        ]
    };
    let mut small = table("small_log", 10_000.0, columns());
    for c in &mut small.columns {
        c.correlation = Some(0.99);
    }
    Catalog {
        tables: vec![table("audit_logs", rows, columns()), small],
        indexes: vec![existing("audit_logs_pkey", "audit_logs", &["id"], true)],
    }
}

fn brin_of(cat: &Catalog, sql: &str) -> Vec<Candidate> {
    candidates_for_query(&query(sql, 1.0), cat, 3)
        .into_iter()
        .filter(|c| c.index.method == "brin")
        .collect()
}

const LAST_WEEK: &str =
    "SELECT action, count(*) FROM audit_logs WHERE \"timestamp\" >= now() - interval '7 days' \
     GROUP BY action";

#[test]
fn brin_for_a_range_on_a_physically_ordered_column() {
    let cat = log_catalog(5_000_000.0, Some(0.99));
    let all = candidates_for_query(&query(LAST_WEEK, 1.0), &cat, 3);
    let brin: Vec<&Candidate> = all.iter().filter(|c| c.index.method == "brin").collect();
    assert_eq!(brin.len(), 1, "{all:#?}");
    let d = &brin[0].index;
    assert_eq!(d.keys, vec![IndexKey::column("timestamp")]);
    assert!(d.include.is_empty() && d.predicate.is_none() && !d.unique);
    assert_eq!(d.kind(), crate::IndexKind::Other);
    assert_eq!(d.body_sql(), "USING brin (\"timestamp\")");
    assert_eq!(
        brin[0].origin,
        "BRIN on timestamp: physically ordered (correlation 0.99), range filter"
    );
    assert_eq!(
        crate::select::index_label(d),
        "public.audit_logs USING brin (timestamp)"
    );
    // The B-trees are still proposed: the what-if decides.
    let labels = labels_of(&all);
    has(&labels, "audit_logs(timestamp)");
    has(&labels, "audit_logs(timestamp) INCLUDE (action)");

    // BETWEEN, `<` with a parameter, a join's filter, a reversed order, and a
    // retention DELETE: each one BRIN on the column, never on the others.
    for sql in [
        "SELECT * FROM audit_logs WHERE \"timestamp\" BETWEEN $1 AND $2",
        "SELECT count(*) FROM audit_logs a JOIN users u ON u.id = a.user_id \
         WHERE a.\"timestamp\" < $1 AND u.status = 'x'",
        "DELETE FROM audit_logs WHERE \"timestamp\" < now() - interval '90 days'",
        "SELECT * FROM audit_logs WHERE \"timestamp\" > $1 AND \"timestamp\" <= $2 \
         AND user_id = $3",
    ] {
        let b = brin_of(&cat, sql);
        assert_eq!(b.len(), 1, "{sql}: {b:#?}");
        assert_eq!(
            b[0].index.keys,
            vec![IndexKey::column("timestamp")],
            "{sql}"
        );
    }
    let b = brin_of(
        &cat,
        "SELECT * FROM audit_logs WHERE id > $1 AND \"timestamp\" > $2",
    );
    assert_eq!(
        labels_of(&b),
        [
            "audit_logs USING brin(id)",
            "audit_logs USING brin(timestamp)"
        ]
    );
    let reversed = log_catalog(5_000_000.0, Some(-0.97));
    let b = brin_of(&reversed, LAST_WEEK);
    assert_eq!(
        b[0].origin,
        "BRIN on timestamp: physically in reverse order (correlation -0.97), range filter"
    );
}

#[test]
fn no_brin_without_order_size_a_range_or_an_operator_class() {
    let none = |cat: &Catalog, sql: &str| {
        let b = brin_of(cat, sql);
        assert!(b.is_empty(), "{sql}: {b:#?}");
    };
    // Scattered, or unknown (never analyzed, or no privilege on pg_stats).
    none(&log_catalog(5_000_000.0, Some(0.3)), LAST_WEEK);
    none(&log_catalog(5_000_000.0, Some(-0.89)), LAST_WEEK);
    none(&log_catalog(5_000_000.0, None), LAST_WEEK);
    // Too small a table (10 000 rows), though ordered.
    let cat = log_catalog(5_000_000.0, Some(0.99));
    none(&cat, "SELECT * FROM small_log WHERE \"timestamp\" >= $1");
    none(&log_catalog(99_999.0, Some(0.99)), LAST_WEEK);
    // Equality, IN, ORDER BY only, negated, under OR, against a column.
    none(&cat, "SELECT * FROM audit_logs WHERE \"timestamp\" = $1");
    none(
        &cat,
        "SELECT * FROM audit_logs WHERE \"timestamp\" IN ($1, $2)",
    );
    none(
        &cat,
        "SELECT * FROM audit_logs ORDER BY \"timestamp\" DESC LIMIT 50",
    );
    none(
        &cat,
        "SELECT * FROM audit_logs WHERE user_id = $1 ORDER BY \"timestamp\" DESC LIMIT 50",
    );
    none(
        &cat,
        "SELECT * FROM audit_logs WHERE \"timestamp\" NOT BETWEEN $1 AND $2",
    );
    none(
        &cat,
        "SELECT * FROM audit_logs WHERE \"timestamp\" > $1 OR user_id = $2",
    );
    none(&cat, "SELECT * FROM audit_logs WHERE id < user_id");
    // Types without a BRIN operator class; a range on an expression.
    none(&cat, "SELECT * FROM audit_logs WHERE ok > false");
    none(&cat, "SELECT * FROM audit_logs WHERE payload > $1");
    none(
        &cat,
        "SELECT * FROM audit_logs WHERE date_trunc('day', \"timestamp\") > $1",
    );
    // An INSERT's target is written, not filtered.
    none(
        &cat,
        "INSERT INTO audit_logs (user_id, action, \"timestamp\") VALUES ($1, $2, $3)",
    );
}

#[test]
fn brin_type_ignores_modifiers_and_refuses_arrays() {
    use super::brin::brin_type;
    for t in [
        "timestamp with time zone",
        "timestamp(3) without time zone",
        "numeric(12,2)",
        "character varying(40)",
        "bigint",
        "date",
        "uuid",
        "inet",
    ] {
        assert!(brin_type(t), "{t}");
    }
    for t in [
        "boolean", "jsonb", "bigint[]", "tsvector", "point", "my_enum",
    ] {
        assert!(!brin_type(t), "{t}");
    }
}

#[test]
fn existing_indexes_serve_only_their_own_method() {
    let mut cat = log_catalog(5_000_000.0, Some(0.99));
    cat.indexes.push(existing(
        "audit_logs_ts_btree",
        "audit_logs",
        &["timestamp"],
        false,
    ));
    let q = query("SELECT * FROM audit_logs WHERE \"timestamp\" >= $1", 1.0);
    let all = labels_of(&candidates_for_query(&q, &cat, 3));
    // A B-tree does not make a (much smaller) BRIN pointless, nor the reverse.
    assert_eq!(all, ["audit_logs USING brin(timestamp)"]);
    let mut brin = existing("audit_logs_ts_brin", "audit_logs", &["timestamp"], false);
    brin.def.method = "brin".into();
    cat.indexes[1] = brin;
    let all = labels_of(&candidates_for_query(&q, &cat, 3));
    assert_eq!(all, ["audit_logs(timestamp)"]);
}

/// The synthetic planner, except that B-trees on `audit_logs` are refused (so
/// only the BRIN can serve it) and a BRIN is sized like one: a few pages.
struct BrinOnly(crate::synthetic::Synthetic);

impl crate::WhatIf for BrinOnly {
    fn plan(
        &mut self,
        sql: &str,
        params: &[Option<String>],
        config: crate::Config<'_>,
    ) -> Result<crate::PlanEstimate, crate::WhatIfError> {
        if config
            .hypothetical
            .iter()
            .any(|h| h.table == "audit_logs" && h.method == "btree")
        {
            return Err(crate::WhatIfError::InvalidIndex("B-tree refused".into()));
        }
        self.0.plan(sql, params, config)
    }
    fn index_size(&mut self, index: &IndexDef) -> Result<u64, crate::WhatIfError> {
        if index.method == "brin" {
            return Ok(48 * 1024);
        }
        self.0.index_size(index)
    }
    fn validate(&mut self, index: &IndexDef) -> Result<(), crate::WhatIfError> {
        self.0.validate(index)
    }
    fn plans_made(&self) -> u64 {
        self.0.plans_made()
    }
}

#[test]
fn a_chosen_brin_is_never_extended() {
    use crate::advise::{advise, AdviseOptions};
    let cat = log_catalog(5_000_000.0, Some(0.99));
    // The synthetic model would reward INCLUDE (action) or a second key with
    // an index-only scan: an Extend step that grew the BRIN would be chosen.
    let qs = [
        query(LAST_WEEK, 100.0),
        query(
            "SELECT action FROM audit_logs WHERE \"timestamp\" >= $1 AND user_id = $2",
            100.0,
        ),
    ];
    let mut w = BrinOnly(crate::synthetic::Synthetic::new(cat.clone()));
    let brin = brin_of(&cat, LAST_WEEK)[0].index.clone();
    let mut grown = brin.clone();
    grown.include = vec!["action".into()];
    let cost = |w: &mut BrinOnly, d: &IndexDef| {
        let h = [d.clone()];
        let config = crate::Config {
            hypothetical: &h,
            hidden: &[],
        };
        crate::WhatIf::plan(w, LAST_WEEK, &[], config)
            .expect("plan")
            .total_cost
    };
    assert!(
        cost(&mut w, &grown) < 0.5 * cost(&mut w, &brin),
        "the premise"
    );
    let advice = advise(&qs, &cat, &mut w, &AdviseOptions::default(), &mut |_| {}).expect("advice");
    let recs: Vec<String> = advice
        .recommendations
        .iter()
        .map(|r| label(&r.index))
        .collect();
    assert_eq!(recs, ["audit_logs USING brin(timestamp)"]);
    let r = &advice.recommendations[0];
    assert_eq!(r.kind, crate::IndexKind::Other);
    assert!(r.ddl.contains("USING brin (\"timestamp\")"), "{}", r.ddl);
    assert_eq!(r.size_bytes, 48 * 1024);
    assert_eq!(r.queries.len(), 2, "{:#?}", r.queries);
}
