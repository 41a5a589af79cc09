//! `pgpilot-bench` owns load generation: workload scripts (TOML, with weighted
//! queries, N+1 sequences and random parameter generators), their parameter
//! encoding for prepared statements, and the runner that drives N concurrent
//! clients against PostgreSQL, records latency histograms and database counters,
//! and returns a [`pgpilot_bench_model::BenchReport`] judged against SLOs.

pub mod generator;
pub mod param;
pub mod script;
pub mod sqlscan;

pub use generator::{Generator, WeightedPicker};
pub use param::ParamValue;
pub use script::{Script, ScriptError, Sequence, Step, StepMode};

mod aggregate;
mod client;
mod error;
mod runner;
mod wire;

pub use error::BenchError;
pub use runner::{run, Progress, RunOptions};
