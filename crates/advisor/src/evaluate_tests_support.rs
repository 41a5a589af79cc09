//! The test fixtures of the draft evaluation: an ADX-like catalog, its workload,
//! the advisor's recommended set and a synthetic what-if cost model.

use pgpilot_sql::{LimitValue, PredicateKind, QueryShape};

use crate::evaluate::resolve;
use crate::{
    AdvisorQuery, Catalog, ColumnInfo, Config, ExistingIndex, IndexDef, IndexKey, KeyExpr,
    PlanEstimate, TableInfo, WhatIf, WhatIfError,
};

// ---------------------------------------------------------------- catalog

pub(super) fn col(name: &str, type_name: &str, n_distinct: f64) -> ColumnInfo {
    ColumnInfo {
        name: name.to_string(),
        type_name: type_name.to_string(),
        not_null: true,
        avg_width: Some(8.0),
        n_distinct: Some(n_distinct),
        null_frac: Some(0.0),
        sample_values: Vec::new(),
        correlation: None,
    }
}

pub(super) fn table(name: &str, rows: f64, columns: Vec<ColumnInfo>) -> TableInfo {
    TableInfo {
        schema: "public".to_string(),
        table: name.to_string(),
        rows,
        row_width: 120.0,
        heap_bytes: (rows * 120.0) as u64,
        writes_per_sec: 1.0,
        mod_since_analyze: 0.0,
        columns,
    }
}

pub(super) fn existing(name: &str, def: IndexDef, constraint: bool) -> ExistingIndex {
    ExistingIndex {
        name: name.to_string(),
        create_sql: def.create_sql(name, false, false),
        def,
        size_bytes: 1 << 20,
        valid: true,
        primary: constraint,
        constraint,
        scans: 10,
    }
}

pub(super) fn btree(table: &str, keys: Vec<IndexKey>) -> IndexDef {
    IndexDef::btree("public", table, keys)
}

/// Users, profiles, roles, audit_logs and sessions of the ADX Core brief, with
/// primary keys and a unique e-mail index.
pub(super) fn adx_catalog() -> Catalog {
    let mut profiles_user_id = col("user_id", "bigint", -1.0);
    profiles_user_id.sample_values = vec!["42".into(), "4242".into(), "424242".into()];
    Catalog {
        tables: vec![
            table(
                "users",
                1_000_000.0,
                vec![
                    col("id", "bigint", -1.0),
                    col("email", "text", -1.0),
                    col("name", "text", -0.5),
                    col("status", "text", 3.0),
                    col("role_id", "bigint", 5.0),
                    col("created_at", "timestamp with time zone", -0.9),
                    col("last_login", "timestamp with time zone", -0.8),
                ],
            ),
            table(
                "profiles",
                1_000_000.0,
                vec![
                    col("id", "bigint", -1.0),
                    profiles_user_id,
                    col("bio", "text", -0.7),
                    col("avatar_url", "text", -0.9),
                ],
            ),
            table(
                "roles",
                5.0,
                vec![col("id", "bigint", -1.0), col("role_name", "text", -1.0)],
            ),
            table(
                "audit_logs",
                20_000_000.0,
                vec![
                    col("id", "bigint", -1.0),
                    col("user_id", "bigint", 900_000.0),
                    col("action", "text", 20.0),
                    col("timestamp", "timestamp with time zone", -0.95),
                    col("details", "jsonb", -0.9),
                ],
            ),
            table(
                "sessions",
                500_000.0,
                vec![
                    col("id", "bigint", -1.0),
                    col("user_id", "bigint", 300_000.0),
                    col("token", "text", -1.0),
                    col("expires_at", "timestamp with time zone", -0.9),
                    col("created_at", "timestamp with time zone", -0.9),
                ],
            ),
        ],
        indexes: vec![
            existing(
                "users_pkey",
                btree("users", vec![IndexKey::column("id")]),
                true,
            ),
            existing(
                "users_email_key",
                IndexDef {
                    unique: true,
                    ..btree("users", vec![IndexKey::column("email")])
                },
                true,
            ),
            existing(
                "profiles_pkey",
                btree("profiles", vec![IndexKey::column("id")]),
                true,
            ),
            existing(
                "roles_pkey",
                btree("roles", vec![IndexKey::column("id")]),
                true,
            ),
            existing(
                "audit_logs_pkey",
                btree("audit_logs", vec![IndexKey::column("id")]),
                true,
            ),
            existing(
                "sessions_pkey",
                btree("sessions", vec![IndexKey::column("id")]),
                true,
            ),
            existing(
                "idx_old_sessions",
                btree("sessions", vec![IndexKey::column("created_at")]),
                false,
            ),
        ],
    }
}

// ---------------------------------------------------------------- workload

pub(super) const DASHBOARD: &str = "SELECT u.*, p.*, r.role_name FROM users u \
    LEFT JOIN profiles p ON u.id = p.user_id LEFT JOIN roles r ON u.role_id = r.id \
    WHERE u.created_at > NOW() - INTERVAL '30 days' ORDER BY u.last_login DESC LIMIT 50";
pub(super) const PROFILE: &str = "SELECT * FROM profiles WHERE user_id = $1";
pub(super) const AUDIT: &str = "SELECT date_trunc('day', \"timestamp\") AS day, action, count(*) \
    FROM audit_logs WHERE \"timestamp\" >= NOW() - INTERVAL '7 days' GROUP BY 1, 2 ORDER BY 1, 2";
pub(super) const SESSION: &str =
    "SELECT id, token, expires_at FROM sessions WHERE user_id = $1 AND expires_at > NOW()";
pub(super) const BY_STATUS: &str = "SELECT id FROM users WHERE status = $1";

pub(super) fn query(sql: &str, calls: f64, samples: Vec<Vec<Option<String>>>) -> AdvisorQuery {
    AdvisorQuery {
        id: format!("{:x}", sql.len()),
        sql: sql.to_string(),
        calls,
        mean_ms: None,
        samples,
        shape: QueryShape::parse(sql).expect("test query parses"),
    }
}

pub(super) fn workload() -> Vec<AdvisorQuery> {
    vec![
        query(DASHBOARD, 1_000.0, Vec::new()),
        query(PROFILE, 50_000.0, vec![vec![Some("17".into())]]),
        query(AUDIT, 100.0, Vec::new()),
        query(SESSION, 200_000.0, vec![vec![Some("9".into())]]),
        query(BY_STATUS, 10.0, vec![vec![Some("active".into())]]),
        // References a table the database does not have: cannot be planned.
        query(
            "SELECT * FROM users u JOIN ghosts g ON g.user_id = u.id",
            5.0,
            Vec::new(),
        ),
    ]
}

/// The advisor's recommended set for this workload.
pub(super) fn recommended() -> Vec<IndexDef> {
    vec![
        btree("users", vec![IndexKey::column_desc("last_login")]),
        btree("profiles", vec![IndexKey::column("user_id")]),
        btree("audit_logs", vec![IndexKey::column("timestamp")]),
        btree(
            "sessions",
            vec![IndexKey::column("user_id"), IndexKey::column("expires_at")],
        ),
    ]
}

// ---------------------------------------------------------------- synthetic what-if

/// A small cost model: per table, a sequential scan costs its rows; an index
/// whose leading keys match equality predicates (then one range predicate) costs
/// 4 per matching entry; an ORDER BY … LIMIT the index returns in order stops
/// after LIMIT matching rows, otherwise the filtered rows are sorted (0.5 each).
/// Joined tables are looked up 50 times through an index on the join column.
/// Partial indexes are usable only when the query text contains the predicate.
pub(super) struct Synthetic {
    catalog: Catalog,
    pub(super) validated: Vec<IndexDef>,
    pub(super) params_seen: Vec<(String, Vec<Option<String>>)>,
    plans: u64,
}

impl Synthetic {
    pub(super) fn new(catalog: &Catalog) -> Self {
        Self {
            catalog: catalog.clone(),
            validated: Vec::new(),
            params_seen: Vec::new(),
            plans: 0,
        }
    }

    fn eq_sel(t: &TableInfo, column: &str) -> f64 {
        let nd = t.column(column).and_then(|c| c.n_distinct).unwrap_or(10.0);
        let distinct = if nd < 0.0 { -nd * t.rows } else { nd };
        1.0 / distinct.max(1.0)
    }
}

/// (cost, sorts, chosen index: Err(existing name) / Ok(hypothetical position)).
type Path = (f64, bool, Option<Result<usize, String>>);

impl WhatIf for Synthetic {
    fn plan(
        &mut self,
        sql: &str,
        params: &[Option<String>],
        config: Config<'_>,
    ) -> Result<PlanEstimate, WhatIfError> {
        self.plans += 1;
        self.params_seen.push((sql.to_string(), params.to_vec()));
        // Like HypoPG: some access methods cannot be simulated, and an unknown
        // function is refused when the hypothetical index is created.
        for h in config.hypothetical {
            if h.method == "brin" {
                return Err(WhatIfError::InvalidIndex(
                    "hypopg: access method \"brin\" is not supported".to_string(),
                ));
            }
            if h.keys.iter().any(|k| expression_has(k, "unknown_check(")) {
                return Err(WhatIfError::InvalidIndex(
                    "function unknown_check(text) does not exist".to_string(),
                ));
            }
        }
        let shape = QueryShape::parse(sql).map_err(|e| WhatIfError::Query(e.to_string()))?;
        let top = &shape.blocks[0];
        let limit = match &top.limit {
            Some(LimitValue::Const(c)) => c.parse::<f64>().ok(),
            _ => None,
        };
        let relations = shape.relations();
        let mut total = 0.0;
        let mut est = PlanEstimate {
            total_cost: 0.0,
            used_hypothetical: Vec::new(),
            used_existing: Vec::new(),
            sorts: false,
        };
        for (pos, rel) in relations.iter().enumerate() {
            let t = resolve(&self.catalog, &rel.qualified_name()).map_err(|_| {
                WhatIfError::Query(format!("relation \"{}\" does not exist", rel.name))
            })?;
            let driving = pos == 0;
            let mine = |c: &pgpilot_sql::ColumnRef| match &c.table {
                Some(name) => name == &rel.qualified_name() || Some(name) == rel.alias.as_ref(),
                None => relations.len() == 1,
            } && t.column(&c.column).is_some();
            let mut eq: Vec<(String, f64)> = Vec::new();
            let mut range: Vec<(String, f64)> = Vec::new();
            for p in top.predicates.iter() {
                let Some(c) = p.target.column().filter(|c| mine(c)) else {
                    continue;
                };
                match p.kind {
                    PredicateKind::Eq => eq.push((c.column.clone(), Self::eq_sel(t, &c.column))),
                    PredicateKind::Range => range.push((c.column.clone(), 0.1)),
                    _ => {}
                }
            }
            if !driving {
                for j in &top.joins {
                    for c in [&j.left, &j.right] {
                        if mine(c) {
                            let sel = (50.0 * Self::eq_sel(t, &c.column)).min(1.0);
                            eq.push((c.column.clone(), sel));
                        }
                    }
                }
            }
            let order: Vec<(Option<String>, bool)> = if driving {
                top.order_by
                    .iter()
                    .map(|o| {
                        (
                            o.target
                                .column()
                                .filter(|c| mine(c))
                                .map(|c| c.column.clone()),
                            o.descending,
                        )
                    })
                    .collect()
            } else {
                Vec::new()
            };
            let filtered = t.rows * eq.iter().chain(&range).map(|(_, s)| s).product::<f64>();
            let sort_cost = if order.is_empty() {
                0.0
            } else {
                filtered * 0.5
            };
            let mut best: Path = (t.rows + sort_cost, !order.is_empty(), None);
            let text = sql.to_lowercase();
            let table_name = t.qualified_name();
            let existing = self
                .catalog
                .indexes_on(&table_name)
                .filter(|i| !config.hidden.contains(&i.name))
                .map(|i| (Err(i.name.clone()), &i.def));
            let hypothetical = config
                .hypothetical
                .iter()
                .enumerate()
                .filter(|(_, d)| d.qualified_table() == table_name)
                .map(|(i, d)| (Ok(i), d));
            for (id, def) in existing.chain(hypothetical) {
                if def
                    .predicate
                    .as_ref()
                    .is_some_and(|p| !text.contains(&p.to_lowercase()))
                {
                    continue;
                }
                let mut matched = 1.0;
                let mut prefix = 0;
                let mut any = false;
                for k in &def.keys {
                    let Some(c) = k.expr.column() else { break };
                    if let Some((_, s)) = eq.iter().find(|(e, _)| e == c) {
                        matched *= s;
                        prefix += 1;
                        any = true;
                    } else {
                        if let Some((_, s)) = range.iter().find(|(r, _)| r == c) {
                            matched *= s;
                            any = true;
                        }
                        break;
                    }
                }
                let serves_order = match (order.first(), def.keys.get(prefix)) {
                    (Some((Some(oc), _)), Some(k)) => {
                        order.len() == 1 && k.expr.column() == Some(oc)
                    }
                    _ => false,
                };
                if !any && !serves_order {
                    continue;
                }
                let scanned = t.rows * matched;
                let path: Path = match (serves_order, limit) {
                    (true, Some(l)) => {
                        let visited = scanned.min(l * scanned / filtered.max(1e-9));
                        (4.0 * visited + 5.0, false, Some(id))
                    }
                    (true, None) => (4.0 * scanned + 5.0, false, Some(id)),
                    (false, _) => (4.0 * scanned + 5.0 + sort_cost, !order.is_empty(), Some(id)),
                };
                if path.0 < best.0 {
                    best = path;
                }
            }
            total += best.0;
            est.sorts |= best.1;
            match best.2 {
                Some(Ok(i)) => est.used_hypothetical.push(i),
                Some(Err(name)) => est.used_existing.push(name),
                None => {}
            }
        }
        est.total_cost = total;
        Ok(est)
    }

    fn index_size(&mut self, index: &IndexDef) -> Result<u64, WhatIfError> {
        let rows = resolve(&self.catalog, &index.qualified_table())
            .map(|t| t.rows)
            .unwrap_or(0.0);
        Ok((rows * 24.0) as u64)
    }

    fn validate(&mut self, index: &IndexDef) -> Result<(), WhatIfError> {
        self.validated.push(index.clone());
        let texts = index
            .keys
            .iter()
            .filter_map(|k| match &k.expr {
                KeyExpr::Expression(e) => Some(e.as_str()),
                KeyExpr::Column(_) => None,
            })
            .chain(index.predicate.as_deref());
        for t in texts {
            if t.contains("now()") || t.contains("volatile_fn(") {
                return Err(WhatIfError::InvalidIndex(
                    "functions in index expression must be marked IMMUTABLE".to_string(),
                ));
            }
            if t.contains("unknown_check(") {
                // The validation backend could not tell (e.g. no privilege).
                return Err(WhatIfError::Query(
                    "permission denied to create a temporary table".to_string(),
                ));
            }
        }
        Ok(())
    }

    fn plans_made(&self) -> u64 {
        self.plans
    }
}

fn expression_has(key: &IndexKey, needle: &str) -> bool {
    matches!(&key.expr, KeyExpr::Expression(e) if e.contains(needle))
}
