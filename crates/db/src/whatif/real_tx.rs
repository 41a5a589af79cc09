//! [`RealTxWhatIf`]: what-if planning with real indexes built inside one
//! transaction that is always rolled back (`--whatif real-tx`, for servers
//! without HypoPG).

use std::collections::{HashMap, HashSet};

use pgpilot_advisor::{Config, IndexDef, PlanEstimate, WhatIf, WhatIfError};
use tokio_postgres::Client;

use super::partitions::index_tree;
use super::{
    connect, drop_hidden_sql, explain_json, learn_types, millis, quote, server_version, summarize,
    validate, Driver, Failure, IndexNames, IndexRoots, LearnedTypes, WhatIfConnectError,
    WhatIfOptions,
};
use crate::{ConnSpec, DbError};

/// One real index built for the what-if, with the savepoint taken just before
/// it: rolling back to that savepoint removes it (and everything built after it)
/// and releases the lock its build took.
#[derive(Debug, Clone)]
struct Built {
    def: IndexDef,
    /// Unquoted name (as EXPLAIN prints it) = the savepoint's name.
    name: String,
    /// The names EXPLAIN can show for it: `name`, and on a partitioned table
    /// the indexes the build cascaded to on every partition (named by the
    /// server).
    tree: Vec<String>,
}

/// What-if planning with real indexes, for servers without HypoPG.
///
/// One transaction is opened at connection and **never committed**: it is rolled
/// back by [`close`](Self::close), and by the server when the planner is dropped
/// (the connection closes). Each hypothetical index is built for real with a
/// plain `CREATE INDEX pgpilot_whatif_<pid>_<n>` the first time a configuration
/// needs it, inside a savepoint; an index a later configuration no longer needs
/// is removed by rolling back to its savepoint (never with `DROP INDEX`, whose
/// `ACCESS EXCLUSIVE` lock would then block readers until the end).
///
/// **Locks.** Building an index takes a `SHARE` lock on its table: the
/// application's INSERT / UPDATE / DELETE on that table wait until the index is
/// rolled back (at the next configuration without it, or at the end). A build
/// waits at most [`WhatIfOptions::lock_timeout`] for the lock and runs at most
/// [`WhatIfOptions::build_timeout`]; either failure makes that index
/// `InvalidIndex` (with the server's reason). Builds read the whole table, like a
/// real `CREATE INDEX`. This is why the CLI asks for an explicit flag.
///
/// **Open transaction.** The transaction holds an xid from the first build on,
/// which holds back the cleanup horizon of VACUUM server-wide until it ends;
/// a server `idle_in_transaction_session_timeout` shorter than the advice ends
/// the session (every later call is then `Fatal`). Building needs the ownership
/// of the table (a missing one is `Fatal`: nothing can be built).
///
/// Hiding existing indexes needs [`WhatIfOptions::hide_by_drop`] (a `DROP
/// INDEX` in a savepoint rolled back right after the EXPLAIN).
///
/// Owns a current-thread runtime: do not use it from inside an async context
/// (see the [module documentation](super)).
pub struct RealTxWhatIf {
    inner: Inner,
    driver: Driver,
}

struct Inner {
    client: Client,
    options: WhatIfOptions,
    version: i32,
    pid: i32,
    counter: u64,
    stack: Vec<Built>,
    names: IndexNames,
    roots: IndexRoots,
    sizes: HashMap<IndexDef, u64>,
    plans: u64,
    param_types: LearnedTypes,
}

impl RealTxWhatIf {
    /// Connects to `spec` with a private runtime, refuses a read-only standby,
    /// and opens the transaction (with `statement_timeout`, `lock_timeout` and
    /// `plan_cache_mode = force_custom_plan` set locally).
    pub fn connect(spec: &ConnSpec, options: WhatIfOptions) -> Result<Self, WhatIfConnectError> {
        let driver = Driver::new()?;
        let client = connect(&driver, spec)?;
        let target = spec.target();
        let inner = driver.run(Inner::setup(client, options, target))?;
        Ok(RealTxWhatIf { inner, driver })
    }

    /// Rolls the transaction back (removing every index built) and closes the
    /// connection. Dropping the planner has the same effect on the server; this
    /// reports errors.
    pub fn close(self) -> Result<(), WhatIfError> {
        let RealTxWhatIf { inner, driver } = self;
        driver.block_on(async {
            inner
                .client
                .batch_execute("ROLLBACK")
                .await
                .map_err(|e| Failure::of("ROLLBACK", e).into_fatal("rolling back"))
        })
    }
}

impl Inner {
    async fn setup(
        client: Client,
        options: WhatIfOptions,
        target: String,
    ) -> Result<Inner, WhatIfConnectError> {
        let row = client
            .query_one("SELECT pg_is_in_recovery(), pg_backend_pid()", &[])
            .await
            .map_err(|e| DbError::query("checking the server role", e))?;
        let (standby, pid): (bool, i32) = (
            row.try_get(0)
                .map_err(|e| DbError::query("checking the server role", e))?,
            row.try_get(1)
                .map_err(|e| DbError::query("checking the server role", e))?,
        );
        if standby {
            return Err(WhatIfConnectError::ReadOnlyServer(target));
        }
        let version = server_version(&client).await?;
        let mut setup = format!(
            "BEGIN READ WRITE; SET LOCAL statement_timeout = '{}'; SET LOCAL lock_timeout = '{}';",
            millis(options.statement_timeout),
            millis(options.lock_timeout)
        );
        if version >= 120_000 {
            setup.push_str(" SET LOCAL plan_cache_mode = force_custom_plan;");
        }
        if let Err(e) = client.batch_execute(&setup).await {
            let _ = client.batch_execute("ROLLBACK").await;
            return Err(DbError::query("opening the what-if transaction", e).into());
        }
        Ok(Inner {
            client,
            options,
            version,
            pid,
            counter: 0,
            stack: Vec::new(),
            names: IndexNames::default(),
            roots: IndexRoots::default(),
            sizes: HashMap::new(),
            plans: 0,
            param_types: LearnedTypes::default(),
        })
    }

    async fn batch(&self, sql: &str, context: &str) -> Result<(), WhatIfError> {
        self.client
            .batch_execute(sql)
            .await
            .map_err(|e| Failure::of(context, e).into_fatal(context))
    }

    /// Removes the top of the stack from position `keep` on.
    async fn pop_to(&mut self, keep: usize) -> Result<(), WhatIfError> {
        if let Some(first) = self.stack.get(keep) {
            let sp = quote(&first.name);
            self.batch(
                &format!("ROLLBACK TO SAVEPOINT {sp}; RELEASE SAVEPOINT {sp}"),
                "removing what-if indexes",
            )
            .await?;
            self.stack.truncate(keep);
        }
        Ok(())
    }

    /// Builds `def` for real on top of the stack.
    async fn build(&mut self, def: &IndexDef) -> Result<(), WhatIfError> {
        self.counter += 1;
        let name = format!("pgpilot_whatif_{}_{}", self.pid, self.counter);
        let sp = quote(&name);
        self.batch(
            &format!(
                "SAVEPOINT {sp}; SET LOCAL statement_timeout = '{}'",
                millis(self.options.build_timeout)
            ),
            "starting a what-if index build",
        )
        .await?;
        // The extended protocol runs exactly one statement, whatever the text holds.
        let ddl = def.create_sql(&name, false, false);
        match self.client.query_typed(&ddl, &[]).await {
            Ok(_) => {
                self.batch(
                    &format!(
                        "SET LOCAL statement_timeout = '{}'",
                        millis(self.options.statement_timeout)
                    ),
                    "restoring statement_timeout",
                )
                .await?;
                let mut tree = index_tree(&self.client, &def.schema, &name).await?;
                if !tree.contains(&name) {
                    tree.push(name.clone());
                }
                self.stack.push(Built {
                    def: def.clone(),
                    name,
                    tree,
                });
                Ok(())
            }
            Err(e) => {
                let err = Failure::of("building a what-if index", e);
                self.batch(
                    &format!("ROLLBACK TO SAVEPOINT {sp}; RELEASE SAVEPOINT {sp}"),
                    "undoing a failed what-if index build",
                )
                .await?;
                Err(match err {
                    Failure::Server { code, message } if code == "57014" => {
                        WhatIfError::InvalidIndex(format!(
                            "building it for the what-if took longer than {} s: {message}",
                            self.options.build_timeout.as_secs_f64()
                        ))
                    }
                    Failure::Server { code, message } if code == "55P03" => {
                        WhatIfError::InvalidIndex(format!(
                            "could not lock {}.{} to build it for the what-if: {message}",
                            def.schema, def.table
                        ))
                    }
                    Failure::Server { code, message } if code == "42501" => {
                        WhatIfError::Fatal(format!(
                            "--whatif real-tx builds real indexes, which needs the ownership of \
                             {}.{}: {message}",
                            def.schema, def.table
                        ))
                    }
                    other => other.into_index_error(),
                })
            }
        }
    }

    /// Makes the built indexes exactly `wanted`, keeping the longest still-wanted
    /// bottom of the stack.
    async fn sync(&mut self, wanted: &[IndexDef]) -> Result<(), WhatIfError> {
        let wanted_set: HashSet<&IndexDef> = wanted.iter().collect();
        let keep = self
            .stack
            .iter()
            .take_while(|b| wanted_set.contains(&b.def))
            .count();
        // `stack[keep]`, if any, is not wanted: it and everything above it go.
        self.pop_to(keep).await?;
        for d in wanted {
            if !self.stack.iter().any(|b| &b.def == d) {
                self.build(d).await?;
            }
        }
        Ok(())
    }

    async fn plan(
        &mut self,
        sql: &str,
        params: &[Option<String>],
        config: Config<'_>,
    ) -> Result<PlanEstimate, WhatIfError> {
        self.sync(config.hypothetical).await?;
        let hidden = self.names.resolve(&self.client, config.hidden).await?;
        if !hidden.is_empty() && !self.options.hide_by_drop {
            return Err(WhatIfError::Query(
                "hiding existing indexes needs HypoPG (or hiding by a rolled-back DROP INDEX, \
                 hide_by_drop, which locks the table)"
                    .into(),
            ));
        }
        const SP: &str = "pgpilot_whatif_plan";
        let mut types = self.param_types.get(sql, params);
        let explained = loop {
            self.batch(&format!("SAVEPOINT {SP}"), "starting a plan")
                .await?;
            let mut explained = None;
            if !hidden.is_empty() {
                if let Err(e) = self.client.batch_execute(&drop_hidden_sql(&hidden)).await {
                    let msg = match Failure::of("hiding indexes", e)
                        .into_query_error(self.options.statement_timeout)
                    {
                        WhatIfError::Query(m) => WhatIfError::Query(format!("cannot hide: {m}")),
                        other => other,
                    };
                    explained = Some(Err(msg));
                }
            }
            let mut retry = false;
            let explained = match explained {
                Some(e) => e,
                None => {
                    self.plans += 1;
                    explain_json(&self.client, sql, params, &types)
                        .await
                        .map_err(|e| {
                            // A parameter whose type the server cannot infer, or
                            // parameters standing for numeric literals that leave
                            // an operator ambiguous: declared, planned again.
                            retry = learn_types(&mut types, &e, sql, params);
                            Failure::of("EXPLAIN", e)
                                .into_query_error(self.options.statement_timeout)
                        })
                }
            };
            // Always rolled back: it undoes a hiding drop (and releases its lock) and
            // clears the aborted state after a failed EXPLAIN.
            self.batch(
                &format!("ROLLBACK TO SAVEPOINT {SP}; RELEASE SAVEPOINT {SP}"),
                "ending a plan",
            )
            .await?;
            if !retry {
                break explained;
            }
        };
        self.param_types.remember(sql, types);
        let summary = summarize(&explained?).map_err(WhatIfError::Query)?;
        let mut used_hypothetical = Vec::new();
        let mut used_existing = Vec::new();
        for name in summary.index_names {
            match self.stack.iter().find(|b| b.tree.contains(&name)) {
                Some(b) => used_hypothetical.extend(
                    config
                        .hypothetical
                        .iter()
                        .enumerate()
                        .filter(|(_, d)| **d == b.def)
                        .map(|(i, _)| i),
                ),
                None => used_existing.push(name),
            }
        }
        used_hypothetical.sort_unstable();
        used_hypothetical.dedup();
        let used_existing = self.roots.with_roots(&self.client, used_existing).await?;
        Ok(PlanEstimate {
            total_cost: summary.total_cost,
            used_hypothetical,
            used_existing,
            sorts: summary.sorts,
        })
    }

    async fn index_size(&mut self, def: &IndexDef) -> Result<u64, WhatIfError> {
        if let Some(s) = self.sizes.get(def) {
            return Ok(*s);
        }
        if !self.stack.iter().any(|b| &b.def == def) {
            self.build(def).await?;
        }
        let Some(built) = self.stack.iter().find(|b| &b.def == def) else {
            return Err(WhatIfError::Fatal(
                "a built what-if index went missing".into(),
            ));
        };
        let qualified = format!("{}.{}", quote(&def.schema), quote(&built.name));
        // On a partitioned table, the index itself has no storage: the sum of
        // its inheritance tree (the partitions' indexes).
        let row = self
            .client
            .query_one(
                "WITH RECURSIVE tree(relid) AS ( \
                     SELECT $1::text::regclass::oid \
                     UNION ALL \
                     SELECT i.inhrelid FROM pg_inherits i JOIN tree t ON i.inhparent = t.relid) \
                 SELECT COALESCE(sum(pg_relation_size(relid)), 0)::int8 FROM tree",
                &[&qualified],
            )
            .await
            .map_err(|e| Failure::of("pg_relation_size", e).into_fatal("measuring an index"))?;
        let size: i64 = row
            .try_get(0)
            .map_err(|e| WhatIfError::Fatal(format!("reading pg_relation_size: {e}")))?;
        let size = u64::try_from(size).unwrap_or(0);
        self.sizes.insert(def.clone(), size);
        Ok(size)
    }
}

impl WhatIf for RealTxWhatIf {
    fn plan(
        &mut self,
        sql: &str,
        params: &[Option<String>],
        config: Config<'_>,
    ) -> Result<PlanEstimate, WhatIfError> {
        self.driver.block_on(self.inner.plan(sql, params, config))
    }

    fn index_size(&mut self, index: &IndexDef) -> Result<u64, WhatIfError> {
        self.driver.block_on(self.inner.index_size(index))
    }

    fn validate(&mut self, index: &IndexDef) -> Result<(), WhatIfError> {
        let inner = &self.inner;
        self.driver.block_on(validate::validate(
            &inner.client,
            index,
            validate::Scope::Savepoint,
            inner.version,
        ))
    }

    fn plans_made(&self) -> u64 {
        self.inner.plans
    }
}
