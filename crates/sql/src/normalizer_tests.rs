use super::*;

fn analyze(sql: &str) -> Analysis {
    Normalizer::new().analyze(sql)
}

#[test]
fn params_follow_the_normalized_order() {
    let a = analyze("SELECT * FROM t WHERE a = 5 AND b = 'x'");
    assert_eq!(&*a.normalized, "SELECT * FROM t WHERE a = $1 AND b = $2");
    assert_eq!(a.params, ["5", "x"]);
    assert_eq!(a.parse_error, None);
    assert_eq!(
        a.fingerprint,
        crate::fingerprint("SELECT * FROM t WHERE a = 1 AND b = 'y'").expect("parses")
    );
}

#[test]
fn limit_offset_negative_typed_and_keyword_constants() {
    let a = analyze("SELECT * FROM t WHERE a = -5 AND ts > now() - interval '1 day' AND ok = true LIMIT 10 OFFSET 20");
    assert_eq!(
        &*a.normalized,
        "SELECT * FROM t WHERE a = $1 AND ts > now() - interval $2 AND ok = $3 LIMIT $5 OFFSET $4"
    );
    assert_eq!(a.params, ["-5", "1 day", "true", "20", "10"]);
    let b = analyze("SELECT N'x', - 3, E'a\\'b', $$d$$");
    assert_eq!(b.params, ["x", "-3", "a'b", "d"]);
}

#[test]
fn the_parser_runs_once_per_shape_and_params_come_from_each_call() {
    let mut n = Normalizer::new();
    let a = n.analyze("SELECT * FROM t WHERE a = 1 AND b = 'x'");
    let b = n.analyze("select * from t where a = 22   and b = 'why' -- trailing");
    assert_eq!(n.stats().parses, 1);
    assert_eq!(n.stats().hits, 1);
    assert_eq!(n.len(), 1);
    assert_eq!(a.fingerprint, b.fingerprint);
    assert!(Arc::ptr_eq(&a.normalized, &b.normalized));
    assert_eq!(b.params, ["22", "why"]);
}

#[test]
fn in_lists_share_an_entry_and_params_only_when_lengths_match() {
    let mut n = Normalizer::new();
    let a = n.analyze("SELECT * FROM t WHERE id IN (1, 2) AND s = 'x'");
    let b = n.analyze("SELECT * FROM t WHERE id IN (3, 4, 5) AND s = 'y'");
    let c = n.analyze("SELECT * FROM t WHERE id IN (6, 7) AND s = 'z'");
    assert_eq!(n.stats().parses, 1);
    assert_eq!(a.fingerprint, b.fingerprint);
    assert_eq!(a.params, ["1", "2", "x"]);
    assert!(b.params.is_empty());
    assert_eq!(c.params, ["6", "7", "z"]);
    assert_eq!(
        a.fingerprint,
        crate::fingerprint("SELECT * FROM t WHERE id IN (3, 4, 5) AND s = 'y'").expect("ok")
    );
}

#[test]
fn extended_protocol_statements_have_no_literal_params() {
    let mut n = Normalizer::new();
    let a = n.analyze("SELECT * FROM t WHERE a = $1 AND b = 5");
    assert!(a.params.is_empty());
    assert_eq!(&*a.normalized, "SELECT * FROM t WHERE a = $1 AND b = $2");
    let b = n.analyze("SELECT * FROM t WHERE a = 3 AND b = 5");
    assert_eq!(a.fingerprint, b.fingerprint);
    assert_eq!(b.params, ["3", "5"]);
}

#[test]
fn unreplaced_literals_keep_their_own_entries() {
    let mut n = Normalizer::new();
    let a = n.analyze("SELECT a FROM t WHERE b = 1 ORDER BY 1");
    let b = n.analyze("SELECT a FROM t WHERE b = 2 ORDER BY 2");
    let c = n.analyze("SELECT a FROM t WHERE b = 3 ORDER BY 1");
    assert_eq!(&*a.normalized, "SELECT a FROM t WHERE b = $1 ORDER BY 1");
    assert_eq!(&*b.normalized, "SELECT a FROM t WHERE b = $1 ORDER BY 2");
    assert_eq!(c.params, ["3"]);
    assert_eq!(n.stats().parses, 2);
    let d = n.analyze("SELECT x::varchar(10) FROM t WHERE y = 'q'");
    assert_eq!(&*d.normalized, "SELECT x::varchar(10) FROM t WHERE y = $1");
    assert_eq!(d.params, ["q"]);
}

#[test]
fn utility_statements_are_keyed_by_their_values() {
    let mut n = Normalizer::new();
    let a = n.analyze("SET statement_timeout = 5000");
    let b = n.analyze("SET statement_timeout = 100");
    assert_eq!(&*a.normalized, "SET statement_timeout = $1");
    assert_eq!(b.params, ["100"]);
    assert_eq!(n.stats().parses, 2);
    n.analyze("SET statement_timeout = 100");
    assert_eq!(n.stats().parses, 2);
}

#[test]
fn unparsable_sql_still_groups() {
    let mut n = Normalizer::new();
    let a = n.analyze("SELEC * FROM t WHERE a = 5");
    let b = n.analyze("selec * from t where a = 6");
    assert!(a
        .parse_error
        .as_deref()
        .is_some_and(|m| m.contains("syntax error")));
    assert_eq!(a.fingerprint, b.fingerprint);
    assert_eq!(&*a.normalized, "SELEC * FROM t WHERE a = $1");
    assert!(a.params.is_empty());
    assert_eq!(n.stats().parses, 1);
    assert!(n.analyze("SELECT '\0'").parse_error.is_some());
}

#[test]
fn multi_statement_strings() {
    let a = analyze("SELECT 1; SELECT 'a'");
    assert_eq!(&*a.normalized, "SELECT $1; SELECT $2");
    assert_eq!(a.params, ["1", "a"]);
    assert_eq!(
        a.fingerprint,
        crate::fingerprint("SELECT 7; SELECT 'b'").expect("ok")
    );
}

#[test]
fn cap_stops_caching_but_keeps_answering() {
    let mut n = Normalizer::with_max_entries(2);
    for i in 0..5 {
        let a = n.analyze(&format!("SELECT c{i} FROM t WHERE a = {i}"));
        assert_eq!(a.params, [i.to_string()]);
    }
    assert_eq!(n.len(), 2);
    assert_eq!(n.stats().uncached, 3);
}

#[test]
fn analyze_matches_the_uncached_functions_on_varied_sql() {
    let cases = [
        "SELECT u.*, p.* FROM users u LEFT JOIN profiles p ON u.id = p.user_id WHERE u.created_at > NOW() - INTERVAL '30 days' ORDER BY u.last_login DESC LIMIT 50",
        "INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y') ON CONFLICT (a) DO UPDATE SET b = EXCLUDED.b",
        "UPDATE accounts SET balance = balance - 10.5 WHERE id = 42 RETURNING balance",
        "WITH r AS (SELECT * FROM o WHERE s = 'new') SELECT count(*) FROM r WHERE total > 100",
        "DELETE FROM sessions WHERE expires_at < now() AND user_id IN (1,2,3)",
        "SELECT * FROM t WHERE a = B'101' AND b = X'ff' AND c = 'a'\n'b'",
    ];
    let mut n = Normalizer::new();
    for sql in cases {
        for _ in 0..2 {
            let a = n.analyze(sql);
            assert_eq!(a.fingerprint, crate::fingerprint(sql).expect("ok"), "{sql}");
            assert_eq!(&*a.normalized, crate::normalize(sql).expect("ok"), "{sql}");
            assert!(!a.params.is_empty(), "{sql}");
        }
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]
    #[test]
    fn analyze_never_panics(sql in "(SELECT|select|IN|\\(|\\)|'|\"|\\$|\\$1|--|/\\*|\\*/|-|[a-z0-9 ,.=;:\\\\é\\n])*") {
        let mut n = Normalizer::new();
        let _ = n.analyze(&sql);
        let _ = n.analyze(&sql);
    }

    #[test]
    fn analyze_never_panics_on_any_text(sql in ".{0,120}") {
        let _ = Normalizer::new().analyze(&sql);
    }
}
