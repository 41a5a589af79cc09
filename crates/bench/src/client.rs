//! One benchmark client: its blocking connection, prepared statements, random
//! generator and local statistics. It runs on its own OS thread; the hot path
//! allocates nothing it can avoid and touches shared state only through relaxed
//! atomics of its own slot.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use hdrhistogram::Histogram;
use postgres_types::Type;
use rand::rngs::SmallRng;
use rand::SeedableRng;

use crate::generator::{Generator, WeightedPicker};
use crate::param::ParamValue;
use crate::wire::{Conn, ExecError, Statement};

/// Highest latency the histograms hold: one hour, in microseconds.
pub(crate) const MAX_LATENCY_US: u64 = 3_600_000_000;

/// A new latency histogram (microseconds, 3 significant digits).
pub(crate) fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("constant histogram bounds are valid")
}

/// How a step runs, with global step indices.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Mode {
    Once,
    Repeat(u32),
    ForEachRow(usize),
}

/// One statement of the compiled plan.
#[derive(Debug, Clone)]
pub(crate) struct PlanStep {
    pub name: String,
    pub sql: String,
    pub gens: Vec<Generator>,
    /// For `row:` generators: the index into the parent's kept columns.
    pub row_slot: Vec<Option<usize>>,
    pub mode: Mode,
    /// Columns to keep from this step's rows for dependent steps (empty: none).
    pub keep_cols: Vec<usize>,
    /// Parameter types as the server inferred them when the plan was compiled.
    pub param_types: Vec<Type>,
    /// Result column types, likewise.
    pub column_types: Vec<Type>,
}

/// The compiled script shared by all clients.
#[derive(Debug)]
pub(crate) struct Plan {
    pub steps: Vec<PlanStep>,
    /// Global step indices per top-level item.
    pub sequences: Vec<Vec<usize>>,
    pub picker: WeightedPicker,
    pub slow_threshold_us: u64,
}

/// Per-client counters read by the progress reporter.
#[derive(Debug, Default)]
#[repr(align(64))]
pub(crate) struct Slot {
    pub statements: AtomicU64,
    pub errors: AtomicU64,
}

/// State shared between the runner and all clients.
#[derive(Debug)]
pub(crate) struct Shared {
    pub stop: AtomicBool,
    /// Top-level picks still allowed in `--transactions` mode.
    pub remaining: Option<AtomicI64>,
    pub slots: Vec<Slot>,
}

/// When to measure and when to stop.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    pub measure_start: Instant,
    pub deadline: Option<Instant>,
}

/// Statistics of one step on one client.
#[derive(Debug)]
pub(crate) struct StepStats {
    pub hist: Histogram<u64>,
    pub calls: u64,
    /// Successful executions including warm-up (what the server counts).
    pub calls_all: u64,
    pub errors: u64,
    pub slow: u64,
    pub total_us: u64,
    pub max_us: u64,
    pub rows: u64,
}

/// What one client measured.
#[derive(Debug)]
pub(crate) struct ClientResult {
    pub steps: Vec<StepStats>,
    pub overall: Histogram<u64>,
    pub transactions: u64,
    /// (step, sqlstate) → (sample message, count), measured interval only.
    pub errors: HashMap<(usize, Option<String>), (String, u64)>,
    pub lost: Option<String>,
    pub end: Instant,
}

struct Exec<'a> {
    conn: &'a mut Conn,
    stmts: &'a [Statement],
    plan: &'a Plan,
    shared: &'a Shared,
    slot: &'a Slot,
    rng: SmallRng,
    params: Vec<Vec<ParamValue>>,
    kept: Vec<Vec<Vec<ParamValue>>>,
    res: ClientResult,
}

/// Runs one client until the deadline, the transaction budget, or a stop.
pub(crate) fn run_client(
    conn: &mut Conn,
    stmts: &[Statement],
    plan: &Plan,
    shared: &Shared,
    id: usize,
    seed: u64,
    timing: Timing,
) -> ClientResult {
    let steps = plan
        .steps
        .iter()
        .map(|_| StepStats {
            hist: new_histogram(),
            calls: 0,
            calls_all: 0,
            errors: 0,
            slow: 0,
            total_us: 0,
            max_us: 0,
            rows: 0,
        })
        .collect();
    let mut ex = Exec {
        conn,
        stmts,
        plan,
        shared,
        slot: &shared.slots[id],
        rng: SmallRng::seed_from_u64(seed ^ (id as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
        params: plan
            .steps
            .iter()
            .map(|s| vec![ParamValue::Null; s.gens.len()])
            .collect(),
        kept: plan.steps.iter().map(|_| Vec::new()).collect(),
        res: ClientResult {
            steps,
            overall: new_histogram(),
            transactions: 0,
            errors: HashMap::new(),
            lost: None,
            end: Instant::now(),
        },
    };
    let mut now = Instant::now();
    loop {
        if shared.stop.load(Relaxed) || timing.deadline.is_some_and(|d| now >= d) {
            break;
        }
        let measuring = now >= timing.measure_start;
        if measuring {
            if let Some(rem) = &shared.remaining {
                if rem.fetch_sub(1, Relaxed) <= 0 {
                    break;
                }
            }
        }
        let seq = plan.picker.pick(&mut ex.rng);
        match ex.run_sequence(seq, timing.measure_start) {
            Ok(t) => now = t,
            Err(reason) => {
                ex.res.lost = Some(reason);
                shared.stop.store(true, Relaxed);
                now = Instant::now();
                break;
            }
        }
        if measuring {
            ex.res.transactions += 1;
        }
    }
    ex.res.end = now;
    ex.res
}

impl Exec<'_> {
    /// Runs every step of one top-level item; returns the time it ended, or the
    /// reason the connection was lost.
    fn run_sequence(&mut self, seq: usize, measure_start: Instant) -> Result<Instant, String> {
        let plan = self.plan;
        let mut now = Instant::now();
        let steps = &plan.sequences[seq];
        if steps.len() > 1 {
            for &s in steps {
                self.kept[s].clear();
            }
        }
        for &s in steps {
            if self.shared.stop.load(Relaxed) {
                break;
            }
            match plan.steps[s].mode {
                Mode::Once => now = self.exec(s, None, measure_start)?,
                Mode::Repeat(n) => {
                    for _ in 0..n {
                        if self.shared.stop.load(Relaxed) {
                            break;
                        }
                        now = self.exec(s, None, measure_start)?;
                    }
                }
                Mode::ForEachRow(parent) => {
                    let rows = std::mem::take(&mut self.kept[parent]);
                    for row in &rows {
                        if self.shared.stop.load(Relaxed) {
                            break;
                        }
                        now = self.exec(s, Some(row), measure_start)?;
                    }
                    self.kept[parent] = rows;
                }
            }
        }
        Ok(now)
    }

    fn exec(
        &mut self,
        s: usize,
        row: Option<&Vec<ParamValue>>,
        measure_start: Instant,
    ) -> Result<Instant, String> {
        let plan = self.plan;
        let step = &plan.steps[s];
        let params = &mut self.params[s];
        for (i, g) in step.gens.iter().enumerate() {
            match (g, row, step.row_slot[i]) {
                (Generator::Row(_), Some(r), Some(k)) => {
                    params[i] = r.get(k).cloned().unwrap_or(ParamValue::Null)
                }
                _ => g.fill(&mut self.rng, &mut params[i]),
            }
        }
        let stmt = &self.stmts[s];
        let keep = if step.keep_cols.is_empty() {
            None
        } else {
            Some((step.keep_cols.as_slice(), &mut self.kept[s]))
        };
        let start = Instant::now();
        let outcome = self.conn.execute(stmt, params, keep);
        let end = Instant::now();
        let measuring = start >= measure_start;
        match outcome {
            Ok(rows) => {
                let st = &mut self.res.steps[s];
                st.calls_all += 1;
                if measuring {
                    let us = end.saturating_duration_since(start).as_micros() as u64;
                    st.calls += 1;
                    st.rows += rows;
                    st.total_us += us;
                    st.max_us = st.max_us.max(us);
                    if us > plan.slow_threshold_us {
                        st.slow += 1;
                    }
                    st.hist.saturating_record(us);
                    self.res.overall.saturating_record(us);
                    let c = &self.slot.statements;
                    c.store(c.load(Relaxed) + 1, Relaxed);
                }
            }
            Err(ExecError::Lost(reason)) => {
                let db = pgpilot_db::DbError::ConnectionLost {
                    context: "running the benchmark".into(),
                    reason,
                };
                return Err(format!("`{}`: {db}", step.name));
            }
            Err(e) => {
                if measuring {
                    self.res.steps[s].errors += 1;
                    let c = &self.slot.errors;
                    c.store(c.load(Relaxed) + 1, Relaxed);
                    let (message, sqlstate) = match e {
                        ExecError::Server { sqlstate, message } => (message, Some(sqlstate)),
                        ExecError::Encode(message) | ExecError::Lost(message) => (message, None),
                    };
                    let entry = self.res.errors.entry((s, sqlstate)).or_insert((message, 0));
                    entry.1 += 1;
                }
            }
        }
        Ok(end)
    }
}
