use super::*;
use crate::testkit::{adx_catalog, existing, query};

/// `table(key, key DESC) INCLUDE (a) WHERE p` for compact assertions.
fn label(d: &IndexDef) -> String {
    let mut s = format!("{}({})", d.table, d.key_labels().join(", "));
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
