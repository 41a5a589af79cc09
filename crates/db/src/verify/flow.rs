//! The two ways of measuring one recommendation: on the target inside one
//! transaction that is always rolled back, or on staging with a committed build
//! that is dropped afterwards.

use std::time::{Duration, Instant};

use pgpilot_advisor::{Recommendation, Verification, VerifyStatus};
use tokio_postgres::Client;

use super::assemble::{assemble, push_note};
use super::context::{self, Context, InPlace, Staged};
use super::measure::{self, BatchTimes, QueryPhase, Sampled, WritePlan};
use super::verdict::{human_bytes, ms};
use super::{VerifyEvent, VerifyOptions};
use crate::DbError;

/// One recommendation and the statements it is measured with.
pub(super) struct Job<'a> {
    pub(super) rec: &'a Recommendation,
    pub(super) served: Vec<Sampled>,
    pub(super) writes: Vec<Sampled>,
    pub(super) method: String,
    /// The plan's other indexes to have in place while measuring.
    pub(super) context: Context,
}

impl Job<'_> {
    fn skipped(&self, opts: &VerifyOptions, note: String) -> Verification {
        Verification {
            status: VerifyStatus::Skipped,
            method: self.method.clone(),
            real_size_bytes: 0,
            build_ms: 0.0,
            queries: Vec::new(),
            gain: 0.0,
            write_slowdown: None,
            verified_at: opts.now.clone(),
            note,
        }
    }
}

/// `'1500ms'`-style value for a timeout setting; zero disables.
pub(super) fn millis(d: Duration) -> String {
    if d.is_zero() {
        "0".into()
    } else {
        format!("{}ms", d.as_millis().max(1))
    }
}

async fn begin(client: &Client, opts: &VerifyOptions) -> Result<(), DbError> {
    client
        .batch_execute(&format!(
            "BEGIN; SET LOCAL statement_timeout = '{}'; SET LOCAL lock_timeout = '{}'; \
             SET LOCAL idle_in_transaction_session_timeout = '60s'",
            millis(opts.statement_timeout),
            millis(opts.lock_timeout)
        ))
        .await
        .map_err(|e| DbError::query("starting the verify transaction", e))
}

/// Rolls back the open transaction whatever `result` is. A lost connection stays
/// an error; another failure of the body becomes `Ok(Err(message))`.
async fn rollback<T>(
    client: &Client,
    result: Result<T, DbError>,
) -> Result<Result<T, String>, DbError> {
    let rb = client.batch_execute("ROLLBACK").await;
    match result {
        Err(e) if e.is_connection_lost() => Err(e),
        other => {
            rb.map_err(|e| DbError::query("rolling back the verify transaction", e))?;
            Ok(other.map_err(|e| e.to_string()))
        }
    }
}

/// Size in bytes of a table (heap + TOAST, all partitions), `None` when missing.
pub(super) async fn table_bytes(
    client: &Client,
    schema: &str,
    table: &str,
) -> Result<Option<u64>, DbError> {
    let row = client
        .query_opt(
            "SELECT (SELECT COALESCE(sum(pg_table_size(p.relid)), 0) FROM \
             (SELECT relid FROM pg_partition_tree(c.oid) UNION SELECT c.oid) p)::bigint \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p', 'm')",
            &[&schema, &table],
        )
        .await
        .map_err(|e| DbError::query("reading the table size", e))?;
    Ok(row.map(|r| u64::try_from(r.get::<_, i64>(0)).unwrap_or(0)))
}

/// Whether a relation named `name` exists in `schema`.
pub(super) async fn relation_exists(
    client: &Client,
    schema: &str,
    name: &str,
) -> Result<bool, DbError> {
    let row = client
        .query_one(
            "SELECT to_regclass(quote_ident($1) || '.' || quote_ident($2)) IS NOT NULL",
            &[&schema, &name],
        )
        .await
        .map_err(|e| DbError::query("looking for the index", e))?;
    Ok(row.get(0))
}

/// The built index: its name and its partitions' index names, total size, and
/// whether PostgreSQL marked it `indcheckxmin` (unusable by older snapshots).
pub(super) struct Built {
    pub(super) names: Vec<String>,
    pub(super) size_bytes: u64,
    pub(super) check_xmin: bool,
}

pub(super) async fn built_index(
    client: &Client,
    schema: &str,
    name: &str,
) -> Result<Built, DbError> {
    let rows = client
        .query(
            "SELECT c.relname::text, pg_relation_size(c.oid), i.indcheckxmin \
             FROM (SELECT to_regclass(quote_ident($1) || '.' || quote_ident($2)) AS oid) i0, \
             LATERAL (SELECT relid FROM pg_partition_tree(i0.oid) UNION SELECT i0.oid) p \
             JOIN pg_class c ON c.oid = p.relid JOIN pg_index i ON i.indexrelid = c.oid",
            &[&schema, &name],
        )
        .await
        .map_err(|e| DbError::query("reading the built index", e))?;
    let mut b = Built {
        names: Vec::new(),
        size_bytes: 0,
        check_xmin: false,
    };
    for r in rows {
        b.names.push(r.get(0));
        // NULL when the relation vanished meanwhile (a dropped partition).
        let size = r.get::<_, Option<i64>>(1).unwrap_or(0);
        b.size_bytes += u64::try_from(size).unwrap_or(0);
        b.check_xmin |= r.get::<_, bool>(2);
    }
    if b.names.is_empty() {
        b.names.push(name.to_string());
    }
    Ok(b)
}

/// What was measured before the index.
pub(super) struct Before {
    pub(super) queries: Vec<QueryPhase>,
    pub(super) writes: WritePlan,
    pub(super) write_times: Option<BatchTimes>,
}

async fn measure_before(
    client: &Client,
    job: &Job<'_>,
    opts: &VerifyOptions,
) -> Result<Before, DbError> {
    let mut queries = Vec::with_capacity(job.served.len());
    for q in &job.served {
        queries.push(
            measure::measure_query(client, q, opts.runs(), true, &[], opts.statement_timeout)
                .await?,
        );
    }
    let writes = measure::plan_writes(client, &job.writes, opts.write_batch).await?;
    let write_times = if writes.is_empty() {
        None
    } else {
        Some(measure::run_writes(client, &writes, None, opts.batch_budget(), true).await?)
    };
    Ok(Before {
        queries,
        writes,
        write_times,
    })
}

/// What was measured with the index.
pub(super) struct After {
    pub(super) queries: Vec<QueryPhase>,
    pub(super) write_times: Option<BatchTimes>,
    pub(super) built: Built,
}

async fn measure_after(
    client: &Client,
    job: &Job<'_>,
    opts: &VerifyOptions,
    before: &Before,
    built: Built,
) -> Result<After, DbError> {
    let mut queries = Vec::with_capacity(job.served.len());
    for (q, b) in job.served.iter().zip(&before.queries) {
        // Only what was measured before is worth measuring after.
        queries.push(match b {
            QueryPhase::Timed { .. } => {
                measure::measure_query(
                    client,
                    q,
                    opts.runs(),
                    true,
                    &built.names,
                    opts.statement_timeout,
                )
                .await?
            }
            other => other.clone(),
        });
    }
    let write_times = match &before.write_times {
        Some(t) => Some(
            measure::run_writes(
                client,
                &before.writes,
                Some(t.times.len()),
                opts.batch_budget(),
                false,
            )
            .await?,
        ),
        None => None,
    };
    Ok(After {
        queries,
        write_times,
        built,
    })
}

/// The outcome of a build attempt.
pub(super) enum Build {
    Done(f64),
    Failed(String),
}

pub(super) async fn build(
    client: &Client,
    rec: &Recommendation,
    opts: &VerifyOptions,
) -> Result<Build, DbError> {
    let started = Instant::now();
    match client
        .batch_execute(&rec.index.create_sql(&rec.name, false, false))
        .await
    {
        Ok(()) => Ok(Build::Done(started.elapsed().as_secs_f64() * 1000.0)),
        Err(e) => {
            let err = DbError::query("building the index", e);
            if err.is_connection_lost() {
                return Err(err);
            }
            let why = match err.sqlstate() {
                Some("55P03") => format!(
                    "could not take the SHARE lock on {} within {} ms (lock_timeout): \
                     transactions were writing to it",
                    rec.table,
                    opts.lock_timeout.as_millis()
                ),
                Some("57014") => format!(
                    "the build took longer than statement_timeout ({} s)",
                    opts.statement_timeout.as_secs()
                ),
                _ => err.to_string(),
            };
            Ok(Build::Failed(format!("index not built: {why}")))
        }
    }
}

/// Measures on the target inside one transaction that is always rolled back:
/// the context first (see [`context`]), then before, the index, after.
pub(super) async fn on_target(
    client: &Client,
    job: &Job<'_>,
    opts: &VerifyOptions,
    progress: &mut (dyn FnMut(VerifyEvent) + Send),
) -> Result<Verification, DbError> {
    let (schema, table) = (&job.rec.index.schema, &job.rec.index.table);
    let Some(bytes) = table_bytes(client, schema, table).await? else {
        return Ok(job.skipped(
            opts,
            format!("table {} does not exist on the target", job.rec.table),
        ));
    };
    if bytes > opts.max_table_bytes && !opts.force {
        return Ok(job.skipped(
            opts,
            format!(
                "table {} is {} > limit {}; pass --force or --staging",
                job.rec.table,
                human_bytes(bytes),
                human_bytes(opts.max_table_bytes)
            ),
        ));
    }
    if relation_exists(client, schema, &job.rec.name).await? {
        return Ok(job.skipped(
            opts,
            format!(
                "a relation named {} already exists in schema {schema} (already applied?)",
                job.rec.name
            ),
        ));
    }
    begin(client, opts).await?;
    let body = async {
        let in_place = context::build_in_transaction(client, &job.context, opts, progress).await?;
        let before = measure_before(client, job, opts).await?;
        let locked = in_place.started.unwrap_or_else(Instant::now);
        let build_ms = match build(client, job.rec, opts).await? {
            Build::Done(ms) => ms,
            Build::Failed(note) => return Ok(Err(note)),
        };
        progress(VerifyEvent::Built {
            index: job.rec.name.clone(),
            build_ms,
        });
        let built = built_index(client, schema, &job.rec.name).await?;
        if built.check_xmin {
            return Ok(Err(format!(
                "PostgreSQL marked the new index usable only by later transactions (recently \
                 dead HOT-updated rows in {}), so it cannot be measured inside the building \
                 transaction; verify with --staging, or after VACUUM",
                job.rec.table
            )));
        }
        let after = measure_after(client, job, opts, &before, built).await?;
        let held = locked.elapsed().as_secs_f64() * 1000.0;
        Ok(Ok((in_place, before, after, build_ms, held)))
    };
    let result = body.await;
    match rollback(client, result).await? {
        Err(e) | Ok(Err(e)) => Ok(job.skipped(opts, e)),
        Ok(Ok((in_place, before, after, build_ms, held))) => {
            let mut v = assemble(
                job,
                opts,
                &before,
                &after,
                build_ms,
                &in_place.note(&job.context),
            );
            push_note(&mut v.note, lock_note(job, &in_place, held));
            Ok(v)
        }
    }
}

/// How long the SHARE locks were held, and on which tables.
fn lock_note(job: &Job<'_>, in_place: &InPlace, held_ms: f64) -> String {
    let mut tables = vec![job.rec.table.clone()];
    for t in &in_place.locked_tables {
        if !tables.contains(t) {
            tables.push(t.clone());
        }
    }
    if tables.len() == 1 {
        format!(
            "held the SHARE lock on {} for {} ms",
            job.rec.table,
            ms(held_ms)
        )
    } else {
        format!(
            "held SHARE locks on {} for {} ms",
            tables.join(", "),
            ms(held_ms)
        )
    }
}

/// Measures on staging: the context made current ([`Staged::sync`]), before in a
/// rolled-back transaction, a committed plain build, after in another
/// rolled-back transaction. The index stays built (in `staged`) until a later
/// recommendation does not want it or the run ends.
pub(super) async fn on_staging(
    client: &Client,
    job: &Job<'_>,
    opts: &VerifyOptions,
    progress: &mut (dyn FnMut(VerifyEvent) + Send),
    staged: &mut Staged,
) -> Result<Verification, DbError> {
    let (schema, table) = (&job.rec.index.schema, &job.rec.index.table);
    if table_bytes(client, schema, table).await?.is_none() {
        return Ok(job.skipped(
            opts,
            format!("table {} does not exist on staging", job.rec.table),
        ));
    }
    if !staged.has(&job.rec.name) && relation_exists(client, schema, &job.rec.name).await? {
        return Ok(job.skipped(
            opts,
            format!(
                "a relation named {} already exists in schema {schema} on staging; drop it or \
                 refresh staging",
                job.rec.name
            ),
        ));
    }
    // Drops our build of this index, if any, with everything not in its context.
    let in_place = staged.sync(client, &job.context, opts, progress).await?;
    begin(client, opts).await?;
    let result = measure_before(client, job, opts).await;
    let before = match rollback(client, result).await? {
        Ok(b) => b,
        Err(e) => return Ok(job.skipped(opts, e)),
    };
    let build_ms = match build(client, job.rec, opts).await? {
        Build::Done(ms) => ms,
        // A failed plain CREATE INDEX is rolled back: nothing to drop (and a
        // relation of that name, if any, is not ours).
        Build::Failed(note) => return Ok(job.skipped(opts, note)),
    };
    staged.add(job.rec);
    progress(VerifyEvent::Built {
        index: job.rec.name.clone(),
        build_ms,
    });
    begin(client, opts).await?;
    let result = async {
        let built = built_index(client, schema, &job.rec.name).await?;
        measure_after(client, job, opts, &before, built).await
    }
    .await;
    let after = match rollback(client, result).await? {
        Ok(a) => a,
        Err(e) => return Ok(job.skipped(opts, e)),
    };
    let mut v = assemble(
        job,
        opts,
        &before,
        &after,
        build_ms,
        &in_place.note(&job.context),
    );
    if after.built.check_xmin && !v.queries.iter().any(|q| q.uses_index) {
        push_note(
            &mut v.note,
            "the index is marked usable only by transactions newer than its build \
             (indcheckxmin) and an older transaction was still open on staging"
                .into(),
        );
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_are_milliseconds_and_zero_disables() {
        assert_eq!(millis(Duration::from_secs(60)), "60000ms");
        assert_eq!(millis(Duration::from_micros(10)), "1ms");
        assert_eq!(millis(Duration::ZERO), "0");
    }
}
