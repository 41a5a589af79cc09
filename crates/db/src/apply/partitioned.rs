//! An index on a partitioned table, built online. PostgreSQL cannot run
//! `CREATE INDEX CONCURRENTLY` on a partitioned table, so the documented
//! procedure is followed instead: `CREATE INDEX … ON ONLY parent` (an INVALID
//! partitioned index, no data touched), then for each partition
//! `CREATE INDEX CONCURRENTLY` of its own index and `ALTER INDEX … ATTACH
//! PARTITION` (an intermediate partitioned table gets an `ON ONLY` index of its
//! own, attached, then its partitions in turn); the parent index becomes valid
//! by itself once every partition's index is attached.
//!
//! Every statement runs under the session's `lock_timeout` with retries; a
//! partition's concurrent build goes through [`run_step`] (preflight, INVALID
//! clean-up, retries). The work is resumable: a rerun finds the INVALID parent
//! index, keeps the partition indexes already built and attached, drops INVALID
//! leftovers, and finishes.

use std::collections::HashMap;
use std::time::Instant;

use pgpilot_advisor::IndexDef;
use tokio::time::sleep;

use super::session::{blockers, index_state, FailureKind, IndexState, Session};
use super::steps::{run_step, short, IndexTarget, Op, StepOutcome, StepResult};
use super::{fmt_duration, ApplyEvent, Progress, TryRecord};
use crate::error::DbError;
use crate::whatif::quote;

/// Longest identifier PostgreSQL keeps (NAMEDATALEN - 1), in bytes.
const MAX_IDENT: usize = 63;

/// How many partition names a message lists before "and N more".
const LISTED: usize = 100;

/// A partition of the tree below the parent table.
#[derive(Debug, Clone)]
pub(crate) struct Partition {
    oid: i64,
    schema: String,
    name: String,
    /// `r` (leaf), `p` (partitioned), `f` (foreign), ….
    relkind: String,
    parent_oid: i64,
}

impl Partition {
    fn qualified(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }
}

/// An index attached to the partitioned index, by the table it is on.
#[derive(Debug, Clone)]
struct Attached {
    schema: String,
    name: String,
    valid: bool,
}

/// Whether `schema.table` is a partitioned table (relkind `p`).
pub(crate) async fn is_partitioned(
    client: &tokio_postgres::Client,
    schema: &str,
    table: &str,
) -> Result<bool, DbError> {
    let row = client
        .query_opt(
            "SELECT c.relkind = 'p' FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname = $2",
            &[&schema, &table],
        )
        .await
        .map_err(|e| DbError::query(format!("looking up table {schema}.{table}"), e))?;
    Ok(row.is_some_and(|r| r.get::<_, bool>(0)))
}

/// The name of the index of partition `child` that mirrors index `index` of
/// table `table`: the child's name with the index name's suffix after the
/// table name (`pt_a_idx` on `pt` → `pt_2024_a_idx` on `pt_2024`), kept within
/// 63 bytes by a hash of the full name when too long. Deterministic, so a rerun
/// finds what an interrupted run built.
pub(crate) fn child_index_name(index: &str, table: &str, child: &str) -> String {
    let suffix = match index.strip_prefix(table) {
        Some(rest) if rest.starts_with('_') && rest.len() > 1 => rest.to_string(),
        _ => format!("_{index}"),
    };
    let full = format!("{child}{suffix}");
    if full.len() <= MAX_IDENT {
        return full;
    }
    let hash = format!("_{:08x}", fnv1a32(full.as_bytes()));
    let mut keep = MAX_IDENT - hash.len();
    while !full.is_char_boundary(keep) {
        keep -= 1;
    }
    format!("{}{hash}", &full[..keep])
}

fn fnv1a32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

/// The partitions below `schema.table`, parents before their children.
pub(crate) async fn partition_tree(
    client: &tokio_postgres::Client,
    schema: &str,
    table: &str,
) -> Result<Vec<Partition>, DbError> {
    let rows = client
        .query(
            "SELECT c.oid::int8, n.nspname::text, c.relname::text, c.relkind::text, \
                    t.parentrelid::oid::int8 \
             FROM pg_partition_tree(format('%I.%I', $1::text, $2::text)::regclass) t \
             JOIN pg_class c ON c.oid = t.relid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE t.level > 0 ORDER BY t.level, n.nspname, c.relname",
            &[&schema, &table],
        )
        .await
        .map_err(|e| DbError::query(format!("listing the partitions of {schema}.{table}"), e))?;
    Ok(rows
        .iter()
        .map(|r| Partition {
            oid: r.get(0),
            schema: r.get(1),
            name: r.get(2),
            relkind: r.get(3),
            parent_oid: r.get(4),
        })
        .collect())
}

/// The indexes attached (directly or not) to `schema.index`, by table oid.
async fn attached(
    client: &tokio_postgres::Client,
    schema: &str,
    index: &str,
) -> Result<HashMap<i64, Attached>, DbError> {
    let rows = client
        .query(
            "SELECT i.indrelid::int8, n.nspname::text, c.relname::text, i.indisvalid \
             FROM pg_partition_tree(format('%I.%I', $1::text, $2::text)::regclass) t \
             JOIN pg_index i ON i.indexrelid = t.relid \
             JOIN pg_class c ON c.oid = t.relid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE t.level > 0",
            &[&schema, &index],
        )
        .await
        .map_err(|e| DbError::query(format!("listing the partitions of index {index}"), e))?;
    Ok(rows
        .iter()
        .map(|r| {
            (
                r.get(0),
                Attached {
                    schema: r.get(1),
                    name: r.get(2),
                    valid: r.get(3),
                },
            )
        })
        .collect())
}

/// `CREATE [UNIQUE] INDEX IF NOT EXISTS name ON ONLY schema.table …`, quoted by
/// the server.
async fn on_only_sql(sess: &Session, def: &IndexDef, name: &str) -> Result<String, DbError> {
    let row = sess
        .client
        .query_one(
            "SELECT quote_ident($1), format('%I.%I', $2::text, $3::text)",
            &[&name, &def.schema, &def.table],
        )
        .await
        .map_err(|e| DbError::query("quoting a name", e))?;
    let (name, table): (String, String) = (row.get(0), row.get(1));
    Ok(format!(
        "CREATE {}INDEX IF NOT EXISTS {name} ON ONLY {table} {}",
        if def.unique { "UNIQUE " } else { "" },
        def.body_sql()
    ))
}

/// The SQL a DBA runs by hand (a migration file) to build `def` as `name` on a
/// partitioned table the way `apply` does — `ON ONLY` the parent, each leaf
/// concurrently then attached, sub-partitioned partitions' indexes attached
/// after their leaves — and the statement that undoes it; `None` when the
/// table is not partitioned.
pub async fn partitioned_index_script(
    client: &tokio_postgres::Client,
    def: &IndexDef,
    name: &str,
) -> Result<Option<(Vec<String>, String)>, DbError> {
    if !is_partitioned(client, &def.schema, &def.table).await? {
        return Ok(None);
    }
    let q = |schema: &str, name: &str| format!("{}.{}", quote(schema), quote(name));
    let unique = if def.unique { "UNIQUE " } else { "" };
    let root = q(&def.schema, name);
    let mut up = vec![format!(
        "CREATE {unique}INDEX IF NOT EXISTS {} ON ONLY {} {}",
        quote(name),
        q(&def.schema, &def.table),
        def.body_sql()
    )];
    let tree = partition_tree(client, &def.schema, &def.table).await?;
    let mut index_of: HashMap<i64, String> = HashMap::new();
    index_of.insert(
        table_oid_of(client, &def.schema, &def.table).await?,
        root.clone(),
    );
    let mut later = Vec::new();
    for p in &tree {
        let child = child_index_name(name, &def.table, &p.name);
        let parent = index_of
            .get(&p.parent_oid)
            .cloned()
            .unwrap_or_else(|| root.clone());
        let child_q = q(&p.schema, &child);
        if p.relkind == "p" {
            up.push(format!(
                "CREATE {unique}INDEX IF NOT EXISTS {} ON ONLY {} {}",
                quote(&child),
                q(&p.schema, &p.name),
                def.body_sql()
            ));
            later.push(format!("ALTER INDEX {parent} ATTACH PARTITION {child_q}"));
        } else {
            up.push(
                def.on_table(&p.schema, &p.name)
                    .create_sql(&child, true, true),
            );
            up.push(format!("ALTER INDEX {parent} ATTACH PARTITION {child_q}"));
        }
        index_of.insert(p.oid, child_q);
    }
    up.extend(later.into_iter().rev());
    Ok(Some((up, format!("DROP INDEX IF EXISTS {root}"))))
}

async fn table_oid_of(
    client: &tokio_postgres::Client,
    schema: &str,
    table: &str,
) -> Result<i64, DbError> {
    client
        .query_one(
            "SELECT format('%I.%I', $1::text, $2::text)::regclass::oid::int8",
            &[&schema, &table],
        )
        .await
        .map(|r| r.get(0))
        .map_err(|e| DbError::query(format!("looking up table {schema}.{table}"), e))
}

/// The dry-run description of building `def` as `target` on a partitioned
/// table, from read-only look-ups.
pub(crate) async fn describe(
    sess: &Session,
    def: &IndexDef,
    target: &IndexTarget,
    state: &IndexState,
) -> Result<String, DbError> {
    let tree = partition_tree(&sess.client, &def.schema, &def.table).await?;
    if let Some(f) = tree.iter().find(|p| p.relkind == "f") {
        return Err(foreign(f));
    }
    let leaves: Vec<String> = tree
        .iter()
        .filter(|p| p.relkind != "p")
        .map(Partition::qualified)
        .collect();
    let inner = tree.iter().filter(|p| p.relkind == "p").count();
    let done = if *state == IndexState::Invalid {
        attached(&sess.client, &target.schema, &target.name)
            .await?
            .values()
            .filter(|a| a.valid)
            .count()
    } else {
        0
    };
    let first = if *state == IndexState::Invalid {
        format!(
            "would resume the interrupted build of the partitioned index {} ({done} of {} \
             partition indexes already attached)",
            target.shown(),
            tree.len()
        )
    } else {
        format!("would run: {}", on_only_sql(sess, def, &target.name).await?)
    };
    let inner_note = if inner > 0 {
        format!("; an ON ONLY index on each of the {inner} sub-partitioned partitions, attached")
    } else {
        String::new()
    };
    Ok(format!(
        "{first}{inner_note}; then on each of the {} leaf partitions ({}) CREATE INDEX \
         CONCURRENTLY and ALTER INDEX {} ATTACH PARTITION; the index becomes valid once all are \
         attached",
        leaves.len(),
        listed(&leaves),
        target.shown()
    ))
}

fn listed(names: &[String]) -> String {
    if names.len() <= LISTED {
        names.join(", ")
    } else {
        format!(
            "{}, and {} more",
            names[..LISTED].join(", "),
            names.len() - LISTED
        )
    }
}

fn foreign(p: &Partition) -> DbError {
    DbError::Query {
        context: format!("indexing partition {}", p.qualified()),
        message: format!(
            "partition {} is a foreign table, which cannot be indexed: the partitioned index \
             could never become valid",
            p.qualified()
        ),
        sqlstate: None,
    }
}

/// What the build did so far, for the messages.
#[derive(Default)]
struct Work {
    tries: Vec<TryRecord>,
    notes: Vec<String>,
    built: Vec<String>,
    kept: Vec<String>,
}

impl Work {
    fn absorb(&mut self, what: &str, r: &StepResult) {
        for t in r.tries.iter().filter(|t| t.error.is_some()) {
            let mut t = t.clone();
            t.attempt = self.tries.len() as u32 + 1;
            t.error = t.error.map(|e| format!("{what}: {e}"));
            self.tries.push(t);
        }
    }
}

/// Builds `def` as the partitioned index `target` (see the module
/// documentation); an index already valid at the start is `AlreadyThere`.
pub(crate) async fn run(
    sess: &mut Session,
    def: &IndexDef,
    target: &IndexTarget,
    progress: Progress<'_>,
) -> StepResult {
    let started = Instant::now();
    let mut work = Work::default();
    let result = build(sess, def, target, &mut work, progress).await;
    let shown = target.shown();
    let mut tries = std::mem::take(&mut work.tries);
    let outcome = match &result {
        Ok(StepOutcome::AlreadyThere) => StepOutcome::AlreadyThere,
        Ok(_) => StepOutcome::Done,
        Err(_) => StepOutcome::Failed,
    };
    let mut message = match result {
        Ok(StepOutcome::AlreadyThere) => format!("nothing to do: index {shown} already exists"),
        Ok(_) => {
            tries.push(TryRecord {
                attempt: tries.len() as u32 + 1,
                elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
                error: None,
                failure: None,
                cleanup: None,
            });
            let mut all = work.built.clone();
            all.extend(work.kept.iter().cloned());
            format!(
                "created partitioned index {shown} in {} on {} partitions: {}{}",
                fmt_duration(started.elapsed()),
                all.len(),
                listed(&all),
                if work.kept.is_empty() {
                    String::new()
                } else {
                    format!(
                        " ({} built now, {} already built by an earlier run)",
                        work.built.len(),
                        work.kept.len()
                    )
                }
            )
        }
        Err(why) => {
            let head = if sess.stop.requested() {
                format!("interrupted during {shown} (Ctrl-C): {why}")
            } else {
                format!("gave up on {shown}: {why}")
            };
            format!("{head}{}", leftover(sess, target, &work, progress).await)
        }
    };
    work.notes
        .iter()
        .for_each(|n| message.push_str(&format!("; {n}")));
    StepResult {
        outcome,
        tries,
        message,
    }
}

/// After a failure: what stays, and how to finish or remove it.
async fn leftover(
    sess: &mut Session,
    target: &IndexTarget,
    work: &Work,
    progress: Progress<'_>,
) -> String {
    if let Err(e) = sess.ensure_alive(progress).await {
        return format!("; could not check what was left behind: {e}");
    }
    match index_state(&sess.client, &target.schema, &target.name, &target.table).await {
        Ok(IndexState::Invalid) => format!(
            "; the INVALID partitioned index {} stays (queries do not use it) with the {} \
             partition indexes built so far: the next apply resumes the build, or remove it all \
             with DROP INDEX IF EXISTS {}",
            target.shown(),
            work.built.len() + work.kept.len(),
            target.shown()
        ),
        Ok(IndexState::Absent) => "; nothing was left behind".into(),
        Ok(_) => String::new(),
        Err(e) => format!("; could not check what was left behind: {}", short(&e)),
    }
}

async fn build(
    sess: &mut Session,
    def: &IndexDef,
    target: &IndexTarget,
    work: &mut Work,
    progress: Progress<'_>,
) -> Result<StepOutcome, String> {
    alive(sess, progress).await?;
    let state = index_state(&sess.client, &target.schema, &target.name, &target.table)
        .await
        .map_err(|e| short(&e))?;
    match state {
        IndexState::Other { what } => return Err(what),
        IndexState::Valid { .. } => return Ok(StepOutcome::AlreadyThere),
        IndexState::Invalid => work.notes.push(format!(
            "resumed the build of the INVALID partitioned index {} left by an earlier run",
            target.shown()
        )),
        IndexState::Absent => {
            let sql = on_only_sql(sess, def, &target.name)
                .await
                .map_err(|e| short(&e))?;
            retry_sql(sess, &target.shown(), &sql, &target.table, work, progress).await?;
        }
    }
    // A partition attached or created meanwhile is picked up by another pass.
    for _pass in 0..3 {
        let tree = partition_tree(&sess.client, &def.schema, &def.table)
            .await
            .map_err(|e| short(&e))?;
        if let Some(f) = tree.iter().find(|p| p.relkind == "f") {
            return Err(short(&foreign(f)));
        }
        let mut done = attached(&sess.client, &target.schema, &target.name)
            .await
            .map_err(|e| short(&e))?;
        let root_oid = table_oid(sess, &def.schema, &def.table).await?;
        let mut index_of: HashMap<i64, String> = HashMap::new();
        index_of.insert(
            root_oid,
            quoted_pair(sess, &target.schema, &target.name).await?,
        );
        for a in done.iter() {
            let q = quoted_pair(sess, &a.1.schema, &a.1.name).await?;
            index_of.insert(*a.0, q);
        }
        let mut changed = false;
        // Sub-partitioned partitions' indexes are attached to their parent's
        // only once their own leaves are attached (deepest first): attaching
        // a leaf that completes an intermediate index already attached above
        // validates the parent index under a lock on the parent table taken
        // after the partition's — the reverse of the application's readers,
        // which deadlocked with them.
        let mut intermediates: Vec<(String, String, IndexTarget, i64)> = Vec::new();
        for p in &tree {
            if sess.stop.requested() {
                return Err("stopped before the remaining partitions".into());
            }
            if let Some(a) = done.get(&p.oid) {
                if !a.valid && p.relkind != "p" {
                    return Err(format!(
                        "the index {}.{} attached for partition {} is INVALID: drop the \
                         partitioned index and apply again",
                        a.schema,
                        a.name,
                        p.qualified()
                    ));
                }
                let q = p.qualified();
                if p.relkind != "p" && !work.kept.contains(&q) && !work.built.contains(&q) {
                    work.kept.push(q);
                }
                continue;
            }
            let Some(parent_index) = index_of.get(&p.parent_oid).cloned() else {
                return Err(format!(
                    "the index of the parent of partition {} is missing",
                    p.qualified()
                ));
            };
            let name = child_index_name(&target.name, &def.table, &p.name);
            let child = IndexTarget {
                schema: p.schema.clone(),
                name: name.clone(),
                table: p.qualified(),
            };
            let child_def = def.on_table(&p.schema, &p.name);
            if p.relkind == "p" {
                alive(sess, progress).await?;
                match index_state(&sess.client, &child.schema, &child.name, &child.table)
                    .await
                    .map_err(|e| short(&e))?
                {
                    IndexState::Other { what } => return Err(what),
                    IndexState::Absent => {
                        let sql = on_only_sql(sess, &child_def, &name)
                            .await
                            .map_err(|e| short(&e))?;
                        retry_sql(sess, &child.shown(), &sql, &child.table, work, progress).await?;
                    }
                    IndexState::Valid { .. } | IndexState::Invalid => {}
                }
            } else {
                let ddl = child_def.create_sql(&name, true, true);
                let r = run_step(sess, &Op::Create { ddl }, &child, progress).await;
                work.absorb(&child.shown(), &r);
                if r.outcome != StepOutcome::Failed && r.message.contains("INVALID") {
                    work.notes
                        .push(format!("partition {}: {}", p.qualified(), r.message));
                }
                match r.outcome {
                    StepOutcome::Failed => {
                        return Err(format!("partition {}: {}", p.qualified(), r.message))
                    }
                    StepOutcome::AlreadyThere => work.kept.push(p.qualified()),
                    StepOutcome::Done => work.built.push(p.qualified()),
                }
                progress(ApplyEvent::Progress {
                    message: format!(
                        "partition {}: index {} {}",
                        p.qualified(),
                        child.shown(),
                        if r.outcome == StepOutcome::Done {
                            "built"
                        } else {
                            "already built"
                        }
                    ),
                });
            }
            let q = quoted_pair(sess, &child.schema, &child.name).await?;
            index_of.insert(p.oid, q.clone());
            if p.relkind == "p" {
                intermediates.push((parent_index, q, child, p.oid));
                continue;
            }
            let sql = format!("ALTER INDEX {parent_index} ATTACH PARTITION {q}");
            retry_sql(sess, &child.shown(), &sql, &child.table, work, progress).await?;
            done.insert(
                p.oid,
                Attached {
                    schema: child.schema.clone(),
                    name: child.name.clone(),
                    valid: true,
                },
            );
            changed = true;
        }
        // The tree lists parents before children: attach the deepest first.
        for (parent_index, q, child, oid) in intermediates.into_iter().rev() {
            if sess.stop.requested() {
                return Err("stopped before the remaining partitions".into());
            }
            let sql = format!("ALTER INDEX {parent_index} ATTACH PARTITION {q}");
            retry_sql(sess, &child.shown(), &sql, &child.table, work, progress).await?;
            done.insert(
                oid,
                Attached {
                    schema: child.schema.clone(),
                    name: child.name.clone(),
                    valid: true,
                },
            );
            changed = true;
        }
        alive(sess, progress).await?;
        match index_state(&sess.client, &target.schema, &target.name, &target.table)
            .await
            .map_err(|e| short(&e))?
        {
            IndexState::Valid { .. } => return Ok(StepOutcome::Done),
            IndexState::Invalid if changed => continue,
            IndexState::Invalid => break,
            IndexState::Absent => return Err(format!("{} disappeared meanwhile", target.shown())),
            IndexState::Other { what } => return Err(what),
        }
    }
    Err(format!(
        "{} is still INVALID after every partition's index was attached (is a partition being \
         attached or detached meanwhile?)",
        target.shown()
    ))
}

async fn alive(sess: &mut Session, progress: Progress<'_>) -> Result<(), String> {
    sess.ensure_alive(progress)
        .await
        .map_err(|e| format!("could not reconnect: {e}"))
}

async fn table_oid(sess: &Session, schema: &str, table: &str) -> Result<i64, String> {
    table_oid_of(&sess.client, schema, table)
        .await
        .map_err(|e| short(&e))
}

async fn quoted_pair(sess: &Session, schema: &str, name: &str) -> Result<String, String> {
    super::steps::quoted(sess, schema, name)
        .await
        .map_err(|e| short(&e))
}

/// Runs a short DDL statement (`… ON ONLY`, `ATTACH PARTITION`) under the
/// session's timeouts, retrying passing failures with backoff; a statement that
/// would wait longer than `lock_timeout` for an old transaction on `table` is
/// not started.
async fn retry_sql(
    sess: &mut Session,
    what: &str,
    sql: &str,
    table: &str,
    work: &mut Work,
    progress: Progress<'_>,
) -> Result<(), String> {
    let timing = sess.timing().clone();
    let total = timing.tries();
    let mut last = String::new();
    for attempt in 1..=total {
        if attempt > 1 {
            sleep(timing.backoff_before(attempt)).await;
        }
        if sess.stop.requested() {
            return Err(format!("stopped before: {sql}"));
        }
        alive(sess, progress).await?;
        let started = Instant::now();
        let (kind, error) = match preflight(sess, table).await {
            Some(why) => (FailureKind::LockTimeout, why),
            None => match sess.client.execute(sql, &[]).await {
                Ok(_) => return Ok(()),
                Err(e) => {
                    let e = DbError::query(what.to_string(), e);
                    let kind = FailureKind::of(&e);
                    if kind == FailureKind::ConnectionLost {
                        sess.mark_lost();
                    }
                    (
                        kind,
                        format!("{} after {}", short(&e), fmt_duration(started.elapsed())),
                    )
                }
            },
        };
        let retry = kind.retryable() && attempt < total && !sess.stop.requested();
        progress(ApplyEvent::TryFailed {
            what: what.to_string(),
            attempt,
            tries: total,
            error: error.clone(),
            cleanup: None,
            retry_in: retry.then(|| timing.backoff_before(attempt + 1)),
        });
        work.tries.push(TryRecord {
            attempt: work.tries.len() as u32 + 1,
            elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
            error: Some(format!("{what}: {error}")),
            failure: Some(kind.label().to_string()),
            cleanup: None,
        });
        last = error;
        if !retry {
            break;
        }
    }
    Err(format!("{sql}: {last}"))
}

/// Why a statement on `table` should not start: a transaction holding a lock
/// on it, open longer than `lock_timeout`.
async fn preflight(sess: &Session, table: &str) -> Option<String> {
    let lock_timeout = sess.timing().lock_timeout?;
    match blockers(&sess.client, table, lock_timeout, false).await {
        Ok(found) if !found.is_empty() => {
            let who: Vec<String> = found.iter().map(|b| b.describe()).collect();
            Some(format!(
                "not started: it would wait longer than lock_timeout ({}) for {}",
                fmt_duration(lock_timeout),
                who.join("; ")
            ))
        }
        _ => None,
    }
}

/// Loads every leaf index of the partitioned index `target` into
/// shared_buffers with `pg_prewarm`; the number of blocks read.
pub(crate) async fn prewarm(
    client: &tokio_postgres::Client,
    target: &IndexTarget,
) -> Result<(i64, usize), DbError> {
    let row = client
        .query_one(
            "SELECT coalesce(sum(pg_prewarm(t.relid)), 0)::int8, count(*)::int8 \
             FROM pg_partition_tree(format('%I.%I', $1::text, $2::text)::regclass) t \
             WHERE t.isleaf AND t.level > 0",
            &[&target.schema, &target.name],
        )
        .await
        .map_err(|e| DbError::query("pg_prewarm", e))?;
    Ok((row.get(0), row.get::<_, i64>(1) as usize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_names_follow_the_parent_index() {
        assert_eq!(
            child_index_name("pt_a_idx", "pt", "pt_2024"),
            "pt_2024_a_idx"
        );
        assert_eq!(
            child_index_name("my_idx", "pt", "pt_2024"),
            "pt_2024_my_idx"
        );
        assert_eq!(child_index_name("pt", "pt", "p1"), "p1_pt");
        let long_child = "c".repeat(60);
        let a = child_index_name("pt_created_at_customer_id_idx", "pt", &long_child);
        assert!(a.len() <= MAX_IDENT, "{a}");
        assert_eq!(
            a,
            child_index_name("pt_created_at_customer_id_idx", "pt", &long_child)
        );
        let b = child_index_name("pt_created_at_customer_id_idx", "pt", &"c".repeat(61));
        assert_ne!(a, b);
        let multibyte = "é".repeat(40);
        let m = child_index_name("pt_a_idx", "pt", &multibyte);
        assert!(m.len() <= MAX_IDENT && m.is_char_boundary(m.len()));
    }
}
