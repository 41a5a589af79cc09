use super::*;

const SCENARIO: &str = "\
CREATE INDEX CONCURRENTLY idx_users_created_login ON users (created_at, last_login DESC);
CREATE INDEX CONCURRENTLY idx_profiles_user_id ON profiles (user_id);
CREATE INDEX CONCURRENTLY idx_audit_logs_timestamp ON audit_logs (timestamp DESC);
CREATE INDEX CONCURRENTLY idx_sessions_expires_user ON sessions (expires_at, user_id)
  WHERE expires_at > NOW();
";

fn index(s: &DdlStatement) -> &IndexStatement {
    match &s.kind {
        DdlKind::CreateIndex(i) => i,
        other => panic!("not an index statement: {other:?}"),
    }
}

fn column(k: &IndexKeySpec) -> &str {
    match &k.target {
        KeyTarget::Column(c) => c,
        KeyTarget::Expression(e) => panic!("expression key {}", e.text),
    }
}

fn expression(k: &IndexKeySpec) -> &SqlExpr {
    match &k.target {
        KeyTarget::Expression(e) => e,
        KeyTarget::Column(c) => panic!("column key {c}"),
    }
}

#[test]
fn scenario_draft_statements() {
    let stmts = parse_ddl(SCENARIO).expect("parses");
    assert_eq!(stmts.len(), 4);
    assert_eq!(
        stmts.iter().map(|s| s.line).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );

    let a = index(&stmts[0]);
    assert_eq!(a.name.as_deref(), Some("idx_users_created_login"));
    assert_eq!(a.schema, None);
    assert_eq!(a.table, "users");
    assert_eq!(a.method, "btree");
    assert!(a.concurrently && !a.unique && !a.if_not_exists && !a.only);
    assert_eq!(a.keys.len(), 2);
    assert_eq!(column(&a.keys[0]), "created_at");
    assert!(!a.keys[0].descending);
    assert_eq!(column(&a.keys[1]), "last_login");
    assert!(a.keys[1].descending);
    assert_eq!(a.keys[1].nulls_first, None);
    assert!(a.predicate.is_none());
    assert_eq!(
        stmts[0].text,
        "CREATE INDEX CONCURRENTLY idx_users_created_login ON users (created_at, last_login DESC)"
    );

    let b = index(&stmts[1]);
    assert_eq!(b.table, "profiles");
    assert_eq!(column(&b.keys[0]), "user_id");

    let c = index(&stmts[2]);
    assert_eq!(c.table, "audit_logs");
    assert_eq!(column(&c.keys[0]), "timestamp");
    assert!(c.keys[0].descending);

    let d = index(&stmts[3]);
    assert_eq!(d.table, "sessions");
    let keys: Vec<&str> = d.keys.iter().map(column).collect();
    assert_eq!(keys, vec!["expires_at", "user_id"]);
    let p = d.predicate.as_ref().expect("partial");
    assert_eq!(p.text, "expires_at > now()");
    assert_eq!(p.columns, vec!["expires_at"]);
    assert_eq!(p.functions, vec!["now"]);
    assert!(!p.has_subquery);
    assert!(stmts[3].text.ends_with("WHERE expires_at > NOW()"));
    assert!(stmts[3].text.contains('\n'));
}

#[test]
fn expression_include_method_unique_and_nulls() {
    let sql = "CREATE UNIQUE INDEX IF NOT EXISTS users_email_lower ON app.users (lower(email) text_pattern_ops, (created_at::date) DESC NULLS LAST, (status) COLLATE \"C\" NULLS FIRST) INCLUDE (name, id) WHERE deleted_at IS NULL AND status = 'active';
CREATE INDEX docs_tags ON docs USING GIN (tags) WITH (fastupdate = off);
CREATE INDEX ON ONLY measurements USING brin (ts) TABLESPACE fast;
CREATE UNIQUE INDEX u_nnd ON t (a) NULLS NOT DISTINCT;";
    let stmts = parse_ddl(sql).expect("parses");
    assert_eq!(stmts.len(), 4);

    let a = index(&stmts[0]);
    assert!(a.unique && a.if_not_exists && !a.concurrently);
    assert_eq!(a.schema.as_deref(), Some("app"));
    assert_eq!(a.qualified_table(), "app.users");
    let e = expression(&a.keys[0]);
    assert_eq!(e.text, "lower(email)");
    assert_eq!(e.columns, vec!["email"]);
    assert_eq!(e.functions, vec!["lower"]);
    assert_eq!(a.keys[0].opclass.as_deref(), Some("text_pattern_ops"));
    let cast = expression(&a.keys[1]);
    assert_eq!(cast.text, "created_at::date");
    assert!(a.keys[1].descending);
    assert_eq!(a.keys[1].nulls_first, Some(false));
    // `(status)` is a plain column for PostgreSQL.
    assert_eq!(column(&a.keys[2]), "status");
    assert_eq!(a.keys[2].collation.as_deref(), Some("C"));
    assert_eq!(a.keys[2].nulls_first, Some(true));
    assert_eq!(a.include, vec!["name", "id"]);
    let p = a.predicate.as_ref().expect("partial");
    assert_eq!(p.text, "deleted_at IS NULL AND status = 'active'");
    assert_eq!(p.columns, vec!["deleted_at", "status"]);

    let b = index(&stmts[1]);
    assert_eq!(b.method, "gin");
    assert_eq!(b.storage_params, vec!["fastupdate=off"]);

    let c = index(&stmts[2]);
    assert_eq!(c.name, None);
    assert!(c.only);
    assert_eq!(c.method, "brin");
    assert_eq!(c.tablespace.as_deref(), Some("fast"));

    let d = index(&stmts[3]);
    assert!(d.unique && d.nulls_not_distinct);
}

#[test]
fn value_functions_and_subqueries_are_reported() {
    let sql = "CREATE INDEX a ON t (x) WHERE x > CURRENT_TIMESTAMP - interval '1 day' OR y < localtimestamp;
CREATE INDEX b ON t (x) WHERE x IN (SELECT id FROM u);
CREATE INDEX c ON t ((coalesce(a, random())), (pg_catalog.upper(b)))";
    let stmts = parse_ddl(sql).expect("parses");
    let a = index(&stmts[0]).predicate.clone().expect("partial");
    assert!(a.functions.contains(&"current_timestamp".to_string()));
    assert!(a.functions.contains(&"localtimestamp".to_string()));
    assert_eq!(a.columns, vec!["x", "y"]);
    let b = index(&stmts[1]).predicate.clone().expect("partial");
    assert!(b.has_subquery);
    let c = index(&stmts[2]);
    assert_eq!(expression(&c.keys[0]).functions, vec!["random"]);
    assert_eq!(expression(&c.keys[0]).columns, vec!["a"]);
    assert_eq!(expression(&c.keys[1]).functions, vec!["pg_catalog.upper"]);
    assert_eq!(expression(&c.keys[1]).text, "pg_catalog.upper(b)");
}

#[test]
fn other_statements_are_named() {
    let sql = "DROP INDEX CONCURRENTLY IF EXISTS public.idx_old, idx_older;
CREATE TABLE t (id int);
ALTER TABLE users ADD COLUMN x int;
CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1; $$;
CREATE MATERIALIZED VIEW mv AS SELECT 1;
VACUUM ANALYZE users;
SELECT 1;
REINDEX INDEX CONCURRENTLY idx;
ANALYZE users";
    let stmts = parse_ddl(sql).expect("parses");
    let commands: Vec<String> = stmts
        .iter()
        .map(|s| match &s.kind {
            DdlKind::Other { command, .. } => command.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        commands,
        vec![
            "DROP INDEX",
            "CREATE TABLE",
            "ALTER TABLE",
            "CREATE FUNCTION",
            "CREATE MATERIALIZED VIEW",
            "VACUUM",
            "SELECT",
            "REINDEX INDEX",
            "ANALYZE"
        ]
    );
    match &stmts[0].kind {
        DdlKind::Other { objects, .. } => {
            assert_eq!(
                objects,
                &vec!["public.idx_old".to_string(), "idx_older".to_string()]
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn syntax_error_in_the_middle_keeps_the_others() {
    let sql = "-- the draft\n\
CREATE INDEX a ON t (x);\n\
\n\
/* broken: */ CREATE INDX b ON t (y);\n\
CREATE INDEX c ON t (z) WHERE (z > 1;\n\
CREATE INDEX d ON t (w);\n";
    let stmts = parse_ddl(sql).expect("parses");
    assert_eq!(stmts.len(), 4);
    assert_eq!(index(&stmts[0]).name.as_deref(), Some("a"));
    assert_eq!(stmts[0].line, 2);
    match &stmts[1].kind {
        DdlKind::ParseError { message } => assert!(message.contains("INDX"), "{message}"),
        other => panic!("{other:?}"),
    }
    // The comment before the statement is not part of it; its line is the statement's.
    assert_eq!(stmts[1].text, "CREATE INDX b ON t (y)");
    assert_eq!(stmts[1].line, 4);
    assert!(matches!(stmts[2].kind, DdlKind::ParseError { .. }));
    assert_eq!(stmts[2].line, 5);
    assert_eq!(index(&stmts[3]).name.as_deref(), Some("d"));
    assert_eq!(stmts[3].line, 6);
}

#[test]
fn unterminated_quote_keeps_the_statements_before_it() {
    let sql = "CREATE INDEX a ON t (x);\nCREATE INDEX b ON t (y);\nCREATE INDEX c ON t (z) WHERE z = 'open;\nCREATE INDEX d ON t (w);";
    let stmts = parse_ddl(sql).expect("parses");
    assert_eq!(stmts.len(), 3);
    assert_eq!(index(&stmts[0]).name.as_deref(), Some("a"));
    assert_eq!(index(&stmts[1]).name.as_deref(), Some("b"));
    assert_eq!(stmts[2].line, 3);
    match &stmts[2].kind {
        DdlKind::ParseError { message } => {
            assert!(message.contains("unterminated"), "{message}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn semicolons_inside_literals_comments_and_atomic_bodies() {
    let sql = "CREATE INDEX a ON t (x) WHERE s <> ';'; -- trailing; comment\n\
CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT CASE WHEN true THEN 1 END; SELECT 2; END;\n\
/* ; */ CREATE INDEX b ON t (y)";
    let stmts = parse_ddl(sql).expect("parses");
    assert_eq!(stmts.len(), 3, "{stmts:#?}");
    assert_eq!(
        index(&stmts[0]).predicate.as_ref().map(|p| p.text.as_str()),
        Some("s <> ';'")
    );
    assert!(
        matches!(&stmts[1].kind, DdlKind::Other { command, .. } if command == "CREATE FUNCTION")
    );
    assert_eq!(index(&stmts[2]).name.as_deref(), Some("b"));
    assert_eq!(stmts[2].line, 3);
}

#[test]
fn empty_comment_only_and_nul_inputs() {
    assert!(parse_ddl("").expect("empty").is_empty());
    assert!(parse_ddl("  -- nothing\n/* here */\n;;\n")
        .expect("comments")
        .is_empty());
    assert_eq!(
        parse_ddl("CREATE INDEX a ON t (x)\0"),
        Err(SqlError::NulByte)
    );
}

#[test]
fn non_ascii_text_keeps_byte_offsets_straight() {
    let sql = "-- ünïcödé ✓\nCREATE INDEX \"índice\" ON \"tàble\" (\"cölumn\") WHERE note <> 'é;';\nCREATE INDEX b ON t (y);";
    let stmts = parse_ddl(sql).expect("parses");
    assert_eq!(stmts.len(), 2);
    let a = index(&stmts[0]);
    assert_eq!(a.name.as_deref(), Some("índice"));
    assert_eq!(a.table, "tàble");
    assert_eq!(column(&a.keys[0]), "cölumn");
    assert_eq!(stmts[0].line, 2);
    assert_eq!(stmts[1].line, 3);
}

#[test]
fn psql_meta_commands_are_skipped() {
    let sql = "\\set ON_ERROR_STOP on\n\\timing\nCREATE INDEX a ON t (x);\nCREATE INDEX b ON t (y)\n\\g\nCREATE INDEX c ON t (z) WHERE s = '\\x';";
    let stmts = parse_ddl(sql).expect("parses");
    let names: Vec<Option<&str>> = stmts.iter().map(|s| index(s).name.as_deref()).collect();
    assert_eq!(names, vec![Some("a"), Some("b"), Some("c")]);
    assert_eq!(stmts[0].line, 3);
    assert_eq!(stmts[1].text, "CREATE INDEX b ON t (y)");
    assert_eq!(
        index(&stmts[2]).predicate.as_ref().map(|p| p.text.as_str()),
        // The deparser writes backslashes as an escape string: the same value.
        Some("s = E'\\\\x'")
    );
}

proptest::proptest! {
    #[test]
    fn never_panics_and_statements_come_from_the_input(sql in "(CREATE|INDEX|ON|t|\\(|\\)|x|;|'|\"|--|/\\*|\\*/|\\$\\$|\\\\|\n| |é|WHERE|now\\(\\)|BEGIN|ATOMIC|END|CASE){0,40}") {
        if let Ok(stmts) = parse_ddl(&sql) {
            for s in stmts {
                proptest::prop_assert!(sql.contains(&s.text));
                proptest::prop_assert!(!s.text.is_empty());
                proptest::prop_assert!(s.line >= 1 && s.line <= sql.lines().count().max(1));
            }
        }
    }
}
