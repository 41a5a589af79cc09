//! [`WorkloadBuilder`]: the log reader's [`EventSink`] that aggregates events,
//! and [`workload_from_logs`], the whole pipeline.
//!
//! Order-independent statistics (per fingerprint entries, errors, plans) live in
//! an accumulator shared by all sinks that run on the same reader thread (the
//! reader runs one work item per thread at a time, so the lock is never
//! contended); this keeps memory proportional to distinct fingerprints × threads,
//! not to the number of chunks. Session state for N+1 detection is per sink and
//! stitched in input order at the end (see the `nplus1` module).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use pgpilot_logs::{Event, EventKind, EventSink, Logged, OtherKind, Phase, PlanFormat};
use pgpilot_sql::Normalizer;

use crate::hist::ms_to_us;
use crate::layout::placeholders;
use crate::nplus1::{sort_pairs, stitch, Pairs, Tracker};
use crate::sets::priority;
use crate::stats::{Caps, QueryStats, SamplePlan};
use crate::suggest::suggest;
use crate::workload::{ErrorGroup, SourceSummary, Workload};
use crate::{Fingerprint, NPlusOneOptions};

/// Aggregation options.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BuildOptions {
    /// Names per set, parameter samples and plans kept per fingerprint.
    pub caps: Caps,
    /// N+1 thresholds.
    pub n_plus_one: NPlusOneOptions,
    /// Error groups kept per thread; further distinct errors are counted in
    /// one "other errors" group (never dropped).
    pub max_error_groups: usize,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            caps: Caps::default(),
            n_plus_one: NPlusOneOptions::default(),
            max_error_groups: 1000,
        }
    }
}

type ErrorKey = (Option<String>, Option<Fingerprint>, Option<String>);

/// Per-thread accumulator.
#[derive(Debug, Default)]
struct Acc {
    normalizer: Normalizer,
    queries: pgpilot_sql::FingerprintMap<QueryStats>,
    errors: HashMap<ErrorKey, ErrorGroup>,
    unattributed_plans: u64,
}

const OTHER_ERRORS: &str = "(other errors: distinct error groups beyond the cap)";

/// Aggregates the events of one reader work item; see the module documentation.
#[derive(Debug)]
pub struct WorkloadBuilder {
    acc: Arc<Mutex<Acc>>,
    tracker: Tracker,
    opts: BuildOptions,
}

fn lock(m: &Mutex<Acc>) -> MutexGuard<'_, Acc> {
    // A panic elsewhere must not lose what was aggregated.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn session_key(r: &pgpilot_logs::LogRecord<'_>) -> Option<u64> {
    match (r.session_id, r.pid) {
        (Some(s), _) if !s.is_empty() => Some(xxhash_rust::xxh3::xxh3_64(s.as_bytes()) | (1 << 63)),
        (_, Some(p)) => Some(u64::from(p)),
        _ => None,
    }
}

fn session_label(r: &pgpilot_logs::LogRecord<'_>) -> Box<str> {
    match (r.session_id, r.pid) {
        (Some(s), _) if !s.is_empty() => s.into(),
        (_, Some(p)) => format!("pid {p}").into(),
        _ => "unknown".into(),
    }
}

impl WorkloadBuilder {
    /// A standalone builder with its own accumulator.
    pub fn new(opts: BuildOptions) -> Self {
        Self::with_acc(Arc::new(Mutex::new(Acc::default())), opts)
    }

    fn with_acc(acc: Arc<Mutex<Acc>>, opts: BuildOptions) -> Self {
        WorkloadBuilder {
            acc,
            tracker: Tracker::new(opts.n_plus_one),
            opts,
        }
    }

    /// Merges builders given in input order (as the reader returns its sinks)
    /// into a workload: statistics add up, N+1 sessions split across builders
    /// are stitched.
    pub fn finish_all(builders: Vec<WorkloadBuilder>, source: SourceSummary) -> Workload {
        let opts = builders
            .first()
            .map_or_else(BuildOptions::default, |b| b.opts);
        let mut w = Workload {
            source,
            caps: opts.caps,
            ..Workload::default()
        };
        let mut accs: Vec<Arc<Mutex<Acc>>> = Vec::new();
        let mut pairs = Pairs::new();
        let mut trackers = Vec::with_capacity(builders.len());
        for mut b in builders {
            if !accs.iter().any(|a| Arc::ptr_eq(a, &b.acc)) {
                accs.push(Arc::clone(&b.acc));
            }
            b.tracker.finish();
            for p in b.tracker.pairs.values() {
                match pairs.get_mut(&(p.parent, p.child)) {
                    Some(m) => m.merge(p),
                    None => {
                        pairs.insert((p.parent, p.child), p.clone());
                    }
                }
            }
            trackers.push(std::mem::take(&mut b.tracker.edges));
        }
        stitch(trackers.iter().flatten(), &opts.n_plus_one, &mut pairs);
        let mut errors: HashMap<ErrorKey, ErrorGroup> = HashMap::new();
        for a in accs {
            let mut acc = lock(&a);
            w.source.unattributed_plans += acc.unattributed_plans;
            for (fp, q) in acc.queries.drain() {
                match w.queries.get_mut(&fp) {
                    Some(m) => m.merge(&q, &opts.caps),
                    None => {
                        w.queries.insert(fp, q);
                    }
                }
            }
            for (k, e) in acc.errors.drain() {
                match errors.get_mut(&k) {
                    Some(m) => m.merge(&e),
                    None => {
                        errors.insert(k, e);
                    }
                }
            }
        }
        for q in w.queries.values_mut() {
            q.finish_samples(opts.caps.samples);
        }
        w.errors = errors.into_values().collect();
        w.sort_errors();
        let mut v: Vec<_> = pairs.into_values().collect();
        for p in &mut v {
            let text = |fp| {
                w.queries
                    .get(&fp)
                    .map(|q| q.query.clone())
                    .unwrap_or_default()
            };
            p.parent_query = text(p.parent);
            p.child_query = text(p.child);
            p.suggestion = suggest(&p.parent_query, &p.child_query);
        }
        sort_pairs(&mut v);
        w.n_plus_one = v;
        w
    }

    fn statement(
        &mut self,
        acc: &mut Acc,
        rec: &pgpilot_logs::LogRecord<'_>,
        st: &pgpilot_logs::Statement<'_>,
    ) {
        let a = acc.normalizer.analyze(&st.text);
        let fp = a.fingerprint;
        let q = acc.queries.entry(fp).or_insert_with(|| {
            QueryStats::new(fp, a.normalized.to_string(), a.parse_error.clone())
        });
        let dur_us = st.duration_ms.map(ms_to_us);
        match (st.phase, st.logged) {
            (Phase::Parse, _) => q.parse.add(dur_us.unwrap_or(0)),
            (Phase::Bind, _) => q.bind.add(dur_us.unwrap_or(0)),
            (_, Logged::Fetch) => q.fetch.add(dur_us.unwrap_or(0)),
            _ => {
                let exec_us = st.execution_time_ms().map(ms_to_us);
                if st.counts_as_execution() {
                    q.calls += 1;
                    q.seen_text(rec.time_us, &a.normalized);
                    let cap = self.opts.caps.names;
                    for (set, v) in [
                        (&mut q.databases, rec.db),
                        (&mut q.users, rec.user),
                        (&mut q.applications, rec.app),
                    ] {
                        if let Some(v) = v.filter(|v| !v.is_empty()) {
                            set.add(v, 1, cap);
                        }
                    }
                    if !st.params.is_empty() || !a.params.is_empty() {
                        let pr = priority(fp.0, rec.input, rec.offset, rec.time_us.unwrap_or(0));
                        // Numbered for this execution's text, stored by position
                        // (see the `layout` module).
                        q.offer_sample(pr, self.opts.caps.samples, || {
                            (sample_values(&a, &st.params), placeholders(&a.normalized))
                        });
                    }
                    if let Some(key) = session_key(rec) {
                        self.tracker.execution(
                            key,
                            || session_label(rec),
                            fp,
                            rec.time_us,
                            exec_us.unwrap_or(0),
                        );
                    }
                }
                if let Some(us) = exec_us {
                    q.record_time(us);
                }
            }
        }
    }

    fn error(&self, acc: &mut Acc, rec: &pgpilot_logs::LogRecord<'_>) {
        let (fp, query) = match rec.statement.as_deref() {
            Some(s) => {
                let a = acc.normalizer.analyze(s);
                (Some(a.fingerprint), Some(a.normalized))
            }
            None => (None, None),
        };
        let sqlstate = rec.sqlstate.map(str::to_owned);
        let mut key: ErrorKey = (sqlstate, fp, fp.is_none().then(|| rec.message.to_string()));
        if !acc.errors.contains_key(&key) && acc.errors.len() >= self.opts.max_error_groups {
            key = (None, None, Some(OTHER_ERRORS.to_owned()));
        }
        let severity = rec.severity.map_or("ERROR".to_owned(), |s| {
            format!("{s:?}").to_ascii_uppercase()
        });
        let g = acc.errors.entry(key.clone()).or_insert_with(|| ErrorGroup {
            sqlstate: key.0.clone(),
            severity,
            fingerprint: fp,
            query: query.map(|q| q.to_string()),
            message: key.2.clone().unwrap_or_else(|| rec.message.to_string()),
            count: 0,
            first_seen_us: None,
            last_seen_us: None,
        });
        g.count += 1;
        if let Some(t) = rec.time_us {
            if g.first_seen_us.map_or(true, |f| t < f) {
                g.message = key.2.clone().unwrap_or_else(|| rec.message.to_string());
            }
            g.first_seen_us = Some(g.first_seen_us.map_or(t, |f| f.min(t)));
            g.last_seen_us = Some(g.last_seen_us.map_or(t, |l| l.max(t)));
        }
    }

    fn plan(&self, acc: &mut Acc, rec: &pgpilot_logs::LogRecord<'_>, p: &pgpilot_logs::Plan<'_>) {
        let Some(text) = p.query_text.as_deref() else {
            acc.unattributed_plans += 1;
            return;
        };
        let a = acc.normalizer.analyze(text);
        let fp = a.fingerprint;
        let q = acc.queries.entry(fp).or_insert_with(|| {
            QueryStats::new(fp, a.normalized.to_string(), a.parse_error.clone())
        });
        if q.wants_plan(p.duration_ms, self.opts.caps.plans) {
            let format = match p.format {
                PlanFormat::Text => "text",
                PlanFormat::Json => "json",
            };
            q.offer_plan(
                SamplePlan {
                    duration_ms: p.duration_ms,
                    format: format.into(),
                    plan: p.plan_text.to_string(),
                    query: Some(text.to_owned()),
                    time_us: rec.time_us,
                },
                self.opts.caps.plans,
            );
        }
    }
}

impl EventSink for WorkloadBuilder {
    fn event(&mut self, ev: Event<'_>) {
        let acc = Arc::clone(&self.acc);
        let mut acc = lock(&acc);
        match &ev.kind {
            EventKind::Statement(st) => self.statement(&mut acc, &ev.record, st),
            EventKind::Error => self.error(&mut acc, &ev.record),
            EventKind::Plan(p) => self.plan(&mut acc, &ev.record, p),
            EventKind::Other(k @ (OtherKind::Connection | OtherKind::Disconnection)) => {
                if let Some(key) = session_key(&ev.record) {
                    let start = *k == OtherKind::Connection;
                    self.tracker.boundary(
                        key,
                        || session_label(&ev.record),
                        start,
                        ev.record.time_us,
                    );
                }
            }
            EventKind::Other(_) => {}
        }
    }
}

/// The values of `$1..$n` of the execution's normalized text: bound values
/// first, then the literals the normalizer numbered after them; the bound ones
/// alone when the two do not line up (the rest is unknown).
fn sample_values(
    a: &pgpilot_sql::Analysis,
    bound: &[Option<std::borrow::Cow<'_, str>>],
) -> Vec<Option<String>> {
    let bound: Vec<Option<String>> = bound
        .iter()
        .map(|p| p.as_ref().map(|c| c.to_string()))
        .collect();
    a.full_params(&bound).unwrap_or_else(|| {
        if bound.is_empty() {
            // The scanner gives the NULL keyword as `null`: an SQL NULL.
            a.params
                .iter()
                .map(|p| (p != "null").then(|| p.clone()))
                .collect()
        } else {
            bound
        }
    })
}

/// Reads logs with `pgpilot-logs` and aggregates them: one builder per reader
/// work item, one accumulator (and normalizer cache) per reader thread.
pub fn workload_from_logs(
    sources: &[PathBuf],
    log_opts: &pgpilot_logs::Options,
    opts: &BuildOptions,
) -> (Workload, pgpilot_logs::Summary) {
    let registry: Mutex<Vec<(std::thread::ThreadId, Arc<Mutex<Acc>>)>> = Mutex::new(Vec::new());
    let make = || {
        let id = std::thread::current().id();
        let mut reg = registry.lock().unwrap_or_else(|p| p.into_inner());
        let acc = match reg.iter().find(|(t, _)| *t == id) {
            Some((_, a)) => Arc::clone(a),
            None => {
                let a = Arc::new(Mutex::new(Acc::default()));
                reg.push((id, Arc::clone(&a)));
                a
            }
        };
        WorkloadBuilder::with_acc(acc, *opts)
    };
    let (sinks, summary) = pgpilot_logs::for_each_event(sources, log_opts, make);
    let w = WorkloadBuilder::finish_all(sinks, SourceSummary::from_logs(&summary));
    (w, summary)
}

#[cfg(test)]
#[path = "builder_tests.rs"]
mod tests;
