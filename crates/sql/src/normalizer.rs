//! [`Normalizer`]: a cache in front of PostgreSQL's parser, keyed by the [`scan()`](crate::scan()) key.
//!
//! The parser runs once per distinct key. What the parser found for that first
//! statement (fingerprint, normalized text, which literal fills which `$k`) is reused
//! for every later statement with the same key, with *that* statement's literal values
//! as `params`. Safety nets, because a key ignores literal values:
//! - literals that `pg_query::normalize` leaves in place (`ORDER BY 1`, type modifiers,
//!   `FETCH 5`) and every literal of a utility statement are *sensitive*: their values
//!   become part of a second-level key, so such shapes never borrow another
//!   statement's text;
//! - when the mapping from literals to `$k` cannot be derived exactly, or when a
//!   collapsed `IN (...)` list that could not be rewritten to `= ANY($k)` has a
//!   different length than in the first statement, `params` is empty rather than wrong.
//!
//! The normalized text is libpg_query's, rewritten so that it can be PREPAREd with
//! the params as text values and so that IN lists of any length share it: constant
//! `IN (…)` lists become `= ANY($k)` (`NOT IN`: `<> ALL($k)`) with an array literal
//! as the sample, `interval $k`-style typed literals become `$k::interval`, and
//! constants the grammar wants as keywords (`extract(day FROM …)`) stay as written
//! (see the `rewrite` module). Statements with `$n` parameters of their own
//! (extended protocol with some literals inline) are rewritten the same way; their
//! own parameters keep their numbers and the replaced literals follow them, with
//! their values in [`Analysis::literal_params`]. The fingerprint is
//! alias-insensitive, like [`fingerprint`](crate::fingerprint()).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use crate::fingerprint::fingerprint_with;
use crate::rewrite::{
    align, has_minus, keep_verbatim, list_start, marks_wanted, may_have_verbatim, own_params,
    push_array_elem, rewrite, verbatim_consts, Slot,
};
use crate::scan::{scan_into, scanner_normalize, Literal, LiteralKind, Scan};
use crate::tree::TreeInfo;
use crate::Fingerprint;

/// What the [`Normalizer`] knows about one statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Analysis {
    /// PostgreSQL's fingerprint, or the scanner key's hash when the parser rejected the SQL.
    pub fingerprint: Fingerprint,
    /// The normalized text of the first statement seen with this shape:
    /// `pg_query::normalize`'s, with constant IN lists as `= ANY($k)`, typed
    /// literals as `$k::type` and constants the grammar needs as written (the
    /// field of `extract(day FROM …)`) put back (or the scanner's normalization
    /// when the parser rejected it). Aliases are kept as first seen.
    pub normalized: Arc<str>,
    /// This statement's literal values for `$1..$n` of `normalized`, in that order
    /// (an array literal such as `{1,2,"a b",NULL}` for an `= ANY($k)` list).
    /// Empty when the statement has `$n` parameters of its own (see
    /// [`Analysis::literal_params`]), when it has no literals, or when the mapping
    /// is not reliable.
    pub params: Vec<String>,
    /// The highest `$n` parameter of the statement itself (extended protocol), 0
    /// when it has none. `normalized` keeps those parameters as they are and numbers
    /// the literals it replaced from `$(own_params + 1)`.
    pub own_params: usize,
    /// For a statement with parameters of its own: its literal values for
    /// `$(own_params + 1)..$n` of `normalized`, in that order; the values bound to
    /// `$1..$own_params` come first in a full parameter list (see
    /// [`Analysis::full_params`]). Empty otherwise, or when the mapping is not reliable.
    pub literal_params: Vec<String>,
    /// The highest `$n` placeholder of `normalized` (0 when it has none): how many
    /// values a full parameter list has.
    pub param_count: usize,
    /// The parser's message when it rejected the statement.
    pub parse_error: Option<String>,
}

impl Analysis {
    /// The values of `$1..$n` of `normalized` for this statement: `bound` (the
    /// values the application bound to its own parameters, `None` = NULL) followed
    /// by [`Analysis::literal_params`] for a statement with parameters of its own,
    /// [`Analysis::params`] otherwise. `None` when the values are not all known:
    /// `bound` does not cover exactly `$1..$own_params`, or a literal's value could
    /// not be mapped.
    pub fn full_params(&self, bound: &[Option<String>]) -> Option<Vec<Option<String>>> {
        // The scanner gives the NULL keyword as `null`: an SQL NULL, not text.
        let value = |p: &String| (p != "null").then(|| p.clone());
        if self.own_params == 0 {
            return (bound.is_empty() && self.params.len() == self.param_count)
                .then(|| self.params.iter().map(value).collect());
        }
        if bound.len() != self.own_params
            || self.own_params + self.literal_params.len() != self.param_count
        {
            return None;
        }
        Some(
            bound
                .iter()
                .cloned()
                .chain(self.literal_params.iter().map(value))
                .collect(),
        )
    }
}

/// Counters of a [`Normalizer`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Calls answered from the cache.
    pub hits: u64,
    /// Calls that ran the full parser (new shapes, plus calls made while the cache was full).
    pub parses: u64,
    /// Calls not cached because the cache reached its entry limit.
    pub uncached: u64,
}

/// Which literal values matter beyond the key.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Sensitivity {
    /// None: the key alone decides.
    None,
    /// These literals (indices among literals outside collapsed lists).
    Some(Box<[u32]>),
    /// All literals (utility statements, or an unreplaced literal inside a list).
    All,
}

/// A cached answer for one key.
#[derive(Debug)]
struct Entry {
    /// The key bytes, compared on lookup so hash collisions never mix shapes.
    key: Box<[u8]>,
    fingerprint: Fingerprint,
    normalized: Arc<str>,
    parse_error: Option<Box<str>>,
    /// `$1..$n` sources, valid for statements whose lists are compatible; `None` → no params.
    slots: Option<Box<[Slot]>>,
    /// List lengths of the first statement.
    lists: Box<[u32]>,
    /// Index of each list's first literal in the first statement.
    list_starts: Box<[u32]>,
    /// Lists whose length may vary (rewritten to `= ANY($k)`).
    any_len: Box<[bool]>,
    literal_count: usize,
    /// The statement's own highest `$n` (0 when none).
    own_params: usize,
    /// The highest `$n` of `normalized`.
    param_count: usize,
}

/// A first-level cache value.
#[derive(Debug)]
enum Cached {
    /// The key decides everything.
    Shape(Entry),
    /// Some literal values matter too: look in the exact map.
    Router {
        key: Box<[u8]>,
        sensitivity: Sensitivity,
    },
}

/// A hasher for keys that already are hashes (`u64` keys, [`Fingerprint`]s):
/// uses the value as is.
#[derive(Default)]
pub struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type IdMap<V> = HashMap<u64, V, BuildHasherDefault<IdentityHasher>>;

/// A map keyed by fingerprint, without re-hashing the fingerprint.
pub type FingerprintMap<V> = HashMap<Fingerprint, V, BuildHasherDefault<IdentityHasher>>;

/// Caches parser results per statement shape; see the module documentation.
#[derive(Debug)]
pub struct Normalizer {
    shapes: IdMap<Cached>,
    exact: IdMap<Entry>,
    scan: Scan,
    exact_key: Vec<u8>,
    max_entries: usize,
    stats: CacheStats,
}

impl Default for Normalizer {
    fn default() -> Self {
        Self::new()
    }
}

impl Normalizer {
    /// Default entry limit: about 50 MB of cache for typical statements.
    pub const DEFAULT_MAX_ENTRIES: usize = 100_000;

    /// A normalizer with the default entry limit.
    pub fn new() -> Self {
        Self::with_max_entries(Self::DEFAULT_MAX_ENTRIES)
    }

    /// A normalizer that caches at most `max_entries` shapes; once full, new shapes are
    /// still analyzed (with the full parser, every time) but not remembered.
    pub fn with_max_entries(max_entries: usize) -> Self {
        Self {
            shapes: IdMap::default(),
            exact: IdMap::default(),
            scan: Scan::default(),
            exact_key: Vec::new(),
            max_entries,
            stats: CacheStats::default(),
        }
    }

    /// Number of cached entries.
    pub fn len(&self) -> usize {
        self.shapes.len() + self.exact.len()
    }

    /// Whether nothing is cached yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Hit / parse / uncached counters.
    pub fn stats(&self) -> CacheStats {
        self.stats
    }

    /// Fingerprint, normalized text and literal parameters of `sql`.
    pub fn analyze(&mut self, sql: &str) -> Analysis {
        scan_into(sql, &mut self.scan);
        let full = self.len() >= self.max_entries;
        match self.shapes.get(&self.scan.hash) {
            Some(Cached::Shape(e)) if *e.key == *self.scan.key => {
                self.stats.hits += 1;
                return build(e, &self.scan, sql);
            }
            Some(Cached::Router { key, sensitivity }) if **key == *self.scan.key => {
                exact_key(&self.scan, sql, sensitivity, &mut self.exact_key);
                let h = xxhash_rust::xxh3::xxh3_64(&self.exact_key);
                if let Some(e) = self.exact.get(&h).filter(|e| *e.key == *self.exact_key) {
                    self.stats.hits += 1;
                    return build(e, &self.scan, sql);
                }
                let (mut e, _) = compute(sql, &self.scan);
                e.key = self.exact_key.as_slice().into();
                let out = build(&e, &self.scan, sql);
                self.stats.parses += 1;
                if full || self.exact.contains_key(&h) {
                    self.stats.uncached += 1;
                } else {
                    self.exact.insert(h, e);
                }
                return out;
            }
            Some(_) => {
                // A 64-bit hash collision between different keys: answer without caching.
                self.stats.parses += 1;
                self.stats.uncached += 1;
                let (e, _) = compute(sql, &self.scan);
                return build(&e, &self.scan, sql);
            }
            None => {}
        }
        self.stats.parses += 1;
        let (mut e, sensitivity) = compute(sql, &self.scan);
        let out = build(&e, &self.scan, sql);
        if full {
            self.stats.uncached += 1;
        } else if sensitivity == Sensitivity::None {
            self.shapes.insert(self.scan.hash, Cached::Shape(e));
        } else {
            exact_key(&self.scan, sql, &sensitivity, &mut self.exact_key);
            let h = xxhash_rust::xxh3::xxh3_64(&self.exact_key);
            let router = Cached::Router {
                key: std::mem::take(&mut e.key),
                sensitivity,
            };
            e.key = self.exact_key.as_slice().into();
            self.shapes.insert(self.scan.hash, router);
            self.exact.insert(h, e);
        }
        out
    }
}

/// The answer for `scan` from entry `e`.
fn build(e: &Entry, scan: &Scan, sql: &str) -> Analysis {
    let values = match &e.slots {
        Some(slots) => {
            if *e.lists == *scan.lists {
                (e.literal_count == scan.literals.len()).then(|| {
                    slots
                        .iter()
                        .map(|s| slot_value(s, scan, sql, None))
                        .collect()
                })
            } else if compatible(e, scan) {
                slots
                    .iter()
                    .map(|s| {
                        let s = remap(s, e, scan)?;
                        Some(slot_value(&s, scan, sql, None))
                    })
                    .collect()
            } else {
                None
            }
        }
        _ => None,
    };
    let values: Vec<String> = values.unwrap_or_default();
    let (params, literal_params) = if scan.has_params {
        (Vec::new(), values)
    } else {
        (values, Vec::new())
    };
    Analysis {
        fingerprint: e.fingerprint,
        normalized: Arc::clone(&e.normalized),
        params,
        own_params: e.own_params,
        literal_params,
        param_count: e.param_count,
        parse_error: e.parse_error.as_deref().map(str::to_owned),
    }
}

/// The highest `$n` placeholder of `text`.
fn max_param(text: &str) -> usize {
    own_params(text, &crate::scan(text).literals)
}

/// Whether `scan`'s lists differ from the first statement's only in lists that may vary.
fn compatible(e: &Entry, scan: &Scan) -> bool {
    let total = |l: &[u32]| l.iter().map(|&n| n as usize).sum::<usize>();
    e.lists.len() == scan.lists.len()
        && e.literal_count - total(&e.lists) == scan.literals.len() - total(&scan.lists)
        && e.lists
            .iter()
            .zip(&scan.lists)
            .zip(e.any_len.iter())
            .all(|((a, b), any)| a == b || *any)
}

/// `slot` with its literal index moved to where that literal is in `scan`.
fn remap(slot: &Slot, e: &Entry, scan: &Scan) -> Option<Slot> {
    Some(match slot {
        Slot::Literal { index, negated } => {
            let mut at = i64::from(*index);
            for ((&start, &l1), &l2) in e.list_starts.iter().zip(&*e.lists).zip(&scan.lists) {
                if *index >= start + l1 {
                    at += i64::from(l2) - i64::from(l1);
                } else if *index >= start && l1 != l2 {
                    return None;
                }
            }
            Slot::Literal {
                index: u32::try_from(at).ok()?,
                negated: *negated,
            }
        }
        Slot::Array(items) => Slot::Array(
            items
                .iter()
                .map(|s| remap(s, e, scan))
                .collect::<Option<Box<[Slot]>>>()?,
        ),
        other => other.clone(),
    })
}

/// The value a slot takes for this statement (`None` for an SQL NULL array element
/// when `array` is given: the value is then appended to it).
fn slot_value(slot: &Slot, scan: &Scan, sql: &str, array: Option<&mut String>) -> String {
    let literal = |index: usize, negated: bool| {
        let v = scan
            .literals
            .get(index)
            .map(|l| l.value(sql))
            .unwrap_or_default();
        match (negated, v.strip_prefix('-')) {
            (false, _) => v.into_owned(),
            (true, Some(pos)) => pos.to_owned(),
            (true, None) => format!("-{v}"),
        }
    };
    let value = match slot {
        Slot::Keyword(k) => {
            if let Some(out) = array {
                push_array_elem(out, (&**k != "null").then_some(k));
                return String::new();
            }
            k.to_string()
        }
        Slot::Verbatim(text) => text.to_string(),
        Slot::Literal { index, negated } => literal(*index as usize, *negated),
        Slot::Array(items) => {
            let mut out = String::from("{");
            for s in items.iter() {
                slot_value(s, scan, sql, Some(&mut out));
            }
            out.push('}');
            out
        }
        Slot::List(m) => {
            let mut out = String::from("{");
            let start = list_start(scan, *m).unwrap_or(usize::MAX);
            let len = scan.lists.get(*m as usize).map_or(0, |&n| n as usize);
            for lit in scan.literals.iter().skip(start).take(len) {
                let v = lit.value(sql);
                let v = match (has_minus(lit, sql), v.strip_prefix('-')) {
                    (false, _) => v,
                    (true, Some(pos)) => pos.to_owned().into(),
                    (true, None) => format!("-{v}").into(),
                };
                push_array_elem(&mut out, Some(&v));
            }
            out.push('}');
            out
        }
    };
    if let Some(out) = array {
        push_array_elem(out, Some(&value));
    }
    value
}

/// Writes the second-level key of a sensitive shape into `out`.
fn exact_key(scan: &Scan, sql: &str, sensitivity: &Sensitivity, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&scan.hash.to_le_bytes());
    for len in &scan.lists {
        out.extend_from_slice(&len.to_le_bytes());
    }
    // 0xff is never in UTF-8, so values cannot run into each other.
    let push = |out: &mut Vec<u8>, l: Option<&Literal>| {
        out.push(0xff);
        out.extend_from_slice(l.map_or("", |l| l.raw(sql)).as_bytes());
    };
    match sensitivity {
        Sensitivity::None => {}
        Sensitivity::All => scan.literals.iter().for_each(|l| push(out, Some(l))),
        Sensitivity::Some(idx) => {
            let outside: Vec<&Literal> = scan.literals.iter().filter(|l| !l.in_list).collect();
            for &i in idx.iter() {
                push(out, outside.get(i as usize).copied());
            }
        }
    }
}

/// The Normalizer's normalized text for `sql` when the parser accepts it (uncached).
pub(crate) fn rewritten(sql: &str) -> Option<String> {
    let scan = crate::scan(sql);
    let (e, _) = compute(sql, &scan);
    e.parse_error.is_none().then(|| e.normalized.to_string())
}

/// Runs the full parser for `sql` and derives a cache entry.
fn compute(sql: &str, scan: &Scan) -> (Entry, Sensitivity) {
    let base = |fingerprint, normalized: String, parse_error| Entry {
        key: scan.key.as_slice().into(),
        fingerprint,
        param_count: max_param(&normalized),
        own_params: own_params(sql, &scan.literals),
        normalized: Arc::from(normalized),
        parse_error,
        slots: None,
        lists: scan.lists.as_slice().into(),
        list_starts: (0..scan.lists.len())
            .map(|m| {
                let m = u32::try_from(m).unwrap_or(u32::MAX);
                list_start(scan, m).map_or(u32::MAX, |s| u32::try_from(s).unwrap_or(u32::MAX))
            })
            .collect(),
        any_len: vec![false; scan.lists.len()].into(),
        literal_count: scan.literals.len(),
    };
    let parsed = pg_query::parse(sql, 0).ok();
    let info = parsed.as_ref().and_then(|p| TreeInfo::of(&p.protobuf));
    let fp = match fingerprint_with(sql, info.as_ref()) {
        Ok(fp) => fp,
        Err(e) => {
            return (
                base(
                    Fingerprint(scan.hash),
                    scanner_normalize(sql),
                    Some(e.to_string().into()),
                ),
                Sensitivity::None,
            );
        }
    };
    let Ok(normalized) = pg_query::normalize(sql) else {
        return (base(fp, scanner_normalize(sql), None), Sensitivity::All);
    };
    let dml = parsed.as_ref().is_some_and(|p| is_dml(&p.protobuf));
    let marks = info.as_ref().map(marks_wanted).unwrap_or_default();
    let mut aligned = align(sql, &normalized, &scan.literals, &marks);
    if let (Some(a), Some(p)) = (aligned.as_mut(), parsed.as_ref()) {
        if may_have_verbatim(&scan.key) {
            keep_verbatim(a, &verbatim_consts(&p.protobuf), sql, &scan.literals);
        }
    }
    let sensitivity = match (&aligned, dml) {
        (_, false) => Sensitivity::All,
        (None, true) => Sensitivity::None,
        (Some(a), true) => {
            let mut idx = Vec::new();
            let mut all = false;
            let mut outside = 0u32;
            for (lit, &rep) in scan.literals.iter().zip(&a.replaced) {
                if lit.kind != LiteralKind::Param && !rep {
                    if lit.in_list {
                        all = true;
                    } else {
                        idx.push(outside);
                    }
                }
                outside += u32::from(!lit.in_list);
            }
            if all {
                Sensitivity::All
            } else if idx.is_empty() {
                Sensitivity::None
            } else {
                Sensitivity::Some(idx.into())
            }
        }
    };
    let rewritten = match (&aligned, &info, dml) {
        (Some(a), Some(info), true) => rewrite(&normalized, a, info, scan)
            .filter(|(text, _, _)| pg_query::parse(text, 0).is_ok()),
        _ => None,
    };
    match rewritten {
        Some((text, slots, any_len)) => {
            let mut e = base(fp, text, None);
            e.slots = Some(slots);
            e.any_len = any_len.into();
            (e, sensitivity)
        }
        None => {
            let mut e = base(fp, normalized, None);
            e.slots = aligned.map(|a| a.slots);
            (e, sensitivity)
        }
    }
}

/// Whether every statement is SELECT / INSERT / UPDATE / DELETE / MERGE / VALUES.
fn is_dml(parsed: &pg_query::protobuf::ParseResult) -> bool {
    use pg_query::protobuf::node::Node as N;
    parsed.stmts.iter().all(|s| {
        matches!(
            s.stmt.as_ref().and_then(|n| n.node.as_ref()),
            Some(
                N::SelectStmt(_)
                    | N::InsertStmt(_)
                    | N::UpdateStmt(_)
                    | N::DeleteStmt(_)
                    | N::MergeStmt(_)
            )
        )
    })
}

#[cfg(test)]
#[path = "normalizer_tests.rs"]
mod tests;
