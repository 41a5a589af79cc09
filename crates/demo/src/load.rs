//! The loader: creates the schema, generates the data on the server on two
//! connections at once (`audit_logs` on one, the other tables on the other), takes
//! the deliberately early `ANALYZE` of every table, then adds the keys.
//!
//! Order of work, chosen by measurement at scale 1 on 2 cores:
//! 1. schema and `demo_meta` (the reference "now" of the data), on one connection;
//! 2. lane A: `audit_logs` rows then its primary key; lane B at the same time:
//!    `roles`, `users`, `profiles`, `sessions`, each followed by its keys;
//! 3. the foreign keys, added `NOT VALID` and then validated on both lanes;
//! 4. identity sequences moved past the generated ids.
//!
//! Every table is analyzed once, right after its first [`EARLY_ANALYZE_SHARE`] of
//! rows, and never again (autovacuum is off): the statistics are stale on purpose.

use std::time::{Duration, Instant};

use pgpilot_db::{ConnSpec, DbError};
use tokio_postgres::types::ToSql;
use tokio_postgres::Client;

use crate::sqlfile;
use crate::{DemoConfig, DemoError, RowCounts, TABLES};

const SCHEMA_SQL: &str = include_str!("../sql/schema.sql");
const SESSION_SQL: &str = include_str!("../sql/session.sql");
const HELPERS_SQL: &str = include_str!("../sql/helpers.sql");
const ROLES_SQL: &str = include_str!("../sql/roles.sql");
const USERS_SQL: &str = include_str!("../sql/users.sql");
const PROFILES_SQL: &str = include_str!("../sql/profiles.sql");
const AUDIT_LOGS_SQL: &str = include_str!("../sql/audit_logs.sql");
const SESSIONS_SQL: &str = include_str!("../sql/sessions.sql");
const KEYS_SQL: &str = include_str!("../sql/keys.sql");
const FLUSH_STATS_SQL: &str = include_str!("../sql/flush_stats.sql");

/// Share of each table's rows inserted before its one and only `ANALYZE`.
pub const EARLY_ANALYZE_SHARE: f64 = 0.08;

/// Rows per `INSERT` after the first chunk (granularity of the progress display).
const CHUNK_ROWS: u64 = 1_000_000;

/// What the loader is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    /// Creating the tables.
    Schema,
    /// Generating rows.
    Insert,
    /// The early `ANALYZE`.
    Analyze,
    /// Primary keys and unique constraints.
    Keys,
    /// Adding and validating foreign keys.
    ForeignKeys,
    /// Sequences, metadata and sizes.
    Finish,
}

/// Progress of the load, for a progress display.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadStep {
    /// What is happening.
    pub kind: StepKind,
    /// The table concerned (empty for steps over all tables).
    pub table: String,
    /// Rows of `table` generated so far.
    pub rows_done: u64,
    /// Rows `table` will have.
    pub rows_total: u64,
    /// Time since the load started.
    pub elapsed: Duration,
    /// False when the step starts, true when it has ended.
    pub finished: bool,
}

/// Duration of one step of the load.
#[derive(Debug, Clone, PartialEq)]
pub struct StepTiming {
    /// `table.action`, e.g. `users.insert`, `audit_logs.keys`, `foreign_keys.add`.
    pub name: String,
    /// Seconds it took.
    pub seconds: f64,
}

/// One loaded table.
#[derive(Debug, Clone, PartialEq)]
pub struct TableReport {
    /// Table name.
    pub name: String,
    /// Rows generated.
    pub rows: u64,
    /// Size of the table with its indexes and TOAST, in bytes.
    pub total_bytes: i64,
    /// Size of the table alone (main fork), in bytes.
    pub heap_bytes: i64,
    /// Seconds spent generating rows (all chunks).
    pub insert_seconds: f64,
    /// Seconds spent on its primary key and unique constraints.
    pub keys_seconds: f64,
    /// Seconds spent validating its foreign key.
    pub validate_seconds: f64,
}

/// What [`load`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadReport {
    /// The reference "now" of the data (text form of a `timestamptz`); stored in
    /// `demo_meta.reference_now`.
    pub reference_now: String,
    /// Per table, in load order.
    pub tables: Vec<TableReport>,
    /// Every timed step, in the order they ended.
    pub steps: Vec<StepTiming>,
    /// Wall-clock seconds of the whole load.
    pub total_seconds: f64,
}

/// Creates the ADX Core schema and data in the (empty) database of `spec`.
///
/// Refuses with [`DemoError::AlreadyLoaded`] when a demo table already exists. On a
/// failure later on, the database is left half-built ([`DemoError::Load`]).
/// `on_step` is called when each step starts and ends, from the calling task.
pub async fn load(
    spec: &ConnSpec,
    cfg: &DemoConfig,
    on_step: &(dyn Fn(&LoadStep) + Sync),
) -> Result<LoadReport, DemoError> {
    cfg.validate()?;
    let start = Instant::now();
    let spec = spec.with_application_name("pgpilot demo load");
    let first = spec.connect().await?;
    refuse_existing(&first, spec.dbname()).await?;

    let counts = cfg.row_counts();
    let mut a = Lane::new(first, start, on_step, cfg, counts);
    a.step(StepKind::Schema, "", "schema.create", SCHEMA_SQL)
        .await?;
    let row = a
        .client
        .query_one(
            "INSERT INTO demo_meta (reference_now, scale, seed) VALUES (now(), $1, $2) \
             RETURNING reference_now::text",
            &[&cfg.scale, &a.seed],
        )
        .await
        .map_err(|e| load_err("recording the reference time in demo_meta", e))?;
    let reference_now: String = row.get(0);
    a.setup().await?;

    let mut b = Lane::new(spec.connect().await?, start, on_step, cfg, counts);
    b.setup().await?;

    let lane_a = async {
        a.insert("audit_logs", AUDIT_LOGS_SQL).await?;
        a.keys("audit_logs").await
    };
    let lane_b = async {
        b.insert("roles", ROLES_SQL).await?;
        b.keys("roles").await?;
        for (table, sql) in [
            ("users", USERS_SQL),
            ("profiles", PROFILES_SQL),
            ("sessions", SESSIONS_SQL),
        ] {
            b.insert(table, sql).await?;
            b.keys(table).await?;
        }
        Ok::<(), DemoError>(())
    };
    let (ra, rb) = tokio::join!(lane_a, lane_b);
    ra?;
    rb?;

    let fk_add = keys_step("foreign_keys.add")?;
    b.step(StepKind::ForeignKeys, "", "foreign_keys.add", fk_add)
        .await?;
    let lane_a = a.validate("audit_logs");
    let lane_b = async {
        for table in ["users", "profiles", "sessions"] {
            b.validate(table).await?;
        }
        Ok::<(), DemoError>(())
    };
    let (ra, rb) = tokio::join!(lane_a, lane_b);
    ra?;
    rb?;

    // Both lanes publish their table counters now: left to the server they
    // appear up to a second after the load, so a health check run right away
    // would not see the stale statistics yet.
    for lane in [&a, &b] {
        lane.client
            .batch_execute(FLUSH_STATS_SQL)
            .await
            .map_err(|e| load_err("publishing table statistics", e))?;
    }
    let tables = b.finish().await?;
    let mut steps = a.timings;
    steps.extend(b.timings);
    Ok(LoadReport {
        reference_now,
        tables: tables
            .into_iter()
            .map(|mut t| {
                let sum = |suffix: &str| -> f64 {
                    let name = format!("{}.{suffix}", t.name);
                    steps
                        .iter()
                        .filter(|s| s.name == name)
                        .fold(0.0, |acc, s| acc + s.seconds)
                };
                t.insert_seconds = sum("insert");
                t.keys_seconds = sum("keys");
                t.validate_seconds = sum("validate");
                t
            })
            .collect(),
        steps,
        total_seconds: start.elapsed().as_secs_f64(),
    })
}

/// Fails when any demo table (or `demo_meta`) already exists in the database.
async fn refuse_existing(client: &Client, database: &str) -> Result<(), DemoError> {
    let mut names: Vec<&str> = TABLES.to_vec();
    names.push("demo_meta");
    let row = client
        .query_one(
            "SELECT coalesce(string_agg(t, ', ' ORDER BY t), '') \
             FROM unnest($1::text[]) AS t WHERE to_regclass(t) IS NOT NULL",
            &[&names],
        )
        .await
        .map_err(|e| DbError::query("checking for existing demo tables", e))?;
    let found: String = row.get(0);
    if found.is_empty() {
        Ok(())
    } else {
        Err(DemoError::AlreadyLoaded {
            database: database.to_string(),
            tables: found,
        })
    }
}

fn load_err(context: &str, e: tokio_postgres::Error) -> DemoError {
    DemoError::Load {
        source: DbError::query(context, e),
    }
}

fn keys_step(name: &str) -> Result<&'static str, DemoError> {
    sqlfile::step(KEYS_SQL, name).ok_or_else(|| DemoError::MissingStep(name.to_string()))
}

/// The ranges of ids `[lo, hi]` to insert for `total` rows: first the share before
/// the early `ANALYZE`, then chunks of at most [`CHUNK_ROWS`].
pub(crate) fn chunks(total: u64) -> Vec<(u64, u64)> {
    if total == 0 {
        return Vec::new();
    }
    // Rounded up, so at least one row; bounded by `total`.
    let first = ((total as f64 * EARLY_ANALYZE_SHARE).ceil() as u64).clamp(1, total);
    let mut out = vec![(1, first)];
    let mut lo = first + 1;
    while lo <= total {
        let hi = (lo + CHUNK_ROWS - 1).min(total);
        out.push((lo, hi));
        lo = hi + 1;
    }
    out
}

/// One loader connection with the timings of the steps it ran.
struct Lane<'a> {
    client: Client,
    start: Instant,
    on_step: &'a (dyn Fn(&LoadStep) + Sync),
    counts: RowCounts,
    seed: i64,
    timings: Vec<StepTiming>,
}

impl<'a> Lane<'a> {
    fn new(
        client: Client,
        start: Instant,
        on_step: &'a (dyn Fn(&LoadStep) + Sync),
        cfg: &DemoConfig,
        counts: RowCounts,
    ) -> Self {
        Lane {
            client,
            start,
            on_step,
            counts,
            // The seed's 64 bits, reinterpreted: hashint8extended takes a bigint.
            seed: cfg.seed as i64,
            timings: Vec::new(),
        }
    }

    fn emit(&self, kind: StepKind, table: &str, rows_done: u64, finished: bool) {
        (self.on_step)(&LoadStep {
            kind,
            table: table.to_string(),
            rows_done,
            rows_total: self.counts.of(table).unwrap_or(0),
            elapsed: self.start.elapsed(),
            finished,
        });
    }

    fn record(&mut self, name: &str, since: Instant) {
        self.timings.push(StepTiming {
            name: name.to_string(),
            seconds: since.elapsed().as_secs_f64(),
        });
    }

    /// Session settings and the generator's helper functions.
    async fn setup(&mut self) -> Result<(), DemoError> {
        self.client
            .batch_execute(SESSION_SQL)
            .await
            .map_err(|e| load_err("configuring a loader connection", e))?;
        self.client
            .batch_execute(HELPERS_SQL)
            .await
            .map_err(|e| load_err("creating the generator's helper functions", e))
    }

    /// Runs `sql` as one timed step named `name`.
    async fn step(
        &mut self,
        kind: StepKind,
        table: &str,
        name: &str,
        sql: &str,
    ) -> Result<(), DemoError> {
        let done = self.counts.of(table).unwrap_or(0);
        self.emit(kind, table, done, false);
        let t = Instant::now();
        self.client
            .batch_execute(sql)
            .await
            .map_err(|e| load_err(&format!("demo load step {name}"), e))?;
        self.record(name, t);
        self.emit(kind, table, done, true);
        Ok(())
    }

    /// Generates all rows of `table` with the statement `sql`, analyzing the table
    /// once after the first chunk. The statement takes up to five parameters: first
    /// id, last id, seed, user count, row count of the table.
    async fn insert(&mut self, table: &str, sql: &str) -> Result<(), DemoError> {
        let total = self.counts.of(table).unwrap_or(0);
        let stmt = self
            .client
            .prepare(sql)
            .await
            .map_err(|e| load_err(&format!("preparing the generator of {table}"), e))?;
        let users = self.counts.users as i64;
        let total_i = total as i64;
        let ranges = if table == "roles" {
            vec![(1, total)]
        } else {
            chunks(total)
        };
        let mut insert_time = Duration::ZERO;
        for (i, (lo, hi)) in ranges.into_iter().enumerate() {
            self.emit(StepKind::Insert, table, lo - 1, false);
            let (lo_i, hi_i) = (lo as i64, hi as i64);
            let all: [&(dyn ToSql + Sync); 5] = [&lo_i, &hi_i, &self.seed, &users, &total_i];
            let n = stmt.params().len().min(all.len());
            let t = Instant::now();
            self.client
                .execute(&stmt, &all[..n])
                .await
                .map_err(|e| load_err(&format!("generating rows {lo}..{hi} of {table}"), e))?;
            insert_time += t.elapsed();
            self.emit(StepKind::Insert, table, hi, true);
            if i == 0 {
                // The one ANALYZE the table gets: early, so its statistics go stale.
                // Counters are published first (own round trip: the server flushes
                // them when it goes idle) so they do not land after the ANALYZE.
                self.client
                    .batch_execute(FLUSH_STATS_SQL)
                    .await
                    .map_err(|e| load_err("publishing table statistics", e))?;
                let name = format!("{table}.analyze");
                self.step(StepKind::Analyze, table, &name, &format!("ANALYZE {table}"))
                    .await?;
            }
        }
        self.timings.push(StepTiming {
            name: format!("{table}.insert"),
            seconds: insert_time.as_secs_f64(),
        });
        Ok(())
    }

    async fn keys(&mut self, table: &str) -> Result<(), DemoError> {
        let name = format!("{table}.keys");
        let sql = keys_step(&name)?;
        self.step(StepKind::Keys, table, &name, sql).await
    }

    async fn validate(&mut self, table: &str) -> Result<(), DemoError> {
        let name = format!("{table}.validate");
        let sql = keys_step(&name)?;
        self.step(StepKind::ForeignKeys, table, &name, sql).await
    }

    /// Moves the identity sequences past the generated ids, stamps `demo_meta` and
    /// measures the tables.
    async fn finish(&mut self) -> Result<Vec<TableReport>, DemoError> {
        self.emit(StepKind::Finish, "", 0, false);
        let t = Instant::now();
        for table in TABLES.iter().filter(|t| **t != "roles") {
            let rows = self.counts.of(table).unwrap_or(0) as i64;
            self.client
                .execute(
                    "SELECT setval(pg_get_serial_sequence($1, 'id'), $2)",
                    &[table, &rows],
                )
                .await
                .map_err(|e| load_err(&format!("moving the id sequence of {table}"), e))?;
        }
        self.client
            .batch_execute("UPDATE demo_meta SET loaded_at = clock_timestamp()")
            .await
            .map_err(|e| load_err("stamping demo_meta", e))?;
        let mut out = Vec::new();
        for table in TABLES {
            let row = self
                .client
                .query_one(
                    "SELECT pg_total_relation_size(to_regclass($1)), pg_relation_size(to_regclass($1))",
                    &[&table],
                )
                .await
                .map_err(|e| load_err(&format!("measuring {table}"), e))?;
            out.push(TableReport {
                name: table.to_string(),
                rows: self.counts.of(table).unwrap_or(0),
                total_bytes: row.get(0),
                heap_bytes: row.get(1),
                insert_seconds: 0.0,
                keys_seconds: 0.0,
                validate_seconds: 0.0,
            });
        }
        self.record("finish", t);
        self.emit(StepKind::Finish, "", 0, true);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_every_id_once_with_an_early_first_chunk() {
        for total in [1u64, 2, 12, 100, 10_000, 1_000_000, 5_000_000, 5_000_001] {
            let c = chunks(total);
            assert_eq!(c[0].0, 1);
            assert_eq!(c.last().map(|r| r.1), Some(total));
            for w in c.windows(2) {
                assert_eq!(w[0].1 + 1, w[1].0);
            }
            assert!(c.iter().all(|(lo, hi)| lo <= hi && hi - lo < CHUNK_ROWS));
            let first = c[0].1 as f64 / total as f64;
            assert!(
                total < 20 || (first - EARLY_ANALYZE_SHARE).abs() < 0.01,
                "{total}: {first}"
            );
        }
        assert!(chunks(0).is_empty());
    }

    #[test]
    fn every_key_step_the_loader_runs_exists() {
        let mut names = vec!["foreign_keys.add".to_string()];
        for t in TABLES {
            names.push(format!("{t}.keys"));
            if t != "roles" {
                names.push(format!("{t}.validate"));
            }
        }
        // roles has no foreign key; users has one (to roles).
        for n in names.iter().filter(|n| n.as_str() != "roles.validate") {
            assert!(keys_step(n).is_ok(), "{n}");
        }
    }
}
