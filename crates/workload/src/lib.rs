//! `pgpilot-workload` owns the aggregation of what a PostgreSQL server ran into a
//! [`Workload`]: per statement fingerprint (from `pgpilot-sql`) the calls, total /
//! mean / min / max time, true per-call percentiles from an HDR histogram, rows,
//! databases / users / applications, first and last seen, deterministic samples of
//! real parameter values, the slowest auto_explain plans, parse and bind time, plus
//! error groups and N+1 bursts (a statement repeated in a tight loop right after a
//! "parent" statement of the same session). It builds workloads from log events
//! (`pgpilot-logs`, one [`WorkloadBuilder`] per reader work item) and from
//! `pg_stat_statements` rows ([`pgss`]), merges them exactly, and reads and writes
//! the versioned JSON file format (`"format": "pgpilot-workload", "version": 1`).
//! It is pure: no database access and no async runtime; file I/O is limited to the
//! `Read` / `Write` helpers of the file format.

mod builder;
mod error;
mod hist;
mod layout;
mod nplus1;
pub mod pgss;
mod report;
mod sets;
mod stats;
mod suggest;
mod workload;

pub use builder::{workload_from_logs, BuildOptions, WorkloadBuilder};
pub use error::WorkloadError;
pub use hist::LatencyHistogram;
pub use nplus1::{BurstExample, NPlusOne, NPlusOneOptions};
pub use report::{format_time_us, ErrorReport, NPlusOneReport, QueryReport, TopBy, TopReport};
pub use sets::{CountSet, ParamSample, Reservoir};
pub use stats::{Caps, Percentile, PgssStats, PhaseTime, QueryStats, SamplePlan};
pub use suggest::Suggestion;
pub use workload::{
    ErrorGroup, SourceSummary, Workload, FORMAT_NAME, FORMAT_VERSION, N_PLUS_ONE_MIN_SHARE,
};

pub use pgpilot_sql::Fingerprint;
