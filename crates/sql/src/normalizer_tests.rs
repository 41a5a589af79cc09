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
        "SELECT * FROM t WHERE a = $1 AND ts > now() - $2::interval AND ok = $3 LIMIT $5 OFFSET $4"
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
fn in_lists_share_an_entry_and_become_arrays_of_any_length() {
    let mut n = Normalizer::new();
    let a = n.analyze("SELECT * FROM t WHERE id IN (1, 2) AND s = 'x'");
    let b = n.analyze("SELECT * FROM t WHERE id IN (3, -4, 5) AND s = 'y'");
    let c = n.analyze("SELECT * FROM t WHERE id IN (6) AND s = 'z'");
    assert_eq!(n.stats().parses, 1);
    assert_eq!(a.fingerprint, b.fingerprint);
    assert_eq!(
        &*a.normalized,
        "SELECT * FROM t WHERE id = ANY($1) AND s = $2"
    );
    assert_eq!(a.params, ["{1,2}", "x"]);
    assert_eq!(b.params, ["{3,-4,5}", "y"]);
    assert_eq!(c.params, ["{6}", "z"]);
    assert_eq!(
        a.fingerprint,
        crate::fingerprint("SELECT * FROM t WHERE id IN (3, 4, 5) AND s = 'y'").expect("ok")
    );
}

#[test]
fn in_list_renumbering_not_in_quoting_and_nulls() {
    let mut n = Normalizer::new();
    let sql = "SELECT * FROM t WHERE a = 1 AND b NOT IN ('x', 'y z', 'q\"', '', 'NULL', '{,}') AND c IN (2, 3) LIMIT 4";
    let a = n.analyze(sql);
    assert_eq!(
        &*a.normalized,
        "SELECT * FROM t WHERE a = $1 AND b <> ALL($2) AND c = ANY($3) LIMIT $4"
    );
    assert_eq!(
        a.params,
        ["1", r#"{x,"y z","q\"","","NULL","{,}"}"#, "{2,3}", "4"]
    );
    let b =
        n.analyze("SELECT * FROM t WHERE a = 9 AND b NOT IN ('k') AND c IN (5, 6, 7, 8) LIMIT 1");
    assert_eq!(b.params, ["9", "{k}", "{5,6,7,8}", "1"]);
    assert_eq!(n.stats().parses, 1);
    let c = n.analyze("SELECT * FROM t WHERE a IN (1, NULL, 'x''y', -2.5) AND b = true");
    assert_eq!(
        &*c.normalized,
        "SELECT * FROM t WHERE a = ANY($1) AND b = $2"
    );
    assert_eq!(c.params, ["{1,NULL,x'y,-2.5}", "true"]);
}

#[test]
fn in_lists_that_must_stay_lists() {
    let mut n = Normalizer::new();
    // Parameters of its own: libpg_query's text, no params.
    let a = n.analyze("SELECT * FROM t WHERE a IN ($1, $2) AND b IN (1, 2)");
    assert!(a.params.is_empty());
    // A signed `+` element is an expression, not a constant: kept, lengths must match.
    let b = n.analyze("SELECT * FROM t WHERE a IN (+1, 2)");
    assert_eq!(&*b.normalized, "SELECT * FROM t WHERE a IN (+$1, $2)");
    assert_eq!(b.params, ["1", "2"]);
    assert!(n
        .analyze("SELECT * FROM t WHERE a IN (+1, 2, 3)")
        .params
        .is_empty());
    // An IN that is the operand of a comparison would change meaning as `= ANY`.
    let c = n.analyze("SELECT * FROM t WHERE flag = (a IN (1, 2))");
    assert_eq!(
        &*c.normalized,
        "SELECT * FROM t WHERE flag = (a IN ($1, $2))"
    );
    // Subqueries are untouched.
    let d = n.analyze("SELECT * FROM t WHERE a IN (SELECT b FROM u WHERE c = 1)");
    assert_eq!(
        &*d.normalized,
        "SELECT * FROM t WHERE a IN (SELECT b FROM u WHERE c = $1)"
    );
}

#[test]
fn typed_literals_become_casts() {
    let a = analyze("SELECT * FROM t WHERE a > date '2024-01-01' AND b < timestamp with time zone '2024-01-01 10:00' AND c = int4 '5' AND d = interval '1' day AND e = pg_catalog.numeric(10, 2) '1.5' AND f = 'x'::text");
    assert_eq!(
        &*a.normalized,
        "SELECT * FROM t WHERE a > $1::date AND b < $2::timestamp with time zone AND c = $3::int4 AND d = $4::interval day AND e = $5::pg_catalog.numeric(10, 2) AND f = $6::text"
    );
    assert_eq!(
        a.params,
        ["2024-01-01", "2024-01-01 10:00", "5", "1", "1.5", "x"]
    );
}

#[test]
fn extended_protocol_literals_follow_the_own_params() {
    let mut n = Normalizer::new();
    let a = n.analyze("SELECT * FROM t WHERE a = $1 AND b = 5");
    assert!(a.params.is_empty());
    assert_eq!(&*a.normalized, "SELECT * FROM t WHERE a = $1 AND b = $2");
    assert_eq!((a.own_params, a.param_count), (1, 2));
    assert_eq!(a.literal_params, ["5"]);
    let b = n.analyze("SELECT * FROM t WHERE a = 3 AND b = 5");
    assert_eq!(a.fingerprint, b.fingerprint);
    assert_eq!(b.params, ["3", "5"]);
    assert_eq!((b.own_params, b.param_count), (0, 2));
    assert!(b.literal_params.is_empty());
}

/// The statements of the bug report, as logged by the extended protocol
/// (`parse pgpilot_10: …`): a typed literal next to `$n` parameters.
#[test]
fn typed_literals_become_casts_next_to_own_params() {
    let mut n = Normalizer::new();
    let sql = "SELECT DISTINCT u.id, u.email FROM users u WHERE u.created_at > NOW() - INTERVAL '7 days' AND u.status = $1 ORDER BY u.id";
    let a = n.analyze(sql);
    assert_eq!(
        &*a.normalized,
        "SELECT DISTINCT u.id, u.email FROM users u WHERE u.created_at > NOW() - $2::INTERVAL AND u.status = $1 ORDER BY u.id"
    );
    assert!(a.params.is_empty());
    assert_eq!((a.own_params, a.param_count), (1, 2));
    assert_eq!(a.literal_params, ["7 days"]);
    assert_eq!(a.fingerprint, crate::fingerprint(sql).expect("parses"));
    assert_eq!(&*a.normalized, crate::normalize(sql).expect("parses"));
    let bound = [Some("active".to_string())];
    assert_eq!(
        a.full_params(&bound),
        Some(vec![Some("active".into()), Some("7 days".into())])
    );
    assert_eq!(a.full_params(&[]), None);
    // Same shape, another interval: the cached text, this statement's value.
    let b = n.analyze(&sql.replace("7 days", "1 hour"));
    assert!(Arc::ptr_eq(&a.normalized, &b.normalized));
    assert_eq!(b.literal_params, ["1 hour"]);
    assert_eq!(n.stats().parses, 1);
    // The same query with the status inline: the same cast, numbered from $1.
    let c = n.analyze(&sql.replace("$1", "'active'"));
    assert_eq!(
        &*c.normalized,
        "SELECT DISTINCT u.id, u.email FROM users u WHERE u.created_at > NOW() - $1::INTERVAL AND u.status = $2 ORDER BY u.id"
    );
    assert_eq!(c.params, ["7 days", "active"]);
    assert_eq!(
        c.full_params(&[]),
        Some(vec![Some("7 days".into()), Some("active".into())])
    );
    assert_eq!(c.fingerprint, a.fingerprint);

    let ins = n.analyze("INSERT INTO sessions (user_id, token, expires_at, data) VALUES ($1, md5($2), NOW() + INTERVAL '30 days', '{\"a\": 1}')");
    assert_eq!(
        &*ins.normalized,
        "INSERT INTO sessions (user_id, token, expires_at, data) VALUES ($1, md5($2), NOW() + $3::INTERVAL, $4)"
    );
    assert_eq!((ins.own_params, ins.param_count), (2, 4));
    assert_eq!(ins.literal_params, ["30 days", r#"{"a": 1}"#]);
    let bound = [Some("7".to_string()), None];
    let full = ins.full_params(&bound).expect("aligned");
    assert_eq!(full.len(), 4);
    assert_eq!(full[2].as_deref(), Some("30 days"));
    assert_eq!(ins.full_params(&bound[..1]), None);
}

#[test]
fn every_rewrite_numbers_after_own_params() {
    let mut n = Normalizer::new();
    let a = n.analyze("SELECT * FROM t WHERE a IN (1, 2) AND b = $1 AND c > date '2024-01-01' AND d < timestamp with time zone '2024-02-01 10:00' LIMIT 5");
    assert_eq!(
        &*a.normalized,
        "SELECT * FROM t WHERE a = ANY($2) AND b = $1 AND c > $3::date AND d < $4::timestamp with time zone LIMIT $5"
    );
    assert_eq!(
        a.literal_params,
        ["{1,2}", "2024-01-01", "2024-02-01 10:00", "5"]
    );
    // Lists of any length share the entry and stay aligned.
    let b = n.analyze("SELECT * FROM t WHERE a IN (7, 8, 9) AND b = $1 AND c > date '2025-01-01' AND d < timestamp with time zone '2025-02-01' LIMIT 6");
    assert!(Arc::ptr_eq(&a.normalized, &b.normalized));
    assert_eq!(
        b.literal_params,
        ["{7,8,9}", "2025-01-01", "2025-02-01", "6"]
    );
    // Parameters of its own that are not `$1..`: the literals follow the highest.
    let c = n.analyze("UPDATE t SET a = $3, b = interval '1 day' WHERE id = $1");
    assert_eq!(
        &*c.normalized,
        "UPDATE t SET a = $3, b = $4::interval WHERE id = $1"
    );
    assert_eq!((c.own_params, c.param_count), (3, 4));
    assert_eq!(c.literal_params, ["1 day"]);
    // No literal at all: every value is bound.
    let d = n.analyze("SELECT * FROM t WHERE a = $1");
    assert_eq!((d.own_params, d.param_count), (1, 1));
    let bound = [Some("x".to_string())];
    assert_eq!(d.full_params(&bound), Some(vec![Some("x".into())]));
}

/// `extract($1 FROM ts)` (libpg_query's and pg_stat_statements' text) cannot be
/// PREPAREd: the field stays as written, outside the parameters.
#[test]
fn extract_fields_stay_keywords() {
    let mut n = Normalizer::new();
    let a = n.analyze("SELECT extract(day FROM ts), date_part('day', ts) FROM t WHERE a = 1");
    assert_eq!(
        &*a.normalized,
        "SELECT extract(day FROM ts), date_part($1, ts) FROM t WHERE a = $2"
    );
    assert_eq!(a.params, ["day", "1"]);
    let b = n.analyze("SELECT EXTRACT(EPOCH FROM now() - ts) FROM t WHERE a = $1 AND b = 'x'");
    assert_eq!(
        &*b.normalized,
        "SELECT EXTRACT(EPOCH FROM now() - ts) FROM t WHERE a = $1 AND b = $2"
    );
    assert_eq!(b.literal_params, ["x"]);
    // Fingerprints ignore the field, as PostgreSQL's do.
    let c = n.analyze("SELECT extract(month FROM ts), date_part('day', ts) FROM t WHERE a = 1");
    assert_eq!(c.fingerprint, a.fingerprint);
    assert_eq!(
        a.fingerprint,
        crate::fingerprint("SELECT extract(year FROM ts), date_part('x', ts) FROM t WHERE a = 5")
            .expect("parses")
    );
    assert_eq!(
        &*c.normalized,
        "SELECT extract(month FROM ts), date_part($1, ts) FROM t WHERE a = $2"
    );
    // Quoted and string fields, normalization forms.
    let d = n.analyze("SELECT extract(\"day\" FROM ts), extract('dow' FROM ts), normalize(x, NFC), x IS NFKC NORMALIZED FROM t WHERE a = 3");
    assert_eq!(
        &*d.normalized,
        "SELECT extract(\"day\" FROM ts), extract('dow' FROM ts), normalize(x, NFC), x IS NFKC NORMALIZED FROM t WHERE a = $1"
    );
    assert_eq!(d.params, ["3"]);
    // A string field is part of the text, so its value keys the entry.
    let e = n.analyze("SELECT extract(\"day\" FROM ts), extract('hour' FROM ts), normalize(x, NFC), x IS NFKC NORMALIZED FROM t WHERE a = 4");
    assert!(
        e.normalized.contains("extract('hour' FROM ts)"),
        "{}",
        e.normalized
    );
    assert_eq!(e.params, ["4"]);
    assert_eq!(e.fingerprint, d.fingerprint);
    let f = n.analyze("SELECT extract(\"day\" FROM ts), extract('dow' FROM ts), normalize(x, NFC), x IS NFKC NORMALIZED FROM t WHERE a = 5");
    assert!(Arc::ptr_eq(&d.normalized, &f.normalized));
    assert_eq!(f.params, ["5"]);
    // With parameters of its own.
    let g = n.analyze("SELECT count(*) FROM t WHERE extract('isodow' FROM ts) = $1 AND ts > now() - interval '1 week'");
    assert_eq!(
        &*g.normalized,
        "SELECT count(*) FROM t WHERE extract('isodow' FROM ts) = $1 AND ts > now() - $2::interval"
    );
    assert_eq!(g.literal_params, ["1 week"]);
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
            assert!(
                pg_query::parse(&a.normalized, 0).is_ok(),
                "{}",
                a.normalized
            );
        }
    }
}

/// Every normalized text of a varied corpus parses (so it can be PREPAREd).
#[test]
fn normalized_texts_parse() {
    let corpus = [
        "SELECT * FROM t WHERE a = 1",
        "SELECT * FROM t WHERE ts > now() - interval '1 day' AND d = date '2024-01-01'",
        "SELECT * FROM t WHERE ts > TIMESTAMP '2024-01-01' AND t = time '10:00' AND x = timestamptz '2024-01-01'",
        "SELECT * FROM t WHERE a IN (1, 2, 3) AND b NOT IN ('a', 'b')",
        "SELECT * FROM t WHERE a IN (1, NULL) OR b IN (-1, -2)",
        "SELECT * FROM t WHERE NOT a IN (1, 2)",
        "SELECT * FROM t WHERE (a IN (1, 2)) = true",
        "SELECT * FROM t WHERE a + 1 IN (1, 2) AND b || 'x' IN ('ax')",
        "SELECT * FROM t WHERE a IN (1, 2) IS TRUE",
        "UPDATE t SET a = 1 WHERE id IN (1, 2, 3) RETURNING a",
        "DELETE FROM t WHERE id NOT IN (5) AND ts < now() - interval '5 minutes'",
        "INSERT INTO t (a, b) VALUES (1, interval '2 hours')",
        "SELECT CASE WHEN a IN (1, 2) THEN 'x' ELSE 'y' END FROM t",
        "SELECT * FROM t WHERE a IN (1, 2) ORDER BY 1 LIMIT 5",
        "SELECT u.a FROM users u WHERE u.id IN (1, 2) AND u.b = bpchar 'x'",
        "SELECT * FROM t WHERE a = ANY('{1,2}') AND b IN (E'a\\b', $$c$$)",
        "WITH r AS (SELECT * FROM o WHERE s IN ('a', 'b')) SELECT * FROM r WHERE x IN (1)",
        "SELECT * FROM t WHERE a IN (1, 2); SELECT * FROM u WHERE b IN ('x')",
        "SELECT * FROM t WHERE a BETWEEN date '2024-01-01' AND date '2024-02-01'",
        "SELECT * FROM t WHERE a IN (1, /* c */ 2) AND b = interval /* c */ '1 day'",
        "SELECT * FROM t WHERE a = interval -- c\n '1 day'",
        "SELECT * FROM t WHERE ts > now() - interval '1 day' AND a = $1",
        "INSERT INTO t (a, b, c) VALUES ($1, date '2024-01-01', interval '2 hours') RETURNING a",
        "UPDATE t SET ts = timestamptz '2024-01-01' WHERE id IN (1, 2) AND b = $1",
        "SELECT extract(day FROM ts), EXTRACT('epoch' FROM ts) FROM t WHERE a = $1 AND b = 2",
    ];
    let mut n = Normalizer::new();
    for sql in corpus {
        let a = n.analyze(sql);
        assert!(a.parse_error.is_none(), "{sql}");
        assert!(
            pg_query::parse(&a.normalized, 0).is_ok(),
            "{sql} -> {}",
            a.normalized
        );
        // libpg_query's grammar accepts `interval $1`; PostgreSQL's does not.
        let lower = a.normalized.to_ascii_lowercase();
        assert!(!lower.contains("extract($"), "{}", a.normalized);
        for ty in ["interval", "date", "timestamp", "time", "timestamptz"] {
            assert!(!lower.contains(&format!("{ty} $")), "{}", a.normalized);
            assert!(!lower.contains(&format!("{ty} /*")), "{}", a.normalized);
            assert!(!lower.contains(&format!("{ty} --")), "{}", a.normalized);
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
