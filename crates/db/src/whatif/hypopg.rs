//! [`HypoWhatIf`]: what-if planning with HypoPG's hypothetical indexes, and
//! [`hypopg_status`] for the CLI's messages.

use std::collections::{BTreeSet, HashMap, HashSet};

use pgpilot_advisor::{Config, IndexDef, PlanEstimate, WhatIf, WhatIfError};
use serde::{Deserialize, Serialize};
use tokio_postgres::Client;

use super::{
    connect, drop_hidden_sql, explain_json, learn_types, millis, quote, server_version, summarize,
    validate, Driver, Failure, IndexNames, IndexRoots, LearnedTypes, NamedIndex, Partitions,
    WhatIfConnectError, WhatIfOptions,
};
use crate::{ConnSpec, DbError};

/// Whether HypoPG can be used in the connected database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum HypoStatus {
    /// `CREATE EXTENSION hypopg` was run in this database.
    Installed {
        /// `pg_extension.extversion` (`1.3.1`).
        version: String,
        /// Schema of its functions.
        schema: String,
        /// `hypopg_hide_index` exists (HypoPG 1.4+): existing indexes can be
        /// hidden without touching them.
        can_hide: bool,
    },
    /// The server has the extension's files, but it is not created here.
    AvailableNotCreated {
        /// The version `CREATE EXTENSION` would install.
        version: String,
        /// This database.
        database: String,
    },
    /// The server does not have HypoPG at all.
    NotAvailable {
        /// Major version of the server, which names the package to install.
        server_major: u32,
    },
}

impl HypoStatus {
    /// One line for the CLI: what is there, and what to do when it is not.
    pub fn message(&self) -> String {
        match self {
            HypoStatus::Installed { version, .. } => format!("HypoPG {version} is installed"),
            HypoStatus::AvailableNotCreated { database, .. } => {
                WhatIfConnectError::HypoPgNotCreated {
                    database: database.clone(),
                }
                .to_string()
            }
            HypoStatus::NotAvailable { server_major } => WhatIfConnectError::HypoPgNotInstalled {
                server_major: *server_major,
            }
            .to_string(),
        }
    }
}

/// Whether HypoPG is created in the connected database, available on the server
/// but not created, or not available at all.
pub async fn hypopg_status(client: &Client) -> Result<HypoStatus, DbError> {
    const CONTEXT: &str = "looking for the hypopg extension";
    let row = client
        .query_one(
            "SELECT e.extversion::text, n.nspname::text, \
                    (n.nspname IS NOT NULL AND \
                     to_regprocedure(format('%I.hypopg_hide_index(oid)', n.nspname)) IS NOT NULL), \
                    (SELECT a.default_version::text FROM pg_available_extensions a \
                     WHERE a.name = 'hypopg'), \
                    current_setting('server_version_num')::int, current_database()::text \
             FROM (SELECT 1) one \
             LEFT JOIN pg_extension e ON e.extname = 'hypopg' \
             LEFT JOIN pg_namespace n ON n.oid = e.extnamespace",
            &[],
        )
        .await
        .map_err(|e| DbError::query(CONTEXT, e))?;
    let read = || -> Result<HypoStatus, tokio_postgres::Error> {
        let installed: Option<String> = row.try_get(0)?;
        let schema: Option<String> = row.try_get(1)?;
        let available: Option<String> = row.try_get(3)?;
        let version_num: i32 = row.try_get(4)?;
        Ok(match (installed, schema, available) {
            (Some(version), Some(schema), _) => HypoStatus::Installed {
                version,
                schema,
                can_hide: row.try_get(2)?,
            },
            (_, _, Some(version)) => HypoStatus::AvailableNotCreated {
                version,
                database: row.try_get(5)?,
            },
            _ => HypoStatus::NotAvailable {
                server_major: u32::try_from(version_num / 10_000).unwrap_or(0),
            },
        })
    };
    read().map_err(|e| DbError::query(CONTEXT, e))
}

/// A hypothetical index alive in the session: one HypoPG index, or one per
/// leaf partition for an index on a partitioned table (see [`super::partitions`]).
#[derive(Debug, Clone)]
struct Hypo {
    oids: Vec<u32>,
}

/// What-if planning with HypoPG: hypothetical indexes live only in this
/// session's backend memory; nothing is built, locked or written (except with
/// [`WhatIfOptions::hide_by_drop`] on HypoPG < 1.4, see there).
///
/// Each call diffs the requested configuration against the hypothetical indexes
/// already alive, creating only the missing ones and dropping the extra ones (one
/// round trip each, when needed), then plans with one round trip. Owns a
/// current-thread runtime: do not use it from inside an async context (see the
/// [module documentation](super)).
pub struct HypoWhatIf {
    inner: HypoSession<Box<Client>>,
    // Declared last: the connection is closed after `inner` is dropped.
    driver: Driver,
}

/// The HypoPG what-if state of one session, on a connection it owns
/// (`Box<Client>`, for [`HypoWhatIf`]) or borrows (`&Client`, for explain's
/// index advice on the caller's connection).
pub(crate) struct HypoSession<C> {
    client: C,
    options: WhatIfOptions,
    /// Quoted schema of the HypoPG functions.
    schema: String,
    can_hide: bool,
    version: i32,
    alive: HashMap<IndexDef, Hypo>,
    partitions: Partitions,
    hidden_now: BTreeSet<u32>,
    names: IndexNames,
    roots: IndexRoots,
    sizes: HashMap<IndexDef, u64>,
    plans: u64,
    param_types: LearnedTypes,
}

impl HypoWhatIf {
    /// Connects to `spec` with a private runtime, checks that HypoPG is created
    /// in the database (creating it only with
    /// [`WhatIfOptions::create_extension`]), sets `statement_timeout` and
    /// `plan_cache_mode = force_custom_plan` for the session, and starts from no
    /// hypothetical index.
    pub fn connect(spec: &ConnSpec, options: WhatIfOptions) -> Result<Self, WhatIfConnectError> {
        let driver = Driver::new()?;
        let client = Box::new(connect(&driver, spec)?);
        let inner = driver.run(HypoSession::setup(client, options))?;
        Ok(HypoWhatIf { inner, driver })
    }

    /// The installed HypoPG can hide existing indexes itself (1.4+).
    pub fn can_hide(&self) -> bool {
        self.inner.can_hide
    }

    /// Drops every hypothetical index (`hypopg_reset`), unhides hidden ones and
    /// closes the connection. Dropping the planner has the same effect on the
    /// server (the session ends); this reports errors.
    pub fn close(self) -> Result<(), WhatIfError> {
        let HypoWhatIf { inner, driver } = self;
        let sql = format!("SELECT {}.hypopg_reset()", inner.schema);
        driver.block_on(async {
            inner
                .client
                .batch_execute(&sql)
                .await
                .map_err(|e| Failure::of("hypopg_reset", e).into_fatal("hypopg_reset"))
        })
    }
}

impl<C: std::ops::Deref<Target = Client>> HypoSession<C> {
    /// Checks HypoPG (creating it only with [`WhatIfOptions::create_extension`]),
    /// sets the session's `statement_timeout`, `lock_timeout` and
    /// `plan_cache_mode = force_custom_plan`, and starts from no hypothetical
    /// index.
    pub(crate) async fn setup(
        client: C,
        options: WhatIfOptions,
    ) -> Result<HypoSession<C>, WhatIfConnectError> {
        let mut status = hypopg_status(&client).await?;
        if let HypoStatus::AvailableNotCreated { database, .. } = &status {
            if !options.create_extension {
                return Err(WhatIfConnectError::HypoPgNotCreated {
                    database: database.clone(),
                });
            }
            if let Err(e) = client
                .batch_execute("CREATE EXTENSION IF NOT EXISTS hypopg")
                .await
            {
                return Err(WhatIfConnectError::CreateExtension {
                    database: database.clone(),
                    message: super::one_line(&DbError::query("CREATE EXTENSION", e).to_string()),
                });
            }
            status = hypopg_status(&client).await?;
        }
        let (schema, can_hide) = match status {
            HypoStatus::Installed {
                schema, can_hide, ..
            } => (quote(&schema), can_hide),
            HypoStatus::AvailableNotCreated { database, .. } => {
                return Err(WhatIfConnectError::HypoPgNotCreated { database })
            }
            HypoStatus::NotAvailable { server_major } => {
                return Err(WhatIfConnectError::HypoPgNotInstalled { server_major })
            }
        };
        let version = server_version(&client).await?;
        let mut setup = format!(
            "SET statement_timeout = '{}'; SET lock_timeout = '{}'; SELECT {schema}.hypopg_reset();",
            millis(options.statement_timeout),
            millis(options.lock_timeout)
        );
        if version >= 120_000 {
            setup.push_str(" SET plan_cache_mode = force_custom_plan;");
        }
        client
            .batch_execute(&setup)
            .await
            .map_err(|e| DbError::query("setting up the what-if session", e))?;
        Ok(HypoSession {
            client,
            options,
            schema,
            can_hide,
            version,
            alive: HashMap::new(),
            partitions: Partitions::default(),
            hidden_now: BTreeSet::new(),
            names: IndexNames::default(),
            roots: IndexRoots::default(),
            sizes: HashMap::new(),
            plans: 0,
            param_types: LearnedTypes::default(),
        })
    }

    /// Makes the alive hypothetical indexes exactly `wanted`.
    async fn sync(&mut self, wanted: &[IndexDef]) -> Result<(), WhatIfError> {
        let wanted_set: HashSet<&IndexDef> = wanted.iter().collect();
        let extra: Vec<IndexDef> = self
            .alive
            .keys()
            .filter(|d| !wanted_set.contains(d))
            .cloned()
            .collect();
        if !extra.is_empty() {
            let oids: Vec<u32> = extra
                .iter()
                .filter_map(|d| self.alive.get(d))
                .flat_map(|h| h.oids.iter().copied())
                .collect();
            self.drop_hypos(&oids).await?;
            for d in &extra {
                self.alive.remove(d);
            }
        }
        let mut missing: Vec<&IndexDef> = Vec::new();
        for d in wanted {
            if !self.alive.contains_key(d) && !missing.contains(&d) {
                missing.push(d);
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        // Each missing definition, expanded to its leaf partitions: `owner[k]` is
        // the position in `missing` of `statements[k]`.
        let mut statements: Vec<String> = Vec::new();
        let mut owner: Vec<usize> = Vec::new();
        for (i, d) in missing.iter().enumerate() {
            for t in self.partitions.targets(&self.client, d).await? {
                statements.push(t.create_sql(&t.suggested_name(), false, false));
                owner.push(i);
            }
        }
        let sql = format!(
            "SELECT h.indexrelid FROM unnest($1::text[]) WITH ORDINALITY AS d(s, i) \
             CROSS JOIN LATERAL {}.hypopg_create_index(d.s) h ORDER BY d.i",
            self.schema
        );
        match self.client.query(&sql, &[&statements]).await {
            Ok(rows) if rows.len() == statements.len() => {
                let mut oids: Vec<Vec<u32>> = vec![Vec::new(); missing.len()];
                for (&i, r) in owner.iter().zip(&rows) {
                    let oid: u32 = r
                        .try_get(0)
                        .map_err(|e| WhatIfError::Fatal(format!("reading HypoPG's oid: {e}")))?;
                    oids[i].push(oid);
                }
                for (d, oids) in missing.iter().zip(oids) {
                    self.alive.insert((*d).clone(), Hypo { oids });
                }
                Ok(())
            }
            Ok(_) => {
                // A statement HypoPG turned into no (or several) indexes: find it.
                self.reset().await?;
                self.create_one_by_one(wanted).await
            }
            Err(e) => match Failure::of("creating hypothetical indexes", e) {
                Failure::Fatal(m) => Err(WhatIfError::Fatal(m)),
                Failure::Server { .. } => {
                    // Those created before the failure are alive but unknown:
                    // start over one by one to name the rejected one.
                    self.reset().await?;
                    self.create_one_by_one(wanted).await
                }
            },
        }
    }

    /// Drops every hypothetical index.
    pub(crate) async fn reset(&mut self) -> Result<(), WhatIfError> {
        let sql = format!("SELECT {}.hypopg_reset()", self.schema);
        self.client
            .batch_execute(&sql)
            .await
            .map_err(|e| Failure::of("hypopg_reset", e).into_fatal("hypopg_reset"))?;
        self.alive.clear();
        Ok(())
    }

    async fn create_one_by_one(&mut self, wanted: &[IndexDef]) -> Result<(), WhatIfError> {
        for d in wanted {
            if !self.alive.contains_key(d) {
                let hypo = self.create(d).await?;
                self.alive.insert(d.clone(), hypo);
            }
        }
        Ok(())
    }

    /// Creates one hypothetical index, on every leaf partition of a
    /// partitioned table (not recorded in `alive`). When one leaf is refused,
    /// those already created for the others are dropped.
    async fn create(&mut self, def: &IndexDef) -> Result<Hypo, WhatIfError> {
        let targets = self.partitions.targets(&self.client, def).await?;
        let mut oids = Vec::with_capacity(targets.len());
        for t in &targets {
            match self.create_one(t).await {
                Ok(oid) => oids.push(oid),
                Err(e) => {
                    if !oids.is_empty() {
                        self.drop_hypos(&oids).await?;
                    }
                    return Err(e);
                }
            }
        }
        Ok(Hypo { oids })
    }

    /// Creates the hypothetical index `def` exactly (on its own table).
    async fn create_one(&self, def: &IndexDef) -> Result<u32, WhatIfError> {
        let ddl = def.create_sql(&def.suggested_name(), false, false);
        let sql = format!(
            "SELECT h.indexrelid FROM {}.hypopg_create_index($1) h",
            self.schema
        );
        let rows = self.client.query(&sql, &[&ddl]).await.map_err(|e| {
            match Failure::of("creating a hypothetical index", e).into_index_error() {
                WhatIfError::InvalidIndex(m) => WhatIfError::InvalidIndex(format!("{m} ({ddl})")),
                other => other,
            }
        })?;
        match rows.as_slice() {
            [r] => r
                .try_get(0)
                .map_err(|e| WhatIfError::Fatal(format!("reading HypoPG's oid: {e}"))),
            _ => Err(WhatIfError::InvalidIndex(format!(
                "HypoPG made {} hypothetical indexes of {ddl}",
                rows.len()
            ))),
        }
    }

    /// Drops hypothetical indexes by oid.
    async fn drop_hypos(&self, oids: &[u32]) -> Result<(), WhatIfError> {
        let sql = format!(
            "SELECT {}.hypopg_drop_index(o) FROM unnest($1::oid[]) o",
            self.schema
        );
        self.client.query(&sql, &[&oids]).await.map_err(|e| {
            Failure::of("dropping hypothetical indexes", e)
                .into_fatal("dropping hypothetical indexes")
        })?;
        Ok(())
    }

    /// Hides exactly `hidden` with `hypopg_hide_index` (HypoPG 1.4+).
    async fn sync_hidden(&mut self, hidden: &[NamedIndex]) -> Result<(), WhatIfError> {
        let want: BTreeSet<u32> = hidden.iter().map(|h| h.oid).collect();
        let unhide: Vec<u32> = self.hidden_now.difference(&want).copied().collect();
        let hide: Vec<u32> = want.difference(&self.hidden_now).copied().collect();
        for (func, oids) in [
            ("hypopg_unhide_index", &unhide),
            ("hypopg_hide_index", &hide),
        ] {
            if oids.is_empty() {
                continue;
            }
            let sql = format!("SELECT {}.{func}(o) FROM unnest($1::oid[]) o", self.schema);
            self.client.query(&sql, &[oids]).await.map_err(|e| {
                Failure::of(func, e).into_query_error(self.options.statement_timeout)
            })?;
        }
        self.hidden_now = want;
        Ok(())
    }

    /// Plans `sql` with `params` under `config`.
    pub(crate) async fn plan(
        &mut self,
        sql: &str,
        params: &[Option<String>],
        config: Config<'_>,
    ) -> Result<PlanEstimate, WhatIfError> {
        self.sync(config.hypothetical).await?;
        let hidden = self.names.resolve(&self.client, config.hidden).await?;
        let by_drop = !hidden.is_empty() && !self.can_hide;
        if by_drop && !self.options.hide_by_drop {
            return Err(WhatIfError::Query(
                "hiding existing indexes needs HypoPG 1.4 or later (hypopg_hide_index), \
                 or hiding by a rolled-back DROP INDEX (hide_by_drop), which locks the table"
                    .into(),
            ));
        }
        if self.can_hide {
            self.sync_hidden(&hidden).await?;
        }
        let mut types = self.param_types.get(sql, params);
        let explained = loop {
            if by_drop {
                let setup = format!("BEGIN READ WRITE; {}", drop_hidden_sql(&hidden));
                if let Err(e) = self.client.batch_execute(&setup).await {
                    let err = Failure::of("hiding indexes", e);
                    self.rollback().await?;
                    return Err(match err.into_query_error(self.options.lock_timeout) {
                        WhatIfError::Query(m) => WhatIfError::Query(format!("cannot hide: {m}")),
                        other => other,
                    });
                }
            }
            self.plans += 1;
            let explained = explain_json(&self.client, sql, params, &types).await;
            if by_drop {
                self.rollback().await?;
            }
            match explained {
                // A parameter whose type the server cannot infer, or parameters
                // standing for numeric literals that leave an operator ambiguous:
                // declared, planned again.
                Err(e) if learn_types(&mut types, &e, sql, params) => continue,
                other => break other,
            }
        };
        self.param_types.remember(sql, types);
        let json = explained.map_err(|e| {
            Failure::of("EXPLAIN", e).into_query_error(self.options.statement_timeout)
        })?;
        let summary = summarize(&json).map_err(WhatIfError::Query)?;
        let by_oid: HashMap<u32, Vec<usize>> = config
            .hypothetical
            .iter()
            .enumerate()
            .filter_map(|(i, d)| self.alive.get(d).map(|h| (i, h)))
            .flat_map(|(i, h)| h.oids.iter().map(move |&oid| (oid, i)))
            .fold(HashMap::new(), |mut m, (oid, i)| {
                m.entry(oid).or_default().push(i);
                m
            });
        let mut used_hypothetical = Vec::new();
        let mut used_existing = Vec::new();
        for name in summary.index_names {
            match hypo_oid(&name).and_then(|oid| by_oid.get(&oid)) {
                Some(positions) => used_hypothetical.extend(positions.iter().copied()),
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

    async fn rollback(&self) -> Result<(), WhatIfError> {
        self.client
            .batch_execute("ROLLBACK")
            .await
            .map_err(|e| Failure::of("ROLLBACK", e).into_fatal("rolling back a hidden drop"))
    }

    /// HypoPG's size estimate of `def`.
    pub(crate) async fn index_size(&mut self, def: &IndexDef) -> Result<u64, WhatIfError> {
        if let Some(s) = self.sizes.get(def) {
            return Ok(*s);
        }
        let oids = match self.alive.get(def) {
            Some(h) => h.oids.clone(),
            None => {
                let h = self.create(def).await?;
                let oids = h.oids.clone();
                self.alive.insert(def.clone(), h);
                oids
            }
        };
        // An index on a partitioned table: the sum of its leaves' indexes.
        let sql = format!(
            "SELECT COALESCE(sum({}.hypopg_relation_size(o)), 0)::int8 FROM unnest($1::oid[]) o",
            self.schema
        );
        let row = self.client.query_one(&sql, &[&oids]).await.map_err(|e| {
            Failure::of("hypopg_relation_size", e).into_fatal("hypopg_relation_size")
        })?;
        let size: i64 = row
            .try_get(0)
            .map_err(|e| WhatIfError::Fatal(format!("reading hypopg_relation_size: {e}")))?;
        let size = u64::try_from(size).unwrap_or(0);
        self.sizes.insert(def.clone(), size);
        Ok(size)
    }

    /// Would PostgreSQL build `def`? See [`crate::whatif`]'s validation: an
    /// empty copy of the table in a rolled-back transaction.
    pub(crate) async fn validate(&self, def: &IndexDef) -> Result<(), WhatIfError> {
        validate::validate(&self.client, def, validate::Scope::TopLevel, self.version).await
    }

    /// What-if plans made so far.
    pub(crate) fn plans(&self) -> u64 {
        self.plans
    }
}

/// The oid in a HypoPG index name: `<13412>btree_users_created_at` → 13412.
fn hypo_oid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix('<')?;
    let (digits, _) = rest.split_once('>')?;
    digits.parse().ok()
}

impl WhatIf for HypoWhatIf {
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

    /// See [`crate::whatif`]'s validation: an empty copy of the table in a
    /// rolled-back transaction.
    fn validate(&mut self, index: &IndexDef) -> Result<(), WhatIfError> {
        self.driver.block_on(self.inner.validate(index))
    }

    fn plans_made(&self) -> u64 {
        self.inner.plans
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hypopg_names_carry_their_oid() {
        assert_eq!(hypo_oid("<13412>btree_users_created_at"), Some(13412));
        assert_eq!(hypo_oid("users_pkey"), None);
        assert_eq!(hypo_oid("<x>btree"), None);
    }

    #[test]
    fn status_messages_say_what_to_do() {
        let s = HypoStatus::AvailableNotCreated {
            version: "1.3.1".into(),
            database: "app".into(),
        };
        assert!(
            s.message().contains("CREATE EXTENSION hypopg"),
            "{}",
            s.message()
        );
        let n = HypoStatus::NotAvailable { server_major: 16 };
        assert!(n.message().contains("postgresql-16-hypopg"));
    }
}
