//! A workload query as the advisor sees it: normalized text, weight, parameter
//! samples and its shape.

use pgpilot_sql::QueryShape;
use serde::{Deserialize, Serialize};

/// One distinct statement of the workload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdvisorQuery {
    /// Stable id (the fingerprint, hex).
    pub id: String,
    /// Normalized SQL with `$n` placeholders (or literal SQL when it has none).
    pub sql: String,
    /// Executions in the workload: the weight of its cost.
    pub calls: f64,
    /// Mean measured execution time in ms, when known (for reports).
    pub mean_ms: Option<f64>,
    /// Captured parameter sets (text values, `None` = NULL), aligned with `$1..$n`.
    /// Empty when the workload had none: the advisor then draws values from the
    /// catalog's column statistics.
    pub samples: Vec<Vec<Option<String>>>,
    /// The statement's shape (tables, predicates, order, …).
    pub shape: QueryShape,
}
