use super::*;
use crate::{Config, PlanEstimate};

#[path = "evaluate_tests_support.rs"]
mod support;

use support::*;

// ---------------------------------------------------------------- helpers

const SCENARIO: &str = "\
CREATE INDEX CONCURRENTLY idx_users_created_login ON users (created_at, last_login DESC);
CREATE INDEX CONCURRENTLY idx_profiles_user_id ON profiles (user_id);
CREATE INDEX CONCURRENTLY idx_audit_logs_timestamp ON audit_logs (timestamp DESC);
CREATE INDEX CONCURRENTLY idx_sessions_expires_user ON sessions (expires_at, user_id)
  WHERE expires_at > NOW();
";

fn run(draft: &str) -> (Vec<Evaluation>, Synthetic) {
    let catalog = adx_catalog();
    let mut whatif = Synthetic::new(&catalog);
    let out = evaluate_draft(
        draft,
        &workload(),
        &catalog,
        &mut whatif,
        &recommended(),
        &EvaluateOptions::default(),
    )
    .expect("evaluates");
    (out, whatif)
}

fn one(draft: &str) -> Evaluation {
    let (mut out, _) = run(draft);
    assert_eq!(out.len(), 1, "{out:#?}");
    out.remove(0)
}

// ---------------------------------------------------------------- tests

#[test]
fn scenario_draft_gets_the_truth_about_each_statement() {
    let (out, whatif) = run(SCENARIO);
    assert_eq!(out.len(), 4);
    assert_eq!(
        out.iter().map(|e| e.line).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );

    // (created_at, last_login DESC): a range filter that still sorts; the
    // recommended (last_login DESC) returns the 50 rows in order.
    let users = &out[0];
    assert_eq!(users.verdict, Verdict::Inferior, "{}", users.reason);
    assert_eq!(users.better.len(), 1);
    let b = &users.better[0];
    assert_eq!(b.query, DASHBOARD);
    assert!(
        b.ddl.contains("ON public.users (last_login DESC)"),
        "{}",
        b.ddl
    );
    assert!(b.ddl.starts_with("CREATE INDEX CONCURRENTLY IF NOT EXISTS"));
    assert!(b.cost_with_better <= b.cost_with_draft * 0.5);
    assert!(users.reason.contains("still sort"), "{}", users.reason);
    assert!(users.reason.contains("last_login DESC"), "{}", users.reason);
    assert!(users.queries.iter().any(|q| q.query == DASHBOARD));

    // profiles(user_id): serves the lookup and the dashboard's join.
    let profiles = &out[1];
    assert_eq!(profiles.verdict, Verdict::Useful, "{}", profiles.reason);
    let lookup = profiles
        .queries
        .iter()
        .find(|q| q.query == PROFILE)
        .expect("serves the profile lookup");
    assert_eq!(lookup.calls, 50_000.0);
    assert!(lookup.cost_after < lookup.cost_before / 100.0);
    assert!(profiles.queries.iter().any(|q| q.query == DASHBOARD));
    assert!(
        profiles.reason.contains("calls-weighted cost cut"),
        "{}",
        profiles.reason
    );
    assert!(profiles.better.is_empty());

    // audit_logs(timestamp DESC): serves the reporting range; the recommended
    // ascending twin costs the same, so not inferior.
    let audit = &out[2];
    assert_eq!(audit.verdict, Verdict::Useful, "{}", audit.reason);
    assert_eq!(audit.queries.len(), 1);
    assert_eq!(audit.queries[0].query, AUDIT);

    // The NOW() partial index: PostgreSQL refuses it, said without the server.
    let sessions = &out[3];
    assert_eq!(sessions.verdict, Verdict::Invalid);
    assert!(sessions.reason.contains("IMMUTABLE"), "{}", sessions.reason);
    assert!(sessions.reason.contains("NOW()"), "{}", sessions.reason);
    assert!(sessions.reason.contains("stale"), "{}", sessions.reason);
    assert!(sessions.statement.contains("WHERE expires_at > NOW()"));
    assert!(
        !whatif.validated.iter().any(|d| d.table == "sessions"),
        "the pure check must answer before the server is asked"
    );
    // The three others were checked by the server.
    assert_eq!(whatif.validated.len(), 3);
}

#[test]
fn json_shape_of_an_evaluation() {
    let e = one("CREATE INDEX ON profiles (user_id)");
    let v = serde_json::to_value(&e).expect("serializes");
    assert_eq!(v["verdict"], "useful");
    for key in ["statement", "line", "reason", "queries", "better"] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    let back: Evaluation = serde_json::from_value(v).expect("round trip");
    assert_eq!(back, e);
}

#[test]
fn unused_when_the_planner_keeps_its_plan() {
    // status has 3 values: an index on it costs more than the sequential scan.
    let e = one("CREATE INDEX idx_users_status ON users (status);");
    assert_eq!(e.verdict, Verdict::Unused, "{}", e.reason);
    assert!(e.reason.contains("status"), "{}", e.reason);
    assert!(
        e.reason.contains("prefers the current plan"),
        "{}",
        e.reason
    );
    assert_eq!(e.queries.len(), 1);
    assert_eq!(e.queries[0].query, BY_STATUS);
    assert_eq!(e.queries[0].cost_before, e.queries[0].cost_after);
    // The query on a missing table was skipped and said so.
    assert!(e.reason.contains("could not be planned"), "{}", e.reason);
}

#[test]
fn unused_when_nothing_targets_it_or_the_table_is_unread() {
    let e = one("CREATE INDEX ON users (name)");
    assert_eq!(e.verdict, Verdict::Unused, "{}", e.reason);
    assert!(
        e.reason.contains("no workload query filters"),
        "{}",
        e.reason
    );
    assert!(e.queries.is_empty());

    let mut catalog = adx_catalog();
    catalog
        .tables
        .push(table("archive", 10.0, vec![col("id", "bigint", -1.0)]));
    let mut whatif = Synthetic::new(&catalog);
    let out = evaluate_draft(
        "CREATE INDEX ON archive (id)",
        &workload(),
        &catalog,
        &mut whatif,
        &[],
        &EvaluateOptions::default(),
    )
    .expect("evaluates");
    assert_eq!(out[0].verdict, Verdict::Unused);
    assert!(out[0]
        .reason
        .contains("no workload query reads public.archive"));
}

#[test]
fn duplicate_of_an_existing_index_is_unused() {
    let e = one("CREATE INDEX CONCURRENTLY users_id_idx ON users (id)");
    assert_eq!(e.verdict, Verdict::Unused);
    assert!(
        e.reason
            .contains("already served by existing index users_pkey"),
        "{}",
        e.reason
    );
    // A UNIQUE draft is a constraint the plain existing index does not enforce.
    let e = one("CREATE UNIQUE INDEX sessions_created_uq ON sessions (created_at)");
    assert!(!e.reason.contains("already served"), "{}", e.reason);
    assert!(
        e.reason.contains("no workload query filters"),
        "{}",
        e.reason
    );
}

#[test]
fn drop_and_other_statements_are_not_indexes() {
    let (out, _) = run(
        "DROP INDEX CONCURRENTLY idx_old_sessions;\nDROP INDEX users_pkey;\nALTER TABLE users ADD COLUMN x int;",
    );
    assert!(out.iter().all(|e| e.verdict == Verdict::NotAnIndex));
    assert!(
        out[0]
            .reason
            .starts_with("DROP INDEX is not a CREATE INDEX"),
        "{}",
        out[0].reason
    );
    assert!(
        out[0].reason.contains("re-create with"),
        "{}",
        out[0].reason
    );
    assert!(
        out[1].reason.contains("backs a constraint"),
        "{}",
        out[1].reason
    );
    assert!(
        out[2].reason.starts_with("ALTER TABLE"),
        "{}",
        out[2].reason
    );
}

#[test]
fn parse_error_in_the_middle_keeps_the_others() {
    let (out, _) = run(
        "CREATE INDEX ON profiles (user_id);\nCREATE INDX oops ON users (email);\nCREATE INDEX ON users (name);",
    );
    assert_eq!(out.len(), 3);
    assert_eq!(out[0].verdict, Verdict::Useful);
    assert_eq!(out[1].verdict, Verdict::Invalid);
    assert!(out[1].reason.contains("syntax error"), "{}", out[1].reason);
    assert_eq!(out[1].line, 2);
    assert_eq!(out[2].verdict, Verdict::Unused);
}

#[test]
fn unknown_table_and_column_are_invalid() {
    let (out, whatif) = run(
        "CREATE INDEX ON nosuch (x);\nCREATE INDEX ON users (no_col);\nCREATE INDEX ON users (lower(mail));\nCREATE INDEX ON users (email) INCLUDE (nope);",
    );
    assert!(
        out.iter().all(|e| e.verdict == Verdict::Invalid),
        "{out:#?}"
    );
    assert!(
        out[0].reason.contains("table nosuch does not exist"),
        "{}",
        out[0].reason
    );
    assert!(
        out[1].reason.contains("column \"no_col\" does not exist"),
        "{}",
        out[1].reason
    );
    assert!(
        out[2].reason.contains("column \"mail\""),
        "{}",
        out[2].reason
    );
    assert!(
        out[3].reason.contains("column \"nope\""),
        "{}",
        out[3].reason
    );
    assert!(whatif.validated.is_empty());
}

#[test]
fn server_rejection_is_the_authority() {
    let e = one("CREATE INDEX ON users (volatile_fn(email))");
    assert_eq!(e.verdict, Verdict::Invalid);
    assert!(
        e.reason
            .starts_with("PostgreSQL rejects it: functions in index expression"),
        "{}",
        e.reason
    );
}

#[test]
fn known_rejections_without_the_server() {
    let cases = [
        (
            "CREATE INDEX ON users (created_at) WHERE created_at > CURRENT_DATE",
            "CURRENT_DATE",
        ),
        ("CREATE INDEX ON users ((random() * id))", "RANDOM()"),
        (
            "CREATE INDEX ON users (id) WHERE id IN (SELECT user_id FROM profiles)",
            "subquery",
        ),
        ("CREATE INDEX ON users USING gin (email DESC)", "ASC/DESC"),
        (
            "CREATE UNIQUE INDEX ON users USING hash (email)",
            "unique indexes",
        ),
        (
            "CREATE INDEX ON users USING hash (email, name)",
            "multicolumn",
        ),
        (
            "CREATE INDEX ON users USING gin (email) INCLUDE (name)",
            "included columns",
        ),
        (
            "CREATE UNIQUE INDEX ON users (status)",
            "could not create unique index",
        ),
        (
            "CREATE INDEX users_pkey ON users (email)",
            "relation \"users_pkey\" already exists",
        ),
        (
            "CREATE INDEX profiles ON users (email)",
            "already exists (table public.profiles)",
        ),
    ];
    for (sql, needle) in cases {
        let e = one(sql);
        assert_eq!(e.verdict, Verdict::Invalid, "{sql}: {}", e.reason);
        assert!(e.reason.contains(needle), "{sql}: {}", e.reason);
    }
}

#[test]
fn name_reuse_within_the_file_and_if_not_exists() {
    let (out, _) = run(
        "CREATE INDEX p_uid ON profiles (user_id);\nCREATE INDEX p_uid ON profiles (bio);\n\
         CREATE INDEX IF NOT EXISTS users_email_key ON users (name);\n\
         DROP INDEX idx_old_sessions;\nCREATE INDEX idx_old_sessions ON sessions (user_id);",
    );
    assert_eq!(out[0].verdict, Verdict::Useful);
    assert_eq!(out[1].verdict, Verdict::Invalid);
    assert!(out[1].reason.contains("line 1"), "{}", out[1].reason);
    assert_eq!(out[2].verdict, Verdict::Unused);
    assert!(out[2].reason.contains("IF NOT EXISTS"), "{}", out[2].reason);
    // Re-created after its DROP: no clash.
    assert_ne!(out[4].verdict, Verdict::Invalid, "{}", out[4].reason);
}

#[test]
fn inferior_needs_the_margin() {
    let catalog = adx_catalog();
    let draft = "CREATE INDEX ON users (created_at, last_login DESC)";
    let judge = |margin: f64| {
        let mut whatif = Synthetic::new(&catalog);
        let options = EvaluateOptions {
            inferior_margin: margin,
            ..EvaluateOptions::default()
        };
        evaluate_draft(
            draft,
            &workload(),
            &catalog,
            &mut whatif,
            &recommended(),
            &options,
        )
        .expect("evaluates")
        .remove(0)
    };
    assert_eq!(judge(0.5).verdict, Verdict::Inferior);
    // Nothing is 100 % cheaper: with that margin the draft is judged on its own.
    assert_eq!(judge(1.0).verdict, Verdict::Useful);
    // Without recommendations the draft is useful for the dashboard.
    let mut whatif = Synthetic::new(&catalog);
    let e = evaluate_draft(
        draft,
        &workload(),
        &catalog,
        &mut whatif,
        &[],
        &EvaluateOptions::default(),
    )
    .expect("evaluates")
    .remove(0);
    assert_eq!(e.verdict, Verdict::Useful, "{}", e.reason);
    assert!(
        e.reason
            .contains("1 of the 2 planned queries on public.users"),
        "{}",
        e.reason
    );
}

#[test]
fn placeholders_without_samples_get_values_from_statistics() {
    let catalog = adx_catalog();
    let mut whatif = Synthetic::new(&catalog);
    let queries = vec![
        query(PROFILE, 10.0, Vec::new()),
        query(
            "SELECT * FROM sessions WHERE user_id = $1 LIMIT $2",
            10.0,
            Vec::new(),
        ),
    ];
    let out = evaluate_draft(
        "CREATE INDEX ON profiles (user_id); CREATE INDEX ON sessions (user_id)",
        &queries,
        &catalog,
        &mut whatif,
        &[],
        &EvaluateOptions::default(),
    )
    .expect("evaluates");
    assert_eq!(out[0].verdict, Verdict::Useful);
    let profile_params: Vec<&Vec<Option<String>>> = whatif
        .params_seen
        .iter()
        .filter(|(sql, _)| sql == PROFILE)
        .map(|(_, p)| p)
        .collect();
    assert!(!profile_params.is_empty());
    for p in &profile_params {
        let v = p[0]
            .as_deref()
            .expect("never NULL when statistics have values");
        assert!(["42", "4242", "424242"].contains(&v), "{v}");
    }
    // Two distinct sample values are used for the two parameter sets.
    assert!(profile_params
        .iter()
        .any(|p| p[0].as_deref() != profile_params[0][0].as_deref()));
    let session_params = whatif
        .params_seen
        .iter()
        .find(|(sql, _)| sql.contains("sessions"))
        .map(|(_, p)| p.clone())
        .expect("planned");
    // The LIMIT placeholder always gets a value; a NULL for the unknown user_id
    // is said in the reason.
    assert_eq!(session_params.len(), 2);
    assert!(session_params[1].is_some());
    assert_eq!(
        session_params[0].is_none(),
        out[1].reason.contains("planned with NULL"),
        "{session_params:?}: {}",
        out[1].reason
    );
}

#[test]
fn empty_draft_is_an_error() {
    let catalog = adx_catalog();
    let mut whatif = Synthetic::new(&catalog);
    let err = evaluate_draft(
        "-- nothing yet\n",
        &workload(),
        &catalog,
        &mut whatif,
        &[],
        &EvaluateOptions::default(),
    )
    .expect_err("empty");
    assert!(matches!(err, AdviseError::Draft(_)));
}

#[test]
fn fatal_backend_errors_stop_the_evaluation() {
    struct Dead;
    impl WhatIf for Dead {
        fn plan(
            &mut self,
            _: &str,
            _: &[Option<String>],
            _: Config<'_>,
        ) -> Result<PlanEstimate, WhatIfError> {
            Err(WhatIfError::Fatal("connection lost".into()))
        }
        fn index_size(&mut self, _: &IndexDef) -> Result<u64, WhatIfError> {
            Err(WhatIfError::Fatal("connection lost".into()))
        }
        fn validate(&mut self, _: &IndexDef) -> Result<(), WhatIfError> {
            Ok(())
        }
        fn plans_made(&self) -> u64 {
            0
        }
    }
    let err = evaluate_draft(
        "CREATE INDEX ON profiles (user_id)",
        &workload(),
        &adx_catalog(),
        &mut Dead,
        &[],
        &EvaluateOptions::default(),
    )
    .expect_err("fatal");
    assert!(matches!(err, AdviseError::WhatIf(m) if m.contains("connection lost")));
}

#[test]
fn plans_are_reused_across_statements() {
    let catalog = adx_catalog();
    let mut whatif = Synthetic::new(&catalog);
    let draft = "CREATE INDEX a ON profiles (user_id); CREATE INDEX b ON profiles (user_id, bio)";
    evaluate_draft(
        draft,
        &workload(),
        &catalog,
        &mut whatif,
        &[],
        &EvaluateOptions::default(),
    )
    .expect("evaluates");
    // Two queries read profiles (lookup with one sample set, dashboard with none):
    // before-plans once each (2), after-plans per statement (2 × 2).
    assert_eq!(whatif.plans_made(), 6);
}

#[test]
fn strip_qualifiers_keeps_literals_and_numbers() {
    assert_eq!(text::strip_qualifiers("lower(u.email)"), "lower(email)");
    assert_eq!(text::strip_qualifiers("round(t.x, 1.5)"), "round(x, 1.5)");
    assert_eq!(text::strip_qualifiers("a.b = 'x.y'"), "b = 'x.y'");
}

#[test]
fn operator_classes_are_not_duplicates_and_are_caveated() {
    let e = one("CREATE INDEX ON users (email text_pattern_ops)");
    assert!(!e.reason.contains("already served"), "{}", e.reason);
    assert!(
        e.reason.contains("without operator class text_pattern_ops"),
        "{}",
        e.reason
    );
}

#[test]
fn a_backend_limitation_is_not_a_postgresql_rejection() {
    // The server accepts it, the what-if planner cannot simulate it.
    let e = one("CREATE INDEX ON audit_logs USING brin (\"timestamp\")");
    assert_eq!(e.verdict, Verdict::Unused, "{}", e.reason);
    assert!(e.reason.starts_with("not evaluated"), "{}", e.reason);
    assert!(e.reason.contains("brin"), "{}", e.reason);
    // The server could not check it and the planner refuses it: that refusal is
    // the best word on it.
    let e = one("CREATE INDEX ON users (unknown_check(email))");
    assert_eq!(e.verdict, Verdict::Invalid, "{}", e.reason);
    assert!(
        e.reason
            .starts_with("PostgreSQL rejects it: function unknown_check(text) does not exist"),
        "{}",
        e.reason
    );
    assert!(e.reason.contains("could not check it"), "{}", e.reason);
}
