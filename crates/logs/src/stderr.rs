//! The stderr chunk parser: assembles entries (primary line, TAB continuation
//! lines, and DETAIL/HINT/CONTEXT/STATEMENT/QUERY lines of the same process,
//! possibly interleaved with other processes) inside one byte range of a
//! buffer, and classifies them into events.
//!
//! Chunk edges are exact: a chunk starts and ends at a primary line; a
//! secondary line belongs to the last primary line of its process if that is
//! at most [`ASSOC_WINDOW`] bytes before it. A chunk reads ahead past its end
//! to collect such lines for its open entries, and the next chunk recognises
//! (by scanning back) and leaves them alone, so a split never loses or
//! double-counts anything.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::classify::{Classifier, PrevLookup};
use crate::prefix::{Level, Prefix, PrefixFields};
use crate::record::{Counters, LogRecord, SkipReason};
use crate::EventSink;

/// How far (bytes) a DETAIL/STATEMENT/... line may be from its primary line.
pub const ASSOC_WINDOW: usize = 1 << 20;
/// How far back (bytes) a bare `duration:` line looks for its statement.
pub const DURATION_WINDOW: usize = 4 << 20;

#[derive(Default)]
pub(crate) struct IdHasher(u64);
impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, b: &[u8]) {
        for &c in b {
            self.0 = (self.0.rotate_left(8) ^ u64::from(c)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}
pub(crate) type FastMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;

/// A byte range of a text buffer to parse.
pub(crate) struct Chunk<'a> {
    pub text: &'a str,
    pub start: usize,
    pub end: usize,
    /// Input offset of `text[0]`.
    pub base: u64,
    pub input: u32,
}

#[derive(Clone, Copy)]
enum Part {
    Message,
    Detail,
    Hint,
    Context,
    Statement,
    Query,
    Ignored,
}

struct Pending<'a> {
    fields: PrefixFields<'a>,
    level: Level,
    line_start: usize,
    parts: [(usize, usize); 6],
    last: Part,
    multi: bool,
}

#[derive(Clone, Copy, PartialEq)]
enum Target {
    None,
    Mine(u64),
    Previous,
}

fn key_of(f: &PrefixFields<'_>) -> u64 {
    match (f.pid, f.session_id) {
        (Some(p), _) => u64::from(p),
        (None, Some(s)) => crate::record::fx_hash(s.as_bytes()) | (1 << 63),
        _ => 0,
    }
}

fn part_of(l: Level) -> Part {
    match l {
        Level::Primary(_) => Part::Message,
        Level::Detail => Part::Detail,
        Level::Hint => Part::Hint,
        Level::Context => Part::Context,
        Level::Statement => Part::Statement,
        Level::Query => Part::Query,
        Level::Location => Part::Ignored,
    }
}

/// Next line: (line without '\n' / '\r', index after the newline).
#[inline]
pub(crate) fn next_line(text: &str, pos: usize) -> (&str, usize) {
    let b = text.as_bytes();
    let (end, next) = match memchr::memchr(b'\n', &b[pos..]) {
        Some(p) => (pos + p, pos + p + 1),
        None => (b.len(), b.len()),
    };
    let end = if end > pos && b[end - 1] == b'\r' {
        end - 1
    } else {
        end
    };
    (text.get(pos..end).unwrap_or(""), next)
}

/// True when the line at `pos` starts a new primary entry (a safe split point).
pub(crate) fn is_primary_line(prefix: &Prefix, line: &str) -> bool {
    !line.starts_with('\t')
        && prefix
            .parse_line(line)
            .is_some_and(|(_, l, _)| l.is_primary())
}

/// Start of the last line of process `key` that is a primary line, scanning
/// back from `before` but not past `limit`.
fn last_primary_before(
    prefix: &Prefix,
    text: &str,
    before: usize,
    limit: usize,
    key: u64,
) -> Option<usize> {
    let b = text.as_bytes();
    let mut end = before;
    while end > limit {
        // `end` is the start of a line; the previous line ends at end-1.
        let ls = memchr::memrchr(b'\n', &b[..end - 1]).map_or(0, |p| p + 1);
        if ls < limit {
            return None;
        }
        let (line, _) = next_line(text, ls);
        if let Some((f, lvl, _)) = prefix.parse_line(line) {
            if lvl.is_primary() && key_of(&f) == key {
                return Some(ls);
            }
        }
        end = ls;
    }
    None
}

pub(crate) fn parse_chunk<S: EventSink>(
    c: &Chunk<'_>,
    prefix: &Prefix,
    sink: &mut S,
    counters: &mut Counters,
) {
    let text = c.text;
    let mut pending: FastMap<Pending<'_>> = FastMap::default();
    let mut seen: FastMap<()> = FastMap::default();
    let mut classifier = Classifier::new(c.input, c.base);
    let lookup = StderrLookup {
        prefix,
        text,
        chunk_start: c.start,
    };
    let mut last = Target::None;
    let mut pos = c.start;
    while pos < c.end {
        let (line, next) = next_line(text, pos);
        counters.lines_read += 1;
        if line.is_empty() {
            counters.skip(SkipReason::Empty);
            last = Target::None;
        } else if line.as_bytes()[0] == b'\t' {
            match last {
                Target::Mine(k) => {
                    if let Some(p) = pending.get_mut(&k) {
                        extend(p, pos + line.len());
                    }
                }
                Target::Previous => {}
                Target::None => counters.skip(SkipReason::OrphanContinuation),
            }
        } else if let Some((f, lvl, at)) = prefix.parse_line(line) {
            let key = key_of(&f);
            if lvl.is_primary() {
                if let Some(p) = pending.remove(&key) {
                    finish(p, text, &mut classifier, &lookup, sink, counters);
                }
                seen.insert(key, ());
                let mut parts = [(0, 0); 6];
                parts[0] = (pos + at, pos + line.len());
                pending.insert(
                    key,
                    Pending {
                        fields: f,
                        level: lvl,
                        line_start: pos,
                        parts,
                        last: Part::Message,
                        multi: false,
                    },
                );
                last = Target::Mine(key);
            } else if let Some(p) = pending
                .get_mut(&key)
                .filter(|p| pos - p.line_start <= ASSOC_WINDOW)
            {
                attach(p, lvl, pos + at, pos + line.len());
                last = Target::Mine(key);
            } else if !seen.contains_key(&key)
                && last_primary_before(prefix, text, c.start, pos.saturating_sub(ASSOC_WINDOW), key)
                    .is_some()
            {
                last = Target::Previous;
            } else {
                counters.skip(SkipReason::OrphanSecondary);
                last = Target::None;
            }
        } else {
            counters.skip(SkipReason::NoPrefixMatch);
            last = Target::None;
        }
        pos = next;
    }
    // Read ahead for secondary lines of entries still open.
    let mut pos = c.end;
    let mut last = Target::None;
    while !pending.is_empty() && pos < text.len() && pos < c.end + ASSOC_WINDOW {
        let (line, next) = next_line(text, pos);
        if line.starts_with('\t') {
            if let Target::Mine(k) = last {
                if let Some(p) = pending.get_mut(&k) {
                    extend(p, pos + line.len());
                }
            }
        } else {
            last = Target::None;
            if let Some((f, lvl, at)) = prefix.parse_line(line) {
                let key = key_of(&f);
                if lvl.is_primary() {
                    if let Some(p) = pending.remove(&key) {
                        finish(p, text, &mut classifier, &lookup, sink, counters);
                    }
                } else if let Some(p) = pending
                    .get_mut(&key)
                    .filter(|p| pos - p.line_start <= ASSOC_WINDOW)
                {
                    attach(p, lvl, pos + at, pos + line.len());
                    last = Target::Mine(key);
                }
            }
        }
        pos = next;
    }
    let mut rest: Vec<Pending<'_>> = pending.into_values().collect();
    rest.sort_by_key(|p| p.line_start);
    for p in rest {
        finish(p, text, &mut classifier, &lookup, sink, counters);
    }
}

fn idx(p: Part) -> usize {
    match p {
        Part::Message => 0,
        Part::Detail => 1,
        Part::Hint => 2,
        Part::Context => 3,
        Part::Statement => 4,
        Part::Query | Part::Ignored => 5,
    }
}

fn extend(p: &mut Pending<'_>, end: usize) {
    if let Part::Ignored = p.last {
        return;
    }
    p.parts[idx(p.last)].1 = end;
    p.multi = true;
}

fn attach(p: &mut Pending<'_>, lvl: Level, start: usize, end: usize) {
    let part = part_of(lvl);
    p.last = part;
    if !matches!(part, Part::Ignored) {
        p.parts[idx(part)] = (start, end);
    }
}

fn untab(s: &str, multi: bool) -> Cow<'_, str> {
    if multi && s.contains("\n\t") {
        Cow::Owned(s.replace("\n\t", "\n"))
    } else {
        Cow::Borrowed(s)
    }
}

fn finish<'a, S: EventSink>(
    p: Pending<'a>,
    text: &'a str,
    cl: &mut Classifier<'a>,
    lookup: &StderrLookup<'_, 'a>,
    sink: &mut S,
    counters: &mut Counters,
) {
    let rec = record_of(&p, text, cl.input, cl.base);
    if !p.fields.zone_known && p.fields.time_us.is_some() {
        counters.unknown_timezones += 1;
    }
    cl.classify(rec, p.line_start, lookup, sink, counters);
}

fn record_of<'a>(p: &Pending<'a>, text: &'a str, input: u32, base: u64) -> LogRecord<'a> {
    let get = |i: usize| {
        let (s, e) = p.parts[i];
        if e == 0 {
            None
        } else {
            text.get(s..e).map(|t| untab(t, p.multi))
        }
    };
    let f = &p.fields;
    LogRecord {
        input,
        offset: base + p.line_start as u64,
        time_us: f.time_us,
        pid: f.pid,
        session_id: f.session_id,
        line_num: f.line_num,
        user: f.user,
        db: f.db,
        app: f.app,
        client: f.client,
        severity: match p.level {
            Level::Primary(s) => Some(s),
            _ => None,
        },
        sqlstate: f.sqlstate,
        query_id: f.query_id,
        backend_type: f.backend_type,
        message: get(0).unwrap_or(Cow::Borrowed("")),
        detail: get(1),
        hint: get(2),
        context: get(3),
        statement: get(4),
        internal_query: get(5),
    }
}

struct StderrLookup<'p, 'a> {
    prefix: &'p Prefix,
    text: &'a str,
    chunk_start: usize,
}

impl<'a> PrevLookup<'a> for StderrLookup<'_, 'a> {
    fn previous_entry(&self, key: u64, at: usize, window: usize) -> Option<(usize, Cow<'a, str>)> {
        let ls = last_primary_before(
            self.prefix,
            self.text,
            self.chunk_start,
            at.saturating_sub(window),
            key,
        )?;
        let (line, mut pos) = next_line(self.text, ls);
        let (_, _, msg_at) = self.prefix.parse_line(line)?;
        let mut end = ls + line.len();
        loop {
            let (l, next) = next_line(self.text, pos);
            if !l.starts_with('\t') || pos >= self.text.len() {
                break;
            }
            end = pos + l.len();
            pos = next;
        }
        Some((ls, untab(self.text.get(ls + msg_at..end)?, true)))
    }
}
