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
//!   collapsed `IN (...)` list has a different length than in the first statement,
//!   `params` is empty rather than wrong.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use crate::fingerprint::FINGERPRINT_OPTIONS;
use crate::scan::{scan_into, scanner_normalize, Literal, LiteralKind, Scan};
use crate::Fingerprint;

/// What the [`Normalizer`] knows about one statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Analysis {
    /// PostgreSQL's fingerprint, or the scanner key's hash when the parser rejected the SQL.
    pub fingerprint: Fingerprint,
    /// `pg_query::normalize` of the first statement seen with this shape (or the
    /// scanner's normalization when the parser rejected it).
    pub normalized: Arc<str>,
    /// This statement's literal values for `$1..$n` of `normalized`, in that order.
    /// Empty when the statement has `$n` parameters of its own, when it has no
    /// literals, or when the mapping is not reliable.
    pub params: Vec<String>,
    /// The parser's message when it rejected the statement.
    pub parse_error: Option<String>,
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

/// Which `$k` a value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Slot {
    /// The scanner literal with this index (negated when the parser folded a `-` into it).
    Literal { index: u32, negated: bool },
    /// A keyword constant the scanner does not treat as a literal (`true`, `false`, `null`).
    Keyword(Box<str>),
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
    /// `$1..$n` sources, valid for statements with `lists` list lengths; `None` → no params.
    slots: Option<Box<[Slot]>>,
    lists: Box<[u32]>,
    literal_count: usize,
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

/// A `u64` key is already a hash: use it as is.
#[derive(Default)]
struct IdentityHasher(u64);

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
    let params = match &e.slots {
        Some(slots)
            if !scan.has_params
                && e.literal_count == scan.literals.len()
                && *e.lists == *scan.lists =>
        {
            slots
                .iter()
                .map(|s| slot_value(s, &scan.literals, sql))
                .collect()
        }
        _ => Vec::new(),
    };
    Analysis {
        fingerprint: e.fingerprint,
        normalized: Arc::clone(&e.normalized),
        params,
        parse_error: e.parse_error.as_deref().map(str::to_owned),
    }
}

/// The value a slot takes for this statement.
fn slot_value(slot: &Slot, literals: &[Literal], sql: &str) -> String {
    match slot {
        Slot::Keyword(k) => k.to_string(),
        Slot::Literal { index, negated } => {
            let v = literals
                .get(*index as usize)
                .map(|l| l.value(sql))
                .unwrap_or_default();
            match (negated, v.strip_prefix('-')) {
                (false, _) => v.into_owned(),
                (true, Some(pos)) => pos.to_owned(),
                (true, None) => format!("-{v}"),
            }
        }
    }
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

/// Runs the full parser for `sql` and derives a cache entry.
fn compute(sql: &str, scan: &Scan) -> (Entry, Sensitivity) {
    let base = |fingerprint, normalized: String, parse_error| Entry {
        key: scan.key.as_slice().into(),
        fingerprint,
        normalized: Arc::from(normalized),
        parse_error,
        slots: None,
        lists: scan.lists.as_slice().into(),
        literal_count: scan.literals.len(),
    };
    let fp = match pg_query::fingerprint(sql, 0, FINGERPRINT_OPTIONS) {
        Ok(fp) => Fingerprint(fp.value),
        Err(e) => {
            let msg = crate::SqlError::from(e).to_string();
            return (
                base(
                    Fingerprint(scan.hash),
                    scanner_normalize(sql),
                    Some(msg.into()),
                ),
                Sensitivity::None,
            );
        }
    };
    let Ok(normalized) = pg_query::normalize(sql) else {
        return (base(fp, scanner_normalize(sql), None), Sensitivity::All);
    };
    let dml = is_dml(sql);
    let aligned = align(sql, &normalized, &scan.literals);
    let sensitivity = match (&aligned, dml) {
        (_, false) => Sensitivity::All,
        (None, true) => Sensitivity::None,
        (Some((_, replaced)), true) => {
            let mut idx = Vec::new();
            let mut all = false;
            let mut outside = 0u32;
            for (lit, &rep) in scan.literals.iter().zip(replaced) {
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
    let mut e = base(fp, normalized, None);
    e.slots = aligned.map(|(slots, _)| slots);
    (e, sensitivity)
}

/// Whether every statement in `sql` is SELECT / INSERT / UPDATE / DELETE / MERGE / VALUES.
fn is_dml(sql: &str) -> bool {
    use pg_query::protobuf::node::Node as N;
    let Ok(parsed) = pg_query::parse(sql, 0) else {
        return false;
    };
    parsed.protobuf.stmts.iter().all(|s| {
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

/// Aligns `sql` with its normalized text: which literal became which `$k`, and which
/// literals were replaced at all. `None` when the two cannot be matched exactly.
fn align(sql: &str, normalized: &str, literals: &[Literal]) -> Option<(Box<[Slot]>, Vec<bool>)> {
    let (o, m) = (sql.as_bytes(), normalized.as_bytes());
    let (mut i, mut j, mut next) = (0usize, 0usize, 0usize);
    let mut slots: Vec<Option<Slot>> = Vec::new();
    let mut replaced = vec![false; literals.len()];
    let has_params = literals.iter().any(|l| l.kind == LiteralKind::Param);
    loop {
        while next < literals.len() && literals[next].span.end <= i {
            next += 1;
        }
        if j >= m.len() {
            if i < o.len() {
                return None;
            }
            break;
        }
        if i >= o.len() {
            return None;
        }
        if m[j] == b'$' && m.get(j + 1).is_some_and(u8::is_ascii_digit) {
            let end = j + 1 + m[j + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
            let tok = &m[j..end];
            let same =
                o[i..].starts_with(tok) && !o.get(i + tok.len()).is_some_and(u8::is_ascii_digit);
            if !same {
                let k: usize = normalized.get(j + 1..end)?.parse().ok()?;
                let (slot, new_i) = replaced_at(o, i, literals, next)?;
                if let Slot::Literal { index, .. } = slot {
                    replaced[index as usize] = true;
                }
                if k == 0 || k > 65_535 {
                    return None;
                }
                if slots.len() < k {
                    slots.resize(k, None);
                }
                slots[k - 1] = Some(slot);
                i = new_i;
                j = end;
                continue;
            }
        }
        if o[i] != m[j] {
            return None;
        }
        i += 1;
        j += 1;
    }
    let slots: Option<Box<[Slot]>> = if has_params {
        Some(Box::new([]))
    } else {
        slots
            .into_iter()
            .collect::<Option<Vec<Slot>>>()
            .map(Vec::into_boxed_slice)
    };
    Some((slots?, replaced))
}

/// What the parser replaced at byte `i` of the original: the literal `literals[next]`
/// (possibly with a folded `-` sign before it, or from inside it after an `N` prefix),
/// or a `true` / `false` / `null` keyword. Returns the slot and the end of the replaced text.
fn replaced_at(o: &[u8], i: usize, literals: &[Literal], next: usize) -> Option<(Slot, usize)> {
    if let Some(lit) = literals.get(next).filter(|l| l.kind != LiteralKind::Param) {
        if lit.span.start <= i {
            return Some((
                Slot::Literal {
                    index: u32::try_from(next).ok()?,
                    negated: false,
                },
                lit.span.end,
            ));
        }
        let gap = o.get(i..lit.span.start)?;
        if gap
            .iter()
            .all(|c| matches!(c, b'-' | b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c))
        {
            let minus = gap.iter().filter(|&&c| c == b'-').count();
            if gap.first() == Some(&b'-') {
                let index = u32::try_from(next).ok()?;
                return Some((
                    Slot::Literal {
                        index,
                        negated: minus % 2 == 1,
                    },
                    lit.span.end,
                ));
            }
        }
    }
    let word_len = o[i..]
        .iter()
        .take_while(|c| c.is_ascii_alphabetic())
        .count();
    let word = std::str::from_utf8(&o[i..i + word_len])
        .ok()?
        .to_ascii_lowercase();
    let after = o.get(i + word_len).copied();
    if matches!(word.as_str(), "true" | "false" | "null")
        && !after.is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
    {
        return Some((Slot::Keyword(word.into()), i + word_len));
    }
    None
}

#[cfg(test)]
#[path = "normalizer_tests.rs"]
mod tests;
