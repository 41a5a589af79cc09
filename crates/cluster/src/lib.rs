//! `pgpilot-cluster` owns ephemeral PostgreSQL clusters: it finds the server
//! binaries, runs `initdb` in a temporary directory (as the `postgres` OS user when
//! started as root), picks a free port without racing other test processes, starts
//! the server with pgpilot's settings (`pg_stat_statements`, `auto_explain`, I/O
//! timing, logical WAL, a server log with a fixed prefix), creates the extensions
//! pgpilot needs, and removes everything again when the handle is dropped — after a
//! panic, on Ctrl-C through [`stop_all`], and for runs that were killed, at the next
//! start. It talks to the server only through `pg_ctl` and `psql`.

mod binaries;
mod cluster;
mod error;
mod port;
mod registry;
mod run_as;

pub use binaries::PgBinaries;
pub use cluster::{Cluster, ClusterOptions, KeptCluster, LogFormat, LOG_LINE_PREFIX};
pub use error::ClusterError;
pub use registry::{clean_stale, stop_all, CLUSTER_DIR_PREFIX};
pub use run_as::RunAs;
