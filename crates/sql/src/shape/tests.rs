use super::*;

fn shape(sql: &str) -> QueryShape {
    QueryShape::parse(sql).expect("parses")
}

fn col(table: &str, column: &str) -> ColumnRef {
    ColumnRef {
        table: Some(table.into()),
        column: column.into(),
    }
}

fn pred<'a>(b: &'a BlockShape, table: &'a str, column: &'a str) -> &'a Predicate {
    b.predicates_on(table)
        .find(|p| p.target.column().is_some_and(|c| c.column == column))
        .expect("predicate present")
}

#[test]
fn adx_dashboard_query() {
    let s = shape(
        "SELECT u.*, p.*, r.role_name FROM users u LEFT JOIN profiles p ON u.id = p.user_id LEFT JOIN roles r ON u.role_id = r.id \
         WHERE u.created_at > NOW() - INTERVAL '30 days' ORDER BY u.last_login DESC LIMIT 50;",
    );
    assert_eq!(s.kind, StatementKind::Select);
    assert_eq!(s.blocks.len(), 1);
    let b = &s.blocks[0];
    let tables: Vec<(String, Option<&str>)> = b
        .tables
        .iter()
        .map(|t| (t.qualified_name(), t.alias.as_deref()))
        .collect();
    assert_eq!(
        tables,
        [
            ("users".into(), Some("u")),
            ("profiles".into(), Some("p")),
            ("roles".into(), Some("r"))
        ]
    );
    assert_eq!(
        b.joins,
        [
            JoinKey {
                left: col("users", "id"),
                right: col("profiles", "user_id")
            },
            JoinKey {
                left: col("users", "role_id"),
                right: col("roles", "id")
            },
        ]
    );
    let p = pred(b, "users", "created_at");
    assert_eq!(p.kind, PredicateKind::Range);
    assert_eq!(p.op, ">");
    assert!(
        matches!(&p.values[..], [Operand::Expr(e)] if e.contains("now()") && e.contains("30 days")),
        "{p:?}"
    );
    assert_eq!(
        b.order_by,
        [OrderItem {
            target: Target::Column(col("users", "last_login")),
            descending: true,
            nulls: NullsOrder::Default
        }]
    );
    assert_eq!(b.limit, Some(LimitValue::Const("50".into())));
    assert_eq!(
        b.select_list[0],
        SelectItem::Star {
            table: Some("users".into())
        }
    );
    assert_eq!(
        b.select_list[2],
        SelectItem::Column(col("roles", "role_name"))
    );
}

#[test]
fn equality_range_order_with_params_and_schema() {
    let s = shape(
        "SELECT id, total FROM shop.orders WHERE customer_id = $1 AND status = 'paid' AND created_at BETWEEN $2 AND $3 \
         AND 100 < total ORDER BY created_at ASC NULLS FIRST, id LIMIT $4 OFFSET 20",
    );
    let b = &s.blocks[0];
    assert_eq!(b.tables[0].schema.as_deref(), Some("shop"));
    let t = "shop.orders";
    assert_eq!(pred(b, t, "customer_id").values, [Operand::Param(1)]);
    assert!(pred(b, t, "customer_id").is_equality());
    let status = pred(b, t, "status");
    assert_eq!(
        (status.kind, status.constants().collect::<Vec<_>>()),
        (PredicateKind::Eq, vec!["paid"])
    );
    let range = pred(b, t, "created_at");
    assert_eq!(
        (range.kind, range.op.as_str(), range.values.len()),
        (PredicateKind::Range, "between", 2)
    );
    let total = pred(b, t, "total");
    assert_eq!(
        (total.op.as_str(), &total.values[..]),
        (">", &[Operand::Const("100".into())][..])
    );
    assert_eq!(b.order_by[0].nulls, NullsOrder::First);
    assert!(!b.order_by[0].descending);
    assert_eq!(b.order_by[1].target, Target::Column(col(t, "id")));
    assert_eq!(b.limit, Some(LimitValue::Param(4)));
    assert_eq!(b.offset, Some(LimitValue::Const("20".into())));
}

#[test]
fn in_lists_any_and_not_in() {
    let s = shape("SELECT * FROM t WHERE a IN (1, 2, 3) AND b = ANY($1) AND c NOT IN ('x') AND d <> ALL('{1}')");
    let b = &s.blocks[0];
    let a = pred(b, "t", "a");
    assert_eq!((a.kind, a.values.len()), (PredicateKind::In, 3));
    assert_eq!(pred(b, "t", "b").kind, PredicateKind::In);
    assert_eq!(pred(b, "t", "b").values, [Operand::Param(1)]);
    assert_eq!(pred(b, "t", "c").kind, PredicateKind::NotIn);
    assert_eq!(pred(b, "t", "d").kind, PredicateKind::NotIn);
    assert_eq!(b.select_list, [SelectItem::Star { table: None }]);
}

#[test]
fn joins_in_where_and_using_and_unresolved_columns() {
    let s = shape("SELECT name FROM customers c, sales s JOIN regions USING (region_id) WHERE c.id = s.customer_id AND year = 2024");
    let b = &s.blocks[0];
    assert!(b.joins.contains(&JoinKey {
        left: col("customers", "id"),
        right: col("sales", "customer_id")
    }));
    assert!(b.joins.contains(&JoinKey {
        left: col("sales", "region_id"),
        right: col("regions", "region_id")
    }));
    let year = b
        .predicates
        .iter()
        .find(|p| p.target.column().is_some_and(|c| c.column == "year"))
        .expect("year");
    assert_eq!(year.target.column().and_then(|c| c.table.as_deref()), None);
    assert_eq!(
        b.select_list,
        [SelectItem::Column(ColumnRef {
            table: None,
            column: "name".into()
        })]
    );
}

#[test]
fn partial_index_constants_nulls_booleans_and_like() {
    let s = shape(
        "SELECT * FROM jobs WHERE state = 'queued' AND deleted_at IS NULL AND NOT archived AND locked_by IS NOT NULL \
         AND name LIKE '%foo' AND path ILIKE 'a/%' AND note NOT LIKE $1",
    );
    let b = &s.blocks[0];
    assert_eq!(
        pred(b, "jobs", "state").constants().collect::<Vec<_>>(),
        ["queued"]
    );
    assert_eq!(pred(b, "jobs", "deleted_at").kind, PredicateKind::IsNull);
    assert!(pred(b, "jobs", "deleted_at").is_equality());
    assert_eq!(
        pred(b, "jobs", "archived").values,
        [Operand::Const("false".into())]
    );
    assert_eq!(pred(b, "jobs", "locked_by").kind, PredicateKind::IsNotNull);
    let name = pred(b, "jobs", "name");
    assert_eq!(
        (name.kind, name.leading_wildcard, name.case_insensitive),
        (PredicateKind::Like, Some(true), false)
    );
    let path = pred(b, "jobs", "path");
    assert_eq!(
        (path.leading_wildcard, path.case_insensitive),
        (Some(false), true)
    );
    let note = pred(b, "jobs", "note");
    assert!(note.negated);
    assert_eq!(note.leading_wildcard, None);
}

#[test]
fn expression_predicates() {
    let s = shape("SELECT id FROM users WHERE lower(email) = $1 AND created_at::date = '2024-01-01' AND (a = 1 OR b = 2)");
    let b = &s.blocks[0];
    let exprs: Vec<(&str, PredicateKind)> = b
        .predicates
        .iter()
        .filter_map(|p| match &p.target {
            Target::Expression { text, columns } => {
                assert_eq!(columns[0].table.as_deref(), Some("users"));
                Some((text.as_str(), p.kind))
            }
            Target::Column(_) => None,
        })
        .collect();
    assert_eq!(
        exprs,
        [
            ("lower(email)", PredicateKind::Eq),
            ("created_at::date", PredicateKind::Eq)
        ]
    );
    assert!(b.predicates.iter().filter(|p| p.in_or).count() == 2);
}

#[test]
fn distinct_group_by_and_positional_order() {
    let s = shape(
        "SELECT DISTINCT ON (user_id) user_id, ts FROM logins ORDER BY 1, ts DESC NULLS LAST",
    );
    let b = &s.blocks[0];
    assert_eq!(
        b.distinct,
        Distinct::On(vec![Target::Column(col("logins", "user_id"))])
    );
    assert_eq!(
        b.order_by[0].target,
        Target::Column(col("logins", "user_id"))
    );
    assert_eq!(b.order_by[1].nulls, NullsOrder::Last);
    let s = shape("SELECT DISTINCT a FROM t");
    assert_eq!(s.blocks[0].distinct, Distinct::All);
    let s = shape("SELECT customer_id, sum(total) AS s FROM o GROUP BY customer_id HAVING sum(total) > 10 ORDER BY s DESC LIMIT ALL");
    let b = &s.blocks[0];
    assert_eq!(b.group_by, [Target::Column(col("o", "customer_id"))]);
    assert!(
        matches!(&b.order_by[0].target, Target::Expression { text, .. } if text == "sum(total)")
    );
    assert_eq!(b.limit, None);
    assert!(b
        .predicates
        .iter()
        .any(|p| matches!(&p.target, Target::Expression { text, .. } if text == "sum(total)")));
}

#[test]
fn not_in_subquery_and_correlated_exists() {
    let s = shape(
        "SELECT * FROM users u WHERE u.id NOT IN (SELECT user_id FROM bans) \
         AND EXISTS (SELECT 1 FROM orders o WHERE o.user_id = u.id AND o.total > 5)",
    );
    assert_eq!(s.blocks.len(), 3);
    let top = &s.blocks[0];
    assert_eq!(pred(top, "users", "id").kind, PredicateKind::NotInSubquery);
    assert_eq!(s.blocks[1].origin, BlockOrigin::Subquery);
    assert_eq!(
        s.blocks[1].select_list,
        [SelectItem::Column(col("bans", "user_id"))]
    );
    let exists = &s.blocks[2];
    assert_eq!(
        exists.joins,
        [JoinKey {
            left: col("orders", "user_id"),
            right: col("users", "id")
        }]
    );
    assert_eq!(pred(exists, "orders", "total").kind, PredicateKind::Range);
}

#[test]
fn ctes_and_from_subqueries() {
    let s = shape(
        "WITH recent AS (SELECT * FROM orders WHERE created_at > now() - interval '7 days') \
         SELECT r.customer_id, x.n FROM recent r JOIN (SELECT customer_id, count(*) n FROM visits GROUP BY 1) x \
         ON x.customer_id = r.customer_id WHERE r.total > 10",
    );
    let origins: Vec<&BlockOrigin> = s.blocks.iter().map(|b| &b.origin).collect();
    assert_eq!(
        origins,
        [
            &BlockOrigin::Cte {
                name: "recent".into()
            },
            &BlockOrigin::Statement,
            &BlockOrigin::FromSubquery {
                alias: Some("x".into())
            },
        ]
    );
    assert_eq!(
        pred(&s.blocks[0], "orders", "created_at").kind,
        PredicateKind::Range
    );
    let top = &s.blocks[1];
    assert_eq!(top.tables[0].source, TableSource::Cte);
    assert_eq!(top.tables[1].source, TableSource::Subquery);
    assert_eq!(
        top.joins,
        [JoinKey {
            left: col("x", "customer_id"),
            right: col("recent", "customer_id")
        }]
    );
    assert_eq!(
        s.blocks[2].group_by,
        [Target::Column(col("visits", "customer_id"))]
    );
    let rels: Vec<String> = s.relations().iter().map(|t| t.qualified_name()).collect();
    assert_eq!(rels, ["orders", "visits"]);
}

#[test]
fn writes() {
    let s = shape("UPDATE accounts a SET balance = balance - 1, updated_at = now() FROM owners o WHERE o.id = a.owner_id AND o.email = $1 RETURNING a.id");
    assert_eq!(s.kind, StatementKind::Update);
    let b = &s.blocks[0];
    assert_eq!(b.written_columns, ["balance", "updated_at"]);
    assert_eq!(
        b.joins,
        [JoinKey {
            left: col("owners", "id"),
            right: col("accounts", "owner_id")
        }]
    );
    assert_eq!(b.select_list, [SelectItem::Column(col("accounts", "id"))]);

    let s = shape("DELETE FROM sessions WHERE expires_at < now()");
    assert_eq!(s.kind, StatementKind::Delete);
    assert_eq!(
        pred(&s.blocks[0], "sessions", "expires_at").values,
        [Operand::Expr("now()".into())]
    );

    let s = shape("INSERT INTO t (a, b) SELECT x, y FROM u WHERE z = 1 ON CONFLICT (a) DO UPDATE SET b = EXCLUDED.b");
    assert_eq!(s.kind, StatementKind::Insert);
    assert_eq!(s.blocks[0].written_columns, ["a", "b", "b"]);
    assert_eq!(s.blocks[1].origin, BlockOrigin::Operand);
    assert_eq!(pred(&s.blocks[1], "u", "z").kind, PredicateKind::Eq);

    let s = shape("INSERT INTO t VALUES (1, (SELECT max(id) FROM u))");
    assert_eq!(s.blocks.len(), 2);
}

#[test]
fn quoted_identifiers_unions_utility_and_explain() {
    let s = shape(
        r#"SELECT "Id" FROM "Public"."MyTable" AS "T" WHERE "T"."Name" = 'x' UNION ALL SELECT id FROM other"#,
    );
    assert_eq!(s.blocks.len(), 3);
    assert_eq!(s.blocks[1].tables[0].qualified_name(), "Public.MyTable");
    assert_eq!(
        pred(&s.blocks[1], "Public.MyTable", "Name").kind,
        PredicateKind::Eq
    );
    assert_eq!(shape("CREATE INDEX ON t (a)").kind, StatementKind::Utility);
    let e = shape("EXPLAIN SELECT * FROM t WHERE a = 1");
    assert_eq!(e.kind, StatementKind::Utility);
    assert_eq!(pred(&e.blocks[0], "t", "a").kind, PredicateKind::Eq);
    assert!(QueryShape::parse("SELEC 1").is_err());
}

#[test]
fn shapes_serialize() {
    let s = shape("SELECT * FROM t WHERE a = 1 ORDER BY b DESC LIMIT 5");
    let json = serde_json::to_string(&s).expect("serializes");
    let back: QueryShape = serde_json::from_str(&json).expect("deserializes");
    assert_eq!(back, s);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
    #[test]
    fn shape_never_panics(sql in "(SELECT|FROM|WHERE|t|u\\.a|a|=|1|'x'|\\(|\\)|,|AND|OR|NOT|IN|ORDER BY|LIMIT|JOIN|ON|EXISTS|WITH|AS| )*") {
        let _ = QueryShape::parse(&sql);
    }
}

#[test]
fn odd_but_valid_sql_is_shaped_without_panicking() {
    let cases = [
        "SELECT row_number() OVER (PARTITION BY a ORDER BY b) FROM t WHERE (a, b) > (1, 2)",
        "SELECT CASE WHEN a > 1 THEN 'x' ELSE 'y' END FROM t WHERE data->>'k' = 'v' AND tags @> ARRAY['a']",
        "SELECT * FROM t, LATERAL (SELECT * FROM u WHERE u.t_id = t.id LIMIT 1) l",
        "SELECT a, b, count(*) FROM t GROUP BY GROUPING SETS ((a), (b))",
        "SELECT * FROM generate_series(1, 10) g(i) WHERE i % 2 = 0",
        "SELECT arr[1], (rec).field FROM t WHERE coalesce(x, 0) = 5 AND x IS DISTINCT FROM 3",
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 10) SELECT * FROM r",
        "SELECT * FROM t WHERE a = (SELECT max(a) FROM t t2 WHERE t2.b = t.b) FOR UPDATE SKIP LOCKED",
        "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET v = s.v",
        "SELECT 1; UPDATE t SET a = 1 WHERE b = 2",
        "SELECT x COLLATE \"C\" FROM t WHERE y SIMILAR TO 'a%' AND z IS TRUE",
        "TABLE t",
        "VALUES (1), (2)",
    ];
    for sql in cases {
        let s = QueryShape::parse(sql).expect(sql);
        let _ = serde_json::to_string(&s).expect("serializes");
    }
    let lateral = shape("SELECT * FROM t, LATERAL (SELECT * FROM u WHERE u.t_id = t.id LIMIT 1) l");
    assert_eq!(
        lateral.blocks[1].joins,
        [JoinKey {
            left: col("u", "t_id"),
            right: col("t", "id")
        }]
    );
}
