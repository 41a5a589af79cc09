//! Hand-built inputs shared by the snapshot tests: an advice plan with two
//! recommendations (one verified), a drop, an ANALYZE and a skipped query; a
//! baseline and an after benchmark; the apply journal; findings.

use std::collections::BTreeMap;

use pgpilot_advisor::{
    AdvicePlan, AdviseSettings, ChangeAction, ChangeRecord, ChangeStatus, DatabaseIdentity,
    DropRecommendation, IndexDef, IndexKey, MeasuredQuery, PlanQuery, Recommendation, ServedQuery,
    SkippedQuery, TableSignature, TimingStats, Verification, VerifyStatus,
};
use pgpilot_bench_model::{BenchReport, QueryStats, RunConfig, SloTargets, Summary};
use pgpilot_findings::{Finding, Severity};

pub(crate) const DASHBOARD: &str = "SELECT u.*, p.*, r.role_name FROM users u \
     LEFT JOIN profiles p ON u.id = p.user_id LEFT JOIN roles r ON u.role_id = r.id \
     WHERE u.created_at > NOW() - INTERVAL '30 days' ORDER BY u.last_login DESC LIMIT $1";
pub(crate) const PROFILE: &str =
    "SELECT u.id, p.* FROM users u JOIN profiles p ON p.user_id = u.id WHERE u.email = $1";
pub(crate) const REPORT: &str = "SELECT date_trunc('day', timestamp) AS day, action, count(*) \
     FROM audit_logs WHERE timestamp > $1 GROUP BY 1, 2 ORDER BY 1";

fn recommendation(
    name: &str,
    index: IndexDef,
    served: Vec<ServedQuery>,
    size: u64,
    overhead: f64,
) -> Recommendation {
    let benefit = served
        .iter()
        .map(|q| q.calls * (q.cost_before - q.cost_after))
        .sum();
    Recommendation {
        ddl: index.create_sql(name, true, true),
        rollback_ddl: index.drop_sql(name),
        name: name.into(),
        table: index.qualified_table(),
        columns: index.key_labels(),
        kind: index.kind(),
        index,
        size_bytes: size,
        queries: served,
        benefit,
        write_overhead: overhead,
        reason: String::new(),
        alternatives: Vec::new(),
        verification: None,
    }
}

/// The plan: the dashboard index (verified), the profiles join key (not yet
/// verified), a redundant index to drop, users to analyze, one skipped query.
pub(crate) fn plan() -> AdvicePlan {
    let mut dashboard = recommendation(
        "users_last_login_created_at_idx",
        IndexDef::btree(
            "public",
            "users",
            vec![
                IndexKey::column_desc("last_login"),
                IndexKey::column("created_at"),
            ],
        ),
        vec![ServedQuery {
            query: DASHBOARD.into(),
            id: "q-dashboard".into(),
            calls: 1200.0,
            cost_before: 187_654.3,
            cost_after: 92.4,
        }],
        22 * 1024 * 1024,
        1843.0,
    );
    dashboard.reason = "Reads the 50 most recent logins in index order and stops: \
        no sort of the 30 days of sign-ups."
        .into();
    dashboard.alternatives = vec![
        "(created_at, last_login DESC): still sorts every row of the range (cost 41.2k)".into(),
        "(last_login DESC) alone: 3 % more cost, as created_at is checked in the heap".into(),
    ];
    dashboard.verification = Some(Verification {
        status: VerifyStatus::Verified,
        method: "rolled-back transaction on target".into(),
        real_size_bytes: 23 * 1024 * 1024,
        build_ms: 1830.0,
        queries: vec![MeasuredQuery {
            id: "q-dashboard".into(),
            query: DASHBOARD.into(),
            calls: 1200.0,
            before: TimingStats {
                median_ms: 2310.0,
                min_ms: 2250.0,
                max_ms: 2400.0,
                runs: 5,
            },
            after: TimingStats {
                median_ms: 0.85,
                min_ms: 0.8,
                max_ms: 0.95,
                runs: 5,
            },
            uses_index: true,
        }],
        gain: 0.9996,
        write_slowdown: Some(0.031),
        verified_at: "2024-05-01T11:40:00Z".into(),
        note: String::new(),
    });
    let mut profiles = recommendation(
        "profiles_user_id_idx",
        IndexDef::btree("public", "profiles", vec![IndexKey::column("user_id")]),
        vec![ServedQuery {
            query: PROFILE.into(),
            id: "q-profile".into(),
            calls: 9000.0,
            cost_before: 21_980.0,
            cost_after: 16.9,
        }],
        21 * 1024 * 1024,
        96.5,
    );
    profiles.reason = "The join key of every profile lookup: a hash join over the \
        whole table becomes one index probe per user."
        .into();
    AdvicePlan {
        version: 1,
        id: "3f9a1c2e7b".into(),
        created_at: "2024-05-01T11:32:05Z".into(),
        database: DatabaseIdentity {
            name: "adx".into(),
            system_identifier: "7364120000000000000".into(),
            server_version_num: 160_002,
        },
        tables: vec![TableSignature {
            table: "public.users".into(),
            columns: vec!["id bigint".into()],
        }],
        settings: AdviseSettings {
            budget_bytes: Some(1024 * 1024 * 1024),
            max_columns: 3,
            min_gain: 0.10,
            whatif: "hypopg".into(),
        },
        workload_cost_before: 425_432_100.0,
        workload_cost_after: 1_392_000.0,
        whatif_plans: 318,
        advise_seconds: 2.43,
        recommendations: vec![dashboard, profiles],
        drops: vec![DropRecommendation {
            name: "idx_users_created".into(),
            table: "public.users".into(),
            reason: "redundant".into(),
            detail: "its key (created_at) is a prefix of idx_users_created_login; 0 scans".into(),
            ddl: "DROP INDEX CONCURRENTLY IF EXISTS public.idx_users_created".into(),
            recreate_ddl: "CREATE INDEX CONCURRENTLY idx_users_created ON public.users USING btree (created_at)".into(),
            size_bytes: 22_487_040,
        }],
        analyze: vec!["public.users".into()],
        skipped: vec![SkippedQuery {
            query: "SELECT * FROM archived_sessions WHERE user_id = $1".into(),
            reason: "relation \"archived_sessions\" does not exist (SQLSTATE 42P01)".into(),
        }],
        queries: vec![
            PlanQuery {
                id: "q-dashboard".into(),
                sql: DASHBOARD.into(),
                calls: 1200.0,
                samples: vec![vec![Some("50".into())]],
            },
            PlanQuery {
                id: "q-profile".into(),
                sql: PROFILE.into(),
                calls: 9000.0,
                samples: vec![
                    vec![Some("alice@example.com".into())],
                    vec![Some("bob@example.com".into())],
                ],
            },
        ],
    }
}

fn query(name: &str, sql: &str, calls: u64, avg: f64, p95: f64, p99: f64) -> QueryStats {
    QueryStats {
        name: name.into(),
        sql: sql.into(),
        calls,
        total_ms: avg * calls as f64,
        avg_ms: avg,
        p50_ms: avg * 0.8,
        p95_ms: p95,
        p99_ms: p99,
        max_ms: p99 * 1.5,
        ..QueryStats::default()
    }
}

fn bench(summary: Summary, queries: Vec<QueryStats>) -> BenchReport {
    let slo = SloTargets::default().evaluate(&summary);
    BenchReport {
        config: RunConfig {
            workload: "adx-core.toml".into(),
            clients: 8,
            duration_s: Some(60.0),
            warmup_s: 10.0,
            slow_threshold_ms: 1000.0,
            target: "127.0.0.1:5432".into(),
            ..RunConfig::default()
        },
        summary,
        queries,
        slo,
        ..BenchReport::default()
    }
}

/// The slow baseline: 0 of 5 targets met.
pub(crate) fn baseline() -> BenchReport {
    let mut feed = query(
        "feed_user",
        "SELECT * FROM activity WHERE user_id = $1",
        6000,
        4.2,
        9.0,
        15.0,
    );
    feed.sequence = Some("activity_feed".into());
    bench(
        Summary {
            statements: 16_250,
            throughput_qps: 270.8,
            avg_ms: 245.0,
            p50_ms: 80.0,
            p95_ms: 1200.0,
            p99_ms: 3100.0,
            max_ms: 5200.0,
            slow_pct: 23.0,
            index_hit_ratio: Some(94.2),
            index_usage_ratio: Some(61.3),
            duration_s: 60.0,
            peak_connections: Some(45),
            max_connections: Some(100),
            ..Summary::default()
        },
        vec![
            query("dashboard", DASHBOARD, 1200, 2300.0, 2900.0, 3400.0),
            query("profile_by_email", PROFILE, 9000, 150.0, 210.0, 260.0),
            query("audit_report", REPORT, 50, 1900.0, 2500.0, 2800.0),
            feed,
        ],
    )
}

/// After the indexes: every target met, the reporting aggregation still slow.
pub(crate) fn after() -> BenchReport {
    let mut feed = query(
        "feed_user",
        "SELECT * FROM activity WHERE user_id = $1",
        6000,
        0.9,
        2.0,
        3.5,
    );
    feed.sequence = Some("activity_feed".into());
    bench(
        Summary {
            statements: 61_400,
            throughput_qps: 1023.3,
            avg_ms: 12.0,
            p50_ms: 0.9,
            p95_ms: 45.0,
            p99_ms: 870.0,
            max_ms: 1900.0,
            slow_pct: 0.4,
            index_hit_ratio: Some(99.3),
            index_usage_ratio: Some(98.7),
            duration_s: 60.0,
            peak_connections: Some(12),
            max_connections: Some(100),
            ..Summary::default()
        },
        vec![
            query("dashboard", DASHBOARD, 1200, 1.2, 2.1, 3.0),
            query("profile_by_email", PROFILE, 9000, 0.2, 0.4, 0.7),
            query("audit_report", REPORT, 50, 850.0, 1100.0, 1300.0),
            feed,
        ],
    )
}

fn change(id: i64, action: ChangeAction, ddl: &str, rollback: &str) -> ChangeRecord {
    ChangeRecord {
        id,
        applied_at: "2024-05-01T11:52:10Z".into(),
        applied_by: "dba".into(),
        action,
        ddl: ddl.into(),
        rollback_ddl: rollback.into(),
        plan_id: "3f9a1c2e7b".into(),
        status: ChangeStatus::Applied,
        detail: "1 try".into(),
        before_ms: None,
        after_ms: None,
        rolled_back_at: None,
    }
}

/// The journal of applying [`plan`]: both indexes, the ANALYZE and the drop.
pub(crate) fn changes() -> Vec<ChangeRecord> {
    let p = plan();
    let mut first = change(
        11,
        ChangeAction::CreateIndex,
        &p.recommendations[0].ddl,
        &p.recommendations[0].rollback_ddl,
    );
    first.before_ms = Some(2310.0);
    first.after_ms = Some(0.85);
    vec![
        first,
        change(
            12,
            ChangeAction::CreateIndex,
            &p.recommendations[1].ddl,
            &p.recommendations[1].rollback_ddl,
        ),
        change(13, ChangeAction::Analyze, "ANALYZE public.users", ""),
        change(
            14,
            ChangeAction::DropIndex,
            &p.drops[0].ddl,
            &p.drops[0].recreate_ddl,
        ),
    ]
}

fn finding(
    id: &str,
    severity: Severity,
    title: &str,
    table: Option<&str>,
    cols: &[&str],
    explanation: &str,
) -> Finding {
    let mut f = Finding::new(id, severity, title.into(), explanation.into());
    f.table = table.map(str::to_string);
    f.columns = cols.iter().map(|c| c.to_string()).collect();
    f.evidence = BTreeMap::new();
    f
}

/// Diagnosis: three problems the changes fix, two they do not.
pub(crate) fn findings() -> Vec<Finding> {
    let mut sort = finding(
        "plan.top_n_sort",
        Severity::Critical,
        "sort of 30012 rows to return 50",
        Some("public.users"),
        &["last_login DESC"],
        "The planner sorts every user who signed up in the last 30 days to keep the 50 \
         most recent logins.",
    );
    sort.impact_ms = Some(2100.0);
    vec![
        finding(
            "health.fk_without_index",
            Severity::Warning,
            "foreign key profiles(user_id) has no index",
            Some("public.profiles"),
            &["user_id"],
            "Joins on this key and cascading deletes from users scan the whole table.",
        ),
        sort,
        finding(
            "health.stale_statistics",
            Severity::Warning,
            "statistics of public.users are stale (41 % of rows changed)",
            Some("public.users"),
            &[],
            "The planner still believes the table has its size of the last ANALYZE and \
             misjudges row counts.",
        ),
        finding(
            "health.dead_tuples",
            Severity::Warning,
            "public.sessions is 38 % dead tuples",
            Some("public.sessions"),
            &[],
            "The cleanup job deletes faster than autovacuum reclaims: scans read dead rows.",
        ),
        finding(
            "lint.needless_distinct",
            Severity::Info,
            "DISTINCT over a primary key",
            None,
            &[],
            "The selected columns include a primary key, so every row is already distinct.",
        ),
    ]
}
