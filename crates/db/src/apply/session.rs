//! The dedicated connection `apply` and `rollback` work on: its timeouts, the
//! advisory lock that keeps two runs from racing (re-taken after a reconnect),
//! the catalog look-ups the steps need, and the classification of failures into
//! "retry" and "give up".

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_postgres::{CancelToken, Client};

use super::{ApplyError, ApplyEvent, Progress};
use crate::conn::ConnSpec;
use crate::error::DbError;

/// Advisory lock key every `apply` and `rollback` takes (per database): the
/// 64-bit FNV-1a hash of `"pgpilot.apply"`.
pub const APPLY_LOCK_KEY: i64 = fnv1a64(b"pgpilot.apply") as i64;

const fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    h
}

/// Ctrl-C for a running apply or rollback: once requested, the statement
/// running on the session's connection is cancelled and no further try starts.
#[derive(Clone, Default)]
pub(crate) struct StopSignal(Arc<StopState>);

#[derive(Default)]
struct StopState {
    requested: AtomicBool,
    cancel: Mutex<Option<CancelToken>>,
}

impl StopSignal {
    /// Whether a stop was requested.
    pub fn requested(&self) -> bool {
        self.0.requested.load(Ordering::SeqCst)
    }

    /// Requests the stop and cancels the statement running, if any.
    pub async fn request(&self) {
        self.0.requested.store(true, Ordering::SeqCst);
        let token = self.0.cancel.lock().ok().and_then(|t| t.clone());
        if let Some(token) = token {
            if let Err(e) = token.cancel_query(tokio_postgres::NoTls).await {
                tracing::warn!(error = %e, "could not cancel the running statement");
            }
        }
    }

    /// The connection whose statements a stop cancels.
    fn watch(&self, client: &Client) {
        if let Ok(mut t) = self.0.cancel.lock() {
            *t = Some(client.cancel_token());
        }
    }
}

/// Timeouts, retries and lock waiting shared by apply and rollback.
#[derive(Debug, Clone)]
pub(crate) struct Timing {
    pub lock_timeout: Option<Duration>,
    pub statement_timeout: Option<Duration>,
    pub max_retries: u32,
    pub backoff: Duration,
    pub wait_for_lock: Duration,
}

impl Timing {
    /// The wait before try `attempt` (2, 3, …): backoff, doubled each time.
    pub fn backoff_before(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(2).min(16);
        self.backoff.saturating_mul(1u32 << doublings)
    }

    pub fn tries(&self) -> u32 {
        self.max_retries.saturating_add(1)
    }
}

/// The apply connection.
pub(crate) struct Session {
    spec: ConnSpec,
    pub client: Client,
    timing: Timing,
    locked: bool,
    lost: bool,
    /// Ctrl-C: cancels the running statement and stops retries.
    pub stop: StopSignal,
}

fn ms(d: Option<Duration>) -> u128 {
    d.map(|d| d.as_millis().max(1)).unwrap_or(0)
}

impl Session {
    /// Connects (as `application_name = pgpilot apply`) and sets the timeouts.
    pub async fn open(spec: &ConnSpec, timing: Timing) -> Result<Self, DbError> {
        let spec = spec.with_application_name("pgpilot apply");
        let client = spec.connect().await?;
        let stop = StopSignal::default();
        stop.watch(&client);
        let s = Session {
            spec,
            client,
            timing,
            locked: false,
            lost: false,
            stop,
        };
        s.set_timeouts().await?;
        Ok(s)
    }

    pub fn timing(&self) -> &Timing {
        &self.timing
    }

    async fn set_timeouts(&self) -> Result<(), DbError> {
        let sql = format!(
            "SET lock_timeout = '{}ms'; SET statement_timeout = '{}ms'; \
             SET idle_in_transaction_session_timeout = 0",
            ms(self.timing.lock_timeout),
            ms(self.timing.statement_timeout)
        );
        self.client
            .batch_execute(&sql)
            .await
            .map_err(|e| DbError::query("setting lock_timeout and statement_timeout", e))
    }

    /// Refuses a standby (nothing can be changed there).
    pub async fn refuse_standby(&self) -> Result<(), ApplyError> {
        let row = self
            .client
            .query_one("SELECT pg_is_in_recovery()", &[])
            .await
            .map_err(|e| DbError::query("checking for a standby", e))?;
        if row.get::<_, bool>(0) {
            return Err(ApplyError::Standby {
                target: self.spec.target(),
            });
        }
        Ok(())
    }

    /// Takes the advisory lock, polling up to `wait_for_lock` while another
    /// session holds it. Returns whether it had to wait.
    pub async fn acquire_lock(&mut self, progress: Progress<'_>) -> Result<bool, ApplyError> {
        let started = Instant::now();
        let mut announced = false;
        loop {
            let row = self
                .client
                .query_one("SELECT pg_try_advisory_lock($1)", &[&APPLY_LOCK_KEY])
                .await
                .map_err(|e| DbError::query("taking the pgpilot advisory lock", e))?;
            if row.get::<_, bool>(0) {
                self.locked = true;
                if announced {
                    progress(ApplyEvent::LockAcquired {
                        waited: started.elapsed(),
                    });
                }
                return Ok(announced);
            }
            let holder = self.lock_holder().await?;
            if started.elapsed() >= self.timing.wait_for_lock {
                return Err(ApplyError::Busy {
                    pid: holder,
                    waited: started.elapsed(),
                });
            }
            if !announced {
                progress(ApplyEvent::WaitingForLock {
                    holder_pid: holder,
                    up_to: self.timing.wait_for_lock,
                });
                announced = true;
            }
            let left = self.timing.wait_for_lock.saturating_sub(started.elapsed());
            tokio::time::sleep(left.min(Duration::from_millis(100))).await;
        }
    }

    /// The backend holding the advisory lock in this database, if any.
    async fn lock_holder(&self) -> Result<Option<i32>, DbError> {
        let key = APPLY_LOCK_KEY as u64;
        let (high, low) = ((key >> 32) as i64, (key & 0xffff_ffff) as i64);
        let row = self
            .client
            .query_opt(
                "SELECT l.pid FROM pg_locks l \
                 WHERE l.locktype = 'advisory' AND l.granted \
                   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
                   AND l.classid::int8 = $1 AND l.objid::int8 = $2 AND l.objsubid = 1 \
                 LIMIT 1",
                &[&high, &low],
            )
            .await
            .map_err(|e| DbError::query("looking for the holder of the pgpilot lock", e))?;
        // NULL when a prepared transaction holds it.
        Ok(row.and_then(|r| r.get::<_, Option<i32>>(0)))
    }

    /// Releases the advisory lock (best effort: a lost connection released it).
    pub async fn release_lock(&mut self) {
        if !self.locked || self.lost || self.client.is_closed() {
            return;
        }
        if let Err(e) = self
            .client
            .query_one("SELECT pg_advisory_unlock($1)", &[&APPLY_LOCK_KEY])
            .await
        {
            tracing::warn!("releasing the pgpilot advisory lock: {e}");
        }
        self.locked = false;
    }

    /// Notes that the connection is gone (a terminated backend), even if the
    /// client has not noticed yet: the next [`Session::ensure_alive`] reconnects.
    pub fn mark_lost(&mut self) {
        self.lost = true;
    }

    /// Reconnects when the connection was lost (a terminated backend, a
    /// restart), restoring the timeouts and the advisory lock.
    pub async fn ensure_alive(&mut self, progress: Progress<'_>) -> Result<(), ApplyError> {
        if !self.lost && !self.client.is_closed() {
            return Ok(());
        }
        let client = self.spec.connect().await?;
        self.stop.watch(&client);
        self.client = client;
        self.lost = false;
        self.set_timeouts().await?;
        progress(ApplyEvent::Reconnected);
        if self.locked {
            self.locked = false;
            self.acquire_lock(progress).await?;
        }
        Ok(())
    }
}

/// What is in the catalog under an index's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum IndexState {
    /// Nothing.
    Absent,
    /// A valid index on the expected table.
    Valid {
        /// `pg_get_indexdef`.
        definition: String,
    },
    /// An INVALID index on the expected table (a failed or running concurrent
    /// build, or an interrupted concurrent drop).
    Invalid,
    /// Something else: another table's index, a table, a view, ….
    Other {
        /// In words.
        what: String,
    },
}

/// Looks up `schema.name`; `table` (`schema.table`) is the table it must be on.
pub(crate) async fn index_state(
    client: &Client,
    schema: &str,
    name: &str,
    table: &str,
) -> Result<IndexState, DbError> {
    let row = client
        .query_opt(
            "SELECT c.relkind::text, i.indisvalid, \
                    coalesce(tn.nspname || '.' || t.relname, ''), \
                    coalesce(pg_get_indexdef(c.oid), '') \
             FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             LEFT JOIN pg_index i ON i.indexrelid = c.oid \
             LEFT JOIN pg_class t ON t.oid = i.indrelid \
             LEFT JOIN pg_namespace tn ON tn.oid = t.relnamespace \
             WHERE n.nspname = $1 AND c.relname = $2",
            &[&schema, &name],
        )
        .await
        .map_err(|e| DbError::query(format!("looking up index {schema}.{name}"), e))?;
    let Some(row) = row else {
        return Ok(IndexState::Absent);
    };
    let relkind: String = row.get(0);
    let valid: Option<bool> = row.get(1);
    let on: String = row.get(2);
    if !(relkind == "i" || relkind == "I") {
        let kind = match relkind.as_str() {
            "r" | "p" => "a table",
            "v" => "a view",
            "m" => "a materialized view",
            "S" => "a sequence",
            _ => "a relation",
        };
        return Ok(IndexState::Other {
            what: format!("{schema}.{name} is {kind}, not an index"),
        });
    }
    if on != table {
        return Ok(IndexState::Other {
            what: format!("an index named {schema}.{name} already exists on another table ({on})"),
        });
    }
    Ok(if valid.unwrap_or(false) {
        IndexState::Valid {
            definition: row.get(3),
        }
    } else {
        IndexState::Invalid
    })
}

/// A session that may make a concurrent DDL statement wait.
#[derive(Debug, Clone)]
pub(crate) struct Blocker {
    pub pid: i32,
    pub state: String,
    pub age: Duration,
    pub holds_table_lock: bool,
}

impl Blocker {
    pub fn describe(&self) -> String {
        let what = if self.holds_table_lock {
            "holding a lock on the table"
        } else {
            "holding an old snapshot"
        };
        let state = if self.state.is_empty() {
            String::new()
        } else {
            format!(", {}", self.state)
        };
        format!(
            "pid {} ({what}, transaction open for {}{state})",
            self.pid,
            super::fmt_duration(self.age)
        )
    }
}

/// Sessions of this database whose transaction started at least `min_age` ago
/// and that hold a lock on `table` (or, with `snapshots`, an old snapshot, which
/// a concurrent index build waits for too). Oldest first, at most three.
/// Sessions the user may not see (no `pg_read_all_stats`) are not found.
pub(crate) async fn blockers(
    client: &Client,
    table: &str,
    min_age: Duration,
    snapshots: bool,
) -> Result<Vec<Blocker>, DbError> {
    let rows = client
        .query(
            "WITH t AS (SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                        WHERE n.nspname || '.' || c.relname = $1) \
             SELECT a.pid, coalesce(a.state, ''), \
                    extract(epoch FROM now() - a.xact_start)::float8, \
                    EXISTS (SELECT 1 FROM pg_locks l, t WHERE l.pid = a.pid \
                            AND l.locktype = 'relation' AND l.relation = t.oid) AS holds \
             FROM pg_stat_activity a \
             WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() \
               AND a.backend_type = 'client backend' AND a.xact_start IS NOT NULL \
               AND a.xact_start <= now() - make_interval(secs => $2) \
               AND (EXISTS (SELECT 1 FROM pg_locks l, t WHERE l.pid = a.pid \
                            AND l.locktype = 'relation' AND l.relation = t.oid) \
                    OR ($3 AND a.backend_xmin IS NOT NULL)) \
             ORDER BY a.xact_start LIMIT 3",
            &[&table, &min_age.as_secs_f64(), &snapshots],
        )
        .await
        .map_err(|e| DbError::query(format!("looking for sessions blocking {table}"), e))?;
    Ok(rows
        .iter()
        .map(|r| Blocker {
            pid: r.get(0),
            state: r.get(1),
            age: Duration::from_secs_f64(r.get::<_, f64>(2).max(0.0)),
            holds_table_lock: r.get(3),
        })
        .collect())
}

/// How a statement failed, for the retry decision and the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FailureKind {
    LockTimeout,
    StatementTimeout,
    Cancelled,
    Deadlock,
    Serialization,
    UniqueViolation,
    ConnectionLost,
    Transient,
    Other,
}

impl FailureKind {
    pub fn of(err: &DbError) -> Self {
        if matches!(
            err,
            DbError::ConnectionLost { .. } | DbError::Unreachable { .. }
        ) {
            return FailureKind::ConnectionLost;
        }
        let message = match err {
            DbError::Query { message, .. } => message.as_str(),
            _ => "",
        };
        match err.sqlstate() {
            Some("55P03") => FailureKind::LockTimeout,
            Some("57014") if message.contains("statement timeout") => FailureKind::StatementTimeout,
            Some("57014") => FailureKind::Cancelled,
            Some("40P01") => FailureKind::Deadlock,
            Some("40001") => FailureKind::Serialization,
            Some("23505") => FailureKind::UniqueViolation,
            Some(s) if s.starts_with("57P") || s.starts_with("08") => FailureKind::ConnectionLost,
            Some("53200" | "53300" | "55006") => FailureKind::Transient,
            _ => FailureKind::Other,
        }
    }

    /// Whether trying again may succeed.
    pub fn retryable(self) -> bool {
        !matches!(self, FailureKind::UniqueViolation | FailureKind::Other)
    }

    pub fn label(self) -> &'static str {
        match self {
            FailureKind::LockTimeout => "lock timeout",
            FailureKind::StatementTimeout => "statement timeout",
            FailureKind::Cancelled => "cancelled",
            FailureKind::Deadlock => "deadlock",
            FailureKind::Serialization => "serialization failure",
            FailureKind::UniqueViolation => "unique violation",
            FailureKind::ConnectionLost => "connection lost",
            FailureKind::Transient => "server busy",
            FailureKind::Other => "error",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles() {
        let t = Timing {
            lock_timeout: None,
            statement_timeout: None,
            max_retries: 3,
            backoff: Duration::from_secs(1),
            wait_for_lock: Duration::ZERO,
        };
        let waits: Vec<u64> = (2..=4).map(|a| t.backoff_before(a).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4]);
        assert_eq!(t.tries(), 4);
    }

    #[test]
    fn lock_key_is_stable() {
        assert_eq!(APPLY_LOCK_KEY, fnv1a64(b"pgpilot.apply") as i64);
        assert_ne!(APPLY_LOCK_KEY, 0);
    }
}
