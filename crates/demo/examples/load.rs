//! Loads the demo into a database: `cargo run --release -p pgpilot-demo --example
//! load -- URL [SCALE] [SEED]` (a development aid; `pgpilot demo` is the real entry).

use pgpilot_demo::{load, DemoConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args.next().ok_or("usage: load URL [SCALE] [SEED]")?;
    let scale: f64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(1.0);
    let seed: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(42);
    let spec = pgpilot_db::ConnSpec::parse(&url)?;
    let report = load(&spec, &DemoConfig { scale, seed }, &|s| {
        if s.finished {
            eprintln!(
                "{:>7.2}s {:?} {} {}/{}",
                s.elapsed.as_secs_f64(),
                s.kind,
                s.table,
                s.rows_done,
                s.rows_total
            );
        }
    })
    .await?;
    println!("reference now: {}", report.reference_now);
    for t in &report.tables {
        println!(
            "{:<11} {:>9} rows {:>8.1} MB heap {:>8.1} MB total  insert {:>6.2}s keys {:>5.2}s validate {:>5.2}s",
            t.name,
            t.rows,
            t.heap_bytes as f64 / 1e6,
            t.total_bytes as f64 / 1e6,
            t.insert_seconds,
            t.keys_seconds,
            t.validate_seconds
        );
    }
    for s in &report.steps {
        println!("  {:<22} {:>6.2}s", s.name, s.seconds);
    }
    println!("total {:.2}s", report.total_seconds);
    Ok(())
}
