//! Runs a workload script with the library directly and prints the JSON report:
//! `cargo run --release -p pgpilot-bench --example bench_run -- URL SCRIPT CLIENTS SECONDS [THREADS]`.

use std::time::Duration;

use pgpilot_bench::{run, RunOptions, Script};
use pgpilot_db::ConnSpec;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        eprintln!("usage: bench_run URL SCRIPT CLIENTS SECONDS [THREADS]");
        std::process::exit(2);
    }
    let spec = ConnSpec::parse(&args[1])?;
    let script = Script::load(args[2].as_ref(), &[])?;
    let opts = RunOptions {
        clients: args[3].parse()?,
        duration: Some(Duration::from_secs_f64(args[4].parse()?)),
        warmup: Duration::ZERO,
        threads: args.get(5).map(|t| t.parse()).transpose()?.unwrap_or(0),
        ..RunOptions::default()
    };
    let report = run(&spec, &script, &opts, None, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
