//! Errors of plan parsing.

/// Why a plan could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The input is empty or only whitespace.
    #[error("empty plan input")]
    Empty,
    /// The input is not valid JSON, or its JSON does not have the shape of a plan.
    #[error("invalid plan JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The JSON is valid but holds no `"Plan"` object.
    #[error("no \"Plan\" object in the JSON input")]
    NoPlan,
    /// No plan node line could be recognised in a text-format plan.
    #[error("no plan node found in the text plan")]
    NoTextNode,
}
