//! `pgpilot-bench-model` owns the plain data of a benchmark run: the run's
//! configuration, the overall [`Summary`], per-query [`QueryStats`], error counts,
//! and the service-level objectives ([`SloTargets`]) a run is judged against,
//! including their TOML file format. It is pure: no async runtime, no database
//! client, so reports can be saved, loaded and rendered anywhere.

mod report;
mod slo;

pub use report::{
    BenchReport, ErrorCount, PgssCheck, PgssQueryCheck, QueryStats, RunConfig, Summary,
};
pub use slo::{Comparison, SloCheck, SloError, SloTargets};
