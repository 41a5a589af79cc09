//! The database side of index advice: [`pgpilot_advisor::WhatIf`] planners.
//!
//! * [`HypoWhatIf`] plans under **hypothetical** indexes with HypoPG: nothing is
//!   built, nothing is locked, nothing is written (the default).
//! * [`RealTxWhatIf`] (`--whatif real-tx`) builds **real** indexes inside one
//!   transaction that is always rolled back, for servers without HypoPG. It takes
//!   a `SHARE` lock on each table it indexes, which blocks writes to that table
//!   while the index exists (see its documentation).
//!
//! Both plan every query with `EXPLAIN (FORMAT JSON)` (never executed), its `$n`
//! placeholders bound to the sampled values sent as *text* parameters through the
//! extended protocol: the server infers each parameter's type as for the
//! application and plans the unnamed statement with the real values (a custom
//! plan) — never NULLs or a generic plan, which hide selectivity and can never
//! match a partial index. A parameter whose type the server cannot infer (42P18)
//! is declared `text`, and parameters that normalization made of numeric
//! literals are declared the literal's type (`int4`, `int8`, `numeric`) when they
//! leave an operator or function ambiguous (`$1 + $2`), and the plan retried (see
//! [`ParamTypes`]); what was learned is remembered per statement and applied to
//! each sample's values.
//!
//! **Sync API over an async driver.** The advisor is pure and its trait is
//! synchronous; each planner owns a current-thread Tokio runtime and its own
//! connection and `block_on`s every call. They must therefore **not be used from
//! inside an async context** (a Tokio worker thread): create and use them inside
//! `tokio::task::spawn_blocking` or on a plain thread. Dropping one anywhere is
//! safe: the connection is closed, and the server then forgets the hypothetical
//! indexes and rolls back any open transaction.

mod hypopg;
mod partitions;
mod real_tx;
mod validate;

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use pgpilot_advisor::WhatIfError;
use tokio::runtime::Runtime;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::Client;

use crate::explain::{LiteralTypes, ParamTypes, RawText, TextParam};
use crate::{ConnSpec, DbError};

pub(crate) use hypopg::HypoSession;
pub use hypopg::{hypopg_status, HypoStatus, HypoWhatIf};
use partitions::Partitions;
pub use real_tx::RealTxWhatIf;

/// How a what-if planner runs.
#[derive(Debug, Clone, PartialEq)]
pub struct WhatIfOptions {
    /// `statement_timeout` for each EXPLAIN (default 30 s).
    pub statement_timeout: Duration,
    /// `lock_timeout` for everything that takes a lock: real index builds
    /// ([`RealTxWhatIf`]) and hiding by drop (default 2 s, so that pgpilot gives
    /// up rather than queue the application's sessions behind it).
    pub lock_timeout: Duration,
    /// `statement_timeout` for each real index build of [`RealTxWhatIf`]
    /// (default 5 min).
    pub build_timeout: Duration,
    /// [`HypoWhatIf`]: run `CREATE EXTENSION hypopg` when the extension is
    /// installed on the server but not created in the database. Creating an
    /// extension changes the user's database, so it is off by default.
    pub create_extension: bool,
    /// Allow hiding existing indexes ([`pgpilot_advisor::Config::hidden`]) by
    /// dropping them inside a transaction (or savepoint) that is rolled back right
    /// after the EXPLAIN, when HypoPG cannot hide them (`hypopg_hide_index` needs
    /// HypoPG 1.4) or with [`RealTxWhatIf`]. `DROP INDEX` takes an `ACCESS
    /// EXCLUSIVE` lock on the table for the planning time (waiting at most
    /// [`lock_timeout`](Self::lock_timeout)) and needs the table's ownership, so it
    /// is off by default.
    pub hide_by_drop: bool,
}

impl Default for WhatIfOptions {
    fn default() -> Self {
        WhatIfOptions {
            statement_timeout: Duration::from_secs(30),
            lock_timeout: Duration::from_secs(2),
            build_timeout: Duration::from_secs(300),
            create_extension: false,
            hide_by_drop: false,
        }
    }
}

/// Why a what-if planner could not be started.
#[derive(Debug, thiserror::Error)]
pub enum WhatIfConnectError {
    /// HypoPG is not installed on the server at all.
    #[error("HypoPG is not installed on this PostgreSQL {server_major} server: install the package postgresql-{server_major}-hypopg (apt install postgresql-{server_major}-hypopg), then CREATE EXTENSION hypopg; or plan with real indexes in a rolled-back transaction with --whatif real-tx (it locks each indexed table against writes while it plans)")]
    HypoPgNotInstalled {
        /// Major version of the server (`15`), which names the package.
        server_major: u32,
    },
    /// HypoPG is installed on the server but not created in this database.
    #[error("HypoPG is installed on the server but not created in database {database:?}: run CREATE EXTENSION hypopg in it (or let pgpilot create it with --create-extension), or use --whatif real-tx")]
    HypoPgNotCreated {
        /// The database.
        database: String,
    },
    /// `CREATE EXTENSION hypopg` was asked for and failed.
    #[error("cannot create extension hypopg in database {database:?}: {message} (a superuser must run CREATE EXTENSION hypopg in it)")]
    CreateExtension {
        /// The database.
        database: String,
        /// The server's message.
        message: String,
    },
    /// The server is a read-only standby: real indexes cannot be built there.
    #[error("--whatif real-tx needs a writable primary server: {0} is a read-only standby (use HypoPG there)")]
    ReadOnlyServer(String),
    /// The private runtime could not be started.
    #[error("cannot start the what-if runtime: {0}")]
    Runtime(String),
    /// Connecting or a setup statement failed.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// A current-thread runtime that drives one connection. Dropping it never
/// blocks (safe even inside an async context).
pub(crate) struct Driver {
    rt: Option<Runtime>,
}

impl Driver {
    pub(crate) fn new() -> Result<Self, WhatIfConnectError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| WhatIfConnectError::Runtime(e.to_string()))?;
        Ok(Driver { rt: Some(rt) })
    }

    /// Runs `f` to completion on the private runtime.
    pub(crate) fn block_on<T>(
        &self,
        f: impl Future<Output = Result<T, WhatIfError>>,
    ) -> Result<T, WhatIfError> {
        match &self.rt {
            Some(rt) => rt.block_on(f),
            None => Err(WhatIfError::Fatal("the what-if session is closed".into())),
        }
    }

    /// Like [`block_on`](Self::block_on) for setup code returning other errors.
    pub(crate) fn run<T, E: From<WhatIfConnectError>>(
        &self,
        f: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        match &self.rt {
            Some(rt) => rt.block_on(f),
            None => Err(WhatIfConnectError::Runtime("the runtime is gone".into()).into()),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            // Never blocks: the connection task is dropped, the socket closes, and
            // the server rolls back and forgets the session's hypothetical indexes.
            rt.shutdown_background();
        }
    }
}

/// Connects on the driver's runtime, naming the session in `pg_stat_activity`.
pub(crate) fn connect(driver: &Driver, spec: &ConnSpec) -> Result<Client, WhatIfConnectError> {
    let spec = spec.with_application_name("pgpilot what-if");
    driver.run(async { spec.connect().await.map_err(WhatIfConnectError::from) })
}

/// One line of a server message.
pub(crate) fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `Duration` as a PostgreSQL setting value.
pub(crate) fn millis(d: Duration) -> String {
    format!("{}ms", d.as_millis().max(1))
}

/// An always-quoted identifier: exact names from the catalog or an [`IndexDef`]
/// (`pgpilot_advisor::IndexDef` stores them unquoted).
pub(crate) fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// What a failed statement means for the backend.
pub(crate) enum Failure {
    /// The server refused this statement; the connection is fine.
    Server {
        /// SQLSTATE.
        code: String,
        /// One line.
        message: String,
    },
    /// The connection (or the transaction pgpilot keeps) is unusable.
    Fatal(String),
}

impl Failure {
    pub(crate) fn of(context: &str, e: tokio_postgres::Error) -> Failure {
        if let Some(db) = e.as_db_error() {
            let code = db.code().code().to_string();
            let message = one_line(db.message());
            // 25P02: our own transaction is aborted; 57P: shutdown; 08 (but a
            // protocol complaint about one message): the connection; FATAL/PANIC
            // end the session.
            let fatal_code = code == "25P02"
                || code.starts_with("57P")
                || (code.starts_with("08") && code != "08P01");
            if fatal_code || matches!(db.severity(), "FATAL" | "PANIC") {
                return Failure::Fatal(format!("{context}: {message} (SQLSTATE {code})"));
            }
            return Failure::Server { code, message };
        }
        let err = DbError::query(context, e);
        if err.is_connection_lost() {
            return Failure::Fatal(one_line(&err.to_string()));
        }
        Failure::Server {
            code: String::new(),
            message: one_line(&err.to_string()),
        }
    }

    /// A failure of the planned query: per-query unless the backend is gone.
    pub(crate) fn into_query_error(self, timeout: Duration) -> WhatIfError {
        match self {
            Failure::Fatal(m) => WhatIfError::Fatal(m),
            Failure::Server { code, message } if code == "57014" => WhatIfError::Query(format!(
                "{message} (planning took longer than statement_timeout {} s)",
                timeout.as_secs_f64()
            )),
            Failure::Server { message, .. } => WhatIfError::Query(message),
        }
    }

    /// A failure of an index statement: the index is rejected.
    pub(crate) fn into_index_error(self) -> WhatIfError {
        match self {
            Failure::Fatal(m) => WhatIfError::Fatal(m),
            Failure::Server { message, .. } => WhatIfError::InvalidIndex(message),
        }
    }

    /// A failure of pgpilot's own bookkeeping statement: advice stops.
    pub(crate) fn into_fatal(self, context: &str) -> WhatIfError {
        match self {
            Failure::Fatal(m) => WhatIfError::Fatal(m),
            Failure::Server { message, .. } => WhatIfError::Fatal(format!("{context}: {message}")),
        }
    }
}

/// Runs `EXPLAIN (FORMAT JSON) sql` with `params` bound as text values of
/// unspecified type (the server infers them) unless `types` declares them, in one
/// round trip on the unnamed statement, and returns the JSON.
pub(crate) async fn explain_json(
    client: &Client,
    sql: &str,
    params: &[Option<String>],
    types: &ParamTypes,
) -> Result<String, tokio_postgres::Error> {
    let text = explain_text(sql);
    let values: Vec<TextParam<'_>> = params.iter().map(|p| TextParam(p.as_deref())).collect();
    // `unknown` lets the server resolve each parameter's type as if unspecified.
    let typed: Vec<(&(dyn ToSql + Sync), Type)> = values
        .iter()
        .enumerate()
        .map(|(i, v)| (v as &(dyn ToSql + Sync), types.get(i)))
        .collect();
    let rows = client.query_typed(&text, &typed).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        out.push(r.try_get::<_, RawText>(0)?.0);
    }
    Ok(out.join("\n"))
}

/// The statement [`explain_json`] sends.
fn explain_text(sql: &str) -> String {
    format!("EXPLAIN (FORMAT JSON) {sql}")
}

/// After [`explain_json`] of `sql` with `params` failed with `e`: whether
/// `types` learned a declaration from it (then plan again; see [`ParamTypes`]).
pub(crate) fn learn_types(
    types: &mut ParamTypes,
    e: &tokio_postgres::Error,
    sql: &str,
    params: &[Option<String>],
) -> bool {
    types.learn_from(
        e,
        &explain_text(sql),
        &LiteralTypes::of(params),
        params.len(),
    )
}

/// Parameter types learned per statement: only statements that needed a
/// declaration (most need none) are remembered, so each is retried once per planner.
#[derive(Debug, Default)]
pub(crate) struct LearnedTypes(HashMap<String, ParamTypes>);

impl LearnedTypes {
    /// The types to start planning `sql` with `params` with: what was learned
    /// for it, declarations from literal syntax typed by these values.
    pub(crate) fn get(&self, sql: &str, params: &[Option<String>]) -> ParamTypes {
        self.0
            .get(sql)
            .map(|t| t.for_sample(&LiteralTypes::of(params)))
            .unwrap_or_default()
    }

    /// Remembers what planning `sql` needed.
    pub(crate) fn remember(&mut self, sql: &str, types: ParamTypes) {
        if types.any_declared() && self.0.get(sql) != Some(&types) {
            self.0.insert(sql.to_owned(), types);
        }
    }
}

/// What the advisor needs from one plan.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PlanSummary {
    /// Total cost of the top node.
    pub(crate) total_cost: f64,
    /// Every `Index Name` in the plan, deduplicated, in plan order.
    pub(crate) index_names: Vec<String>,
    /// A `Sort` or `Incremental Sort` node.
    pub(crate) sorts: bool,
}

/// Reads EXPLAIN's JSON (`[{"Plan": {…}}]`).
pub(crate) fn summarize(json: &str) -> Result<PlanSummary, String> {
    let v: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("unreadable EXPLAIN output: {e}"))?;
    let plan = v
        .get(0)
        .and_then(|e| e.get("Plan"))
        .ok_or_else(|| "EXPLAIN output without a plan".to_string())?;
    let total_cost = plan
        .get("Total Cost")
        .and_then(serde_json::Value::as_f64)
        .ok_or_else(|| "EXPLAIN output without a total cost".to_string())?;
    let mut out = PlanSummary {
        total_cost,
        index_names: Vec::new(),
        sorts: false,
    };
    let mut stack = vec![plan];
    while let Some(node) = stack.pop() {
        if let Some(name) = node.get("Index Name").and_then(serde_json::Value::as_str) {
            if !out.index_names.iter().any(|n| n == name) {
                out.index_names.push(name.to_string());
            }
        }
        if matches!(
            node.get("Node Type").and_then(serde_json::Value::as_str),
            Some("Sort" | "Incremental Sort")
        ) {
            out.sorts = true;
        }
        if let Some(children) = node.get("Plans").and_then(serde_json::Value::as_array) {
            stack.extend(children.iter().rev());
        }
    }
    Ok(out)
}

/// An existing index to hide.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct NamedIndex {
    /// Its oid.
    pub(crate) oid: u32,
    /// `schema.name`, quoted, for `DROP INDEX`.
    pub(crate) qualified: String,
}

/// Resolves [`pgpilot_advisor::Config::hidden`] names (`name` or `schema.name`)
/// to index oids, with a cache (a bare name can match in several schemas: all are
/// hidden).
#[derive(Debug, Default)]
pub(crate) struct IndexNames {
    cache: HashMap<String, Vec<NamedIndex>>,
}

impl IndexNames {
    pub(crate) async fn resolve(
        &mut self,
        client: &Client,
        names: &[String],
    ) -> Result<Vec<NamedIndex>, WhatIfError> {
        let mut out = Vec::new();
        for name in names {
            if !self.cache.contains_key(name) {
                let rows = client
                    .query(
                        "SELECT c.oid, format('%I.%I', n.nspname, c.relname) \
                         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                         WHERE c.relkind IN ('i', 'I') \
                           AND (c.relname = $1 OR n.nspname || '.' || c.relname = $1) \
                         ORDER BY 1",
                        &[name],
                    )
                    .await
                    .map_err(|e| {
                        Failure::of("looking up an index to hide", e)
                            .into_fatal("looking up an index to hide")
                    })?;
                let found = rows
                    .iter()
                    .map(|r| {
                        Ok(NamedIndex {
                            oid: r.try_get(0)?,
                            qualified: r.try_get(1)?,
                        })
                    })
                    .collect::<Result<Vec<_>, tokio_postgres::Error>>()
                    .map_err(|e| WhatIfError::Fatal(format!("reading index oids: {e}")))?;
                self.cache.insert(name.clone(), found);
            }
            match self.cache.get(name) {
                Some(found) if !found.is_empty() => out.extend(found.iter().cloned()),
                _ => {
                    return Err(WhatIfError::Query(format!(
                        "cannot hide index {name:?}: there is no such index"
                    )))
                }
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }
}

/// The partitioned indexes above the existing indexes a plan names: EXPLAIN
/// shows the partitions' own indexes (`pt_2024_d_idx`), the catalog and the
/// advisor know the index on the partitioned table (`pt_d_idx`). Cached per name.
#[derive(Debug, Default)]
pub(crate) struct IndexRoots {
    cache: HashMap<String, Vec<String>>,
}

impl IndexRoots {
    /// `names`, each followed by the partitioned indexes it is a partition of
    /// (every level up), without repeats.
    pub(crate) async fn with_roots(
        &mut self,
        client: &Client,
        names: Vec<String>,
    ) -> Result<Vec<String>, WhatIfError> {
        let unknown: Vec<&str> = names
            .iter()
            .filter(|n| !self.cache.contains_key(*n))
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            let rows = client
                .query(
                    "WITH RECURSIVE up(name, relid) AS ( \
                         SELECT c.relname::text, c.oid FROM pg_class c \
                         WHERE c.relname = ANY($1::text[]) AND c.relkind = 'i' \
                         UNION ALL \
                         SELECT up.name, i.inhparent FROM pg_inherits i \
                         JOIN up ON i.inhrelid = up.relid) \
                     SELECT up.name, c.relname::text FROM up JOIN pg_class c ON c.oid = up.relid \
                     WHERE c.relkind = 'I' ORDER BY 1, 2",
                    &[&unknown],
                )
                .await
                .map_err(|e| {
                    Failure::of("looking up partitioned indexes", e)
                        .into_fatal("looking up partitioned indexes")
                })?;
            let mut found: HashMap<String, Vec<String>> = unknown
                .iter()
                .map(|n| ((*n).to_string(), Vec::new()))
                .collect();
            for r in &rows {
                let (name, root): (String, String) = (
                    r.try_get(0)
                        .map_err(|e| WhatIfError::Fatal(format!("reading index names: {e}")))?,
                    r.try_get(1)
                        .map_err(|e| WhatIfError::Fatal(format!("reading index names: {e}")))?,
                );
                found.entry(name).or_default().push(root);
            }
            self.cache.extend(found);
        }
        let mut out: Vec<String> = Vec::with_capacity(names.len());
        for name in names {
            let roots = self.cache.get(&name).cloned().unwrap_or_default();
            for n in std::iter::once(name).chain(roots) {
                if !out.contains(&n) {
                    out.push(n);
                }
            }
        }
        Ok(out)
    }
}

/// `DROP INDEX a, b` for hiding by drop (names already quoted by the server).
pub(crate) fn drop_hidden_sql(hidden: &[NamedIndex]) -> String {
    let names: Vec<&str> = hidden.iter().map(|h| h.qualified.as_str()).collect();
    format!("DROP INDEX {}", names.join(", "))
}

/// The server's `server_version_num`.
pub(crate) async fn server_version(client: &Client) -> Result<i32, DbError> {
    let row = client
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .await
        .map_err(|e| DbError::query("reading the server version", e))?;
    row.try_get(0)
        .map_err(|e| DbError::query("reading the server version", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_are_summarized_with_nested_indexes_and_sorts() {
        let json = r#"[{"Plan": {"Node Type": "Limit", "Total Cost": 12.5, "Plans": [
            {"Node Type": "Incremental Sort", "Plans": [
              {"Node Type": "Index Scan", "Index Name": "<13412>btree_users_created_at"},
              {"Node Type": "Bitmap Heap Scan", "Plans": [
                {"Node Type": "Bitmap Index Scan", "Index Name": "users_pkey"}]},
              {"Node Type": "Index Only Scan", "Index Name": "users_pkey"}]}]}}]"#;
        let s = summarize(json).expect("summary");
        assert_eq!(s.total_cost, 12.5);
        assert!(s.sorts);
        assert_eq!(
            s.index_names,
            vec!["<13412>btree_users_created_at", "users_pkey"]
        );
        let plain = summarize(r#"[{"Plan": {"Node Type": "Seq Scan", "Total Cost": 3}}]"#)
            .expect("summary");
        assert!(!plain.sorts && plain.index_names.is_empty());
        assert!(summarize("[]").is_err());
        assert!(summarize("not json").is_err());
    }

    #[test]
    fn identifiers_and_messages() {
        assert_eq!(quote("Users \"x\""), "\"Users \"\"x\"\"\"");
        assert_eq!(one_line("a\n  b\tc"), "a b c");
        assert_eq!(millis(Duration::from_secs(2)), "2000ms");
    }

    #[test]
    fn setup_errors_name_the_package_and_the_fallback() {
        let e = WhatIfConnectError::HypoPgNotInstalled { server_major: 15 }.to_string();
        assert!(e.contains("postgresql-15-hypopg") && e.contains("--whatif real-tx"));
        assert!(!e.contains('\n'));
    }
}
