//! Reads logs and prints MB/s and counts:
//! `cargo run --release -p pgpilot-logs --example log_throughput -- FILE [THREADS]`.
use std::path::PathBuf;
use std::time::Instant;

use pgpilot_logs::{for_each_event, Event, EventKind, EventSink, Options};

#[derive(Default)]
struct Count {
    executions: u64,
    time_ms: f64,
}

impl EventSink for Count {
    fn event(&mut self, ev: Event<'_>) {
        if let EventKind::Statement(s) = &ev.kind {
            self.executions += u64::from(s.counts_as_execution());
            self.time_ms += s.execution_time_ms().unwrap_or(0.0);
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        eprintln!("usage: throughput FILE [THREADS]");
        std::process::exit(2);
    };
    let opts = Options {
        threads: args.get(2).and_then(|t| t.parse().ok()).unwrap_or(0),
        ..Options::default()
    };
    let t = Instant::now();
    let (sinks, summary) = for_each_event(&[PathBuf::from(path)], &opts, Count::default);
    let secs = t.elapsed().as_secs_f64();
    let execs: u64 = sinks.iter().map(|s| s.executions).sum();
    let ms: f64 = sinks.iter().map(|s| s.time_ms).sum();
    let mb = summary.totals.bytes_read as f64 / 1e6;
    println!(
        "{mb:.1} MB in {secs:.3} s = {:.1} MB/s; executions {execs}; total {ms:.1} ms",
        mb / secs
    );
    println!("{:?}", summary.totals);
    for e in &summary.errors {
        println!("error: {e}");
    }
}
