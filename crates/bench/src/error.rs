//! Errors of a benchmark run.

use pgpilot_bench_model::BenchReport;
use pgpilot_db::DbError;

/// Why a benchmark could not run, or why it ended early.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The options cannot work (e.g. zero clients).
    #[error("invalid benchmark options: {0}")]
    Options(String),
    /// A connection could not be opened or a setup query failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The server rejected a statement of the script when it was prepared.
    #[error("preparing `{name}` failed: {message}{}", sqlstate.as_ref().map(|s| format!(" (SQLSTATE {s})")).unwrap_or_default())]
    Prepare {
        /// The query or step.
        name: String,
        /// The server's message.
        message: String,
        /// The SQLSTATE.
        sqlstate: Option<String>,
    },
    /// A parameter's type cannot be produced by its generator.
    #[error("`{name}`: ${index} has type {ty}, which pgpilot cannot send; cast it in the SQL (e.g. ${index}::text::{ty}) or pass the value through with row:")]
    UnsupportedParam {
        /// The query or step.
        name: String,
        /// The 1-based placeholder number.
        index: usize,
        /// The server's type name.
        ty: String,
    },
    /// A `row:` generator names a column the parent step does not return.
    #[error("`{name}`: row:{column} is not a column of step `{parent}` (it returns: {available})")]
    UnknownColumn {
        /// The step using `row:`.
        name: String,
        /// The missing column.
        column: String,
        /// The step it reads from.
        parent: String,
        /// The parent's columns.
        available: String,
    },
    /// The run ended early because a connection was lost (e.g. the server shut
    /// down). `report` holds what was measured until then (`interrupted: true`).
    #[error("the benchmark was aborted: {reason}")]
    Aborted {
        /// What happened.
        reason: String,
        /// The partial report.
        report: Box<BenchReport>,
    },
    /// A worker thread could not be started or failed.
    #[error("benchmark worker failed: {0}")]
    Worker(String),
}

impl BenchError {
    /// The partial report of an aborted run.
    pub fn partial_report(&self) -> Option<&BenchReport> {
        match self {
            BenchError::Aborted { report, .. } => Some(report),
            _ => None,
        }
    }
}
