//! N+1 detection: per session, a run of ≥ `min_burst` executions of one
//! fingerprint, each within `window_ms` of the previous one, that starts within
//! `window_ms` after a "parent" statement of another fingerprint.
//!
//! Sessions are keyed by `%c` (session id) when the log has it, else by pid.
//! A [`Tracker`] runs per reader sink and keeps O(1) state per live session
//! (the current run and the statement before it). Sessions end on
//! disconnection / connection events and are evicted after `2 × window_ms` of
//! idleness. Because the reader splits a session across sinks at chunk edges,
//! the first run of a session that may continue an earlier chunk (it appears
//! within `2 × window_ms` of the chunk's first event and no connection was
//! seen) is not judged locally but exported as a head [`Edge`]; the open run at
//! the end of the chunk is exported as a tail. [`stitch`] replays the edges of
//! all sinks in input order, joining each tail with the next head of the same
//! session, so chunked and sequential reads report the same bursts.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::suggest::Suggestion;
use crate::Fingerprint;

/// Detection thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct NPlusOneOptions {
    /// Minimum executions in a burst (default 5).
    pub min_burst: u64,
    /// Maximum gap between consecutive executions, and between the parent and
    /// the first execution, in ms (default 1000).
    pub window_ms: f64,
}

impl Default for NPlusOneOptions {
    fn default() -> Self {
        NPlusOneOptions {
            min_burst: 5,
            window_ms: 1000.0,
        }
    }
}

/// One example burst.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BurstExample {
    /// Session (`%c`) or `pid N`.
    pub session: String,
    /// Time of the first repeated execution (µs since the epoch).
    pub start_us: i64,
    /// Executions in the burst.
    pub size: u64,
    /// From the first to the last execution (ms).
    pub span_ms: f64,
}

impl BurstExample {
    fn better_than(&self, o: &BurstExample) -> bool {
        (
            o.size,
            std::cmp::Reverse(o.start_us),
            std::cmp::Reverse(&o.session),
        ) < (
            self.size,
            std::cmp::Reverse(self.start_us),
            std::cmp::Reverse(&self.session),
        )
    }
}

/// A parent → repeated child pattern.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NPlusOne {
    /// The statement before each burst.
    pub parent: Fingerprint,
    /// The repeated statement.
    pub child: Fingerprint,
    /// Normalized parent text (filled when the workload is finished).
    #[serde(default)]
    pub parent_query: String,
    /// Normalized child text.
    #[serde(default)]
    pub child_query: String,
    /// How many bursts.
    pub bursts: u64,
    /// Child executions in those bursts (round trips).
    pub round_trips: u64,
    /// Execution time of those child executions (µs).
    pub child_time_us: u64,
    /// Largest burst.
    pub max_burst: u64,
    /// The largest burst (ties: the earliest).
    pub example: BurstExample,
    /// The single query that would replace the burst, when one can be derived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suggestion: Option<Suggestion>,
}

impl NPlusOne {
    /// Mean executions per burst.
    pub fn mean_burst(&self) -> f64 {
        if self.bursts == 0 {
            0.0
        } else {
            self.round_trips as f64 / self.bursts as f64
        }
    }

    /// Adds another aggregate of the same pair.
    pub fn merge(&mut self, o: &NPlusOne) {
        self.bursts += o.bursts;
        self.round_trips += o.round_trips;
        self.child_time_us += o.child_time_us;
        self.max_burst = self.max_burst.max(o.max_burst);
        if o.example.better_than(&self.example) {
            self.example = o.example.clone();
        }
        if self.suggestion.is_none() {
            self.suggestion.clone_from(&o.suggestion);
        }
        if self.parent_query.is_empty() {
            self.parent_query.clone_from(&o.parent_query);
        }
        if self.child_query.is_empty() {
            self.child_query.clone_from(&o.child_query);
        }
    }
}

/// Most round trips first (ties: by fingerprints).
pub(crate) fn sort_pairs(v: &mut [NPlusOne]) {
    v.sort_by(|a, b| {
        b.round_trips
            .cmp(&a.round_trips)
            .then_with(|| (a.parent, a.child).cmp(&(b.parent, b.child)))
    });
}

/// A run of consecutive executions of one fingerprint in one session.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Run {
    fp: Fingerprint,
    count: u64,
    first_us: i64,
    last_us: i64,
    exec_us: u64,
}

/// The last statement before a run: (fingerprint, time).
type Stmt = (Fingerprint, i64);

#[derive(Debug)]
struct Live {
    label: Box<str>,
    /// The current run may continue a previous chunk: judge it in [`stitch`].
    head: bool,
    prev: Option<Stmt>,
    cur: Option<Run>,
    last_us: i64,
}

/// What a sink could not decide alone, in order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Edge {
    /// The first run of a session that may continue an earlier chunk;
    /// `closed` when the session went on (or ended) after it in this chunk.
    Head {
        key: u64,
        label: Box<str>,
        run: Run,
        closed: bool,
    },
    /// The run still open at the end of the chunk and the statement before it.
    Tail {
        key: u64,
        label: Box<str>,
        prev: Option<Stmt>,
        run: Run,
    },
}

/// Pairs by (parent, child).
pub(crate) type Pairs = HashMap<(Fingerprint, Fingerprint), NPlusOne>;

/// Per-sink session tracker.
#[derive(Debug, Default)]
pub(crate) struct Tracker {
    opts: NPlusOneOptions,
    sessions: HashMap<u64, Live>,
    pub(crate) edges: Vec<Edge>,
    pub(crate) pairs: Pairs,
    t0: Option<i64>,
    now: i64,
    last_sweep: i64,
}

fn window_us(o: &NPlusOneOptions) -> i64 {
    (o.window_ms * 1000.0) as i64
}

/// Judges a finished run: a burst when long enough and right after a parent.
fn judge(pairs: &mut Pairs, o: &NPlusOneOptions, run: &Run, parent: Option<Stmt>, label: &str) {
    let Some((pfp, pt)) = parent else { return };
    if run.count < o.min_burst || pfp == run.fp || run.first_us - pt > window_us(o) {
        return;
    }
    let ex = BurstExample {
        session: label.to_owned(),
        start_us: run.first_us,
        size: run.count,
        span_ms: (run.last_us - run.first_us) as f64 / 1000.0,
    };
    let one = NPlusOne {
        parent: pfp,
        child: run.fp,
        parent_query: String::new(),
        child_query: String::new(),
        bursts: 1,
        round_trips: run.count,
        child_time_us: run.exec_us,
        max_burst: run.count,
        example: ex,
        suggestion: None,
    };
    match pairs.get_mut(&(pfp, run.fp)) {
        Some(p) => p.merge(&one),
        None => {
            pairs.insert((pfp, run.fp), one);
        }
    }
}

impl Tracker {
    pub(crate) fn new(opts: NPlusOneOptions) -> Self {
        Tracker {
            opts,
            ..Tracker::default()
        }
    }

    /// Live sessions (for tests).
    #[cfg(test)]
    pub(crate) fn live(&self) -> usize {
        self.sessions.len()
    }

    /// Closes the current run of a session (judged now, or exported as a head).
    fn close(&mut self, key: u64, s: &mut Live) {
        if let Some(r) = s.cur.take() {
            if s.head {
                self.edges.push(Edge::Head {
                    key,
                    label: s.label.clone(),
                    run: r,
                    closed: true,
                });
                s.head = false;
            } else {
                judge(&mut self.pairs, &self.opts, &r, s.prev, &s.label);
            }
            s.prev = Some((r.fp, r.last_us));
        }
    }

    /// One execution of `fp` taking `exec_us` in session `key`.
    pub(crate) fn execution(
        &mut self,
        key: u64,
        label: impl FnOnce() -> Box<str>,
        fp: Fingerprint,
        t: Option<i64>,
        exec_us: u64,
    ) {
        let t = t.unwrap_or(self.now);
        let t0 = *self.t0.get_or_insert(t);
        if self.sessions.is_empty() && self.last_sweep == 0 {
            self.last_sweep = t;
        }
        self.now = self.now.max(t);
        let w = window_us(&self.opts);
        let mut s = match self.sessions.remove(&key) {
            Some(s) => s,
            None => Live {
                label: label(),
                head: t - t0 <= 2 * w,
                prev: None,
                cur: None,
                last_us: t,
            },
        };
        match s.cur.as_mut() {
            Some(r) if r.fp == fp && t - r.last_us <= w => {
                r.count += 1;
                r.last_us = t;
                r.exec_us += exec_us;
            }
            _ => {
                self.close(key, &mut s);
                s.cur = Some(Run {
                    fp,
                    count: 1,
                    first_us: t,
                    last_us: t,
                    exec_us,
                });
            }
        }
        s.last_us = t;
        self.sessions.insert(key, s);
        if self.now - self.last_sweep >= w {
            self.sweep();
        }
    }

    /// The session ended (disconnection) or a new one starts under this key
    /// (connection): judge what is open and forget it. `start` marks the key as
    /// a fresh session that continues nothing.
    pub(crate) fn boundary(
        &mut self,
        key: u64,
        label: impl FnOnce() -> Box<str>,
        start: bool,
        t: Option<i64>,
    ) {
        if let Some(mut s) = self.sessions.remove(&key) {
            self.close(key, &mut s);
        }
        if start {
            let t = t.unwrap_or(self.now);
            self.t0.get_or_insert(t);
            self.sessions.insert(
                key,
                Live {
                    label: label(),
                    head: false,
                    prev: None,
                    cur: None,
                    last_us: t,
                },
            );
        }
    }

    /// Ends sessions idle for more than 2 × window.
    fn sweep(&mut self) {
        self.last_sweep = self.now;
        let limit = self.now - 2 * window_us(&self.opts);
        let mut idle: Vec<u64> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.last_us < limit)
            .map(|(k, _)| *k)
            .collect();
        idle.sort_unstable();
        for k in idle {
            if let Some(mut s) = self.sessions.remove(&k) {
                self.close(k, &mut s);
            }
        }
    }

    /// End of the sink: exports open runs as edges.
    pub(crate) fn finish(&mut self) {
        let mut keys: Vec<u64> = self.sessions.keys().copied().collect();
        keys.sort_unstable();
        for key in keys {
            let Some(s) = self.sessions.remove(&key) else {
                continue;
            };
            let Some(run) = s.cur else { continue };
            self.edges.push(if s.head {
                Edge::Head {
                    key,
                    label: s.label,
                    run,
                    closed: false,
                }
            } else {
                Edge::Tail {
                    key,
                    label: s.label,
                    prev: s.prev,
                    run,
                }
            });
        }
    }
}

/// Replays the edges of all sinks (in input order) and adds the bursts they
/// complete to `pairs`.
pub(crate) fn stitch<'a>(
    edges: impl Iterator<Item = &'a Edge>,
    opts: &NPlusOneOptions,
    pairs: &mut Pairs,
) {
    let w = window_us(opts);
    let mut carry: HashMap<u64, (Option<Stmt>, Run, Box<str>)> = HashMap::new();
    for e in edges {
        match e {
            Edge::Head {
                key,
                label,
                run,
                closed,
            } => {
                let (parent, merged) = match carry.remove(key) {
                    Some((cprev, c, _)) if c.fp == run.fp && run.first_us - c.last_us <= w => (
                        cprev,
                        Run {
                            fp: c.fp,
                            count: c.count + run.count,
                            first_us: c.first_us,
                            last_us: run.last_us,
                            exec_us: c.exec_us + run.exec_us,
                        },
                    ),
                    Some((cprev, c, clabel)) => {
                        judge(pairs, opts, &c, cprev, &clabel);
                        (Some((c.fp, c.last_us)), *run)
                    }
                    None => (None, *run),
                };
                if *closed {
                    judge(pairs, opts, &merged, parent, label);
                } else {
                    carry.insert(*key, (parent, merged, label.clone()));
                }
            }
            Edge::Tail {
                key,
                label,
                prev,
                run,
            } => {
                if let Some((cprev, c, clabel)) = carry.remove(key) {
                    judge(pairs, opts, &c, cprev, &clabel);
                }
                carry.insert(*key, (*prev, *run, label.clone()));
            }
        }
    }
    let mut rest: Vec<_> = carry.into_iter().collect();
    rest.sort_by_key(|(k, _)| *k);
    for (_, (prev, run, label)) in rest {
        judge(pairs, opts, &run, prev, &label);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (session, fingerprint, time in ms)
    type Ev = (u64, u64, i64);

    fn run_split(evs: &[Ev], cuts: &[usize]) -> Vec<NPlusOne> {
        let opts = NPlusOneOptions::default();
        let mut trackers = Vec::new();
        let mut start = 0;
        for &end in cuts.iter().chain(std::iter::once(&evs.len())) {
            let mut t = Tracker::new(opts);
            for &(s, f, ms) in &evs[start..end] {
                t.execution(
                    s,
                    || format!("s{s}").into(),
                    Fingerprint(f),
                    Some(ms * 1000),
                    10,
                );
            }
            t.finish();
            trackers.push(t);
            start = end;
        }
        let mut pairs = Pairs::new();
        for t in &trackers {
            for p in t.pairs.values() {
                match pairs.get_mut(&(p.parent, p.child)) {
                    Some(m) => m.merge(p),
                    None => {
                        pairs.insert((p.parent, p.child), p.clone());
                    }
                }
            }
        }
        stitch(
            trackers.iter().flat_map(|t| t.edges.iter()),
            &opts,
            &mut pairs,
        );
        let mut v: Vec<NPlusOne> = pairs.into_values().collect();
        sort_pairs(&mut v);
        v
    }

    /// Two interleaved sessions: a parent (1) then 6 children (2) every 10 ms,
    /// repeated 3 times 5 s apart; session 8 has only 4 children (no burst) and
    /// session 9 repeats a child with no parent.
    fn events() -> Vec<Ev> {
        let mut v = Vec::new();
        for rep in 0..3 {
            let base = 10_000 + rep * 5000;
            v.push((7, 1, base));
            v.push((8, 1, base + 1));
            for i in 0..6 {
                v.push((7, 2, base + 5 + i * 10));
                if i < 4 {
                    v.push((8, 2, base + 6 + i * 10));
                }
                v.push((9, 3, base + 7 + i * 10));
            }
            v.push((7, 4, base + 100));
        }
        v
    }

    #[test]
    fn detects_bursts_after_a_parent() {
        let v = run_split(&events(), &[]);
        assert_eq!(v.len(), 1, "{v:?}");
        let p = &v[0];
        assert_eq!(
            (p.parent, p.child, p.bursts, p.round_trips, p.max_burst),
            (Fingerprint(1), Fingerprint(2), 3, 18, 6)
        );
        assert_eq!(p.child_time_us, 180);
        assert_eq!(p.mean_burst(), 6.0);
        assert_eq!(p.example.session, "s7");
        assert_eq!(p.example.span_ms, 50.0);
    }

    #[test]
    fn split_sessions_equal_a_sequential_read() {
        let evs = events();
        let one = run_split(&evs, &[]);
        for cuts in [
            vec![3],
            vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 20, 30],
            (1..evs.len()).collect::<Vec<_>>(),
            vec![14, 15, 16],
        ] {
            assert_eq!(run_split(&evs, &cuts), one, "cuts {cuts:?}");
        }
    }

    #[test]
    fn gaps_and_slow_starts_break_bursts() {
        // Children 2 s apart: no burst. Children starting 1.5 s after the parent: no burst.
        let mut evs = vec![(1, 1, 0)];
        evs.extend((0..6).map(|i| (1, 2, 10 + i * 2000)));
        evs.push((2, 1, 0));
        evs.extend((0..6).map(|i| (2, 2, 1500 + i * 10)));
        assert!(run_split(&evs, &[]).is_empty());
    }

    #[test]
    fn idle_sessions_are_evicted_and_disconnections_end_sessions() {
        let mut t = Tracker::new(NPlusOneOptions::default());
        for i in 0..10_000u64 {
            // Each session runs one statement, 10 ms apart: at most a few hundred live.
            t.execution(i, || "x".into(), Fingerprint(1), Some(i as i64 * 10_000), 1);
        }
        assert!(t.live() < 1000, "{}", t.live());
        t.boundary(9_999, || "x".into(), false, None);
        assert!(!t.sessions.contains_key(&9_999));
    }
}
