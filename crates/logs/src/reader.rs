//! Inputs (files, directories, stdin; gzip/zstd by magic bytes), format and
//! prefix detection, and the parallel driver.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use serde::Serialize;

use crate::error::LogError;
use crate::prefix::Prefix;
use crate::record::{Counters, SkipReason};
use crate::stderr::{is_primary_line, parse_chunk, Chunk, ASSOC_WINDOW, DURATION_WINDOW};
use crate::EventSink;

/// Log format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub enum Format {
    /// Detect from the content.
    #[default]
    Auto,
    /// stderr with a log_line_prefix.
    Stderr,
    /// csvlog.
    Csv,
    /// jsonlog.
    Json,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Auto => "auto",
            Format::Stderr => "stderr",
            Format::Csv => "csvlog",
            Format::Json => "jsonlog",
        }
    }
}

/// Reading options.
#[derive(Debug, Clone)]
pub struct Options {
    /// Declared format (default: detect).
    pub format: Format,
    /// `log_line_prefix` for stderr logs (default: detect).
    pub prefix: Option<String>,
    /// Target chunk size for parallel parsing of uncompressed stderr files.
    pub chunk_size: usize,
    /// Worker threads (0: all cores).
    pub threads: usize,
    /// Live counters for a progress display, updated as work items finish.
    pub progress: Option<std::sync::Arc<Progress>>,
}

/// Bytes and lines read so far, shared with a progress display.
#[derive(Debug, Default)]
pub struct Progress {
    /// Input bytes parsed (decompressed bytes for compressed inputs).
    pub bytes: std::sync::atomic::AtomicU64,
    /// Lines parsed.
    pub lines: std::sync::atomic::AtomicU64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            format: Format::Auto,
            prefix: None,
            chunk_size: 32 << 20,
            threads: 0,
            progress: None,
        }
    }
}

/// What happened to one input.
#[derive(Debug, Clone, Serialize)]
pub struct InputReport {
    /// Path (or `-`).
    pub name: String,
    /// Format read.
    pub format: &'static str,
    /// log_line_prefix used (stderr).
    pub prefix: Option<String>,
    /// "none", "gzip" or "zstd".
    pub compression: &'static str,
    /// The input ended early: a compressed stream cut short, or a file that
    /// shrank while it was read (what was readable was used).
    pub truncated: bool,
    /// Counters of this input.
    pub counters: Counters,
}

/// Result of a run besides the sinks.
#[derive(Debug, Default)]
pub struct Summary {
    /// One report per input read.
    pub inputs: Vec<InputReport>,
    /// Inputs that could not be read at all.
    pub errors: Vec<LogError>,
    /// Sum of all counters.
    pub totals: Counters,
}

const GZIP: &[u8] = &[0x1f, 0x8b];
const ZSTD: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

/// Expands directories recursively (sorted), skipping hidden and obviously
/// non-log files (by name, or NUL bytes in an uncompressed head).
pub fn expand_sources(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in paths {
        walk(p, &mut out, true);
    }
    out
}

fn walk(p: &Path, out: &mut Vec<PathBuf>, explicit: bool) {
    if p.as_os_str() == "-" || (explicit && !p.is_dir()) {
        out.push(p.to_path_buf());
        return;
    }
    if p.is_dir() {
        let Ok(rd) = std::fs::read_dir(p) else {
            out.push(p.to_path_buf());
            return;
        };
        let mut v: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        v.sort();
        for c in v {
            walk(&c, out, false);
        }
        return;
    }
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let skip_ext = [
        ".pid", ".conf", ".lock", ".opts", ".png", ".jpg", ".tar", ".zip", ".html", ".bin",
    ];
    if name.starts_with('.') || skip_ext.iter().any(|e| name.ends_with(e)) {
        return;
    }
    let mut head = [0u8; 4096];
    let n = File::open(p)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    let h = &head[..n];
    if h.starts_with(GZIP) || h.starts_with(ZSTD) || !h.contains(&0) {
        out.push(p.to_path_buf());
    }
}

fn detect_format(head: &str) -> Format {
    let Some(first) = head.lines().find(|l| !l.trim().is_empty()) else {
        return Format::Auto;
    };
    if first.starts_with('{') {
        return Format::Json;
    }
    if crate::time::parse_local_us(first).is_some() {
        if let Some(c) = first.find(',') {
            if c >= 19
                && !first[19..c]
                    .trim_start_matches(['.', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9'])
                    .trim_start()
                    .contains(' ')
            {
                return Format::Csv;
            }
        }
    }
    Format::Stderr
}

/// A decoded stream, its compression and the plain file when uncompressed.
type Opened = (Box<dyn Read + Send>, &'static str, Option<File>);

fn open_stream(name: &Path) -> Result<Opened, std::io::Error> {
    let raw: Box<dyn Read + Send> = if name.as_os_str() == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(File::open(name)?)
    };
    let mut br = BufReader::with_capacity(1 << 20, raw);
    let magic = std::io::BufRead::fill_buf(&mut br)?
        .get(..4)
        .map(<[u8]>::to_vec)
        .unwrap_or_default();
    if magic.starts_with(GZIP) {
        return Ok((
            Box::new(flate2::read::MultiGzDecoder::new(br)),
            "gzip",
            None,
        ));
    }
    if magic.starts_with(ZSTD) {
        return Ok((
            Box::new(zstd::stream::read::Decoder::with_buffer(br)?),
            "zstd",
            None,
        ));
    }
    let file = if name.as_os_str() == "-" {
        None
    } else {
        Some(File::open(name)?)
    };
    Ok((Box::new(br), "none", file))
}

/// Reads up to `want` more bytes; a decoder error ends the stream as truncated.
fn fill(r: &mut dyn Read, buf: &mut Vec<u8>, want: usize, truncated: &mut bool) -> bool {
    let target = buf.len() + want;
    let mut tmp = vec![0u8; 1 << 20];
    while buf.len() < target {
        match r.read(&mut tmp) {
            Ok(0) => return false,
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => {
                *truncated = true;
                return false;
            }
        }
    }
    true
}

/// Buffer bytes → text; counts lines with invalid UTF-8 in `[start, end)`.
fn to_text<'b>(
    buf: &'b [u8],
    start: usize,
    end: usize,
    c: &mut Counters,
) -> (Cow<'b, str>, usize, usize) {
    if let Ok(s) = std::str::from_utf8(buf) {
        return (Cow::Borrowed(s), start, end);
    }
    for line in buf[start..end].split(|b| *b == b'\n') {
        if std::str::from_utf8(line).is_err() {
            c.non_utf8_lines += 1;
        }
    }
    let a = String::from_utf8_lossy(&buf[..start]);
    let m = String::from_utf8_lossy(&buf[start..end]);
    let z = String::from_utf8_lossy(&buf[end..]);
    let (s, e) = (a.len(), a.len() + m.len());
    (Cow::Owned(format!("{a}{m}{z}")), s, e)
}

/// First primary line start at or after `from` in `buf` (which starts at a
/// line start or anywhere: the partial first line is skipped unless `from`
/// is 0).
fn boundary(buf: &[u8], from: usize, prefix: &Prefix) -> Option<usize> {
    let mut pos = if from == 0 || buf.get(from - 1) == Some(&b'\n') {
        from
    } else {
        from + memchr::memchr(b'\n', buf.get(from..)?)? + 1
    };
    while pos < buf.len() {
        let e = memchr::memchr(b'\n', &buf[pos..]).map(|p| pos + p)?;
        if is_primary_line(prefix, &String::from_utf8_lossy(&buf[pos..e])) {
            return Some(pos);
        }
        pos = e + 1;
    }
    None
}

enum Work {
    FileChunk { input: usize, start: u64, end: u64 },
    Whole { input: usize },
}

struct Prepared {
    name: PathBuf,
    format: Format,
    prefix: Option<Prefix>,
    compression: &'static str,
}

/// Reads every source and calls a sink per work item. Uncompressed stderr
/// files are split into chunks parsed in parallel; compressed inputs, stdin,
/// csvlog and jsonlog are one item each (items run in parallel). One sink is
/// made per item with `make_sink` and the sinks are returned in input and
/// file order, so the consumer can merge them in order.
pub fn for_each_event<S, F>(sources: &[PathBuf], opts: &Options, make_sink: F) -> (Vec<S>, Summary)
where
    S: EventSink + Send,
    F: Fn() -> S + Sync,
{
    let mut summary = Summary::default();
    let user_prefix = match opts.prefix.as_deref().map(Prefix::new).transpose() {
        Ok(p) => p,
        Err(e) => {
            summary.errors.push(e);
            return (Vec::new(), summary);
        }
    };
    let mut prepared = Vec::new();
    let mut work = Vec::new();
    // Standard input is read once, so it is spooled to a file first: detecting
    // the format, the prefix and the compression reads its head, which a second
    // open of stdin would have lost (and a file can be parsed in chunks).
    let mut spool: Option<Spool> = None;
    let mut stdin_input = None;
    let (names, twins) = without_twins(expand_sources(sources), sources);
    summary.errors.extend(twins);
    for mut name in names {
        if name.as_os_str() == "-" {
            if spool.is_some() {
                continue;
            }
            match Spool::stdin() {
                Ok(s) => {
                    name = s.0.clone();
                    spool = Some(s);
                    stdin_input = Some(prepared.len());
                }
                Err(source) => {
                    summary.errors.push(LogError::Io {
                        path: PathBuf::from("-"),
                        source,
                    });
                    continue;
                }
            }
        }
        match prepare(&name, opts, user_prefix.as_ref()) {
            Ok((p, size)) => {
                let input = prepared.len();
                if let (Format::Stderr, "none", Some(prefix), Some(size)) =
                    (p.format, p.compression, p.prefix.as_ref(), size)
                {
                    let mut start = 0u64;
                    for b in file_boundaries(&name, size, opts.chunk_size.max(1) as u64, prefix) {
                        work.push(Work::FileChunk {
                            input,
                            start,
                            end: b,
                        });
                        start = b;
                    }
                    work.push(Work::FileChunk {
                        input,
                        start,
                        end: size,
                    });
                } else {
                    work.push(Work::Whole { input });
                }
                prepared.push(p);
            }
            Err(e) => summary.errors.push(e),
        }
    }
    let slots: Vec<Mutex<Option<(S, Counters, bool)>>> =
        work.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let threads = if opts.threads == 0 {
        std::thread::available_parallelism().map_or(2, |n| n.get())
    } else {
        opts.threads
    }
    .min(work.len().max(1));
    let panicked = std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(w) = work.get(i) else { break };
                    let mut sink = make_sink();
                    let mut c = Counters::default();
                    let truncated = run(w, &prepared, &mut sink, &mut c);
                    if let Some(p) = &opts.progress {
                        p.bytes.fetch_add(c.bytes_read, Ordering::Relaxed);
                        p.lines.fetch_add(c.lines_read, Ordering::Relaxed);
                    }
                    if let Ok(mut slot) = slots[i].lock() {
                        *slot = Some((sink, c, truncated));
                    }
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join()).any(|r| r.is_err())
    });
    if panicked {
        summary.errors.push(LogError::WorkerPanic);
    }
    let mut reports: Vec<InputReport> = prepared
        .iter()
        .map(|p| InputReport {
            name: p.name.display().to_string(),
            format: p.format.name(),
            prefix: p.prefix.as_ref().map(|x| x.as_str().to_string()),
            compression: p.compression,
            truncated: false,
            counters: Counters::default(),
        })
        .collect();
    let mut sinks = Vec::new();
    for (w, slot) in work.iter().zip(slots) {
        let input = match w {
            Work::FileChunk { input, .. } | Work::Whole { input } => *input,
        };
        if let Some((sink, c, truncated)) = slot.into_inner().ok().flatten() {
            reports[input].counters.merge(&c);
            summary.totals.merge(&c);
            // Counted once per input, however many of its chunks saw it end early.
            if truncated && !reports[input].truncated {
                reports[input].truncated = true;
                reports[input].counters.truncated_inputs += 1;
                summary.totals.truncated_inputs += 1;
            }
            sinks.push(sink);
        }
    }
    if let Some(i) = stdin_input {
        if let Some(r) = reports.get_mut(i) {
            r.name = "-".to_string();
        }
    }
    drop(spool);
    summary.inputs = reports;
    (sinks, summary)
}

fn prepare(
    name: &Path,
    opts: &Options,
    user_prefix: Option<&Prefix>,
) -> Result<(Prepared, Option<u64>), LogError> {
    let io = |e| LogError::Io {
        path: name.to_path_buf(),
        source: e,
    };
    let (mut r, compression, file) = open_stream(name).map_err(io)?;
    let mut head = Vec::new();
    let mut t = false;
    if name.as_os_str() != "-" {
        fill(&mut *r, &mut head, 256 << 10, &mut t);
    }
    let head_text = String::from_utf8_lossy(&head);
    let detected = detect_format(&head_text);
    let format = match (opts.format, detected) {
        (Format::Auto, Format::Auto) => Format::Stderr,
        (Format::Auto, d) => d,
        (f, Format::Auto) => f,
        (f, d) if f == d => f,
        (f, d) => {
            return Err(LogError::FormatMismatch {
                path: name.to_path_buf(),
                declared: f.name(),
                detected: d.name(),
            })
        }
    };
    let mut prefix = None;
    if format == Format::Stderr {
        prefix = match user_prefix {
            Some(p) => Some(p.clone()),
            None if head.is_empty() && name.as_os_str() != "-" => Some(
                Prefix::new("%m [%p] ").map_err(|_| LogError::PrefixNotDetected {
                    path: name.to_path_buf(),
                })?,
            ),
            None if name.as_os_str() == "-" => {
                return Err(LogError::PrefixNotDetected {
                    path: name.to_path_buf(),
                })
            }
            None => {
                Some(
                    Prefix::detect(&head_text).ok_or_else(|| LogError::PrefixNotDetected {
                        path: name.to_path_buf(),
                    })?,
                )
            }
        };
    }
    let size = file.and_then(|f| f.metadata().ok()).map(|m| m.len());
    Ok((
        Prepared {
            name: name.to_path_buf(),
            format,
            prefix,
            compression,
        },
        size,
    ))
}

fn file_boundaries(name: &Path, size: u64, chunk: u64, prefix: &Prefix) -> Vec<u64> {
    let Ok(f) = File::open(name) else {
        return Vec::new();
    };
    let mut out: Vec<u64> = Vec::new();
    let mut nominal = chunk;
    while nominal < size {
        let from = nominal
            .saturating_sub(1)
            .max(out.last().copied().unwrap_or(0));
        let mut buf = vec![0u8; (ASSOC_WINDOW as u64).min(size - from) as usize];
        if read_exact_at(&f, &mut buf, from).is_err() {
            break;
        }
        match boundary(&buf, (nominal - from) as usize, prefix) {
            Some(p) if (from + p as u64) > out.last().copied().unwrap_or(0) => {
                out.push(from + p as u64)
            }
            _ => {}
        }
        nominal = out.last().copied().unwrap_or(nominal).max(nominal) + chunk;
    }
    out
}

/// Drops files found in a directory whose records another found file holds in
/// another format: `X.csv`, `X.json` and `X.log` side by side are one log
/// written by several `log_destination`s (kept: csv, then json, then the
/// stderr file). Files named explicitly are always kept.
fn without_twins(names: Vec<PathBuf>, explicit: &[PathBuf]) -> (Vec<PathBuf>, Vec<LogError>) {
    let rank = |p: &Path| match p.extension().and_then(|e| e.to_str()) {
        Some("csv") => Some(0),
        Some("json") => Some(1),
        Some("log") => Some(2),
        _ => None,
    };
    let stem = |p: &Path| p.with_extension("");
    let mut best: std::collections::HashMap<PathBuf, (usize, PathBuf)> =
        std::collections::HashMap::new();
    for p in &names {
        if let Some(r) = rank(p) {
            let e = best.entry(stem(p)).or_insert((r, p.clone()));
            if r < e.0 {
                *e = (r, p.clone());
            }
        }
    }
    let mut kept = Vec::new();
    let mut twins = Vec::new();
    for p in names {
        let winner = rank(&p).and_then(|_| best.get(&stem(&p)));
        match winner {
            Some((_, w)) if *w != p && !explicit.contains(&p) => {
                twins.push(LogError::SameRecords {
                    skipped: p,
                    kept: w.clone(),
                })
            }
            _ => kept.push(p),
        }
    }
    (kept, twins)
}

/// Standard input copied to a temporary file, removed when dropped.
struct Spool(PathBuf);

impl Spool {
    fn stdin() -> std::io::Result<Spool> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = std::env::temp_dir().join(format!(
            "pgpilot-stdin-{}-{nanos:x}.log",
            std::process::id()
        ));
        let spool = Spool(path);
        let mut file = File::create(&spool.0)?;
        std::io::copy(&mut std::io::stdin().lock(), &mut file)?;
        Ok(spool)
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn read_exact_at(f: &File, buf: &mut [u8], off: u64) -> std::io::Result<()> {
    f.read_exact_at(buf, off)
}

fn run<S: EventSink>(w: &Work, inputs: &[Prepared], sink: &mut S, c: &mut Counters) -> bool {
    match *w {
        Work::FileChunk { input, start, end } => {
            let p = &inputs[input];
            let Some(prefix) = p.prefix.as_ref() else {
                return false;
            };
            let Ok(f) = File::open(&p.name) else {
                return false;
            };
            let size = f.metadata().map_or(end, |m| m.len());
            // The file shrank since it was split (rotated by copytruncate, or
            // rewritten): parse what is left of this chunk and say so.
            let shrank = size < end;
            let end = end.min(size);
            if end <= start {
                return shrank;
            }
            let lo = start.saturating_sub(DURATION_WINDOW as u64);
            let hi = (end + ASSOC_WINDOW as u64).min(size);
            let mut buf = vec![0u8; (hi - lo) as usize];
            if read_exact_at(&f, &mut buf, lo).is_err() {
                return false;
            }
            c.bytes_read += end - start;
            // Trim the partial first line of the back window and the partial
            // last line of the lookahead so the text is whole lines.
            let core_s = (start - lo) as usize;
            let core_e = (end - lo) as usize;
            let cut_lo = if lo == 0 {
                0
            } else {
                memchr::memchr(b'\n', &buf[..core_s]).map_or(core_s, |p| p + 1)
            };
            let cut_hi = if hi == size {
                buf.len()
            } else {
                memchr::memrchr(b'\n', &buf[core_e..]).map_or(core_e, |p| core_e + p + 1)
            };
            let slice = &buf[cut_lo..cut_hi];
            let (text, s, e) = to_text(slice, core_s - cut_lo, core_e - cut_lo, c);
            let chunk = Chunk {
                text: &text,
                start: s,
                end: e,
                base: lo + cut_lo as u64,
                input: input as u32,
            };
            parse_chunk(&chunk, prefix, sink, c);
            shrank
        }
        Work::Whole { input } => {
            let p = &inputs[input];
            let Ok((mut r, _, _)) = open_stream(&p.name) else {
                return false;
            };
            let mut truncated = false;
            match p.format {
                Format::Csv | Format::Json => {
                    stream_records(&mut *r, p.format, input as u32, sink, c, &mut truncated);
                }
                _ => {
                    if let Some(prefix) = p.prefix.as_ref() {
                        stream_stderr(&mut *r, prefix, input as u32, sink, c, &mut truncated);
                    }
                }
            }
            truncated
        }
    }
}

/// Block size of csvlog/jsonlog streaming: memory stays bounded by it (plus the
/// longest record), whatever the file size.
const RECORD_BLOCK: usize = 8 << 20;

/// Longest csvlog/jsonlog record kept whole; past it, a block is cut at a newline.
const MAX_RECORD: usize = 64 << 20;

/// Parses csvlog or jsonlog block by block, cutting each block after the last
/// complete record: for jsonlog any newline (newlines inside values are
/// escaped), for csvlog a newline outside a quoted field (quote parity counted
/// from the block start, which always is a record start).
fn stream_records<S: EventSink>(
    r: &mut dyn Read,
    format: Format,
    input: u32,
    sink: &mut S,
    c: &mut Counters,
    truncated: &mut bool,
) {
    let mut buf: Vec<u8> = Vec::new();
    let mut base = 0u64;
    loop {
        let more = fill(r, &mut buf, RECORD_BLOCK, truncated);
        let end = if more {
            match record_boundary(&buf, format) {
                Some(e) => e,
                // No record ends in 64 MB: an unbalanced quote (a truncated
                // record followed by more data) inverted the parity. Cut at a
                // newline anyway so memory stays bounded; the parser counts
                // the damaged rows.
                None if buf.len() >= MAX_RECORD => {
                    memchr::memrchr(b'\n', &buf).map_or(buf.len(), |p| p + 1)
                }
                // One record longer than the block: read on.
                None => continue,
            }
        } else {
            buf.len()
        };
        c.bytes_read += end as u64;
        let (text, _, _) = to_text(&buf[..end], 0, end, c);
        if format == Format::Csv {
            crate::formats::parse_csv(&text, base, input, sink, c);
        } else {
            crate::formats::parse_json(&text, base, input, sink, c);
        }
        drop(text);
        if !more {
            return;
        }
        buf.drain(..end);
        base += end as u64;
    }
}

/// End (exclusive) of the last complete record in `buf`, if any.
fn record_boundary(buf: &[u8], format: Format) -> Option<usize> {
    if format != Format::Csv {
        return memchr::memrchr(b'\n', buf).map(|p| p + 1);
    }
    let mut in_quotes = false;
    let mut last = None;
    for p in memchr::memchr2_iter(b'"', b'\n', buf) {
        if buf[p] == b'"' {
            in_quotes = !in_quotes;
        } else if !in_quotes {
            last = Some(p + 1);
        }
    }
    last
}

/// Parses a stream with a sliding window: the same chunk parser as files.
fn stream_stderr<S: EventSink>(
    r: &mut dyn Read,
    prefix: &Prefix,
    input: u32,
    sink: &mut S,
    c: &mut Counters,
    truncated: &mut bool,
) {
    const BLOCK: usize = 8 << 20;
    let mut buf: Vec<u8> = Vec::new();
    let mut base = 0u64; // input offset of buf[0]
    let mut start = 0usize;
    loop {
        let want = (start + BLOCK + ASSOC_WINDOW)
            .saturating_sub(buf.len())
            .max(1);
        let more = fill(r, &mut buf, want, truncated);
        let end = if more {
            // Cut at a primary line after start+BLOCK, within the lookahead.
            let avail = buf.len() - ASSOC_WINDOW.min(buf.len() - start - 1);
            match boundary(
                &buf[..avail.max(start + 1)],
                start + BLOCK.min(avail - start),
                prefix,
            ) {
                Some(b) if b > start => b,
                _ => continue,
            }
        } else {
            buf.len()
        };
        // Whole lines only: a last line without newline at EOF is still a line.
        c.bytes_read += (end - start) as u64;
        let (text, s, e) = to_text(&buf, start, end, c);
        parse_chunk(
            &Chunk {
                text: &text,
                start: s,
                end: e,
                base,
                input,
            },
            prefix,
            sink,
            c,
        );
        drop(text);
        if !more {
            if *truncated && end > 0 && buf.last() != Some(&b'\n') {
                c.skip(SkipReason::Truncated);
            }
            return;
        }
        let keep_from = end.saturating_sub(DURATION_WINDOW);
        let keep_from = if keep_from == 0 {
            0
        } else {
            memchr::memchr(b'\n', &buf[keep_from..end]).map_or(end, |p| keep_from + p + 1)
        };
        buf.drain(..keep_from);
        base += keep_from as u64;
        start = end - keep_from;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_boundaries_respect_quoted_newlines() {
        let csv = b"a,\"x\ny\",1\nb,\"q\"\"\n\",2\nc,\"open\nfield";
        // The third record's quoted field is still open: cut after the second.
        let cut = record_boundary(csv, Format::Csv).expect("a complete record");
        assert_eq!(&csv[..cut], b"a,\"x\ny\",1\nb,\"q\"\"\n\",2\n");
        assert_eq!(record_boundary(b"{\"a\":1}\n{\"b\"", Format::Json), Some(8));
        assert_eq!(record_boundary(b"no newline", Format::Json), None);
    }

    #[test]
    fn detects_formats() {
        assert_eq!(detect_format("{\"timestamp\":1}\n"), Format::Json);
        assert_eq!(
            detect_format("2026-11-27 05:13:52.784 UTC,,,19110,,6b09\n"),
            Format::Csv
        );
        assert_eq!(
            detect_format("2026-11-27 05:13:52.784 UTC [1] LOG:  a, b\n"),
            Format::Stderr
        );
        assert_eq!(detect_format(""), Format::Auto);
    }

    #[test]
    fn next_line_handles_crlf() {
        assert_eq!(crate::stderr::next_line("a\r\nb", 0), ("a", 3));
    }

    struct CountSink(usize);
    impl EventSink for CountSink {
        fn event(&mut self, _: crate::Event<'_>) {
            self.0 += 1;
        }
    }

    #[test]
    fn a_file_that_shrank_after_splitting_is_read_as_far_as_it_goes() {
        let path = std::env::temp_dir().join(format!("pgpilot-shrank-{}.log", std::process::id()));
        let line = "2026-11-27 05:13:52.784 UTC [42] LOG:  duration: 1.5 ms  statement: SELECT 1\n";
        std::fs::write(&path, line.repeat(3)).expect("write");
        let prepared = vec![Prepared {
            name: path.clone(),
            format: Format::Stderr,
            prefix: Some(Prefix::new("%m [%p] ").expect("prefix")),
            compression: "none",
        }];
        // Split when the file was ten times longer (then copytruncated).
        let size = (line.len() * 3) as u64;
        let mut sink = CountSink(0);
        let mut c = Counters::default();
        let whole = Work::FileChunk {
            input: 0,
            start: 0,
            end: size * 10,
        };
        assert!(
            run(&whole, &prepared, &mut sink, &mut c),
            "reported as truncated"
        );
        assert_eq!(sink.0, 3);
        let gone = Work::FileChunk {
            input: 0,
            start: size * 5,
            end: size * 10,
        };
        assert!(run(&gone, &prepared, &mut sink, &mut c));
        assert_eq!(sink.0, 3);
        std::fs::remove_file(&path).expect("cleanup");
    }

    #[test]
    fn one_log_written_in_several_formats_is_read_once() {
        let p = |s: &str| PathBuf::from(s);
        let found = vec![
            p("d/pg-1.csv"),
            p("d/pg-1.json"),
            p("d/pg-1.log"),
            p("d/pg-2.log"),
            p("d/pg-3.json"),
            p("d/pg-3.log"),
        ];
        let (kept, twins) = without_twins(found.clone(), &[p("d")]);
        assert_eq!(kept, [p("d/pg-1.csv"), p("d/pg-2.log"), p("d/pg-3.json")]);
        assert_eq!(twins.len(), 3);
        assert!(twins[0]
            .to_string()
            .contains("the same records as d/pg-1.csv"));
        // Named explicitly: read even if a twin exists.
        let (kept, twins) = without_twins(
            vec![p("d/pg-1.csv"), p("d/pg-1.json")],
            &[p("d/pg-1.csv"), p("d/pg-1.json")],
        );
        assert_eq!(kept.len(), 2);
        assert!(twins.is_empty());
    }
}
