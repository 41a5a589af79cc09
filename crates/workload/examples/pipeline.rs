//! Runs the whole pipeline (log reader + workload aggregation) on log files and
//! prints MB/s, statements/s, peak RSS and the top 5 by total time:
//! `cargo run --release -p pgpilot-workload --example pipeline -- FILE... [--threads N] [--save W.json]`.
use std::io::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use pgpilot_logs::Options;
use pgpilot_workload::{workload_from_logs, BuildOptions, TopBy, TopReport};

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Prints a line; a closed pipe (`| head`) ends the program quietly.
macro_rules! out {
    ($($t:tt)*) => {
        if writeln!(std::io::stdout(), $($t)*).is_err() {
            std::process::exit(0);
        }
    };
}

fn main() {
    let mut files = Vec::new();
    let mut opts = Options::default();
    let mut save = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--threads" => opts.threads = args.next().and_then(|t| t.parse().ok()).unwrap_or(0),
            "--save" => save = args.next(),
            _ => files.push(PathBuf::from(a)),
        }
    }
    if files.is_empty() {
        eprintln!("usage: pipeline FILE... [--threads N] [--save W.json]");
        std::process::exit(2);
    }
    let t = Instant::now();
    let (w, summary) = workload_from_logs(&files, &opts, &BuildOptions::default());
    let secs = t.elapsed().as_secs_f64();
    let mb = summary.totals.bytes_read as f64 / 1e6;
    let stmts = summary.totals.events.get("statement").copied().unwrap_or(0);
    out!(
        "{mb:.1} MB in {secs:.3} s = {:.1} MB/s; {:.0} statement events/s; executions {}; fingerprints {}; peak RSS {:.1} MB",
        mb / secs,
        stmts as f64 / secs,
        w.total_calls(),
        w.queries.len(),
        peak_rss_mb()
    );
    for e in &summary.errors {
        out!("error: {e}");
    }
    let r = TopReport::new(&w, TopBy::Total, 5, false);
    out!(
        "lines read {}, skipped {}, N+1 patterns {}, error groups {}",
        r.lines_read,
        r.lines_skipped,
        w.n_plus_one.len(),
        w.errors.len()
    );
    for q in &r.queries {
        out!(
            "{:>9} calls {:>10.1} ms total  mean {:>7.3}  p50 {:>7.3}  p95 {:>7.3}  p99 {:>7.3}  max {:>8.3}  {}",
            q.calls,
            q.total_ms,
            q.mean_ms.unwrap_or(0.0),
            q.p50_ms.unwrap_or(0.0),
            q.p95_ms.unwrap_or(0.0),
            q.p99_ms.unwrap_or(0.0),
            q.max_ms.unwrap_or(0.0),
            q.query.chars().take(70).collect::<String>().replace('\n', " ")
        );
    }
    if let Some(path) = save {
        let ok = std::fs::File::create(&path)
            .map_err(pgpilot_workload::WorkloadError::from)
            .and_then(|f| w.to_writer(std::io::BufWriter::new(f)));
        match ok {
            Ok(()) => out!("saved {path}"),
            Err(e) => eprintln!("cannot save {path}: {e}"),
        }
    }
}
