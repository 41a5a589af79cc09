//! Alias-insensitive fingerprints.

use crate::{fingerprint, Fingerprint, Normalizer};

fn fp(sql: &str) -> Fingerprint {
    fingerprint(sql).expect("parses")
}

#[test]
fn different_aliases_group_together() {
    let a = fp("SELECT u.a FROM users u WHERE u.id = 1");
    assert_eq!(a, fp("SELECT x.a FROM users x WHERE x.id = 2"));
    assert_eq!(a, fp("SELECT x.a FROM users AS x WHERE x.id = 2"));
    assert_eq!(a, fp("SELECT \"X\".a FROM users \"X\" WHERE \"X\".id = 3"));
    assert_eq!(a, fp("SELECT X.a FROM users x WHERE x.ID = 3"));
    // Same as qualifying with the table name itself.
    assert_eq!(a, fp("SELECT users.a FROM users WHERE users.id = 4"));
    assert_ne!(a, fp("SELECT u.a FROM orders u WHERE u.id = 1"));
    assert_ne!(a, fp("SELECT u.b FROM users u WHERE u.id = 1"));
    assert_ne!(a, fp("SELECT u.a FROM users u WHERE u.id = 1 AND u.b = 2"));
}

#[test]
fn stars_joins_and_multiple_tables() {
    let a = fp("SELECT u.*, p.* FROM users u JOIN profiles p ON u.id = p.user_id WHERE p.x = 1");
    assert_eq!(
        a,
        fp("SELECT a.*, b.* FROM users a JOIN profiles b ON a.id = b.user_id WHERE b.x = 9")
    );
    // Swapping which alias is used where is a different query.
    assert_ne!(
        a,
        fp("SELECT u.*, p.* FROM users u JOIN profiles p ON p.id = u.user_id WHERE p.x = 1")
    );
}

#[test]
fn self_joins_stay_stable_and_distinct() {
    let a = fp("SELECT a.name, b.name FROM users a JOIN users b ON a.manager_id = b.id");
    assert_eq!(
        a,
        fp("SELECT e.name, m.name FROM users e JOIN users m ON e.manager_id = m.id")
    );
    assert_eq!(
        a,
        fp("SELECT m.name, e.name FROM users m JOIN users e ON m.manager_id = e.id")
    );
    // The other direction of the join is a different query.
    assert_ne!(
        a,
        fp("SELECT a.name, b.name FROM users a JOIN users b ON b.manager_id = a.id")
    );
    // An unaliased occurrence keeps its name; the alias gets another one.
    let c = fp("SELECT u.x FROM users u, users WHERE users.id = u.id");
    assert_eq!(
        c,
        fp("SELECT v.x FROM users v, users WHERE users.id = v.id")
    );
    assert_ne!(
        c,
        fp("SELECT users.x FROM users u, users WHERE users.id = u.id")
    );
}

#[test]
fn schemas_stay_distinct() {
    let a = fp("SELECT u.a FROM app.users u WHERE u.id = 1");
    assert_eq!(a, fp("SELECT x.a FROM app.users x WHERE x.id = 1"));
    assert_ne!(a, fp("SELECT u.a FROM users u WHERE u.id = 1"));
    assert_ne!(a, fp("SELECT u.a FROM other.users u WHERE u.id = 1"));
    let b = fp("SELECT a.x FROM s1.t a JOIN s2.t b ON a.id = b.id");
    assert_eq!(b, fp("SELECT p.x FROM s1.t p JOIN s2.t q ON p.id = q.id"));
}

#[test]
fn subqueries_functions_and_ctes() {
    let a = fp("SELECT s.n FROM (SELECT count(*) AS n FROM t) s WHERE s.n > 1");
    assert_eq!(
        a,
        fp("SELECT q.n FROM (SELECT count(*) AS n FROM t) AS q WHERE q.n > 5")
    );
    let f = fp("SELECT g.i FROM generate_series(1, 10) AS g(i)");
    assert_eq!(f, fp("SELECT h.i FROM generate_series(1, 3) AS h(i)"));
    // CTE names are names, not aliases: they still count.
    let c = fp("WITH r AS (SELECT 1 AS x) SELECT r.x FROM r");
    assert_ne!(c, fp("WITH q AS (SELECT 1 AS x) SELECT q.x FROM q"));
    // An alias over a CTE is canonicalized like any other.
    assert_eq!(
        fp("WITH r AS (SELECT 1 AS x) SELECT a.x FROM r a"),
        fp("WITH r AS (SELECT 1 AS x) SELECT b.x FROM r b")
    );
    // Correlated subqueries.
    assert_eq!(
        fp("SELECT u.id FROM users u WHERE EXISTS (SELECT 1 FROM orders o WHERE o.user_id = u.id)"),
        fp("SELECT a.id FROM users a WHERE EXISTS (SELECT 1 FROM orders b WHERE b.user_id = a.id)")
    );
}

#[test]
fn dml_and_unaliased_statements() {
    assert_eq!(
        fp("UPDATE users u SET a = 1 WHERE u.id = 2"),
        fp("UPDATE users AS x SET a = 1 WHERE x.id = 2")
    );
    assert_eq!(
        fp("DELETE FROM users u USING orders o WHERE o.uid = u.id"),
        fp("DELETE FROM users a USING orders b WHERE b.uid = a.id")
    );
    // Unaliased statements fingerprint exactly as libpg_query does.
    for sql in [
        "SELECT * FROM users WHERE id = 1",
        "SELECT users.a FROM users JOIN orders ON orders.uid = users.id",
        "SELECT * FROM users u WHERE id = 1",
    ] {
        let raw = pg_query::fingerprint(sql, 0, crate::fingerprint::FINGERPRINT_OPTIONS)
            .expect("parses")
            .value;
        assert_eq!(fp(sql), Fingerprint(raw), "{sql}");
    }
}

#[test]
fn reused_alias_names_in_separate_scopes_are_kept() {
    // `t` names two different relations: left alias-sensitive, never mixed up.
    let a = fp("SELECT t.a FROM users t WHERE t.id IN (SELECT t.uid FROM orders t)");
    assert_eq!(
        a,
        fp("SELECT t.a FROM users t WHERE t.id IN (SELECT t.uid FROM orders t)")
    );
    assert_ne!(
        a,
        fp("SELECT t.a FROM orders t WHERE t.id IN (SELECT t.uid FROM users t)")
    );
    // The same alias for the same relation in both branches of a UNION is fine.
    assert_eq!(
        fp("SELECT u.a FROM users u WHERE u.x = 1 UNION SELECT u.a FROM users u WHERE u.y = 2"),
        fp("SELECT v.a FROM users v WHERE v.x = 1 UNION SELECT v.a FROM users v WHERE v.y = 2")
    );
}

#[test]
fn odd_sql_never_panics_and_falls_back() {
    for sql in [
        "SELECT u.a.b FROM users u",
        "SELECT (u).a FROM users u",
        "SELECT u FROM users u",
        "SELECT \"u\"\"x\".a FROM users \"u\"\"x\"",
        "SELECT U&\"\\0075\".a FROM users u",
        "SELECT x.a FROM users u",
        "SELECT 1; SELECT u.a FROM users u",
        "CREATE TABLE t AS SELECT u.a FROM users u",
        "EXPLAIN SELECT u.a FROM users u",
        "SELECT u.a FROM users u /* u.a */ WHERE u.b = 'u.a'",
        "SELECT xmlelement(name foo, u.a) FROM users u",
        "SELECT j.* FROM json_to_record('{}') AS j(a int)",
        "SELECT t.* FROM users t TABLESAMPLE SYSTEM (1)",
        "SELECT a.x FROM ((t1 JOIN t2 USING (x)) AS a)",
    ] {
        let _ = fingerprint(sql);
        let _ = Normalizer::new().analyze(sql);
    }
    assert_eq!(
        fp("SELECT u.a FROM users u /* u.a */ WHERE u.b = 'u.a'"),
        fp("SELECT v.a FROM users v WHERE v.b = 'x'")
    );
}

#[test]
fn normalizer_groups_aliases_but_shows_the_first_text() {
    let mut n = Normalizer::new();
    let a = n.analyze("SELECT u.a FROM users u WHERE u.id = 1");
    let b = n.analyze("SELECT x.a FROM users x WHERE x.id = 2");
    assert_eq!(a.fingerprint, b.fingerprint);
    assert_eq!(a.fingerprint, fp("SELECT z.a FROM users z WHERE z.id = 3"));
    assert_eq!(&*a.normalized, "SELECT u.a FROM users u WHERE u.id = $1");
    assert_eq!(&*b.normalized, "SELECT x.a FROM users x WHERE x.id = $1");
    assert_eq!(b.params, ["2"]);
}
